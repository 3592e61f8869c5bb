'use strict'
// Child processes of `npm run bench` (bench/run.js, bench/through.js): start one and read its
// stdout line by line, stop it, and read its CPU time, threads and peak memory from /proc.
const { spawn } = require('child_process')
const fs = require('fs')
const path = require('path')

const ROOT = path.join(__dirname, '..')

/** Children alive right now, killed if the runner is interrupted. */
const live = new Set()

/**
 * Spawns a child (with `extraEnv` added to this process's environment) with stdout read line by
 * line; `waitFor(regex, ms)` resolves with the match.
 */
function start (file, args, extraEnv = {}) {
  const env = { ...process.env }
  delete env.DEBUG // the `debug` package must not log during a measurement
  const child = spawn(file, args, { cwd: ROOT, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(child)
  const lines = []
  let waiter = null
  let partial = ''
  let stderr = ''
  let exited = null
  const check = () => {
    if (!waiter) return
    while (lines.length) {
      const m = waiter.regex.exec(lines.shift())
      if (m) {
        const w = waiter
        waiter = null
        clearTimeout(w.timer)
        w.resolve(m)
        return
      }
    }
    if (exited) {
      const w = waiter
      waiter = null
      clearTimeout(w.timer)
      w.reject(new Error(`${path.basename(args[0] || file)} exited (${exited}) before printing ${w.regex}: ${stderr.trim().slice(-600)}`))
    }
  }
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk) => {
    partial += chunk
    const parts = partial.split('\n')
    partial = parts.pop()
    lines.push(...parts.map((l) => l.trim()))
    check()
  })
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk) => { stderr = (stderr + chunk).slice(-4000) })
  let resolveExit
  child.exitPromise = new Promise((resolve) => { resolveExit = resolve })
  const onExit = (how) => {
    if (exited) return
    exited = how
    live.delete(child)
    resolveExit()
    check()
  }
  child.on('close', (code, signal) => onExit(signal || `code ${code}`))
  child.on('error', (err) => {
    stderr += `\n${err.message}`
    if (child.pid === undefined) onExit('spawn error') // never started: no 'close' follows
  })
  child.waitFor = (regex, ms) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiter = null
      reject(new Error(`timed out after ${ms} ms waiting for ${regex} from ${path.basename(args[0] || file)}: ${stderr.trim().slice(-600)}`))
    }, ms)
    waiter = { regex, resolve, reject, timer }
    check()
  })
  return child
}

/** SIGTERM, then SIGKILL after 2 s; resolves once the process has exited. */
async function stop (child) {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitPromise
  child.kill('SIGTERM')
  const timer = setTimeout(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') }, 2000)
  await child.exitPromise
  clearTimeout(timer)
}

/** utime + stime of a process (all its threads), in clock ticks. */
function cpuTicks (pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  return Number(fields[11]) + Number(fields[12])
}

function orNull (read) {
  try { return read() } catch { return null }
}

/** Peak resident set size (VmHWM) in KiB. */
function peakRssKiB (pid) {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) : null
}

/**
 * CPU ticks (utime + stime) and context switches of each thread of `pid`, by thread id:
 * `Map<tid, { name, ticks, switches }>`. `switches` counts voluntary ones (the thread blocked:
 * each is a later wake-up) plus involuntary ones (preempted). A thread that ends between two
 * samples drops out of the difference.
 */
function threadSamples (pid) {
  const out = new Map()
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const status = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8')
      const switches = Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)[1]) +
        Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)[1])
      out.set(Number(tid), { name, ticks: Number(fields[11]) + Number(fields[12]), switches })
    } catch {} // the thread ended while being read
  }
  return out
}

/** Kills every child still alive (the runner is being interrupted or failed). */
function killAll () {
  for (const child of live) child.kill('SIGKILL')
}

module.exports = { start, stop, cpuTicks, threadSamples, peakRssKiB, orNull, killAll, liveCount: () => live.size }
