#!/usr/bin/env node
'use strict'
// Install time with the prebuilt package vs from source, and the size of a production install,
// from the release tarballs in dist/ (run `npm run package` first). Runs alternate (prebuilt,
// source, prebuilt, …) so both see the same machine load; prints each run, then median and range.
// npm's cache and cargo's registry are whatever this machine has (warm after the first run).
//
//   node scripts/measure-install.js [--runs 3]
//
// prebuilt: npm install --omit=dev <root> <platform> in a fresh project, cargo not on PATH
// source:   npm install --omit=dev <root> in a fresh project that allows the install script
//           (no platform package: the install step builds with cargo, release)
const { execFileSync } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')
const { PACKAGE, VERSION, consumerEnv, makeProject } = require('../__test__/support/packages')
const { platformTuple } = require('./platform')

const ROOT = path.join(__dirname, '..')
const runs = Number(process.argv.includes('--runs') ? process.argv[process.argv.indexOf('--runs') + 1] : 3)
const tuple = platformTuple()
const rootTarball = path.join(ROOT, 'dist', `${PACKAGE}-${VERSION}.tgz`)
const platformTarball = path.join(ROOT, 'dist', `${PACKAGE}-${tuple}-${VERSION}.tgz`)
for (const file of [rootTarball, platformTarball]) {
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run npm run package`)
}

function install (dir, mode) {
  const project = makeProject(dir, `measure-${mode}`)
  if (mode === 'source') {
    const manifest = JSON.parse(fs.readFileSync(path.join(project, 'package.json'), 'utf8'))
    manifest.allowScripts = { [PACKAGE]: true }
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify(manifest))
  }
  const tarballs = mode === 'prebuilt' ? [rootTarball, platformTarball] : [rootTarball]
  const env = consumerEnv({ withoutCargo: mode === 'prebuilt' })
  const started = process.hrtime.bigint()
  execFileSync('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', ...tarballs], { cwd: project, env, stdio: 'pipe' })
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const du = execFileSync('du', ['-sh', 'node_modules'], { cwd: project }).toString().split('\t')[0]
  const packages = fs.readdirSync(path.join(project, 'node_modules')).filter((n) => !n.startsWith('.'))
  return { seconds, du, packages }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ilp-plugin-http-rs-measure-'))
const times = { prebuilt: [], source: [] }
try {
  for (let i = 0; i < runs; i++) {
    for (const mode of ['prebuilt', 'source']) {
      const result = install(path.join(work, `${mode}-${i}`), mode)
      times[mode].push(result.seconds)
      console.log(`${mode} run ${i + 1}: ${result.seconds.toFixed(1)} s, node_modules ${result.du} (${result.packages.join(', ')})`)
    }
  }
  for (const [mode, xs] of Object.entries(times)) {
    console.log(`${mode}: median ${median(xs).toFixed(1)} s, range ${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)} s over ${xs.length} runs`)
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true })
}
