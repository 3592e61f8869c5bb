'use strict'
// Hardening II (issue 14), the JS side: items 8 (bad JS values) and 9 (connect/disconnect races).
//
// 8. No value passed to sendData, returned or thrown by a data handler, or thrown by the logger
//    may crash the process or keep it alive, and every sendData rejection carries ilpErrorCode.
//    A crash is an uncaught exception in the process, so each case runs in a child process
//    (fixtures/bad-js-values.js) that must print its outcome and exit by itself with code 0.
// 9. connect()/disconnect() called without awaiting, in any interleaving: the last call wins
//    (the plugin ends in the state the last call asked for, and its port says so).
const path = require('path')
const { spawn } = require('child_process')
const { PluginHttp, UNUSED_OUTGOING_URL, makeFulfill, freePort, disconnectAll, tcpConnects, prng } = require('./support')

const TOKEN = 'hardening-js-t0ken'
const FIXTURE = path.join(__dirname, 'fixtures', 'bad-js-values.js')
/** A child that neither crashes nor hangs finishes in well under this. */
const CHILD_TIMEOUT_MS = 10000

jest.setTimeout(30000)

let plugins = []
afterEach(async () => {
  const ps = plugins
  plugins = []
  await disconnectAll(ps)
})

/** Runs the fixture with `scenario`; resolves `{ code, signal, timedOut, report, stderr }`. */
function runScenario (scenario) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [FIXTURE, scenario], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => { stdout += chunk })
    child.stderr.on('data', (chunk) => { stderr += chunk })
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, CHILD_TIMEOUT_MS)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      const line = stdout.trim().split('\n').pop()
      let report = null
      try { report = JSON.parse(line) } catch (e) {}
      resolve({ code, signal, timedOut, report, stderr })
    })
  })
}

describe('8. bad JS values never crash the process nor keep it alive', () => {
  const handlerCases = [
    'handler resolves a detached buffer',
    'handler returns a detached buffer',
    'handler returns a fake Uint8Array',
    'handler throws a revoked Proxy',
    'handler rejects with a revoked Proxy',
    'handler throws an Error whose message getter throws',
    'handler returns a thenable whose then getter throws',
    'logger throws'
  ]
  test.each(handlerCases)('%s: 500, the process exits by itself', async (scenario) => {
    const { code, signal, timedOut, report, stderr } = await runScenario(scenario)
    expect({ timedOut, code, signal, stderr: code === 0 ? '' : stderr }).toEqual({ timedOut: false, code: 0, signal: null, stderr: '' })
    expect(report).toEqual({ status: 500, problems: [] })
  })

  const sendCases = ['sendData with a detached buffer', 'sendData with a fake Uint8Array', 'sendData with a revoked Proxy']
  test.each(sendCases)('%s: rejects with ilpErrorCode F00, the process exits by itself', async (scenario) => {
    const { code, signal, timedOut, report, stderr } = await runScenario(scenario)
    expect({ timedOut, code, signal, stderr: code === 0 ? '' : stderr }).toEqual({ timedOut: false, code: 0, signal: null, stderr: '' })
    expect(report).toEqual({ rejected: true, ilpErrorCode: 'F00', problems: [] })
  })
})

describe('9. connect()/disconnect(): the last call wins', () => {
  async function plugin () {
    const port = await freePort()
    const p = new PluginHttp({
      incoming: { port, host: '127.0.0.1', staticToken: TOKEN },
      outgoing: { url: UNUSED_OUTGOING_URL, staticToken: TOKEN }
    })
    p.registerDataHandler(() => makeFulfill())
    plugins.push(p)
    return { p, port }
  }

  /** Calls the methods named in `calls` without awaiting, then awaits them all. */
  async function interleave (p, calls) {
    const results = await Promise.allSettled(calls.map((name) => p[name]()))
    expect(results.map((r) => r.status)).toEqual(calls.map(() => 'fulfilled'))
  }

  test('[connect, disconnect, connect] ends connected and serving', async () => {
    const { p, port } = await plugin()
    await interleave(p, ['connect', 'disconnect', 'connect'])
    expect(p.isConnected()).toBe(true)
    expect(await tcpConnects(port)).toBe(true)
  })

  test('[disconnect, connect, disconnect] on a connected plugin ends disconnected, not listening', async () => {
    const { p, port } = await plugin()
    await p.connect()
    await interleave(p, ['disconnect', 'connect', 'disconnect'])
    expect(p.isConnected()).toBe(false)
    expect(await tcpConnects(port)).toBe(false)
  })

  test('calls made while a disconnect is awaited: the last one wins', async () => {
    const { p, port } = await plugin()
    await p.connect()
    const first = p.disconnect()
    await new Promise((resolve) => setImmediate(resolve)) // the native disconnect is under way
    await interleave(p, ['connect', 'disconnect', 'connect'])
    await first
    expect(p.isConnected()).toBe(true)
    expect(await tcpConnects(port)).toBe(true)
  })

  test('200 seeded random interleavings from both states (the seed is in the failure message)', async () => {
    const { p, port } = await plugin()
    const random = prng(14)
    for (let round = 0; round < 200; round++) {
      const start = random() < 0.5
      if (start) await p.connect(); else await p.disconnect()
      const calls = Array.from({ length: 1 + Math.floor(random() * 5) }, () => random() < 0.5 ? 'connect' : 'disconnect')
      // Some calls a tick later, while the first transition runs.
      const split = Math.floor(random() * calls.length)
      const early = calls.slice(0, split).map((name) => p[name]())
      await new Promise((resolve) => setImmediate(resolve))
      const late = calls.slice(split).map((name) => p[name]())
      await Promise.all([...early, ...late])
      const wanted = calls[calls.length - 1] === 'connect'
      const state = { round, start, calls, connected: p.isConnected(), listening: await tcpConnects(port) }
      expect(state).toEqual({ ...state, connected: wanted, listening: wanted })
    }
  })
})
