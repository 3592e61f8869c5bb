#!/usr/bin/env node
'use strict'
// `npm run soak`: a long run of mixed packets through a pair of our plugins in two processes,
// watching memory and file descriptors of both.
//
//   node scripts/soak.js [--packets 1000000] [--warmup N] [--in-flight 64] [--http2]
//                        [--reverse-every 16] [--sample-ms 1000] [--json docs/soak.json]
//                        [--timeout-ms 1800000] [--stall-ms 120000] [--expiry-ms 30000]
//                        [--rss-growth-mb 20]
//
// Two processes, forked with an IPC channel and --expose-gc, each `require`s this package:
//
//   sender (scripts/soak/sender.js)  --- forward Prepares, JWT (HS256) --->  receiver
//                                    <--- reverse Prepares, static token ---  (scripts/soak/receiver.js)
//
// The sender keeps `--in-flight` sendData calls going through the forward stream; the receiver
// answers each Prepare with a Fulfill or a Reject, and for every `--reverse-every`-th one first
// sends a Prepare back to the sender's plugin (0 turns the reverse stream off). Packets come
// from scripts/soak/packets.js: a fixed-seed mix of data sizes (0 B, 1–255 B, 1 KiB, 16 KiB,
// the maximum 32,767 B, anything between), destinations up to the maximum 1023 characters,
// Fulfills with up to 32,767 data bytes, Rejects with up to an 8191-byte message, 32,767 data
// bytes and a 1023-character triggeredBy. Every packet is checked byte for byte on both sides:
// the receiver rebuilds the Prepare from the index it carries, the sender rebuilds the reply
// (derived from the sha256 of the Prepare's exact bytes).
//
// Phases: the first `--warmup` packets (default min(50,000, packets/2)); then, with both
// processes idle, each runs gc() and samples itself (process.memoryUsage(), the entries of
// /proc/self/fd) = "after warm-up"; then the remaining packets; the same gc + sample = "end".
// Each process also samples itself every `--sample-ms` during the run (max RSS seen). Then
// both plugins disconnect, each process samples itself again (its open file descriptors should
// be back to the count before its plugin was made) and must then exit on its own.
//
// Targets (PASS/FAIL each, exit code 1 on any FAIL): RSS growth from after warm-up to the end
// under `--rss-growth-mb` (20 MB = 20,000,000 bytes) in each process; zero errors (every
// Prepare answered with exactly the expected Fulfill or Reject, every packet accounted for,
// no error counted by the plugins themselves); both processes exit cleanly on their own. A
// process that dies, a run that stalls for `--stall-ms` or exceeds `--timeout-ms` is a FAIL.
//
// Memory notes. "RSS − heapTotal" is the memory outside V8's heap (malloc: Node's Buffers, the
// addon); `rssByMapping` in the JSON splits RSS into glibc's brk heap (the JS thread's malloc
// arena), other anonymous mappings and mapped files. Dead Buffers are freed only when V8
// collects them (it forces a collection only after tens of MB of external memory), and glibc
// keeps the freed memory of its arenas mapped: RSS follows that high-water mark, not what is in
// use. To tell the two apart in a process still running: `gdb -p PID -batch -ex 'call
// (void)malloc_stats()'` prints each arena's "system bytes" and "in use bytes" on its stderr.
//
// Writes the report as JSON to `--json` (default docs/soak.json, relative to the repository)
// and prints a table. The sender's incoming port (for the reverse stream) is picked by binding
// 127.0.0.1:0 and closing it just before the sender binds it: the receiver must know the URL
// before its plugin is constructed.
const { fork, execFileSync } = require('child_process')
const fs = require('fs')
const net = require('net')
const os = require('os')
const path = require('path')
const { addonBuild, parseArgs } = require('../bench/common')

const ROOT = path.join(__dirname, '..')
const { ADDON_FILE: ADDON } = require('../scripts/build') // the source build's output
const MB = 1e6
/** How long a process may take to exit on its own after its plugin disconnected. */
const EXIT_GRACE_MS = 15000
const PROGRESS_EVERY_MS = 10000

const OPTIONS = ['packets', 'warmup', 'in-flight', 'http2', 'reverse-every', 'sample-ms', 'json',
  'timeout-ms', 'stall-ms', 'expiry-ms', 'rss-growth-mb', 'help']

