'use strict'
// The install step (scripts/install.js) as users meet it, from packed tarballs in fresh projects:
//
// 1. The source fallback: the root package alone (no platform package) builds the addon with
//    cargo in the consumer's project (release), loads it, carries a packet. The one source
//    build of the suite: CARGO_TARGET_DIR points it at this checkout's target folder, so the
//    dependencies `npm install` compiled are reused and only this crate is compiled (about a
//    minute instead of several).
// 1b. Without CARGO_TARGET_DIR, cargo's target folder is a temporary directory removed after:
//    checked with a stand-in cargo that "builds" by copying this checkout's addon (so nothing
//    is compiled twice).
// 2. Prebuilt + install scripts allowed + cargo not on PATH: the script sees the prebuilt
//    load and compiles nothing. (consumer-connector.test.js covers npm's default, where npm
//    11.19+ blocks the dependency's install script and the loader finds the prebuilt alone.)
// 3. npm_config_build_from_source=true forces the source build even with the prebuilt there:
//    without cargo it fails, with the one message naming the platform and what to install.
// 4. No prebuilt and no cargo: the same message.
//
// npm 11.19+ runs a dependency's install script only when the project allows it
// (package.json "allowScripts"), so the projects here allow ilp-plugin-http-rs.
const { execFileSync, spawnSync } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')
const { PACKAGE, SHIPPED, consumerEnv, packRoot, packPlatform, makeProject, ROUND_TRIP_SCRIPT } = require('./support/packages')
const { platformTuple, addonFileName } = require('../scripts/platform')
const { cdylibName } = require('../scripts/build')

const root = path.join(__dirname, '..')
const TUPLE = platformTuple()
const BUILT_ADDON = path.join(root, addonFileName(TUPLE))
const BUILD_DIR_PREFIX = `${PACKAGE}-build-`
const REQUIRED_RUST = /^rust-version\s*=\s*"([\d.]+)"/m.exec(fs.readFileSync(path.join(root, 'Cargo.toml'), 'utf8'))[1]
const testPrebuilt = SHIPPED.includes(TUPLE) ? test : test.skip

function leftoverBuildDirs () {
  return fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith(BUILD_DIR_PREFIX))
}

/** A project that lets this package's install script run (npm 11.19+ blocks it otherwise). */
function allowingProject (dir) {
  makeProject(dir, 'consumer')
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
  manifest.allowScripts = { [PACKAGE]: true }
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(manifest))
  return dir
}

function npmInstall (project, tarballs, env) {
  return spawnSync('npm', ['install', '--no-audit', '--no-fund', '--foreground-scripts', ...tarballs], { cwd: project, env, encoding: 'utf8' })
}

let work
beforeAll(() => { work = fs.mkdtempSync(path.join(os.tmpdir(), 'ilp-plugin-http-rs-consumer-')) })
afterAll(() => fs.rmSync(work, { recursive: true, force: true }))

test('source fallback: the packed root alone builds with cargo in the consumer project, loads and carries a packet', () => {
  const before = leftoverBuildDirs()
  const tarball = packRoot(work)
  const consumer = allowingProject(path.join(work, 'source'))
  const targetDir = path.resolve(process.env.CARGO_TARGET_DIR || path.join(root, 'target'))
  const env = { ...consumerEnv(), CARGO_TARGET_DIR: targetDir }
  const started = Date.now()
  const result = npmInstall(consumer, [tarball], env)
  expect(result.stderr + result.stdout).toContain(`building the addon from source for ${TUPLE} (cargo build --lib --target-dir ${targetDir} --locked --release)`)
  expect(result.status).toBe(0)
  console.log(`npm install from source took ${((Date.now() - started) / 1000).toFixed(1)} s`)

  const installed = path.join(consumer, 'node_modules', PACKAGE)
  expect(fs.existsSync(path.join(installed, addonFileName(TUPLE)))).toBe(true)
  expect(fs.existsSync(path.join(installed, 'target'))).toBe(false)
  expect(leftoverBuildDirs()).toEqual(before)

  const out = execFileSync(process.execPath, ['-e', ROUND_TRIP_SCRIPT], { cwd: consumer, env, timeout: 30000 }).toString()
  expect(out).toContain('round trip ok')
}, 15 * 60 * 1000)

