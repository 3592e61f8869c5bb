'use strict'
// The public class. A napi class cannot extend EventEmitter, so this small JS class holds the
// native object and adapts shapes; everything about HTTP, auth and limits lives in Rust
// (src/). The one piece of behaviour here is calling the user's data handler, because that is
// JavaScript: `_dispatch` normalises whatever the handler does (sync, async, throw, wrong
// type) into exactly one answer to Rust.
const { EventEmitter } = require('events')
const path = require('path')
const createDebug = require('debug')

const { NativePlugin } = require(path.join(__dirname, 'native', 'ilp-plugin-http-rs.node'))

/** Log levels the connector's logger offers; Rust sends one of these. */
const LEVELS = ['error', 'warn', 'info', 'debug', 'trace']

/** The option keys the native side reads; anything else (`_store`, `_log`, …) stays in JS. */
const OPTION_KEYS = ['multi', 'multiDelimiter', 'ildcp', 'incoming', 'outgoing']

class PluginHttp extends EventEmitter {
  /**
   * @param {object} opts  plugin options (see index.d.ts and the README)
   * @param {object} [api] `{ store, log }` as ilp-connector passes it
   */
  constructor (opts, api) {
    super()
    if (opts === null || typeof opts !== 'object') {
      throw new TypeError('options must be an object')
    }
    this._log = makeLogger((api && api.log) || opts._log)
    this._dataHandler = undefined
    this._connected = false
    this._connecting = null
    this._disconnecting = null
    /** sendData calls in flight: id -> { resolve, reject } (settled by `_settleSend`). */
    this._sends = new Map()
    this._nextSendId = 0
    /** Keeps Node alive while sends are in flight (Rust reports through a weak function). */
    this._sendKeepAlive = null
    this._native = new NativePlugin(
      JSON.stringify(pick(opts, OPTION_KEYS), keepInvalidNumbers),
      (id, data) => this._dispatch(id, data),
      (id, result) => this._settleSend(id, result),
      (level, message) => this._log(level, message)
    )
  }

  /** Starts the HTTP server; resolves once the port is bound. Idempotent. */
  connect () {
    if (this._connected) return Promise.resolve()
    if (!this._connecting) {
      this._connecting = this._connect().finally(() => { this._connecting = null })
    }
    return this._connecting
  }

  async _connect () {
    if (this._disconnecting) await this._disconnecting
    this._native.connect()
    this._connected = true
    this.emit('connect')
  }

  /** Stops the server: new connections are refused at once, in-flight requests finish. */
  disconnect () {
    if (this._disconnecting) return this._disconnecting
    if (!this._connected) {
      return this._connecting ? this._connecting.then(() => this.disconnect(), () => {}) : Promise.resolve()
    }
    this._connected = false
    this._disconnecting = this._native.disconnect()
      .finally(() => { this._disconnecting = null })
      .then(() => { this.emit('disconnect') })
    return this._disconnecting
  }

  isConnected () {
    return this._connected
  }

  /** The port the server is bound to while connected (useful with `incoming.port: 0`). */
  get port () {
    return this._native.port() ?? undefined
  }

  /**
   * Sends an ILP Prepare to the peer and resolves with its Fulfill/Reject bytes. Rejects with
   * an Error carrying `ilpErrorCode` (T01 transport, T00 5xx, F00 other status, R00 expired).
   * @param {Buffer} data
   * @returns {Promise<Buffer>}
   */
  sendData (data) {
    if (!(data instanceof Uint8Array)) {
      return Promise.reject(Object.assign(new TypeError('sendData: data must be a Buffer'), { ilpErrorCode: 'F00' }))
    }
    return new Promise((resolve, reject) => {
      const id = this._nextSendId
      this._nextSendId = (id + 1) >>> 0
      this._sends.set(id, { resolve, reject })
      if (this._sends.size === 1) this._holdProcess(true)
      this._native.sendData(id, asBuffer(data))
    })
  }

  /** Called by Rust with a send's outcome: the reply Buffer, or `{ message, ilpErrorCode }`. */
  _settleSend (id, result) {
    const send = this._sends.get(id)
    if (!send) return
    this._sends.delete(id)
    if (this._sends.size === 0) this._holdProcess(false)
    if (Buffer.isBuffer(result)) {
      send.resolve(result)
    } else {
      send.reject(Object.assign(new Error(result.message), { ilpErrorCode: result.ilpErrorCode }))
    }
  }

