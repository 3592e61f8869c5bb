'use strict'
// Hardening, part 1: hostile HTTP clients against our server (a PluginHttp on 127.0.0.1:0 with a
// static token and a data handler answering a Fulfill). None of these may crash the process, leak
// connections, file descriptors or memory, or hold up well-behaved requests:
//
//   a. slow headers (headersTimeout)          f. malformed HTTP/1 (bad syntax, smuggling)
//   b. slow bodies (bodyTimeout, 408)         g. malformed HTTP/2 frames after the h2c preface
//   c. 10,000 idle connections (a child)      h. random bytes (fixed seed)
//   d. oversized headers (431)                i. clients aborting mid-request (leaks)
//   e. bodies over the limit (413)            j. the connection cap (maxConnections)
//
// and, last, that the jest process's RSS and file descriptor count did not grow over the suite.
//
// "Well-behaved requests are not delayed by more than a few ms" is checked with a generous bound
// (PROMPT_MS: an authorized POST on a fresh connection answered 200 within 1 s while the hostile
// load runs), because these tests run on a loaded 2-core machine.
//
// Options used here: incoming.headersTimeout, incoming.bodyTimeout, incoming.maxConnections (see
// the README). Short values keep each test to a few seconds.
//
// Measured figures (latencies, outcomes, times to close, server counters, RSS and fds) go to
// /tmp/hostile-figures.json (jest hides console output); they are recorded before the assertions,
// so a failing run still leaves its figures. The lead copies them into docs/reliability.md.
const http2 = require('http2')
const path = require('path')
const { fork } = require('child_process')
const {
  PluginHttp,
  UNUSED_OUTGOING_URL,
  MAX_PREPARE_LENGTH,
  makePrepare,
  makeFulfill,
  largestPrepare,
  disconnectAll,
  writeFigures,
  median,
  spread,
  fdCount,
  sleep,
  waitFor,
  settleWithin,
  request,
  h2Request,
  rawConnect,
  exchange,
  trickle,
  parseResponses,
  postHead,
  chunkedBody,
  destroySockets,
  H2_START,
  FRAME,
  FLAG,
  H2_ERROR,
  H2_ERROR_NAMES,
  h2Frame,
  requestBlock,
  parseFrames,
  goawayOf,
  h2Exchange,
  prng,
  randomBytes
} = require('./support')

const STATIC_TOKEN = 'hostile-t0ken-Vb7Kq2'
const AUTH = 'Bearer ' + STATIC_TOKEN
/** Never contacted: only the incoming side is exercised. */
const OUTGOING = { url: UNUSED_OUTGOING_URL, staticToken: 'outgoing-unused' }
const FULFILL = makeFulfill(Buffer.from('hostile-suite-fulfill'))
/** Marks the Prepares of well-behaved requests, to tell their handler calls from hostile ones. */
const WELL_MARK = Buffer.from('well-behaved-request')
/** Generous bound for "not delayed": a well-behaved request answered within 1 s. */
const PROMPT_MS = 1000
const FIXTURE = path.join(__dirname, 'fixtures', 'idle-connections.js')
const FIGURES_FILE = '/tmp/hostile-figures.json'

/** Figures measured by the tests below, written to FIGURES_FILE after the run. */
const figures = {}

// Every test is bounded well below this; it only catches a hang.
jest.setTimeout(20000)

// ---------------------------------------------------------------------------------------------
// Teardown bookkeeping: everything a test opens is closed after it, also when it fails.

let plugins = []
const timers = new Set()
const children = new Set()
const sessions = new Set()
const cleanups = []

afterEach(async () => {
  for (const timer of timers) clearInterval(timer)
  timers.clear()
  for (const cleanup of cleanups.splice(0)) {
    try { await cleanup() } catch (e) {}
  }
  destroySockets()
  for (const session of sessions) session.destroy()
  sessions.clear()
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
    }
  }
  children.clear()
  const ps = plugins
  plugins = []
  await disconnectAll(ps)
})

afterAll(() => {
  writeFigures(FIGURES_FILE, figures)
})

// ---------------------------------------------------------------------------------------------
// Small utilities

const range = (n) => Array.from({ length: n }, (_, i) => i)

function openConnections (plugin) {
  return plugin.getAdminInfo().stats.openConnections
}

