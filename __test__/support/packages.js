'use strict'
// Packing and installing this package the way users get it (pack.test.js,
// consumer-connector.test.js, platforms/*.test.js).
//
// - packRoot(dir, { optional }): `npm pack` of this checkout into `dir`; with `optional`, the
//   root package.json gets the optionalDependencies `npm run package` gives it (scripts/package.js).
// - packPlatform(dir, tuple, nodeFile): the platform package npm/<tuple>/ with `nodeFile` as its
//   binary, packed into `dir` (the release builds it from a zig build; tests reuse the addon the
//   checkout already built, so nothing is compiled again).
// - consumerEnv({ withoutCargo }): the environment of a user's npm: no npm_* variables of the
//   outer run, no CONNECTOR_* or NODE_PATH, and with `withoutCargo` no PATH entry holding cargo or
//   rustc (so a build attempt fails).
// - makeProject(dir, name): an empty project with a package.json.
const { execFileSync } = require('child_process')
const fs = require('fs')
const path = require('path')

const ROOT = path.join(__dirname, '..', '..')
const PACKAGE = 'ilp-plugin-http-rs'
const VERSION = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version
const SHIPPED = ['linux-x64-gnu', 'linux-arm64-gnu', 'linux-x64-musl']

function consumerEnv ({ withoutCargo = false } = {}) {
  const env = {}
  for (const [key, value] of Object.entries(process.env)) {
    const lower = key.toLowerCase()
    if (!lower.startsWith('npm_') && !key.startsWith('CONNECTOR_') && key !== 'NODE_PATH') env[key] = value
  }
  if (withoutCargo) {
    env.PATH = env.PATH.split(path.delimiter)
      .filter((dir) => !['cargo', 'rustc'].some((tool) => fs.existsSync(path.join(dir, tool))))
      .join(path.delimiter)
    // node and npm must still be found: put the running node's folder first.
    env.PATH = [path.dirname(process.execPath), env.PATH].join(path.delimiter)
  }
  return env
}

function npmPack (cwd, dir) {
  return execFileSync('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', dir], { cwd, env: consumerEnv() })
    .toString().trim().split('\n').pop()
}

/** Packs this checkout into `dir`; returns the tarball's path. */
function packRoot (dir, { optional = false } = {}) {
  const file = path.join(ROOT, 'package.json')
  if (!optional) return path.join(dir, npmPack(ROOT, dir))
  // Pack a copy of the manifest with the optionalDependencies of a release, from a staging
  // folder holding the same files (the checkout's package.json is never touched).
  const manifest = JSON.parse(fs.readFileSync(file, 'utf8'))
  manifest.optionalDependencies = Object.fromEntries(SHIPPED.map((t) => [`${PACKAGE}-${t}`, VERSION]))
  const staging = path.join(dir, 'staging-root')
  const listed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, env: consumerEnv() }))[0].files
  for (const { path: rel } of listed) {
    fs.mkdirSync(path.dirname(path.join(staging, rel)), { recursive: true })
    fs.copyFileSync(path.join(ROOT, rel), path.join(staging, rel))
  }
  fs.writeFileSync(path.join(staging, 'package.json'), JSON.stringify(manifest, null, 2) + '\n')
  const tarball = path.join(dir, npmPack(staging, dir))
  fs.rmSync(staging, { recursive: true, force: true })
  return tarball
}

/** Packs npm/<tuple>/ with `nodeFile` as its binary into `dir`; returns the tarball's path. */
function packPlatform (dir, tuple, nodeFile) {
  const staging = path.join(dir, `staging-${tuple}`)
  fs.mkdirSync(staging, { recursive: true })
  fs.copyFileSync(path.join(ROOT, 'npm', tuple, 'package.json'), path.join(staging, 'package.json'))
  fs.copyFileSync(path.join(ROOT, 'LICENSE'), path.join(staging, 'LICENSE'))
  fs.copyFileSync(nodeFile, path.join(staging, `${PACKAGE}.${tuple}.node`))
  const tarball = path.join(dir, npmPack(staging, dir))
  fs.rmSync(staging, { recursive: true, force: true })
  return tarball
}

function makeProject (dir, name) {
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }))
  return dir
}

/**
 * A script for `node -e` in a consumer project: two plugins from the installed package, one
 * sendData -> data handler -> Fulfill round trip, byte-exact, then `round trip ok <platform>`.
 * Uses nothing but the installed package (the packets are built by hand: OER, RFC 27).
 */
const ROUND_TRIP_SCRIPT = `
const Plugin = require('${PACKAGE}')
function oerLength (n) { return n < 128 ? Buffer.from([n]) : Buffer.from([0x82, n >> 8, n & 255]) }
function envelope (type, body) { return Buffer.concat([Buffer.from([type]), oerLength(body.length), body]) }
function varOctets (b) { return Buffer.concat([oerLength(b.length), b]) }
;(async () => {
  if (Plugin.version !== 2 || Plugin.default !== Plugin) throw new Error('bad module shape')
  const amount = Buffer.alloc(8); amount.writeBigUInt64BE(1n)
  const expires = new Date(Date.now() + 10000).toISOString().replace(/[-:T.Z]/g, '') // YYYYMMDDHHmmssSSS
  const destination = Buffer.from('test.receiver')
  const prepare = envelope(12, Buffer.concat([amount, Buffer.from(expires), Buffer.alloc(32), varOctets(destination), varOctets(Buffer.alloc(0))]))
  const fulfill = envelope(13, Buffer.concat([Buffer.alloc(32, 7), varOctets(Buffer.from('paid on ' + process.arch))]))
  const receiver = new Plugin({ incoming: { port: 0, host: '127.0.0.1', staticToken: 'to-receiver' }, outgoing: { url: 'http://127.0.0.1:9/', staticToken: 'unused' } })
  let seen
  receiver.registerDataHandler(async (data) => { seen = Buffer.from(data); return fulfill })
  await receiver.connect()
  const sender = new Plugin({ incoming: { port: 0, host: '127.0.0.1', staticToken: 'to-sender' }, outgoing: { url: 'http://127.0.0.1:' + receiver.port + '/', staticToken: 'to-receiver' } })
  await sender.connect()
  // Our builds run tokio without its LIFO slot (src/node/runtime.rs, .cargo/config.toml).
  const { runtime } = sender.getAdminInfo()
  if (!runtime || runtime.lifoSlot !== false) throw new Error('built without --cfg tokio_unstable: ' + JSON.stringify(runtime))
  const reply = await sender.sendData(prepare)
  if (!seen || !seen.equals(prepare)) throw new Error('the data handler did not get the Prepare byte for byte')
  if (!reply.equals(fulfill)) throw new Error('the reply is not the Fulfill byte for byte')
  await sender.disconnect()
  await receiver.disconnect()
  console.log('round trip ok', process.platform + '-' + process.arch, process.version)
})().catch((e) => { console.error(e); process.exit(1) })
`

module.exports = { PACKAGE, VERSION, SHIPPED, consumerEnv, packRoot, packPlatform, makeProject, ROUND_TRIP_SCRIPT }
