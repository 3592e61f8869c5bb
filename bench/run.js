#!/usr/bin/env node
'use strict'
// `npm run bench`: this package and ilp-plugin-http 1.6.1 measured side by side, in one run.
//
//   node bench/run.js [--rounds 3] [--duration-ms 3000] [--warmup-ms 1000] [--quick]
//                     [--filter REGEX] [--in-flight 1,8,64,256] [--data 0,1024,16384,32767]
//                     [--auth static,jwt] [--impls ours-h1,orig-h1,ours-h2c,rust-h1,rust-h2c]
//                     [--out docs] [--rust-bin target/release/examples/bench_pair]
//                     [--scenarios pair,connector] [--through-in-flight 64] [--through-data 1024]
//                     [--through-impls floor,ours,orig] [--through-trace] [--through-workers 1,2]
//                     [--through-h2c] [--through-profile DIR] [--pair-workers 1,2] [--ours-at DIR,DIR]
//
// Two scenarios. `pair` (below) measures plugin pairs; `connector` (bench/through.js) runs the
// plugin where operators run it: sender → ilp-connector → receiver, three processes, with our
// plugin, 1.6.1 and a floor plugin (bench/floor.js, raw TCP frames) as rows, static tokens;
// `--through-profile DIR` also writes a V8 CPU profile of the connector for each of its runs.
//
// Each run is a pair of processes on 127.0.0.1: a receiver (bench/receiver.js: a plugin whose
// data handler returns a pre-built Fulfill) and a sender (bench/sender.js: `sendData` with a
// fixed number in flight). The runner waits for `ready <port>` from the receiver, starts the
// sender, samples /proc/<pid>/stat of both processes when the sender prints `start` and again at
// `end <json>` (CPU µs per packet = both processes' CPU time / packets), reads each process's
// peak RSS (VmHWM) and kills both. The pure-Rust pair (hyper client and server, no JavaScript;
// examples/bench_pair.rs) speaks the same protocol and is the transport ceiling; without the
// release binary its cells read "not built".
//
// Per round, every cell runs its variants back to back (ours h1, 1.6.1 h1, ours h2c, Rust h1,
// Rust h2c), so slow drifts of a shared machine hit all of them alike; each figure is the median
// over rounds. `--filter` keeps the runs whose label (`auth=static if=64 data=1024 impl=ours-h1`)
// matches the regular expression. `--quick` is a smoke test: 1 and 64 in flight, 0 B and 1 KiB,
// static auth, 1 round of 1000 ms. Each round runs the connector rows first, then the pairs.
//
// Writes <out>/bench.json (every run), <out>/bench.md (machine, tables, targets) and
// <out>/bench.svg (chart), and prints the markdown to stdout. Progress goes to stderr.
const { execFileSync } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')
const { addonBuild, parseArgs } = require('./common')
const { median, fmtInt, fmtNum, fmtRatio, mib, fmtBytes } = require('./format')
const { THROUGH_IMPLS, throughRows, runThrough, renderThrough, describeThrough } = require('./through')
const { start, stop, cpuTicks, peakRssKiB, orNull, killAll, liveCount } = require('./processes')

const ROOT = path.join(__dirname, '..')
const { ADDON_FILE: ADDON } = require('../scripts/build') // the source build's output
const DEFAULT_RUST_BIN = path.join(ROOT, 'target', 'release', 'examples', 'bench_pair')

/** 1.6.1's server refuses request bodies over this many bytes (raw-body limit). */
const ORIGINAL_BODY_LIMIT = 32767

const VARIANTS = [
  { id: 'ours-h1', impl: 'ours', http2: false, label: 'ours, HTTP/1.1', color: '#1f5fa8' },
  { id: 'orig-h1', impl: 'orig', http2: false, label: 'ilp-plugin-http 1.6.1, HTTP/1.1', color: '#d1452f' },
  { id: 'ours-h2c', impl: 'ours', http2: true, label: 'ours, h2c', color: '#6fa8dc' },
  { id: 'rust-h1', impl: 'rust', http2: false, label: 'pure-Rust pair, HTTP/1.1', color: '#2e8b3e' },
  { id: 'rust-h2c', impl: 'rust', http2: true, label: 'pure-Rust pair, h2c', color: '#93d18f' }
]

const FULL = { inFlight: [1, 8, 64, 256], data: [0, 1024, 16384, 32767], auth: ['static', 'jwt'] }
const QUICK = { inFlight: [1, 64], data: [0, 1024], auth: ['static'] }

