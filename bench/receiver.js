#!/usr/bin/env node
'use strict'
// Receiver side of one benchmark pair (started by bench/run.js):
//
//   node bench/receiver.js --impl ours|orig|floor --auth static|jwt [--http2]
//
// Connects a plugin listening on 127.0.0.1 (a free port) whose data handler returns one
// pre-built ILP Fulfill (the same Buffer every time), then prints `ready <port>` and serves
// until it is killed. `--http2` changes nothing on this side: our server speaks HTTP/1.1 and
// h2c on the same port, and 1.6.1's server is HTTP/1.1 only.
const { parseArgs, loadPlugin, pluginOptions, makeFulfill, boundPort, say } = require('./common')

async function main () {
  const args = parseArgs(process.argv.slice(2))
  const impl = args.impl || 'ours'
  const PluginHttp = loadPlugin(impl)
  const plugin = new PluginHttp(pluginOptions({
    impl,
    auth: args.auth || 'static',
    url: impl === 'floor' ? undefined : 'http://127.0.0.1:9/unused', // this side never sends
    http2: !!args.http2
  }))
  const fulfill = makeFulfill()
  plugin.registerDataHandler(() => fulfill)
  await plugin.connect()
  say(`ready ${await boundPort(impl, plugin)}`)
  // Stay up until bench/run.js kills us (a listening server keeps Node alive; be explicit).
  setInterval(() => {}, 1 << 30)
}

main().catch((err) => {
  console.error('receiver:', err && err.stack ? err.stack : err)
  process.exit(1)
})
