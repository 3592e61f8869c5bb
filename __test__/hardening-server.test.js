'use strict'
// Hardening II (issue 14), the server side: an outside attacker's probe, replayed by our own
// hostile clients on 127.0.0.1:
//
//   1. silent TCP connections to the HTTPS server, stuck in the TLS handshake, at the cap
//   2. refused requests (401/405) whose body never comes, reconnecting at the cap
//   4. data-handler calls in flight: per connection (h2 streams reset after acceptance) and
//      per plugin; late answers to cancelled requests are dropped and counted
//   5. h2 responses stuck behind a flow-control window the client never opens
//  10. JWT lifetime and `crit`; stats count only what was answered; tokens with whitespace
//
// Assertions are on outcomes (served, refused, closed, counted, bounded). Where a bound on time
// is the outcome (a well-behaved client is not locked out), it is generous: well under the
// attacker's hold time and far above what the requests take. What the requests actually took
// goes to FIGURES_FILE (docs/reliability.md §6 is filled from it).
const {
  PluginHttp,
  UNUSED_OUTGOING_URL,
  makePrepare,
  makeFulfill,
  disconnectAll,
  request,
  rawConnect,
  parseResponses,
  postHead,
  destroySockets,
  FRAME,
  FLAG,
  H2_START,
  h2Frame,
  requestBlock,
  hpackLiteral,
  parseFrames,
  sleep,
  waitFor,
  withTimeout,
  writeFigures,
  median,
  hs256
} = require('./support')
const { getCerts } = require('./support/certs')
const { httpsRequest } = require('./support/h2')

const TOKEN = 'hardening-server-t0ken'
const AUTH = 'Bearer ' + TOKEN
const FULFILL = makeFulfill(Buffer.from('hardening'))
const FIGURES_FILE = '/tmp/hardening-server-figures.json'
/** RST_STREAM / GOAWAY error codes (RFC 9113 §7). */
const H2_CODE = { NO_ERROR: 0, REFUSED_STREAM: 7, CANCEL: 8 }

const figures = {}
jest.setTimeout(40000)

let plugins = []
let cleanups = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) {
    try { await cleanup() } catch (e) {}
  }
  destroySockets()
  const ps = plugins
  plugins = []
  await disconnectAll(ps)
})
afterAll(() => writeFigures(FIGURES_FILE, figures))

async function startServer ({ incoming = {}, handler = () => FULFILL } = {}) {
  const plugin = new PluginHttp({
    incoming: { port: 0, host: '127.0.0.1', staticToken: TOKEN, ...incoming },
    outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'unused' }
  })
  plugin.registerDataHandler(handler)
  plugins.push(plugin)
  await plugin.connect()
  return plugin
}

function stats (plugin) {
  return plugin.getAdminInfo().stats
}

/** Keeps `count` connections made by `open()` alive: each one that closes is replaced. */
function keepOpen (count, open) {
  let stopped = false
  let opened = 0
  const one = async () => {
    if (stopped) return
    opened++
    try {
      const conn = await open()
      conn.socket.once('close', () => setImmediate(one))
    } catch (e) {
      setTimeout(one, 20)
    }
  }
  for (let i = 0; i < count; i++) one()
  const stop = () => { stopped = true }
  cleanups.push(stop)
  return { stop, opened: () => opened }
}

/** `n` well-behaved requests one after the other; resolves their `{ status, ms }`. */
async function wellBehaved (n, send) {
  const results = []
  for (let i = 0; i < n; i++) {
    const started = Date.now()
    try {
      const res = await send()
      results.push({ status: res.status, ms: Date.now() - started })
    } catch (err) {
      results.push({ status: err.code || err.message, ms: Date.now() - started })
    }
    await sleep(100)
  }
  return results
}

function latencyFigures (results) {
  const ms = results.map((r) => r.ms)
  return { n: results.length, statuses: results.map((r) => r.status), medianMs: median(ms), maxMs: Math.max(...ms) }
}

