'use strict'
// A stand-in for interledger-rs's ILP-over-HTTP server (ilp-node), HTTP/2 cleartext (prior
// knowledge, as hyper serves it under warp), written from its own code
// (interledger/interledger-rs at commit 544b6dbcd299087d16babc3377e4e014f87d68ec):
//
// - crates/interledger-http/src/server.rs `HttpServer::as_filter`: `warp::post()`, path
//   `/accounts/:username/ilp`, `warp::header::<SecretString>("authorization")`,
//   `warp::body::content_length_limit(MAX_PACKET_SIZE = 40000)`, `warp::body::bytes()`. warp's
//   `content_length_limit` rejects a request without a `content-length` header (LengthRequired),
//   and one above the limit (PayloadTooLarge).
// - `get_account`: the token is the header from byte 7 on (`BEARER_TOKEN_START`, i.e. after
//   `Bearer `, whatever those 7 bytes are); shorter than 7 bytes: 401; a wrong token: 401 (the
//   store's `get_account_from_http_auth`). A body that is not a Prepare: 400. Else 200
//   `application/octet-stream` with the Fulfill or Reject.
// - crates/ilp-node/src/node.rs serves this filter `.or()` the node's other API routes, then
//   `.recover(default_rejection_handler)` (crates/interledger-errors/src/error/mod.rs): an
//   `ApiError` keeps its status (401, 400); otherwise, since the other routes rejected the
//   POST with MethodNotAllowed, the answer is 405. So a request missing `content-length` or
//   `authorization`, or one above 40,000 bytes, gets 405 from ilp-node.
const http2 = require('http2')
const IlpPacket = require('ilp-packet')

const MAX_PACKET_SIZE = 40000
const BEARER_TOKEN_START = 7
const ACCOUNT_PATH = /^\/accounts\/([^/]+)\/ilp$/

/**
 * ilp-node's HTTP API on 127.0.0.1:0 over h2c. `accounts` maps a username to the token its
 * peer must present; `handle(prepareBytes, username)` returns the reply bytes. Returns
 * `{ port, urlFor(username), requests, close }`; `requests` records `{ headers, status }`.
 */
async function startWarpH2Server ({ accounts, handle }) {
  const requests = []
  const server = http2.createServer()
  const sessions = new Set()
  server.on('session', (session) => {
    sessions.add(session)
    session.on('close', () => sessions.delete(session))
  })
  server.on('stream', (stream, headers) => {
    const record = { headers, status: null }
    requests.push(record)
    const answer = (status, body = '', contentType = 'application/problem+json') => {
      record.status = status
      stream.respond({ ':status': status, 'content-type': contentType })
      stream.end(body)
    }
    const chunks = []
    stream.on('data', (c) => chunks.push(c))
    stream.on('error', () => {})
    stream.on('end', async () => {
      const match = ACCOUNT_PATH.exec(headers[':path'])
      if (!match) return answer(404)
      // warp::post(), the authorization header, content_length_limit: any of them failing
      // ends as 405 after ilp-node's rejection handler (see above).
      if (headers[':method'] !== 'POST') return answer(405)
      const authorization = headers.authorization
      if (authorization === undefined) return answer(405)
      const contentLength = headers['content-length']
      if (contentLength === undefined || !/^\d+$/.test(contentLength) || Number(contentLength) > MAX_PACKET_SIZE) {
        return answer(405)
      }
      const body = Buffer.concat(chunks)
      if (authorization.length < BEARER_TOKEN_START) return answer(401)
      const token = authorization.slice(BEARER_TOKEN_START)
      if (!(match[1] in accounts) || accounts[match[1]] !== token) return answer(401)
      try {
        IlpPacket.deserializeIlpPrepare(body)
      } catch (e) {
        return answer(400)
      }
      answer(200, await handle(body, match[1]), 'application/octet-stream')
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  return {
    port,
    urlFor: (username) => `http://127.0.0.1:${port}/accounts/${username}/ilp`,
    requests,
    close: () => new Promise((resolve) => {
      for (const session of sessions) session.destroy()
      server.close(() => resolve())
    })
  }
}

module.exports = { startWarpH2Server, MAX_PACKET_SIZE }