async function main () {
  const args = parseArgs(process.argv.slice(2))
  const quick = !!args.quick
  const base = quick ? QUICK : FULL
  const config = {
    quick,
    rounds: int(args.rounds ?? (quick ? 1 : 3), 'rounds', 1),
    durationMs: int(args['duration-ms'] ?? (quick ? 1000 : 3000), 'duration-ms', 1),
    warmupMs: int(args['warmup-ms'] ?? (quick ? 500 : 1000), 'warmup-ms', 0),
    inFlight: list(args['in-flight'], base.inFlight).map((v) => int(v, 'in-flight', 1)),
    data: list(args.data, base.data).map((v) => int(v, 'data', 0)),
    auth: list(args.auth, base.auth),
    impls: list(args.impls, VARIANTS.map((v) => v.id)),
    filter: args.filter ? new RegExp(args.filter) : null,
    out: path.resolve(ROOT, typeof args.out === 'string' ? args.out : 'docs'),
    rustBin: path.resolve(ROOT, typeof args['rust-bin'] === 'string' ? args['rust-bin'] : DEFAULT_RUST_BIN),
    scenarios: list(args.scenarios, ['pair', 'connector']),
    through: {
      auth: 'static',
      inFlight: list(args['through-in-flight'], ['64']).map((v) => int(v, 'through-in-flight', 1)),
      dataBytes: int(args['through-data'] ?? 1024, 'through-data', 8),
      impls: list(args['through-impls'], THROUGH_IMPLS.map((t) => t.id)),
      trace: !!args['through-trace'],
      workers: list(args['through-workers'], []).map((v) => int(v, 'through-workers', 1)),
      h2c: !!args['through-h2c'],
      oursAt: list(args['ours-at'], []).map((dir) => path.resolve(dir)),
      profileDir: args['through-profile'] ? path.resolve(args['through-profile']) : undefined
    }
  }
  config.through.warmupMs = config.warmupMs
  config.through.durationMs = config.durationMs
  for (const s of config.scenarios) if (s !== 'pair' && s !== 'connector') throw new Error(`--scenarios: unknown ${s}`)
  for (const id of config.through.impls) if (!THROUGH_IMPLS.some((t) => t.id === id)) throw new Error(`--through-impls: unknown ${id}`)
  for (const a of config.auth) if (a !== 'static' && a !== 'jwt') throw new Error(`--auth: unknown ${a}`)
  for (const id of config.impls) if (!VARIANTS.some((v) => v.id === id)) throw new Error(`--impls: unknown ${id}`)
  const variants = VARIANTS.filter((v) => config.impls.includes(v.id))
  // `--pair-workers 1,2`: ours over HTTP/1.1 once more per worker count (bench.json and the
  // progress log only; the tables show the default).
  for (const w of list(args['pair-workers'], []).map((v) => int(v, 'pair-workers', 1))) {
    variants.push({ id: `ours-h1-w${w}`, impl: 'ours', http2: false, label: `ours, HTTP/1.1, ${w} tokio workers`, env: { ILP_PLUGIN_HTTP_RS_WORKER_THREADS: String(w) } })
  }
  // `--ours-at DIR,…`: the ours rows once more per other checkout of this package with its own
  // built addon (a `git worktree` of an older commit, say), interleaved with the rest, for
  // before/after comparisons in one run (bench.json and the progress log only).
  const oursRows = variants.filter((v) => v.impl === 'ours' && !v.env)
  for (const dir of list(args['ours-at'], [])) {
    const at = path.resolve(dir)
    for (const v of oursRows) {
      variants.push({ ...v, id: `${v.id}@${path.basename(at)}`, label: `${v.label} (${at})`, env: { ILP_PLUGIN_HTTP_RS_BENCH_PACKAGE: at } })
    }
  }
  const rustBuilt = isExecutable(config.rustBin)
  const clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
  const machine = machineInfo(config, rustBuilt)

  process.on('SIGINT', () => interrupted('SIGINT'))
  process.on('SIGTERM', () => interrupted('SIGTERM'))

  const cells = []
  for (const auth of config.auth) {
    for (const inFlight of config.inFlight) {
      for (const dataBytes of config.data) cells.push({ auth, inFlight, dataBytes })
    }
  }
  const plan = []
  if (config.scenarios.includes('pair')) {
    for (const cell of cells) {
      for (const v of variants) {
        if (!config.filter || config.filter.test(runLabel(cell, v))) plan.push({ cell, v })
      }
    }
  }
  const throughPlan = []
  if (config.scenarios.includes('connector')) {
    for (const inFlight of config.through.inFlight) {
      for (const row of throughRows(config.through.impls, config.through)) {
        const label = `through impl=${row.id} if=${inFlight} data=${config.through.dataBytes}`
        if (!config.filter || config.filter.test(label)) throughPlan.push({ row, inFlight, label })
      }
    }
  }
  if (plan.length === 0 && throughPlan.length === 0) throw new Error('nothing to run (check --filter / --impls / --scenarios)')
  const expected = (plan.filter(({ v }) => v.impl !== 'rust' || rustBuilt).length + throughPlan.length) * config.rounds
  log(`bench: ${expected / config.rounds} runs per round × ${config.rounds} round(s), ~${Math.ceil(expected * (config.warmupMs + config.durationMs + 700) / 60000)} min; ` +
    `Rust pair ${rustBuilt ? path.relative(ROOT, config.rustBin) : 'not built (its cells are skipped)'}; addon ${machine.addon.build} build`)

  const runs = []
  const throughRuns = []
  const refusedCells = new Set()
  let done = 0
  for (let round = 1; round <= config.rounds; round++) {
    for (const { row, inFlight, label } of throughPlan) {
      let result
      try {
        result = await runThrough(row, { ...config.through, inFlight }, clkTck)
      } catch (err) {
        result = { status: 'failed', error: err.message }
      }
      throughRuns.push({ round, row: row.id, impl: row.impl, label: row.label, inFlight, dataBytes: config.through.dataBytes, auth: config.through.auth, ...result })
      done++
      log(`[${done}/${expected}] round ${round} ${label}: ${describeThrough(result)}`)
    }
    for (const { cell, v } of plan) {
      const label = runLabel(cell, v)
      const base = { round, auth: cell.auth, inFlight: cell.inFlight, dataBytes: cell.dataBytes, variant: v.id, impl: v.impl, transport: v.http2 ? 'h2c' : 'h1' }
      if (v.impl === 'rust' && !rustBuilt) {
        runs.push({ ...base, status: 'not built' })
        continue
      }
      if (refusedCells.has(label)) {
        // Refused in an earlier round: the outcome does not change; save the time.
        runs.push({ ...base, status: 'refused', repeatedFromEarlierRound: true })
        continue
      }
      let result
      try {
        result = await runPair(v, cell, config, clkTck)
      } catch (err) {
        result = { status: 'failed', error: err.message }
      }
      if (result.status === 'refused') refusedCells.add(label)
      runs.push({ ...base, ...result })
      done++
      log(`[${done}/${expected === plan.length * config.rounds ? '' : '≤'}${expected}] round ${round} ${label}: ${describeRun(result)}`)
    }
  }

  machine.loadAverageEnd = os.loadavg().map((l) => Math.round(l * 100) / 100)
  machine.finished = new Date().toISOString()
  const summary = summarise(runs, config, variants)
  const throughSection = throughRuns.length ? renderThrough(throughRuns, config.through) : []
  const markdown = renderMarkdown(summary, config, machine, variants, rustBuilt, plan.length > 0, throughSection)
  const svg = renderSvg(summary, config, machine, variants, rustBuilt)

  fs.mkdirSync(config.out, { recursive: true })
  fs.writeFileSync(path.join(config.out, 'bench.json'), JSON.stringify({
    machine,
    settings: { ...config, filter: args.filter || null, out: path.relative(ROOT, config.out) || '.', rustBin: path.relative(ROOT, config.rustBin) },
    runs,
    throughRuns
  }, null, 2) + '\n')
  fs.writeFileSync(path.join(config.out, 'bench.md'), markdown)
  if (plan.length) fs.writeFileSync(path.join(config.out, 'bench.svg'), svg) // the chart shows pairs only
  process.stdout.write(markdown)
  log(`bench: wrote ${['bench.json', 'bench.md', ...(plan.length ? ['bench.svg'] : [])].map((f) => path.relative(ROOT, path.join(config.out, f))).join(', ')}`)
}