/** Samples the server's open-connection count every `everyMs`; `stop()` returns the maximum. */
function sampleOpenConnections (plugin, everyMs = 5) {
  let max = openConnections(plugin)
  const timer = setInterval(() => { max = Math.max(max, openConnections(plugin)) }, everyMs)
  timers.add(timer)
  return {
    stop () {
      clearInterval(timer)
      timers.delete(timer)
      return Math.max(max, openConnections(plugin))
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Figures (see FIGURES_FILE)

/** The figures of one scenario (`key`, e.g. 'a_slowHeaders'), created on first use. */
function figuresOf (key) {
  if (!figures[key]) figures[key] = {}
  return figures[key]
}

/** RSS of this (the jest) process, in MB with one decimal. */
function rssMB () {
  return Math.round(process.memoryUsage().rss / (1024 * 1024) * 10) / 10
}

/** Counts of each value: `{ value: count }`. */
function tally (values) {
  const counts = {}
  for (const v of values) counts[v] = (counts[v] || 0) + 1
  return counts
}

/** Well-behaved results: how many, how many answered 200 with the Fulfill, max and median ms. */
function latency (results) {
  const ms = results.map((r) => r.ms)
  return {
    count: results.length,
    ok: results.filter((r) => r.status === 200 && r.body && r.body.equals(FULFILL)).length,
    maxMs: ms.length ? Math.max(...ms) : null,
    medianMs: median(ms)
  }
}

/** The server's connection counters from getAdminInfo().stats. */
function serverStats (plugin) {
  const { openConnections, connectionsClosedIdle, connectionsClosedForRoom } = plugin.getAdminInfo().stats
  return { openConnections, connectionsClosedIdle, connectionsClosedForRoom }
}

/** What a raw HTTP/1 client saw: the statuses answered, else 'closed' / 'closed (CODE)' / 'open'. */
function outcome ({ statuses, closed, error }) {
  if (statuses.length > 0) return statuses.join(',')
  if (closed) return error ? `closed (${error})` : 'closed'
  return 'open'
}

/**
 * Records one case of a table test under figures[key].cases[name], and counts its `outcome` in
 * figures[key].outcomes. Returns the case's figure (the test may add to it).
 */
function recordCase (key, name, figure) {
  const group = figuresOf(key)
  if (!group.cases) {
    group.outcomes = {}
    group.cases = {}
  }
  group.cases[name] = figure
  group.outcomes[figure.outcome] = (group.outcomes[figure.outcome] || 0) + 1
  return figure
}

// ---------------------------------------------------------------------------------------------
// The server under test

/**
 * A plugin on 127.0.0.1:0 with `incoming` options added. Every handler call's body is recorded
 * in `calls`; `handler(data)` (default: answer FULFILL) decides the answer.
 */
async function startServer ({ incoming = {}, handler } = {}) {
  const calls = []
  const plugin = new PluginHttp({
    incoming: { port: 0, host: '127.0.0.1', staticToken: STATIC_TOKEN, ...incoming },
    outgoing: OUTGOING
  })
  plugins.push(plugin)
  plugin.registerDataHandler(async (data) => {
    calls.push(Buffer.from(data))
    return handler ? handler(data) : FULFILL
  })
  await plugin.connect()
  return { plugin, port: plugin.port, calls }
}

/** Handler calls that did not come from a well-behaved request. */
function hostileCalls (calls) {
  return calls.filter((body) => !body.includes(WELL_MARK))
}

/**
 * One well-behaved request: an authorized POST of a Prepare on a fresh connection. Resolves
 * `{ status, body, ms }` or `{ error, ms }` (never rejects; `timeoutMs` bounds it).
 */
async function wellBehaved (port, { timeoutMs = 5000 } = {}) {
  const result = await request(port, {
    headers: { Authorization: AUTH, 'Content-Type': 'application/ilp+octet-stream' },
    body: makePrepare({ data: WELL_MARK }),
    timeoutMs,
    settled: true
  })
  return result.error
    ? { ms: result.ms, error: result.error.code === 'TIMEOUT' ? result.error.message : (result.error.code || result.error.message) }
    : { ms: result.ms, status: result.status, body: result.body }
}

/** A readable summary of a well-behaved result, for assertions with useful failure output. */
function summary (result) {
  return {
    status: result.status,
    error: result.error,
    fulfill: Boolean(result.body && result.body.equals(FULFILL)),
    prompt: result.ms < PROMPT_MS
  }
}
const PROMPT_OK = { status: 200, error: undefined, fulfill: true, prompt: true }

/**
 * Asserts that a well-behaved request on a fresh connection is answered 200 within PROMPT_MS;
 * returns the result (for the figures).
 */
async function expectPromptlyServed (port) {
  const result = await wellBehaved(port)
  expect(summary(result)).toEqual(PROMPT_OK)
  return result
}

/** The same over h2c (Node's http2 client), on a fresh session. */
async function wellBehavedH2 (port, { timeoutMs = 5000 } = {}) {
  const started = Date.now()
  const outcome = await settleWithin(h2Request(`http://127.0.0.1:${port}`, {
    headers: { authorization: AUTH, 'content-type': 'application/ilp+octet-stream' },
    body: makePrepare({ data: WELL_MARK }),
    timeoutMs
  }))
  const ms = Date.now() - started
  if (!outcome.ok) {
    const { error } = outcome
    return { ms, error: error.code === 'TIMEOUT' ? error.message : (error.code || error.message) }
  }
  return { ms, status: outcome.value.status, body: outcome.value.body }
}

async function expectPromptlyServedH2 (port) {
  const result = await wellBehavedH2(port)
  expect(summary(result)).toEqual(PROMPT_OK)
  return result
}

/**
 * Well-behaved requests, one after another (a pause of `everyMs` between them), while a hostile
 * load runs. `stop()` resolves with every result.
 */
function servedMeanwhile (port, everyMs = 200) {
  const results = []
  let running = true
  const loop = (async () => {
    while (running) {
      results.push(await wellBehaved(port))
      if (running) await sleep(everyMs)
    }
  })()
  cleanups.push(() => { running = false; return loop })
  return {
    async stop () {
      running = false
      await loop
      return results
    }
  }
}

/** Asserts at least one well-behaved request ran and each was answered 200 within PROMPT_MS. */
function expectAllPromptlyServed (results) {
  expect(results.length).toBeGreaterThan(0)
  const bad = results.map((r, i) => ({ i, ms: r.ms, ...summary(r) }))
    .filter((r) => r.status !== 200 || r.error !== undefined || !r.fulfill || !r.prompt)
  expect(bad).toEqual([])
}

// ---------------------------------------------------------------------------------------------
// HTTP/2 frames, by hand (support/h2frames.js)

/** A valid request header block: POST http://127.0.0.1/ with our Authorization. */
const REQUEST_BLOCK = requestBlock(AUTH)

// ---------------------------------------------------------------------------------------------
// Suite-wide baseline: RSS and file descriptors after a warm-up (the tokio runtime, the first
// server and client sessions allocate once; those are not leaks).

let baseline

beforeAll(async () => {
  const { port } = await startServer()
  await expectPromptlyServed(port)
  await expectPromptlyServedH2(port)
  await disconnectAll(plugins.splice(0))
  await sleep(100)
  baseline = { rss: process.memoryUsage().rss, fds: fdCount() }
  figuresOf('suite').baseline = { rssMB: rssMB(), fds: baseline.fds }
})

// ---------------------------------------------------------------------------------------------

describe('a. slow headers (incoming.headersTimeout)', () => {
  const HEADERS_TIMEOUT = 1000

  test('heads sent one byte per 200 ms are closed without a response after headersTimeout; others are served meanwhile', async () => {
    const { plugin, port, calls } = await startServer({ incoming: { headersTimeout: HEADERS_TIMEOUT } })
    const sampler = sampleOpenConnections(plugin)
    const prepare = makePrepare()
    const request = Buffer.concat([postHead({ auth: AUTH, length: prepare.length }), prepare])
    const slow = await Promise.all(range(20).map(() => rawConnect(port)))
    for (const conn of slow) trickle(conn, request, 200)
    const meanwhile = servedMeanwhile(port)

    await waitFor(() => slow.every((c) => c.closed), HEADERS_TIMEOUT + 4000)
    const results = await meanwhile.stop()
    figuresOf('a_slowHeaders').trickledHeads = {
      headersTimeoutMs: HEADERS_TIMEOUT,
      connections: slow.length,
      outcomes: tally(slow.map((c) => c.closed ? (c.data().length ? 'closed after a response' : 'closed without a response') : 'open')),
      closedAfterMs: spread(slow.map((c) => c.lifetime())),
      wellBehaved: latency(results),
      maxOpenConnections: sampler.stop(),
      handlerCallsFromHostile: hostileCalls(calls).length,
      server: serverStats(plugin)
    }

    // Every slow client was cut off by the server, about headersTimeout after it connected,
    // without a response (and long before its 20+ s head could have been completed).
    expect(slow.filter((c) => !c.closed).length).toBe(0)
    for (const conn of slow) {
      expect(conn.data().length).toBe(0)
      expect(conn.lifetime()).toBeGreaterThanOrEqual(HEADERS_TIMEOUT - 200)
      expect(conn.lifetime()).toBeLessThan(HEADERS_TIMEOUT + 3000)
    }
    expect(hostileCalls(calls)).toEqual([])
    expectAllPromptlyServed(results)
  })

  test('a connection that sends nothing at all is closed after headersTimeout', async () => {
    const { plugin, port } = await startServer({ incoming: { headersTimeout: HEADERS_TIMEOUT } })
    const silent = await Promise.all(range(10).map(() => rawConnect(port)))
    await waitFor(() => silent.every((c) => c.closed), HEADERS_TIMEOUT + 4000)
    figuresOf('a_slowHeaders').silentConnections = {
      headersTimeoutMs: HEADERS_TIMEOUT,
      connections: silent.length,
      outcomes: tally(silent.map((c) => c.closed ? (c.data().length ? 'closed after a response' : 'closed without a response') : 'open')),
      closedAfterMs: spread(silent.map((c) => c.lifetime())),
      server: serverStats(plugin)
    }
    for (const conn of silent) {
      expect(conn.closed).toBe(true)
      expect(conn.data().length).toBe(0)
      expect(conn.lifetime()).toBeGreaterThanOrEqual(HEADERS_TIMEOUT - 200)
      expect(conn.lifetime()).toBeLessThan(HEADERS_TIMEOUT + 3000)
    }
    expect(await waitFor(() => openConnections(plugin) === 0, 2000)).toBe(true)
  })

  test('an idle keep-alive connection is closed headersTimeout after its last response', async () => {
    const { plugin, port } = await startServer({ incoming: { headersTimeout: HEADERS_TIMEOUT } })
    const prepare = makePrepare()
    const conn = await rawConnect(port)
    conn.socket.write(Buffer.concat([postHead({ auth: AUTH, length: prepare.length }), prepare]))
    expect(await waitFor(() => parseResponses(conn.data()).length === 1, 3000)).toBe(true)
    const answeredAt = Date.now()
    expect(parseResponses(conn.data())[0].status).toBe(200)

    await waitFor(() => conn.closed, HEADERS_TIMEOUT + 4000)
    figuresOf('a_slowHeaders').idleKeepAlive = {
      headersTimeoutMs: HEADERS_TIMEOUT,
      statuses: parseResponses(conn.data()).map((r) => r.status),
      closed: conn.closed,
      closedAfterLastResponseMs: conn.closed ? conn.closedAt - answeredAt : null,
      server: serverStats(plugin)
    }
    expect(conn.closed).toBe(true)
    const idleFor = conn.closedAt - answeredAt
    expect(idleFor).toBeGreaterThanOrEqual(HEADERS_TIMEOUT - 200)
    expect(idleFor).toBeLessThan(HEADERS_TIMEOUT + 3000)
    expect(parseResponses(conn.data()).length).toBe(1) // nothing sent on close
  })

  test('an h2c connection with no request in flight gets GOAWAY and is closed after headersTimeout', async () => {
    const { plugin, port } = await startServer({ incoming: { headersTimeout: HEADERS_TIMEOUT } })
    const conn = await rawConnect(port)
    conn.socket.write(Buffer.concat([H2_START, h2Frame(FRAME.SETTINGS, FLAG.ACK, 0)]))
    await waitFor(() => conn.closed, HEADERS_TIMEOUT + 4000)
    figuresOf('a_slowHeaders').idleH2c = {
      headersTimeoutMs: HEADERS_TIMEOUT,
      closed: conn.closed,
      closedAfterMs: conn.lifetime(),
      goaway: goawayOf(parseFrames(conn.data())),
      server: serverStats(plugin)
    }
    expect(conn.closed).toBe(true)
    expect(conn.lifetime()).toBeGreaterThanOrEqual(HEADERS_TIMEOUT - 200)
    expect(conn.lifetime()).toBeLessThan(HEADERS_TIMEOUT + 3000)
    // A graceful GOAWAY (h2 announces stream 2^31-1 first, then closes).
    const goaway = goawayOf(parseFrames(conn.data()))
    expect(goaway).not.toBeNull()
    expect(goaway.errorCode).toBe(H2_ERROR.NO_ERROR)
  })

  test('heads completed within headersTimeout are served, and a handler slower than both timeouts is still answered (HTTP/1.1 and h2c)', async () => {
    const { port } = await startServer({
      incoming: { headersTimeout: HEADERS_TIMEOUT, bodyTimeout: 1000 },
      handler: async (data) => {
        if (data.includes(Buffer.from('slow-handler'))) await sleep(1500)
        return FULFILL
      }
    })
    // The head in three pieces over ~600 ms, then the body: in time.
    const prepare = makePrepare()
    const head = postHead({ auth: AUTH, length: prepare.length })
    const conn = await rawConnect(port)
    const third = Math.floor(head.length / 3)
    conn.socket.write(head.subarray(0, third))
    await sleep(300)
    conn.socket.write(head.subarray(third, 2 * third))
    await sleep(300)
    conn.socket.write(Buffer.concat([head.subarray(2 * third), prepare]))
    expect(await waitFor(() => parseResponses(conn.data()).length === 1, 3000)).toBe(true)
    expect(parseResponses(conn.data())[0].status).toBe(200)
    const figure = figuresOf('a_slowHeaders').inTime = {
      headersTimeoutMs: HEADERS_TIMEOUT,
      bodyTimeoutMs: 1000,
      headInThreePiecesStatus: parseResponses(conn.data())[0].status
    }

    // A request in flight longer than headersTimeout/bodyTimeout is not cut off.
    const slowPrepare = makePrepare({ data: Buffer.from('slow-handler') })
    const slowConn = await rawConnect(port)
    slowConn.socket.write(Buffer.concat([postHead({ auth: AUTH, length: slowPrepare.length }), slowPrepare]))
    expect(await waitFor(() => parseResponses(slowConn.data()).length === 1, 5000)).toBe(true)
    figure.slowHandlerH1 = { handlerMs: 1500, status: parseResponses(slowConn.data())[0].status, answeredAfterMs: Date.now() - slowConn.openedAt }
    const [res] = parseResponses(slowConn.data())
    expect(res.status).toBe(200)
    expect(res.body.equals(FULFILL)).toBe(true)

    // The same over h2c: the session has a request in flight, so no GOAWAY.
    const session = http2.connect(`http://127.0.0.1:${port}`)
    sessions.add(session)
    let goaway = false
    session.on('goaway', () => { goaway = true })
    session.on('error', () => {})
    const h2Started = Date.now()
    const answer = await new Promise((resolve) => {
      const req = session.request({ ':method': 'POST', ':path': '/', authorization: AUTH })
      let status
      const chunks = []
      req.on('response', (h) => { status = h[':status'] })
      req.on('data', (c) => chunks.push(c))
      req.on('end', () => resolve({ status, body: Buffer.concat(chunks) }))
      req.on('error', (err) => resolve({ error: err.code }))
      req.end(makePrepare({ data: Buffer.from('slow-handler') }))
    })
    figure.slowHandlerH2c = { handlerMs: 1500, status: answer.status, error: answer.error, answeredAfterMs: Date.now() - h2Started, goaway }
    expect(answer.status).toBe(200)
    expect(answer.body.equals(FULFILL)).toBe(true)
    expect(goaway).toBe(false)
  })
})

describe('b. slow bodies (incoming.bodyTimeout)', () => {
  const BODY_TIMEOUT = 1000

  /** Sends the head at once, then the body one byte every 200 ms; waits for the 408 and close. */
  async function slowBody (port, { chunked = false } = {}) {
    const prepare = makePrepare()
    const body = chunked ? chunkedBody(prepare) : prepare
    const conn = await rawConnect(port)
    conn.socket.write(postHead({ auth: AUTH, length: prepare.length, chunked }))
    const headSentAt = Date.now()
    trickle(conn, body, 200)
    await waitFor(() => conn.closed, BODY_TIMEOUT + 4000)
    return { conn, headSentAt }
  }

  /** The figures of slow-body clients: statuses seen, close time after the head was sent. */
  function slowBodyFigures (slow) {
    return {
      bodyTimeoutMs: BODY_TIMEOUT,
      connections: slow.length,
      outcomes: tally(slow.map(({ conn }) => outcome({ statuses: parseResponses(conn.data()).map((r) => r.status), closed: conn.closed }))),
      closedAfterHeadMs: spread(slow.map(({ conn, headSentAt }) => conn.closed ? conn.closedAt - headSentAt : null))
    }
  }

  function expect408AndClose ({ conn, headSentAt }) {
    const responses = parseResponses(conn.data())
    expect(responses.map((r) => r.status)).toEqual([408])
    expect(conn.closed).toBe(true)
    const after = conn.closedAt - headSentAt
    expect(after).toBeGreaterThanOrEqual(BODY_TIMEOUT - 200)
    expect(after).toBeLessThan(BODY_TIMEOUT + 3000)
  }

  test('a Content-Length body sent one byte per 200 ms gets 408 and the connection is closed; others are served meanwhile', async () => {
    const { plugin, port, calls } = await startServer({ incoming: { bodyTimeout: BODY_TIMEOUT } })
    const sampler = sampleOpenConnections(plugin)
    const meanwhile = servedMeanwhile(port)
    const slow = await Promise.all(range(10).map(() => slowBody(port)))
    const results = await meanwhile.stop()
    figuresOf('b_slowBodies').contentLength = {
      ...slowBodyFigures(slow),
      wellBehaved: latency(results),
      maxOpenConnections: sampler.stop(),
      handlerCallsFromHostile: hostileCalls(calls).length,
      server: serverStats(plugin)
    }
    for (const s of slow) expect408AndClose(s)
    expect(hostileCalls(calls)).toEqual([])
    expectAllPromptlyServed(results)
  })

  test('a chunked body sent one byte per 200 ms gets 408 and the connection is closed', async () => {
    const { plugin, port, calls } = await startServer({ incoming: { bodyTimeout: BODY_TIMEOUT } })
    const slow = await slowBody(port, { chunked: true })
    const figure = figuresOf('b_slowBodies').chunked = { ...slowBodyFigures([slow]), server: serverStats(plugin) }
    expect408AndClose(slow)
    expect(hostileCalls(calls)).toEqual([])
    figure.wellBehavedAfterMs = (await expectPromptlyServed(port)).ms
  })

  test('a head announcing a body that never comes gets 408 and the connection is closed', async () => {
    const { plugin, port, calls } = await startServer({ incoming: { bodyTimeout: BODY_TIMEOUT } })
    const conn = await rawConnect(port)
    conn.socket.write(postHead({ auth: AUTH, length: 500 }))
    const headSentAt = Date.now()
    await waitFor(() => conn.closed, BODY_TIMEOUT + 4000)
    figuresOf('b_slowBodies').bodyNeverSent = { ...slowBodyFigures([{ conn, headSentAt }]), server: serverStats(plugin) }
    expect408AndClose({ conn, headSentAt })
    expect(hostileCalls(calls)).toEqual([])
  })

  test('a body delivered in pieces within bodyTimeout is served', async () => {
    const { port, calls } = await startServer({ incoming: { bodyTimeout: BODY_TIMEOUT } })
    const prepare = makePrepare()
    const conn = await rawConnect(port)
    conn.socket.write(postHead({ auth: AUTH, length: prepare.length }))
    const half = Math.floor(prepare.length / 2)
    await sleep(250)
    conn.socket.write(prepare.subarray(0, half))
    await sleep(250)
    conn.socket.write(prepare.subarray(half))
    expect(await waitFor(() => parseResponses(conn.data()).length === 1, 3000)).toBe(true)
    figuresOf('b_slowBodies').bodyInTime = { bodyTimeoutMs: BODY_TIMEOUT, piecesEveryMs: 250, status: parseResponses(conn.data())[0].status }
    expect(parseResponses(conn.data())[0].status).toBe(200)
    expect(calls.length).toBe(1)
    expect(calls[0].equals(prepare)).toBe(true)
  })
})

describe('c. 10,000 idle connections (from a child process)', () => {
  test('well-behaved requests are served meanwhile, the server never holds more than the default cap (4096), and all are released after', async () => {
    const N = 10000
    const CAP = 4096 // the default incoming.maxConnections
    const { plugin, port } = await startServer()
    const before = { rssMB: rssMB(), fds: fdCount() }
    const startedAt = Date.now()
    const sampler = sampleOpenConnections(plugin, 10)
    const child = fork(FIXTURE, [String(port), String(N), '200'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    children.add(child)
    let last = null
    let opened = false
    let closed = false
    child.on('message', (m) => {
      last = m
      if (m.type === 'opened') opened = true
      if (m.type === 'closed') closed = true
    })
    const meanwhile = servedMeanwhile(port, 250)

    const allAttempted = await waitFor(() => opened, 10000)
    const allAttemptedMs = Date.now() - startedAt
    // The server drains its accept backlog, closing idle connections to stay at the cap.
    await waitFor(() => last && last.open <= CAP, 3000)
    const results = await meanwhile.stop()
    const maxOpen = sampler.stop()
    const atPeak = { ...last }
    const peak = { rssMB: rssMB(), fds: fdCount(), server: serverStats(plugin) }

    child.send('close')
    await waitFor(() => closed, 3000)
    const released = await waitFor(() => openConnections(plugin) <= 1, 3000)
    // Only for the figures: give the fds a moment to go back (the assertions above are unchanged).
    await waitFor(() => fdCount() <= before.fds + 3, 2000)
    const figure = figures.c_idleConnections = {
      attempted: N,
      defaultCap: CAP,
      childConcurrency: 200,
      allAttemptedMs: allAttempted ? allAttemptedMs : null,
      child: {
        connected: atPeak.opened,
        failed: atPeak.failed,
        closedByServer: atPeak.closedByServer,
        stillOpenAtPeak: atPeak.open,
        errors: atPeak.errors
      },
      maxOpenConnections: maxOpen,
      wellBehaved: latency(results),
      jestProcess: {
        before,
        atPeak: { rssMB: peak.rssMB, fds: peak.fds },
        after: { rssMB: rssMB(), fds: fdCount() }
      },
      serverAtPeak: peak.server,
      serverAfter: serverStats(plugin),
      releasedAfterClose: released
    }

    expect(allAttempted).toBe(true)
    expect({ opened: atPeak.opened, failed: atPeak.failed }).toEqual({ opened: N, failed: 0 })
    // What the child still holds is within the cap: the rest were closed by the server.
    expect(atPeak.open).toBeLessThanOrEqual(CAP)
    expect(atPeak.closedByServer).toBeGreaterThanOrEqual(N - CAP)
    expect(maxOpen).toBeLessThanOrEqual(CAP)
    expectAllPromptlyServed(results)
    expect(closed).toBe(true)
    expect(released).toBe(true)
    figure.wellBehavedAfterMs = (await expectPromptlyServed(port)).ms
  }, 25000)
})

describe('d. oversized headers', () => {
  /** 431 (or a clean 400, or a close without a response), never the handler. */
  function expectRefusedHead ({ statuses, closed }) {
    if (statuses.length === 0) expect(closed).toBe(true)
    else expect([[431], [400]]).toContainEqual(statuses)
  }

  test.each([
    ['one 100 KiB header', 'X-Big: ' + 'a'.repeat(100 * 1024) + '\r\n'],
    ['one 1 MiB header', 'X-Big: ' + 'a'.repeat(1024 * 1024) + '\r\n'],
    ['200 headers', range(200).map((i) => `X-H${i}: ${i}\r\n`).join('')],
    ['a 100 KiB request target', null]
  ])('%s -> 431 (or 400/close), handler not called, server keeps serving', async (name, extra) => {
    const { port, calls } = await startServer()
    const prepare = makePrepare()
    const head = extra === null
      ? Buffer.from(postHead({ auth: AUTH, length: prepare.length }).toString('latin1').replace('POST / ', 'POST /' + 'p'.repeat(100 * 1024) + ' '), 'latin1')
      : postHead({ auth: AUTH, length: prepare.length, extra })
    const sentAt = Date.now()
    const result = await exchange(port, Buffer.concat([head, prepare]))
    const figure = recordCase('d_oversizedHeaders', name, {
      outcome: outcome(result),
      closed: result.closed,
      answeredOrClosedAfterMs: Date.now() - sentAt,
      handlerCalls: calls.length
    })
    expectRefusedHead(result)
    expect(calls).toEqual([])
    figure.wellBehavedAfterMs = (await expectPromptlyServed(port)).ms
  })
})

describe('e. bodies over the limit (33,857 bytes)', () => {
  /** POST with Node's client; resolves even when the server answers before the body is sent. */
  const post = (port, body, { chunked = false } = {}) => request(port, { headers: { Authorization: AUTH }, body, chunked })

  test.each([
    ['1 MiB with Content-Length', 1024 * 1024, false],
    ['1 MiB chunked', 1024 * 1024, true],
    ['40,000 bytes with Content-Length', 40000, false],
    ['40,000 bytes chunked', 40000, true],
    ['33,858 bytes (one over) with Content-Length', MAX_PREPARE_LENGTH + 1, false],
    ['33,858 bytes (one over) chunked', MAX_PREPARE_LENGTH + 1, true]
  ])('%s -> 413, handler not called, server keeps serving', async (name, size, chunked) => {
    const { port, calls } = await startServer()
    const sentAt = Date.now()
    const res = await post(port, Buffer.alloc(size, 0x41), { chunked })
    const figure = recordCase('e_bodyLimit', name, {
      outcome: String(res.status),
      bodyBytes: size,
      answeredAfterMs: Date.now() - sentAt,
      handlerCalls: calls.length
    })
    expect(res.status).toBe(413)
    expect(calls).toEqual([])
    figure.wellBehavedAfterMs = (await expectPromptlyServed(port)).ms
  })

  test.each([['Content-Length', false], ['chunked', true]])('the largest valid Prepare (33,857 bytes, %s) is accepted and passed on exactly', async (name, chunked) => {
    const { port, calls } = await startServer()
    const prepare = largestPrepare()
    expect(prepare.length).toBe(MAX_PREPARE_LENGTH)
    const sentAt = Date.now()
    const res = await post(port, prepare, { chunked })
    recordCase('e_bodyLimit', `largest valid Prepare (${name})`, {
      outcome: String(res.status),
      bodyBytes: prepare.length,
      answeredAfterMs: Date.now() - sentAt,
      handlerCalls: calls.length,
      passedOnExactly: calls.length === 1 && calls[0].equals(prepare)
    })
    expect(res.status).toBe(200)
    expect(res.body.equals(FULFILL)).toBe(true)
    expect(calls.length).toBe(1)
    expect(calls[0].equals(prepare)).toBe(true)
  })
})

describe('f. malformed HTTP/1', () => {
  const prepare = makePrepare({ data: Buffer.from('malformed-case') })
  const P = prepare.toString('latin1')
  const auth = `Authorization: ${AUTH}\r\n`
  const cl = `Content-Length: ${prepare.length}\r\n`

  test.each([
    ['request line: garbage', 'GARBAGE\r\n\r\n'],
    ['request line: no version', `POST /\r\n${auth}${cl}\r\n${P}`],
    ['request line: unknown version', `POST / HTTP/7.1\r\nHost: a\r\n${auth}${cl}\r\n${P}`],
    ['request line: space in the target', `POST /a b HTTP/1.1\r\nHost: a\r\n${auth}${cl}\r\n${P}`],
    ['request line: NUL in the method', `PO\x00ST / HTTP/1.1\r\nHost: a\r\n${auth}${cl}\r\n${P}`],
    ['request line: only spaces', '     \r\n\r\n'],
    ['header without a colon', `POST / HTTP/1.1\r\nHost a\r\n${auth}${cl}\r\n${P}`],
    ['header name with a space before the colon', `POST / HTTP/1.1\r\nHost: a\r\nAuthorization : ${AUTH}\r\n${cl}\r\n${P}`],
    ['header name with a forbidden character', `POST / HTTP/1.1\r\nHost: a\r\nX(y): z\r\n${auth}${cl}\r\n${P}`],
    ['obsolete line folding', `POST / HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n${auth}${cl}\r\n${P}`],
    ['bare CR in a header value', `POST / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n${auth}${cl}\r\n${P}`],
    ['NUL in a header value', `POST / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n${auth}${cl}\r\n${P}`],
    ['chunked: chunk size not hex', `POST / HTTP/1.1\r\nHost: a\r\n${auth}Transfer-Encoding: chunked\r\n\r\nZZ\r\n${P}\r\n0\r\n\r\n`],
    ['chunked: chunk size overflowing 64 bits', `POST / HTTP/1.1\r\nHost: a\r\n${auth}Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n${P}\r\n0\r\n\r\n`],
    ['chunked: data longer than its size line', `POST / HTTP/1.1\r\nHost: a\r\n${auth}Transfer-Encoding: chunked\r\n\r\n5\r\n${P}\r\n0\r\n\r\n`],
    ['chunked: negative chunk size', `POST / HTTP/1.1\r\nHost: a\r\n${auth}Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n`],
    ['two different Content-Lengths', `POST / HTTP/1.1\r\nHost: a\r\n${auth}Content-Length: 10\r\n${cl}\r\n${P}`],
    ['Content-Length with two values in one line', `POST / HTTP/1.1\r\nHost: a\r\n${auth}Content-Length: 10, ${prepare.length}\r\n\r\n${P}`],
    ['Content-Length not a number', `POST / HTTP/1.1\r\nHost: a\r\n${auth}Content-Length: abc\r\n\r\n${P}`],
    ['Content-Length negative', `POST / HTTP/1.1\r\nHost: a\r\n${auth}Content-Length: -1\r\n\r\n${P}`],
    ['Content-Length with a plus sign', `POST / HTTP/1.1\r\nHost: a\r\n${auth}Content-Length: +${prepare.length}\r\n\r\n${P}`],
    ['Transfer-Encoding not ending in chunked', `POST / HTTP/1.1\r\nHost: a\r\n${auth}Transfer-Encoding: chunked, gzip\r\n\r\n${P}`],
    ['Transfer-Encoding: xchunked', `POST / HTTP/1.1\r\nHost: a\r\n${auth}Transfer-Encoding: xchunked\r\n${cl}\r\n${P}`],
    ['Transfer-Encoding in HTTP/1.0', `POST / HTTP/1.0\r\nHost: a\r\n${auth}Transfer-Encoding: chunked\r\n\r\n${chunkedBody(prepare).toString('latin1')}`]
  ])('%s -> 400 or a clean close, handler not called, server keeps serving', async (name, raw) => {
    const { port, calls } = await startServer()
    const sentAt = Date.now()
    const result = await exchange(port, Buffer.from(raw, 'latin1'), { end: false })
    const { statuses, closed } = result
    const figure = recordCase('f_malformedHttp1', name, {
      outcome: outcome(result),
      closed,
      answeredOrClosedAfterMs: Date.now() - sentAt,
      handlerCalls: calls.length
    })
    if (statuses.length === 0) expect(closed).toBe(true)
    else expect(statuses).toEqual([400])
    expect(calls).toEqual([])
    figure.wellBehavedAfterMs = (await expectPromptlyServed(port)).ms
  })

  // Request smuggling: a first request carries both Content-Length and Transfer-Encoding, and a
  // second request hides behind it. RFC 9112 §6.1: Transfer-Encoding overrides Content-Length
  // and the connection must be closed after the response. So either the request is refused
  // (400/close, no handler call), or exactly the chunked body reaches the handler and nothing
  // after it is served on that connection.
  test.each([
    ['Content-Length before Transfer-Encoding', true],
    ['Transfer-Encoding before Content-Length', false]
  ])('Content-Length + Transfer-Encoding (%s): 400/close, or only the chunked body reaches the handler and the connection closes', async (name, clFirst) => {
    const { port, calls } = await startServer()
    const first = makePrepare({ data: Buffer.from('first-chunked-body') })
    const smuggled = makePrepare({ data: Buffer.from('smuggled-second-request') })
    const headers = clFirst
      ? 'Content-Length: 4\r\nTransfer-Encoding: chunked\r\n'
      : 'Transfer-Encoding: chunked\r\nContent-Length: 4\r\n'
    const raw = Buffer.concat([
      Buffer.from(`POST / HTTP/1.1\r\nHost: a\r\n${auth}${headers}\r\n`, 'latin1'),
      chunkedBody(first),
      postHead({ auth: AUTH, length: smuggled.length }),
      smuggled
    ])
    const result = await exchange(port, raw, { expected: 2 })
    const { statuses, closed } = result
    await sleep(200) // a second response, if any, would arrive now
    const figure = recordCase('f_malformedHttp1', `smuggling: ${name}`, {
      outcome: outcome(result),
      closed: result.conn.closed,
      handlerCalls: calls.length,
      chunkedBodyReachedHandler: calls.some((c) => c.equals(first)),
      smuggledReachedHandler: calls.some((c) => c.equals(smuggled))
    })
    expect(calls.some((c) => c.equals(smuggled))).toBe(false)
    expect(calls.every((c) => c.equals(first))).toBe(true)
    expect(calls.length).toBeLessThanOrEqual(1)
    if (calls.length === 0) {
      if (statuses.length === 0) expect(closed).toBe(true)
      else expect(statuses).toEqual([400])
    } else {
      expect(statuses).toEqual([200])
      expect(closed).toBe(true)
    }
    figure.wellBehavedAfterMs = (await expectPromptlyServed(port)).ms
  })
})

describe('g. malformed HTTP/2 frames after the h2c preface', () => {
  const withSettings = (...frames) => Buffer.concat([H2_START, ...frames])
  const random = prng(0x5eed02)
  const floodFrames = []
  for (let i = 0; i < 2000; i++) {
    const stream = 2 * i + 1
    const cancel = Buffer.alloc(4)
    cancel.writeUInt32BE(0x8) // CANCEL
    floodFrames.push(h2Frame(FRAME.HEADERS, FLAG.END_HEADERS, stream, REQUEST_BLOCK))
    floodFrames.push(h2Frame(FRAME.RST_STREAM, 0, stream, cancel))
  }

  test('sanity: the hand-made HEADERS block is a valid request (so the flood below opens real streams)', async () => {
    const { port, calls } = await startServer()
    const prepare = makePrepare({ data: Buffer.from('raw-h2-request') })
    const conn = await rawConnect(port)
    conn.socket.write(withSettings(
      h2Frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, REQUEST_BLOCK),
      h2Frame(FRAME.DATA, FLAG.END_STREAM, 1, prepare)
    ))
    expect(await waitFor(() => calls.length === 1, 3000)).toBe(true)
    expect(calls[0].equals(prepare)).toBe(true)
    // The answer comes back on stream 1: HEADERS, then DATA carrying exactly the Fulfill.
    expect(await waitFor(() => parseFrames(conn.data()).some((f) => f.type === FRAME.DATA && f.streamId === 1), 3000)).toBe(true)
    const data = Buffer.concat(parseFrames(conn.data()).filter((f) => f.type === FRAME.DATA && f.streamId === 1).map((f) => f.payload))
    expect(data.equals(FULFILL)).toBe(true)
  })

  // [name, bytes]. RFC 9113 names an error code for most of these (FRAME_SIZE_ERROR for bad
  // lengths, COMPRESSION_ERROR for bad HPACK); the h2 crate sends PROTOCOL_ERROR for several of
  // them, and the issue asks only for GOAWAY (with an error) or a reset, so any error code passes.
  test.each([
    ['garbage: a DATA frame on stream 0', withSettings(h2Frame(FRAME.DATA, 0, 0, Buffer.from('hello')))],
    ['garbage: random bytes after the client SETTINGS', withSettings(randomBytes(random, 512))],
    ['garbage: CONTINUATION without HEADERS', withSettings(h2Frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, REQUEST_BLOCK))],
    ['garbage: WINDOW_UPDATE with a zero increment on the connection', withSettings(h2Frame(FRAME.WINDOW_UPDATE, 0, 0, Buffer.alloc(4)))],
    ['a frame announcing 16 MiB − 1 bytes', withSettings(h2Frame(FRAME.DATA, 0, 1, Buffer.alloc(64), 0xffffff))],
    ['HEADERS whose HPACK index is out of the table', withSettings(h2Frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])))],
    ['HEADERS with a truncated HPACK literal', withSettings(h2Frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, Buffer.from([0x83, 0x00, 0x7f, 0x10, 0x61])))],
    ['SETTINGS with a 5-byte payload', withSettings(h2Frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(5)))],
    ['SETTINGS ACK with a payload', withSettings(h2Frame(FRAME.SETTINGS, FLAG.ACK, 0, Buffer.alloc(6)))],
    ['PING with a 3-byte payload', withSettings(h2Frame(FRAME.PING, 0, 0, Buffer.alloc(3)))],
    ['RST_STREAM on an idle stream', withSettings(h2Frame(FRAME.RST_STREAM, 0, 1, Buffer.alloc(4)))],
    ['RST flood: 2,000 streams opened and cancelled at once (rapid reset)', withSettings(...floodFrames)]
  ])('%s -> GOAWAY or reset, handler not called, server keeps serving (h1 and h2c)', async (name, bytes) => {
    const { port, calls } = await startServer()
    const result = await h2Exchange(port, bytes)
    const figure = recordCase('g_malformedHttp2', name, {
      outcome: result.goaway
        ? `GOAWAY ${H2_ERROR_NAMES[result.goaway.errorCode] || result.goaway.errorCode}`
        : result.closed ? `closed (${result.error || 'FIN'})` : 'open',
      closedAfterMs: result.conn.lifetime(),
      handlerCalls: calls.length
    })
    expect(result.closed).toBe(true)
    if (result.goaway) {
      expect(result.goaway.errorCode).not.toBe(H2_ERROR.NO_ERROR)
    } else {
      // No GOAWAY: then the connection must have been reset, not closed cleanly.
      expect(result.error).toBe('ECONNRESET')
    }
    expect(calls).toEqual([])
    figure.wellBehavedAfterMs = {
      h1: (await expectPromptlyServed(port)).ms,
      h2c: (await expectPromptlyServedH2(port)).ms
    }
  })
})

