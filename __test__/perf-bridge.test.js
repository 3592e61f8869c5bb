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

// The other direction (`Outbox` in index.js, `flush` in src/node/addon.rs): the sendData calls
// and handler answers of one JS turn go to Rust in one call at the end of the turn.
describe('outbox: sendData calls and handler answers of one turn, handed over together', () => {
  /** Counts `flush` calls of `plugin`'s native object (the outbox looks it up per call). */
  function countFlushes (plugin) {
    const counted = { calls: 0 }
    const native = plugin._native
    const flush = native.flush.bind(native)
    native.flush = (batch) => { counted.calls++; return flush(batch) }
    return counted
  }

  test('50 sends made in one turn from one reused Buffer: one hand-off, each packet as it was when sent', async () => {
    const { plugin: recv, url } = await receiver((packet) => makeFulfill(IlpPacket.deserializeIlpPrepare(packet).data))
    const send = sender(url)
    plugins.push(send, recv)
    await send.connect()
    const flushes = countFlushes(send)

    const data = Buffer.alloc(8)
    const sends = []
    for (let i = 0; i < 50; i++) {
      data.writeUInt32BE(i, 0)
      const packet = makePrepare({ data })
      sends.push(send.sendData(packet))
      packet.fill(0) // the caller reuses its Buffer at once
    }
    const replies = await Promise.all(sends)
    expect(flushes.calls).toBe(1)
    replies.forEach((reply, i) => expect(IlpPacket.deserializeIlpFulfill(reply).data.readUInt32BE(0)).toBe(i))
  })

  test('a turn staging more than 1 MiB (40 sends of 32 KB): each arrives intact, and the next turn still works', async () => {
    const { plugin: recv, url } = await receiver((packet) => makeFulfill(IlpPacket.deserializeIlpPrepare(packet).data.subarray(0, 8)))
    const send = sender(url)
    plugins.push(send, recv)
    await send.connect()
    const flushes = countFlushes(send)
    const big = Array.from({ length: 40 }, (_, i) => {
      const data = Buffer.alloc(32000, i)
      data.writeUInt32BE(i, 0)
      return send.sendData(makePrepare({ data }))
    })
    const replies = await Promise.all(big)
    expect(flushes.calls).toBe(1)
    replies.forEach((reply, i) => expect(IlpPacket.deserializeIlpFulfill(reply).data.readUInt32BE(0)).toBe(i))
    const small = Buffer.alloc(8)
    small.writeUInt32BE(99, 0)
    const reply = await send.sendData(makePrepare({ data: small }))
    expect(IlpPacket.deserializeIlpFulfill(reply).data.readUInt32BE(0)).toBe(99)
  })

  test('answers given in one turn go back together, each to its own request', async () => {
    let release
    const gate = new Promise((resolve) => { release = resolve })
    let waiting = 0
    const { plugin: recv, url } = await receiver(async (packet) => {
      waiting++
      await gate // every handler answers in the turn that opens the gate
      return makeFulfill(IlpPacket.deserializeIlpPrepare(packet).data)
    })
    const send = sender(url)
    plugins.push(send, recv)
    await send.connect()
    const flushes = countFlushes(recv)

    const sends = Array.from({ length: 20 }, (_, i) => {
      const data = Buffer.alloc(8)
      data.writeUInt32BE(i, 0)
      return send.sendData(makePrepare({ data }))
    })
    while (waiting < 20) await new Promise((resolve) => setTimeout(resolve, 5))
    release()
    const replies = await Promise.all(sends)
    expect(flushes.calls).toBe(1)
    replies.forEach((reply, i) => expect(IlpPacket.deserializeIlpFulfill(reply).data.readUInt32BE(0)).toBe(i))
  })

  test('a send made in the same turn as disconnect() goes out before the plugin disconnects', async () => {
    const { plugin: recv, url } = await receiver((packet) => makeFulfill(IlpPacket.deserializeIlpPrepare(packet).data))
    const send = sender(url)
    plugins.push(send, recv)
    await send.connect()
    const reply = send.sendData(makePrepare({ data: Buffer.from('last one') }))
    await send.disconnect()
    expect(IlpPacket.deserializeIlpFulfill(await reply).data.toString()).toBe('last one')
  })

  test('if the native side refuses a batch, its sends reject with F00 and it is logged; the next batch works', async () => {
    const { plugin: recv, url } = await receiver((packet) => makeFulfill(IlpPacket.deserializeIlpPrepare(packet).data))
    const logged = []
    const send = new PluginHttp({
      incoming: { port: 0, host: '127.0.0.1', staticToken: TOKEN },
      outgoing: { url, staticToken: TOKEN },
      _log: { error: (...args) => logged.push(args.join(' ')), warn () {}, info () {}, debug () {}, trace () {} }
    })
    plugins.push(send, recv)
    await send.connect()
    const native = send._native
    const flush = native.flush.bind(native)
    native.flush = () => { throw new Error('refused on purpose') }

    const failed = await Promise.allSettled([1, 2, 3].map(() => send.sendData(makePrepare())))
    for (const outcome of failed) {
      expect(outcome.status).toBe('rejected')
      expect(outcome.reason.ilpErrorCode).toBe('F00')
      expect(outcome.reason.message).toBe('sendData failed: refused on purpose')
    }
    expect(logged.some((line) => line.includes('refused on purpose'))).toBe(true)

    native.flush = flush
    await expect(send.sendData(makePrepare())).resolves.toBeInstanceOf(Buffer)
  })
})
