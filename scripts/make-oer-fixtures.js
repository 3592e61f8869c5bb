#!/usr/bin/env node
'use strict'
// Writes src/fixtures/oer-vectors.json: packets made by the reference JS implementations
// (`ilp-packet`, `ilp-protocol-ildcp`) for the Rust OER reader/writer tests (src/protocol/vectors.rs).
//   node scripts/make-oer-fixtures.js
const fs = require('fs')
const path = require('path')
const IlpPacket = require('ilp-packet')
const ILDCP = require('ilp-protocol-ildcp')

const hex = (buffer) => Buffer.from(buffer).toString('hex')
const bytes = (length, seed) => Buffer.from(Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff))

const prepares = [
  { amount: '0', destination: 'peer.config', data: Buffer.alloc(0), expiresAt: new Date('2026-11-23T20:41:24.956Z') },
  { amount: '1', destination: 'test.a', data: Buffer.alloc(0), expiresAt: new Date('1970-01-01T00:00:00.000Z') },
  { amount: '18446744073709551615', destination: 'g.us.bank.alice~x_-1', data: bytes(127, 1), expiresAt: new Date('2000-02-29T23:59:59.999Z') },
  { amount: '123456789', destination: 'private.' + 'b'.repeat(240), data: bytes(128, 2), expiresAt: new Date('2099-12-31T23:59:59.001Z') },
  { amount: '42', destination: 'example.' + 'c'.repeat(1015), data: bytes(32767, 3), expiresAt: new Date('2030-06-15T12:30:45.500Z') },
  { amount: '7', destination: 'test3.x.y.z', data: bytes(256, 4), expiresAt: new Date('2026-01-01T00:00:00.000Z') }
].map((fields, i) => {
  const executionCondition = bytes(32, 100 + i)
  const packet = IlpPacket.serializeIlpPrepare({ ...fields, executionCondition })
  return {
    hex: hex(packet),
    amount: fields.amount,
    expiresAtMs: fields.expiresAt.getTime(),
    executionCondition: hex(executionCondition),
    destination: fields.destination,
    data: hex(fields.data)
  }
})

const fulfills = [Buffer.alloc(0), bytes(200, 5), bytes(32767, 6)].map((data, i) => {
  const fulfillment = bytes(32, 200 + i)
  return { hex: hex(IlpPacket.serializeIlpFulfill({ fulfillment, data })), fulfillment: hex(fulfillment), data: hex(data) }
})

const rejects = [
  { code: 'F02', triggeredBy: 'test.connector', message: 'no route', data: Buffer.alloc(0) },
  { code: 'T00', triggeredBy: '', message: '', data: bytes(10, 7) },
  { code: 'R00', triggeredBy: 'g.' + 'd'.repeat(1021), message: 'm'.repeat(8191), data: bytes(32767, 8) }
].map((fields) => ({
  hex: hex(IlpPacket.serializeIlpReject(fields)),
  code: fields.code,
  triggeredBy: fields.triggeredBy,
  message: fields.message,
  data: hex(fields.data)
}))

const ildcpResponses = [
  { clientAddress: 'test.parent.child', assetScale: 9, assetCode: 'XRP' },
  { clientAddress: 'g.' + 'e'.repeat(300), assetScale: 0, assetCode: 'USD' },
  { clientAddress: 'private.x', assetScale: 255, assetCode: 'ünicode' }
].map((info) => ({ hex: hex(ILDCP.serializeIldcpResponse(info)), ...info }))

const ildcpRequest = IlpPacket.deserializeIlpPrepare(ILDCP.serializeIldcpRequest({}))

const vectors = {
  generatedBy: 'scripts/make-oer-fixtures.js with ilp-packet and ilp-protocol-ildcp',
  prepares,
  fulfills,
  rejects,
  ildcpResponses,
  ildcpRequest: {
    amount: ildcpRequest.amount,
    destination: ildcpRequest.destination,
    executionCondition: hex(ildcpRequest.executionCondition)
  }
}
const out = path.join(__dirname, '..', 'src', 'fixtures', 'oer-vectors.json')
fs.writeFileSync(out, JSON.stringify(vectors, null, 1) + '\n')
console.log('wrote', out)
