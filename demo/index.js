#!/usr/bin/env node
'use strict'
// `npm start`: a zero-configuration demo of ilp-plugin-http-rs.
//
//   alice (standalone plugin) --HTTP--> ilp-connector [alice | bob] --HTTP--> bob (standalone plugin)
//   STREAM client                       accounts use plugin: 'ilp-plugin-http-rs'         STREAM server
//
// Everything runs in this process on 127.0.0.1 with ports picked by the OS. alice learns her ILP
// address from the connector by ILDCP and pays bob with ilp-protocol-stream; the terminal shows
// packets per second, the amount delivered and the round-trip latency alice sees per packet.
//
// Usage: node demo/index.js [--amount N] [--max-packet N] [--once] [--verbose]
//   --amount N      units per payment (default 10000000; asset XRP, scale 9)
//   --max-packet N  the connector's maxPacketAmount, so each payment takes many packets
//                   (default 10000)
//   --once          exit after one payment (default: pay again and again until Ctrl-C)
//   --verbose       print the connector's log (and ours, through it) to stderr
// Ctrl-C (SIGINT) or SIGTERM stops everything (STREAM, plugins, connector) and exits with 0.
const path = require('path')
const net = require('net')
const crypto = require('crypto')
const { Writable } = require('stream')

const ROOT = path.resolve(__dirname, '..')
const PLUGIN_NAME = 'ilp-plugin-http-rs'
const CONNECTOR_ADDRESS = 'test.demo'
const ASSET = { assetCode: 'XRP', assetScale: 9 }
const TYPE_FULFILL = 13
const TYPE_REJECT = 14

const USAGE = 'usage: node demo/index.js [--amount N] [--max-packet N] [--once] [--verbose]'

function parseArgs (argv) {
  const opts = { amount: 10000000n, maxPacket: 10000n, once: false, verbose: false }
  const positiveInteger = (name, value) => {
    if (value === undefined || !/^[1-9][0-9]*$/.test(value)) {
      throw new Error(`${name} needs a positive integer, got ${value === undefined ? 'nothing' : JSON.stringify(value)}`)
    }
    return BigInt(value)
  }
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s)
    const value = () => (inline !== undefined ? inline : argv[++i])
    switch (flag) {
      case '--amount': opts.amount = positiveInteger(flag, value()); break
      case '--max-packet': opts.maxPacket = positiveInteger(flag, value()); break
      case '--once': opts.once = true; break
      case '--verbose': opts.verbose = true; break
      case '--help': case '-h': opts.help = true; break
      default: throw new Error(`unknown argument ${JSON.stringify(argv[i])}`)
    }
  }
  return opts
}

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it). */
function freePort () {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/**
 * ilp-connector loads account plugins with `require(name)` from its own folder, as an operator's
 * config names them. In this repository the package is not installed under its own name, so
 * link node_modules/ilp-plugin-http-rs -> .. (what the test setup does). Returns true when the
 * name now resolves to this checkout; otherwise the demo passes plugin instances instead.
 */
function pluginLoadableByName () {
  const connectorDir = path.dirname(require.resolve('ilp-connector'))
  const resolvesHere = () => {
    try {
      return require.resolve(PLUGIN_NAME, { paths: [connectorDir] }) === require.resolve(ROOT)
    } catch (err) {
      return false
    }
  }
  if (resolvesHere()) return true
  try {
    require(path.join(ROOT, '__test__', 'setup', 'link-self.js')).linkSelf()
  } catch (err) {
    return false
  }
  return resolvesHere()
}

const fmt = (n) => BigInt(n).toLocaleString('en-US')

/** Packet statistics seen by the sender's plugin: counts and per-packet latency. */
class Meter {
  constructor () {
    this.fulfilled = 0
    this.rejected = 0
    this.failed = 0
    this.latencies = [] // ms, all packets (a demo run is at most a few million packets)
    this.windowStart = process.hrtime.bigint()
    this.windowPackets = 0
    this.windowLatencies = []
  }

  get packets () { return this.fulfilled + this.rejected + this.failed }

  record (ms, reply) {
    if (reply === undefined) this.failed++
    else if (reply[0] === TYPE_FULFILL) this.fulfilled++
    else if (reply[0] === TYPE_REJECT) this.rejected++
    else this.failed++
    this.latencies.push(ms)
    this.windowPackets++
    this.windowLatencies.push(ms)
  }

  /** Packets/s and latency since the previous call. */
  takeWindow () {
    const now = process.hrtime.bigint()
    const seconds = Number(now - this.windowStart) / 1e9
    const out = { rate: seconds > 0 ? this.windowPackets / seconds : 0, latency: summarize(this.windowLatencies) }
    this.windowStart = now
    this.windowPackets = 0
    this.windowLatencies = []
    return out
  }
}

function summarize (values) {
  if (values.length === 0) return undefined
  const sorted = values.slice().sort((a, b) => a - b)
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
  return { avg: sorted.reduce((a, b) => a + b, 0) / sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] }
}

const ms = (value) => `${value.toFixed(value < 10 ? 2 : 1)} ms`