// ---------------------------------------------------------------------------------------------
// One run: a receiver process and a sender process.

async function runPair (v, cell, config, clkTck) {
  const { auth, inFlight, dataBytes } = cell
  const recvCmd = v.impl === 'rust'
    ? [config.rustBin, ['receiver', '--auth', auth]]
    : [process.execPath, [path.join(__dirname, 'receiver.js'), '--impl', v.impl, '--auth', auth, ...(v.http2 ? ['--http2'] : [])]]
  const receiver = start(...recvCmd, v.env)
  try {
    const [, port] = await receiver.waitFor(/^ready (\d+)$/, 20000)
    const senderArgs = ['--url', `http://127.0.0.1:${port}/`, '--auth', auth, ...(v.http2 ? ['--http2'] : []),
      '--in-flight', String(inFlight), '--data-bytes', String(dataBytes),
      '--warmup-ms', String(config.warmupMs), '--duration-ms', String(config.durationMs)]
    const sendCmd = v.impl === 'rust'
      ? [config.rustBin, ['sender', ...senderArgs]]
      : [process.execPath, [path.join(__dirname, 'sender.js'), '--impl', v.impl, ...senderArgs]]
    const sender = start(...sendCmd, v.env)
    try {
      await sender.waitFor(/^start$/, config.warmupMs + 30000)
      const s0 = cpuTicks(sender.pid)
      const r0 = cpuTicks(receiver.pid)
      const [, json] = await sender.waitFor(/^end (.*)$/, config.durationMs + 30000)
      // A sender should stay up after `end` until it is killed; one that exits at once may be
      // gone (reaped) before it can be sampled: its figures are then missing, not wrong.
      const s1 = orNull(() => cpuTicks(sender.pid))
      const r1 = orNull(() => cpuTicks(receiver.pid))
      const rssSenderKiB = orNull(() => peakRssKiB(sender.pid))
      const rssReceiverKiB = orNull(() => peakRssKiB(receiver.pid))
      const end = JSON.parse(json)
      const cpuSenderUs = s1 === null ? null : (s1 - s0) * 1e6 / clkTck
      const cpuReceiverUs = r1 === null ? null : (r1 - r0) * 1e6 / clkTck
      const status = end.packets === 0 && end.errors > 0 ? 'refused' : end.packets === 0 ? 'failed' : 'ok'
      const result = {
        status,
        ...end,
        pps: end.packets / end.seconds,
        cpuSenderUs,
        cpuReceiverUs,
        cpuUsPerPacket: end.packets && cpuSenderUs !== null && cpuReceiverUs !== null ? (cpuSenderUs + cpuReceiverUs) / end.packets : null,
        rssSenderKiB,
        rssReceiverKiB
      }
      if ([s1, r1, rssSenderKiB, rssReceiverKiB].includes(null)) result.sampleError = 'a process exited before /proc could be read at `end`'
      return result
    } finally {
      await stop(sender)
    }
  } finally {
    await stop(receiver)
  }
}

