'use strict'
// Faults (issue "Hardening", part 2). Each scenario is bounded in seconds and checks that the
// plugin keeps serving, loses nothing and leaks nothing:
//   1. a peer that restarts mid-load (ours over HTTP/1.1 and h2c, and 1.6.1 as the peer);
//   2. a slow peer (a raw Node HTTP server) answering before and after the Prepare's expiry;
//   3. slow and never-settling data handlers on our server;
//   4. disconnect() under load, and at the 5 s drain deadline;
//   5. 1,000 connect/disconnect cycles: no growth in threads, file descriptors or memory;
//   6. reconnecting at once on the same port, also with a keep-alive connection from before.
//
// Every reply is checked against the request it answers: peers answer a Fulfill whose data is
// sha256(prepare), so a reply delivered to the wrong caller (e.g. through a stale pooled
// connection) fails the test as surely as a lost one.
//
// "No crash, no unhandled rejection": jest fails the running test on an uncaught exception or
// an unhandled rejection, so the tests wait until late answers and late handler results have
// actually happened before they end.
//
// Measured figures go to /tmp/faults-figures.json (jest hides console output); the lead copies
// them into docs/reliability.md.
const fs = require('fs')
const http = require('http')
const { once } = require('events')
const IlpPacket = require('ilp-packet')
const {
  PluginHttp,
  OriginalPluginHttp,
  makePrepare,
  makeFulfill,
  sha256,
  startRawPeer,
  startTcpPeer,
  disconnectAll,
  runCleanups,
  makeLog,
  writeFigures,
  sleep,
  waitFor,
  rejectionOf,
  withTimeout,
  request,
  rawConnect,
  parseResponses,
  parseHttpMessages,
  postHead,
  destroySockets,
  tcpConnects,
  connectAndListen,
  UNUSED_OUTGOING_URL,
  ILP_CONTENT_TYPE
} = require('./support')

const TOKEN = 'faults-t0ken-Zk7q'
const FIGURES_FILE = '/tmp/faults-figures.json'
/** README: disconnect() lets requests in flight finish for up to 5 s. */
const DRAIN_DEADLINE_MS = 5000

/** Figures measured by the tests below, written to FIGURES_FILE after the run. */
const figures = {}

const plugins = []
const cleanups = []

afterEach(async () => {
  destroySockets()
  await runCleanups(cleanups.splice(0))
  await disconnectAll(plugins.splice(0))
})

afterAll(() => {
  writeFigures(FIGURES_FILE, figures)
})

// ---------------------------------------------------------------------------------------------
// helpers

/** What every peer and handler in this file answers: a Fulfill naming the Prepare it answers. */
const fulfillFor = (prepare) => makeFulfill(sha256(prepare))

let sequence = 0
/** A Prepare no other request in this file sends (its data: `tag:<n>`). */
function uniquePrepare ({ tag = 'p', ...opts } = {}) {
  return makePrepare({ ...opts, data: Buffer.from(`${tag}:${sequence++}`) })
}

/** The data of a Prepare, as text. */
const dataOf = (prepare) => IlpPacket.deserializeIlpPrepare(Buffer.from(prepare)).data.toString()

/**
 * A plugin on 127.0.0.1 (torn down after the test). `url` is where it sends; plugins that only
 * serve get a URL nobody listens on.
 */
function create (Impl, { port = 0, url = UNUSED_OUTGOING_URL, http2 = false, api } = {}) {
  const plugin = new Impl({
    incoming: { port, host: '127.0.0.1', staticToken: TOKEN },
    outgoing: { url, staticToken: TOKEN, http2 }
  }, api)
  plugins.push(plugin)
  return plugin
}

/**
 * Stops a peer. 1.6.1's disconnect() neither waits for its server nor closes busy connections:
 * close them, as a restarted process would, and wait until the server has closed.
 */
async function stop (plugin) {
  if (plugin instanceof OriginalPluginHttp) {
    const server = plugin._httpServer
    const closed = once(server, 'close')
    await plugin.disconnect()
    server.closeAllConnections()
    await withTimeout(closed, 2000, '1.6.1 server did not close')
    return
  }
  await plugin.disconnect()
}

/**
 * One HTTP/1.1 POST of `body` to our server (support/http1.js `request`). Never rejects:
 * resolves `{ status, body, at, reusedSocket }` or `{ error, at }` (`error.code` 'TIMEOUT' when
 * nothing came back within `timeoutMs`). `agent: false` (the default) uses a fresh connection
 * and resolves only once that socket has closed, so no file descriptor of ours outlives the
 * call. With a keep-alive `agent`, `reusedSocket` says whether the request went on a reused
 * socket.
 */
