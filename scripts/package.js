#!/usr/bin/env node
'use strict'
// `npm run package`: the release. Builds every shipped target (package.json `napi.targets`)
// with `napi build --platform --release` through cargo-zigbuild (glibc targets pinned to
// GLIBC_2.17), moves the binaries into the platform packages (npm/<platform>/, as `napi artifacts` would),
// checks the glibc baseline, and writes the packed tarballs, one per platform plus the root
// package with its optionalDependencies, to dist/, ready for `npm publish` (see the README).
//
//   npm run package                        every target
//   npm run package -- --target linux-x64-gnu   one platform package (and the root)
//
// Needs: Rust with the targets (`rustup target add aarch64-unknown-linux-gnu
// x86_64-unknown-linux-musl`), zig and cargo-zigbuild (`pip install ziglang cargo-zigbuild`).
const { execFileSync, spawnSync } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')
const { checkGlibc, GLIBC_BASELINE } = require('./check-glibc')
const { withUnstableCfg, UNSTABLE_CFG } = require('./build')

const ROOT = path.join(__dirname, '..')
const DIST = path.join(ROOT, 'dist')
const NAPI = path.join(path.dirname(require.resolve('@napi-rs/cli/package.json')), 'dist', 'cli.js')
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))

/** Rust triple -> napi platform name, as `napi create-npm-dirs` names npm/<platform>/. */
const PLATFORMS = {
  'x86_64-unknown-linux-gnu': 'linux-x64-gnu',
  'aarch64-unknown-linux-gnu': 'linux-arm64-gnu',
  'x86_64-unknown-linux-musl': 'linux-x64-musl'
}

function run (command, args, options = {}) {
  console.error(`$ ${command} ${args.join(' ')}`)
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit', ...options })
  if (result.status !== 0) {
    throw new Error(`${command} ${args[0]} failed (${result.error ? result.error.message : `exit ${result.status}`})`)
  }
}

function checkTools (triples) {
  const installed = execFileSync('rustup', ['target', 'list', '--installed'], { encoding: 'utf8' }).split('\n')
  const missing = triples.filter((t) => !installed.includes(t))
  if (missing.length) throw new Error(`missing Rust targets; run: rustup target add ${missing.join(' ')}`)
  if (spawnSync('cargo', ['zigbuild', '--help'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('cargo-zigbuild is missing; run: pip install ziglang cargo-zigbuild')
  }
}

/** Builds one target into `outDir` as ilp-plugin-http-rs.<platform>.node (+ the loader). */
function buildTarget (triple, outDir) {
  // cargo-zigbuild reads a `.2.17` suffix as the glibc version to link against.
  const target = triple.endsWith('-gnu') ? `${triple}.${GLIBC_BASELINE}` : triple
  // `napi build` sets RUSTFLAGS for musl targets (-crt-static), which makes cargo ignore
  // .cargo/config.toml's flags: give it RUSTFLAGS with the config's --cfg tokio_unstable
  // (src/node/runtime.rs), which napi extends. `npm run test:platforms` checks every build.
  const env = withUnstableCfg({ ...process.env, RUSTFLAGS: process.env.RUSTFLAGS || UNSTABLE_CFG })
  run(process.execPath, [NAPI, 'build', '--platform', '--release', '--cross-compile', '--target', target,
    '--output-dir', outDir, '--js', 'binding.js', '--dts', 'binding.d.ts'], { env })
}

/** The generated loader does not depend on the target; keep the committed copy current. */
function updateLoader (outDir) {
  const generated = fs.readFileSync(path.join(outDir, 'binding.js'), 'utf8')
  const committed = path.join(ROOT, 'binding.js')
  if (fs.readFileSync(committed, 'utf8') !== generated) {
    fs.writeFileSync(committed, generated)
    console.error('binding.js changed (new @napi-rs/cli?): commit the regenerated loader')
  }
}

function packInto (dir) {
  const out = execFileSync('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', DIST], { cwd: dir, encoding: 'utf8' })
  return out.trim().split('\n').pop()
}

/** Packs the root package with optionalDependencies on the platform packages (like `napi pre-publish`). */
function packRoot (platforms) {
  const file = path.join(ROOT, 'package.json')
  const original = fs.readFileSync(file, 'utf8')
  const manifest = JSON.parse(original)
  manifest.optionalDependencies = Object.fromEntries(platforms.map((p) => [`${pkg.name}-${p}`, pkg.version]))
  fs.writeFileSync(file, JSON.stringify(manifest, null, 2) + '\n')
  try {
    return packInto(ROOT)
  } finally {
    fs.writeFileSync(file, original)
  }
}

function main () {
  const only = process.argv.includes('--target') ? process.argv[process.argv.indexOf('--target') + 1] : undefined
  const triples = pkg.napi.targets.filter((t) => !only || PLATFORMS[t] === only)
  if (!triples.length) throw new Error(`unknown --target ${only}; one of ${Object.values(PLATFORMS).join(', ')}`)
  checkTools(triples)

  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilp-plugin-http-rs-artifacts-'))
  try {
    for (const triple of triples) buildTarget(triple, outDir)
    updateLoader(outDir)
    fs.rmSync(path.join(outDir, 'binding.js'))
    fs.rmSync(path.join(outDir, 'binding.d.ts'), { force: true })
    for (const triple of triples) {
      if (triple.endsWith('-gnu')) checkGlibc(path.join(outDir, `${pkg.name}.${PLATFORMS[triple]}.node`))
    }
    // `napi create-npm-dirs` rewrites every npm/<platform>/ (package.json in step with the root
    // version), binaries included: keep those of the platforms not built this time.
    const kept = Object.values(PLATFORMS).map((p) => path.join(ROOT, 'npm', p, `${pkg.name}.${p}.node`))
      .filter((file) => fs.existsSync(file)).map((file) => [file, fs.readFileSync(file)])
    run(process.execPath, [NAPI, 'create-npm-dirs'])
    for (const [file, bytes] of kept) fs.writeFileSync(file, bytes, { mode: 0o755 })
    // What `napi artifacts` does for native targets, for the targets built (it insists on
    // every configured one, which `--target` leaves out, and also drops a copy into the
    // package root, where the loader would take it for a source build).
    for (const triple of triples) {
      const name = `${pkg.name}.${PLATFORMS[triple]}.node`
      fs.copyFileSync(path.join(outDir, name), path.join(ROOT, 'npm', PLATFORMS[triple], name))
    }
  } finally {
    fs.rmSync(outDir, { recursive: true, force: true })
  }

  fs.mkdirSync(DIST, { recursive: true })
  const tarballs = []
  for (const triple of triples) {
    const dir = path.join(ROOT, 'npm', PLATFORMS[triple])
    fs.copyFileSync(path.join(ROOT, 'LICENSE'), path.join(dir, 'LICENSE'))
    tarballs.push(packInto(dir))
  }
  tarballs.push(packRoot(pkg.napi.targets.map((t) => PLATFORMS[t])))
  console.log(`\nReady for npm publish (platform packages first, then ${pkg.name}):`)
  for (const name of tarballs) {
    console.log(`  dist/${name}  ${(fs.statSync(path.join(DIST, name)).size / 1e6).toFixed(1)} MB`)
  }
}

try {
  main()
} catch (err) {
  console.error(`npm run package: ${err.message}`)
  process.exit(1)
}
