'use strict'
// HTTP/2 and TLS: our server (HTTP/1.1 + h2c on one port; HTTPS with ALPN h2 / http/1.1 when
// `incoming.tls` is set) and our client (`outgoing.http2`, `https://`, `outgoing.tls.ca`,
// `outgoing.http2MaxRequestsPerSession`).
//
// - round trips ours <-> ours over h2c, TLS + HTTP/1.1 and TLS + h2 (PEM text and PEM paths)
// - 1000 Prepares in flight on ONE connection (counting TCP proxy)
// - session recycling after http2MaxRequestsPerSession (ours, and 1.6.1's client)
// - interop: ilp-plugin-http@1.6.1 with http2: true against our server (and not against its own)
// - GOAWAY mid-load (no request lost, none processed twice) and a peer killing the connection
// - TLS failures (unknown CA, other CA, self-signed, hostname mismatch, plain HTTP, no h2 ALPN)
// - the foundation rows (401, 500, 413, health check, expiry, response limit) over every transport
//
// Certificates come from ./certs.js (node-forge, generated once for this file).
const http2 = require('http2')
const tls = require('tls')
const fs = require('fs')
const os = require('os')
const path = require('path')
const crypto = require('crypto')
const IlpPacket = require('ilp-packet')
const {
  PluginHttp,
  OriginalPluginHttp,
  MAX_DATA_LENGTH,
  MAX_PREPARE_LENGTH,
  MAX_RESPONSE_LENGTH,
  UNUSED_OUTGOING_URL,
  makePrepare,
  makeFulfill,
  makeReject,
  largestPrepare,
  freePort,
  startRawPeer,
  startCountingProxy,
  startH2Peer,
  startHttpsPeer,
  h2Request,
  httpsRequest,
  readStream,
  portOf,
  sleep,
  rejectionOf,
  settleWithin
} = require('./support')
const { getCerts, writePems } = require('./support/certs')

const TOKEN = 'h2-tls-static-token-7Qx'
const JWT_SECRET = 'h2-tls-jwt-secret-Rw3'

let CERTS
let PEMS
let TMP

beforeAll(() => {
  CERTS = getCerts()
  TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'ilp-http2-tls-'))
  PEMS = writePems(TMP)
})

afterAll(() => {
  fs.rmSync(TMP, { recursive: true, force: true })
})

let cleanups = []

afterEach(async () => {
  const cs = cleanups.reverse()
  cleanups = []
  for (const c of cs) {
    try { await c() } catch (e) {}
  }
})

function defer (fn) {
  cleanups.push(fn)
}

// ---------------------------------------------------------------------------------------------
// Plugins
// ---------------------------------------------------------------------------------------------

/** Our plugin as the server: 127.0.0.1, port 0, static token TOKEN (unless `incoming` overrides). */
async function startOurServer ({ tls: tlsOption, handler, incoming = {} } = {}) {
  const plugin = new PluginHttp({
    incoming: { port: 0, host: '127.0.0.1', staticToken: TOKEN, ...(tlsOption ? { tls: tlsOption } : {}), ...incoming },
    outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'server-side-outgoing-unused' }
  })
  if (handler) plugin.registerDataHandler(handler)
  await plugin.connect()
  defer(() => plugin.disconnect())
  return plugin
}

/** Our plugin as the client. */
async function startOurClient ({ url, http2: useHttp2 = false, ca, maxPerSession, outgoing = {} }) {
  const out = { url, staticToken: TOKEN, ...outgoing }
  if (useHttp2) out.http2 = true
  if (ca !== undefined) out.tls = { ca }
  if (maxPerSession !== undefined) out.http2MaxRequestsPerSession = maxPerSession
  const plugin = new PluginHttp({
    incoming: { port: 0, host: '127.0.0.1', staticToken: 'client-side-incoming-unused' },
    outgoing: out
  })
  await plugin.connect()
  defer(() => plugin.disconnect())
  return plugin
}

/** The three transports. `tls`: server has incoming.tls; `http2`: client has outgoing.http2. */
const MODES = [
  { name: 'h2c', tls: false, http2: true },
  { name: 'TLS + HTTP/1.1', tls: true, http2: false },
  { name: 'TLS + h2', tls: true, http2: true }
]

/**
 * Our server and our client talking over `mode`. `tlsForm`/`caForm`: 'text' (PEM in the
 * option) or 'path' (PEM file). `host`: the host in the client's URL.
 */
async function startPair (mode, { handler, host = 'localhost', tlsForm = 'text', caForm = 'text', serverIncoming = {}, clientOutgoing = {}, clientPort } = {}) {
  const tlsOption = mode.tls ? (tlsForm === 'path' ? { ...PEMS.leaf } : { ...CERTS.leaf }) : undefined
  const server = await startOurServer({ tls: tlsOption, handler, incoming: serverIncoming })
  const port = clientPort || server.port
  const url = mode.tls ? `https://${host}:${port}/ilp/path?x=1` : `http://127.0.0.1:${port}/ilp/path?x=1`
  const ca = mode.tls ? (caForm === 'path' ? PEMS.ca.cert : CERTS.ca.cert) : undefined
  const client = await startOurClient({ url, http2: mode.http2, ca, outgoing: clientOutgoing })
  return { server, client, url }
}

/**
 * Data handler for round trips: 'test.peer.reject' -> a Reject carrying the first 16 data
 * bytes; anything else -> a Fulfill whose data is sha256(prepare bytes). Records the packets.
 */
