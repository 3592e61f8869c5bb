'use strict'
// A stand-in for Rafiki's ILP-over-HTTP connector, written from Rafiki's own code
// (interledger/rafiki at commit 884c4bcfe657f3a04563e95ee34dc096e460d805):
//
// - packages/backend/src/payment-method/ilp/connector/core/rafiki.ts: a Koa app whose public
//   server runs `createTokenAuthMiddleware()` and then `createIlpPacketMiddleware(routes)`, on
//   every path.
// - packages/backend/src/payment-method/ilp/connector/core/middleware/auth.ts: `getBearerToken`
//   splits `Authorization` on ' ' and wants exactly two parts, the first matching /^Bearer$/i;
//   the token is looked up among the peers' incoming tokens (`peers.getByIncomingToken`, a
//   database lookup by token value); otherwise 401.
// - packages/backend/src/payment-method/ilp/connector/core/middleware/ilp-packet.ts:
//   `ctx.request.type === 'application/octet-stream'` or 400 "Expected Content-Type of
//   application/octet-stream"; the body is read with raw-body (no limit) and parsed as a
//   Prepare; the reply bytes become `ctx.body` (Koa: 200, `application/octet-stream`).
// - packages/backend/src/payment-method/ilp/connector/core/services/client.ts: `sendToPeer`
//   POSTs with axios (`axios.create()` with defaults, packages/backend/src/index.ts; axios
//   1.16.0, packages/backend/package.json), `responseType: 'arraybuffer'`, headers
//   `Authorization: Bearer <authToken>` and `Content-Type: application/octet-stream`. axios
//   adds its defaults (lib/defaults/index.js: `Accept: application/json, text/plain, */*`;
//   lib/adapters/http.js: `User-Agent: axios/1.16.0`, `Content-Length`, `Accept-Encoding`),
//   and rejects any status outside 2xx. No `ILP-Peer-Name`.
//
// Koa and raw-body are the real packages (those ilp-plugin-http 1.6.1 depends on), so
// `ctx.request.type`, `ctx.assert` and the error answers are Koa's own.
const http = require('http')
const path = require('path')
const IlpPacket = require('ilp-packet')
const { request } = require('../support')

const fromOriginal = (name) => require(require.resolve(name, {
  paths: [path.dirname(require.resolve('ilp-plugin-http/package.json'))]
}))
const Koa = fromOriginal('koa')
const getRawBody = fromOriginal('raw-body')

/** middleware/ilp-packet.ts `CONTENT_TYPE`. */
const CONTENT_TYPE = 'application/octet-stream'
/** axios 1.16.0's default `Accept` (lib/defaults/index.js). */
const AXIOS_ACCEPT = 'application/json, text/plain, */*'
const AXIOS_USER_AGENT = 'axios/1.16.0'
const AXIOS_ACCEPT_ENCODING = 'gzip, compress, deflate, br'

/** middleware/auth.ts `getBearerToken`, verbatim. */
function getBearerToken (ctx) {
  if (!ctx.request.header || !ctx.request.header.authorization) {
    return
  }
  const parts = ctx.request.header.authorization.split(' ')
  if (parts.length === 2) {
    const scheme = parts[0]
    const credentials = parts[1]
    if (/^Bearer$/i.test(scheme)) {
      return credentials
    }
  }
}

/**
 * Rafiki's public ILP-over-HTTP server on 127.0.0.1:0.
 *
 * `incomingTokens` maps each token a peer may present to that peer's id (Rafiki keeps several
 * per peer). `handle({ prepare, rawPrepare, peerId })` returns the reply bytes (the ILP routes
 * behind the middleware). Returns `{ url, port, requests, close }`; `requests` records
 * `{ headers, body, status }` of every request.
 */
async function startRafikiServer ({ incomingTokens, handle }) {
  const requests = []
  const app = new Koa()
  app.silent = true // Koa would print 4xx/5xx errors to stderr
  app.use(async (ctx, next) => {
    const record = { headers: { ...ctx.request.headers }, body: null, status: null }
    requests.push(record)
    try {
      await next()
    } finally {
      record.status = ctx.status
    }
  })
  // createTokenAuthMiddleware()
  app.use(async function auth (ctx, next) {
    ctx.state.token = getBearerToken(ctx)
    ctx.assert(ctx.state.token, 401, 'Bearer token required in Authorization header')
    ctx.state.incomingAccount = incomingTokens.get(ctx.state.token)
    ctx.assert(ctx.state.incomingAccount, 401, 'Access Denied - Invalid Token')
    await next()
  })
  // createIlpPacketMiddleware(routes)
  app.use(async function ilpPacket (ctx) {
    ctx.assert(ctx.request.type === CONTENT_TYPE, 400, 'Expected Content-Type of ' + CONTENT_TYPE)
    const buffer = await getRawBody(ctx.req)
    requests[requests.length - 1].body = buffer
    const prepare = IlpPacket.deserializeIlpPrepare(buffer) // new ZeroCopyIlpPrepare(buffer)
    const rawReply = await handle({ prepare, rawPrepare: buffer, peerId: ctx.state.incomingAccount })
    ctx.assert(!ctx.body, 500, 'response body already set')
    ctx.assert(rawReply, 500, 'ilp reply not set')
    ctx.body = rawReply
  })
  const server = http.createServer(app.callback())
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  return {
    port,
    url: `http://127.0.0.1:${port}/ilp`,
    requests,
    close: () => new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
}

/**
 * Rafiki's outgoing side: `sendToPeer` through a default axios instance (keep-alive agent).
 * Returns `{ send(prepare) -> Promise<Buffer>, close() }`; `send` rejects with
 * `Request failed with status code N` (and `status`) outside 2xx, as axios does.
 */
function rafikiClient ({ endpoint, authToken }) {
  const agent = new http.Agent({ keepAlive: true })
  const { hostname, port, pathname } = new URL(endpoint)
  const send = async (prepare) => {
    const response = await request(Number(port), {
      host: hostname,
      path: pathname,
      agent,
      body: prepare,
      headers: {
        Accept: AXIOS_ACCEPT,
        'Content-Type': CONTENT_TYPE,
        Authorization: `Bearer ${authToken}`,
        'User-Agent': AXIOS_USER_AGENT,
        'Content-Length': prepare.length,
        'Accept-Encoding': AXIOS_ACCEPT_ENCODING
      }
    })
    if (response.status >= 200 && response.status < 300) return response.body
    throw Object.assign(new Error(`Request failed with status code ${response.status}`), { status: response.status })
  }
  return { send, close: () => agent.destroy() }
}

module.exports = { startRafikiServer, rafikiClient, getBearerToken, CONTENT_TYPE, AXIOS_ACCEPT }