/** Children alive right now (killed on failure, timeout or Ctrl-C). */
const live = new Set()

async function main () {
  const args = parseArgs(process.argv.slice(2))
  if (args.help) {
    process.stdout.write(fs.readFileSync(__filename, 'utf8').split('\n').slice(2, 9).map((l) => l.slice(3)).join('\n') + '\n')
    return 0
  }
  for (const key of Object.keys(args)) if (!OPTIONS.includes(key)) throw usage(`unknown option --${key} (see --help)`)
  const packets = int(args.packets ?? 1000000, 'packets', 2)
  const settings = {
    packets,
    warmup: int(args.warmup ?? Math.min(50000, Math.floor(packets / 2)), 'warmup', 1),
    inFlight: int(args['in-flight'] ?? 64, 'in-flight', 1),
    http2: flag(args.http2, 'http2'),
    reverseEvery: int(args['reverse-every'] ?? 16, 'reverse-every', 0),
    sampleMs: int(args['sample-ms'] ?? 1000, 'sample-ms', 10),
    timeoutMs: int(args['timeout-ms'] ?? 30 * 60000, 'timeout-ms', 1000),
    stallMs: int(args['stall-ms'] ?? 120000, 'stall-ms', 1000),
    expiryMs: int(args['expiry-ms'] ?? 30000, 'expiry-ms', 1000),
    rssGrowthLimitMB: num(args['rss-growth-mb'] ?? 20, 'rss-growth-mb'),
    json: path.resolve(ROOT, str(args.json ?? 'docs/soak.json', 'json'))
  }
  if (settings.warmup >= packets) throw usage('--warmup must be smaller than --packets')
  const expectedReverse = settings.reverseEvery ? Math.floor(packets / settings.reverseEvery) : 0

  const report = {
    status: 'FAIL',
    command: commandLine(),
    machine: machineInfo(),
    settings: { ...settings, json: path.relative(ROOT, settings.json) || settings.json },
    expected: { forward: packets, reverse: expectedReverse }
  }
  const t0 = Date.now()
  const children = {}
  const failure = deferred() // rejected by a dead child, a stall, the timeout or a signal
  failure.promise.catch(() => {})
  const fail = (message) => failure.reject(new Error(message))
  const timeout = setTimeout(() => fail(`timed out after ${settings.timeoutMs} ms (--timeout-ms)`), settings.timeoutMs)
  const onSignal = (sig) => fail(`interrupted (${sig})`)
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  log(`soak: ${fmtInt(packets)} packets (${fmtInt(settings.warmup)} warm-up), ${settings.inFlight} in flight, ` +
    `${settings.http2 ? 'HTTP/2 (h2c)' : 'HTTP/1.1'}, reverse every ${settings.reverseEvery || '–'}; addon ${report.machine.addon.build} build`)

  const timers = [] // progress and stall detection, cleared when the run ends either way
  const stopTimers = () => timers.splice(0).forEach(clearInterval)
  try {
    const reservedPort = settings.reverseEvery ? await freePort() : 0
    const common = { http2: settings.http2, sampleMs: settings.sampleMs, expiryMs: settings.expiryMs }
    children.receiver = startChild('receiver', {
      ...common,
      reverseEvery: settings.reverseEvery,
      senderUrl: settings.reverseEvery ? `http://127.0.0.1:${reservedPort}/` : null
    }, fail, t0)
    const { port: receiverPort } = await race(children.receiver.next('ready'), failure)
    children.sender = startChild('sender', {
      ...common,
      inFlight: settings.inFlight,
      port: reservedPort,
      receiverUrl: `http://127.0.0.1:${receiverPort}/`
    }, fail, t0)
    await race(children.sender.next('ready'), failure)
    const { sender, receiver } = children

    // Progress on stderr; stall detection.
    let lastAnswered = -1
    let lastChange = Date.now()
    timers.push(setInterval(() => {
      const answered = sender.stats ? sender.stats.answered : 0
      if (answered !== lastAnswered) {
        lastAnswered = answered
        lastChange = Date.now()
      } else if (Date.now() - lastChange > settings.stallMs) {
        fail(`stalled: no reply for ${settings.stallMs} ms at ${answered} packets (--stall-ms)`)
      }
    }, 1000))
    let lastLog = { t: Date.now(), answered: 0 }
    timers.push(setInterval(() => {
      const answered = sender.stats ? sender.stats.answered : 0
      const now = Date.now()
      log(`soak: ${fmtInt(answered)}/${fmtInt(packets)} (${(100 * answered / packets).toFixed(1)}%), ` +
        `${fmtInt((answered - lastLog.answered) / ((now - lastLog.t) / 1000))} packets/s, ` +
        `RSS sender ${fmtMB(sender.last && sender.last.rss)} MB receiver ${fmtMB(receiver.last && receiver.last.rss)} MB, ` +
        `errors ${errorCount(sender, receiver)}`)
      lastLog = { t: now, answered }
    }, PROGRESS_EVERY_MS))

    // Warm-up, measure, the rest, measure.
    const warm = await race(sender.request({ cmd: 'run', from: 0, to: settings.warmup }, 'ran'), failure)
    const [startS, startR] = await race(Promise.all([
      sender.request({ cmd: 'measure', label: 'start' }, 'measured'),
      receiver.request({ cmd: 'measure', label: 'start' }, 'measured')
    ]), failure)
    log(`soak: warm-up done (${fmtInt(settings.warmup)} packets in ${(warm.ms / 1000).toFixed(1)} s); ` +
      `RSS sender ${fmtMB(startS.sample.rss)} MB, receiver ${fmtMB(startR.sample.rss)} MB`)
    const main = await race(sender.request({ cmd: 'run', from: settings.warmup, to: packets }, 'ran'), failure)
    const [endS, endR] = await race(Promise.all([
      sender.request({ cmd: 'measure', label: 'end' }, 'measured'),
      receiver.request({ cmd: 'measure', label: 'end' }, 'measured')
    ]), failure)
    stopTimers()

    // Disconnect both plugins; once both are down (and the peers have seen the connections
    // close) every socket must be gone; then each process must exit on its own.
    const [stopS, stopR] = await race(Promise.all([
      sender.request({ cmd: 'disconnect' }, 'disconnected'),
      receiver.request({ cmd: 'disconnect' }, 'disconnected')
    ]), failure)
    await race(sleep(500), failure)
    const [downS, downR] = await race(Promise.all([
      sender.request({ cmd: 'measure', label: 'afterDisconnect' }, 'measured'),
      receiver.request({ cmd: 'measure', label: 'afterDisconnect' }, 'measured')
    ]), failure)
    for (const c of [sender, receiver]) c.request({ cmd: 'exit' }, 'never')
    const exits = await Promise.all([sender, receiver].map((c) => c.exitWithin(EXIT_GRACE_MS)))

    report.throughput = {
      warmup: { packets: settings.warmup, seconds: warm.ms / 1000, packetsPerSecond: settings.warmup / (warm.ms / 1000) },
      measured: { packets: packets - settings.warmup, seconds: main.ms / 1000, packetsPerSecond: (packets - settings.warmup) / (main.ms / 1000) },
      total: { packets, seconds: (warm.ms + main.ms) / 1000, packetsPerSecond: packets / ((warm.ms + main.ms) / 1000) },
      reversePackets: stopR.stats.reverseSent,
      latency: stopS.stats.latency
    }
    report.processes = {
      sender: processReport(sender, startS, endS, stopS, downS, exits[0]),
      receiver: processReport(receiver, startR, endR, stopR, downR, exits[1])
    }
    report.mix = { forward: stopS.stats.tally, reverse: stopR.stats.reverseTally }
    report.errors = errorReport(stopS, stopR, packets, expectedReverse)
    report.targets = targets(report, settings)
    report.status = report.targets.every((t) => t.pass) ? 'PASS' : 'FAIL'
  } catch (err) {
    report.status = 'FAIL'
    report.failure = err.message
    log(`soak: FAIL: ${err.message}`)
    for (const child of Object.values(children)) {
      if (child.stderrTail.trim()) log(`soak: ${child.name} stderr: ${child.stderrTail.trim().slice(-2000)}`)
    }
    await killAll()
    report.processes = Object.fromEntries(Object.values(children).map((c) => [c.name, partialReport(c)]))
  } finally {
    stopTimers()
    clearTimeout(timeout)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }

  report.machine.loadAverageEnd = os.loadavg().map((l) => Math.round(l * 100) / 100)
  report.machine.finished = new Date().toISOString()
  fs.mkdirSync(path.dirname(settings.json), { recursive: true })
  fs.writeFileSync(settings.json, JSON.stringify(report, null, 2) + '\n')
  process.stdout.write(renderText(report, settings))
  return report.status === 'PASS' ? 0 : 1
}