function replyFor (prepareBytes) {
  const prepare = IlpPacket.deserializeIlpPrepare(prepareBytes)
  if (prepare.destination === 'test.peer.reject') {
    return makeReject({ code: 'F99', triggeredBy: 'test.server', message: 'no thanks', data: prepare.data.subarray(0, 16) })
  }
  return makeFulfill(crypto.createHash('sha256').update(prepareBytes).digest())
}

function recordingHandler (seen) {
  return async (data) => {
    seen.push(Buffer.from(data))
    return replyFor(data)
  }
}

/** A Fulfill whose data is the Prepare's data (for many-requests tests). */
function echoReply (prepareBytes) {
  return makeFulfill(IlpPacket.deserializeIlpPrepare(prepareBytes).data)
}

// ---------------------------------------------------------------------------------------------
// Raw peers and raw clients
// ---------------------------------------------------------------------------------------------

/** A counting TCP proxy to 127.0.0.1:targetPort (support/peers.js), closed after the test. */
async function countingProxy (targetPort) {
  const proxy = await startCountingProxy(targetPort)
  defer(proxy.close)
  return proxy
}

/** An HTTP/2 peer (support/h2.js) with the test certificate, closed after the test. */
async function h2Peer (onStream, { secure = false, cert = CERTS.leaf } = {}) {
  const peer = await startH2Peer(onStream, { secure, cert })
  defer(peer.close)
  return peer
}

/** An HTTPS/1.1 peer (support/h2.js) with the test certificate, closed after the test. */
async function httpsPeer (handler, { cert = CERTS.leaf, ALPNProtocols } = {}) {
  const peer = await startHttpsPeer(handler, { cert, ALPNProtocols })
  defer(peer.close)
  return peer
}

/** A request to our server in `mode` ('h2c' and 'TLS + h2' use http2; 'TLS + HTTP/1.1' https). */
function requestOver (mode, port, options) {
  if (!mode.tls) return h2Request(`http://127.0.0.1:${port}`, options)
  if (mode.http2) return h2Request(`https://127.0.0.1:${port}`, { ...options, ca: CERTS.ca.cert })
  return httpsRequest(port, { ...options, ca: CERTS.ca.cert })
}

/** The largest valid Prepare (33,857 bytes), with random data. */
const randomLargestPrepare = () => largestPrepare(crypto.randomBytes(MAX_DATA_LENGTH))

// =============================================================================================
// 1. Round trips, ours <-> ours
// =============================================================================================

const ROUND_TRIP_CASES = [['h2c', MODES[0], { host: '127.0.0.1' }]]
for (const mode of MODES.slice(1)) {
  for (const host of ['localhost', '127.0.0.1']) {
    for (const tlsForm of ['text', 'path']) {
      for (const caForm of ['text', 'path']) {
        ROUND_TRIP_CASES.push([`${mode.name}, https://${host}, incoming.tls as PEM ${tlsForm}, outgoing.tls.ca as PEM ${caForm}`, mode, { host, tlsForm, caForm }])
      }
    }
  }
}

describe.each(ROUND_TRIP_CASES)('round trips ours <-> ours: %s', (caseName, mode, variant) => {
  test('Fulfill and Reject are byte-exact; a Prepare with 32,767 data bytes and the largest valid Prepare round-trip', async () => {
    const seen = []
    const { client } = await startPair(mode, { ...variant, handler: recordingHandler(seen) })

    const fulfillPrepare = makePrepare({ data: Buffer.from('hello over ' + caseName) })
    const fulfill = await client.sendData(fulfillPrepare)
    expect(Buffer.isBuffer(fulfill)).toBe(true)
    expect(fulfill.equals(replyFor(fulfillPrepare))).toBe(true)
    expect(IlpPacket.deserializeIlpFulfill(fulfill).data.equals(crypto.createHash('sha256').update(fulfillPrepare).digest())).toBe(true)

    const rejectPrepare = makePrepare({ destination: 'test.peer.reject', data: crypto.randomBytes(100) })
    const reject = await client.sendData(rejectPrepare)
    expect(reject.equals(replyFor(rejectPrepare))).toBe(true)
    expect(IlpPacket.deserializeIlpReject(reject)).toMatchObject({ code: 'F99', triggeredBy: 'test.server', message: 'no thanks' })

    const bigPrepare = makePrepare({ data: crypto.randomBytes(MAX_DATA_LENGTH) })
    const bigReply = await client.sendData(bigPrepare)
    expect(bigReply.equals(replyFor(bigPrepare))).toBe(true)

    const largest = randomLargestPrepare()
    expect(largest.length).toBe(MAX_PREPARE_LENGTH)
    expect((await client.sendData(largest)).equals(replyFor(largest))).toBe(true)

    // The server saw exactly the bytes sent, in order.
    expect(seen).toHaveLength(4)
    expect(seen[0].equals(fulfillPrepare)).toBe(true)
    expect(seen[1].equals(rejectPrepare)).toBe(true)
    expect(seen[2].equals(bigPrepare)).toBe(true)
    expect(seen[3].equals(largest)).toBe(true)
  })
})

describe('round trips: 32,767-data-byte Prepare from each transport to each server', () => {
  test.each(MODES.map((m) => [m.name, m]))('%s: 20 concurrent Prepares, 32,767 data bytes each, all byte-exact', async (name, mode) => {
    const { client } = await startPair(mode, { handler: async (data) => replyFor(data) })
    const prepares = Array.from({ length: 20 }, () => makePrepare({ data: crypto.randomBytes(MAX_DATA_LENGTH) }))
    const replies = await Promise.all(prepares.map((p) => client.sendData(p)))
    replies.forEach((reply, i) => expect(reply.equals(replyFor(prepares[i]))).toBe(true))
  })
})

