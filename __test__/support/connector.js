'use strict'
// For the end-to-end tests that run a real ilp-connector (connector, connector-multi,
// cluster): plugin names, secrets, a recording logger, reply parsing, and the capture of the
// connector's own log (riverpig) so nothing lands on stdout.
const crypto = require('crypto')
const { Writable } = require('stream')
const IlpPacket = require('ilp-packet')
const { PluginHttp, OriginalPluginHttp } = require('./plugins')

const OURS = 'ilp-plugin-http-rs'
const ORIGINAL = 'ilp-plugin-http'
const CONNECTOR_ADDRESS = 'test.connector'

/** The plugin class a package name stands for. */
function classFor (name) {
  return name === OURS ? PluginHttp : OriginalPluginHttp
}

/** A random secret with a readable label (so a leak in a log names its origin). */
function secret (label) {
  return `${label}-${crypto.randomBytes(12).toString('hex')}`
}

/** A logger with the connector's methods, recording `level message` lines. */
function recordingLogger (lines) {
  const log = {}
  for (const level of ['error', 'warn', 'info', 'debug', 'trace']) {
    log[level] = (...args) => { lines.push(`${level} ${args.join(' ')}`) }
  }
  return log
}

/** A Fulfill or Reject, decoded, with `type: 'fulfill' | 'reject'`. */
function parseResponse (buffer) {
  expect(Buffer.isBuffer(buffer)).toBe(true)
  if (buffer[0] === IlpPacket.Type.TYPE_ILP_REJECT) {
    return { type: 'reject', ...IlpPacket.deserializeIlpReject(buffer) }
  }
  if (buffer[0] === IlpPacket.Type.TYPE_ILP_FULFILL) {
    return { type: 'fulfill', ...IlpPacket.deserializeIlpFulfill(buffer) }
  }
  throw new Error(`not a Fulfill or Reject: type ${buffer[0]}`)
}

/**
 * Sends everything riverpig writes (the connector's logs and, through api.log, ours) to memory
 * instead of stdout. Returns `{ text(), reset() }`. Nothing in the tests depends on it except
 * the check that no secret is ever logged.
 */
function captureConnectorLog () {
  const connectorLog = require('ilp-connector/dist/common/log')
  let captured = ''
  connectorLog.setOutputStream(new Writable({
    write (chunk, encoding, callback) {
      captured += chunk.toString()
      callback()
    }
  }))
  return {
    text: () => captured,
    reset: () => { captured = '' }
  }
}

module.exports = {
  OURS,
  ORIGINAL,
  CONNECTOR_ADDRESS,
  classFor,
  secret,
  recordingLogger,
  parseResponse,
  captureConnectorLog
}
