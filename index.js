'use strict'
// The public class. A napi class cannot extend EventEmitter, so this small JS class holds the
// native object and adapts shapes; everything about HTTP, auth and limits lives in Rust
// (src/). The one piece of behaviour here is calling the user's data handler, because that is
// JavaScript: `_dispatch` normalises whatever the handler does (sync, async, throw, wrong
// type) into exactly one answer to Rust.
const { EventEmitter } = require('events')
const { types } = require('util')
const createDebug = require('debug')

/**
 * Environment variable sizing the addon's tokio runtime (worker threads, process-wide). The
 * addon reads it once, when it loads; it is checked here first so a bad value is an error
 * naming it instead of a silent default. README "Performance" says what to choose.
 */
const WORKER_THREADS_ENV = 'ILP_PLUGIN_HTTP_RS_WORKER_THREADS'
const MAX_WORKER_THREADS = 64
checkWorkerThreads(process.env[WORKER_THREADS_ENV])

const { NativePlugin } = require('./native.js')

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
    /** What the last connect()/disconnect() call asked for: the state `_settle` works towards. */
    this._wantConnected = false
    /** The running transition (a promise), while one runs. */
    this._transition = null
    /** sendData calls in flight: id -> { resolve, reject } (settled by `_settleSend`). */
    this._sends = new Map()
    this._nextSendId = 0
    /** Keeps Node alive while sends are in flight (Rust reports through a weak function). */
    this._sendKeepAlive = null
    this._native = new NativePlugin(
      JSON.stringify(pick(opts, OPTION_KEYS), keepInvalidNumbers),
      (batch) => forEachRecord(batch, (id, kind, start, end) => this._dispatch(id, Buffer.from(batch.subarray(start, end)))),
      (batch) => forEachRecord(batch, (id, kind, start, end) => this._settleSend(id, readOutcome(batch, kind, start, end))),
      (level, message) => this._log(level, message)
    )
    /** sendData calls and handler answers of this JS turn, handed to Rust at its end. */
    this._outbox = new Outbox((batch) => this._native.flush(batch), (records, err) => this._outboxFailed(records, err))
  }

  /**
   * Starts the HTTP server; resolves once the port is bound. Idempotent. With connect() and
   * disconnect() called in any interleaving, the last call wins: every pending call resolves
   * once the plugin reached the state the last one asked for.
   */
  connect () {
    this._wantConnected = true
    return this._settle()
  }

  /** Stops the server: new connections are refused at once, in-flight requests finish. */
  disconnect () {
    this._wantConnected = false
    return this._settle()
  }

  /** Joins the running transition, or starts one towards `_wantConnected`. */
  _settle () {
    if (!this._transition) this._transition = this._reachWantedState()
    return this._transition
  }

  /**
   * Connects or disconnects until the state is the one last asked for (it may change while a
   * disconnect is awaited). `_transition` is cleared in the same step as the last check, so a
   * later call always starts a new transition instead of joining a finished one.
   */
  async _reachWantedState () {
    try {
      // Calls made in the same tick decide together which state is wanted.
      await undefined
      // Sends and answers queued before this call go out before the state changes.
      this._outbox.flush()
      for (;;) {
        if (this._wantConnected && !this._connected) {
          this._native.connect()
          this._connected = true
          this.emit('connect')
        } else if (!this._wantConnected && this._connected) {
          this._connected = false
          await this._native.disconnect()
          this.emit('disconnect')
        } else {
          return
        }
      }
    } finally {
      this._transition = null
    }
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
    let bytes
    try {
      bytes = asBuffer(data)
    } catch (err) {
      // Anything that is not a readable Uint8Array: a detached buffer, a fake or revoked view.
      return Promise.reject(sendError(new TypeError('sendData: data must be a Buffer'), 'F00'))
    }
    return new Promise((resolve, reject) => {
      const id = this._nextSendId
      this._nextSendId = (id + 1) >>> 0
      this._sends.set(id, { resolve, reject })
      if (this._sends.size === 1) this._holdProcess(true)
      try {
        this._outbox.put(id, OUTBOX_SEND, bytes)
      } catch (err) {
        this._settleSend(id, { message: `sendData failed: ${describeError(err)}`, ilpErrorCode: 'F00' })
      }
    })
  }

  /**
   * Rust refused a flushed batch (a bug: the batch is malformed; nothing in it was acted on):
   * its sends fail, its answers are lost (their requests time out), and it is logged.
   */
  _outboxFailed (records, err) {
    const message = describeError(err)
    this._log('error', `handing packets to the native side failed: ${message}`)
    for (const { id, kind } of records) {
      if (kind === OUTBOX_SEND) this._settleSend(id, { message: `sendData failed: ${message}`, ilpErrorCode: 'F00' })
    }
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
      send.reject(sendError(new Error(result.message), result.ilpErrorCode))
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
   * Called for each incoming request (Rust hands them over in batches). Must never
   * throw: it answers the request exactly once, through the outbox (the handler's reply,
   * its failure, or "no handler").
   */
  _dispatch (id, data) {
    const handler = this._dataHandler
    if (!handler) {
      this._answer(id, OUTBOX_NO_HANDLER, EMPTY)
      return
    }
    const fail = (err) => this._answer(id, OUTBOX_HANDLER_FAILED, describeError(err))
    const answer = (result) => {
      let reply
      try {
        reply = asBuffer(result)
      } catch (err) {
        // Not a Buffer, or one that cannot be read (detached, a fake or revoked view).
        this._answer(id, OUTBOX_HANDLER_FAILED, `data handler returned ${describeValue(result)}, expected a Buffer`)
        return
      }
      try {
        this._outbox.put(id, OUTBOX_REPLY, reply)
      } catch (err) {
        this._answer(id, OUTBOX_HANDLER_FAILED, `the data handler's reply could not be handed over: ${describeError(err)}`)
      }
    }
    try {
      const result = handler(data)
      const then = isObject(result) ? result.then : undefined
      if (typeof then === 'function') {
        Reflect.apply(then, result, [answer, fail])
      } else {
        answer(result)
      }
    } catch (err) {
      fail(err)
    }
  }

  /**
   * Queues the answer to incoming request `id` (`bytes`: a Buffer, or the message of an
   * OUTBOX_HANDLER_FAILED). Never throws: if even that cannot be queued, it is logged and the
   * request is answered when its Prepare expires.
   */
  _answer (id, kind, bytes) {
    try {
      if (typeof bytes === 'string') this._outbox.putText(id, kind, bytes)
      else this._outbox.put(id, kind, bytes)
    } catch (err) {
      this._log('error', `the answer to an incoming request could not be handed over: ${describeError(err)}`)
    }
  }
}