function interrupted (signal) {
  log(`bench: ${signal}, stopping ${liveCount()} child process(es)`)
  killAll()
  process.exit(130)
}

// ---------------------------------------------------------------------------------------------
// Aggregation: median over rounds of every figure.

const FIGURES = ['pps', 'p50Us', 'p99Us', 'maxUs', 'cpuUsPerPacket', 'rssSenderKiB', 'rssReceiverKiB', 'errors']

function summarise (runs, config, variants) {
  const byKey = new Map()
  for (const run of runs) {
    const key = cellKey(run.auth, run.inFlight, run.dataBytes, run.variant)
    if (!byKey.has(key)) byKey.set(key, [])
    byKey.get(key).push(run)
  }
  const get = (auth, inFlight, dataBytes, variant) => {
    const list = byKey.get(cellKey(auth, inFlight, dataBytes, variant))
    if (!list) return { status: 'not run' }
    const ok = list.filter((r) => r.status === 'ok')
    if (ok.length === 0) {
      const first = list.find((r) => r.status !== 'ok')
      return { status: first.status, error: first.error, firstError: first.firstError, rounds: list.length }
    }
    const out = { status: 'ok', rounds: ok.length, of: list.length }
    for (const f of FIGURES) out[f] = median(ok.map((r) => r[f]).filter((x) => typeof x === 'number'))
    const firstError = ok.find((r) => r.firstError)
    if (firstError) out.firstError = firstError.firstError
    const unsampled = ok.filter((r) => r.sampleError).length
    if (unsampled) out.unsampled = unsampled
    return out
  }
  return { get, runs }
}

function cellKey (auth, inFlight, dataBytes, variant) {
  return `${auth}|${inFlight}|${dataBytes}|${variant}`
}

// ---------------------------------------------------------------------------------------------
// Markdown.

