#!/usr/bin/env node
'use strict'
// Sender side of one benchmark pair (started by bench/run.js):
//
//   node bench/sender.js --impl ours|orig|floor --url http://127.0.0.1:<port>/ --auth static|jwt
//     [--http2] --in-flight N --data-bytes B --warmup-ms W --duration-ms D
//     [--unique] [--destination ADDRESS]
//
// Builds ONE ILP Prepare with B data bytes (with `--unique`, a new one per call, differing in a
// counter at the end of its data, for ilp-connector's deduplicate cache), keeps exactly N
// `sendData` calls in flight (each completion issues the next), warms up for W ms, prints
// `start`, measures for D ms and prints
//
//   end {"packets":…,"seconds":…,"p50Us":…,"p99Us":…,"maxUs":…,"errors":…}
//
// then stops sending and waits to be killed (bench/run.js reads /proc/<pid> after `end`).
// `packets` counts Fulfills received in the window; a failed send or a reply that is not a
// Fulfill counts in `errors` (not fatal): 1.6.1 refuses 32,767 data bytes, so every send fails
// and the cell is reported as refused. `firstError` carries the first error message seen.
const { parseArgs, loadPlugin, pluginOptions, makePrepare, uniquePrepares, say } = require('./common')

const FULFILL_TYPE = 13

async function main () {
  const args = parseArgs(process.argv.slice(2))
  const impl = args.impl || 'ours'
  const inFlight = positiveInt(args['in-flight'], 'in-flight')
  const dataBytes = nonNegativeInt(args['data-bytes'] ?? 0, 'data-bytes')
  const warmupMs = nonNegativeInt(args['warmup-ms'] ?? 1000, 'warmup-ms')
  const durationMs = positiveInt(args['duration-ms'] ?? 3000, 'duration-ms')
  if (!args.url) throw new Error('--url is required')

  const PluginHttp = loadPlugin(impl)
  const plugin = new PluginHttp(pluginOptions({ impl, auth: args.auth || 'static', url: args.url, http2: !!args.http2 }))
  await plugin.connect()

  // Expires well after the run ends: nothing may be cancelled for being late.
  const expiresInMs = warmupMs + durationMs + 60000
  const destination = typeof args.destination === 'string' ? args.destination : undefined
  const fixed = makePrepare(dataBytes, expiresInMs, destination)
  const nextPrepare = args.unique ? uniquePrepares(dataBytes, expiresInMs, destination) : () => fixed

  let phase = 'warmup' // → 'measure' → 'done'
  let packets = 0
  let errors = 0
  let firstError
  let latencies = new Float64Array(1 << 16) // µs, one per packet completed while measuring

  const record = (us) => {
    if (packets === latencies.length) {
      const bigger = new Float64Array(latencies.length * 2)
      bigger.set(latencies)
      latencies = bigger
    }
    latencies[packets++] = us
  }
  const fail = (message) => {
    if (phase !== 'measure') return
    errors++
    if (firstError === undefined) firstError = message
  }

  // One call first, alone: opens the connection (and, for JWT, signs the token) the way a
  // long-running connector would have, so the N workers start from a warm client. (1.6.1
  // sends `Bearer undefined` when its very first calls are concurrent.)
  try { await plugin.sendData(nextPrepare()) } catch {}

  const worker = async () => {
    while (phase !== 'done') {
      const t0 = process.hrtime.bigint()
      let ok = false
      try {
        const reply = await plugin.sendData(nextPrepare())
        if (reply && reply[0] === FULFILL_TYPE) ok = true
        else fail(`reply is not a Fulfill (type ${reply && reply[0]})`)
      } catch (err) {
        fail(err && err.message ? err.message : String(err))
      }
      if (ok) {
        if (phase === 'measure') record(Number(process.hrtime.bigint() - t0) / 1000)
      } else {
        // A rejection may settle without a trip through the event loop; yield so the timers
        // that end the phases still run.
        await new Promise(setImmediate)
      }
    }
  }
  for (let i = 0; i < inFlight; i++) worker()

  await sleep(warmupMs)
  phase = 'measure'
  const started = process.hrtime.bigint()
  say('start')
  await sleep(durationMs)
  phase = 'done'
  const seconds = Number(process.hrtime.bigint() - started) / 1e9

  const sorted = latencies.subarray(0, packets).sort()
  const result = {
    packets,
    seconds: round(seconds, 4),
    p50Us: round(percentile(sorted, 0.5), 1),
    p99Us: round(percentile(sorted, 0.99), 1),
    maxUs: round(packets ? sorted[packets - 1] : null, 1),
    errors
  }
  if (firstError !== undefined) result.firstError = firstError
  say('end ' + JSON.stringify(result))
  // Wait to be killed: bench/run.js samples CPU time and peak RSS of this process now.
  setInterval(() => {}, 1 << 30)
}

/** Nearest-rank percentile of sorted values; null when there are none. */
function percentile (sorted, p) {
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]
}

function round (value, digits) {
  if (value === null || value === undefined) return null
  const f = 10 ** digits
  return Math.round(value * f) / f
}

function sleep (ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function positiveInt (value, name) {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`)
  return n
}

function nonNegativeInt (value, name) {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer`)
  return n
}

main().catch((err) => {
  console.error('sender:', err && err.stack ? err.stack : err)
  process.exit(1)
})
