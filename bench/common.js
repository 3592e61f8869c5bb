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

/** `require`s the plugin class: ours (this package) or the original ilp-plugin-http 1.6.1. */
function loadPlugin (impl) {
  if (impl === 'ours') return require(path.join(__dirname, '..'))
  if (impl === 'orig') {
    bindOriginalToLoopback()
    return require('ilp-plugin-http')
  }
  throw new Error(`--impl must be ours or orig, not ${impl}`)
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

/** Options for one side: `auth` is `static` or `jwt`, the same secret both ways. */
function pluginOptions ({ impl, auth, url, http2 }) {
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
function makePrepare (dataBytes, expiresInMs) {
  return IlpPacket.serializeIlpPrepare({
    amount: '1',
    executionCondition: CONDITION,
    expiresAt: new Date(Date.now() + expiresInMs),
    destination: 'test.bench.receiver',
    data: Buffer.alloc(dataBytes, 0x61)
  })
}

/** The Fulfill every receiver returns (no data). */
function makeFulfill () {
  return IlpPacket.serializeIlpFulfill({ fulfillment: FULFILLMENT, data: Buffer.alloc(0) })
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
  pluginOptions,
  makePrepare,
  makeFulfill,
  say
}