function renderMarkdown (summary, config, machine, variants, rustBuilt, hasPairs, throughSection) {
  const has = (id) => variants.some((v) => v.id === id)
  const out = []
  out.push('# Benchmark: ilp-plugin-http-rs vs ilp-plugin-http 1.6.1', '')
  if (machine.addon.build !== 'release') {
    out.push(`> **Not representative:** the native addon was a ${machine.addon.build} build when these numbers were taken.`, '')
  }
  if (config.quick) out.push('> Smoke-test configuration (`--quick`): small matrix, one short round.', '')
  out.push('## Machine', '')
  out.push(`- CPU: ${machine.cpuModel}, ${machine.cores} logical cores`)
  out.push(`- OS: ${machine.os}`)
  out.push(`- Node: ${machine.node}`)
  out.push(`- rustc: ${machine.rustc}`)
  out.push(`- Addon: \`${path.basename(ADDON)}\`, ${machine.addon.build} build (${machine.addon.sizeMB} MB, built ${machine.addon.built})`)
  out.push(`- Pure-Rust pair: ${rustBuilt ? '`' + path.relative(ROOT, config.rustBin) + '`' : 'not built (`cargo build --release --example bench_pair --no-default-features --features bench`)'}`)
  out.push(`- Date: ${machine.started} – ${machine.finished}`)
  out.push(`- Load average (1/5/15 min) at start: ${machine.loadAverageStart.join(' / ')}, at end: ${machine.loadAverageEnd.join(' / ')}`)
  out.push(`- Command: \`${machine.command}\``)
  out.push(`- Settings: ${config.rounds} round(s), ${config.warmupMs} ms warm-up + ${config.durationMs} ms measured per run; figures are medians over rounds`)
  out.push('')
  out.push(...throughSection)
  if (!hasPairs) return out.join('\n') + '\n'
  out.push('## Pairs: method', '')
  out.push('Each run is two processes on 127.0.0.1: a receiver whose data handler returns one pre-built ILP Fulfill, ' +
    'and a sender that keeps a fixed number of `sendData` calls in flight with one pre-built Prepare ' +
    '(each completion issues the next). Both sides of a pair are the same implementation, with the same auth both ways ' +
    '(static token, or HS256 JWTs). Within a round every cell runs ours (HTTP/1.1), 1.6.1 (HTTP/1.1), ours (h2c) and the ' +
    'pure-Rust pair (hyper client and server, no JavaScript, one tokio worker per process: the transport ceiling) back to back. ' +
    'pkt/s counts Fulfills received in the measured window; latency is per `sendData` call; CPU µs/pkt is the ' +
    'CPU time (user + system, all threads) of sender and receiver together over the window, divided by the packets; ' +
    'RSS is each process\'s peak (VmHWM). Ratios are ours ÷ 1.6.1 (or ours ÷ Rust pair).', '')
  out.push(`1.6.1's server refuses request bodies over ${fmtInt(ORIGINAL_BODY_LIMIT)} bytes, so a Prepare carrying ${fmtInt(32767)} data bytes ` +
    '(valid per RFC 27) is refused: every send fails (`failed to fetch. code=413`). 1.6.1\'s server has no h2c, so the h2c tables compare ' +
    'ours over h2c with 1.6.1 over HTTP/1.1 (the best 1.6.1 can do as a pair).', '')

  out.push(...renderTargets(summary, config))

  for (const auth of config.auth) {
    for (const transport of ['h1', 'h2c']) {
      const oursId = transport === 'h1' ? 'ours-h1' : 'ours-h2c'
      if (!has(oursId) && !(transport === 'h1' && has('orig-h1'))) continue
      out.push(...renderTable(summary, config, auth, transport, has))
    }
  }
  return out.join('\n') + '\n'
}

function renderTable (summary, config, auth, transport, has) {
  const oursId = transport === 'h1' ? 'ours-h1' : 'ours-h2c'
  const rustId = transport === 'h1' ? 'rust-h1' : 'rust-h2c'
  const out = []
  const title = `${auth === 'static' ? 'Static token' : 'JWT (HS256)'} auth, ${transport === 'h1' ? 'HTTP/1.1' : 'h2c (ours) vs HTTP/1.1 (1.6.1)'}`
  out.push(`## Pairs: ${title}`, '')
  out.push('| in flight | data | ours pkt/s | 1.6.1 pkt/s | ours / 1.6.1 | p50 µs ours / 1.6.1 | p99 µs ours / 1.6.1 | max µs ours / 1.6.1 | CPU µs/pkt ours / 1.6.1 | RSS MiB ours snd / rcv | RSS MiB 1.6.1 snd / rcv | Rust pair pkt/s | ours / Rust |')
  out.push('|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|')
  const withErrors = []
  for (const inFlight of config.inFlight) {
    for (const dataBytes of config.data) {
      const ours = has(oursId) ? summary.get(auth, inFlight, dataBytes, oursId) : { status: 'not run' }
      const orig = has('orig-h1') ? summary.get(auth, inFlight, dataBytes, 'orig-h1') : { status: 'not run' }
      const rust = has(rustId) ? summary.get(auth, inFlight, dataBytes, rustId) : { status: 'not run' }
      if (ours.status === 'not run' && orig.status === 'not run') continue
      for (const [name, s] of [['ours', ours], ['1.6.1', orig], ['Rust pair', rust]]) {
        if (s.status === 'ok' && s.errors > 0) withErrors.push(`${inFlight} in flight, ${fmtBytes(dataBytes)}, ${name}: ${fmtInt(s.errors)} failed sends (${s.firstError})`)
        if (s.unsampled) withErrors.push(`${inFlight} in flight, ${fmtBytes(dataBytes)}, ${name}: CPU/RSS missing in ${s.unsampled} round(s) (a process exited before it could be sampled)`)
        if (s.status === 'failed') withErrors.push(`${inFlight} in flight, ${fmtBytes(dataBytes)}, ${name}: failed (${s.error || s.firstError || 'no packets'})`)
      }
      const pair = (f, digits) => `${fig(ours, f, digits)} / ${fig(orig, f, digits)}${ratioSuffix(ours, orig, f)}`
      out.push('| ' + [
        inFlight,
        fmtBytes(dataBytes),
        fig(ours, 'pps'),
        fig(orig, 'pps'),
        ratio(ours, orig, 'pps'),
        pair('p50Us'),
        pair('p99Us'),
        pair('maxUs'),
        pair('cpuUsPerPacket', 1),
        rss(ours),
        rss(orig),
        fig(rust, 'pps'),
        ratio(ours, rust, 'pps')
      ].join(' | ') + ' |')
    }
  }
  out.push('')
  if (withErrors.length) out.push('Notes:', '', ...withErrors.map((e) => `- ${e}`), '')
  return out
}

