'use strict'
// For the end-to-end tests that run a real ilp-connector (connector, connector-multi,
// cluster): plugin names, secrets, the connector's configuration, starting and stopping a test
// network (with the check that no secret reached a log), a recording logger, reply parsing,
// and the capture of the connector's own log (riverpig) so nothing lands on stdout.
const crypto = require('crypto')
const { Writable } = require('stream')
const IlpPacket = require('ilp-packet')
const { PluginHttp, OriginalPluginHttp } = require('./plugins')

const OURS = 'ilp-plugin-http-rs'
const ORIGINAL = 'ilp-plugin-http'
const CONNECTOR_ADDRESS = 'test.connector'
/** The asset of every test connector and its children. */
const ASSET = { assetCode: 'XRP', assetScale: 9 }

/** The four combinations of plugin in the connector and standalone: `[title, connector, standalone]`. */
const VARIANTS = [
  ['ours in the connector, ours standalone', OURS, OURS],
  ['1.6.1 in the connector, 1.6.1 standalone', ORIGINAL, ORIGINAL],
  ['ours in the connector, 1.6.1 standalone', OURS, ORIGINAL],
  ['1.6.1 in the connector, ours standalone', ORIGINAL, OURS]
]

/** The plugin class a package name stands for. */
function classFor (name) {
  return name === OURS ? PluginHttp : OriginalPluginHttp
}

/** A random secret with a readable label (so a leak in a log names its origin). */
function secret (label) {
  return `${label}-${crypto.randomBytes(12).toString('hex')}`
}

/** A logger with the connector's methods, recording `level message` lines. */
function recordingLogger (lines) {
  const log = {}
  for (const level of ['error', 'warn', 'info', 'debug', 'trace']) {
    log[level] = (...args) => { lines.push(`${level} ${args.join(' ')}`) }
  }
  return log
}

/** A Fulfill or Reject, decoded, with `type: 'fulfill' | 'reject'`. */
function parseResponse (buffer) {
  expect(Buffer.isBuffer(buffer)).toBe(true)
  if (buffer[0] === IlpPacket.Type.TYPE_ILP_REJECT) {
    return { type: 'reject', ...IlpPacket.deserializeIlpReject(buffer) }
  }
  if (buffer[0] === IlpPacket.Type.TYPE_ILP_FULFILL) {
    return { type: 'fulfill', ...IlpPacket.deserializeIlpFulfill(buffer) }
  }
  throw new Error(`not a Fulfill or Reject: type ${buffer[0]}`)
}

/** A child account of the connector: `plugin` (a package name) with `options`, in ASSET. */
function childAccount (plugin, options, { maxPacketAmount }) {
  return { relation: 'child', plugin, ...ASSET, maxPacketAmount, options }
}

/**
 * An ilp-connector configuration for tests: address `ilpAddress`, `accounts`, an in-memory
 * store, the one-to-one backend without spread, no admin API or default metrics, and 5 s for
 * the plugins to connect.
 */
function connectorConfig (ilpAddress, accounts) {
  return {
    env: 'test',
    ilpAddress,
    backend: 'one-to-one',
    spread: 0,
    store: 'memory',
    adminApi: false,
    collectDefaultMetrics: false,
    initialConnectTimeout: 5000,
    accounts
  }
}

/**
 * Starts ilp-connector with `net.config` as `net.app` (its shutdown pushed onto `net.cleanups`)
 * and asserts that every account's plugin is connected.
 */
async function startConnector (net) {
  const { createApp } = require('ilp-connector')
  net.app = createApp(net.config)
  net.cleanups.push(() => net.app.shutdown())
  await net.app.listen() // never rejects: it logs errors; connectivity is asserted below
  for (const id of Object.keys(net.config.accounts)) {
    expect({ id, connected: net.app.getPlugin(id).isConnected() }).toEqual({ id, connected: true })
  }
}

/**
 * Stops a test network: runs `net.cleanups` last in, first out (STREAM objects, standalone
 * plugins, the connector), then closes the keep-alive sockets 1.6.1 leaves open when it is the
 * connector's plugin. Rethrows the first cleanup error.
 */
async function stopNetwork (net) {
  if (!net) return
  const errors = []
  for (const cleanup of net.cleanups.reverse()) {
    try {
      await cleanup()
    } catch (err) {
      errors.push(err)
    }
  }
  for (const id of Object.keys(net.config.accounts)) {
    const plugin = net.app && net.app.getPlugin(id)
    if (plugin && plugin._httpServer && typeof plugin._httpServer.closeAllConnections === 'function') {
      plugin._httpServer.closeAllConnections()
    }
  }
  if (errors.length) throw errors[0]
}

/**
 * Registers, in the calling describe block, hooks that start a network with `start()` before
 * each test (handing it to `use(net)`) and stop it after. After each test it also asserts that
 * no value of `net.secrets` appears in the connector's log (`connectorLog`, which ours logs into
 * through api.log) or in `net.standaloneLog`. `CONNECTOR_TEST_LOG=1` prints both logs.
 */
function useNetwork (start, connectorLog, use) {
  let net
  beforeEach(async () => {
    connectorLog.reset()
    net = undefined
    use(net)
    try {
      net = await start()
      use(net)
    } catch (err) {
      err.message += `\nconnector log:\n${connectorLog.text()}`
      throw err
    }
  })
  afterEach(async () => {
    jest.restoreAllMocks()
    const current = net
    net = undefined
    use(net)
    await stopNetwork(current)
    if (process.env.CONNECTOR_TEST_LOG) {
      process.stderr.write(`--- ${expect.getState().currentTestName}\n${connectorLog.text()}` +
        (current ? current.standaloneLog.map((line) => `standalone: ${line}\n`).join('') : ''))
    }
    if (current) {
      const logs = connectorLog.text() + current.standaloneLog.join('\n')
      for (const [name, value] of Object.entries(current.secrets)) {
        expect({ name, leaked: logs.includes(value) }).toEqual({ name, leaked: false })
      }
    }
  })
}

/**
 * Sends everything riverpig writes (the connector's logs and, through api.log, ours) to memory
 * instead of stdout. Returns `{ text(), reset() }`. Nothing in the tests depends on it except
 * the check that no secret is ever logged.
 */
function captureConnectorLog () {
  const connectorLog = require('ilp-connector/dist/common/log')
  let captured = ''
  connectorLog.setOutputStream(new Writable({
    write (chunk, encoding, callback) {
      captured += chunk.toString()
      callback()
    }
  }))
  return {
    text: () => captured,
    reset: () => { captured = '' }
  }
}

module.exports = {
  OURS,
  ORIGINAL,
  CONNECTOR_ADDRESS,
  ASSET,
  VARIANTS,
  childAccount,
  connectorConfig,
  startConnector,
  stopNetwork,
  useNetwork,
  classFor,
  secret,
  recordingLogger,
  parseResponse,
  captureConnectorLog
}
