#!/usr/bin/env node
'use strict'
// The middle process of the through-connector benchmark (started by bench/through.js):
//
//   node bench/connector.js --impl ours|orig|floor --auth static|jwt --to http://127.0.0.1:<port>/
//     [--http2]
//
// Runs ilp-connector 23.0.2 (the devDependency) at address `test.connector` with two child
// accounts, both using the plugin under test, as an operator's configuration would:
//
//   alice  incoming from the benchmark's sender (its outgoing URL is never used)
//   bob    outgoing to the benchmark's receiver at `--to` (Prepares for test.connector.bob.*)
//
// Every Prepare the sender sends is forwarded through the connector's middleware pipeline
// (rate limit, deduplicate, max packet amount, balance, expiry, fulfillment validation, stats)
// to bob and the Fulfill travels back. Each account's `rateLimit` is raised far above what
// this machine can send (the default is 10,000 packets per minute per account). Prints
// `ready <alice's port>` and runs until killed; SIGTERM exits normally, so a V8 profile asked
// for with --cpu-prof (run.js --through-profile) is written. The connector's own log (riverpig) is
// discarded, so nothing is written to the pipes during a measurement.
const { Writable } = require('stream')
const { parseArgs, PLUGIN_MODULES, bindOriginalToLoopback, pluginOptions, boundPort, say } = require('./common')

const CONNECTOR_ADDRESS = 'test.connector' // the sender's Prepares go to test.connector.bob.receiver
const UNUSED_URL = 'http://127.0.0.1:9/unused'

async function main () {
  process.on('SIGTERM', () => process.exit(0))
  const args = parseArgs(process.argv.slice(2))
  const impl = args.impl || 'ours'
  if (!Object.hasOwn(PLUGIN_MODULES, impl)) throw new Error(`--impl must be ours, orig or floor, not ${impl}`)
  if (typeof args.to !== 'string') throw new Error('--to URL is required')
  const auth = args.auth || 'static'
  if (impl === 'orig') bindOriginalToLoopback()

  require('ilp-connector/dist/common/log').setOutputStream(new Writable({ write: (chunk, encoding, done) => done() }))
  const { createApp } = require('ilp-connector')

  const account = (url) => ({
    relation: 'child',
    plugin: PLUGIN_MODULES[impl],
    assetCode: 'XRP',
    assetScale: 9,
    rateLimit: { refillPeriod: 1000, refillCount: 10000000, capacity: 10000000 },
    options: pluginOptions({ impl, auth, url, http2: !!args.http2 })
  })
  const app = createApp({
    env: 'test',
    ilpAddress: CONNECTOR_ADDRESS,
    backend: 'one-to-one',
    spread: 0,
    store: 'memory',
    adminApi: false,
    collectDefaultMetrics: false,
    initialConnectTimeout: 10000,
    accounts: {
      alice: account(impl === 'floor' ? undefined : UNUSED_URL),
      bob: account(args.to)
    }
  })
  await app.listen()
  for (const id of ['alice', 'bob']) {
    if (!app.getPlugin(id).isConnected()) throw new Error(`account ${id} did not connect`)
  }
  say(`ready ${await boundPort(impl, app.getPlugin('alice'))}`)
  setInterval(() => {}, 1 << 30)
}

main().catch((err) => {
  console.error('connector:', err && err.stack ? err.stack : err)
  process.exit(1)
})