describe('1. TLS: connections still in the handshake are shed first when room is needed', () => {
  test('40 silent sockets against maxConnections 20: well-behaved HTTPS requests are served, not locked out for the handshake timeout', async () => {
    const certs = getCerts()
    // The handshake timeout is min(10 s, headersTimeout): 6 s here. Before the fix, a
    // newcomer waited for a silent handshake to time out, again and again.
    const plugin = await startServer({ incoming: { tls: { cert: certs.leaf.cert, key: certs.leaf.key }, maxConnections: 20, headersTimeout: 6000 } })
    const port = plugin.port
    keepOpen(40, () => rawConnect(port))
    await sleep(500)
    const results = await wellBehaved(5, () => withTimeout(httpsRequest(port, { headers: { authorization: AUTH }, body: makePrepare(), ca: certs.ca.cert }), 4000, 'no answer'))
    figures.tlsHandshakeLockout = { ...latencyFigures(results), closedForRoom: stats(plugin).connectionsClosedForRoom }
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200])
    // Far below the 6 s a silent handshake could hold a slot.
    expect(Math.max(...results.map((r) => r.ms))).toBeLessThan(3000)
    expect(stats(plugin).connectionsClosedForRoom).toBeGreaterThan(0)
  })
})

describe('2. refused requests are answered at once; their connection counts as idle and closes', () => {
  async function refusedWithoutBody (port, head) {
    const conn = await rawConnect(port)
    const started = Date.now()
    conn.socket.write(head)
    // The body is never sent; bodyTimeout is 5 s, the old discard waited 2 s before answering.
    await waitFor(() => parseResponses(conn.data()).length > 0, 4000)
    const answeredMs = Date.now() - started
    // What is left of the body is dropped for at most 2 s after the answer, then the
    // connection closes (sooner when room is wanted: see the flood test below).
    await waitFor(() => conn.closed, 3500)
    const responses = parseResponses(conn.data())
    return { status: responses.length ? responses[0].status : null, answeredMs, closed: conn.closed }
  }

  test('401 for a POST whose 100-byte body never comes: answered before any body byte, closed within the 2 s discard bound', async () => {
    const plugin = await startServer({ incoming: { bodyTimeout: 5000 } })
    const result = await refusedWithoutBody(plugin.port, postHead({ auth: 'Bearer wrong', length: 100 }))
    figures.refused401 = result
    expect(result.status).toBe(401)
    expect(result.closed).toBe(true)
    expect(result.answeredMs).toBeLessThan(1500)
  })

  test('405 for a PUT with a body that never comes: answered, then closed', async () => {
    const plugin = await startServer({ incoming: { bodyTimeout: 5000 } })
    const head = Buffer.from('PUT / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n', 'latin1')
    const result = await refusedWithoutBody(plugin.port, head)
    figures.refused405 = result
    expect(result.status).toBe(405)
    expect(result.closed).toBe(true)
    expect(result.answeredMs).toBeLessThan(1500)
  })

  test('40 reconnecting unauthenticated clients against maxConnections 20: well-behaved requests are served', async () => {
    const plugin = await startServer({ incoming: { maxConnections: 20, bodyTimeout: 5000 } })
    const port = plugin.port
    const head = postHead({ auth: 'Bearer wrong', length: 100 })
    keepOpen(40, async () => {
      const conn = await rawConnect(port)
      conn.socket.write(head)
      return conn
    })
    await sleep(300)
    const results = await wellBehaved(5, () => request(port, { headers: { authorization: AUTH }, body: makePrepare(), timeoutMs: 4000 }))
    figures.refusedFlood = { ...latencyFigures(results), closedForRoom: stats(plugin).connectionsClosedForRoom }
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200])
    // Before the fix each refused connection stayed busy 2 s and was never closed for room.
    expect(Math.max(...results.map((r) => r.ms))).toBeLessThan(1500)
  })
})

/** A handler whose calls never settle until `release()`; counts the calls in flight. */
function heldHandler () {
  const held = []
  const counts = { calls: 0, inFlight: 0, maxInFlight: 0 }
  const handler = () => new Promise((resolve) => {
    counts.calls++
    counts.inFlight++
    counts.maxInFlight = Math.max(counts.maxInFlight, counts.inFlight)
    held.push(() => { counts.inFlight--; resolve(FULFILL) })
  })
  return { handler, counts, release: () => { for (const answer of held.splice(0)) answer() } }
}

