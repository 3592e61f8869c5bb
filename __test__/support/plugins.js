'use strict'
// The two plugin classes under test, and what every suite does with them: find the port a
// plugin listens on, tear plugins (and whatever else a test opened) down, record their logs.
const { once } = require('events')

/** Our package, loaded the way users load it. */
const PluginHttp = require('../..')
/** The original, for differential and interop tests. */
const OriginalPluginHttp = require('ilp-plugin-http')

/** Both implementations as `[name, class]` rows, for `describe.each`. */
const IMPLS = [['ours', PluginHttp], ['1.6.1', OriginalPluginHttp]]

/** Both implementations by name. */
const IMPL = { ours: PluginHttp, '1.6.1': OriginalPluginHttp }

/**
 * The port a plugin listens on, once its server is bound (ours: `plugin.port`; 1.6.1: its Node
 * server's address).
 */
function portOf (plugin) {
  return plugin instanceof OriginalPluginHttp ? plugin._httpServer.address().port : plugin.port
}

/**
 * The bound port of a plugin whose connect() has been called. 1.6.1's connect() resolves before
 * its server is bound (and it binds '::' whatever the host): this waits for `listening` and
 * rejects on a bind error. Also silences 1.6.1's Koa, which would print every 5xx.
 */
async function listeningPort (plugin) {
  if (plugin instanceof OriginalPluginHttp) {
    plugin._app.silent = true
    const server = plugin._httpServer
    if (!server.listening) await once(server, 'listening') // rejects on 'error'
    return server.address().port
  }
  return plugin.port
}

/**
 * Connects a plugin and resolves its bound port (see listeningPort). For 1.6.1 the wait for
 * `listening` starts before connect() returns, so a bind error is never emitted unheard.
 */
async function connectAndListen (plugin) {
  if (plugin instanceof OriginalPluginHttp) {
    const connected = plugin.connect() // synchronous up to listen()
    const port = await listeningPort(plugin)
    await connected
    return port
  }
  await plugin.connect()
  return plugin.port
}

/**
 * Disconnects every plugin, ignoring errors, and closes 1.6.1's leftover keep-alive sockets
 * (its disconnect does not wait for its server to close).
 */
async function disconnectAll (plugins) {
  for (const plugin of plugins) {
    try { await plugin.disconnect() } catch (e) {}
    if (plugin._httpServer && typeof plugin._httpServer.closeAllConnections === 'function') {
      plugin._httpServer.closeAllConnections()
    }
  }
}

/**
 * Runs a test's cleanups (closers of peers, sockets, …) last in, first out, ignoring their
 * errors. Pass `cleanups.splice(0)` so that the list is empty for the next test.
 */
async function runCleanups (cleanups) {
  for (const cleanup of cleanups.reverse()) {
    try { await cleanup() } catch (e) {}
  }
}

/**
 * A logger in the shape ilp-connector passes as `api.log`. `lines` holds what each level logged,
 * one string per call (the arguments joined by spaces): `lines.warn`, `lines.error`, …;
 * `lines.all` holds `{ level, text }` for every call, in order.
 */
function makeLog () {
  const levels = ['error', 'warn', 'info', 'debug', 'trace']
  const lines = { all: [] }
  const log = {}
  for (const level of levels) {
    lines[level] = []
    log[level] = (...args) => {
      const text = args.map(String).join(' ')
      lines[level].push(text)
      lines.all.push({ level, text })
    }
  }
  return { log, lines }
}

module.exports = {
  PluginHttp,
  OriginalPluginHttp,
  IMPLS,
  IMPL,
  portOf,
  listeningPort,
  connectAndListen,
  disconnectAll,
  runCleanups,
  makeLog
}
