'use strict'
// The soak test's packets (used by scripts/soak/sender.js and scripts/soak/receiver.js).
//
// Everything is a pure function of a fixed seed and the packet's index, so the process that
// sends a Prepare and the process that answers it agree on every byte without talking:
//
// - `makePrepare(stream, index, expiresAt)`: the index-th Prepare of a stream (`FORWARD`,
//   sender → receiver, or `REVERSE`, receiver → sender). Amount = index + 1 (so the answering
//   side learns the index), data size drawn from the mix (0 B, small, 1 KiB, 16 KiB, 32,767 B,
//   anything between), destination of varying length up to the maximum 1023 characters,
//   condition = sha256 of a fulfillment derived from amount and destination.
// - `checkPrepare(bytes)`: the answering side rebuilds the Prepare from the index it carries
//   (and the expiry it carries) and compares the exact bytes.
// - `makeReply(bytes)`: the Fulfill or Reject for a Prepare, derived from its exact bytes: type
//   and sizes drawn from the mix by index, the sha256 of the Prepare's bytes at the start of the
//   Fulfill's data / the Reject's message and data, the rest filler. Fulfills carry up to 32,767
//   data bytes; Rejects up to an 8191-byte message, 32,767 data bytes and a 1023-character
//   triggeredBy. The sending side computes `makeReply(prepare)` itself and compares bytes.
const crypto = require('crypto')
const IlpPacket = require('ilp-packet')

const SEED = 0x50a4
const MAX_DATA = 32767
const MAX_MESSAGE = 8191
const MAX_ADDRESS = 1023

const FORWARD = 1
const REVERSE = 2
/** Destination prefix of each stream (the answering plugin's address). */
const PREFIX = { [FORWARD]: 'test.soak.receiver', [REVERSE]: 'test.soak.sender' }

const PREPARE_TYPE = 12
const FULFILL_TYPE = 13
const REJECT_TYPE = 14
const REJECT_CODES = ['F99', 'T00', 'T04', 'F02', 'R00']

/** 32-bit integer hash of three integers (murmur3 finaliser). */
function mix (a, b, c) {
  let h = (a ^ Math.imul(b, 0x9e3779b1) ^ Math.imul(c + 0x7f4a7c15, 0x85ebca77)) >>> 0
  h ^= h >>> 16
  h = Math.imul(h, 0x7feb352d)
  h ^= h >>> 15
  h = Math.imul(h, 0x846ca68b)
  h ^= h >>> 16
  return h >>> 0
}

/** mulberry32: a small seeded generator of uint32s. */
function generator (seed) {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
}

/** The random numbers for one packet: `purpose` 0 for the Prepare, 1 for its reply. */
function rngFor (stream, index, purpose) {
  return generator(mix(SEED + purpose, stream, index))
}

// Filler bytes and characters, sliced at random offsets (the same in every process).
const POOL_BYTES = (() => {
  const next = generator(SEED)
  const buf = Buffer.alloc(2 * MAX_DATA + 2)
  for (let i = 0; i < buf.length; i += 4) buf.writeUInt32LE(next(), Math.min(i, buf.length - 4))
  return buf
})()
const ADDRESS_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_~-'
const TEXT_CHARS = ADDRESS_CHARS + ' .,:;!?()[]'
const POOL_TEXT = (() => {
  const next = generator(SEED + 1)
  let s = ''
  for (let i = 0; i < 2 * MAX_MESSAGE; i++) s += TEXT_CHARS[next() % TEXT_CHARS.length]
  return s
})()

/** A valid ILP address of MAX_ADDRESS characters: the prefix, then 15-character segments. */
function longAddress (prefix) {
  const next = generator(mix(SEED, prefix.length, 3))
  let s = prefix
  while (s.length < MAX_ADDRESS) {
    s += '.'
    for (let i = 0; i < 15; i++) s += ADDRESS_CHARS[next() % ADDRESS_CHARS.length]
  }
  s = s.slice(0, MAX_ADDRESS)
  return s.endsWith('.') ? s.slice(0, -1) + 'x' : s
}
const LONG = { [FORWARD]: longAddress(PREFIX[FORWARD]), [REVERSE]: longAddress(PREFIX[REVERSE]) }