function post (port, body, { agent = false, timeoutMs = 5000 } = {}) {
  return request(port, {
    headers: { Authorization: 'Bearer ' + TOKEN, 'Content-Type': ILP_CONTENT_TYPE },
    body,
    agent,
    timeoutMs,
    settled: true,
    untilClosed: true
  })
}

/**
 * A raw keep-alive HTTP/1.1 connection to 127.0.0.1:port (destroyed after the test).
 * `send(body)` writes one POST and resolves `{ status, body }`, or `{ closed: true }` when the
 * server closes the connection first; `closed` resolves once the server has closed it.
 */
async function rawConnection (port) {
  const conn = await rawConnect(port)
  const closed = new Promise((resolve) => conn.socket.once('close', resolve))
  let answered = 0
  return {
    closed,
    isClosed: () => conn.closed,
    async send (body) {
      if (!conn.closed) conn.socket.write(Buffer.concat([postHead({ auth: 'Bearer ' + TOKEN, length: body.length }), body]))
      const arrived = () => parseResponses(conn.data()).length > answered
      await waitFor(() => conn.closed || arrived(), 10000)
      if (arrived()) {
        const { status, body } = parseResponses(conn.data())[answered++]
        return { status, body }
      }
      if (conn.closed) return { closed: true }
      throw new Error('no answer and no close within 10 s')
    }
  }
}

/** Sends one unique Prepare; resolves an outcome (never rejects), checking the reply is its own. */
async function sendOne (client, opts) {
  const prepare = uniquePrepare(opts)
  const startedAt = Date.now()
  try {
    const reply = await client.sendData(prepare)
    return { startedAt, settledAt: Date.now(), fulfilled: true, correct: reply.equals(fulfillFor(prepare)) }
  } catch (err) {
    return { startedAt, settledAt: Date.now(), fulfilled: false, code: err.ilpErrorCode, message: err.message }
  }
}

/** `n` sends with at most `inFlight` at a time; resolves the outcomes (bounded by `boundMs`). */
async function sendMany (client, n, { inFlight = 32, expiresInMs = 5000, boundMs = 15000 } = {}) {
  const outcomes = []
  let next = 0
  const worker = async () => {
    while (next < n) {
      next++
      outcomes.push(await sendOne(client, { expiresInMs }))
    }
  }
  await withTimeout(Promise.all(Array.from({ length: inFlight }, worker)), boundMs,
    `${n} sends did not all settle`)
  return outcomes
}

/**
 * Keeps `inFlight` sendData calls running until `stop()`. `stop()` resolves every outcome once
 * all calls have settled, and throws if some call is still pending after `boundMs` (a hang).
 */
function startLoad (client, { inFlight = 32, expiresInMs = 5000 } = {}) {
  const outcomes = []
  let running = true
  let pending = 0
  const worker = async () => {
    while (running) {
      pending++
      const outcome = await sendOne(client, { expiresInMs })
      pending--
      outcomes.push(outcome)
      // A refused connection fails at once: don't spin while the peer is away.
      if (!outcome.fulfilled) await sleep(5)
    }
  }
  const workers = Array.from({ length: inFlight }, worker)
  return {
    outcomes,
    async stop (boundMs = expiresInMs + 2000) {
      running = false
      await withTimeout(Promise.all(workers), boundMs, `sendData calls still pending (${pending}): a hang`)
      return outcomes
    }
  }
}

const isGood = (o) => o.fulfilled && o.correct
/** The outcomes that are not fulfils with the right reply, as `"<code>: <message> (×n)"`. */
function badOnes (outcomes) {
  const counts = new Map()
  for (const o of outcomes.filter((o) => !isGood(o))) {
    const key = o.fulfilled ? 'fulfilled with the reply to another Prepare' : `${o.code}: ${o.message}`
    counts.set(key, (counts.get(key) || 0) + 1)
  }
  return [...counts].map(([key, n]) => `${key} (×${n})`).sort()
}

/** Counts of each outcome kind, for the figures file. */
function tally (outcomes) {
  const t = { calls: outcomes.length, fulfilled: 0 }
  for (const o of outcomes) {
    if (isGood(o)) t.fulfilled++
    else if (o.fulfilled) t.wrongReply = (t.wrongReply || 0) + 1
    else t[o.code] = (t[o.code] || 0) + 1
  }
  return t
}

/** Threads, open file descriptors and memory of this process. */
function processFigures () {
  const status = fs.readFileSync('/proc/self/status', 'utf8')
  const mem = process.memoryUsage()
  return {
    threads: Number(/^Threads:\s+(\d+)/m.exec(status)[1]),
    fds: fs.readdirSync('/proc/self/fd').length,
    rssMB: Math.round(mem.rss / 1e5) / 10,
    heapUsedMB: Math.round(mem.heapUsed / 1e5) / 10
  }
}

// ---------------------------------------------------------------------------------------------
// 1. a peer that restarts mid-load