/** Wraps plugin.sendData to time every packet (STREAM calls plugin.sendData at call time). */
function instrument (plugin, meter) {
  const send = plugin.sendData.bind(plugin)
  plugin.sendData = async (data) => {
    const started = process.hrtime.bigint()
    let reply
    try {
      reply = await send(data)
      return reply
    } finally {
      meter.record(Number(process.hrtime.bigint() - started) / 1e6, reply)
    }
  }
}

async function main () {
  let opts
  try {
    opts = parseArgs(process.argv.slice(2))
  } catch (err) {
    process.stderr.write(`${err.message}\n${USAGE}\n`)
    process.exitCode = 2
    return
  }
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`)
    return
  }

  const tty = Boolean(process.stdout.isTTY)
  const out = (line) => process.stdout.write(`${line}\n`)
  const state = {
    stopping: false,
    cleanups: [],
    meter: new Meter(),
    payments: 0,
    delivered: 0n, // by completed payments
    current: undefined, // { stream, amount }
    startedAt: process.hrtime.bigint(),
    progressTimer: undefined,
    progressShown: false
  }

  const stopAll = async () => {
    clearInterval(state.progressTimer)
    for (const cleanup of state.cleanups.reverse()) {
      try {
        await cleanup()
      } catch (err) {
        // Best effort: keep closing the rest.
      }
    }
  }

  const deliveredSoFar = () => state.delivered + (state.current ? BigInt(state.current.stream.totalSent) : 0n)

  const clearProgress = () => {
    if (tty && state.progressShown) process.stdout.write('\r\x1b[2K')
    state.progressShown = false
  }

  const showProgress = () => {
    const { rate, latency } = state.meter.takeWindow()
    const current = state.current
    const part = current
      ? `payment #${state.payments + 1}: ${fmt(current.stream.totalSent)} / ${fmt(current.amount)} (${(Number(BigInt(current.stream.totalSent) * 1000n / current.amount) / 10).toFixed(1)}%)`
      : 'connecting'
    const line = `${part} | ${rate.toFixed(0)} packets/s | ${state.meter.packets} packets (${state.meter.rejected} rejected)` +
      ` | latency ${latency ? `avg ${ms(latency.avg)} p99 ${ms(latency.p99)}` : '-'}` +
      ` | delivered ${fmt(deliveredSoFar())}`
    if (tty) {
      process.stdout.write(`\r\x1b[2K${line}`)
      state.progressShown = true
    } else {
      out(`progress: ${line}`)
    }
  }

  const summaryLine = (prefix) => {
    const seconds = Number(process.hrtime.bigint() - state.startedAt) / 1e9
    const all = summarize(state.meter.latencies)
    const m = state.meter
    return `${prefix}: delivered ${deliveredSoFar()} units alice -> bob in ${state.payments} complete payment(s), ` +
      `${m.packets} packets (${m.fulfilled} fulfilled, ${m.rejected} rejected, ${m.failed} failed) in ${seconds.toFixed(2)} s, ` +
      `${(m.packets / seconds).toFixed(0)} packets/s` +
      (all ? `, latency avg ${ms(all.avg)} p50 ${ms(all.p50)} p99 ${ms(all.p99)} max ${ms(all.max)}` : '')
  }

  let signalled = 0
  const onSignal = async (signal) => {
    signalled++
    if (signalled > 1) {
      clearProgress()
      out(`${signal} again: exiting without waiting for the shutdown`)
      process.exit(1)
    }
    state.stopping = true
    clearProgress()
    out(`\n${signal}: stopping (STREAM connection, plugins, connector)...`)
    const current = state.current
    await stopAll()
    out(summaryLine(current
      ? `interrupted during payment #${state.payments + 1} (${BigInt(current.stream.totalSent)} of ${current.amount} units of it sent)`
      : 'interrupted'))
    out('stopped cleanly')
    // Timers the connector keeps for Prepares in flight would otherwise hold the process until
    // those Prepares expire (up to 30 s); everything that matters is closed above.
    process.exit(0)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  // Loaded after the handlers are in place: a Ctrl-C during these (slow) requires is handled
  // once they finish, like any other.
  // The connector logs through riverpig to stdout; keep the terminal for the demo.
  const connectorLog = require('ilp-connector/dist/common/log')
  const logTail = []
  connectorLog.setOutputStream(opts.verbose
    ? process.stderr
    : new Writable({
      write (chunk, encoding, callback) {
        logTail.push(chunk.toString())
        if (logTail.length > 50) logTail.shift()
        callback()
      }
    }))
  const { createApp } = require('ilp-connector')
  const { createServer, createConnection } = require('ilp-protocol-stream')
  const PluginHttp = require(ROOT)


  try {
    // ---- the network ----
    const usePluginName = pluginLoadableByName()
    const secret = (label) => `${label}-${crypto.randomBytes(16).toString('hex')}`
    const s = {
      aliceUp: secret('alice-up'),
      aliceDown: secret('alice-down'),
      bobUp: secret('bob-up'),
      bobDown: secret('bob-down')
    }
    const [alicePort, bobPort] = await Promise.all([freePort(), freePort()])
    const connectorAccount = (options) => ({
      relation: 'child',
      ...ASSET,
      maxPacketAmount: String(opts.maxPacket),
      plugin: usePluginName ? PLUGIN_NAME : new PluginHttp(options),
      options
    })
    const app = createApp({
      env: 'test',
      ilpAddress: CONNECTOR_ADDRESS,
      backend: 'one-to-one',
      spread: 0,
      store: 'memory',
      adminApi: false,
      collectDefaultMetrics: false,
      initialConnectTimeout: 5000,
      accounts: {
        alice: connectorAccount({
          incoming: { port: 0, host: '127.0.0.1', staticToken: s.aliceUp },
          outgoing: { url: `http://127.0.0.1:${alicePort}/`, staticToken: s.aliceDown }
        }),
        bob: connectorAccount({
          incoming: { port: 0, host: '127.0.0.1', jwtSecret: s.bobUp },
          outgoing: { url: `http://127.0.0.1:${bobPort}/`, jwtSecret: s.bobDown }
        })
      }
    })
    state.cleanups.push(() => app.shutdown())
    await app.listen()
    const connectorPort = {}
    for (const id of ['alice', 'bob']) {
      const plugin = app.getPlugin(id)
      if (!plugin.isConnected() || !plugin.port) {
        throw new Error(`connector account ${id} did not connect\n${logTail.join('')}`)
      }
      connectorPort[id] = plugin.port
    }

    const alice = new PluginHttp({
      incoming: { port: alicePort, host: '127.0.0.1', staticToken: s.aliceDown },
      outgoing: { url: `http://127.0.0.1:${connectorPort.alice}/`, staticToken: s.aliceUp }
    })
    const bob = new PluginHttp({
      incoming: { port: bobPort, host: '127.0.0.1', jwtSecret: s.bobDown },
      outgoing: { url: `http://127.0.0.1:${connectorPort.bob}/`, jwtSecret: s.bobUp }
    })
    for (const plugin of [alice, bob]) {
      state.cleanups.push(() => plugin.disconnect())
      await plugin.connect()
    }
    instrument(alice, state.meter)

    const bobServer = await createServer({ plugin: bob })
    state.cleanups.push(() => bobServer.close())
    bobServer.on('connection', (connection) => {
      connection.on('stream', (stream) => stream.setReceiveMax(Infinity))
    })
    const { destinationAccount, sharedSecret } = bobServer.generateAddressAndSecret()

    out('ilp-plugin-http-rs demo (Ctrl-C to stop)')
    out(`  connector ${CONNECTOR_ADDRESS}: ilp-connector ${require('ilp-connector/package.json').version} in this process, ` +
      (usePluginName ? `accounts load plugin '${PLUGIN_NAME}' by name` : 'accounts use ilp-plugin-http-rs instances'))
    out(`    account alice  http://127.0.0.1:${connectorPort.alice}/  static token   maxPacketAmount ${opts.maxPacket}`)
    out(`    account bob    http://127.0.0.1:${connectorPort.bob}/  JWT (HS256)    maxPacketAmount ${opts.maxPacket}`)
    out(`  alice  standalone plugin http://127.0.0.1:${alicePort}/  STREAM client`)
    out(`  bob    standalone plugin http://127.0.0.1:${bobPort}/  STREAM server ${destinationAccount.split('.').slice(0, 3).join('.')}`)
    out(`  asset ${ASSET.assetCode}, scale ${ASSET.assetScale}; paying ${opts.amount} units per payment${opts.once ? ' (once)' : ' until Ctrl-C'}`)

    state.startedAt = process.hrtime.bigint()
    state.meter.takeWindow()
    state.progressTimer = setInterval(showProgress, tty ? 250 : 1000)

    const connection = await createConnection({ plugin: alice, destinationAccount, sharedSecret })
    state.cleanups.push(() => connection.destroy())
    connection.on('error', () => {}) // destroy() on Ctrl-C emits nothing useful to the user

    while (!state.stopping) {
      const stream = connection.createStream()
      state.current = { stream, amount: opts.amount }
      await stream.sendTotal(String(opts.amount))
      if (state.stopping) break
      state.current = undefined
      state.delivered += BigInt(stream.totalSent)
      state.payments++
      stream.end()
      clearProgress()
      out(`payment #${state.payments} complete: ${opts.amount} units delivered to bob`)
      if (opts.once) break
    }
    if (state.stopping) return
    clearInterval(state.progressTimer)
    out(summaryLine('summary'))
    await connection.end().catch(() => {})
    await stopAll()
    out('stopped cleanly')
    process.exit(0) // see onSignal
  } catch (err) {
    if (state.stopping) return // Ctrl-C closed the connection under the payment: expected.
    clearProgress()
    process.stderr.write(`demo failed: ${err && err.message ? err.message : err}\n`)
    state.stopping = true
    await stopAll()
    process.exit(1)
  }
}

main()