// =============================================================================================
// 2. 1000 requests in flight on one connection
// =============================================================================================

describe.each([['h2c', MODES[0]], ['TLS + h2', MODES[2]]])('1000 Prepares in flight at once: %s', (name, mode) => {
  test('exactly 1 TCP connection, 1000 correct replies, all 1000 handled concurrently', async () => {
    const N = 1000
    const waiting = []
    let maxWaiting = 0
    // A barrier: nobody is answered before all N are inside the handler at the same time.
    const handler = (data) => new Promise((resolve) => {
      waiting.push(() => resolve(echoReply(data)))
      maxWaiting = Math.max(maxWaiting, waiting.length)
      if (waiting.length === N) waiting.splice(0).forEach((release) => release())
    })
    const server = await startOurServer({ tls: mode.tls ? CERTS.leaf : undefined, handler })
    const proxy = await countingProxy(server.port)
    const url = mode.tls ? `https://localhost:${proxy.port}/` : `http://127.0.0.1:${proxy.port}/`
    const client = await startOurClient({ url, http2: true, ca: mode.tls ? CERTS.ca.cert : undefined })

    const payloads = Array.from({ length: N }, (_, i) => Buffer.from(`request-${i}-${crypto.randomBytes(4).toString('hex')}`))
    const results = await Promise.allSettled(payloads.map((data) => client.sendData(makePrepare({ data, expiresInMs: 8000 }))))
    const failures = results.filter((r) => r.status === 'rejected').map((r) => `${r.reason.ilpErrorCode}: ${r.reason.message}`)
    expect(failures).toEqual([])
    results.forEach((r, i) => {
      expect(r.value.equals(makeFulfill(payloads[i]))).toBe(true)
    })
    expect(maxWaiting).toBe(N)
    expect(proxy.connections).toBe(1)
  })
})

// =============================================================================================
// 3. Session recycling (http2MaxRequestsPerSession)
// =============================================================================================

describe('http2MaxRequestsPerSession: 3', () => {
  test.each([['h2c', MODES[0]], ['TLS + h2', MODES[2]]])('ours, %s: 10 sequential Prepares open exactly 4 connections', async (name, mode) => {
    const server = await startOurServer({ tls: mode.tls ? CERTS.leaf : undefined, handler: async (data) => echoReply(data) })
    const proxy = await countingProxy(server.port)
    const url = mode.tls ? `https://localhost:${proxy.port}/` : `http://127.0.0.1:${proxy.port}/`
    const client = await startOurClient({ url, http2: true, ca: mode.tls ? CERTS.ca.cert : undefined, maxPerSession: 3 })
    for (let i = 0; i < 10; i++) {
      const data = Buffer.from(`sequential-${i}`)
      expect((await client.sendData(makePrepare({ data }))).equals(makeFulfill(data))).toBe(true)
    }
    expect(proxy.connections).toBe(4)
  })

  test('ours, h2c: retired sessions are closed once their requests finished (no leaked connections)', async () => {
    const server = await startOurServer({ handler: async (data) => echoReply(data) })
    const proxy = await countingProxy(server.port)
    const client = await startOurClient({ url: `http://127.0.0.1:${proxy.port}/`, http2: true, maxPerSession: 3 })
    for (let i = 0; i < 10; i++) {
      const data = Buffer.from(`sequential-${i}`)
      expect((await client.sendData(makePrepare({ data }))).equals(makeFulfill(data))).toBe(true)
    }
    expect(proxy.connections).toBe(4)
    // The three retired sessions go away by themselves; only the current one may stay open.
    for (let i = 0; i < 60 && proxy.open > 1; i++) await sleep(50)
    expect(proxy.open).toBeLessThanOrEqual(1)
  })

  test('ours, h2c: 9 concurrent Prepares with a maximum of 3 per session use 3 connections', async () => {
    const waiting = []
    const handler = (data) => new Promise((resolve) => {
      waiting.push(() => resolve(echoReply(data)))
      if (waiting.length === 9) waiting.splice(0).forEach((release) => release())
    })
    const server = await startOurServer({ handler })
    const proxy = await countingProxy(server.port)
    const client = await startOurClient({ url: `http://127.0.0.1:${proxy.port}/`, http2: true, maxPerSession: 3 })
    const payloads = Array.from({ length: 9 }, (_, i) => Buffer.from(`concurrent-${i}`))
    const replies = await Promise.all(payloads.map((data) => client.sendData(makePrepare({ data, expiresInMs: 5000 }))))
    replies.forEach((reply, i) => expect(reply.equals(makeFulfill(payloads[i]))).toBe(true))
    expect(proxy.connections).toBe(3)
  })

  test('1.6.1 client (http2: true) against our server, h2c: 10 sequential Prepares open exactly 4 connections', async () => {
    const server = await startOurServer({ handler: async (data) => echoReply(data) })
    const proxy = await countingProxy(server.port)
    const original = new OriginalPluginHttp({
      incoming: { port: await freePort(), staticToken: 'original-incoming-unused' },
      outgoing: { url: `http://127.0.0.1:${proxy.port}/`, staticToken: TOKEN, http2: true, http2MaxRequestsPerSession: 3 }
    })
    await original.connect()
    defer(async () => {
      await original.disconnect()
      original._httpServer.closeAllConnections()
    })
    for (let i = 0; i < 10; i++) {
      const data = Buffer.from(`sequential-${i}`)
      expect((await original.sendData(makePrepare({ data }))).equals(makeFulfill(data))).toBe(true)
    }
    expect(proxy.connections).toBe(4)
  })
})