test('source fallback without CARGO_TARGET_DIR: cargo builds in a temporary folder, removed after; the result is installed and loads', () => {
  const before = leftoverBuildDirs()
  const bin = path.join(work, 'stand-in-cargo')
  const calls = path.join(work, 'cargo-calls.json')
  fs.mkdirSync(bin, { recursive: true })
  // `cargo build ... --target-dir DIR --release`: writes DIR/release/<cdylib> (a copy of this
  // checkout's addon) and records its arguments and whether DIR existed.
  const cargo = `#!/usr/bin/env node
const fs = require('fs'); const path = require('path'); const args = process.argv.slice(2)
if (args[0] === '--version') { console.log('cargo 1.95.0 (stand-in)'); process.exit(0) }
const dir = args[args.indexOf('--target-dir') + 1]
const existed = fs.existsSync(dir)
fs.mkdirSync(path.join(dir, 'release'), { recursive: true })
fs.copyFileSync(${JSON.stringify(BUILT_ADDON)}, path.join(dir, 'release', ${JSON.stringify(cdylibName())}))
fs.writeFileSync(${JSON.stringify(calls)}, JSON.stringify({ args, existed }))
`
  fs.writeFileSync(path.join(bin, 'cargo'), cargo, { mode: 0o755 })
  fs.writeFileSync(path.join(bin, 'rustc'), '#!/bin/sh\necho "rustc 1.95.0 (stand-in)"\n', { mode: 0o755 })
  const env = consumerEnv({ withoutCargo: true })
  delete env.CARGO_TARGET_DIR // the default: a temporary folder
  env.PATH = [bin, env.PATH].join(path.delimiter)
  const consumer = allowingProject(path.join(work, 'source-temp'))
  const result = npmInstall(consumer, [packRoot(work)], env)
  expect(result.stderr + result.stdout).toContain(`building the addon from source for ${TUPLE}`)
  expect(result.status).toBe(0)

  const { args, existed } = JSON.parse(fs.readFileSync(calls, 'utf8'))
  const targetDir = args[args.indexOf('--target-dir') + 1]
  expect(path.basename(targetDir).startsWith(BUILD_DIR_PREFIX)).toBe(true)
  expect(existed).toBe(true) // made by the install script, before cargo ran
  expect(args).toEqual(expect.arrayContaining(['build', '--lib', '--locked', '--release']))
  expect(fs.existsSync(targetDir)).toBe(false)
  expect(leftoverBuildDirs()).toEqual(before)
  const installed = path.join(consumer, 'node_modules', PACKAGE)
  expect(fs.existsSync(path.join(installed, addonFileName(TUPLE)))).toBe(true)
  const out = execFileSync(process.execPath, ['-e', ROUND_TRIP_SCRIPT], { cwd: consumer, env, timeout: 30000 }).toString()
  expect(out).toContain('round trip ok')
}, 5 * 60 * 1000)

testPrebuilt('prebuilt, install script allowed, cargo not on PATH: the script uses the prebuilt and compiles nothing', () => {
  const consumer = allowingProject(path.join(work, 'prebuilt'))
  const env = consumerEnv({ withoutCargo: true })
  const result = npmInstall(consumer, [packRoot(work, { optional: true }), packPlatform(work, TUPLE, BUILT_ADDON)], env)
  expect(result.stderr + result.stdout).toContain(`using the prebuilt binary for ${TUPLE}`)
  expect(result.status).toBe(0)
  expect(fs.readdirSync(path.join(consumer, 'node_modules', PACKAGE)).filter((f) => f.endsWith('.node'))).toEqual([])
  const out = execFileSync(process.execPath, ['-e', ROUND_TRIP_SCRIPT], { cwd: consumer, env, timeout: 30000 }).toString()
  expect(out).toContain('round trip ok')
}, 5 * 60 * 1000)

testPrebuilt('npm_config_build_from_source=true builds from source even with the prebuilt installed (without cargo: the clear message)', () => {
  const consumer = allowingProject(path.join(work, 'forced'))
  const env = { ...consumerEnv({ withoutCargo: true }), npm_config_build_from_source: 'true' }
  const result = npmInstall(consumer, [packRoot(work, { optional: true }), packPlatform(work, TUPLE, BUILT_ADDON)], env)
  const output = result.stderr + result.stdout
  expect(output).toContain('npm_config_build_from_source is set, building from source')
  expect(output).toContain(`the native addon for ${TUPLE} (${process.platform}/${process.arch}) has to be built from source (npm_config_build_from_source is set), but cargo was not found on PATH`)
  expect(result.status).not.toBe(0)
}, 5 * 60 * 1000)

test('no prebuilt and no cargo: one message naming the platform and what to install', () => {
  const consumer = allowingProject(path.join(work, 'no-cargo'))
  const result = npmInstall(consumer, [packRoot(work)], consumerEnv({ withoutCargo: true }))
  const output = result.stderr + result.stdout
  expect(output).toContain(`the native addon for ${TUPLE} (${process.platform}/${process.arch}) has to be built from source (no prebuilt binary loads), but cargo was not found on PATH`)
  expect(output).toContain(`Install Rust ${REQUIRED_RUST} or newer (https://rustup.rs)`)
  expect(result.status).not.toBe(0)
}, 5 * 60 * 1000)

test('a RUSTFLAGS or CARGO_ENCODED_RUSTFLAGS of the user keeps --cfg tokio_unstable (it replaces .cargo/config.toml\'s flags)', () => {
  const { withUnstableCfg } = require('../scripts/build')
  expect(withUnstableCfg({ PATH: '/bin' })).toEqual({ PATH: '/bin' }) // the config's flags apply
  expect(withUnstableCfg({ RUSTFLAGS: '-C target-cpu=native' }).RUSTFLAGS).toBe('-C target-cpu=native --cfg tokio_unstable')
  expect(withUnstableCfg({ RUSTFLAGS: '--cfg tokio_unstable' }).RUSTFLAGS).toBe('--cfg tokio_unstable')
  expect(withUnstableCfg({ CARGO_ENCODED_RUSTFLAGS: '-C\x1ftarget-cpu=native', RUSTFLAGS: '-C x' }))
    .toEqual({ CARGO_ENCODED_RUSTFLAGS: '-C\x1ftarget-cpu=native\x1f--cfg\x1ftokio_unstable', RUSTFLAGS: '-C x' })
})