/** RST_STREAM frames in `frames`: `[{ streamId, code }]`. */
function resetsOf (frames) {
  return frames.filter((f) => f.type === FRAME.RST_STREAM).map((f) => ({ streamId: f.streamId, code: f.payload.readUInt32BE(0) }))
}

function rstStream (streamId, code) {
  const payload = Buffer.alloc(4)
  payload.writeUInt32BE(code)
  return h2Frame(FRAME.RST_STREAM, 0, streamId, payload)
}

describe('4. data-handler calls in flight are bounded; late answers are dropped and counted', () => {
  test('h2 streams reset after the handler was called: at most maxHandlerCallsPerConnection calls, then REFUSED_STREAM', async () => {
    const held = heldHandler()
    const plugin = await startServer({ handler: held.handler, incoming: { maxHandlerCallsPerConnection: 8 } })
    const conn = await rawConnect(plugin.port)
    conn.socket.write(H2_START)
    const body = makePrepare()
    let streamId = 1
    // The rapid-reset pattern after acceptance: a batch of complete requests, then, once the
    // handler has them, a reset for each.
    for (let round = 0; round < 10 && !conn.closed; round++) {
      const batch = []
      for (let i = 0; i < 10; i++, streamId += 2) {
        batch.push(streamId)
        conn.socket.write(Buffer.concat([
          h2Frame(FRAME.HEADERS, FLAG.END_HEADERS, streamId, requestBlock(AUTH)),
          h2Frame(FRAME.DATA, FLAG.END_STREAM, streamId, body)
        ]))
      }
      await sleep(100)
      conn.socket.write(Buffer.concat(batch.map((id) => rstStream(id, H2_CODE.CANCEL))))
    }
    await sleep(200)
    const frames = parseFrames(conn.data())
    const refused = resetsOf(frames).filter((r) => r.code === H2_CODE.REFUSED_STREAM).length
    const calls = held.counts.calls
    held.release()
    await waitFor(() => (stats(plugin).handlerAnswersDropped || 0) >= calls, 2000)
    const s = stats(plugin)
    figures.rapidResetAfterAccept = { streams: 100, handlerCalls: calls, maxInFlight: held.counts.maxInFlight, refusedStreams: refused, answersDropped: s.handlerAnswersDropped, callsRefused: s.handlerCallsRefused }
    expect(held.counts.maxInFlight).toBeLessThanOrEqual(8)
    expect(refused).toBeGreaterThan(0)
    // Every call whose request was gone: its late answer dropped and counted.
    expect(s.handlerAnswersDropped).toBe(calls)
    expect(s.handlerCallsRefused).toBeGreaterThan(0)
    expect(s.incoming.inFlight).toBe(0)
  })

  test('per plugin: 20 concurrent requests with maxHandlerCalls 12 give 12 handler calls and 8 prompt 503s', async () => {
    const held = heldHandler()
    const plugin = await startServer({ handler: held.handler, incoming: { maxHandlerCalls: 12 } })
    const answers = Array.from({ length: 20 }, () => request(plugin.port, { headers: { authorization: AUTH }, body: makePrepare(), settled: true, timeoutMs: 10000 }))
    const refusedAll = await waitFor(() => held.counts.calls === 12, 5000)
    await sleep(300)
    const callsWhileHeld = held.counts.calls
    held.release()
    const results = await Promise.all(answers)
    const statuses = results.map((r) => r.status).sort()
    figures.perPluginBound = { requests: 20, handlerCalls: callsWhileHeld, statuses }
    expect(refusedAll).toBe(true)
    expect(callsWhileHeld).toBe(12)
    expect(statuses).toEqual([...Array(12).fill(200), ...Array(8).fill(503)])
    expect(stats(plugin).handlerCallsRefused).toBe(8)
    expect(stats(plugin).incoming.errors['503']).toBe(8)
  })

  test('the options are validated with clear errors', () => {
    for (const [key, value] of [['maxHandlerCalls', 0], ['maxHandlerCalls', 1.5], ['maxHandlerCallsPerConnection', -1], ['maxHandlerCallsPerConnection', 'many']]) {
      expect(() => new PluginHttp({
        incoming: { port: 0, staticToken: TOKEN, [key]: value },
        outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'unused' }
      })).toThrow(`incoming.${key}`)
    }
  })
})