describe('1. a peer that restarts mid-load (32 sends in flight)', () => {
  test.each([
    ['ours, HTTP/1.1', PluginHttp, false],
    ['ours, h2c', PluginHttp, true],
    ['1.6.1, HTTP/1.1', OriginalPluginHttp, false]
  ])('peer %s: calls across the outage all settle (T00/T01 at worst); after the restart every send fulfils, also from a stale pool', async (name, PeerImpl, http2) => {
    let served = 0
    const handler = async (prepare) => {
      served++
      return fulfillFor(Buffer.from(prepare))
    }
    // The peer learns its port on the first connect; restarts bind that same port.
    let peer = create(PeerImpl)
    peer.registerDataHandler(handler)
    const port = await connectAndListen(peer)
    const client = create(PluginHttp, { url: `http://127.0.0.1:${port}/ilp`, http2 })
    await client.connect()

    // Restart under load: the peer goes away and a new instance comes up on the same port.
    const load = startLoad(client, { inFlight: 32 })
    await sleep(300)
    const downAt = Date.now()
    await stop(peer)
    await sleep(200)
    peer = create(PeerImpl, { port })
    peer.registerDataHandler(handler)
    expect(await connectAndListen(peer)).toBe(port)
    const backAt = Date.now()
    await sleep(400)
    const outcomes = await load.stop()

    const before = outcomes.filter((o) => o.settledAt < downAt)
    const across = outcomes.filter((o) => o.settledAt >= downAt && o.startedAt < backAt)
    const after = outcomes.filter((o) => o.startedAt >= backAt)
    figures.peerRestart = figures.peerRestart || {}
    const figure = figures.peerRestart[name] = {
      beforeRestart: tally(before),
      acrossOutage: tally(across),
      afterRestart: tally(after)
    }
    expect(before.length).toBeGreaterThan(32)
    expect(badOnes(before)).toEqual([])
    // During the outage a call may fail, but only as a transport failure or a 5xx (our peer
    // answers 502 while it drains), with a message; never with the reply to another Prepare.
    for (const o of badOnes(across)) expect(o).toMatch(/^T0[01]: \S/)
    // Once the peer is back, every call fulfils.
    expect(after.length).toBeGreaterThan(32)
    expect(badOnes(after)).toEqual([])

    // Restarts with an idle pool: 32 sends in flight fill the client's pool (or h2 session),
    // the same peer instance restarts on the same port at once, and the next 32 sends (one per
    // pooled connection, all of which point at the old incarnation) must all fulfil. Ten
    // rounds, because whether a stale connection is noticed in time is a race; then 200 more.
    const afterIdle = []
    for (let round = 0; round < 10; round++) {
      const warm = await sendMany(client, 64, { inFlight: 32 })
      expect(badOnes(warm)).toEqual([])
      await stop(peer)
      expect(await connectAndListen(peer)).toBe(port)
      afterIdle.push(...await sendMany(client, 32, { inFlight: 32 }))
    }
    afterIdle.push(...await sendMany(client, 200, { inFlight: 32 }))
    figure.afterIdlePoolRestarts = { rounds: 10, ...tally(afterIdle) }
    expect(afterIdle).toHaveLength(10 * 32 + 200)
    expect(badOnes(afterIdle)).toEqual([])
    expect(served).toBeGreaterThanOrEqual(before.length + after.length + afterIdle.length)

    expect(client.getAdminInfo().stats.outgoing.inFlight).toBe(0)
  }, 20000)
})

// ---------------------------------------------------------------------------------------------
// 2. a slow peer

