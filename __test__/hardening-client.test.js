'use strict'
// Hardening II (issue 14), the client side (sendData): what a hostile or broken peer must not
// make us leak.
//
//   3. HTTP/2: a peer advertising SETTINGS_MAX_CONCURRENT_STREAMS = 0 (sessions with no room are
//      closed), a peer with a stream limit of 1 (a per-origin cap on sessions,
//      outgoing.maxConnections), idle sessions (closed after outgoing.idleTimeout), and
//      disconnect() (closes them all).
//   7. HTTP/1.1: a peer that accepts and never answers: at most outgoing.maxConnections open to
//      it; requests beyond the cap wait for a connection within their expiry.
//  10. a redirect from the peer is not followed (README "What differs").
//
// Counts come from the peer's side (connections and sessions it sees open). Figures go to
// FIGURES_FILE.
const {
  PluginHttp,
  makePrepare,
  makeFulfill,
  disconnectAll,
  startRawPeer,
  startTcpPeer,
  sleep,
  waitFor,
  writeFigures
} = require('./support')
const { startH2Peer } = require('./support/h2')

const TOKEN = 'hardening-client-t0ken'
const FULFILL = makeFulfill(Buffer.from('hardening-client'))
const FIGURES_FILE = '/tmp/hardening-client-figures.json'

const figures = {}
jest.setTimeout(30000)

let plugins = []
let cleanups = []
afterEach(async () => {
  const ps = plugins
  plugins = []
  await disconnectAll(ps)
  for (const cleanup of cleanups.splice(0)) {
    try { await cleanup() } catch (e) {}
  }
})
afterAll(() => writeFigures(FIGURES_FILE, figures))

async function sender (url, outgoing = {}) {
  const plugin = new PluginHttp({
    incoming: { port: 0, host: '127.0.0.1', staticToken: TOKEN },
    outgoing: { url, staticToken: TOKEN, ...outgoing }
  })
  plugins.push(plugin)
  await plugin.connect()
  return plugin
}

/** How each send settled: 'fulfilled' or the rejection's ilpErrorCode. */
function outcomes (settled) {
  const counts = {}
  for (const s of settled) {
    const key = s.status === 'fulfilled' ? 'fulfilled' : String(s.reason && s.reason.ilpErrorCode)
    counts[key] = (counts[key] || 0) + 1
  }
  return counts
}

describe('3. HTTP/2 client sessions are bounded and closed', () => {
  test('a peer with SETTINGS_MAX_CONCURRENT_STREAMS = 0: every send rejects T01 and no session stays open', async () => {
    const peer = await startH2Peer((stream) => { stream.respond({ ':status': 200 }); stream.end(FULFILL) }, { settings: { maxConcurrentStreams: 0 } })
    cleanups.push(peer.close)
    const plugin = await sender(peer.url, { http2: true })
    const settled = await Promise.allSettled(Array.from({ length: 50 }, () => plugin.sendData(makePrepare())))
    const closedAll = await waitFor(() => peer.openSessions === 0, 3000)
    figures.noRoomPeer = { sends: 50, outcomes: outcomes(settled), sessionsOpened: peer.sessions, openAfter: peer.openSessions, maxOpen: peer.maxOpenSessions }
    expect(outcomes(settled)).toEqual({ T01: 50 })
    expect(closedAll).toBe(true)
  })

  test('a peer with a stream limit of 1: 40 concurrent sends use at most outgoing.maxConnections sessions and all succeed', async () => {
    const peer = await startH2Peer((stream) => {
      stream.resume()
      stream.on('end', () => setTimeout(() => { stream.respond({ ':status': 200 }); stream.end(FULFILL) }, 50))
    }, { settings: { maxConcurrentStreams: 1 } })
    cleanups.push(peer.close)
    const plugin = await sender(peer.url, { http2: true, maxConnections: 4 })
    const settled = await Promise.allSettled(Array.from({ length: 40 }, () => plugin.sendData(makePrepare({ expiresInMs: 20000 }))))
    figures.streamLimitOnePeer = { sends: 40, outcomes: outcomes(settled), sessionsOpened: peer.sessions, maxOpen: peer.maxOpenSessions }
    expect(outcomes(settled)).toEqual({ fulfilled: 40 })
    expect(peer.maxOpenSessions).toBeLessThanOrEqual(4)
  })

  test('idle sessions close after outgoing.idleTimeout; disconnect() closes the rest at once', async () => {
    const peer = await startH2Peer((stream) => { stream.resume(); stream.on('end', () => { stream.respond({ ':status': 200 }); stream.end(FULFILL) }) })
    cleanups.push(peer.close)
    const idle = await sender(peer.url, { http2: true, idleTimeout: 500 })
    await idle.sendData(makePrepare())
    expect(peer.openSessions).toBe(1)
    const closedWhenIdle = await waitFor(() => peer.openSessions === 0, 3000)
    const busy = await sender(peer.url, { http2: true })
    await busy.sendData(makePrepare())
    expect(peer.openSessions).toBe(1)
    await busy.disconnect()
    const closedOnDisconnect = await waitFor(() => peer.openSessions === 0, 1000)
    figures.sessionLifetime = { closedWhenIdle, closedOnDisconnect }
    expect({ closedWhenIdle, closedOnDisconnect }).toEqual({ closedWhenIdle: true, closedOnDisconnect: true })
  })
})