describe('5. h2 responses stuck behind a closed flow-control window', () => {
  test('a client that never opens its window is dropped after a bounded time, even while it keeps sending cheap GETs', async () => {
    const plugin = await startServer({ incoming: { headersTimeout: 1000, bodyTimeout: 1000 } })
    const conn = await rawConnect(plugin.port)
    // SETTINGS_INITIAL_WINDOW_SIZE (0x4) = 0: no response body can be sent.
    const settings = Buffer.from([0x00, 0x04, 0, 0, 0, 0])
    conn.socket.write(Buffer.concat([H2_START.subarray(0, 24), h2Frame(FRAME.SETTINGS, 0, 0, settings)]))
    const get = (id) => h2Frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, Buffer.concat([
      Buffer.from([0x82, 0x86, 0x84]), // :method GET, :scheme http, :path /
      hpackLiteral(1, '127.0.0.1')
    ]))
    let streamId = 1
    const burst = []
    for (let i = 0; i < 200; i++, streamId += 2) burst.push(get(streamId))
    conn.socket.write(Buffer.concat(burst))
    // One cheap GET every 200 ms, which used to keep the connection open forever.
    const started = Date.now()
    const timer = setInterval(() => {
      if (!conn.closed) conn.socket.write(get(streamId))
      streamId += 2
    }, 200)
    cleanups.push(() => clearInterval(timer))
    const closed = await waitFor(() => conn.closed, 8000)
    clearInterval(timer)
    figures.stuckResponses = { streams: (streamId - 1) / 2, closed, closedAfterMs: closed ? Date.now() - started : null, openConnectionsAfter: stats(plugin).openConnections }
    expect(closed).toBe(true)
    expect(await waitFor(() => stats(plugin).openConnections === 0, 2000)).toBe(true)
  })
})

describe('10. HTTP/2 control-frame floods are bounded per connection', () => {
  test.each([['PING', FRAME.PING, Buffer.alloc(8)], ['SETTINGS', FRAME.SETTINGS, Buffer.alloc(0)], ['PRIORITY', 0x2, Buffer.from([0, 0, 0, 0, 16])]])(
    'a client sending %s frames as fast as it can (and reading) is disconnected; others are served meanwhile', async (name, type, payload) => {
      const plugin = await startServer()
      const conn = await rawConnect(plugin.port)
      conn.socket.write(H2_START)
      // PRIORITY frames go on a stream (1); PING and SETTINGS on the connection (0).
      const one = h2Frame(type, 0, type === 0x2 ? 1 : 0, payload)
      const batch = Buffer.concat(Array(500).fill(one))
      let sent = 0
      const started = Date.now()
      const timer = setInterval(() => {
        if (conn.closed || sent >= 40000) return clearInterval(timer)
        conn.socket.write(batch)
        sent += 500
      }, 5)
      cleanups.push(() => clearInterval(timer))
      const closed = await waitFor(() => conn.closed, 8000)
      clearInterval(timer)
      const served = await request(plugin.port, { headers: { authorization: AUTH }, body: makePrepare(), timeoutMs: 4000 })
      figures[`flood${name}`] = { framesSent: sent, closed, closedAfterMs: closed ? conn.closedAt - started : null, wellBehavedStatus: served.status }
      expect(closed).toBe(true)
      // Far fewer than were sent: the budget is 1,000 at once plus 100 a second.
      expect(sent).toBeLessThan(40000)
      expect(served.status).toBe(200)
      // Counted once, for this connection; the well-behaved one was not.
      expect(plugin.getAdminInfo().stats.connectionsClosedFlooding).toBe(1)
      expect(plugin.getMetrics()).toMatch(/connections_closed_total\{reason="flooding"\} 1\n/)
    })
})