// =============================================================================================
// 4. Interop with ilp-plugin-http@1.6.1's HTTP/2 client
// =============================================================================================

/** A connected 1.6.1 plugin; disconnected (and its sockets closed) after the test. */
async function startOriginal (opts) {
  const plugin = new OriginalPluginHttp(opts)
  await plugin.connect()
  defer(async () => {
    await plugin.disconnect()
    plugin._httpServer.closeAllConnections()
  })
  return plugin
}

const AUTHS = [
  ['static tokens', (token) => ({ staticToken: token }), (token) => ({ staticToken: token })],
  ['JWT', (secret) => ({ jwtSecret: secret }), (secret) => ({ jwtSecret: secret })]
]

describe.each(AUTHS)('1.6.1 (outgoing.http2: true) <-> ours, %s', (authName, incomingAuth, outgoingAuth) => {
  test('1.6.1 -> ours over h2c and ours -> 1.6.1 over HTTP/1.1, byte-exact both ways', async () => {
    const originalPortNumber = await freePort()
    const ours = new PluginHttp({
      incoming: { port: 0, host: '127.0.0.1', ...incomingAuth('to-ours-' + authName.replace(/ /g, '')) },
      outgoing: { url: `http://127.0.0.1:${originalPortNumber}/`, ...outgoingAuth('to-original-' + authName.replace(/ /g, '')) }
    })
    const oursSeen = []
    ours.registerDataHandler(recordingHandler(oursSeen))
    await ours.connect()
    defer(() => ours.disconnect())

    const original = await startOriginal({
      incoming: { port: originalPortNumber, ...incomingAuth('to-original-' + authName.replace(/ /g, '')) },
      outgoing: { url: `http://127.0.0.1:${ours.port}/`, http2: true, ...outgoingAuth('to-ours-' + authName.replace(/ /g, '')) }
    })
    expect(portOf(original)).toBe(originalPortNumber)
    const originalSeen = []
    original.registerDataHandler(recordingHandler(originalSeen))

    // 1.6.1 -> ours (HTTP/2, h2c prior knowledge)
    const p1 = makePrepare({ data: crypto.randomBytes(500) })
    expect((await original.sendData(p1)).equals(replyFor(p1))).toBe(true)
    const p2 = makePrepare({ destination: 'test.peer.reject', data: crypto.randomBytes(50) })
    expect((await original.sendData(p2)).equals(replyFor(p2))).toBe(true)
    const p3 = makePrepare({ data: crypto.randomBytes(MAX_DATA_LENGTH) })
    expect((await original.sendData(p3)).equals(replyFor(p3))).toBe(true)
    const concurrent = Array.from({ length: 50 }, (_, i) => makePrepare({ data: Buffer.from(`c-${i}`) }))
    const replies = await Promise.all(concurrent.map((p) => original.sendData(p)))
    replies.forEach((r, i) => expect(r.equals(replyFor(concurrent[i]))).toBe(true))
    expect(oursSeen).toHaveLength(53)
    expect(oursSeen[0].equals(p1)).toBe(true)

    // ours -> 1.6.1 (HTTP/1.1: 1.6.1 serves nothing else)
    const p4 = makePrepare({ data: crypto.randomBytes(300) })
    expect((await ours.sendData(p4)).equals(replyFor(p4))).toBe(true)
    expect(originalSeen).toHaveLength(1)
    expect(originalSeen[0].equals(p4)).toBe(true)
  })

  test('our server refuses 1.6.1\'s HTTP/2 requests with a wrong credential: failed to fetch. code=401', async () => {
    const ours = await startOurServer({ handler: async (data) => replyFor(data), incoming: { staticToken: undefined, ...incomingAuth('the-right-one') } })
    const original = await startOriginal({
      incoming: { port: await freePort(), staticToken: 'original-incoming-unused' },
      outgoing: { url: `http://127.0.0.1:${ours.port}/`, http2: true, ...outgoingAuth('a-wrong-one') }
    })
    const err = await rejectionOf(original.sendData(makePrepare()))
    expect(err.message).toBe('failed to fetch. code=401')
  })
})

describe('1.6.1 (outgoing.http2: true) -> 1.6.1 server', () => {
  test('fails: the 1.6.1 server speaks HTTP/1.1 only (this is what our server fixes)', async () => {
    const serverPort = await freePort()
    const server = await startOriginal({
      incoming: { port: serverPort, staticToken: TOKEN },
      outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'unused' }
    })
    let handled = 0
    server.registerDataHandler(async (data) => { handled++; return replyFor(data) })
    const client = await startOriginal({
      incoming: { port: await freePort(), staticToken: 'unused-incoming' },
      outgoing: { url: `http://127.0.0.1:${serverPort}/`, http2: true, staticToken: TOKEN }
    })
    const outcome = await settleWithin(client.sendData(makePrepare()), 5000)
    expect(outcome.hung).toBeUndefined()
    expect(outcome.ok).toBe(false)
    // (Node's http2 errors come from another realm than jest's Error: check the shape)
    expect(typeof outcome.error.message).toBe('string')
    expect(handled).toBe(0)

    // The same 1.6.1 client succeeds against our server.
    const ours = await startOurServer({ handler: async (data) => replyFor(data) })
    const client2 = await startOriginal({
      incoming: { port: await freePort(), staticToken: 'unused-incoming' },
      outgoing: { url: `http://127.0.0.1:${ours.port}/`, http2: true, staticToken: TOKEN }
    })
    const p = makePrepare()
    expect((await client2.sendData(p)).equals(replyFor(p))).toBe(true)
  })
})