function renderTargets (summary, config) {
  const at = (inFlight, variant) => summary.get('static', inFlight, 1024, variant)
  const ours64 = at(64, 'ours-h1')
  const orig64 = at(64, 'orig-h1')
  const rust64 = at(64, 'rust-h1')
  const ours1 = at(1, 'ours-h1')
  const orig1 = at(1, 'orig-h1')
  // h2c against HTTP/1.1 with large packets (issue 13: HTTP/2 flow-control windows).
  const h2 = (dataBytes) => rawRatio(summary.get('static', 64, dataBytes, 'ours-h2c'), summary.get('static', 64, dataBytes, 'ours-h1'), 'pps')
  const rows = [
    ['packets/s, ours ÷ 1.6.1 (64 in flight)', rawRatio(ours64, orig64, 'pps'), '≥ 7×', (r) => r >= 7],
    ['CPU µs per packet, ours ÷ 1.6.1 (64 in flight)', rawRatio(ours64, orig64, 'cpuUsPerPacket'), '≤ 0.15×', (r) => r <= 0.15],
    ['p99 latency, ours ÷ 1.6.1 (64 in flight)', rawRatio(ours64, orig64, 'p99Us'), '≤ 0.25× (1/4)', (r) => r <= 0.25],
    ['packets/s, ours ÷ pure-Rust pair (64 in flight)', rawRatio(ours64, rust64, 'pps'), '≥ 60%', (r) => r >= 0.6],
    ['p50 latency, ours ÷ 1.6.1 (1 in flight)', rawRatio(ours1, orig1, 'p50Us'), '≤ 0.7×', (r) => r <= 0.7],
    ['packets/s, ours h2c ÷ ours HTTP/1.1 (64 in flight, 16 KiB)', h2(16384), '≥ 1×', (r) => r >= 1],
    ['packets/s, ours h2c ÷ ours HTTP/1.1 (64 in flight, 32,767 B)', h2(32767), '≥ 1×', (r) => r >= 1]
  ]
  const out = ['## Pairs: targets', '', 'Static token auth, HTTP/1.1, 1 KiB of data unless stated.', '', '| figure | measured | target | result |', '|---|--:|--:|:-:|']
  for (const [name, r, goal, pass] of rows) {
    const measured = r.value === null ? `n/a (${r.why})` : name.includes('Rust') ? `${Math.round(r.value * 100)}%` : fmtRatio(r.value)
    out.push(`| ${name} | ${measured} | ${goal} | ${r.value === null ? '–' : pass(r.value) ? 'PASS' : 'FAIL'} |`)
  }
  out.push('')
  return out
}

function rawRatio (a, b, f) {
  const why = (s) => s.status === 'not run' ? 'not in this run' : s.status
  if (a.status !== 'ok') return { value: null, why: `ours ${why(a)}` }
  if (b.status !== 'ok') return { value: null, why: why(b) }
  if (!a[f] || !b[f]) return { value: null, why: 'no data' }
  return { value: a[f] / b[f] }
}

function fig (s, f, digits = 0) {
  if (s.status === 'ok') return s[f] === null || s[f] === undefined ? '–' : digits ? fmtNum(s[f], digits) : fmtInt(s[f])
  return s.status === 'not run' ? '–' : s.status
}

function ratio (a, b, f) {
  const r = rawRatio(a, b, f)
  return r.value === null ? '–' : fmtRatio(r.value)
}

function ratioSuffix (a, b, f) {
  const r = rawRatio(a, b, f)
  return r.value === null ? '' : ` (${fmtRatio(r.value)})`
}

function rss (s) {
  if (s.status !== 'ok') return s.status === 'not run' ? '–' : s.status
  return `${mib(s.rssSenderKiB)} / ${mib(s.rssReceiverKiB)}`
}

// ---------------------------------------------------------------------------------------------
// SVG chart: packets/s and CPU µs per packet, grouped by data size, one in-flight level.

