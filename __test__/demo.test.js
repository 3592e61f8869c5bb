'use strict'
// The `npm start` demo (demo/index.js) as a user runs it: a child process with an in-process
// ilp-connector whose accounts load ilp-plugin-http-rs by name, two standalone plugins and a
// STREAM payment. Checks the summary and exit code of a one-shot run, and that Ctrl-C (SIGINT)
// in the middle of a payment stops everything with exit code 0 and nothing on stderr.
const { spawn } = require('child_process')
const path = require('path')

const ROOT = path.join(__dirname, '..')
const DEMO = path.join(ROOT, 'demo', 'index.js')

const children = new Set()

afterEach(() => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  children.clear()
})

/**
 * Starts `node demo/index.js ...args`. Returns { child, output, exited } where output holds the
 * text so far and exited resolves with { code, signal, stdout, stderr }.
 */
function runDemo (args) {
  const child = spawn(process.execPath, [DEMO, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  const output = { stdout: '', stderr: '' }
  child.stdout.on('data', (chunk) => { output.stdout += chunk })
  child.stderr.on('data', (chunk) => { output.stderr += chunk })
  const exited = new Promise((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, ...output }))
  })
  return { child, output, exited }
}

/** Resolves with the match once `regex` matches the child's stdout (or rejects on exit). */
function waitForStdout (run, regex) {
  return new Promise((resolve, reject) => {
    const check = () => {
      const match = run.output.stdout.match(regex)
      if (match) {
        run.child.stdout.off('data', check)
        resolve(match)
      }
    }
    run.child.stdout.on('data', check)
    run.exited.then((result) => reject(new Error(`demo exited (${result.code}) before ${regex}:\n${result.stdout}\n${result.stderr}`)))
    check()
  })
}

test('npm start runs the demo', () => {
  const pkg = require(path.join(ROOT, 'package.json'))
  expect(pkg.scripts.start).toBe('node demo/index.js')
})

test('--amount 200000 --once: pays once, prints the summary and exits 0', async () => {
  const result = await runDemo(['--amount', '200000', '--once']).exited
  expect({ code: result.code, signal: result.signal, stderr: result.stderr }).toEqual({ code: 0, signal: null, stderr: '' })
  const out = result.stdout
  expect(out).toContain("accounts load plugin 'ilp-plugin-http-rs' by name")
  expect(out).toMatch(/^ {2}bob {4}standalone plugin http:\/\/127\.0\.0\.1:\d+\/ {2}STREAM server test\.demo\.bob$/m)
  expect(out).toContain('payment #1 complete: 200000 units delivered to bob\n')
  const summary = out.match(/^summary: delivered (\d+) units alice -> bob in (\d+) complete payment\(s\), (\d+) packets \((\d+) fulfilled, (\d+) rejected, (\d+) failed\) in [0-9.]+ s, \d+ packets\/s, latency avg [0-9.]+ ms p50 [0-9.]+ ms p99 [0-9.]+ ms max [0-9.]+ ms$/m)
  expect(summary).not.toBeNull()
  const [, delivered, payments, packets, fulfilled, rejected, failed] = summary.map(Number)
  expect({ delivered, payments, failed }).toEqual({ delivered: 200000, payments: 1, failed: 0 })
  // maxPacketAmount 10000 on the connector: at least 20 fulfilled money packets (+ ILDCP).
  expect(fulfilled).toBeGreaterThanOrEqual(20)
  expect(packets).toBe(fulfilled + rejected + failed)
  expect(out.endsWith('stopped cleanly\n')).toBe(true)
}, 30000)

test('SIGINT in the middle of a payment stops everything cleanly with exit code 0', async () => {
  const AMOUNT = '1000000000000' // 10^8 packets: cannot finish before the signal
  const run = runDemo(['--amount', AMOUNT])
  // A progress line (printed every second when stdout is not a TTY) with money delivered.
  await waitForStdout(run, /^progress: payment #1: [1-9][0-9,]* \/ 1,000,000,000,000 /m)
  run.child.kill('SIGINT')
  const result = await run.exited
  expect({ code: result.code, signal: result.signal, stderr: result.stderr }).toEqual({ code: 0, signal: null, stderr: '' })
  expect(result.stdout).toContain('SIGINT: stopping (STREAM connection, plugins, connector)...\n')
  const interrupted = result.stdout.match(/^interrupted during payment #1 \((\d+) of 1000000000000 units of it sent\): delivered (\d+) units alice -> bob in 0 complete payment\(s\)/m)
  expect(interrupted).not.toBeNull()
  const sent = BigInt(interrupted[1])
  expect(sent > 0n && sent < BigInt(AMOUNT)).toBe(true)
  expect(interrupted[2]).toBe(interrupted[1])
  expect(result.stdout.endsWith('stopped cleanly\n')).toBe(true)
  expect(result.stdout).not.toMatch(/Error|at .*\.js:\d+/)
}, 30000)

test('an unknown argument: usage on stderr, exit code 2, nothing started', async () => {
  const result = await runDemo(['--amount', 'lots']).exited
  expect(result).toEqual({
    code: 2,
    signal: null,
    stdout: '',
    stderr: '--amount needs a positive integer, got "lots"\nusage: node demo/index.js [--amount N] [--max-packet N] [--once] [--verbose]\n'
  })
})
