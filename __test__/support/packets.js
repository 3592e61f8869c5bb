'use strict'
// ILP packets for tests: Prepares, Fulfills and Rejects built with ilp-packet, and a Prepare
// encoded by hand (for destinations ilp-packet refuses to serialize).
const crypto = require('crypto')
const IlpPacket = require('ilp-packet')
const { MAX_DATA_LENGTH, MAX_DESTINATION } = require('./constants')

/** SHA-256 of `bytes`. */
const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest()

/** An ILP Prepare; `expiresInMs` defaults to 30 s. */
function makePrepare ({ destination = 'test.peer.alice', amount = '10', data = Buffer.alloc(0), expiresInMs = 30000, expiresAt } = {}) {
  return IlpPacket.serializeIlpPrepare({
    amount,
    executionCondition: sha256(Buffer.alloc(32)),
    expiresAt: expiresAt || new Date(Date.now() + expiresInMs),
    destination,
    data
  })
}

/** An ILP Fulfill with the zero fulfillment. */
function makeFulfill (data = Buffer.alloc(0)) {
  return IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.alloc(32), data })
}

/** An ILP Reject. */
function makeReject ({ code = 'F99', triggeredBy = 'test.peer', message = 'rejected', data = Buffer.alloc(0) } = {}) {
  return IlpPacket.serializeIlpReject({ code, triggeredBy, message, data })
}

/**
 * The largest valid Prepare (MAX_PREPARE_LENGTH bytes): a 1023-character destination and
 * MAX_DATA_LENGTH data bytes (`data`, default: 0x5a repeated).
 */
function largestPrepare (data = Buffer.alloc(MAX_DATA_LENGTH, 0x5a)) {
  return makePrepare({ destination: MAX_DESTINATION, data })
}

/** OER length prefix (RFC 27 / X.690 style). */
function lengthPrefix (n) {
  if (n < 0x80) return Buffer.from([n])
  const bytes = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}

function varOctets (buf) {
  return Buffer.concat([lengthPrefix(buf.length), buf])
}

/** ILP's 17-digit timestamp YYYYMMDDHHmmssSSS (UTC). */
function ilpTimestamp (date) {
  return date.toISOString().replace(/[-:TZ.]/g, '')
}

/**
 * An ILP Prepare encoded by hand, so that the destination can hold any bytes (ilp-packet and
 * our parser validate addresses). Same layout as ilp-packet's serializeIlpPrepare.
 */
function encodePrepare ({ destination, expiresAt = new Date(Date.now() + 30000), amount = 10n, data = Buffer.alloc(0) }) {
  const amountBytes = Buffer.alloc(8)
  amountBytes.writeBigUInt64BE(amount)
  const contents = Buffer.concat([
    amountBytes,
    Buffer.from(ilpTimestamp(expiresAt), 'ascii'),
    sha256(Buffer.alloc(32)),
    varOctets(Buffer.isBuffer(destination) ? destination : Buffer.from(destination, 'utf8')),
    varOctets(data)
  ])
  return Buffer.concat([Buffer.from([12]), varOctets(contents)])
}

module.exports = { sha256, makePrepare, makeFulfill, makeReject, largestPrepare, encodePrepare }
