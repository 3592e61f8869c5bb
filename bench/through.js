'use strict'
// The through-connector scenario of `npm run bench` (issue 13): what the plugin costs where
// operators run it, inside ilp-connector. Three processes on 127.0.0.1:
//
//   bench/sender.js  --HTTP-->  bench/connector.js (ilp-connector 23.0.2,   --HTTP-->  bench/receiver.js
//   (plugin)                    the plugin on accounts alice and bob)                  (plugin, Fulfill)
//
// Every process uses the same plugin (one row each): ours, ilp-plugin-http 1.6.1, and the
// floor (bench/floor.js: length-prefixed frames over raw TCP, no HTTP, no auth: the cheapest JS
// transport). Every Prepare is unique (ilp-connector's deduplicate middleware would answer
// repeats from its cache) and goes to test.connector.bob.receiver; the connector's rate limit
// is raised (bench/connector.js). The sender keeps N in flight (default 64) with 1 KiB of data
// and static tokens.
//
// Measured between the sender's `start` and `end`: packets/s and latency percentiles (the
// sender's), and for each process the CPU time (utime + stime from /proc) and context switches
// per packet; for the connector also split by thread: its JavaScript main thread
// (/proc/<pid>/task/<pid>/stat), tokio worker threads, and its other threads (libuv pool, V8
// platform). A context switch is a thread blocking (and later being woken) or being preempted:
// the wake-ups issue 13 is about.
//
// With `trace` (`npm run bench -- --through-trace`), `perf trace -s` watches the connector
// during the measured window and the report adds its syscalls per packet (futex, epoll_wait,
// eventfd writes, …) by thread group. perf slows every syscall: the other figures of a traced
// run are not comparable with untraced runs.
const { execFile } = require('child_process')
const path = require('path')
const { start, stop, cpuTicks, threadSamples, peakRssKiB, orNull } = require('./processes')
const { median, range, fmtInt, fmtNum, fmtRatio, mib, fmtBytes } = require('./format')

const DESTINATION = 'test.connector.bob.receiver'

/** The plugins compared (`--through-impls`). */
const THROUGH_IMPLS = [
  { id: 'floor', label: 'floor (raw TCP frames, JS)' },
  { id: 'ours', label: 'this plugin' },
  { id: 'orig', label: 'ilp-plugin-http 1.6.1' }
]

/**
 * The rows of one round, in the order they run: each of `impls`, and after `ours` one more
 * row of ours per entry of `workers` with ILP_PLUGIN_HTTP_RS_WORKER_THREADS set to it in all
 * three processes (`--through-workers 1,2`), and with `h2c` one row of ours over h2c between
 * the processes (`--through-h2c`), and the rows of ours (and h2c) once more per other checkout
 * in `oursAt` (`--ours-at DIR,…`: its own built addon, for before/after comparisons). Row:
 * `{ id, impl, label, env, args }` (`args` go to all three processes).
 */
function throughRows (impls, { workers = [], h2c = false, oursAt = [] } = {}) {
  const rows = []
  for (const { id, label } of THROUGH_IMPLS) {
    if (!impls.includes(id)) continue
    rows.push({ id, impl: id, label, env: {}, args: [] })
    if (id !== 'ours') continue
    for (const w of workers) {
      rows.push({ id: `ours-w${w}`, impl: 'ours', label: `this plugin, ${w} tokio worker${w === 1 ? '' : 's'}`, env: { ILP_PLUGIN_HTTP_RS_WORKER_THREADS: String(w) }, args: [] })
    }
    if (h2c) rows.push({ id: 'ours-h2c', impl: 'ours', label: 'this plugin, h2c', env: {}, args: ['--http2'] })
    for (const dir of oursAt) {
      const env = { ILP_PLUGIN_HTTP_RS_BENCH_PACKAGE: dir }
      rows.push({ id: `ours@${path.basename(dir)}`, impl: 'ours', label: `this plugin (${dir})`, env, args: [] })
      if (h2c) rows.push({ id: `ours-h2c@${path.basename(dir)}`, impl: 'ours', label: `this plugin, h2c (${dir})`, env, args: ['--http2'] })
    }
  }
  return rows
}

/** Figures of one run, each summarised as median and range over rounds. */
const FIGURES = [
  'pps', 'p50Us', 'p99Us', 'cpuConnectorUs', 'cpuMainUs', 'cpuOtherUs', 'cpuTokioUs',
  'cpuSenderUs', 'cpuReceiverUs', 'cpuTotalUs', 'switchesConnector', 'switchesMain',
  'switchesOther', 'switchesSender', 'switchesReceiver', 'rssConnectorKiB', 'errors'
]

