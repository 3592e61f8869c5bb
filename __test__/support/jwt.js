'use strict'
// JSON Web Tokens written by hand, so that a test can send any header, payload or signature
// (also ones jsonwebtoken refuses to produce: alg none, crit, a wrong algorithm, …).
const crypto = require('crypto')

/** base64url of a string as is, or of any other value as JSON. */
const b64u = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

/**
 * `header.payload.signature`: `sign(input)` returns the signature (base64url), may return '';
 * without `sign` the token has only two parts.
 */
function makeJwt (header, payload, sign) {
  const input = `${b64u(header)}.${b64u(payload)}`
  const signature = sign ? sign(input) : null
  return signature === null ? input : `${input}.${signature}`
}

/** An HMAC signer for makeJwt: `hmac('sha256', secret)`. */
const hmac = (hash, secret) => (input) => crypto.createHmac(hash, secret).update(input).digest('base64url')

/**
 * An HS256 JWT signed with `secret` over `payload` (default: issued now, expiring in 60 s), with
 * `header` fields added to `{ alg: 'HS256', typ: 'JWT' }`.
 */
function hs256 (secret, payload = { iat: nowSeconds(), exp: nowSeconds() + 60 }, header = {}) {
  return makeJwt({ alg: 'HS256', typ: 'JWT', ...header }, payload, hmac('sha256', secret))
}

/** The current time in seconds since the epoch (JWT `iat` / `exp`). */
function nowSeconds () {
  return Math.floor(Date.now() / 1000)
}

module.exports = { b64u, makeJwt, hmac, hs256, nowSeconds }