// =============================================================================================
// 5. GOAWAY mid-load, and a peer killing the connection
// =============================================================================================

describe('HTTP/2 client against a peer that goes away', () => {
  test('graceful GOAWAY after the 20th stream: all 100 concurrent Prepares get their reply, each processed exactly once', async () => {
    const processed = new Map()
    let streamsSeen = 0
    let goaway = null
    let refused = 0
    let openOnFirst = 0
    let processedOnFirst = 0
    const peer = await h2Peer((stream) => {
      const session = stream.session
      if (goaway && session === goaway.session && stream.id > goaway.lastStreamId) {
        // Above the GOAWAY's last stream id: not processed (RFC 9113 6.8).
        refused++
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM)
        return
      }
      streamsSeen++
      const onFirst = goaway === null || session === goaway.session
      if (onFirst) { openOnFirst++; processedOnFirst++ }
      stream.on('close', () => {
        if (!onFirst) return
        openOnFirst--
        if (goaway && session === goaway.session && openOnFirst === 0 && !session.closed) session.close()
      })
      if (streamsSeen === 20 && goaway === null) {
        goaway = { session, lastStreamId: stream.id }
        session.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id)
      }
      readStream(stream).then((body) => {
        const key = IlpPacket.deserializeIlpPrepare(body).data.toString()
        processed.set(key, (processed.get(key) || 0) + 1)
        setTimeout(() => {
          if (stream.destroyed) return
          stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' })
          stream.end(echoReply(body))
        }, 30)
      }, () => {})
    })
    const client = await startOurClient({ url: `http://127.0.0.1:${peer.port}/`, http2: true })
    const payloads = Array.from({ length: 100 }, (_, i) => Buffer.from(`goaway-${i}-${crypto.randomBytes(4).toString('hex')}`))
    const results = await Promise.allSettled(payloads.map((data) => client.sendData(makePrepare({ data, expiresInMs: 8000 }))))
    const failures = results.filter((r) => r.status === 'rejected').map((r) => `${r.reason.ilpErrorCode}: ${r.reason.message}`)
    expect(failures).toEqual([])
    results.forEach((r, i) => expect(r.value.equals(makeFulfill(payloads[i]))).toBe(true))
    expect(goaway).not.toBeNull()
    // Every distinct Prepare processed exactly once: none lost, none duplicated by a retry.
    expect(processed.size).toBe(100)
    for (const payload of payloads) expect(processed.get(payload.toString())).toBe(1)
    // The first session processed exactly the 20 streams up to the GOAWAY's last stream id;
    // the other 80 were retried on new session(s).
    expect(processedOnFirst).toBe(20)
    expect(peer.sessions).toBeGreaterThanOrEqual(2)
  })

  test('a peer destroying the connection mid-load: in-flight Prepares reject T01 before they expire, the next sendData works', async () => {
    let killed = false
    let seenBeforeKill = 0
    const peer = await h2Peer((stream) => {
      if (!killed) {
        // Hold the first streams unanswered, then kill the connection on the 10th.
        seenBeforeKill++
        if (seenBeforeKill === 10) {
          killed = true
          stream.session.destroy()
        }
        return
      }
      readStream(stream).then((body) => {
        if (stream.destroyed) return
        stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' })
        stream.end(echoReply(body))
      }, () => {})
    })
    const client = await startOurClient({ url: `http://127.0.0.1:${peer.port}/`, http2: true })
    const payloads = Array.from({ length: 30 }, (_, i) => Buffer.from(`killed-${i}`))
    const results = await Promise.allSettled(payloads.map((data) => client.sendData(makePrepare({ data, expiresInMs: 6000 }))))
    const rejected = results.filter((r) => r.status === 'rejected').map((r) => r.reason)
    // The ones the peer had received are gone with the connection: T01 (not R00: nobody waited for expiry).
    expect(rejected.length).toBeGreaterThanOrEqual(10)
    for (const err of rejected) {
      expect(err).toBeInstanceOf(Error)
      expect(err.ilpErrorCode).toBe('T01')
    }
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') expect(r.value.equals(makeFulfill(payloads[i]))).toBe(true)
    })
    const next = Buffer.from('after the kill')
    expect((await client.sendData(makePrepare({ data: next }))).equals(makeFulfill(next))).toBe(true)
  })
})

// =============================================================================================
// 6. TLS failures
// =============================================================================================

const TLS_MESSAGE = /tls|certificate/i