// ---------------------------------------------------------------------------------------------
// Children.

/**
 * Forks scripts/soak/<name>.js with --expose-gc and an IPC channel. `next(type)` resolves with
 * the next message of that type; `request(msg, type)` sends and waits for the answer. Samples
 * are kept (compact), a `fatal` message or an exit before `stop` calls `fail`.
 */
function startChild (name, cfg, fail, t0) {
  const env = { ...process.env }
  delete env.DEBUG // the `debug` package must not log during the run
  delete env.NODE_OPTIONS
  const proc = fork(path.join(__dirname, 'soak', `${name}.js`), [JSON.stringify(cfg)], {
    cwd: ROOT,
    env,
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'pipe', 'ipc']
  })
  live.add(proc)
  const child = {
    name,
    proc,
    pid: proc.pid,
    samples: [], // [seconds since start, rss, heapUsed, fds]
    maxRss: null,
    last: null,
    stats: null,
    stopping: false,
    exit: null,
    stderrTail: '',
    queues: new Map(),
    waiters: new Map()
  }
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      live.delete(proc)
      child.exit = { code, signal }
      resolve(child.exit)
      if (!child.stopping) fail(`${name} process died (exit code ${code}, signal ${signal})`)
    })
  })
  proc.on('error', (err) => fail(`${name} process: ${err.message}`))
  proc.stderr.setEncoding('utf8')
  proc.stderr.on('data', (chunk) => {
    child.stderrTail = (child.stderrTail + chunk).slice(-8000)
    process.stderr.write(`[${name}] ${chunk}`)
  })
  const record = (s) => {
    child.last = s
    child.samples.push([Math.round((s.t - t0) / 100) / 10, s.rss, s.heapUsed, s.fds])
    if (!child.maxRss || s.rss > child.maxRss.rss) child.maxRss = { rss: s.rss, atSeconds: (s.t - t0) / 1000 }
  }
  proc.on('message', (msg) => {
    if (msg.sample) record(msg.sample)
    if (msg.stats) child.stats = msg.stats
    if (msg.beforeConnect) child.beforeConnect = msg.beforeConnect
    if (msg.type === 'sample') return
    if (msg.type === 'fatal') return fail(`${name} process: ${msg.error}`)
    const waiter = child.waiters.get(msg.type)
    if (waiter) {
      child.waiters.delete(msg.type)
      waiter(msg)
    } else {
      if (!child.queues.has(msg.type)) child.queues.set(msg.type, [])
      child.queues.get(msg.type).push(msg)
    }
  })
  child.next = (type) => {
    const queued = child.queues.get(type)
    if (queued && queued.length) return Promise.resolve(queued.shift())
    return new Promise((resolve) => child.waiters.set(type, resolve))
  }
  child.request = (msg, type) => {
    if (msg.cmd === 'exit') child.stopping = true
    const answer = child.next(type)
    proc.send(msg)
    return answer
  }
  /** Resolves with { code, signal, onItsOwn }: SIGKILLs the process after `ms`. */
  child.exitWithin = async (ms) => {
    let timer
    const late = new Promise((resolve) => { timer = setTimeout(resolve, ms, null) })
    const result = await Promise.race([exited, late])
    clearTimeout(timer)
    if (result) return { ...result, onItsOwn: true }
    proc.kill('SIGKILL')
    return { ...(await exited), onItsOwn: false }
  }
  child.exited = exited
  return child
}

