#!/usr/bin/env node
'use strict'
// Builds the native addon from source with @napi-rs/cli (`npm install` runs this).
//
//   node scripts/build.js           release build into native/
//   node scripts/build.js --debug   debug build (fast, for iterating)
//
// When this package is being installed as a dependency of another project, cargo's
// target folder is put in a temporary directory and removed afterwards, so no build
// folder is left inside the consumer's node_modules.
const { spawnSync } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')

const root = path.join(__dirname, '..')
const debug = process.argv.includes('--debug')
const installedAsDependency = root.split(path.sep).includes('node_modules')

const cli = require.resolve('@napi-rs/cli/package.json')
const napiBin = path.join(path.dirname(cli), 'dist', 'cli.js')

const args = [napiBin, 'build', '--output-dir', 'native', '--dts', 'binding.d.ts']
if (!debug) args.push('--release')

let targetDir
if (installedAsDependency) {
  targetDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilp-plugin-http-rs-build-'))
  args.push('--target-dir', targetDir)
}

const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' })
if (targetDir) fs.rmSync(targetDir, { recursive: true, force: true })
if (result.error) {
  console.error('ilp-plugin-http-rs: could not run the napi build:', result.error.message)
  process.exit(1)
}
if (result.status !== 0) {
  console.error('ilp-plugin-http-rs: building the native addon failed (is cargo installed?)')
  process.exit(result.status || 1)
}