describe.each([['HTTP/1.1', false], ['HTTP/2', true]])('TLS failures, client %s', (clientName, useHttp2) => {
  /** Our TLS server with `cert`, a handler that counts calls; returns { server, calls() }. */
  async function tlsServer (cert) {
    let calls = 0
    const server = await startOurServer({ tls: cert, handler: async (data) => { calls++; return replyFor(data) } })
    return { server, calls: () => calls }
  }

  async function expectTlsFailure (client, extra = TLS_MESSAGE) {
    const outcome = await settleWithin(client.sendData(makePrepare({ expiresInMs: 5000 })), 7000)
    expect(outcome.hung).toBeUndefined()
    expect(outcome.ok).toBe(false)
    expect(outcome.error).toBeInstanceOf(Error)
    expect({ code: outcome.error.ilpErrorCode, message: outcome.error.message }).toEqual({ code: 'T01', message: expect.stringMatching(extra) })
    expect(outcome.error.message).not.toContain(TOKEN)
    return outcome.error
  }

  test('unknown CA (no outgoing.tls.ca): rejects T01', async () => {
    const { server, calls } = await tlsServer(CERTS.leaf)
    const client = await startOurClient({ url: `https://localhost:${server.port}/`, http2: useHttp2 })
    await expectTlsFailure(client)
    expect(calls()).toBe(0)
  })

  test('certificate signed by a different CA: rejects T01', async () => {
    const { server, calls } = await tlsServer(CERTS.otherLeaf)
    const client = await startOurClient({ url: `https://localhost:${server.port}/`, http2: useHttp2, ca: CERTS.ca.cert })
    await expectTlsFailure(client)
    expect(calls()).toBe(0)
  })

  test('self-signed certificate: rejects T01', async () => {
    const { server, calls } = await tlsServer(CERTS.selfSigned)
    const client = await startOurClient({ url: `https://localhost:${server.port}/`, http2: useHttp2, ca: CERTS.ca.cert })
    await expectTlsFailure(client)
    expect(calls()).toBe(0)
  })

  test.each(['localhost', '127.0.0.1'])('hostname mismatch (certificate for wrong.example, URL https://%s): rejects T01', async (host) => {
    const { server, calls } = await tlsServer(CERTS.wrongHost)
    const client = await startOurClient({ url: `https://${host}:${server.port}/`, http2: useHttp2, ca: CERTS.ca.cert })
    await expectTlsFailure(client)
    expect(calls()).toBe(0)
  })

  test('a plain HTTP server (ours without incoming.tls) on an https:// URL: rejects T01', async () => {
    let calls = 0
    const server = await startOurServer({ handler: async (data) => { calls++; return replyFor(data) } })
    const client = await startOurClient({ url: `https://127.0.0.1:${server.port}/`, http2: useHttp2, ca: CERTS.ca.cert })
    await expectTlsFailure(client)
    expect(calls).toBe(0)
  })

  test('a plain Node HTTP/1.1 server on an https:// URL: rejects T01', async () => {
    const peer = await startRawPeer((req, res) => { res.writeHead(200); res.end(makeFulfill()) })
    defer(peer.close)
    const client = await startOurClient({ url: `https://127.0.0.1:${peer.port}/`, http2: useHttp2, ca: CERTS.ca.cert })
    await expectTlsFailure(client)
    expect(peer.requests).toHaveLength(0)
  })

  test('after a TLS failure, the same client works once the peer is right (no stuck state)', async () => {
    const { server } = await tlsServer(CERTS.leaf)
    const bad = await startOurClient({ url: `https://localhost:${server.port}/`, http2: useHttp2 })
    await expectTlsFailure(bad)
    const good = await startOurClient({ url: `https://localhost:${server.port}/`, http2: useHttp2, ca: CERTS.ca.cert })
    const p = makePrepare()
    expect((await good.sendData(p)).equals(replyFor(p))).toBe(true)
  })
})

describe('TLS: a peer that does not agree to h2', () => {
  test('TLS server without ALPN: http2 client rejects T01 "did not agree to HTTP/2"', async () => {
    const sockets = new Set()
    const server = tls.createServer({ cert: CERTS.leaf.cert, key: CERTS.leaf.key }, (socket) => {
      sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => sockets.delete(socket))
    })
    server.on('tlsClientError', () => {})
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
    defer(() => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()) }))
    const client = await startOurClient({ url: `https://localhost:${server.address().port}/`, http2: true, ca: CERTS.ca.cert })
    const outcome = await settleWithin(client.sendData(makePrepare({ expiresInMs: 5000 })), 7000)
    expect(outcome.hung).toBeUndefined()
    expect(outcome.ok).toBe(false)
    expect(outcome.error.ilpErrorCode).toBe('T01')
    expect(outcome.error.message).toMatch(/did not agree to HTTP\/2/)
  })

  test('HTTPS server offering only http/1.1: http2 client rejects T01; the HTTP/1.1 client works', async () => {
    const peer = await httpsPeer((req, res, body) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      res.end(echoReply(body))
    }, { ALPNProtocols: ['http/1.1'] })
    const h2client = await startOurClient({ url: peer.url, http2: true, ca: CERTS.ca.cert })
    const outcome = await settleWithin(h2client.sendData(makePrepare({ expiresInMs: 5000 })), 7000)
    expect(outcome.hung).toBeUndefined()
    expect(outcome.ok).toBe(false)
    expect(outcome.error.ilpErrorCode).toBe('T01')
    expect(outcome.error.message).toMatch(/HTTP\/2|h2|ALPN|TLS/i)
    const h1client = await startOurClient({ url: peer.url, http2: false, ca: CERTS.ca.cert })
    const data = Buffer.from('h1 over tls')
    expect((await h1client.sendData(makePrepare({ data }))).equals(makeFulfill(data))).toBe(true)
  })
})

// =============================================================================================
// 7. Foundation rows over every transport
// =============================================================================================

