'use strict'
// Issue 14, item 4 at full size: handler calls, RSS and well-behaved latency while one
// authorized h2c client opens streams, lets the data handler get them, and resets them (the
// rapid-reset pattern after acceptance), for `--seconds`. The handler never answers (the worst
// case: a connector whose next hop hangs). Prints one JSON line.
//
//   node bench/hardening-attacks.js [--package DIR] [--seconds 10]
//
// `--package` is the checkout whose `index.js` (and built addon) is measured, so the same script
// measures an older commit (docs/reliability.md §6). Every socket is on 127.0.0.1.
const path = require('path')
const { makePrepare, makeFulfill, request, rawConnect, H2_START, FRAME, FLAG, h2Frame, requestBlock, sleep, median } = require('../__test__/support')

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`)
  return at >= 0 ? args[at + 1] : fallback
}
const PluginHttp = require(path.resolve(option('package', path.join(__dirname, '..'))))
const SECONDS = Number(option('seconds', 10))
const TOKEN = 'hardening-attack-t0ken'
const AUTH = 'Bearer ' + TOKEN

function rstStream (streamId) {
  const payload = Buffer.alloc(4)
  payload.writeUInt32BE(8) // CANCEL
  return h2Frame(FRAME.RST_STREAM, 0, streamId, payload)
}

async function main () {
  let calls = 0
  const plugin = new PluginHttp({
    incoming: { port: 0, host: '127.0.0.1', staticToken: TOKEN },
    outgoing: { url: 'http://127.0.0.1:9/unused', staticToken: TOKEN }
  })
  plugin.registerDataHandler((data) => {
    calls++
    // Well-behaved requests (marked by their data) are answered; the attacker's never.
    if (data.length > 100) return makeFulfill()
    return new Promise(() => {})
  })
  await plugin.connect()
  const port = plugin.port
  global.gc && global.gc()
  const rssBefore = process.memoryUsage().rss
  const conn = await rawConnect(port)
  conn.socket.write(H2_START)
  const body = makePrepare()
  let streamId = 1
  let streams = 0
  const until = Date.now() + SECONDS * 1000
  const attack = (async () => {
    while (Date.now() < until && !conn.closed) {
      const batch = []
      for (let i = 0; i < 20; i++, streamId += 2) {
        batch.push(streamId)
        conn.socket.write(Buffer.concat([
          h2Frame(FRAME.HEADERS, FLAG.END_HEADERS, streamId, requestBlock(AUTH)),
          h2Frame(FRAME.DATA, FLAG.END_STREAM, streamId, body)
        ]))
      }
      streams += batch.length
      await sleep(20)
      conn.socket.write(Buffer.concat(batch.map(rstStream)))
    }
  })()
  const latencies = []
  const wellBody = makePrepare({ data: Buffer.alloc(200, 1) })
  while (Date.now() < until) {
    const started = Date.now()
    const res = await request(port, { headers: { authorization: AUTH }, body: wellBody, settled: true, timeoutMs: 10000 })
    latencies.push({ ms: Date.now() - started, status: res.status })
    await sleep(250)
  }
  await attack
  const rssAfter = process.memoryUsage().rss
  const stats = plugin.getAdminInfo().stats
  conn.socket.destroy()
  console.log(JSON.stringify({
    package: option('package', '.'),
    seconds: SECONDS,
    streamsOpened: streams,
    handlerCalls: calls,
    connectionClosed: conn.closed,
    rssMB: { before: +(rssBefore / 1e6).toFixed(1), after: +(rssAfter / 1e6).toFixed(1) },
    wellBehaved: {
      n: latencies.length,
      ok: latencies.filter((l) => l.status === 200).length,
      medianMs: median(latencies.map((l) => l.ms)),
      maxMs: Math.max(...latencies.map((l) => l.ms))
    },
    handlerCallsRefused: stats.handlerCallsRefused,
    handlerAnswersDropped: stats.handlerAnswersDropped
  }))
  await plugin.disconnect()
  process.exit(0)
}

main().catch((err) => { console.error(err); process.exit(1) })