/**
 * One run: receiver, connector, sender (in that order, each waiting for the previous one's
 * `ready`); returns the figures. `settings`: { auth, inFlight, dataBytes, warmupMs, durationMs,
 * trace, profileDir }.
 */
async function runThrough (row, settings, clkTck) {
  const { auth, inFlight, dataBytes, warmupMs, durationMs } = settings
  const node = (script, args) => [process.execPath, [path.join(__dirname, script), '--impl', row.impl, '--auth', auth, ...row.args, ...args], row.env]
  const receiver = start(...node('receiver.js', []))
  try {
    const [, receiverPort] = await receiver.waitFor(/^ready (\d+)$/, 20000)
    const [nodePath, connectorArgs, env] = node('connector.js', ['--to', `http://127.0.0.1:${receiverPort}/`])
    // --through-profile DIR: a V8 CPU profile of the connector per run, in DIR/<row id>/.
    if (settings.profileDir) connectorArgs.unshift('--cpu-prof', `--cpu-prof-dir=${path.join(settings.profileDir, row.id)}`)
    const connector = start(nodePath, connectorArgs, env)
    try {
      const [, connectorPort] = await connector.waitFor(/^ready (\d+)$/, 30000)
      const sender = start(...node('sender.js', [
        '--url', `http://127.0.0.1:${connectorPort}/`, '--in-flight', String(inFlight),
        '--data-bytes', String(dataBytes), '--warmup-ms', String(warmupMs),
        '--duration-ms', String(durationMs), '--unique', '--destination', DESTINATION
      ]))
      try {
        const pids = { sender: sender.pid, connector: connector.pid, receiver: receiver.pid }
        await sender.waitFor(/^start$/, warmupMs + 30000)
        const before = sample(pids)
        const traced = settings.trace ? perfTrace(connector.pid, durationMs) : null
        const [, json] = await sender.waitFor(/^end (.*)$/, durationMs + 30000)
        const after = orNull(() => sample(pids))
        const end = JSON.parse(json)
        const result = { status: end.packets === 0 ? 'failed' : 'ok', ...end, pps: end.packets / end.seconds }
        if (!after) return { ...result, sampleError: 'a process exited before /proc could be read at `end`' }
        Object.assign(result, figures(before, after, pids, end.packets, clkTck))
        if (traced) result.syscallsPerPacket = perPacketSyscalls(await traced, connector.pid, end.packets)
        result.rssConnectorKiB = orNull(() => peakRssKiB(connector.pid))
        return result
      } finally {
        await stop(sender)
      }
    } finally {
      await stop(connector)
    }
  } finally {
    await stop(receiver)
  }
}

/**
 * Runs `perf trace -s -p <pid>` for `ms` milliseconds; resolves with its summary parsed into
 * `[{ name, tid, syscalls: { futex: calls, … } }]`, one entry per thread.
 */
function perfTrace (pid, ms) {
  return new Promise((resolve, reject) => {
    execFile('perf', ['trace', '-s', '-p', String(pid), '--', 'sleep', String(ms / 1000)], { maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`perf trace failed: ${err.message}`))
      const threads = []
      for (const line of (stdout + stderr).split('\n')) {
        const head = /^\s*(.+) \((\d+)\), \d+ events/.exec(line)
        if (head) {
          threads.push({ name: head[1], tid: Number(head[2]), syscalls: {} })
          continue
        }
        const row = /^\s+([a-z_0-9]+)\s+(\d+)\s+\d+\s+[\d.]+/.exec(line)
        if (row && threads.length) threads[threads.length - 1].syscalls[row[1]] = Number(row[2])
      }
      resolve(threads)
    })
  })
}

/** Syscalls per packet of the connector's main thread and of all its other threads. */
function perPacketSyscalls (threads, pid, packets) {
  const out = { main: {}, other: {} }
  for (const t of threads) {
    const group = t.tid === pid ? out.main : out.other
    for (const [name, calls] of Object.entries(t.syscalls)) group[name] = (group[name] || 0) + calls / packets
  }
  return out
}

function sample (pids) {
  const out = {}
  for (const [name, pid] of Object.entries(pids)) out[name] = { ticks: cpuTicks(pid), threads: threadSamples(pid) }
  return out
}