describe('7. HTTP/1.1 client: a per-origin cap on open connections', () => {
  test('a peer that never answers: 100 sends open at most outgoing.maxConnections connections and all reject R00 at expiry', async () => {
    let maxOpen = 0
    const peer = await startTcpPeer(() => {})
    cleanups.push(peer.close)
    const sockets = peer.sockets
    const plugin = await sender(peer.url, { maxConnections: 10 })
    const started = Date.now()
    const sends = Array.from({ length: 100 }, () => plugin.sendData(makePrepare({ expiresInMs: 2000 })))
    // Sampled until shortly before the expiry: once the requests are cancelled, the peer sees
    // the closed connections go away with a lag.
    while (Date.now() - started < 1700) {
      maxOpen = Math.max(maxOpen, sockets.size)
      await sleep(5)
    }
    const settled = await Promise.allSettled(sends)
    const tookMs = Date.now() - started
    figures.silentPeerHttp1 = { sends: 100, outcomes: outcomes(settled), maxOpenConnections: maxOpen, tookMs }
    expect(outcomes(settled)).toEqual({ R00: 100 })
    expect(maxOpen).toBeLessThanOrEqual(10)
    expect(maxOpen).toBeGreaterThan(0)
  })

  test('requests beyond the cap wait for a connection within their expiry: 30 sends, cap 3, all fulfilled', async () => {
    let maxOpen = 0
    const peer = await startRawPeer((req, res) => setTimeout(() => res.end(FULFILL), 30))
    cleanups.push(peer.close)
    const plugin = await sender(peer.url, { maxConnections: 3 })
    const settled = await Promise.allSettled(Array.from({ length: 30 }, () => plugin.sendData(makePrepare({ expiresInMs: 20000 }))))
    maxOpen = peer.connections
    figures.cappedHttp1 = { sends: 30, outcomes: outcomes(settled), connectionsOpened: maxOpen }
    expect(outcomes(settled)).toEqual({ fulfilled: 30 })
    expect(peer.connections).toBeLessThanOrEqual(3)
  })

  test('outgoing.maxConnections and outgoing.idleTimeout are validated with clear errors', () => {
    for (const [key, value] of [['maxConnections', 0], ['maxConnections', 2.5], ['maxConnections', 'x'], ['idleTimeout', -1], ['idleTimeout', 'soon']]) {
      expect(() => new PluginHttp({
        incoming: { port: 0, staticToken: TOKEN },
        outgoing: { url: 'http://127.0.0.1:9/', staticToken: TOKEN, [key]: value }
      })).toThrow(`outgoing.${key}`)
    }
  })
})

describe('10. redirects are not followed', () => {
  test.each([302, 307])('%i: the send rejects F00 and the redirect target sees nothing', async (status) => {
    const target = await startRawPeer((req, res) => res.end(FULFILL))
    cleanups.push(target.close)
    const peer = await startRawPeer((req, res) => { res.writeHead(status, { location: target.url + '/elsewhere' }); res.end() })
    cleanups.push(peer.close)
    const plugin = await sender(peer.url)
    const [settled] = await Promise.allSettled([plugin.sendData(makePrepare())])
    await sleep(100)
    expect(outcomes([settled])).toEqual({ F00: 1 })
    expect(target.requests.length).toBe(0)
  })
})
