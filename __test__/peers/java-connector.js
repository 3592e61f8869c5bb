'use strict'
// A stand-in for the Java ILP-over-HTTP implementation (interledger4j ilpv4-connector with the
// quilt link), written from its own code:
//
// - interledger4j/ilpv4-connector at commit e00038b75fbae57bce668ddcb1baeae3e51aa09c:
//   connector-server/src/main/java/org/interledger/connector/server/spring/auth/ilpoverhttp/
//   JwtHs256AuthenticationProvider.java: `JWT.require(Algorithm.HMAC256(secret))
//   .acceptLeeway(0)` then `.withSubject(subject)` (the account's incoming
//   `ilpOverHttp.incoming.jwt.token_subject`); BearerTokenSecurityContextRepository.java: a
//   token is the header after a leading `Bearer `, else the whole header (Basic is ignored);
//   the account id comes from the path `/accounts/{accountId}/ilp`;
//   spring/controllers/IlpHttpController.java: POST `/accounts/{accountId}/ilp`, consumes
//   `application/octet-stream` and `application/ilp+octet-stream`, produces
//   `application/octet-stream` (or `application/problem+json`).
// - auth0/java-jwt at tag 3.9.0 (commit 18e8b8bc84ea8f541a58104ad48086a827f6e258, the version
//   the connector's pom.xml pins): lib/src/main/java/com/auth0/jwt/JWTVerifier.java. `verify`
//   checks the header's `alg` equals `HS256`, the HMAC-SHA256 signature, then every claim the
//   verification names: `exp`, `nbf`, `iat` always (build() adds them with the leeway), with
//   "now" truncated to the second: `exp` must not lie before now, `nbf` and `iat` not after it;
//   `sub` must equal the expected subject (a missing `sub` fails: `expectedValue.equals(null)`).
//   TokenUtils.splitToken wants three dot-separated parts.
// - hyperledger-archives/quilt at commit 31334388bded8a25848c334f85a2a01966a427fe:
//   link-parent/link-ilp-over-http/src/main/java/org/interledger/link/http/auth/
//   JwtHs256BearerTokenSupplier.java signs `JWT.create().withSubject(tokenSubject)
//   .withExpiresAt(now + expiry).sign(HMAC256(secret))`, and IlpOverHttpLink.java sends
//   `Accept` and `Content-Type: application/octet-stream` with `Authorization: Bearer <jwt>`.
const http = require('http')
const crypto = require('crypto')
const { request } = require('../support')

const OCTET_STREAM = 'application/octet-stream'
const ILP_OCTET_STREAM = 'application/ilp+octet-stream'
const ACCOUNT_PATH = /^\/accounts\/([^/]+)\/ilp$/

const base64url = (buffer) => buffer.toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')
const fromBase64url = (text) => Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64')

/**
 * java-jwt 3.9.0 `JWT.require(HMAC256(secret)).acceptLeeway(leeway).withSubject(subject)
 * .build().verify(token)`. Returns `null` when the token verifies, else the reason (the
 * exception java-jwt would throw).
 */
function verifyJwtHs256 (token, { secret, subject, leeway = 0, now = Date.now() }) {
  const parts = token.split('.')
  if (parts.length === 2 && token.endsWith('.')) parts.push('')
  if (parts.length !== 3) return `JWTDecodeException: expected 3 parts, got ${parts.length}`
  let header, payload
  try {
    header = JSON.parse(fromBase64url(parts[0]).toString('utf8'))
    payload = JSON.parse(fromBase64url(parts[1]).toString('utf8'))
  } catch (e) {
    return 'JWTDecodeException: not JSON'
  }
  if (header.alg !== 'HS256') return 'AlgorithmMismatchException'
  const expected = crypto.createHmac('sha256', secret).update(`${parts[0]}.${parts[1]}`).digest()
  const actual = fromBase64url(parts[2])
  if (actual.length !== expected.length || !crypto.timingSafeEqual(actual, expected)) {
    return 'SignatureVerificationException'
  }
  const today = Math.floor(now / 1000) * 1000 // truncate millis
  const date = (claim) => (typeof payload[claim] === 'number' ? payload[claim] * 1000 : null)
  if (date('exp') !== null && today - leeway * 1000 > date('exp')) return 'TokenExpiredException'
  for (const claim of ['nbf', 'iat']) {
    if (date(claim) !== null && today + leeway * 1000 < date(claim)) {
      return `InvalidClaimException: The Token can't be used before ${claim}`
    }
  }
  if (subject !== payload.sub) return "InvalidClaimException: The Claim 'sub' value doesn't match the required one."
  return null
}