/** CPU µs and context switches per packet, by process and by connector thread group. */
function figures (before, after, pids, packets, clkTck) {
  const perPacket = (ticks) => packets ? ticks * 1e6 / clkTck / packets : null
  const switches = (name) => {
    let total = 0
    for (const [tid, t] of after[name].threads) {
      const t0 = before[name].threads.get(tid)
      total += t.switches - (t0 ? t0.switches : 0)
    }
    return packets ? total / packets : null
  }
  // The connector's threads: main (tid = pid), tokio workers, everything else.
  const groups = { main: { ticks: 0, switches: 0 }, tokio: { ticks: 0, switches: 0 }, rest: { ticks: 0, switches: 0 } }
  for (const [tid, t] of after.connector.threads) {
    const t0 = before.connector.threads.get(tid) || { ticks: 0, switches: 0 }
    const group = tid === pids.connector ? groups.main : t.name.startsWith('tokio') ? groups.tokio : groups.rest
    group.ticks += t.ticks - t0.ticks
    group.switches += t.switches - t0.switches
  }
  const connectorTicks = after.connector.ticks - before.connector.ticks
  const senderTicks = after.sender.ticks - before.sender.ticks
  const receiverTicks = after.receiver.ticks - before.receiver.ticks
  return {
    cpuConnectorUs: perPacket(connectorTicks),
    cpuMainUs: perPacket(groups.main.ticks),
    cpuOtherUs: perPacket(connectorTicks - groups.main.ticks),
    cpuTokioUs: perPacket(groups.tokio.ticks),
    cpuSenderUs: perPacket(senderTicks),
    cpuReceiverUs: perPacket(receiverTicks),
    cpuTotalUs: perPacket(connectorTicks + senderTicks + receiverTicks),
    switchesConnector: switches('connector'),
    switchesMain: packets ? groups.main.switches / packets : null,
    switchesOther: packets ? (groups.tokio.switches + groups.rest.switches) / packets : null,
    switchesSender: switches('sender'),
    switchesReceiver: switches('receiver')
  }
}

/** Per row and in-flight level: `{ status, rounds, of, <figure>: { median, values } }`. */
function summariseThrough (runs) {
  const out = new Map()
  for (const run of runs) {
    const key = `${run.row}|${run.inFlight}`
    if (!out.has(key)) out.set(key, [])
    out.get(key).push(run)
  }
  return (row, inFlight) => {
    const list = out.get(`${row}|${inFlight}`)
    if (!list) return { status: 'not run' }
    const ok = list.filter((r) => r.status === 'ok' && !r.sampleError)
    if (ok.length === 0) return { status: 'failed', error: (list.find((r) => r.error) || {}).error }
    const s = { status: 'ok', rounds: ok.length, of: list.length }
    for (const f of FIGURES) {
      const values = ok.map((r) => r[f]).filter((x) => typeof x === 'number')
      s[f] = { median: median(values), values }
    }
    const firstError = ok.find((r) => r.firstError)
    if (firstError) s.firstError = firstError.firstError
    return s
  }
}

/** The markdown section: targets, then one table per in-flight level. */
function renderThrough (runs, settings) {
  const get = summariseThrough(runs)
  const rows = [...new Map(runs.map((r) => [r.row, r.label])).entries()].map(([id, label]) => ({ id, label }))
  const out = ['## Through ilp-connector', '']
  out.push(`Three processes: sender → ilp-connector 23.0.2 (the plugin on both accounts) → receiver; ${fmtBytes(settings.dataBytes)} of data, ` +
    `${settings.auth} auth, every Prepare unique, the same plugin in all three processes (bench/through.js). ` +
    'Each cell: median over rounds, then the range (min–max) when there was more than one round. CPU is µs per packet from /proc ' +
    '(utime + stime); "JS thread" is the connector\'s main thread, "other" all its other threads (of them "tokio": our runtime\'s workers); ' +
    '"switches" are context switches per packet (voluntary + involuntary, all threads of a process): each voluntary one is a thread ' +
    'going to sleep and being woken again.', '')
  for (const inFlight of settings.inFlight) {
    const floor = get('floor', inFlight)
    const ours = get('ours', inFlight)
    const orig = get('orig', inFlight)
    out.push(`### ${inFlight} in flight`, '')
    out.push(...renderThroughTargets(floor, ours, orig), '')
    out.push('| plugin on all accounts | pkt/s | p50 / p99 µs | connector CPU µs/pkt | of it JS thread | other threads | of them tokio | sender / receiver µs/pkt | total, 3 processes | switches/pkt connector (JS / other) | switches/pkt sender / receiver | connector RSS MiB |')
    out.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|')
    const notes = []
    for (const { id, label } of rows) {
      const s = get(id, inFlight)
      if (s.status === 'not run') continue
      if (s.status !== 'ok') {
        out.push(`| ${label} | ${s.status} | | | | | | | | | | |`)
        if (s.error) notes.push(`${label}: ${s.error}`)
        continue
      }
      if (s.errors.median > 0 || s.firstError) notes.push(`${label}: up to ${fmtInt(Math.max(...s.errors.values))} failed sends per round (${s.firstError})`)
      const cell = (f, digits = 0) => withRange(s[f], digits)
      out.push('| ' + [
        label,
        cell('pps'),
        `${fmt(s.p50Us.median)} / ${fmt(s.p99Us.median)}`,
        cell('cpuConnectorUs'),
        cell('cpuMainUs'),
        cell('cpuOtherUs'),
        fmt(s.cpuTokioUs.median),
        `${fmt(s.cpuSenderUs.median)} / ${fmt(s.cpuReceiverUs.median)}`,
        cell('cpuTotalUs'),
        `${fmtNum(s.switchesConnector.median, 1)} (${fmtNum(s.switchesMain.median, 1)} / ${fmtNum(s.switchesOther.median, 1)})`,
        `${fmtNum(s.switchesSender.median, 1)} / ${fmtNum(s.switchesReceiver.median, 1)}`,
        mib(s.rssConnectorKiB.median)
      ].join(' | ') + ' |')
    }
    out.push('')
    if (notes.length) out.push('Notes:', '', ...notes.map((n) => `- ${n}`), '')
    out.push(...renderSyscalls(runs.filter((r) => r.inFlight === inFlight && r.syscallsPerPacket), rows))
  }
  return out
}

