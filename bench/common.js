'use strict'
// Shared by bench/sender.js and bench/receiver.js: command-line flags, the two plugin
// implementations, auth options and the pre-built ILP packets. Every socket is on 127.0.0.1.
const crypto = require('crypto')
const fs = require('fs')
const path = require('path')
const IlpPacket = require('ilp-packet')

/** Auth used by every pair, in both directions. */
const STATIC_TOKEN = 'bench-static-token'
const JWT_SECRET = 'bench-jwt-secret'

/** The fulfillment every receiver answers with, and the condition every Prepare carries. */
const FULFILLMENT = Buffer.alloc(32)
const CONDITION = crypto.createHash('sha256').update(FULFILLMENT).digest()

/**
 * Parses `--name value` and `--flag` arguments into an object (`--in-flight 8` →
 * `{ 'in-flight': '8' }`, `--http2` → `{ http2: true }`).
 */
function parseArgs (argv) {
  const args = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`)
    const eq = arg.indexOf('=')
    if (eq !== -1) {
      args[arg.slice(2, eq)] = arg.slice(eq + 1)
    } else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) {
      args[arg.slice(2)] = argv[++i]
    } else {
      args[arg.slice(2)] = true
    }
  }
  return args
}

/** What `require` needs to load each plugin (ilp-connector's account `plugin` takes it too). */
const PLUGIN_MODULES = {
  // run.js --ours-at: another checkout of this package (its own built addon) instead of this one
  ours: process.env.ILP_PLUGIN_HTTP_RS_BENCH_PACKAGE || path.join(__dirname, '..'),
  orig: 'ilp-plugin-http',
  floor: path.join(__dirname, 'floor.js')
}

/**
 * `require`s the plugin class: ours (this package), the original ilp-plugin-http 1.6.1, or the
 * floor (bench/floor.js: raw TCP frames, the cheapest JS transport).
 */
function loadPlugin (impl) {
  if (!Object.hasOwn(PLUGIN_MODULES, impl)) throw new Error(`--impl must be ours, orig or floor, not ${impl}`)
  if (impl === 'orig') bindOriginalToLoopback()
  return require(PLUGIN_MODULES[impl])
}

/**
 * 1.6.1 calls `koaApp.listen(port)`, which binds every interface. The benchmark only uses
 * loopback, so its Koa's `listen` is wrapped to bind 127.0.0.1 (nothing else changes).
 */
function bindOriginalToLoopback () {
  const Koa = require(require.resolve('koa', { paths: [path.dirname(require.resolve('ilp-plugin-http'))] }))
  if (Koa.prototype.listen.__benchLoopback) return
  const listen = Koa.prototype.listen
  Koa.prototype.listen = function (port, ...rest) {
    if (typeof port === 'number' && rest.length === 0) return listen.call(this, port, '127.0.0.1')
    return listen.call(this, port, ...rest)
  }
  Koa.prototype.listen.__benchLoopback = true
}

/**
 * Options for one side: `auth` is `static` or `jwt`, the same secret both ways. The floor
 * plugin has no auth and reads only the port of `url` (`undefined`: it never sends).
 */
function pluginOptions ({ impl, auth, url, http2 }) {
  if (impl === 'floor') {
    return {
      incoming: { port: 0, host: '127.0.0.1' },
      outgoing: url ? { host: '127.0.0.1', port: Number(new URL(url).port) } : {}
    }
  }
  let credentials
  if (auth === 'static') credentials = { staticToken: STATIC_TOKEN }
  else if (auth === 'jwt') credentials = { jwtSecret: JWT_SECRET }
  else throw new Error(`--auth must be static or jwt, not ${auth}`)
  const incoming = { port: 0, ...credentials }
  if (impl === 'ours') incoming.host = '127.0.0.1'
  return {
    incoming,
    outgoing: { url, ...credentials, http2: !!http2, name: 'bench' }
  }
}

/** An ILP Prepare carrying `dataBytes` bytes of data that expires `expiresInMs` from now. */
function makePrepare (dataBytes, expiresInMs, destination = 'test.bench.receiver') {
  return IlpPacket.serializeIlpPrepare({
    amount: '1',
    executionCondition: CONDITION,
    expiresAt: new Date(Date.now() + expiresInMs),
    destination,
    data: Buffer.alloc(dataBytes, 0x61)
  })
}

/**
 * `() => Buffer`: a new Prepare on every call, differing from all others in the last 8 bytes
 * of its data (a counter), so ilp-connector's `deduplicate` middleware (which keys on the
 * condition, destination and data) never answers one from its cache. Needs `dataBytes` ≥ 8.
 */
function uniquePrepares (dataBytes, expiresInMs, destination) {
  if (dataBytes < 8) throw new Error('unique Prepares need at least 8 data bytes (a counter)')
  const template = makePrepare(dataBytes, expiresInMs, destination)
  let counter = 0n
  return () => {
    const prepare = Buffer.from(template) // a copy: a plugin may still hold the previous one
    prepare.writeBigUInt64BE(counter++, prepare.length - 8)
    return prepare
  }
}

/** The Fulfill every receiver returns (no data). */
function makeFulfill () {
  return IlpPacket.serializeIlpFulfill({ fulfillment: FULFILLMENT, data: Buffer.alloc(0) })
}

/** The port a connected plugin listens on (1.6.1 binds asynchronously after `connect()`). */
async function boundPort (impl, plugin) {
  if (impl !== 'orig') return plugin.port
  const server = plugin._httpServer
  if (!server.listening) {
    await new Promise((resolve, reject) => {
      server.once('listening', resolve)
      server.once('error', reject)
    })
  }
  return server.address().port
}

/** Writes one protocol line to stdout (a pipe to bench/run.js; synchronous on Linux). */
function say (line) {
  process.stdout.write(line + '\n')
}

/**
 * 'release' or 'debug': a debug build carries DWARF sections (.debug_info); the release
 * profile strips symbols (Cargo.toml: strip = "symbols"). Read from the ELF section headers.
 */
function addonBuild (file) {
  try {
    const fd = fs.openSync(file, 'r')
    try {
      const read = (pos, len) => {
        const b = Buffer.alloc(len)
        fs.readSync(fd, b, 0, len, pos)
        return b
      }
      const h = read(0, 64)
      if (h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2 || h[5] !== 1) return 'unknown'
      const shoff = Number(h.readBigUInt64LE(0x28))
      const shentsize = h.readUInt16LE(0x3a)
      const shnum = h.readUInt16LE(0x3c)
      const shstrndx = h.readUInt16LE(0x3e)
      const sh = read(shoff, shentsize * shnum)
      const strOff = Number(sh.readBigUInt64LE(shstrndx * shentsize + 0x18))
      const strSize = Number(sh.readBigUInt64LE(shstrndx * shentsize + 0x20))
      const names = read(strOff, strSize).toString('latin1')
      return names.includes('.debug_info') ? 'debug' : 'release'
    } finally {
      fs.closeSync(fd)
    }
  } catch {
    return 'unknown'
  }
}

module.exports = {
  addonBuild,
  STATIC_TOKEN,
  JWT_SECRET,
  parseArgs,
  loadPlugin,
  PLUGIN_MODULES,
  bindOriginalToLoopback,
  pluginOptions,
  makePrepare,
  uniquePrepares,
  makeFulfill,
  boundPort,
  say
}