async function killAll () {
  const procs = [...live]
  for (const proc of procs) proc.kill('SIGKILL')
  await Promise.all(procs.map((proc) => new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve()
    proc.once('exit', resolve)
    setTimeout(resolve, 5000).unref()
  })))
}

// ---------------------------------------------------------------------------------------------
// The report.

function processReport (child, start, end, stopped, down, exit) {
  const pick = (s) => ({
    rss: s.rss,
    heapUsed: s.heapUsed,
    heapTotal: s.heapTotal,
    rssOutsideV8Heap: s.rss - s.heapTotal,
    external: s.external,
    arrayBuffers: s.arrayBuffers,
    fds: s.fds,
    threads: s.map.threads,
    rssByMapping: { brkHeap: s.map.heap, anonymous: s.map.anon, files: s.map.file }
  })
  return {
    pid: child.pid,
    beforeConnect: pick(child.beforeConnect),
    afterWarmup: pick(start.sample),
    end: pick(end.sample),
    growth: {
      rss: end.sample.rss - start.sample.rss,
      heapUsed: end.sample.heapUsed - start.sample.heapUsed,
      heapTotal: end.sample.heapTotal - start.sample.heapTotal,
      rssOutsideV8Heap: (end.sample.rss - end.sample.heapTotal) - (start.sample.rss - start.sample.heapTotal),
      external: end.sample.external - start.sample.external,
      fds: end.sample.fds - start.sample.fds
    },
    maxRss: child.maxRss,
    afterDisconnect: pick(down.sample),
    disconnectMs: stopped.disconnectMs,
    exit,
    stats: stopped.stats,
    pluginStats: stopped.admin.stats,
    samples: { columns: ['seconds', 'rss', 'heapUsed', 'fds'], rows: child.samples }
  }
}

