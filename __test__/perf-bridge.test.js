'use strict'
// The batched bridge (issue 13, item 2; src/node/bridge.rs, `forEachRecord` in index.js):
// Rust hands incoming packets and sendData outcomes to the JS thread in batches. Under many
// packets in flight, every packet still reaches the handler once, as a Buffer of its own with
// its own bytes, and every sendData settles exactly once with its own reply or its own error
// (code and message), also when successes and failures share a batch.
const IlpPacket = require('ilp-packet')
const { PluginHttp, UNUSED_OUTGOING_URL, makePrepare, makeFulfill, disconnectAll } = require('./support')

const IN_FLIGHT = 400
const TOKEN = 'perf-bridge-token'

/** A receiving plugin on 127.0.0.1:0 with `handler`; resolves `{ plugin, url }`. */
async function receiver (handler) {
  const plugin = new PluginHttp({
    incoming: { port: 0, host: '127.0.0.1', staticToken: TOKEN },
    outgoing: { url: UNUSED_OUTGOING_URL, staticToken: TOKEN }
  })
  plugin.registerDataHandler(handler)
  await plugin.connect()
  return { plugin, url: `http://127.0.0.1:${plugin.port}/` }
}

function sender (url) {
  return new PluginHttp({
    incoming: { port: 0, host: '127.0.0.1', staticToken: TOKEN },
    outgoing: { url, staticToken: TOKEN }
  })
}

let plugins = []
afterEach(async () => {
  await disconnectAll(plugins)
  plugins = []
})

test(`${IN_FLIGHT} packets in flight: each reaches the handler once as its own Buffer, each send gets its own reply`, async () => {
  const seen = new Map() // index -> packet Buffer as the handler got it
  const { plugin: recv, url } = await receiver(async (packet) => {
    const { data } = IlpPacket.deserializeIlpPrepare(packet)
    const index = data.readUInt32BE(0)
    expect(seen.has(index)).toBe(false)
    seen.set(index, packet)
    await new Promise(setImmediate) // answer later, so many requests wait at once
    return makeFulfill(data) // the reply carries the Prepare's data: each one differs
  })
  const send = sender(url)
  plugins.push(send, recv)
  await send.connect()

  const prepares = Array.from({ length: IN_FLIGHT }, (_, i) => {
    const data = Buffer.alloc(64 + (i % 7) * 100)
    data.writeUInt32BE(i, 0)
    data.fill(i % 251, 4)
    return { data, packet: makePrepare({ data }) }
  })
  const replies = await Promise.all(prepares.map(({ packet }) => send.sendData(packet)))

  expect(seen.size).toBe(IN_FLIGHT)
  for (let i = 0; i < IN_FLIGHT; i++) {
    expect(seen.get(i).equals(prepares[i].packet)).toBe(true)
    expect(replies[i].equals(makeFulfill(prepares[i].data))).toBe(true)
  }
  // Buffers of their own: changing one leaves every other packet and reply as it was.
  seen.get(0).fill(0)
  replies[0].fill(0)
  expect(seen.get(1).equals(prepares[1].packet)).toBe(true)
  expect(replies[1].equals(makeFulfill(prepares[1].data))).toBe(true)
})

test('successes and failures settling together each settle once, failures with their own code and message', async () => {
  const { plugin: recv, url } = await receiver(async (packet) => {
    const { data } = IlpPacket.deserializeIlpPrepare(packet)
    await new Promise(setImmediate)
    if (data.readUInt32BE(0) % 3 === 0) throw new Error('odd one out') // -> HTTP 500 -> T00
    return makeFulfill(data)
  })
  const send = sender(url)
  const dead = sender('http://127.0.0.1:9/closed') // nothing listens: T01
  plugins.push(send, dead, recv)
  await send.connect()
  await dead.connect()

  const outcomes = await Promise.allSettled(Array.from({ length: IN_FLIGHT }, (_, i) => {
    const data = Buffer.alloc(8)
    data.writeUInt32BE(i, 0)
    return (i % 10 === 9 ? dead : send).sendData(makePrepare({ data }))
  }))

  outcomes.forEach((outcome, i) => {
    if (i % 10 === 9) {
      expect(outcome.status).toBe('rejected')
      expect(outcome.reason.ilpErrorCode).toBe('T01')
      expect(outcome.reason.message.length).toBeGreaterThan(0)
    } else if (i % 3 === 0) {
      expect(outcome.status).toBe('rejected')
      expect(outcome.reason).toBeInstanceOf(Error)
      expect(outcome.reason.ilpErrorCode).toBe('T00')
      expect(outcome.reason.message).toMatch(/500/)
    } else {
      expect(outcome.status).toBe('fulfilled')
      expect(IlpPacket.deserializeIlpFulfill(outcome.value).data.readUInt32BE(0)).toBe(i)
    }
  })
})