/** An address of `length` characters (≥ prefix length) starting with the stream's prefix. */
function addressOfLength (stream, length) {
  const s = LONG[stream].slice(0, length)
  return s.endsWith('.') ? s.slice(0, -1) + 'x' : s
}

/** Size classes of data fields (also used to tally the mix). */
const SIZE_CLASSES = ['0', '1-255', '1024', '16384', '32767', 'other']

/** A data size drawn from the mix: 0 B, small, 1 KiB, 16 KiB, the maximum, anything between. */
function dataSize (r) {
  const pick = r % 100
  const rest = r >>> 8
  if (pick < 12) return 0
  if (pick < 37) return 1 + rest % 255
  if (pick < 52) return 1024
  if (pick < 67) return 16384
  if (pick < 82) return MAX_DATA
  return 256 + rest % (MAX_DATA - 256)
}

function sizeClass (n) {
  if (n === 0) return '0'
  if (n < 256) return '1-255'
  if (n === 1024) return '1024'
  if (n === 16384) return '16384'
  if (n === MAX_DATA) return '32767'
  return 'other'
}

/** `length` filler bytes (a view of the shared pool, not a copy). */
function filler (r, length) {
  const start = r % (POOL_BYTES.length - length + 1)
  return POOL_BYTES.subarray(start, start + length)
}

function sha256 (data) {
  return crypto.createHash('sha256').update(data).digest()
}

/** The fulfillment of a Prepare: a function of its amount (index) and destination. */
function fulfillmentFor (amount, destination) {
  return sha256(`soak fulfillment ${amount} ${destination}`)
}

/** The fields of the index-th Prepare of a stream, except its expiry. */
function prepareFields (stream, index) {
  const next = rngFor(stream, index, 0)
  const dataLength = dataSize(next())
  const data = filler(next(), dataLength)
  const pick = next() % 100
  const prefixLength = PREFIX[stream].length
  const destinationLength = pick < 10
    ? MAX_ADDRESS
    : pick < 40 ? prefixLength : prefixLength + 2 + next() % (200 - prefixLength)
  const destination = addressOfLength(stream, destinationLength)
  const amount = String(index + 1)
  return { amount, destination, data, executionCondition: sha256(fulfillmentFor(amount, destination)) }
}

/** The serialized index-th Prepare of a stream. */
function makePrepare (stream, index, expiresAt) {
  return IlpPacket.serializeIlpPrepare({ ...prepareFields(stream, index), expiresAt })
}

/**
 * Parses an incoming Prepare and checks it is byte for byte the one `makePrepare` gives for
 * the index and expiry it carries. Returns `{ stream, index, prepare, error }` (`error`
 * undefined when it is right).
 */
function checkPrepare (bytes) {
  let prepare
  try {
    prepare = IlpPacket.deserializeIlpPrepare(bytes)
  } catch (err) {
    return { error: `not a valid ILP Prepare (${err.message})` }
  }
  const stream = prepare.destination.startsWith(PREFIX[FORWARD])
    ? FORWARD
    : prepare.destination.startsWith(PREFIX[REVERSE]) ? REVERSE : 0
  const index = Number(prepare.amount) - 1
  if (!stream || !Number.isSafeInteger(index) || index < 0) {
    return { prepare, error: `unexpected Prepare (amount ${prepare.amount}, destination ${prepare.destination.slice(0, 40)}…)` }
  }
  const expected = makePrepare(stream, index, prepare.expiresAt)
  if (!expected.equals(bytes)) {
    return { stream, index, prepare, error: `Prepare ${index} of stream ${stream} differs from the one expected (${bytes.length} B, expected ${expected.length} B)` }
  }
  return { stream, index, prepare }
}

/**
 * The reply to a Prepare (Buffer of its exact bytes; `prepare` its parsed form when at hand).
 * Returns `{ reply, kind }` where `kind` is 'fulfill' or 'reject'.
 */
