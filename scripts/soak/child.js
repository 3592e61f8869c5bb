'use strict'
// Plumbing shared by the two soak processes (scripts/soak/sender.js, scripts/soak/receiver.js),
// both forked by scripts/soak.js with an IPC channel and --expose-gc.
//
// Messages from the parent: { cmd: 'measure', label } (gc, then sample), { cmd: 'disconnect' }
// (disconnect the plugin, report counters), { cmd: 'exit' } (close the IPC channel: the process
// must then exit on its own) and whatever the role handles itself ({ cmd: 'run', … } for the
// sender). Messages to the parent: { type: 'ready', port, beforeConnect } (beforeConnect: a
// sample taken before the plugin was made), { type: 'sample', … } every `sampleMs`,
// { type: 'measured', label, sample }, { type: 'disconnected', … } and { type: 'fatal', error }.
const fs = require('fs')
const path = require('path')

/** The package under test, loaded the way users load it (this repository's index.js). */
const PluginHttp = require(path.join(__dirname, '..', '..'))

/** Auth: JWT from sender to receiver, a static token from receiver to sender. */
const JWT_SECRET = 'soak-jwt-secret-sender-to-receiver'
const STATIC_TOKEN = 'soak-static-token-receiver-to-sender'

/** The configuration scripts/soak.js passes as the one command-line argument (JSON). */
function config () {
  return JSON.parse(process.argv[2])
}

function send (message) {
  if (process.connected) process.send(message)
}

/** This process's memory and open file descriptors, measured in the process itself. */
function sample () {
  const m = process.memoryUsage()
  return {
    t: Date.now(),
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    // readdirSync opens the directory itself: counted alike in every sample.
    fds: fs.readdirSync('/proc/self/fd').length
  }
}

/**
 * Where the resident memory is (from /proc/self/smaps, bytes): `heap` the brk heap (glibc's
 * main arena), `anon` other anonymous mappings (V8's heap pages, other threads' malloc arenas,
 * large malloc chunks, thread stacks), `file` mapped files (code of node and the addon); and
 * the number of threads. Read at the gc'd measurements only (a few ms).
 */
function memoryMap () {
  const out = { heap: 0, anon: 0, file: 0, threads: null }
  let kind = 'anon'
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line)
    if (header) {
      const name = header[1]
      kind = name === '[heap]' ? 'heap' : name === '' || name.startsWith('[') ? 'anon' : 'file'
    } else if (line.startsWith('Rss:')) {
      out[kind] += parseInt(line.slice(4), 10) * 1024
    }
  }
  const threads = /^Threads:\s+(\d+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))
  out.threads = threads ? Number(threads[1]) : null
  return out
}

/** Full garbage collections (finalisers of native buffers run in between), then a sample. */
async function sampleAfterGc () {
  for (let i = 0; i < 3; i++) {
    global.gc()
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return { ...sample(), map: memoryMap() }
}

/**
 * Runs one soak process: `setup()` connects the plugin and returns `{ plugin, port, stats,
 * onMessage }`; `stats()` gives the role's counters (sent with each sample and at the end).
 */
async function runChild (setup) {
  if (typeof global.gc !== 'function') throw new Error('run with --expose-gc')
  let stopping = false
  // The parent is gone (or closed the channel): nothing left to report to.
  process.on('disconnect', () => {
    if (!stopping) process.exit(3)
  })
  const cfg = config()
  const beforeConnect = await sampleAfterGc()
  const role = await setup(cfg)
  const sampler = setInterval(() => send({ type: 'sample', sample: sample(), stats: role.stats() }), cfg.sampleMs)

  process.on('message', async (msg) => {
    try {
      if (msg.cmd === 'measure') {
        send({ type: 'measured', label: msg.label, sample: await sampleAfterGc(), stats: role.stats() })
      } else if (msg.cmd === 'disconnect') {
        const admin = role.plugin.getAdminInfo()
        const t0 = Date.now()
        await role.plugin.disconnect()
        send({ type: 'disconnected', stats: role.stats(), admin: { stats: admin.stats }, disconnectMs: Date.now() - t0 })
      } else if (msg.cmd === 'exit') {
        // Close the channel and let the event loop run dry: the process must exit on its own.
        stopping = true
        clearInterval(sampler)
        process.disconnect()
      } else if (role.onMessage) {
        await role.onMessage(msg)
      }
    } catch (err) {
      fatal(err)
    }
  })
  send({ type: 'ready', port: role.port, beforeConnect })
}

function fatal (err) {
  const error = err && err.stack ? err.stack : String(err)
  try {
    send({ type: 'fatal', error })
  } finally {
    process.stderr.write(`soak child ${process.pid}: ${error}\n`)
    setTimeout(() => process.exit(1), 100)
  }
}

/** First few error messages (with a count per message) for the report. */
class ErrorLog {
  constructor (limit = 10) {
    this.count = 0
    this.limit = limit
    this.first = []
  }

  add (message) {
    this.count++
    if (this.first.length < this.limit) this.first.push(message)
  }

  toJSON () {
    return { count: this.count, first: this.first }
  }
}

process.on('uncaughtException', fatal)
process.on('unhandledRejection', fatal)

module.exports = { PluginHttp, JWT_SECRET, STATIC_TOKEN, runChild, fatal, ErrorLog }