function partialReport (child) {
  return {
    pid: child.pid,
    last: child.last,
    maxRss: child.maxRss,
    exit: child.exit,
    stats: child.stats,
    samples: { columns: ['seconds', 'rss', 'heapUsed', 'fds'], rows: child.samples }
  }
}

/** Every error: the processes' own checks, missing packets, and the plugins' error counters. */
function errorReport (stopS, stopR, packets, expectedReverse) {
  const s = stopS.stats
  const r = stopR.stats
  const problems = []
  const expect = (what, got, want) => { if (got !== want) problems.push(`${what}: ${got}, expected ${want}`) }
  expect('forward replies verified by the sender', s.verified, packets)
  expect('forward Prepares handled by the receiver', r.handled, packets)
  expect('reverse replies verified by the receiver', r.reverseVerified, expectedReverse)
  expect('reverse Prepares answered by the sender', s.reverseAnswered, expectedReverse)
  // The plugins' own counters (getAdminInfo) must show no error either.
  const counterErrors = (name, stats) => {
    for (const dir of ['outgoing', 'incoming']) {
      const errors = (stats && stats[dir] && stats[dir].errors) || {}
      for (const [code, n] of Object.entries(errors)) if (n) problems.push(`${name} plugin counted ${n} ${dir} error(s) ${code}`)
    }
  }
  counterErrors('sender', stopS.admin.stats)
  counterErrors('receiver', stopR.admin.stats)
  return {
    total: s.errors.count + r.errors.count + problems.length,
    sender: s.errors,
    receiver: r.errors,
    accounting: problems
  }
}

function errorCount (sender, receiver) {
  return [sender, receiver].reduce((n, c) => n + (c.stats ? c.stats.errors.count : 0), 0)
}

function targets (report, settings) {
  const limit = settings.rssGrowthLimitMB * MB
  const list = []
  for (const name of ['sender', 'receiver']) {
    const p = report.processes[name]
    list.push({
      name: `${name} RSS growth after warm-up < ${settings.rssGrowthLimitMB} MB`,
      pass: p.growth.rss < limit,
      detail: `${fmtSigned(p.growth.rss / MB)} MB (${fmtMB(p.afterWarmup.rss)} → ${fmtMB(p.end.rss)} MB)`
    })
  }
  const e = report.errors
  const checked = `${fmtInt(report.expected.forward)} forward + ${fmtInt(report.expected.reverse)} reverse replies checked byte for byte`
  list.push({
    name: 'zero errors',
    pass: e.total === 0,
    detail: e.total === 0 ? `${checked}, all as expected` : `${e.total} error(s); ${checked}`
  })
  const exits = ['sender', 'receiver'].map((n) => [n, report.processes[n].exit])
  list.push({
    name: 'both processes exit on their own after disconnect',
    pass: exits.every(([, x]) => x.onItsOwn && x.code === 0),
    detail: exits.map(([n, x]) => `${n} ${x.onItsOwn ? `exit code ${x.code}${x.signal ? ` (${x.signal})` : ''}` : `still running ${EXIT_GRACE_MS / 1000} s after disconnect, killed`}`).join(', ')
  })
  return list
}

