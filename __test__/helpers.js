'use strict'
// Shared test helpers: ILP packets, ports, and raw HTTP peers. Every socket is on 127.0.0.1.
const http = require('http')
const net = require('net')
const crypto = require('crypto')
const fs = require('fs')
const os = require('os')
const IlpPacket = require('ilp-packet')

/** Our package, loaded the way users load it. */
const PluginHttp = require('..')
/** The original, for differential and interop tests. */
const OriginalPluginHttp = require('ilp-plugin-http')

/**
 * `outgoing.url` of plugins that only receive in a test: required by the options, never sent
 * to (nothing is bound; port 9 is the discard service, closed on these machines).
 */
const UNUSED_OUTGOING_URL = 'http://127.0.0.1:9/unused'

/** Largest data field RFC 27 allows in a Prepare. */
const MAX_DATA_LENGTH = 32767

/** An ILP Prepare; `expiresInMs` defaults to 30 s. */
function makePrepare ({ destination = 'test.peer.alice', amount = '10', data = Buffer.alloc(0), expiresInMs = 30000, expiresAt } = {}) {
  return IlpPacket.serializeIlpPrepare({
    amount,
    executionCondition: crypto.createHash('sha256').update(Buffer.alloc(32)).digest(),
    expiresAt: expiresAt || new Date(Date.now() + expiresInMs),
    destination,
    data
  })
}

/** An ILP Fulfill with the zero fulfillment. */
function makeFulfill (data = Buffer.alloc(0)) {
  return IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.alloc(32), data })
}

/** An ILP Reject. */
function makeReject ({ code = 'F99', triggeredBy = 'test.peer', message = 'rejected', data = Buffer.alloc(0) } = {}) {
  return IlpPacket.serializeIlpReject({ code, triggeredBy, message, data })
}

/** A port that was free a moment ago (bind 127.0.0.1:0, read it, close). */
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
 * A raw Node HTTP server on 127.0.0.1:0 standing in for a peer. `handler(req, res, body)` is
 * called once the request body has been read. Returns `{ url, port, requests, close }`;
 * `requests` records `{ method, url, headers, body }` for each request.
 */
async function startRawPeer (handler) {
  const requests = []
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      requests.push({ method: req.method, url: req.url, headers: req.headers, body })
      handler(req, res, body)
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
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

/** The port a connected 1.6.1 plugin listens on. */
function originalPort (plugin) {
  return plugin._httpServer.address().port
}

/**
 * Writes figures a suite measured (jest hides console output) as JSON, with when, which Node
 * and how many CPUs; docs/reliability.md is filled from these files.
 */
function writeFigures (file, figures) {
  fs.writeFileSync(file, JSON.stringify({
    measuredAt: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    ...figures
  }, null, 2) + '\n')
}

module.exports = {
  PluginHttp,
  OriginalPluginHttp,
  MAX_DATA_LENGTH,
  UNUSED_OUTGOING_URL,
  makePrepare,
  makeFulfill,
  makeReject,
  freePort,
  startRawPeer,
  originalPort,
  disconnectAll,
  writeFigures
}
