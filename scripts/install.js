#!/usr/bin/env node
'use strict'
// The `install` step (`npm install` runs it; nothing here needs a devDependency).
//
// - Installed as a dependency, with a prebuilt package for this platform
//   (ilp-plugin-http-rs-<platform>, an optionalDependency npm picked by os/cpu/libc):
//   checks that it loads and stops. Nothing is compiled; cargo is not needed.
// - No prebuilt package, or it does not load: builds from source with cargo (scripts/build.js),
//   which fails with one message naming the platform and what to install if Rust is missing.
// - `npm_config_build_from_source=true` (or `npm install --build-from-source`): always builds.
// - In a checkout of this repository (not under node_modules): always builds, because the
//   developer is changing the Rust code.
const { spawnSync } = require('child_process')
const path = require('path')
const { PACKAGE, platformTuple } = require('./platform')
const { build } = require('./build')

const ROOT = path.join(__dirname, '..')

function truthy (value) {
  return value !== undefined && value !== '' && value !== 'false' && value !== '0'
}

/** Loads the addon through the generated loader in a child process: true if it loads. */
function prebuiltLoads () {
  const check = 'const b = require(process.argv[1]); if (typeof b.NativePlugin !== "function") process.exit(2)'
  const result = spawnSync(process.execPath, ['-e', check, path.join(ROOT, 'binding.js')], { stdio: 'ignore' })
  return result.status === 0
}

function main () {
  const installedAsDependency = ROOT.split(path.sep).includes('node_modules')
  let why
  if (!installedAsDependency) {
    why = 'a checkout of the repository'
  } else if (truthy(process.env.npm_config_build_from_source)) {
    why = 'npm_config_build_from_source is set'
  } else if (prebuiltLoads()) {
    console.error(`${PACKAGE}: using the prebuilt binary for ${platformTuple()}`)
    return
  } else {
    why = 'no prebuilt binary loads'
  }
  console.error(`${PACKAGE}: ${why}, building from source`)
  build({ debug: false, why })
}

main()