describe('h. random bytes', () => {
  test('300 connections of seeded random bytes (some behind a request line, an authorized head or the h2c preface): server keeps serving, the handler only ever gets well-formed bodies', async () => {
    const { plugin, port, calls } = await startServer()
    const random = prng(0xc0ffee)
    const authorizedHead = postHead({ auth: AUTH, length: 40 })
    const prefixes = [Buffer.alloc(0), Buffer.from('POST / HTTP/1.1\r\n'), authorizedHead, H2_START]
    const prefixNames = ['no prefix', 'request line', 'authorized head', 'h2c preface']
    const cases = range(300).map((i) => ({
      bytes: Buffer.concat([prefixes[i % prefixes.length], randomBytes(random, 1 + Math.floor(random() * 4096))]),
      end: random() < 0.5 // half end their side, half just stop and are destroyed later
    }))
    // Behind a complete authorized head, the first 40 random bytes are a legitimate body (the
    // bilateral server passes any body on); those are the only handler calls allowed.
    const allowedBodies = cases
      .filter(({ bytes }) => bytes.subarray(0, authorizedHead.length).equals(authorizedHead) && bytes.length >= authorizedHead.length + 40)
      .map(({ bytes }) => bytes.subarray(authorizedHead.length, authorizedHead.length + 40))
    const sampler = sampleOpenConnections(plugin)
    const meanwhile = servedMeanwhile(port)
    // For the figures: what each connection got back (by prefix), and whether the server closed it.
    const seen = prefixNames.map(() => [])
    const closedWithin300 = []
    let next = 0
    const worker = async () => {
      while (next < cases.length) {
        const i = next++
        const { bytes, end } = cases[i]
        const conn = await rawConnect(port)
        if (end) conn.socket.end(bytes)
        else conn.socket.write(bytes)
        await waitFor(() => conn.closed, 300)
        const data = conn.data()
        const status = /^HTTP\/1\.[01] (\d{3})/.exec(data.subarray(0, 16).toString('latin1'))
        const goaway = status ? null : goawayOf(parseFrames(data))
        seen[i % prefixes.length].push(status ? status[1]
          : goaway ? `GOAWAY ${H2_ERROR_NAMES[goaway.errorCode] || goaway.errorCode}`
            : data.length ? 'other bytes, no GOAWAY' : 'nothing')
        closedWithin300.push(conn.closed ? 'closed within 300 ms' : 'still open after 300 ms (client destroyed it)')
        conn.socket.destroy()
      }
    }
    await Promise.all(range(20).map(worker))
    const results = await meanwhile.stop()
    const figure = figures.h_randomBytes = {
      connections: cases.length,
      seed: '0xc0ffee',
      answersByPrefix: Object.fromEntries(prefixNames.map((name, i) => [name, tally(seen[i])])),
      closing: tally(closedWithin300),
      handlerCallsFromHostile: hostileCalls(calls).length,
      allowedHandlerCalls: allowedBodies.length,
      wellBehaved: latency(results),
      maxOpenConnections: sampler.stop(),
      server: serverStats(plugin)
    }

    const unexpected = hostileCalls(calls).filter((body) => !allowedBodies.some((b) => b.equals(body)))
    expect(unexpected).toEqual([])
    expectAllPromptlyServed(results)
    expect(await waitFor(() => openConnections(plugin) === 0, 3000)).toBe(true)
    figure.wellBehavedAfterMs = {
      h1: (await expectPromptlyServed(port)).ms,
      h2c: (await expectPromptlyServedH2(port)).ms
    }
  }, 20000)
})