describe('2. a slow peer (raw Node HTTP server answering after a delay)', () => {
  test('answers before the expiry are delivered; answers after it reject R00 at the expiry; the late answers harm nothing', async () => {
    // The peer waits as many ms as the Prepare's data says ("<delay>:<n>"), then answers.
    const timers = new Set()
    const lateAnswers = []
    const peer = await startRawPeer((req, res, body) => {
      const delay = Number(dataOf(body).split(':')[0])
      const timer = setTimeout(() => {
        timers.delete(timer)
        const reply = fulfillFor(body)
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': reply.length })
        res.end(reply)
        if (delay >= 1000) lateAnswers.push(Date.now())
      }, delay)
      timers.add(timer)
    })
    cleanups.push(() => peer.close())
    cleanups.push(() => timers.forEach(clearTimeout))
    const client = create(PluginHttp, { url: peer.url })
    await client.connect()

    const send = async (delay, expiresInMs) => {
      const prepare = makePrepare({ expiresInMs, data: Buffer.from(`${delay}:${sequence++}`) })
      const expiresAt = IlpPacket.deserializeIlpPrepare(prepare).expiresAt.getTime()
      try {
        const reply = await client.sendData(prepare)
        return { delay, expiresAt, at: Date.now(), correct: reply.equals(fulfillFor(prepare)) }
      } catch (err) {
        return { delay, expiresAt, at: Date.now(), code: err.ilpErrorCode, message: err.message }
      }
    }

    // All at once: three answers in time, two late ones.
    const results = await Promise.all([
      send(50, 1500),
      send(300, 1500),
      send(700, 1500),
      send(1500, 600),
      send(2500, 1000)
    ])
    for (const r of results.slice(0, 3)) {
      expect(r).toMatchObject({ correct: true })
    }
    for (const r of results.slice(3)) {
      expect(r.code).toBe('R00')
      expect(r.message).toEqual(expect.any(String))
      // Not before the expiry; well before expiry + 2 s (generous for a loaded machine).
      expect(r.at).toBeGreaterThanOrEqual(r.expiresAt)
      expect(r.at).toBeLessThan(r.expiresAt + 2000)
    }

    // Keep sending (fast answers) while the late answers arrive on the abandoned requests: a
    // timed-out connection must not be reused, or a late answer would be taken as the reply to
    // a new Prepare.
    const following = []
    while (lateAnswers.length < 2) {
      expect(Date.now()).toBeLessThan(results[4].expiresAt + 4000) // the peer answers at +1.5 s
      following.push(await send(0, 5000))
    }
    for (let i = 0; i < 20; i++) following.push(await send(0, 5000))
    expect(following.filter((r) => !r.correct)).toEqual([])

    const stats = client.getAdminInfo().stats.outgoing
    expect(stats.inFlight).toBe(0)
    expect(stats.errors.R00).toBe(2)
    expect(stats.fulfills).toBe(3 + following.length)
    figures.slowPeer = {
      inTime: results.slice(0, 3).map((r) => ({ delayMs: r.delay, fulfilled: r.correct })),
      late: results.slice(3).map((r) => ({ delayMs: r.delay, code: r.code, msAfterExpiry: r.at - r.expiresAt })),
      sendsWhileLateAnswersArrived: following.length
    }
  }, 20000)
})

// ---------------------------------------------------------------------------------------------
// 3. slow and never-settling handlers on our server