  _holdProcess (hold) {
    if (!this._sendKeepAlive) this._sendKeepAlive = setInterval(() => {}, 1 << 30)
    if (hold) this._sendKeepAlive.ref()
    else this._sendKeepAlive.unref()
  }

  registerDataHandler (handler) {
    if (typeof handler !== 'function') throw new TypeError('data handler must be a function')
    this._dataHandler = handler
  }

  deregisterDataHandler () {
    this._dataHandler = undefined
  }

  /**
   * Live figures (packets, fulfills/rejects, errors by kind, in flight, open connections,
   * latency percentiles, bytes, uptime) and the effective configuration with secrets
   * redacted. ilp-connector's admin API shows it for the account.
   */
  getAdminInfo () {
    return JSON.parse(this._native.adminInfo())
  }

  /**
   * The same figures in the Prometheus text format (0.0.4), for a `/metrics` endpoint.
   * @param {string} [prefix] metric name prefix, default `ilp_plugin_http`
   */
  getMetrics (prefix = 'ilp_plugin_http') {
    if (typeof prefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) {
      throw new TypeError('getMetrics: prefix must be a valid Prometheus metric name')
    }
    return this._native.metrics(prefix)
  }

  /** Money is settled elsewhere: this plugin carries data only. */
  registerMoneyHandler () {}
  deregisterMoneyHandler () {}
  async sendMoney () {}

  /**
   * Called by Rust (through a thread-safe function) for each incoming request. Must never
   * throw: it answers the request exactly once, through respond / respondError /
   * respondNoHandler.
   */
  _dispatch (id, data) {
    const handler = this._dataHandler
    if (!handler) {
      this._native.respondNoHandler(id)
      return
    }
    const fail = (err) => this._native.respondError(id, describeError(err))
    const answer = (result) => {
      if (result instanceof Uint8Array) {
        this._native.respond(id, asBuffer(result))
      } else {
        this._native.respondError(id, `data handler returned ${describeValue(result)}, expected a Buffer`)
      }
    }
    try {
      const result = handler(data)
      if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
        result.then(answer, fail)
      } else {
        answer(result)
      }
    } catch (err) {
      fail(err)
    }
  }
}

PluginHttp.version = 2

/** A Buffer view of a Uint8Array (no copy). */
function asBuffer (bytes) {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

function pick (object, keys) {
  const out = {}
  for (const key of keys) {
    if (object[key] !== undefined) out[key] = object[key]
  }
  return out
}

/**
 * JSON.stringify replacer: NaN, ±Infinity and BigInts would become null or throw; pass them
 * on as strings so the native validation reports the option instead of ignoring it.
 */
function keepInvalidNumbers (key, value) {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value)
  if (typeof value === 'bigint') return `${value}n`
  return value
}

function describeError (err) {
  if (err instanceof Error) return err.message || err.name
  if (err === undefined || err === null) return `data handler rejected with ${err}`
  return `data handler rejected with ${describeValue(err)}`
}

function describeValue (value) {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return 'a string'
  return typeof value === 'object' ? 'an object' : String(typeof value === 'undefined' ? 'undefined' : typeof value)
}

/**
 * Returns `(level, message) => void` writing to the connector's logger when one is given
 * (`api.log` or `opts._log`, with info/warn/error/debug/trace), else to the `debug` package
 * under `ilp-plugin-http-rs:<level>`.
 */
function makeLogger (log) {
  if (log && typeof log === 'object') {
    return (level, message) => {
      const method = LEVELS.includes(level) && typeof log[level] === 'function' ? level : 'info'
      if (typeof log[method] === 'function') log[method](message)
    }
  }
  const loggers = {}
  for (const level of LEVELS) loggers[level] = createDebug(`ilp-plugin-http-rs:${level}`)
  return (level, message) => (loggers[level] || loggers.info)(message)
}

module.exports = PluginHttp
module.exports.default = PluginHttp
module.exports.PluginHttp = PluginHttp