/** quilt's JwtHs256BearerTokenSupplier: `{ sub, exp }`, HS256, header `{ alg, typ }`. */
function signJwtHs256 ({ secret, subject, expiresInMs = 15 * 60 * 1000 }) {
  const header = base64url(Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'HS256' })))
  const payload = base64url(Buffer.from(JSON.stringify({
    sub: subject,
    exp: Math.floor((Date.now() + expiresInMs) / 1000)
  })))
  const signature = base64url(crypto.createHmac('sha256', secret).update(`${header}.${payload}`).digest())
  return `${header}.${payload}.${signature}`
}

/** BearerTokenSecurityContextRepository.parseToken. */
function parseToken (authorization) {
  if (authorization === undefined) return null
  if (authorization.startsWith('Basic ')) return null
  return authorization.indexOf('Bearer ') === 0 ? authorization.substring(7) : authorization
}

/**
 * The Java connector's ILP-over-HTTP endpoint on 127.0.0.1:0. `accounts` maps an account id
 * to `{ secret, subject }` (its JWT_HS_256 incoming settings). `handle(prepareBytes, accountId)`
 * returns the reply bytes. Returns `{ port, urlFor(accountId), requests, close }`; `requests`
 * records `{ url, headers, status, reason }`.
 */
async function startJavaConnector ({ accounts, handle }) {
  const requests = []
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', async () => {
      const record = { url: req.url, headers: req.headers, status: null, reason: null }
      requests.push(record)
      const answer = (status, body = '', contentType = 'application/problem+json') => {
        record.status = status
        res.writeHead(status, { 'Content-Type': contentType })
        res.end(body)
      }
      const match = ACCOUNT_PATH.exec(req.url)
      if (!match) return answer(404)
      if (req.method !== 'POST') return answer(405)
      const account = accounts[match[1]]
      const token = parseToken(req.headers.authorization)
      record.reason = !account
        ? 'no such account'
        : token === null
          ? 'no bearer token'
          : verifyJwtHs256(token, { secret: account.secret, subject: account.subject, leeway: 0 })
      if (record.reason) return answer(401, JSON.stringify({ title: 'Unauthorized', status: 401 }))
      // Spring: a request without Content-Type counts as application/octet-stream.
      const contentType = (req.headers['content-type'] || OCTET_STREAM).split(';')[0].trim().toLowerCase()
      if (contentType !== OCTET_STREAM && contentType !== ILP_OCTET_STREAM) return answer(415)
      const accept = req.headers.accept
      if (accept && !/(^|,)\s*(application\/octet-stream|application\/\*|\*\/\*)\s*(;|,|$)/i.test(accept)) return answer(406)
      answer(200, await handle(Buffer.concat(chunks), match[1]), OCTET_STREAM)
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  return {
    port,
    urlFor: (accountId) => `http://127.0.0.1:${port}/accounts/${accountId}/ilp`,
    requests,
    close: () => new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
}

/**
 * quilt's IlpOverHttpLink sending one Prepare (`constructHttpRequestHeaders`): `Accept` and
 * `Content-Type: application/octet-stream`, `ILP-Operator-Address`, `Authorization: Bearer
 * <token>`. Resolves `{ status, body }`.
 */
async function sendFromJavaLink ({ url, token, prepare, operatorAddress = 'test.java' }) {
  const { hostname, port, pathname } = new URL(url)
  const { status, body } = await request(Number(port), {
    host: hostname,
    path: pathname,
    body: prepare,
    headers: {
      Accept: OCTET_STREAM,
      'Content-Type': OCTET_STREAM,
      'ILP-Operator-Address': operatorAddress,
      Authorization: `Bearer ${token}`
    }
  })
  return { status, body }
}

module.exports = { verifyJwtHs256, signJwtHs256, startJavaConnector, sendFromJavaLink }