describe('3. slow and never-settling data handlers on our server', () => {
  test('expired requests get 504 at the expiry (raw client, 1.6.1, ours), other connections are served meanwhile, nothing stays in flight', async () => {
    const SLOW_MS = 1800
    let slowFinished = 0
    const server = create(PluginHttp)
    server.registerDataHandler(async (data) => {
      const prepare = Buffer.from(data)
      const tag = dataOf(prepare).split(':')[0]
      if (tag === 'hang') return new Promise(() => {})
      if (tag === 'slow') {
        await sleep(SLOW_MS)
        slowFinished++
      }
      return fulfillFor(prepare)
    })
    const port = await connectAndListen(server)
    const url = `http://127.0.0.1:${port}/ilp`
    const original = create(OriginalPluginHttp, { url })
    await connectAndListen(original)
    const ours = create(PluginHttp, { url })
    await ours.connect()

    const expiring = (tag) => {
      const prepare = uniquePrepare({ tag, expiresInMs: 800 })
      return { prepare, expiresAt: IlpPacket.deserializeIlpPrepare(prepare).expiresAt.getTime() }
    }
    const timed = async ({ prepare, expiresAt }, sender) => {
      try {
        return { expiresAt, value: await sender(prepare), at: Date.now() }
      } catch (err) {
        return { expiresAt, error: err, at: Date.now() }
      }
    }
    const stuck = []
    for (const tag of ['hang', 'slow']) {
      stuck.push(['raw', timed(expiring(tag), (p) => post(port, p))])
      stuck.push(['1.6.1', timed(expiring(tag), (p) => original.sendData(p))])
      stuck.push(['ours', timed(expiring(tag), (p) => ours.sendData(p))])
    }

    // Meanwhile: 20 quick requests, each on its own connection, are each answered within 1 s
    // (a generous bound for a loaded 2-core machine; they take a few ms when idle).
    await sleep(100)
    const quick = []
    for (let i = 0; i < 20; i++) {
      const prepare = uniquePrepare({ tag: 'quick' })
      const t0 = Date.now()
      const res = await post(port, prepare)
      quick.push({ ms: Date.now() - t0, ok: res.status === 200 && res.body.equals(fulfillFor(prepare)) })
    }
    const expired = await Promise.all(stuck.map(async ([who, pending]) => ({ who, ...await pending })))
    figures.slowHandler = {
      expiredAnswers: expired.map((r) => ({
        client: r.who,
        msAfterExpiry: r.at - r.expiresAt,
        answer: r.value ? r.value.status : (r.error.ilpErrorCode || r.error.message)
      })),
      quickRequestsMaxMs: Math.max(...quick.map((q) => q.ms))
    }
    expect(quick.filter((q) => !q.ok)).toEqual([])
    expect(Math.max(...quick.map((q) => q.ms))).toBeLessThan(1000)

    for (const r of expired) {
      const who = r.who
      // Answered once the Prepare expired, not before; well before expiry + 2 s.
      expect(r.at).toBeGreaterThanOrEqual(r.expiresAt)
      expect(r.at).toBeLessThan(r.expiresAt + 2000)
      if (who === 'raw') {
        expect(r.value.status).toBe(504)
      } else if (who === '1.6.1') {
        expect(r.error.message).toBe('failed to fetch. code=504')
      } else {
        // Our client gives up at the expiry itself (R00), or reads the server's 504 (T00).
        expect(['R00', 'T00']).toContain(r.error.ilpErrorCode)
      }
    }

    // The slow handlers finish after their requests were answered: the late results are
    // dropped quietly; the never-settled promises hold nothing the plugin counts.
    await withTimeout((async () => { while (slowFinished < 3) await sleep(20) })(), SLOW_MS + 2000,
      'slow handlers did not finish')
    await sleep(100)
    const stats = server.getAdminInfo().stats.incoming
    // Our client cancels at the expiry and closes its connection; when it is quicker than the
    // server's 504, the server answers nobody for that one (so this also depends on what the
    // next test checks: a request whose client went away does not stay in flight).
    expect(stats.inFlight).toBe(0)
    const oursGot504 = expired.filter((r) => r.who === 'ours' && r.error.ilpErrorCode === 'T00').length
    expect(stats.errors['504']).toBeGreaterThanOrEqual(4 + oursGot504)
    expect(stats.errors['504']).toBeLessThanOrEqual(6)
    expect(stats.fulfills).toBe(20)
    expect(server.getMetrics()).toContain('ilp_plugin_http_in_flight{direction="incoming"} 0\n')
    expect(ours.getAdminInfo().stats.outgoing.inFlight).toBe(0)
    // Still serving, through both clients and a fresh connection.
    const prepare = uniquePrepare({ tag: 'after' })
    expect((await ours.sendData(prepare)).equals(fulfillFor(prepare))).toBe(true)
    expect(Buffer.from(await original.sendData(prepare)).equals(fulfillFor(prepare))).toBe(true)
    const res = await post(port, prepare)
    expect(res.status).toBe(200)
    expect(res.body.equals(fulfillFor(prepare))).toBe(true)
  }, 20000)

  test('clients that close their connection while the handler is busy (slow, or never settling): nothing stays in flight, still serving', async () => {
    const server = create(PluginHttp)
    let slowFinished = 0
    server.registerDataHandler(async (data) => {
      const prepare = Buffer.from(data)
      if (dataOf(prepare).startsWith('hang')) return new Promise(() => {})
      await sleep(400)
      slowFinished++
      return fulfillFor(prepare)
    })
    const port = await connectAndListen(server)
    // Each client sends its Prepare (expiry 1 s) and closes the connection 100 ms later.
    const aborted = []
    for (const tag of ['slow', 'slow', 'hang', 'hang']) {
      aborted.push(new Promise((resolve) => {
        const req = http.request({
          host: '127.0.0.1',
          port,
          method: 'POST',
          agent: false,
          headers: { Authorization: 'Bearer ' + TOKEN }
        })
        req.on('error', () => {})
        req.on('close', resolve)
        req.end(uniquePrepare({ tag, expiresInMs: 1000 }))
        setTimeout(() => req.destroy(), 100)
      }))
    }
    await withTimeout(Promise.all(aborted), 3000, 'the clients did not close')
    // By now the slow handlers have answered (into closed connections) and the hanging ones'
    // Prepares have expired: whatever the server did with them, none is in flight any more.
    await sleep(1200)
    const info = server.getAdminInfo()
    figures.abortedClients = {
      clients: 4,
      incomingInFlightAfter: info.stats.incoming.inFlight,
      openConnectionsAfter: info.stats.openConnections
    }
    expect(slowFinished).toBe(2)
    expect(info.stats.incoming.inFlight).toBe(0)
    expect(info.stats.openConnections).toBe(0)
    expect(server.getMetrics()).toContain('ilp_plugin_http_in_flight{direction="incoming"} 0\n')
    const prepare = uniquePrepare({ tag: 'after' })
    const res = await post(port, prepare)
    expect(res.status).toBe(200)
    expect(res.body.equals(fulfillFor(prepare))).toBe(true)
  }, 20000)
})

// ---------------------------------------------------------------------------------------------
// 4. disconnect() under load