describe('i. clients aborting mid-request', () => {
  test('aborts mid-head, mid-body and while the handler works leak no connection or fd; late answers crash nothing', async () => {
    const SLOW = Buffer.from('slow-handler-abort')
    const pending = []
    const { plugin, port, calls } = await startServer({
      handler: (data) => data.includes(SLOW)
        ? new Promise((resolve, reject) => pending.push({ resolve, reject }))
        : FULFILL
    })
    cleanups.push(() => { for (const p of pending) p.resolve(FULFILL) })
    await expectPromptlyServed(port) // warm-up on this server
    await sleep(50)
    const fdsBefore = fdCount()
    const rssBefore = rssMB()
    expect(openConnections(plugin)).toBe(0)
    const sampler = sampleOpenConnections(plugin)

    const prepare = makePrepare()
    const full = Buffer.concat([postHead({ auth: AUTH, length: prepare.length }), prepare])
    const headEnd = postHead({ auth: AUTH, length: prepare.length }).length
    const N = 30

    // Mid-head: part of the head, then gone.
    const midHead = await Promise.all(range(N).map(() => rawConnect(port)))
    for (const conn of midHead) conn.socket.write(full.subarray(0, 40))
    // Mid-body: the head and half the body, then gone.
    const midBody = await Promise.all(range(N).map(() => rawConnect(port)))
    for (const conn of midBody) conn.socket.write(full.subarray(0, headEnd + Math.floor(prepare.length / 2)))
    // The full request, then gone while the handler is still working on it.
    const slowPrepare = makePrepare({ data: SLOW })
    const midAnswer = await Promise.all(range(N).map(() => rawConnect(port)))
    for (const conn of midAnswer) conn.socket.write(Buffer.concat([postHead({ auth: AUTH, length: slowPrepare.length }), slowPrepare]))
    expect(await waitFor(() => pending.length === N, 5000)).toBe(true)

    await sleep(100)
    for (const conn of [...midHead, ...midBody, ...midAnswer]) conn.socket.destroy()
    await sleep(200)
    // The handler answers late: half fulfill, half reject (the requests are gone).
    pending.forEach((p, i) => (i % 2 === 0 ? p.resolve(FULFILL) : p.reject(new Error('late failure'))))
    await sleep(300)

    const released = await waitFor(() => openConnections(plugin) === 0, 5000)
    const fdsBack = await waitFor(() => fdCount() <= fdsBefore, 5000)
    const figure = figures.i_aborts = {
      abortedPerKind: N,
      kinds: ['mid-head', 'mid-body', 'while the handler works (answered late: half fulfilled, half rejected)'],
      handlerCallsReached: pending.length,
      lateAnswers: pending.length,
      maxOpenConnections: sampler.stop(),
      allReleased: released,
      fds: { before: fdsBefore, after: fdCount() },
      rssMB: { before: rssBefore, after: rssMB() },
      hostileHandlerCalls: hostileCalls(calls).length,
      inFlightAfter: plugin.getAdminInfo().stats.incoming.inFlight,
      server: serverStats(plugin)
    }
    expect(released).toBe(true)
    expect(fdsBack).toBe(true)
    // Only the slow requests reached the handler, each with the full body.
    expect(hostileCalls(calls).length).toBe(N)
    expect(hostileCalls(calls).every((c) => c.equals(slowPrepare))).toBe(true)
    figure.wellBehavedAfterMs = {
      h1: (await expectPromptlyServed(port)).ms,
      h2c: (await expectPromptlyServedH2(port)).ms
    }
    // The admin stats forget the aborted requests too.
    expect(plugin.getAdminInfo().stats.incoming.inFlight).toBe(0)
    // (jest-circus fails this test if a late answer caused an unhandled rejection or an
    // uncaught exception while it ran.)
  }, 20000)
})