function renderText (report, settings) {
  const out = []
  const line = (s = '') => out.push(s)
  line()
  line(`soak: ${fmtInt(settings.packets)} packets (${fmtInt(settings.warmup)} warm-up), ${settings.inFlight} in flight, ` +
    `${settings.http2 ? 'HTTP/2 (h2c)' : 'HTTP/1.1'}, JWT sender→receiver, ` +
    (settings.reverseEvery
      ? `static token receiver→sender (every ${settings.reverseEvery}th packet: ${fmtInt(report.expected.reverse)}); `
      : 'reverse stream off; ') +
    `addon ${report.machine.addon.build} build, node ${report.machine.node}, ${report.machine.cores} cores`)
  if (report.processes && report.processes.sender && report.processes.sender.growth) {
    const m = report.mix.forward
    const total = m.fulfills + m.rejects
    const pct = (n) => total ? `${(100 * n / total).toFixed(0)}%` : '–'
    const d = m.prepareData
    line(`mix (forward): Prepare data 0 B ${pct(d['0'])}, 1–255 B ${pct(d['1-255'])}, 1 KiB ${pct(d['1024'])}, 16 KiB ${pct(d['16384'])}, ` +
      `32,767 B ${pct(d['32767'])}, other ${pct(d.other)}; 1023-char destination ${pct(m.destinationMaxLength)}; ` +
      `${fmtInt(m.maxPrepare)} maximal Prepares (${fmtInt(m.largestPrepare)} B); ${fmtInt(m.fulfills)} Fulfills, ${fmtInt(m.rejects)} Rejects ` +
      `(${fmtInt(m.rejectMaxMessage)} with an 8191-byte message, ${fmtInt(m.maxReject)} maximal, ${fmtInt(m.largestReply)} B)`)
    line()
    const S = report.processes.sender
    const R = report.processes.receiver
    const rows = [
      ['', 'sender', '', '', 'receiver', '', ''],
      ['', 'start', 'end', 'growth', 'start', 'end', 'growth'],
      ['RSS (MB)', ...triple(S, 'rss'), ...triple(R, 'rss')],
      ['V8 heapUsed (MB)', ...triple(S, 'heapUsed'), ...triple(R, 'heapUsed')],
      ['V8 heapTotal (MB)', ...triple(S, 'heapTotal'), ...triple(R, 'heapTotal')],
      ['RSS − heapTotal (MB)', ...triple(S, 'rssOutsideV8Heap'), ...triple(R, 'rssOutsideV8Heap')],
      ['external (MB)', ...triple(S, 'external'), ...triple(R, 'external')],
      ['open fds', ...tripleInt(S, 'fds'), ...tripleInt(R, 'fds')],
      ['threads', ...tripleInt(S, 'threads'), ...tripleInt(R, 'threads')],
      ['max RSS seen (MB)', '', fmtMB(S.maxRss.rss), '', '', fmtMB(R.maxRss.rss), '']
    ]
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
    for (const r of rows) line('  ' + r.map((c, i) => i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i] + 2)).join('').trimEnd())
    line('  (start: after the warm-up; start and end measured in each process right after gc(), both idle, plugins connected)')
    line()
    const t = report.throughput
    line(`throughput: ${fmtInt(t.measured.packetsPerSecond)} packets/s after warm-up (${fmtInt(t.measured.packets)} in ${t.measured.seconds.toFixed(1)} s), ` +
      `${fmtInt(t.total.packetsPerSecond)} packets/s overall; sendData latency p50 ${fmtMs(t.latency.p50Us)}, p99 ${fmtMs(t.latency.p99Us)}, max ${fmtMs(t.latency.maxUs)}`)
    const fds = (p) => `${p.beforeConnect.fds} → ${p.afterWarmup.fds} → ${p.end.fds} → ${p.afterDisconnect.fds}`
    line(`open fds before connect → start → end → after both disconnected: sender ${fds(S)}, receiver ${fds(R)}; ` +
      `disconnect() took ${S.disconnectMs} ms (sender), ${R.disconnectMs} ms (receiver)`)
    const e = report.errors
    line(`errors: ${e.total}`)
    for (const [who, log] of [['sender', e.sender], ['receiver', e.receiver]]) {
      for (const msg of log.first) line(`  ${who}: ${msg}`)
      if (log.count > log.first.length) line(`  ${who}: … ${log.count - log.first.length} more`)
    }
    for (const msg of e.accounting) line(`  ${msg}`)
  } else {
    line(`failure: ${report.failure}`)
    const P = report.processes || {}
    const stats = (P.sender && P.sender.stats) || {}
    line(`at that point: ${fmtInt(stats.answered ?? 0)} of ${fmtInt(settings.packets)} packets answered, ` +
      `errors ${((P.sender && P.sender.stats && P.sender.stats.errors.count) || 0) + ((P.receiver && P.receiver.stats && P.receiver.stats.errors.count) || 0)}, ` +
      `last RSS sender ${fmtMB(P.sender && P.sender.last && P.sender.last.rss)} MB, receiver ${fmtMB(P.receiver && P.receiver.last && P.receiver.last.rss)} MB`)
    for (const [who, p] of Object.entries(P)) {
      for (const msg of (p.stats && p.stats.errors.first) || []) line(`  ${who}: ${msg}`)
    }
  }
  line()
  for (const t of report.targets || []) line(`${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.detail}`)
  if (report.failure) line(`FAIL  run did not complete: ${report.failure}`)
  line(`result: ${report.status}`)
  line(`command: ${report.command}`)
  const rel = path.relative(process.cwd(), settings.json)
  line(`report: ${rel && !rel.startsWith('..') ? rel : settings.json}`)
  return out.join('\n') + '\n'
}