describe('4. disconnect() under load', () => {
  test('64 requests in flight (300 ms handler): all complete 200 with their Fulfill; new connections are refused at once; disconnect() resolves well within the drain deadline', async () => {
    const IN_FLIGHT = 64
    let entered = 0
    let allEntered
    const allIn = new Promise((resolve) => { allEntered = resolve })
    const server = create(PluginHttp)
    server.registerDataHandler(async (data) => {
      if (++entered === IN_FLIGHT) allEntered()
      await sleep(300)
      return fulfillFor(Buffer.from(data))
    })
    const port = await connectAndListen(server)
    // Half on fresh connections of their own, half through our client's keep-alive pool.
    const client = create(PluginHttp, { url: `http://127.0.0.1:${port}/ilp` })
    await client.connect()
    const raw = []
    const sent = []
    for (let i = 0; i < IN_FLIGHT / 2; i++) {
      const prepare = uniquePrepare()
      raw.push(post(port, prepare).then((res) => ({ res, prepare })))
      sent.push(sendOne(client, { expiresInMs: 30000 }))
    }
    await withTimeout(allIn, 5000, 'not all requests reached the handler')

    const t0 = Date.now()
    const disconnecting = server.disconnect()
    await sleep(100)
    // "refuses new connections at once": the handlers are still busy (300 ms).
    expect(entered).toBe(IN_FLIGHT)
    expect(await tcpConnects(port)).toBe(false)
    await withTimeout(disconnecting, DRAIN_DEADLINE_MS + 2000, 'disconnect() did not resolve')
    const disconnectMs = Date.now() - t0

    for (const { res, prepare } of await Promise.all(raw)) {
      expect(res.error).toBeUndefined()
      expect(res.status).toBe(200)
      expect(res.body.equals(fulfillFor(prepare))).toBe(true)
    }
    expect(badOnes(await Promise.all(sent))).toEqual([])
    expect(disconnectMs).toBeLessThan(DRAIN_DEADLINE_MS)
    expect(await tcpConnects(port)).toBe(false)
    const after = await post(port, uniquePrepare())
    expect(after.error && after.error.code).toBe('ECONNREFUSED')
    const info = server.getAdminInfo()
    expect(info.connected).toBe(false)
    expect(info.stats.incoming.inFlight).toBe(0)
    expect(info.stats.incoming.fulfills).toBe(IN_FLIGHT)
    expect(info.stats.openConnections).toBe(0)
    figures.disconnectUnderLoad = { inFlight: IN_FLIGHT, handlerMs: 300, disconnectMs, allAnswered200: true }
  }, 20000)

  test('handlers that never settle: disconnect() resolves at the 5 s drain deadline (+ margin), finished requests get 200, the stuck ones a clean error, a warn line is logged', async () => {
    const { log, lines } = makeLog()
    const server = create(PluginHttp, { api: { log } })
    let hung = 0
    server.registerDataHandler(async (data) => {
      const prepare = Buffer.from(data)
      if (dataOf(prepare).startsWith('hang')) {
        hung++
        return new Promise(() => {})
      }
      await sleep(300)
      return fulfillFor(prepare)
    })
    const port = await connectAndListen(server)
    const stuck = []
    const finishing = []
    for (let i = 0; i < 8; i++) {
      // Expiry 30 s: only the drain deadline can end these.
      stuck.push(post(port, uniquePrepare({ tag: 'hang', expiresInMs: 30000 }), { timeoutMs: 10000 }))
      const prepare = uniquePrepare({ tag: 'slow', expiresInMs: 30000 })
      finishing.push(post(port, prepare, { timeoutMs: 10000 }).then((res) => ({ res, prepare })))
    }
    await withTimeout((async () => { while (hung < 8) await sleep(10) })(), 5000, 'requests did not arrive')

    const t0 = Date.now()
    await withTimeout(server.disconnect(), DRAIN_DEADLINE_MS + 3000, 'disconnect() did not resolve')
    const disconnectMs = Date.now() - t0
    const stuckResults = await Promise.all(stuck)
    const info = server.getAdminInfo()
    figures.disconnectAtDrainDeadline = {
      stuckRequests: 8,
      disconnectMs,
      stuckEndedWith: [...new Set(stuckResults.map((r) => (r.error ? r.error.code : r.status)))],
      incomingInFlightAfter: info.stats.incoming.inFlight
    }
    // The deadline is 5 s; allow 2 s for a loaded machine.
    expect(disconnectMs).toBeLessThan(DRAIN_DEADLINE_MS + 2000)

    for (const { res, prepare } of await Promise.all(finishing)) {
      expect(res.status).toBe(200)
      expect(res.body.equals(fulfillFor(prepare))).toBe(true)
    }
    for (const r of stuckResults) {
      // A clean end: the connection is closed (or a 5xx answer), never left hanging.
      if (r.error) expect(['ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE', 'EPIPE']).toContain(r.error.code)
      else expect(r.status).toBeGreaterThanOrEqual(500)
      expect(r.at - t0).toBeLessThan(DRAIN_DEADLINE_MS + 2000)
    }
    expect(await tcpConnects(port)).toBe(false)
    expect(lines.warn.join('\n')).toMatch(/connection/)
    expect(info.stats.incoming.inFlight).toBe(0)
    expect(info.stats.openConnections).toBe(0)
  }, 20000)
})