/** Median syscalls per packet in the connector by row and thread group (traced runs only). */
function renderSyscalls (runs, rows) {
  if (runs.length === 0) return []
  const names = ['futex', 'epoll_wait', 'epoll_pwait', 'write', 'writev', 'read', 'readv', 'sendto', 'recvfrom', 'sched_yield']
  const out = ['Connector syscalls per packet (`perf trace -s`, traced runs; JS thread / other threads):', '']
  out.push(`| plugin | ${names.join(' | ')} |`, `|---|${names.map(() => '--:').join('|')}|`)
  for (const { id, label } of rows) {
    const mine = runs.filter((r) => r.row === id)
    if (mine.length === 0) continue
    const cell = (name) => ['main', 'other'].map((g) => fmtNum(median(mine.map((r) => r.syscallsPerPacket[g][name] || 0)), 2)).join(' / ')
    out.push(`| ${label} | ${names.map(cell).join(' | ')} |`)
  }
  out.push('')
  return out
}

function renderThroughTargets (floor, ours, orig) {
  const ratio = (a, b, f) => a.status === 'ok' && b.status === 'ok' && b[f].median ? a[f].median / b[f].median : null
  const rows = [
    ['connector-process CPU µs/pkt, ours ÷ floor', ratio(ours, floor, 'cpuConnectorUs'), '≤ 1.3×', (r) => r <= 1.3, fmtRatio],
    ['connector JS thread CPU µs/pkt, ours ÷ floor', ratio(ours, floor, 'cpuMainUs'), '≤ 1.1×', (r) => r <= 1.1, fmtRatio],
    ['packets/s, ours ÷ floor', ratio(ours, floor, 'pps'), '≥ 85%', (r) => r >= 0.85, (r) => `${Math.round(r * 100)}%`],
    ['packets/s, ours ÷ 1.6.1', ratio(ours, orig, 'pps'), '≥ 4×', (r) => r >= 4, fmtRatio]
  ]
  const out = ['| figure (medians) | measured | target | result |', '|---|--:|--:|:-:|']
  for (const [name, r, goal, pass, format] of rows) {
    out.push(`| ${name} | ${r === null ? 'n/a' : format(r)} | ${goal} | ${r === null ? '–' : pass(r) ? 'PASS' : 'FAIL'} |`)
  }
  return out
}

function withRange ({ median, values }, digits) {
  const r = range(values, (x) => fmt(x, digits))
  return r ? `${fmt(median, digits)} (${r})` : fmt(median, digits)
}

function fmt (n, digits = 0) {
  return digits ? fmtNum(n, digits) : fmtInt(n)
}

function describeThrough (r) {
  if (r.status !== 'ok') return `FAILED: ${r.error || r.firstError || 'no packets'}`
  return `${fmtInt(r.pps)} pkt/s, p50 ${fmtInt(r.p50Us)} µs, p99 ${fmtInt(r.p99Us)} µs; CPU µs/pkt connector ${fmtInt(r.cpuConnectorUs)} ` +
    `(JS ${fmtInt(r.cpuMainUs)}, other ${fmtInt(r.cpuOtherUs)}), total ${fmtInt(r.cpuTotalUs)}; switches/pkt connector ${fmtNum(r.switchesConnector, 1)}` +
    (r.errors ? `, ${r.errors} errors (${r.firstError})` : '') + (r.sampleError ? ` [${r.sampleError}]` : '')
}

module.exports = { THROUGH_IMPLS, throughRows, runThrough, renderThrough, describeThrough, summariseThrough }
