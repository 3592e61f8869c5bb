'use strict'
// ILP packets for tests: Prepares, Fulfills and Rejects built with ilp-packet.
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

module.exports = { sha256, makePrepare, makeFulfill, makeReject, largestPrepare }
