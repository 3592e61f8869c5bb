'use strict'
// Receiver process of the soak test (forked by scripts/soak.js; see scripts/soak/child.js for
// the messages). Its plugin answers the forward stream (incoming JWT): every Prepare is
// checked byte for byte and answered with `makeReply(prepare)`. For every `reverseEvery`-th
// forward Prepare (index % reverseEvery === reverseEvery - 1), before answering, it sends the
// reverse Prepare of the same index to the sender's plugin (outgoing static token) and checks
// that reply byte for byte too, the way a connector forwards a packet before it answers.
const { PluginHttp, JWT_SECRET, STATIC_TOKEN, runChild, ErrorLog } = require('./child')
const packets = require('./packets')

runChild(async (cfg) => {
  const errors = new ErrorLog()
  const reverseTally = packets.newTally()
  const counters = { handled: 0, reverseSent: 0, reverseAnswered: 0, reverseVerified: 0 }

  const plugin = new PluginHttp({
    incoming: { port: 0, host: '127.0.0.1', jwtSecret: JWT_SECRET },
    // Without a reverse stream this side never sends; the URL is then never used.
    outgoing: { url: cfg.senderUrl || 'http://127.0.0.1:9/unused', staticToken: STATIC_TOKEN, http2: cfg.http2, name: 'soak-receiver' }
  })

  async function sendReverse (index) {
    const prepare = packets.makePrepare(packets.REVERSE, index, new Date(Date.now() + cfg.expiryMs))
    counters.reverseSent++
    let reply
    try {
      reply = await plugin.sendData(prepare)
    } catch (err) {
      counters.reverseAnswered++
      errors.add(`reverse packet ${index}: sendData rejected (${err.ilpErrorCode}): ${err.message}`)
      return
    }
    counters.reverseAnswered++
    const expected = packets.makeReply(prepare)
    if (!Buffer.isBuffer(reply) || !reply.equals(expected.reply)) {
      errors.add(`reverse packet ${index}: reply differs from the expected ${expected.kind} ` +
        `(got type ${reply && reply[0]}, ${reply && reply.length} B; expected type ${expected.reply[0]}, ${expected.reply.length} B)`)
      return
    }
    counters.reverseVerified++
    packets.tallyExchange(reverseTally, prepare, reply, expected.kind)
  }

  plugin.registerDataHandler((bytes) => {
    counters.handled++
    const check = packets.checkPrepare(bytes)
    if (check.error) errors.add(`incoming: ${check.error}`)
    else if (check.stream !== packets.FORWARD) errors.add(`incoming: Prepare ${check.index} is not of the forward stream`)
    if (!check.prepare) throw new Error(check.error)
    const reply = packets.makeReply(bytes, check.prepare).reply
    const every = cfg.reverseEvery
    if (every > 0 && !check.error && check.index % every === every - 1) {
      // Asynchronous answer (a Promise) for these; the others are answered synchronously.
      return sendReverse(check.index).then(() => reply)
    }
    return reply
  })
  await plugin.connect()

  return {
    plugin,
    port: plugin.port,
    stats: () => ({ ...counters, errors: errors.toJSON(), reverseTally })
  }
})