describe('j. the connection cap (incoming.maxConnections)', () => {
  const CAP = 20

  test('20 idle connections: a well-behaved request on a new one is served promptly (an idle one is closed to make room); never more than 20 open', async () => {
    const { plugin, port } = await startServer({ incoming: { maxConnections: CAP } })
    const sampler = sampleOpenConnections(plugin, 2)
    const idle = await Promise.all(range(CAP).map(() => rawConnect(port)))
    await waitFor(() => openConnections(plugin) === CAP, 3000)
    await sleep(100)
    const atCap = { open: openConnections(plugin), closedByServer: idle.filter((c) => c.closed).length }

    const results = []
    for (let i = 0; i < 5; i++) results.push(await wellBehaved(port))
    const maxOpen = sampler.stop()
    figuresOf('j_connectionCap').idleAtCap = {
      cap: CAP,
      atCap,
      wellBehaved: latency(results),
      idleClosedByServer: idle.filter((c) => c.closed).length,
      idleClosedWithAResponse: idle.filter((c) => c.data().length > 0).length,
      maxOpenConnections: maxOpen,
      server: serverStats(plugin)
    }

    expectAllPromptlyServed(results)
    expect(maxOpen).toBeLessThanOrEqual(CAP)
    expect(idle.filter((c) => c.closed).length).toBeGreaterThanOrEqual(1)
    expect(idle.every((c) => c.data().length === 0)).toBe(true) // closed without a response
    // Reaching the cap closes nothing by itself: only a newcomer needs room.
    expect(atCap).toEqual({ open: CAP, closedByServer: 0 })
  })

  test('20 busy connections: a 21st waits (not refused) and is served once one request finishes; never more than 20 open', async () => {
    const HOLD = Buffer.from('hold-this-request')
    const held = []
    const { plugin, port } = await startServer({
      incoming: { maxConnections: CAP },
      handler: (data) => data.includes(HOLD) ? new Promise((resolve) => held.push(resolve)) : FULFILL
    })
    cleanups.push(() => { for (const resolve of held) resolve(FULFILL) })
    const sampler = sampleOpenConnections(plugin, 2)
    const hold = makePrepare({ data: HOLD })
    const busy = await Promise.all(range(CAP).map(() => rawConnect(port)))
    for (const conn of busy) conn.socket.write(Buffer.concat([postHead({ auth: AUTH, length: hold.length }), hold]))
    // All 20 requests reach the handler: none of these connections is closed to make room.
    await waitFor(() => held.length === CAP, 5000)
    expect({ handlerCalls: held.length, closedByServer: busy.filter((c) => c.closed).length })
      .toEqual({ handlerCalls: CAP, closedByServer: 0 })

    let settled = null
    const twentyFirst = wellBehaved(port, { timeoutMs: 8000 }).then((r) => { settled = r; return r })
    await sleep(700)
    const settledWithin700Ms = settled !== null
    expect(settled).toBeNull() // neither answered nor refused: waiting
    const releasedAt = Date.now()
    held[0](FULFILL)
    const result = await twentyFirst
    const servedAfter = Date.now() - releasedAt

    // The released request got its answer (on whichever connection carried it); then the others.
    const answered = () => busy.filter((c) => parseResponses(c.data()).length === 1).length
    expect(await waitFor(() => answered() === 1, 3000)).toBe(true)
    for (const resolve of held.slice(1)) resolve(FULFILL)
    const allAnswered = await waitFor(() => busy.every((c) => parseResponses(c.data()).length === 1), 5000)
    const maxOpen = sampler.stop()
    figuresOf('j_connectionCap').busyAtCap = {
      cap: CAP,
      handlerCalls: held.length,
      twentyFirstSettledWithin700Ms: settledWithin700Ms,
      twentyFirst: { status: result.status, error: result.error, totalMs: result.ms },
      servedAfterReleaseMs: servedAfter,
      busyOutcomes: tally(busy.map((c) => outcome({ statuses: parseResponses(c.data()).map((r) => r.status), closed: c.closed }))),
      busyClosedByServer: busy.filter((c) => c.closed).length,
      maxOpenConnections: maxOpen,
      server: serverStats(plugin)
    }

    expect({ status: result.status, error: result.error }).toEqual({ status: 200, error: undefined })
    expect(result.body.equals(FULFILL)).toBe(true)
    expect(servedAfter).toBeLessThan(PROMPT_MS)
    expect(allAnswered).toBe(true)
    expect(busy.every((c) => parseResponses(c.data())[0].status === 200)).toBe(true)
    expect(maxOpen).toBeLessThanOrEqual(CAP)
  })
})

// RSS bound: about 35 MB of the growth is test c (4,096 connections open at once), memory the
// allocator keeps mapped after the connections are gone, not a leak: the 1,000,000-packet soak
// (docs/reliability.md) shows RSS flat under load. 80 MB still catches a leak per request.
describe('after the whole suite', () => {
  test('RSS grew by less than 80 MB and the fd count is back to its baseline', async () => {
    await waitFor(() => fdCount() <= baseline.fds + 3, 5000)
    const grown = (process.memoryUsage().rss - baseline.rss) / (1024 * 1024)
    Object.assign(figuresOf('suite'), {
      end: { rssMB: rssMB(), fds: fdCount() },
      rssGrowthMB: Math.round(grown * 10) / 10,
      fdGrowth: fdCount() - baseline.fds,
      bounds: { rssGrowthMB: 80, fdGrowth: 3 }
    })
    expect(fdCount()).toBeLessThanOrEqual(baseline.fds + 3)
    expect(grown).toBeLessThan(80)
  })
})
