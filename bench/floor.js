'use strict'
// The "floor" of the through-connector benchmark (bench/through.js): the cheapest ILP transport
// we could write in JavaScript, to show what a plugin costs at the least inside ilp-connector.
//
// An LPIv2 plugin (the interface ilp-connector loads) that sends length-prefixed frames over
// ONE raw TCP connection each way: requests this plugin sends go out on the connection it
// opens to its peer, and their replies come back on that same connection; requests from the
// peer arrive on the connection the peer opened to us. No HTTP, no authentication, no TLS, no
// limits, no retries: NOT a transport to deploy, only a lower bound to compare with.
//
// Options: { incoming: { port, host = '127.0.0.1' }, outgoing: { port, host = '127.0.0.1' } }
// (`incoming.port: 0` binds a free port; read it from `plugin.port` after `connect()`). The
// outgoing connection is opened by the first `sendData` and again after it closes.
//
// Frame: u32 BE length of what follows | u8 kind | u32 BE id | payload
//   kind 1 request (payload: an ILP packet), 2 reply (an ILP packet), 3 error (UTF-8 message).
// Frames written in one JavaScript turn go out in one write (cork, uncork on the next tick).
const { EventEmitter } = require('events')
const net = require('net')

const REQUEST = 1
const REPLY = 2
const ERROR = 3
const HEADER = 9

class FloorPlugin extends EventEmitter {
  constructor (opts) {
    super()
    const incoming = (opts && opts.incoming) || {}
    const outgoing = (opts && opts.outgoing) || {}
    this._incoming = { port: incoming.port ?? 0, host: incoming.host || '127.0.0.1' }
    this._outgoing = outgoing.port === undefined ? null : { port: outgoing.port, host: outgoing.host || '127.0.0.1' }
    this._server = null
    this._peers = new Set() // incoming sockets
    this._socket = null // outgoing socket
    this._pending = new Map() // id -> { resolve, reject }
    this._nextId = 0
    this._dataHandler = null
    this._connected = false
  }

  async connect () {
    if (this._connected) return
    this._server = net.createServer((socket) => this._serve(socket))
    await new Promise((resolve, reject) => {
      this._server.once('error', reject)
      this._server.listen(this._incoming.port, this._incoming.host, resolve)
    })
    this._connected = true
    this.emit('connect')
  }

  async disconnect () {
    if (!this._connected) return
    this._connected = false
    if (this._socket) this._socket.destroy()
    for (const socket of this._peers) socket.destroy()
    await new Promise((resolve) => this._server.close(() => resolve()))
    this.emit('disconnect')
  }

  isConnected () {
    return this._connected
  }

  get port () {
    return this._server && this._server.listening ? this._server.address().port : undefined
  }

  sendData (data) {
    if (!this._outgoing) return Promise.reject(new Error('floor plugin: no outgoing peer configured'))
    const socket = this._socket || this._open()
    const id = this._nextId
    this._nextId = (id + 1) >>> 0
    return new Promise((resolve, reject) => {
      this._pending.set(id, { resolve, reject })
      writeFrame(socket, REQUEST, id, data)
    })
  }

  async sendMoney () {}
  registerDataHandler (handler) { this._dataHandler = handler }
  deregisterDataHandler () { this._dataHandler = null }
  registerMoneyHandler () {}
  deregisterMoneyHandler () {}

  _open () {
    const socket = net.connect(this._outgoing.port, this._outgoing.host)
    socket.setNoDelay(true)
    this._socket = socket
    readFrames(socket, (kind, id, payload) => {
      const waiter = this._pending.get(id)
      if (!waiter) return
      this._pending.delete(id)
      if (kind === REPLY) waiter.resolve(payload)
      else waiter.reject(Object.assign(new Error(payload.toString('utf8')), { ilpErrorCode: 'T00' }))
    })
    const fail = (err) => {
      if (this._socket === socket) this._socket = null
      const pending = this._pending
      this._pending = new Map()
      const error = Object.assign(new Error(`floor plugin: connection lost (${err ? err.message : 'closed'})`), { ilpErrorCode: 'T01' })
      for (const waiter of pending.values()) waiter.reject(error)
    }
    socket.on('error', fail)
    socket.on('close', () => fail(null))
    return socket
  }

  _serve (socket) {
    socket.setNoDelay(true)
    this._peers.add(socket)
    socket.on('close', () => this._peers.delete(socket))
    socket.on('error', () => {})
    readFrames(socket, (kind, id, payload) => {
      if (kind !== REQUEST) return
      const answer = (reply) => {
        if (!socket.destroyed) writeFrame(socket, REPLY, id, reply)
      }
      const fail = (err) => {
        if (!socket.destroyed) writeFrame(socket, ERROR, id, Buffer.from(String((err && err.message) || err)))
      }
      if (!this._dataHandler) return fail(new Error('no data handler'))
      try {
        Promise.resolve(this._dataHandler(payload)).then(answer, fail)
      } catch (err) {
        fail(err)
      }
    })
  }
}

FloorPlugin.version = 2

/** Writes one frame; frames written in the same turn leave in one write. */
function writeFrame (socket, kind, id, payload) {
  const frame = Buffer.allocUnsafe(HEADER + payload.length)
  frame.writeUInt32BE(payload.length + 5, 0)
  frame[4] = kind
  frame.writeUInt32BE(id, 5)
  frame.set(payload, HEADER)
  if (!socket.writableCorked) {
    socket.cork()
    process.nextTick(() => socket.uncork())
  }
  socket.write(frame)
}

/** Calls `onFrame(kind, id, payload)` for each complete frame read from `socket`. */
function readFrames (socket, onFrame) {
  let buffered = null
  socket.on('data', (chunk) => {
    let data = buffered ? Buffer.concat([buffered, chunk]) : chunk
    let offset = 0
    while (data.length - offset >= 4) {
      const length = data.readUInt32BE(offset)
      if (data.length - offset - 4 < length) break
      const kind = data[offset + 4]
      const id = data.readUInt32BE(offset + 5)
      // A copy, so a handler may keep the packet without pinning the whole read buffer.
      const payload = Buffer.from(data.subarray(offset + HEADER, offset + 4 + length))
      offset += 4 + length
      onFrame(kind, id, payload)
    }
    buffered = offset < data.length ? data.subarray(offset) : null
  })
}

module.exports = FloorPlugin
module.exports.default = FloorPlugin
