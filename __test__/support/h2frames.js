'use strict'
// HTTP/2 by hand (RFC 9113, HPACK RFC 7541): frames a hostile client writes on a raw socket,
// and a parser for the frames the server sends back. For well-behaved HTTP/2, use Node's
// http2 client instead.
const { waitFor } = require('./wait')
const { rawConnect } = require('./http1')

/** The client connection preface. */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

/** Frame types. */
const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 }

/** Frame flags (END_STREAM and ACK share a bit, on different frame types). */
const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 }

/** Error codes used by the tests. */
const H2_ERROR = { NO_ERROR: 0 }

/** RFC 9113 §7 error code names, indexed by code. */
const H2_ERROR_NAMES = ['NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT',
  'STREAM_CLOSED', 'FRAME_SIZE_ERROR', 'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM', 'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED']

/** One frame; `length` may lie about the payload's length. */
function h2Frame (type, flags, streamId, payload = Buffer.alloc(0), length = payload.length) {
  const header = Buffer.alloc(9)
  header.writeUIntBE(length, 0, 3)
  header[3] = type
  header[4] = flags
  header.writeUInt32BE(streamId & 0x7fffffff, 5)
  return Buffer.concat([header, Buffer.from(payload)])
}

/** HPACK "literal without indexing, indexed name" for short values (no Huffman). */
function hpackLiteral (nameIndex, value) {
  const v = Buffer.from(value, 'latin1')
  const name = nameIndex < 15 ? [nameIndex] : [0x0f, nameIndex - 15]
  return Buffer.concat([Buffer.from(name), Buffer.from([v.length]), v])
}

/**
 * A valid request header block (static table only): POST http://127.0.0.1/ with
 * `authorization: <auth>`.
 */
function requestBlock (auth) {
  return Buffer.concat([
    Buffer.from([0x83, 0x86, 0x84]), // :method POST, :scheme http, :path /
    hpackLiteral(1, '127.0.0.1'), // :authority
    hpackLiteral(23, auth) // authorization
  ])
}

/** The client's connection start: preface and an empty SETTINGS frame. */
const H2_START = Buffer.concat([H2_PREFACE, h2Frame(FRAME.SETTINGS, 0, 0)])

/** Splits the server's bytes into frames (complete ones only): `[{ type, flags, streamId, payload }]`. */
function parseFrames (data) {
  const frames = []
  let offset = 0
  while (data.length - offset >= 9) {
    const length = data.readUIntBE(offset, 3)
    if (data.length - offset < 9 + length) break
    frames.push({
      type: data[offset + 3],
      flags: data[offset + 4],
      streamId: data.readUInt32BE(offset + 5) & 0x7fffffff,
      payload: data.subarray(offset + 9, offset + 9 + length)
    })
    offset += 9 + length
  }
  return frames
}

/** The first GOAWAY among `frames` as `{ lastStreamId, errorCode }`, or null. */
function goawayOf (frames) {
  const frame = frames.find((f) => f.type === FRAME.GOAWAY)
  if (!frame) return null
  return { lastStreamId: frame.payload.readUInt32BE(0) & 0x7fffffff, errorCode: frame.payload.readUInt32BE(4) }
}

/**
 * Sends `bytes` on a fresh raw connection (the caller includes the preface) and waits up to
 * `waitMs` for the server to close it. Resolves `{ goaway, closed, error, frames, conn }`.
 */
async function h2Exchange (port, bytes, { waitMs = 3000 } = {}) {
  const conn = await rawConnect(port)
  conn.socket.write(bytes)
  await waitFor(() => conn.closed, waitMs)
  const frames = parseFrames(conn.data())
  return { goaway: goawayOf(frames), closed: conn.closed, error: conn.error, frames, conn }
}

module.exports = {
  H2_PREFACE,
  H2_START,
  FRAME,
  FLAG,
  H2_ERROR,
  H2_ERROR_NAMES,
  h2Frame,
  hpackLiteral,
  requestBlock,
  parseFrames,
  goawayOf,
  h2Exchange
}