function makeReply (bytes, prepare = IlpPacket.deserializeIlpPrepare(bytes)) {
  const digest = sha256(bytes)
  const stream = prepare.destination.startsWith(PREFIX[REVERSE]) ? REVERSE : FORWARD
  const next = rngFor(stream, Number(prepare.amount) - 1, 1)
  const dataLength = dataSize(next())
  const data = Buffer.concat([digest.subarray(0, Math.min(32, dataLength)), filler(next(), Math.max(0, dataLength - 32))])
  if (next() % 2 === 0) {
    return {
      kind: 'fulfill',
      reply: IlpPacket.serializeIlpFulfill({ fulfillment: fulfillmentFor(prepare.amount, prepare.destination), data })
    }
  }
  const head = `soak reply to ${digest.toString('hex')}: `
  const pick = next() % 100
  const messageLength = pick < 30 ? MAX_MESSAGE : pick < 60 ? head.length : head.length + next() % (MAX_MESSAGE - head.length)
  const fill = next() % (POOL_TEXT.length - MAX_MESSAGE)
  const message = head + POOL_TEXT.slice(fill, fill + messageLength - head.length)
  return {
    kind: 'reject',
    reply: IlpPacket.serializeIlpReject({
      code: REJECT_CODES[next() % REJECT_CODES.length],
      triggeredBy: prepare.destination, // the answering node: up to 1023 characters
      message,
      data
    })
  }
}

/** A tally of the mix of packets and replies (kept by the side that sends). */
function newTally () {
  const bySize = () => Object.fromEntries(SIZE_CLASSES.map((c) => [c, 0]))
  return {
    prepareData: bySize(),
    destinationMaxLength: 0, // 1023-character destination
    maxPrepare: 0, // 32,767 data bytes and a 1023-character destination (33,857 B)
    fulfills: 0,
    fulfillData: bySize(),
    rejects: 0,
    rejectData: bySize(),
    rejectMaxMessage: 0, // 8191-byte message
    maxReject: 0, // 8191-byte message, 32,767 data bytes and a 1023-character triggeredBy
    prepareBytes: 0,
    replyBytes: 0,
    largestPrepare: 0,
    largestReply: 0
  }
}

/** Adds one verified exchange to a tally (parses the packets: call it on a sample only if hot). */
function tallyExchange (tally, prepareBytes, replyBytes, kind) {
  const prepare = IlpPacket.deserializeIlpPrepare(prepareBytes)
  tally.prepareData[sizeClass(prepare.data.length)]++
  const longDestination = prepare.destination.length === MAX_ADDRESS
  if (longDestination) tally.destinationMaxLength++
  if (longDestination && prepare.data.length === MAX_DATA) tally.maxPrepare++
  tally.prepareBytes += prepareBytes.length
  tally.replyBytes += replyBytes.length
  tally.largestPrepare = Math.max(tally.largestPrepare, prepareBytes.length)
  tally.largestReply = Math.max(tally.largestReply, replyBytes.length)
  if (kind === 'fulfill') {
    const fulfill = IlpPacket.deserializeIlpFulfill(replyBytes)
    tally.fulfills++
    tally.fulfillData[sizeClass(fulfill.data.length)]++
  } else {
    const reject = IlpPacket.deserializeIlpReject(replyBytes)
    const messageBytes = Buffer.byteLength(reject.message)
    tally.rejects++
    tally.rejectData[sizeClass(reject.data.length)]++
    if (messageBytes === MAX_MESSAGE) tally.rejectMaxMessage++
    if (messageBytes === MAX_MESSAGE && reject.data.length === MAX_DATA && reject.triggeredBy.length === MAX_ADDRESS) tally.maxReject++
  }
}

/** Adds tally `b` into tally `a`. */
function addTally (a, b) {
  for (const [key, value] of Object.entries(b)) {
    if (typeof value === 'number') a[key] = key.startsWith('largest') ? Math.max(a[key], value) : a[key] + value
    else for (const c of Object.keys(value)) a[key][c] += value[c]
  }
  return a
}

/** Self-check at load: the long addresses are valid ILP addresses of the maximum length. */
for (const s of [FORWARD, REVERSE]) {
  if (LONG[s].length !== MAX_ADDRESS || !IlpPacket.isValidIlpAddress(LONG[s])) {
    throw new Error(`soak: bad long address for stream ${s}`)
  }
}

module.exports = {
  FORWARD,
  REVERSE,
  PREFIX,
  PREPARE_TYPE,
  FULFILL_TYPE,
  REJECT_TYPE,
  MAX_DATA,
  MAX_MESSAGE,
  MAX_ADDRESS,
  makePrepare,
  checkPrepare,
  makeReply,
  newTally,
  tallyExchange,
  addTally
}