function renderSvg (summary, config, machine, variants, rustBuilt) {
  const auth = config.auth.includes('static') ? 'static' : config.auth[0]
  const inFlight = config.inFlight.reduce((best, n) => Math.abs(n - 64) < Math.abs(best - 64) ? n : best, config.inFlight[0])
  const W = 980
  const left = 86
  const right = 24
  const panelH = 270
  const plotW = W - left - right
  // Left to right: the baseline, ours, the ceiling.
  const series = ['orig-h1', 'ours-h1', 'ours-h2c', 'rust-h1', 'rust-h2c'].map((id) => variants.find((v) => v.id === id)).filter(Boolean)
  const groups = config.data

  const parts = []
  let y = 0
  const text = (x, yy, s, attrs = '') => parts.push(`<text x="${r1(x)}" y="${r1(yy)}" ${attrs}>${esc(s)}</text>`)

  y += 30
  text(left, y, `ilp-plugin-http-rs vs ilp-plugin-http 1.6.1: ${inFlight} in flight, ${auth === 'static' ? 'static token' : 'JWT'} auth, loopback`, 'class="title"')
  y += 20
  const sub = `${machine.cpuModel} × ${machine.cores} · Node ${machine.node} · ${machine.rustc.replace(/ \(.*\)$/, '')} · ${machine.started.slice(0, 10)} · median of ${config.rounds} round(s), ${config.durationMs} ms each`
  text(left, y, sub, 'class="sub"')
  if (machine.addon.build !== 'release') {
    y += 18
    text(left, y, `NOT REPRESENTATIVE: ${machine.addon.build} build of the addon${config.quick ? ', --quick smoke run' : ''}`, 'class="warn"')
  }
  // Legend.
  y += 26
  let lx = left
  for (const v of series) {
    const label = v.label + (v.impl === 'rust' && !rustBuilt ? ' (not built)' : '')
    parts.push(`<rect x="${lx}" y="${y - 11}" width="14" height="14" fill="${v.color}"/>`)
    text(lx + 20, y, label, 'class="legend"')
    lx += 20 + label.length * 6.3 + 24
    if (lx > W - 200 && v !== series[series.length - 1]) { lx = left; y += 20 }
  }
  y += 16

  const panels = [
    { f: 'pps', title: 'Packets per second (higher is better)', fmt: fmtShort },
    { f: 'cpuUsPerPacket', title: 'CPU µs per packet, sender + receiver processes (lower is better)', fmt: (v) => fmtNum(v, v > 0 && v < 10 ? 1 : 0) }
  ]
  for (const panel of panels) {
    y += 30
    text(left, y, panel.title, 'class="ptitle"')
    y += 14
    const top = y + 14
    const bottom = top + panelH - 60
    const values = []
    for (const d of groups) for (const v of series) {
      const s = summary.get(auth, inFlight, d, v.id)
      if (s.status === 'ok' && typeof s[panel.f] === 'number') values.push(s[panel.f])
    }
    const { max, step } = niceScale(values.length ? Math.max(...values) : 1)
    const yOf = (v) => bottom - (v / max) * (bottom - top)
    for (let t = 0; t <= max + step / 2; t += step) {
      const ty = yOf(t)
      parts.push(`<line x1="${left}" x2="${W - right}" y1="${r1(ty)}" y2="${r1(ty)}" class="grid"/>`)
      text(left - 8, ty + 4, panel.fmt(t), 'class="tick" text-anchor="end"')
    }
    parts.push(`<line x1="${left}" x2="${W - right}" y1="${bottom}" y2="${bottom}" class="axis"/>`)
    const groupW = plotW / groups.length
    const barW = Math.min(44, (groupW * 0.84) / series.length)
    groups.forEach((d, gi) => {
      const gx = left + gi * groupW + (groupW - barW * series.length) / 2
      series.forEach((v, si) => {
        const s = summary.get(auth, inFlight, d, v.id)
        const x = gx + si * barW
        const cx = x + barW / 2
        if (s.status === 'ok' && typeof s[panel.f] === 'number') {
          const by = yOf(s[panel.f])
          parts.push(`<rect x="${r1(x + 1)}" y="${r1(by)}" width="${r1(barW - 2)}" height="${r1(bottom - by)}" fill="${v.color}"><title>${esc(`${v.label}, ${fmtBytes(d)}: ${panel.fmt(s[panel.f])}`)}</title></rect>`)
          text(cx, by - 4, panel.fmt(s[panel.f]), 'class="val" text-anchor="middle"')
        } else if (s.status !== 'not run') {
          const word = s.status === 'not built' ? 'not built' : s.status
          text(cx + 4, bottom - 6, word, `class="${s.status === 'refused' ? 'refused' : 'na'}" transform="rotate(-90 ${r1(cx + 4)} ${r1(bottom - 6)})"`)
        }
      })
      text(left + gi * groupW + groupW / 2, bottom + 20, `${fmtBytes(d)} data`, 'class="xlab" text-anchor="middle"')
    })
    y = bottom + 30
  }
  y += 10
  text(left, y, '1.6.1 refuses request bodies over 32,767 bytes, so a Prepare with 32,767 data bytes never gets through. Full tables: docs/bench.md', 'class="note"')
  y += 14
  const H = Math.ceil(y + 10)
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif">
<style>
  .title { font-size: 17px; font-weight: bold; fill: #222; }
  .sub { font-size: 12px; fill: #555; }
  .warn { font-size: 13px; font-weight: bold; fill: #c0392b; }
  .legend { font-size: 12px; fill: #222; }
  .ptitle { font-size: 14px; font-weight: bold; fill: #333; }
  .tick { font-size: 11px; fill: #555; }
  .val { font-size: 10px; fill: #222; }
  .xlab { font-size: 12px; fill: #222; }
  .refused { font-size: 11px; font-weight: bold; fill: #c0392b; }
  .na { font-size: 11px; fill: #888; }
  .note { font-size: 11px; fill: #555; }
  .grid { stroke: #e3e3e3; stroke-width: 1; }
  .axis { stroke: #444; stroke-width: 1; }
</style>
<rect width="100%" height="100%" fill="#fff"/>
${parts.join('\n')}
</svg>
`
}

/** A round axis maximum ≥ value with 4–6 steps of 1, 2 or 5 × 10^k. */
function niceScale (value) {
  if (!(value > 0)) return { max: 1, step: 0.2 }
  const raw = value / 5
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)
  return { max: Math.ceil(value / step) * step, step }
}

// ---------------------------------------------------------------------------------------------
// Machine information.

function machineInfo (config, rustBuilt) {
  const cpus = os.cpus()
  let rustc = 'not found'
  try { rustc = execFileSync('rustc', ['--version'], { encoding: 'utf8' }).trim() } catch {}
  const stat = fs.statSync(ADDON)
  return {
    cpuModel: (cpus[0] && cpus[0].model.replace(/\s+/g, ' ').trim()) || 'unknown',
    cores: cpus.length,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    rustc,
    addon: { build: addonBuild(ADDON), sizeMB: Math.round(stat.size / 1e5) / 10, built: stat.mtime.toISOString() },
    rustPair: rustBuilt ? path.relative(ROOT, config.rustBin) : null,
    started: new Date().toISOString(),
    loadAverageStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
    command: (process.env.npm_lifecycle_event === 'bench' ? 'npm run bench --' : 'node bench/run.js') +
      (process.argv.length > 2 ? ' ' + process.argv.slice(2).join(' ') : '')
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

function runLabel (cell, v) {
  return `auth=${cell.auth} if=${cell.inFlight} data=${cell.dataBytes} impl=${v.id}`
}

function describeRun (r) {
  if (r.status === 'failed') return `FAILED: ${r.error || r.firstError}`
  if (r.status === 'refused') return `refused (${r.firstError})`
  return `${fmtInt(r.pps)} pkt/s, p50 ${fmtInt(r.p50Us)} µs, p99 ${fmtInt(r.p99Us)} µs, max ${fmtInt(r.maxUs)} µs, ` +
    `${fmtNum(r.cpuUsPerPacket, 1)} CPU µs/pkt, RSS ${mib(r.rssSenderKiB)}/${mib(r.rssReceiverKiB)} MiB` +
    (r.errors ? `, ${r.errors} errors (${r.firstError})` : '') + (r.sampleError ? ` [${r.sampleError}]` : '')
}

function fmtShort (n) {
  if (n >= 1e6) return `${fmtNum(n / 1e6, 1)}M`
  if (n >= 1e4) return `${fmtNum(n / 1e3, 0)}k`
  if (n >= 1e3) return `${fmtNum(n / 1e3, 1)}k`
  return fmtNum(n, 0)
}

function esc (s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

function r1 (n) {
  return Math.round(n * 10) / 10
}

function int (value, name, min) {
  const n = Number(value)
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}`)
  return n
}

function list (value, fallback) {
  if (value === undefined) return fallback
  if (typeof value !== 'string') throw new Error('a list flag needs a value, e.g. --in-flight 1,64')
  return value.split(',').map((s) => s.trim()).filter(Boolean)
}

function isExecutable (file) {
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return fs.statSync(file).isFile()
  } catch {
    return false
  }
}

function log (line) {
  process.stderr.write(line + '\n')
}

main().catch((err) => {
  log(`bench: ${err.stack || err}`)
  killAll()
  process.exit(1)
})