// ---------------------------------------------------------------------------------------------
// 5. many connect/disconnect cycles

describe('5. 1,000 connect/disconnect cycles', () => {
  test('one plugin, a request served every 100 cycles: no growth in threads, file descriptors or memory', async () => {
    const WARMUP = 50
    const CYCLES = 1000
    const plugin = create(PluginHttp)
    plugin.registerDataHandler((data) => fulfillFor(Buffer.from(data)))
    let served = 0
    const cycle = async (i) => {
      await plugin.connect()
      if (i % 100 === 0) {
        const prepare = uniquePrepare()
        const res = await post(plugin.port, prepare)
        expect(res.status).toBe(200)
        expect(res.body.equals(fulfillFor(prepare))).toBe(true)
        served++
      }
      await plugin.disconnect()
    }
    const settle = async () => {
      if (global.gc) global.gc()
      await sleep(200)
      if (global.gc) global.gc()
    }

    for (let i = 0; i < WARMUP; i++) await cycle(i)
    await settle()
    const before = processFigures()
    const t0 = Date.now()
    for (let i = 0; i < CYCLES; i++) await cycle(i)
    const cyclesMs = Date.now() - t0
    await settle()
    const after = processFigures()

    figures.connectDisconnectCycles = {
      cycles: CYCLES,
      warmupCycles: WARMUP,
      requestsServed: served,
      ms: cyclesMs,
      gcAvailable: typeof global.gc === 'function',
      before,
      after,
      rssGrowthMB: Math.round((after.rssMB - before.rssMB) * 10) / 10
    }
    expect(served).toBe(CYCLES / 100 + 1)
    expect(plugin.isConnected()).toBe(false)
    // A leak per cycle would show as hundreds; no growth at all is expected.
    expect(after.threads).toBeLessThanOrEqual(before.threads)
    expect(after.fds).toBeLessThanOrEqual(before.fds)
    expect(after.rssMB - before.rssMB).toBeLessThan(30)
  }, 20000)
})

// ---------------------------------------------------------------------------------------------
// 6. reconnecting at once on the same port