PluginHttp.version = 2

/**
 * A Buffer view of a Uint8Array (no copy). Throws a TypeError for anything else, including a
 * view whose buffer was detached, a fake (an object with Uint8Array's prototype) and a revoked
 * Proxy: the native side then never sees a value it cannot read.
 */
function asBuffer (bytes) {
  if (!isUint8Array(bytes)) throw new TypeError('not a Uint8Array')
  // A detached view reads as empty; its buffer can no longer be used at all.
  if (bytes.byteLength === 0 && isDetached(bytes.buffer)) throw new TypeError('the buffer is detached')
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** A real Uint8Array (or Buffer), checked by its internal slot, not its prototype. */
function isUint8Array (value) {
  try {
    return types.isUint8Array(value)
  } catch (err) {
    return false
  }
}

/** Node 20 has no `ArrayBuffer.prototype.detached`: a detached buffer cannot be sliced. */
function isDetached (arrayBuffer) {
  try {
    arrayBuffer.slice(0, 0)
    return false
  } catch (err) {
    return true
  }
}

/** `value` can have properties (so a `then`). */
function isObject (value) {
  return (typeof value === 'object' && value !== null) || typeof value === 'function'
}

/** The rejection of a failed sendData: an Error with `ilpErrorCode`. */
function sendError (error, ilpErrorCode) {
  error.ilpErrorCode = ilpErrorCode
  return error
}

/**
 * Calls `fn(id, kind, start, end)` for each record of a batch from Rust (src/node/bridge.rs):
 * `id: u32 LE | kind: u8 | length: u32 LE | bytes`; the bytes are `batch[start, end)`. Rust
 * hands incoming packets and sendData outcomes over in batches, so a busy JS thread is
 * entered once per batch instead of once per packet.
 */
function forEachRecord (batch, fn) {
  let offset = 0
  while (offset < batch.length) {
    const id = batch.readUInt32LE(offset)
    const kind = batch[offset + 4]
    const start = offset + 9
    offset = start + batch.readUInt32LE(offset + 5)
    fn(id, kind, start, offset)
  }
}

/** Record kinds from Rust (src/node/bridge.rs). */
const KIND_PACKET = 0
const KIND_FAILURE = 1

/** Record kinds to Rust (`OUTBOX_*` in src/node/bridge.rs). */
const OUTBOX_SEND = 0
const OUTBOX_REPLY = 1
const OUTBOX_HANDLER_FAILED = 2
const OUTBOX_NO_HANDLER = 3
const EMPTY = Buffer.alloc(0)

/** Size of the record header: `id: u32 LE | kind: u8 | length: u32 LE`. */
const RECORD_HEADER = 9
/** The outbox's staging Buffer: at least this large when made, kept after a flush up to the other. */
const STAGING_MIN = 16 * 1024
const STAGING_KEPT = 1024 * 1024
/** A record's length is a u32. */
const MAX_RECORD_BYTES = 0xffffffff

/**
 * The sendData calls and data-handler answers of one JS turn, handed to Rust in one call
 * (`flush(batch)`) when the turn ends, in the record layout `forEachRecord` reads. The first
 * record queues a microtask that schedules the flush with `process.nextTick`: a tick queued
 * from a microtask runs once the microtask queue is empty, so the flush comes after the turn's
 * promise callbacks too (a tick queued directly would run before them, when the first record
 * comes from a plain callback). Under load ilp-connector makes many calls per turn; one native
 * call and one wake-up of tokio then carry them all. Each packet is copied in when it is put,
 * so the caller may reuse its Buffer at once; a record is counted in only once its bytes are
 * in, so a put that throws leaves nothing behind. The staging Buffer is reused (Rust copies
 * the batch during the call): made on first use, kept between turns (16 KiB to 1 MiB), and
 * let go after a batch larger than STAGING_KEPT, so a burst does not pin memory.
 */
class Outbox {
  /**
   * @param {(batch: Buffer) => void} flush      hands a batch to Rust (may throw)
   * @param {(records: {id: number, kind: number}[], err: unknown) => void} failed  when it threw
   */
  constructor (flush, failed) {
    this._flush = flush
    this._failed = failed
    this._staging = EMPTY
    this._used = 0
    this._count = 0
    this._scheduled = false
  }

  /** Queues a record whose bytes are `bytes` (a Buffer, already checked readable). */
  put (id, kind, bytes) {
    const start = this._room(bytes.length) // may replace this._staging: first
    this._staging.set(bytes, start)
    this._commit(id, kind, bytes.length)
  }

  /** Queues a record whose bytes are `text` in UTF-8. */
  putText (id, kind, text) {
    const length = Buffer.byteLength(text)
    const start = this._room(length)
    this._staging.write(text, start, 'utf8')
    this._commit(id, kind, length)
  }

  /** Makes room for a record of `length` bytes; returns where they go. Commits nothing. */
  _room (length) {
    if (length > MAX_RECORD_BYTES) throw new RangeError(`${length} bytes do not fit a record`)
    const end = this._used + RECORD_HEADER + length
    if (end > this._staging.length) {
      const grown = Buffer.allocUnsafe(Math.max(end, 2 * this._staging.length, STAGING_MIN))
      this._staging.copy(grown, 0, 0, this._used)
      this._staging = grown
    }
    return this._used + RECORD_HEADER
  }

  /** Writes the header of the record whose bytes are in, counts it, schedules the flush. */
  _commit (id, kind, length) {
    const at = this._used
    this._staging.writeUInt32LE(id, at)
    this._staging[at + 4] = kind
    this._staging.writeUInt32LE(length, at + 5)
    this._used = at + RECORD_HEADER + length
    this._count++
    if (!this._scheduled) {
      this._scheduled = true
      queueMicrotask(() => process.nextTick(() => this.flush()))
    }
  }

  /** Hands everything queued to Rust now (also called before connect/disconnect). */
  flush () {
    this._scheduled = false
    if (this._count === 0) return
    const batch = this._staging.subarray(0, this._used)
    this._used = 0
    this._count = 0
    try {
      this._flush(batch)
    } catch (err) {
      const records = []
      forEachRecord(batch, (id, kind) => records.push({ id, kind }))
      this._failed(records, err)
    }
    if (this._used === 0 && this._staging.length > STAGING_KEPT) this._staging = EMPTY
  }
}

/**
 * A sendData outcome from its record: the reply as a Buffer of its own (a copy, not a view of
 * the batch), or for KIND_FAILURE (`code length: u8 | ILP error code | UTF-8 message`)
 * `{ message, ilpErrorCode }`.
 */
function readOutcome (batch, kind, start, end) {
  if (kind === KIND_PACKET) return Buffer.from(batch.subarray(start, end))
  const codeEnd = start + 1 + batch[start]
  return { ilpErrorCode: batch.toString('latin1', start + 1, codeEnd), message: batch.toString('utf8', codeEnd, end) }
}

/** Throws unless `value` is unset, empty, or an integer from 1 to MAX_WORKER_THREADS. */
function checkWorkerThreads (value) {
  if (value === undefined || value === '') return
  if (!/^[0-9]+$/.test(value) || Number(value) < 1 || Number(value) > MAX_WORKER_THREADS) {
    throw new RangeError(`${WORKER_THREADS_ENV} must be an integer from 1 to ${MAX_WORKER_THREADS}, not ${JSON.stringify(value)}`)
  }
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

/**
 * A log-safe description of what a handler threw or rejected with. Never throws: the value may
 * be a revoked Proxy, or an Error whose `message` getter throws.
 */
function describeError (err) {
  try {
    if (err instanceof Error) {
      const message = err.message || err.name
      if (typeof message === 'string') return message
    }
    if (err === undefined || err === null) return `data handler rejected with ${err}`
    return `data handler rejected with ${describeValue(err)}`
  } catch (e) {
    return 'data handler rejected with a value that cannot be read'
  }
}

/** `typeof`-like words for a value; never throws (no property of `value` is read). */
function describeValue (value) {
  if (value === null) return 'null'
  if (typeof value === 'string') return 'a string'
  if (typeof value === 'object') {
    try {
      return Array.isArray(value) ? 'an array' : 'an object'
    } catch (e) {
      return 'an object'
    }
  }
  return typeof value
}

/**
 * Returns `(level, message) => void` writing to the connector's logger when one is given
 * (`api.log` or `opts._log`, with info/warn/error/debug/trace), else to the `debug` package
 * under `ilp-plugin-http-rs:<level>`.
 */
function makeLogger (log) {
  if (log && typeof log === 'object') {
    // A logger that throws (or a getter on it that throws) must not take the process down:
    // the line is dropped.
    return (level, message) => {
      try {
        const method = LEVELS.includes(level) && typeof log[level] === 'function' ? level : 'info'
        if (typeof log[method] === 'function') log[method](message)
      } catch (err) {}
    }
  }
  const loggers = {}
  for (const level of LEVELS) loggers[level] = createDebug(`ilp-plugin-http-rs:${level}`)
  return (level, message) => (loggers[level] || loggers.info)(message)
}

module.exports = PluginHttp
module.exports.default = PluginHttp
module.exports.PluginHttp = PluginHttp
