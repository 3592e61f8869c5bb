'use strict'
// HTTP/2 and HTTPS with Node's own client and server: stand-in peers and single requests.
// (For hand-made, hostile HTTP/2 frames, see h2frames.js.) Every socket is on 127.0.0.1.
const http2 = require('http2')
const https = require('https')

/** Reads a stream's (request or response) body to its end. */
function readStream (stream) {
  return new Promise((resolve, reject) => {
    const chunks = []
    stream.on('data', (c) => chunks.push(c))
    stream.on('end', () => resolve(Buffer.concat(chunks)))
    stream.on('error', reject)
  })
}

/**
 * A Node HTTP/2 server peer on 127.0.0.1:0: h2c, or TLS with `secure: true` and `cert`
 * (`{ cert, key }` PEM). `onStream(stream, headers)` handles each stream (stream and session
 * errors are ignored); `settings` are the server's HTTP/2 settings. Returns
 * `{ port, origin, url, sessions, openSessions, maxOpenSessions, close }`: `origin` is
 * `http://127.0.0.1:<port>` (h2c) or `https://localhost:<port>` (TLS), `url` the origin with path
 * `/`, `sessions` the number of sessions accepted so far, `openSessions` those still open,
 * `maxOpenSessions` the most open at once, `close()` destroys the sessions and closes the server.
 */
async function startH2Peer (onStream, { secure = false, cert, settings } = {}) {
  const options = settings ? { settings } : {}
  const server = secure
    ? http2.createSecureServer({ ...options, cert: cert.cert, key: cert.key })
    : http2.createServer(options)
  const sessions = new Set()
  let sessionCount = 0
  let maxOpenSessions = 0
  server.on('session', (session) => {
    sessionCount++
    sessions.add(session)
    maxOpenSessions = Math.max(maxOpenSessions, sessions.size)
    session.on('error', () => {})
    session.on('close', () => sessions.delete(session))
  })
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {})
    onStream(stream, headers)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  const origin = `${secure ? 'https' : 'http'}://${secure ? 'localhost' : '127.0.0.1'}:${port}`
  return {
    port,
    origin,
    url: `${origin}/`,
    get sessions () { return sessionCount },
    get openSessions () { return sessions.size },
    get maxOpenSessions () { return maxOpenSessions },
    close: () => new Promise((resolve) => {
      for (const s of sessions) s.destroy()
      server.close(() => resolve())
    })
  }
}

/**
 * A raw HTTPS (HTTP/1.1) server peer on 127.0.0.1:0 with `cert` (`{ cert, key }` PEM) and,
 * optionally, its `ALPNProtocols`. `handler(req, res, body)` is called once the body has been
 * read. Returns `{ port, url, close }` (`url`: `https://localhost:<port>/`).
 */
async function startHttpsPeer (handler, { cert, ALPNProtocols } = {}) {
  const sockets = new Set()
  const server = https.createServer({ cert: cert.cert, key: cert.key, ...(ALPNProtocols ? { ALPNProtocols } : {}) }, (req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => handler(req, res, Buffer.concat(chunks)))
  })
  server.on('secureConnection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  server.on('tlsClientError', () => {})
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  return {
    port,
    url: `https://localhost:${port}/`,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy()
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
}

/**
 * One request with Node's HTTP/2 client on a fresh session. `authority` e.g.
 * 'http://127.0.0.1:1234' or 'https://127.0.0.1:1234' (then `ca` is trusted). The body is sent
 * unless undefined. Resolves `{ status, headers, body }` once the response has ended; rejects
 * when no response came (the session or stream error), or with an error whose `code` is
 * 'TIMEOUT' when the exchange has not finished within `timeoutMs` (default: no bound besides
 * jest's). The session is destroyed either way.
 */
function h2Request (authority, { method = 'POST', path = '/', headers = {}, body, ca, timeoutMs } = {}) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(authority, ca ? { ca } : {})
    let done = false
    let status
    let responseHeaders
    let timer = null
    const chunks = []
    const finish = (error, { timedOut = false } = {}) => {
      if (done) return
      done = true
      clearTimeout(timer)
      session.destroy()
      if (status !== undefined && !timedOut) resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks) })
      else reject(error || new Error('no response'))
    }
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => finish(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'TIMEOUT' }), { timedOut: true }), timeoutMs)
    }
    session.on('error', finish)
    const endStream = body === undefined
    const req = session.request({ ':method': method, ':path': path, ...headers }, { endStream })
    req.on('response', (h) => { responseHeaders = h; status = h[':status'] })
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => finish())
    req.on('error', finish)
    req.on('close', () => finish())
    if (!endStream) req.end(body)
  })
}

/**
 * One HTTPS/1.1 request to 127.0.0.1:`port` on a fresh connection, trusting `ca`. The body
 * (unless undefined) goes with Content-Length, or chunked in 4 KiB writes. Resolves
 * `{ status, headers, body }`; rejects on a connection or TLS error.
 */
function httpsRequest (port, { method = 'POST', path = '/', headers = {}, body, chunked = false, ca } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, method, path, headers, ca, agent: false }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    if (body === undefined) return req.end()
    if (!chunked) {
      req.setHeader('content-length', body.length)
      return req.end(body)
    }
    for (let i = 0; i < body.length; i += 4096) req.write(body.subarray(i, i + 4096))
    req.end()
  })
}

module.exports = { readStream, startH2Peer, startHttpsPeer, h2Request, httpsRequest }