function triple (p, key) {
  return [fmtMB(p.afterWarmup[key]), fmtMB(p.end[key]), fmtSigned(p.growth[key] / MB)]
}

function tripleInt (p, key) {
  const g = p.end[key] - p.afterWarmup[key]
  return [String(p.afterWarmup[key]), String(p.end[key]), g > 0 ? `+${g}` : String(g)]
}

// ---------------------------------------------------------------------------------------------
// Machine information.

function machineInfo () {
  const cpus = os.cpus()
  const stat = fs.statSync(ADDON)
  return {
    cpuModel: (cpus[0] && cpus[0].model.replace(/\s+/g, ' ').trim()) || 'unknown',
    cores: cpus.length,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    addon: { build: addonBuild(ADDON), sizeMB: Math.round(stat.size / 1e5) / 10, built: stat.mtime.toISOString() },
    gitCommit: gitCommit(),
    started: new Date().toISOString(),
    loadAverageStart: os.loadavg().map((l) => Math.round(l * 100) / 100)
  }
}

function gitCommit () {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return null
  }
}

function commandLine () {
  const args = process.argv.slice(2).join(' ')
  if (process.env.npm_lifecycle_event === 'soak') return 'npm run soak' + (args ? ` -- ${args}` : '')
  return 'node scripts/soak.js' + (args ? ` ${args}` : '')
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

/** A port that was free a moment ago on 127.0.0.1 (bind :0, read it, close). */
function freePort () {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** A command-line mistake: reported without a stack trace. */
function usage (message) {
  return Object.assign(new Error(message), { usage: true })
}

function sleep (ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function deferred () {
  let resolve, reject
  const promise = new Promise((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

/** `promise`, unless `failure` rejects first. */
function race (promise, failure) {
  return Promise.race([promise, failure.promise])
}

function int (value, name, min) {
  const n = Number(value)
  if (!Number.isInteger(n) || n < min) throw usage(`--${name} must be an integer ≥ ${min}`)
  return n
}

function num (value, name) {
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw usage(`--${name} must be a positive number`)
  return n
}

function str (value, name) {
  if (typeof value !== 'string' || !value) throw usage(`--${name} needs a value`)
  return value
}

function flag (value, name) {
  if (value === undefined) return false
  if (value === true || value === 'true') return true
  if (value === 'false') return false
  throw usage(`--${name} takes no value`)
}

function fmtInt (n) {
  return n === null || n === undefined || !Number.isFinite(n) ? '–' : Math.round(n).toLocaleString('en-US')
}

function fmtMB (bytes) {
  return typeof bytes === 'number' ? (bytes / MB).toFixed(1) : '–'
}

function fmtSigned (n) {
  return (n >= 0 ? '+' : '') + n.toFixed(1)
}

function fmtMs (us) {
  return us === null || us === undefined ? '–' : `${(us / 1000).toFixed(us < 10000 ? 2 : 0)} ms`
}

function log (line) {
  process.stderr.write(line + '\n')
}

main().then((code) => {
  process.exitCode = code
}, async (err) => {
  log(`soak: ${err.usage ? err.message : err.stack || err}`)
  await killAll()
  process.exitCode = 1
})