describe('6. reconnecting at once on the same port', () => {
  /** A handler that counts its calls. */
  const counting = () => {
    const h = (data) => {
      h.calls++
      return fulfillFor(Buffer.from(data))
    }
    h.calls = 0
    return h
  }
  const expectServed = async (port, opts) => {
    const prepare = uniquePrepare()
    const res = await post(port, prepare, opts)
    expect(res.error).toBeUndefined()
    expect(res.status).toBe(200)
    expect(res.body.equals(fulfillFor(prepare))).toBe(true)
  }

  test('connect, serve, disconnect, connect again at once on the same port (new instance, then the same one): no EADDRINUSE, serves again', async () => {
    const a = create(PluginHttp)
    const handlerA = counting()
    a.registerDataHandler(handlerA)
    const port = await connectAndListen(a)
    await expectServed(port)
    await a.disconnect()

    const b = create(PluginHttp, { port })
    const handlerB = counting()
    b.registerDataHandler(handlerB)
    await b.connect()
    expect(b.port).toBe(port)
    await expectServed(port)
    for (let round = 0; round < 5; round++) {
      await b.disconnect()
      await b.connect()
      expect(b.port).toBe(port)
      await expectServed(port)
    }
    expect(handlerA.calls).toBe(1)
    expect(handlerB.calls).toBe(6)
  })

  test('a keep-alive connection from before the disconnect gets a clean answer or a clean close, never reaches the new server, and a fresh connection is served', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    cleanups.push(() => agent.destroy())
    const oldConnections = []

    const a = create(PluginHttp)
    const handlerA = counting()
    a.registerDataHandler(handlerA)
    const port = await connectAndListen(a)
    await expectServed(port, { agent })
    await a.disconnect()

    // A new instance on the same port at once, then the same instance again.
    const b = create(PluginHttp, { port })
    const handlerB = counting()
    b.registerDataHandler(handlerB)
    for (let round = 0; round < 2; round++) {
      if (round === 1) {
        await b.disconnect()
        await b.connect()
      } else {
        await b.connect()
      }
      const callsBefore = handlerA.calls + handlerB.calls
      // The agent's pooled socket belongs to the previous server. Either that server closed it
      // (the agent drops it and opens a new one, served by the new server: 200), or the request
      // goes on the old socket and gets a clean 502 or a reset, within 2 s, not a hang.
      const prepare = uniquePrepare()
      const r = await post(port, prepare, { agent, timeoutMs: 2000 })
      oldConnections.push(r.error ? r.error.code : `${r.status}${r.reusedSocket ? ' (old socket)' : ' (new socket)'}`)
      if (r.error) {
        expect(['ECONNRESET', 'EPIPE']).toContain(r.error.code)
        expect(handlerA.calls + handlerB.calls).toBe(callsBefore)
      } else if (r.reusedSocket) {
        expect(r.status).toBe(502)
        expect(handlerA.calls + handlerB.calls).toBe(callsBefore)
      } else {
        expect(r.status).toBe(200)
        expect(r.body.equals(fulfillFor(prepare))).toBe(true)
      }
      // A fresh connection is served by the new server; so is the agent's next request.
      await expectServed(port)
      await expectServed(port, { agent })
    }
    expect(handlerA.calls).toBe(1)
    expect(b.getAdminInfo().stats.incoming.inFlight).toBe(0)
    figures.reconnectWithOldKeepAlive = { ...figures.reconnectWithOldKeepAlive, agentOutcomes: oldConnections }
  })

  test('an idle keep-alive connection (raw socket) from before the disconnect is closed by the server or answered 502 within 2 s, never served by the new instance', async () => {
    const a = create(PluginHttp)
    const handlerA = counting()
    a.registerDataHandler(handlerA)
    const port = await connectAndListen(a)
    const old = await rawConnection(port)
    const first = uniquePrepare()
    const served = await old.send(first)
    expect(served.status).toBe(200)
    expect(served.body.equals(fulfillFor(first))).toBe(true)

    await a.disconnect()
    const b = create(PluginHttp, { port })
    const handlerB = counting()
    b.registerDataHandler(handlerB)
    await b.connect()

    // The old connection is idle: the server that owned it is gone, so it should be closed.
    // If it is still open after 1 s, a request on it must get a clean 502 or a close, in 2 s.
    await Promise.race([old.closed, sleep(1000)])
    let outcome = 'closed by the server within 1 s'
    if (!old.isClosed()) {
      const r = await withTimeout(old.send(uniquePrepare()), 2000, 'the old connection neither answered nor closed')
      if (r.closed) {
        outcome = 'closed when used'
      } else {
        expect(r.status).toBe(502)
        outcome = 'answered 502'
      }
    }
    expect(handlerA.calls).toBe(1)
    expect(handlerB.calls).toBe(0)
    await expectServed(port)
    expect(handlerB.calls).toBe(1)
    figures.reconnectWithOldKeepAlive = { ...figures.reconnectWithOldKeepAlive, rawIdleConnection: outcome }
  })
})

// ---------------------------------------------------------------------------------------------
// 7. which failures on a reused keep-alive connection are sent again (src/client/http1.rs)

describe('7. a request failing on a reused keep-alive connection', () => {
  /**
   * A raw HTTP/1.1 peer on one keep-alive connection: answers the first request with a Fulfill,
   * then does `second(socket)` on the second request. Counts the requests it fully received.
   */
  async function scriptedPeer (second) {
    const seen = []
    const peer = await startTcpPeer((socket) => {
      let buffered = Buffer.alloc(0)
      socket.on('data', (chunk) => {
        buffered = Buffer.concat([buffered, chunk])
        const requests = parseHttpMessages(buffered)
        if (requests.length > 0) buffered = buffered.subarray(requests[requests.length - 1].end)
        for (const { body } of requests) {
          seen.push(body)
          if (seen.length === 2) return second(socket)
          const reply = fulfillFor(body)
          socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${reply.length}\r\n\r\n`)
          socket.write(reply)
        }
      })
    })
    cleanups.push(peer.close)
    return { port: peer.port, seen }
  }

  async function clientTo (port) {
    const client = create(PluginHttp, { url: `http://127.0.0.1:${port}/` })
    await connectAndListen(client)
    const first = uniquePrepare()
    expect((await client.sendData(first)).equals(fulfillFor(first))).toBe(true)
    return client
  }

  test('closed with nothing answered: sent again on a new connection and fulfilled', async () => {
    const peer = await scriptedPeer((socket) => socket.destroy())
    const client = await clientTo(peer.port)
    const prepare = uniquePrepare()
    expect((await client.sendData(prepare)).equals(fulfillFor(prepare))).toBe(true)
    // Received on the old connection (dropped unanswered), then again on a fresh one.
    expect(peer.seen.map((b) => b.equals(prepare))).toEqual([false, true, true])
  })

  test('closed after part of an answer: not sent again, rejects T01', async () => {
    const peer = await scriptedPeer((socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Le'))
    const client = await clientTo(peer.port)
    const prepare = uniquePrepare()
    const error = await rejectionOf(client.sendData(prepare))
    expect(error.ilpErrorCode).toBe('T01')
    await sleep(200)
    expect(peer.seen.length).toBe(2)
  })
})