describe.each(MODES.map((m) => [m.name, m]))('foundation rows over %s', (modeName, mode) => {
  test('wrong token: rejects "failed to fetch. code=401" with F00; the handler is not called', async () => {
    let calls = 0
    const { client } = await startPair(mode, {
      handler: async (data) => { calls++; return replyFor(data) },
      clientOutgoing: { staticToken: 'not-the-token' }
    })
    const err = await rejectionOf(client.sendData(makePrepare()))
    expect(err.message).toBe('failed to fetch. code=401')
    expect(err.ilpErrorCode).toBe('F00')
    expect(calls).toBe(0)
  })

  test('JWT both sides: round trip works; a JWT signed with the wrong secret gets 401', async () => {
    const { client } = await startPair(mode, {
      handler: async (data) => replyFor(data),
      serverIncoming: { staticToken: undefined, jwtSecret: JWT_SECRET },
      clientOutgoing: { staticToken: undefined, jwtSecret: JWT_SECRET }
    })
    const p = makePrepare({ data: Buffer.from('jwt') })
    expect((await client.sendData(p)).equals(replyFor(p))).toBe(true)
    const { client: wrong } = await startPair(mode, {
      handler: async (data) => replyFor(data),
      serverIncoming: { staticToken: undefined, jwtSecret: JWT_SECRET },
      clientOutgoing: { staticToken: undefined, jwtSecret: 'another-secret' }
    })
    const err = await rejectionOf(wrong.sendData(makePrepare()))
    expect(err.message).toBe('failed to fetch. code=401')
    expect(err.ilpErrorCode).toBe('F00')
    expect(err.message).not.toContain('another-secret')
  })

  test('raw request with a wrong token: 401 "invalid authorization"', async () => {
    const server = await startOurServer({ tls: mode.tls ? CERTS.leaf : undefined, handler: async (data) => replyFor(data) })
    const res = await requestOver(mode, server.port, { headers: { authorization: 'Bearer nope', 'content-type': 'application/ilp+octet-stream' }, body: makePrepare() })
    expect(res.status).toBe(401)
    expect(res.body.toString()).toBe('invalid authorization')
  })

  test('handler throws: rejects "failed to fetch. code=500" with T00; the next request works', async () => {
    let fail = true
    const { client } = await startPair(mode, {
      handler: async (data) => {
        if (fail) throw new Error('handler exploded')
        return replyFor(data)
      }
    })
    const err = await rejectionOf(client.sendData(makePrepare()))
    expect(err.message).toBe('failed to fetch. code=500')
    expect(err.ilpErrorCode).toBe('T00')
    fail = false
    const p = makePrepare()
    expect((await client.sendData(p)).equals(replyFor(p))).toBe(true)
  })

  test('413 for a 33,858-byte body from a raw client; 33,857 bytes accepted; the server keeps serving', async () => {
    const seen = []
    const server = await startOurServer({ tls: mode.tls ? CERTS.leaf : undefined, handler: recordingHandler(seen) })
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/ilp+octet-stream' }
    const tooBig = crypto.randomBytes(MAX_PREPARE_LENGTH + 1)
    if (mode.http2) {
      const withLength = await requestOver(mode, server.port, { headers: { ...headers, 'content-length': String(tooBig.length) }, body: tooBig })
      expect(withLength.status).toBe(413)
      const withoutLength = await requestOver(mode, server.port, { headers, body: tooBig })
      expect(withoutLength.status).toBe(413)
    } else {
      const withLength = await requestOver(mode, server.port, { headers, body: tooBig })
      expect(withLength.status).toBe(413)
      const chunked = await requestOver(mode, server.port, { headers, body: tooBig, chunked: true })
      expect(chunked.status).toBe(413)
    }
    expect(seen).toHaveLength(0)

    const largest = randomLargestPrepare()
    const ok = await requestOver(mode, server.port, { headers, body: largest })
    expect(ok.status).toBe(200)
    expect(ok.headers['content-type']).toBe('application/octet-stream')
    expect(ok.body.equals(replyFor(largest))).toBe(true)

    const client = await startOurClient({
      url: mode.tls ? `https://localhost:${server.port}/` : `http://127.0.0.1:${server.port}/`,
      http2: mode.http2,
      ca: mode.tls ? CERTS.ca.cert : undefined
    })
    const p = makePrepare()
    expect((await client.sendData(p)).equals(replyFor(p))).toBe(true)
  })

  test('GET and HEAD health check: 200 "OK" text/plain, no auth', async () => {
    const server = await startOurServer({ tls: mode.tls ? CERTS.leaf : undefined })
    const get = await requestOver(mode, server.port, { method: 'GET', path: '/health' })
    expect(get.status).toBe(200)
    expect(get.body.toString()).toBe('OK')
    expect(get.headers['content-type']).toMatch(/^text\/plain/)
    const head = await requestOver(mode, server.port, { method: 'HEAD', path: '/' })
    expect(head.status).toBe(200)
    expect(head.body.length).toBe(0)
  })

  test('handler that never settles: the client rejects R00 at about expiry; a raw request gets 504', async () => {
    const server = await startOurServer({ tls: mode.tls ? CERTS.leaf : undefined, handler: () => new Promise(() => {}) })
    const client = await startOurClient({
      url: mode.tls ? `https://localhost:${server.port}/` : `http://127.0.0.1:${server.port}/`,
      http2: mode.http2,
      ca: mode.tls ? CERTS.ca.cert : undefined
    })
    const expiresAt = new Date(Date.now() + 1000)
    const err = await rejectionOf(client.sendData(makePrepare({ expiresAt })))
    const settledAt = Date.now()
    expect(err.ilpErrorCode).toBe('R00')
    expect(settledAt).toBeGreaterThanOrEqual(expiresAt.getTime() - 200)
    expect(settledAt).toBeLessThanOrEqual(expiresAt.getTime() + 1000)

    const res = await requestOver(mode, server.port, {
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/ilp+octet-stream' },
      body: makePrepare({ expiresInMs: 800 })
    })
    expect(res.status).toBe(504)
  })

  test.each([['Content-Length', true], ['no Content-Length', false]])('response limit (%s): 41,997 bytes resolve exactly, 41,998 reject T01 "too large"', async (variant, withLength) => {
    const answer = (size) => crypto.createHash('sha512').update(String(size)).digest().toString('hex').repeat(Math.ceil(size / 128)).slice(0, size)
    let url
    if (mode.http2) {
      const peer = await h2Peer((stream) => {
        readStream(stream).then((body) => {
          const prepare = IlpPacket.deserializeIlpPrepare(body)
          const reply = Buffer.from(answer(Number(prepare.data.toString())))
          const resHeaders = { ':status': 200, 'content-type': 'application/octet-stream' }
          if (withLength) resHeaders['content-length'] = String(reply.length)
          stream.respond(resHeaders)
          for (let i = 0; i < reply.length; i += 8192) stream.write(reply.subarray(i, i + 8192))
          stream.end()
        }, () => {})
      }, { secure: mode.tls })
      url = peer.url
    } else {
      const peer = await httpsPeer((req, res, body) => {
        const prepare = IlpPacket.deserializeIlpPrepare(body)
        const reply = Buffer.from(answer(Number(prepare.data.toString())))
        const resHeaders = { 'content-type': 'application/octet-stream' }
        if (withLength) resHeaders['content-length'] = reply.length
        res.writeHead(200, resHeaders)
        for (let i = 0; i < reply.length; i += 8192) res.write(reply.subarray(i, i + 8192))
        res.end()
      })
      url = peer.url
    }
    const client = await startOurClient({ url, http2: mode.http2, ca: mode.tls ? CERTS.ca.cert : undefined })
    const ok = await client.sendData(makePrepare({ data: Buffer.from(String(MAX_RESPONSE_LENGTH)) }))
    expect(ok.length).toBe(MAX_RESPONSE_LENGTH)
    expect(ok.equals(Buffer.from(answer(MAX_RESPONSE_LENGTH)))).toBe(true)
    const err = await rejectionOf(client.sendData(makePrepare({ data: Buffer.from(String(MAX_RESPONSE_LENGTH + 1)) })))
    expect(err.ilpErrorCode).toBe('T01')
    expect(err.message).toMatch(/too large/)
    // Still usable afterwards.
    const again = await client.sendData(makePrepare({ data: Buffer.from('10') }))
    expect(again.equals(Buffer.from(answer(10)))).toBe(true)
  })
})

