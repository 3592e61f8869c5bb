'use strict'
// HTTP/1.1 from the client side, two ways:
// - `request`: Node's own client (what a well-behaved peer sends);
// - `rawConnect`, `rawRequest`, `exchange`: a raw TCP socket writing exactly the given bytes
//   (what a hostile or unusual peer sends), with a parser for what comes back.
// Every socket is on 127.0.0.1. Sockets opened here are tracked: `destroySockets()` (from an
// afterEach) destroys any a test left open.
const http = require('http')
const net = require('net')
const { waitFor } = require('./wait')

/** Node's client writes request bodies in pieces of this size. */
const WRITE_CHUNK = 16384

const openSockets = new Set()

/** Tracks `socket` until it closes; returns it. */
function track (socket) {
  openSockets.add(socket)
  socket.once('close', () => openSockets.delete(socket))
  return socket
}

/** Destroys every socket this module opened that is still open (call it from afterEach). */
function destroySockets () {
  for (const socket of openSockets) socket.destroy()
  openSockets.clear()
}

/**
 * One HTTP/1.1 request with Node's client to `host`:`port` (default 127.0.0.1), on a fresh
 * connection unless an `agent` is given.
 *
 * The body (a Buffer; none when `body` is undefined) is sent with Content-Length, or with
 * `Transfer-Encoding: chunked` when `chunked` is true, written in 16 KiB pieces.
 *
 * Resolves `{ status, headers, body, aborted, reusedSocket, at, ms }` once the response has
 * ended, also when the server answered early and closed the connection while the body was still
 * being written (`aborted: true` when the response itself was cut off). `at` is when it ended
 * (Date.now()), `ms` how long the request took.
 *
 * Rejects with the socket error when no response came, or with an error whose `code` is
 * 'TIMEOUT' when none came within `timeoutMs` (default: no bound besides jest's). With
 * `settled: true` it never rejects: a failure resolves `{ error, at, ms }` instead.
 *
 * `untilClosed: true` (fresh connections only) settles only once the socket has closed, so that
 * no file descriptor of the call outlives it. `onWritten()` is called once the whole request
 * was handed to the kernel.
 *
 * @returns {Promise<{ status: number, headers: object, body: Buffer, aborted: boolean, reusedSocket: boolean, at: number, ms: number }>}
 */
function request (port, {
  host = '127.0.0.1',
  method = 'POST',
  path = '/',
  headers = {},
  body,
  chunked = false,
  agent = false,
  timeoutMs,
  settled = false,
  untilClosed = false,
  onWritten
} = {}) {
  const started = Date.now()
  return new Promise((resolve, reject) => {
    let outcome = null
    let socketClosed = !(untilClosed && agent === false)
    let timer = null
    const deliver = () => {
      if (!outcome || !socketClosed) return
      clearTimeout(timer)
      if (outcome.error && !settled) reject(outcome.error)
      else resolve(outcome.error ? { error: outcome.error, at: outcome.at, ms: outcome.ms } : outcome)
    }
    const settle = (result) => {
      if (outcome) return
      const at = Date.now()
      outcome = { ...result, at, ms: at - started }
      if (agent === false) req.destroy() // a fresh connection serves one request
      deliver()
    }

    const sent = { ...headers }
    if (body !== undefined) {
      if (chunked) sent['Transfer-Encoding'] = 'chunked'
      else if (!Object.keys(sent).some((name) => name.toLowerCase() === 'content-length')) sent['Content-Length'] = body.length
    }
    let response = null
    const req = http.request({ host, port, method, path, headers: sent, agent }, (res) => {
      response = res
      const chunks = []
      const finish = (aborted) => settle({
        status: res.statusCode,
        headers: res.headers,
        body: Buffer.concat(chunks),
        aborted,
        reusedSocket: req.reusedSocket
      })
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => finish(false))
      res.on('aborted', () => finish(true))
      res.on('error', () => finish(true))
    })
    req.on('socket', (socket) => {
      if (agent !== false) return
      track(socket)
      socket.once('close', () => {
        socketClosed = true
        deliver()
      })
    })
    req.on('error', (error) => { if (!response) settle({ error }) })
    if (onWritten) req.on('finish', onWritten)
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        settle({ error: Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'TIMEOUT' }) })
        socketClosed = true
        req.destroy()
        deliver()
      }, timeoutMs)
    }
    if (body === undefined) return req.end()
    for (let i = 0; i < body.length; i += WRITE_CHUNK) req.write(body.subarray(i, i + WRITE_CHUNK))
    req.end()
  })
}

/**
 * A raw TCP connection to 127.0.0.1:`port`. `chunks` collects what the server sent; `closed` /
 * `closedAt` tell when the server (or we) closed it; `error` is the last socket error code
 * (EPIPE, ECONNRESET…). Resolves once connected, rejects when the connection fails.
 */
function rawConnect (port) {
  return new Promise((resolve, reject) => {
    const socket = track(net.connect({ host: '127.0.0.1', port }))
    const conn = {
      socket,
      chunks: [],
      error: null,
      closed: false,
      openedAt: Date.now(),
      closedAt: null,
      /** Everything the server sent so far. */
      data () { return Buffer.concat(this.chunks) },
      /** Time from connection open to close, or null while open. */
      lifetime () { return this.closedAt === null ? null : this.closedAt - this.openedAt }
    }
    socket.on('data', (chunk) => conn.chunks.push(chunk))
    socket.on('error', (err) => { conn.error = err.code || err.message })
    socket.once('close', () => {
      conn.closed = true
      conn.closedAt = Date.now()
      reject(new Error(`connect failed: ${conn.error}`)) // no-op once connected
    })
    socket.once('connect', () => {
      conn.openedAt = Date.now()
      resolve(conn)
    })
  })
}

