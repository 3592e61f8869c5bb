'use strict'
// Sender process of the soak test (forked by scripts/soak.js; see scripts/soak/child.js for the
// messages). Its plugin sends the forward stream to the receiver (JWT) and answers the reverse
// Prepares the receiver sends back (static token).
//
// { cmd: 'run', from, to }: sends Prepares from..to-1 of the forward stream with `inFlight`
// `sendData` calls in flight, checks every reply byte for byte against `makeReply(prepare)`,
// then answers { type: 'ran', from, to, ms, stats }.
const { PluginHttp, JWT_SECRET, STATIC_TOKEN, runChild, ErrorLog } = require('./child')
const packets = require('./packets')

/** Latency histogram: bucket k holds latencies up to 2^(k/4) µs (≈19% wide). */
class Histogram {
  constructor () {
    this.buckets = new Float64Array(128)
    this.count = 0
    this.max = 0
  }

  add (us) {
    this.count++
    if (us > this.max) this.max = us
    this.buckets[Math.min(127, Math.max(0, Math.ceil(4 * Math.log2(Math.max(us, 1)))))]++
  }

  /** Upper bound (µs) of the bucket holding the p-quantile. */
  quantile (p) {
    if (this.count === 0) return null
    let seen = 0
    for (let k = 0; k < this.buckets.length; k++) {
      seen += this.buckets[k]
      if (seen >= p * this.count) return Math.min(this.max, 2 ** (k / 4))
    }
    return this.max
  }

  toJSON () {
    const r = (v) => v === null ? null : Math.round(v)
    return { count: this.count, p50Us: r(this.quantile(0.5)), p99Us: r(this.quantile(0.99)), maxUs: r(this.max) }
  }
}

runChild(async (cfg) => {
  const errors = new ErrorLog()
  const tally = packets.newTally()
  const latency = new Histogram()
  const counters = { sent: 0, answered: 0, verified: 0, reverseAnswered: 0 }

  const plugin = new PluginHttp({
    incoming: { port: cfg.port, host: '127.0.0.1', staticToken: STATIC_TOKEN },
    outgoing: { url: cfg.receiverUrl, jwtSecret: JWT_SECRET, http2: cfg.http2, name: 'soak-sender' }
  })

  // The reverse stream: check the Prepare, answer with its reply (checked by the receiver).
  plugin.registerDataHandler((bytes) => {
    counters.reverseAnswered++
    const check = packets.checkPrepare(bytes)
    if (check.error) errors.add(`incoming: ${check.error}`)
    else if (check.stream !== packets.REVERSE) errors.add(`incoming: Prepare ${check.index} is not of the reverse stream`)
    if (!check.prepare) throw new Error(check.error)
    return packets.makeReply(bytes, check.prepare).reply
  })
  await plugin.connect()

  async function run ({ from, to }) {
    let next = from
    const worker = async () => {
      while (next < to) {
        const index = next++
        const prepare = packets.makePrepare(packets.FORWARD, index, new Date(Date.now() + cfg.expiryMs))
        counters.sent++
        const t0 = process.hrtime.bigint()
        let reply
        try {
          reply = await plugin.sendData(prepare)
        } catch (err) {
          counters.answered++
          errors.add(`packet ${index}: sendData rejected (${err.ilpErrorCode}): ${err.message}`)
          // A rejection can settle without a trip through the event loop: let timers run.
          await new Promise(setImmediate)
          continue
        }
        latency.add(Number(process.hrtime.bigint() - t0) / 1000)
        counters.answered++
        const expected = packets.makeReply(prepare)
        if (!Buffer.isBuffer(reply) || !reply.equals(expected.reply)) {
          errors.add(`packet ${index}: reply differs from the expected ${expected.kind} ` +
            `(got type ${reply && reply[0]}, ${reply && reply.length} B; expected type ${expected.reply[0]}, ${expected.reply.length} B)`)
          continue
        }
        counters.verified++
        packets.tallyExchange(tally, prepare, reply, expected.kind)
      }
    }
    const t0 = Date.now()
    const workers = []
    for (let i = 0; i < cfg.inFlight; i++) workers.push(worker())
    await Promise.all(workers)
    return Date.now() - t0
  }

  const stats = () => ({ ...counters, errors: errors.toJSON(), tally, latency: latency.toJSON() })
  return {
    plugin,
    port: plugin.port,
    stats,
    onMessage: async (msg) => {
      if (msg.cmd !== 'run') throw new Error(`sender: unknown command ${JSON.stringify(msg)}`)
      const ms = await run(msg)
      process.send({ type: 'ran', from: msg.from, to: msg.to, ms, stats: stats() })
    }
  }
})