// =============================================================================================
// Options: bad TLS material
// =============================================================================================

describe('TLS options are checked at construction', () => {
  function construct (incomingTls, outgoingTls) {
    return new PluginHttp({
      incoming: { port: 0, host: '127.0.0.1', staticToken: TOKEN, ...(incomingTls !== undefined ? { tls: incomingTls } : {}) },
      outgoing: { url: 'https://localhost/', staticToken: TOKEN, ...(outgoingTls !== undefined ? { tls: outgoingTls } : {}) }
    })
  }

  const BAD_PEM = '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n'
  const BAD_KEY = '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n'

  test.each([
    ['garbage certificate PEM', () => ({ cert: BAD_PEM, key: CERTS.leaf.key })],
    ['garbage key PEM', () => ({ cert: CERTS.leaf.cert, key: BAD_KEY })],
    ['key of another certificate', () => ({ cert: CERTS.leaf.cert, key: CERTS.otherLeaf.key })],
    ['cert and key swapped', () => ({ cert: CERTS.leaf.key, key: CERTS.leaf.cert })],
    ['a path that does not exist', () => ({ cert: path.join(TMP, 'missing.pem'), key: PEMS.leaf.key })],
    ['a file that is not PEM', () => { const f = path.join(TMP, 'not-pem.txt'); fs.writeFileSync(f, 'hello'); return { cert: f, key: PEMS.leaf.key } }],
    ['key missing', () => ({ cert: CERTS.leaf.cert })],
    ['cert missing', () => ({ key: CERTS.leaf.key })],
    ['not an object', () => 'yes please']
  ])('incoming.tls with %s: the constructor throws naming incoming.tls', (name, make) => {
    const incomingTls = make()
    let error
    try { construct(incomingTls) } catch (e) { error = e }
    // (napi errors come from another realm than jest's Error: check the shape, not instanceof)
    expect(error).toBeDefined()
    expect(typeof error.message).toBe('string')
    expect(error.message).toMatch(/incoming\.tls/)
    expect(error.message).not.toContain('PRIVATE KEY')
  })

  test.each([
    ['garbage PEM', () => ({ ca: BAD_PEM })],
    ['a path that does not exist', () => ({ ca: path.join(TMP, 'missing-ca.pem') })]
  ])('outgoing.tls.ca with %s: the constructor throws naming outgoing.tls.ca', (name, make) => {
    expect(() => construct(undefined, make())).toThrow(/outgoing\.tls\.ca/)
  })

  test('valid incoming.tls (text and path) and outgoing.tls.ca (text and path) construct', () => {
    expect(() => construct({ ...CERTS.leaf }, { ca: CERTS.ca.cert })).not.toThrow()
    expect(() => construct({ ...PEMS.leaf }, { ca: PEMS.ca.cert })).not.toThrow()
  })
})