describe('10. smaller items', () => {
  const SECRET = 'hardening-jwt-secret'
  const now = () => Math.floor(Date.now() / 1000)
  async function statusWith (plugin, token) {
    const res = await request(plugin.port, { headers: { authorization: 'Bearer ' + token }, body: makePrepare() })
    return res.status
  }

  test('JWT: exp further ahead than the maximum lifetime (default one day) is refused; a 30 s token is accepted', async () => {
    const plugin = await startServer({ incoming: { staticToken: undefined, jwtSecret: SECRET } })
    expect(await statusWith(plugin, hs256(SECRET, { iat: now(), exp: now() + 30 }))).toBe(200)
    expect(await statusWith(plugin, hs256(SECRET, { iat: now(), exp: now() + 23 * 3600 }))).toBe(200)
    expect(await statusWith(plugin, hs256(SECRET, { exp: 32503680000 }))).toBe(401) // year 3000
    expect(await statusWith(plugin, hs256(SECRET, { iat: now(), exp: now() + 2 * 86400 }))).toBe(401)
  })

  test('JWT: incoming.jwtMaxLifetime sets the maximum (ms) and is validated', async () => {
    const plugin = await startServer({ incoming: { staticToken: undefined, jwtSecret: SECRET, jwtMaxLifetime: 60000 } })
    expect(await statusWith(plugin, hs256(SECRET, { iat: now(), exp: now() + 50 }))).toBe(200)
    expect(await statusWith(plugin, hs256(SECRET, { iat: now(), exp: now() + 120 }))).toBe(401)
    for (const value of [0, -5, 1.5, 'long']) {
      expect(() => new PluginHttp({
        incoming: { port: 0, jwtSecret: SECRET, jwtMaxLifetime: value },
        outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'unused' }
      })).toThrow('incoming.jwtMaxLifetime')
    }
  })

  test('JWT: a token with a crit header is refused', async () => {
    const plugin = await startServer({ incoming: { staticToken: undefined, jwtSecret: SECRET } })
    expect(await statusWith(plugin, hs256(SECRET, { iat: now(), exp: now() + 30 }, { crit: ['exp'] }))).toBe(401)
    expect(await statusWith(plugin, hs256(SECRET, { iat: now(), exp: now() + 30 }, { crit: ['x-unknown'], 'x-unknown': 1 }))).toBe(401)
  })

  test('tokens with leading or trailing whitespace are refused at construction', () => {
    const build = (incoming, outgoing) => () => new PluginHttp({
      incoming: { port: 0, ...incoming },
      outgoing: { url: UNUSED_OUTGOING_URL, ...outgoing }
    })
    expect(build({ staticToken: 'tok ' }, { staticToken: 'ok' })).toThrow('incoming.staticToken')
    expect(build({ staticToken: 'ok' }, { staticToken: '\ttok' })).toThrow('outgoing.staticToken')
    expect(build({ secretToken: 'tok\n' }, { staticToken: 'ok' })).toThrow('incoming.secretToken')
    expect(build({ staticToken: 'ok' }, { staticToken: 'ok' })).not.toThrow()
  })

  test('stats count only what was answered: requests reset or cut off while their body was read are not counted as errors', async () => {
    const plugin = await startServer({ incoming: { bodyTimeout: 5000 } })
    // HTTP/1.1: head and half a body, then the client closes.
    for (let i = 0; i < 5; i++) {
      const conn = await rawConnect(plugin.port)
      conn.socket.write(Buffer.concat([postHead({ auth: AUTH, length: 100 }), Buffer.alloc(50)]))
      await sleep(50)
      conn.socket.destroy()
    }
    // HTTP/2: a stream with half a body, then RST_STREAM.
    const conn = await rawConnect(plugin.port)
    conn.socket.write(H2_START)
    for (let id = 1; id <= 9; id += 2) {
      conn.socket.write(Buffer.concat([
        h2Frame(FRAME.HEADERS, FLAG.END_HEADERS, id, requestBlock(AUTH)),
        h2Frame(FRAME.DATA, 0, id, Buffer.alloc(50))
      ]))
      await sleep(50)
      conn.socket.write(rstStream(id, H2_CODE.CANCEL))
    }
    await sleep(300)
    conn.socket.destroy()
    await waitFor(() => stats(plugin).openConnections === 0, 2000)
    const s = stats(plugin)
    figures.statsAfterCancelled = { errors: s.incoming.errors }
    expect(Object.values(s.incoming.errors).reduce((a, b) => a + b, 0)).toBe(0)
    // What was answered is still counted.
    expect((await request(plugin.port, { headers: { authorization: 'Bearer wrong' }, body: makePrepare() })).status).toBe(401)
    expect(await waitFor(() => stats(plugin).incoming.errors['401'] === 1, 1000)).toBe(true)
  })
})