/**
 * Splits `data` into the complete HTTP/1.x messages at its start (requests or responses, bodies
 * delimited by Content-Length, none without it). Returns
 * `[{ startLine, headers, body, end }]`; `headers` has lower-case names, `end` is the offset
 * just past the message.
 */
function parseHttpMessages (data) {
  const messages = []
  let offset = 0
  for (;;) {
    const headEnd = data.indexOf('\r\n\r\n', offset)
    if (headEnd < 0) return messages
    const lines = data.subarray(offset, headEnd).toString('latin1').split('\r\n')
    const headers = {}
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':')
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
    }
    const length = Number(headers['content-length'] || 0)
    const end = headEnd + 4 + length
    if (data.length < end) return messages
    messages.push({ startLine: lines[0], headers, body: data.subarray(headEnd + 4, end), end })
    offset = end
  }
}

/**
 * The complete HTTP/1.1 responses at the start of `data`: `[{ status, headers, body }]` (stops
 * at the first thing that is not a response).
 */
function parseResponses (data) {
  const responses = []
  for (const { startLine, headers, body } of parseHttpMessages(data)) {
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(startLine)
    if (!match) break
    responses.push({ status: Number(match[1]), headers, body })
  }
  return responses
}

/**
 * Sends `bytes` on a fresh raw connection (`end: true` half-closes it after them) and waits (up
 * to `waitMs`) until the server closed it or `expected` responses arrived. Resolves
 * `{ responses, statuses, closed, error, conn }`.
 */
async function exchange (port, bytes, { waitMs = 3000, expected = 1, end = false } = {}) {
  const conn = await rawConnect(port)
  if (end) conn.socket.end(bytes)
  else conn.socket.write(bytes)
  await waitFor(() => conn.closed || parseResponses(conn.data()).length >= expected, waitMs)
  const responses = parseResponses(conn.data())
  return { responses, statuses: responses.map((r) => r.status), closed: conn.closed, error: conn.error, conn }
}

/**
 * Writes `bytes` on a raw connection one byte every `everyMs` until all are sent or the
 * connection is closed. Returns `{ sent(), stop() }`.
 */
function trickle (conn, bytes, everyMs) {
  let sent = 0
  const timer = setInterval(() => {
    if (conn.closed || sent >= bytes.length) {
      clearInterval(timer)
      return
    }
    conn.socket.write(bytes.subarray(sent, sent + 1))
    sent++
  }, everyMs)
  conn.socket.once('close', () => clearInterval(timer))
  return { sent: () => sent, stop: () => clearInterval(timer) }
}

/**
 * The head of an HTTP/1.1 POST / with `Authorization: <auth>` and the ILP Content-Type, for a
 * body of `length` bytes (or chunked); `extra` is added as is (whole header lines).
 */
function postHead ({ auth, length, chunked = false, extra = '' } = {}) {
  return Buffer.from(
    'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
    `Authorization: ${auth}\r\nContent-Type: application/ilp+octet-stream\r\n` +
    (chunked ? 'Transfer-Encoding: chunked\r\n' : `Content-Length: ${length}\r\n`) +
    extra + '\r\n', 'latin1')
}

/** `body` as one chunk of chunked encoding, followed by the last-chunk. */
function chunkedBody (body) {
  return Buffer.concat([Buffer.from(body.length.toString(16) + '\r\n'), body, Buffer.from('\r\n0\r\n\r\n')])
}

/**
 * One request on a fresh TCP connection, written byte for byte (`headers` is a list of
 * [name, value], values sent as latin1 exactly as given), then `Content-Length` and
 * `Connection: close`. Resolves once the server has ended the connection, with the raw
 * response text and its parts: `{ raw, status, headers, headerNames, body, withoutDate }`.
 * Rejects on a socket error or after 5 s without a complete answer.
 */
function rawRequest (port, { method = 'POST', path = '/', headers = [], body = Buffer.alloc(0) } = {}) {
  return new Promise((resolve, reject) => {
    const socket = track(net.connect({ host: '127.0.0.1', port }))
    const chunks = []
    socket.setTimeout(5000, () => {
      socket.destroy()
      reject(new Error('no complete answer within 5 s'))
    })
    socket.on('data', (c) => chunks.push(c))
    socket.on('error', reject)
    socket.on('end', () => {
      socket.destroy()
      const raw = Buffer.concat(chunks).toString('latin1')
      const split = raw.indexOf('\r\n\r\n')
      const head = raw.slice(0, split).split('\r\n')
      const headerList = head.slice(1).map((line) => {
        const colon = line.indexOf(':')
        return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]
      })
      resolve({
        raw,
        status: Number(head[0].split(' ')[1]),
        headers: Object.fromEntries(headerList),
        headerNames: headerList.map(([name]) => name),
        body: raw.slice(split + 4),
        /** The response without its Date header line. */
        withoutDate: raw.split('\r\n').filter((line) => !/^date:/i.test(line)).join('\r\n')
      })
    })
    const lines = [`${method} ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`]
    for (const [name, value] of headers) lines.push(`${name}: ${value}`)
    lines.push(`Content-Length: ${body.length}`, 'Connection: close', '', '')
    socket.write(Buffer.concat([Buffer.from(lines.join('\r\n'), 'latin1'), body]))
  })
}

module.exports = {
  request,
  rawConnect,
  rawRequest,
  exchange,
  trickle,
  parseHttpMessages,
  parseResponses,
  postHead,
  chunkedBody,
  destroySockets
}
