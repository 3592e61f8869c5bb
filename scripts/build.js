#!/usr/bin/env node
'use strict'
// Builds the native addon from source with cargo (no @napi-rs/cli needed, so it works from the
// published package, where only runtime dependencies are installed).
//
//   node scripts/build.js           release build
//   node scripts/build.js --debug   debug build (fast, for iterating)
//
// The cdylib cargo builds is copied to ilp-plugin-http-rs.<platform>.node in the package root,
// the file the generated loader (binding.js) tries first (see ADDON_FILE).
// When this package is being installed as a dependency of another project, cargo's target
// folder is a temporary directory, removed afterwards, so no build folder is left inside the
// consumer's node_modules. If CARGO_TARGET_DIR is set, cargo builds there instead, as it
// always does with that variable (a folder kept between builds: compiled dependencies are
// reused, and __test__/pack.test.js uses it to build against the checkout's own target).
// If cargo or a new enough Rust is missing, it exits with one message
// naming the platform and what to install.
const { spawnSync } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')

const { PACKAGE: PREFIX, PREBUILT, platformTuple, addonFileName } = require('./platform')

const ROOT = path.join(__dirname, '..')
/** Where the addon goes: the first file binding.js (the generated loader) tries. */
const ADDON_FILE = path.join(ROOT, addonFileName())

/** The minimum Rust from Cargo.toml (`rust-version = "1.88"`). */
function requiredRust () {
  const match = /^rust-version\s*=\s*"([\d.]+)"/m.exec(fs.readFileSync(path.join(ROOT, 'Cargo.toml'), 'utf8'))
  return match ? match[1] : '0'
}

function versionBelow (found, wanted) {
  const a = found.split('.').map(Number)
  const b = wanted.split('.').map(Number)
  for (let i = 0; i < 3; i++) {
    if ((a[i] || 0) !== (b[i] || 0)) return (a[i] || 0) < (b[i] || 0)
  }
  return false
}

/** Stops with one message: what is missing, for which platform, what to install. */
function fail (why, problem) {
  console.error([
    `${PREFIX}: the native addon for ${platformTuple()} (${process.platform}/${process.arch}) has to be built ` +
      `from source (${why}), but ${problem}.`,
    `  Install Rust ${requiredRust()} or newer (https://rustup.rs) and a C compiler/linker ` +
      '(Debian/Ubuntu: apt-get install build-essential; Alpine: apk add build-base), then install again.',
    `  Prebuilt binaries exist for ${PREBUILT.join(', ')}; an install with --omit=optional or ` +
      'npm_config_build_from_source=true does not use them.'
  ].join('\n'))
  process.exit(1)
}

function checkToolchain (why) {
  const cargo = spawnSync('cargo', ['--version'], { encoding: 'utf8' })
  if (cargo.error || cargo.status !== 0) fail(why, 'cargo was not found on PATH')
  const rustc = spawnSync('rustc', ['--version'], { encoding: 'utf8' })
  const found = rustc.status === 0 && /rustc (\d+\.\d+\.\d+)/.exec(rustc.stdout)
  if (!found) fail(why, 'rustc was not found on PATH')
  if (versionBelow(found[1], requiredRust())) fail(why, `it needs Rust ${requiredRust()} or newer and found ${found[1]}`)
}

/** The file name cargo gives the cdylib on this OS. */
function cdylibName () {
  const crate = PREFIX.replace(/-/g, '_')
  if (process.platform === 'win32') return `${crate}.dll`
  if (process.platform === 'darwin') return `lib${crate}.dylib`
  return `lib${crate}.so`
}

/** The flag .cargo/config.toml gives every build (tokio without its LIFO slot). */
const UNSTABLE_CFG = '--cfg tokio_unstable'

/**
 * `env` with UNSTABLE_CFG added to RUSTFLAGS or CARGO_ENCODED_RUSTFLAGS when one is set: either
 * replaces .cargo/config.toml's flags (the encoded one wins, its flags split by 0x1f).
 */
function withUnstableCfg (env) {
  const encoded = env.CARGO_ENCODED_RUSTFLAGS
  if (encoded) {
    return encoded.split('\x1f').includes('tokio_unstable') ? env : { ...env, CARGO_ENCODED_RUSTFLAGS: `${encoded}\x1f--cfg\x1ftokio_unstable` }
  }
  const flags = env.RUSTFLAGS
  if (flags && !flags.includes(UNSTABLE_CFG)) return { ...env, RUSTFLAGS: `${flags} ${UNSTABLE_CFG}` }
  return env
}

/** CARGO_TARGET_DIR as the user meant it: relative to where npm was run (INIT_CWD), not to here. */
function cargoTargetDir () {
  const dir = process.env.CARGO_TARGET_DIR
  return dir ? path.resolve(process.env.INIT_CWD || process.cwd(), dir) : undefined
}

function build ({ debug, why = 'requested' }) {
  checkToolchain(why)
  const installedAsDependency = ROOT.split(path.sep).includes('node_modules')
  const tempTarget = installedAsDependency && !cargoTargetDir()
    ? fs.mkdtempSync(path.join(os.tmpdir(), `${PREFIX}-build-`))
    : undefined
  const targetDir = tempTarget || cargoTargetDir() || path.join(ROOT, 'target')
  const args = ['build', '--lib', '--target-dir', targetDir]
  // The published package ships Cargo.lock: build exactly those versions. (In a checkout the
  // developer may be changing dependencies, so cargo may update the lock there.)
  if (installedAsDependency) args.push('--locked')
  if (!debug) args.push('--release')
  try {
    console.error(`ilp-plugin-http-rs: building the addon from source for ${platformTuple()} (cargo ${args.join(' ')})`)
    const result = spawnSync('cargo', args, { cwd: ROOT, stdio: 'inherit', env: withUnstableCfg(process.env) })
    if (result.error) fail(why, `running cargo failed: ${result.error.message}`)
    if (result.status !== 0) {
      console.error(`ilp-plugin-http-rs: cargo build failed (exit ${result.status}) on ${platformTuple()}; see the output above`)
      process.exit(result.status || 1)
    }
    const built = path.join(targetDir, debug ? 'debug' : 'release', cdylibName())
    // Copy to a temporary name, then rename: a process that has the old addon loaded keeps it.
    const partial = `${ADDON_FILE}.${process.pid}.tmp`
    fs.copyFileSync(built, partial)
    fs.renameSync(partial, ADDON_FILE)
  } finally {
    if (tempTarget) fs.rmSync(tempTarget, { recursive: true, force: true })
  }
}

module.exports = { build, cdylibName, withUnstableCfg, UNSTABLE_CFG, ADDON_FILE }

if (require.main === module) build({ debug: process.argv.includes('--debug') })
