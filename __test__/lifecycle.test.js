'use strict'
// Lifecycle: connect/disconnect (idempotent, concurrent, events, bind errors), the port getter,
// what the socket does after disconnect, in-flight requests, reconnecting, handler
// registration, money no-ops, the module shape, and that a process using the plugin exits by
// itself after disconnect().
//
// Shared behaviour runs against ours and ilp-plugin-http 1.6.1; FIX behaviour (bind errors
// reject, `port`, error codes) runs against ours only.
const net = require('net')
const path = require('path')
const { spawn } = require('child_process')
const { EventEmitter } = require('events')
const {
  PluginHttp,
  IMPLS,
  UNUSED_OUTGOING_URL,
  ILP_CONTENT_TYPE,
  makePrepare,
  makeFulfill,
  freePort,
  tcpConnects,
  listeningPort,
  disconnectAll,
  runCleanups,
  request,
  sleep
} = require('./support')
const MODULES = [['ours', path.join(__dirname, '..')], ['1.6.1', require.resolve('ilp-plugin-http')]]

const TOKEN = 'lifecycle-t0ken-Wq3'
const FULFILL = makeFulfill(Buffer.from('lifecycle'))

const plugins = []
const cleanups = []

afterEach(async () => {
  await disconnectAll(plugins.splice(0))
  await runCleanups(cleanups.splice(0))
})

function options (port = 0, extra = {}) {
  return {
    incoming: { port, host: '127.0.0.1', staticToken: TOKEN },
    outgoing: { url: UNUSED_OUTGOING_URL, staticToken: TOKEN },
    ...extra
  }
}

function create (Impl, port = 0) {
  const plugin = new Impl(options(port))
  plugins.push(plugin)
  return plugin
}

/** An authorized POST of a Prepare on a fresh connection (see support/http1.js `request`). */
function post (port) {
  return request(port, { headers: { Authorization: 'Bearer ' + TOKEN, 'Content-Type': ILP_CONTENT_TYPE }, body: makePrepare() })
}

/** Runs `node -e script`; resolves `{ code, signal, stdout, stderr, timedOut }`, killing it after `ms`. */
function runNode (script, ms = 10000) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', script], {
      cwd: path.join(__dirname, '..'),
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    child.stdout.on('data', (c) => { stdout += c })
    child.stderr.on('data', (c) => { stderr += c })
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, ms)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, timedOut })
    })
  })
}

/** Occupies a port on 127.0.0.1; returns `{ port, close }`. */
async function occupyPort () {
  const server = net.createServer((socket) => socket.destroy())
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  let closed = false
  const close = () => new Promise((resolve) => {
    if (closed) return resolve()
    closed = true
    server.close(() => resolve())
  })
  cleanups.push(close)
  return { port: server.address().port, close }
}

describe.each(IMPLS)('%s: lifecycle (shared)', (name, Impl) => {
  test('connect resolves once the port accepts TCP connections', async () => {
    const port = await freePort()
    const plugin = create(Impl, port)
    expect(plugin.isConnected()).toBe(false)
    await plugin.connect()
    expect(plugin.isConnected()).toBe(true)
    expect(await tcpConnects(port)).toBe(true)
  })

  test('concurrent connect() calls emit connect exactly once; isConnected() is true inside the listener', async () => {
    const plugin = create(Impl)
    const seen = []
    plugin.on('connect', () => seen.push(plugin.isConnected()))
    await Promise.all([plugin.connect(), plugin.connect(), plugin.connect({})])
    expect(seen).toEqual([true])
    await plugin.connect()
    expect(seen).toEqual([true])
    expect(plugin.isConnected()).toBe(true)
  })

  test('disconnect before connect resolves and emits nothing', async () => {
    const plugin = create(Impl)
    const events = []
    plugin.on('disconnect', () => events.push('disconnect'))
    plugin.on('connect', () => events.push('connect'))
    await expect(plugin.disconnect()).resolves.toBeUndefined()
    await plugin.disconnect()
    expect(events).toEqual([])
    expect(plugin.isConnected()).toBe(false)
  })

  test('disconnect is idempotent (sequential and concurrent) and emits disconnect once', async () => {
    const plugin = create(Impl)
    let disconnects = 0
    plugin.on('disconnect', () => disconnects++)
    await plugin.connect()
    await Promise.all([plugin.disconnect(), plugin.disconnect()])
    await plugin.disconnect()
    expect(disconnects).toBe(1)
    expect(plugin.isConnected()).toBe(false)
  })

  test('after disconnect resolves, new TCP connections are refused', async () => {
    const plugin = create(Impl)
    await plugin.connect()
    const port = await listeningPort(plugin)
    expect(await tcpConnects(port)).toBe(true)
    await plugin.disconnect()
    expect(await tcpConnects(port)).toBe(false)
  })

  test('a request in flight when disconnect() is called still completes with 200', async () => {
    const plugin = create(Impl)
    await plugin.connect()
    const port = await listeningPort(plugin)
    let entered
    const handlerEntered = new Promise((resolve) => { entered = resolve })
    plugin.registerDataHandler(async () => {
      entered()
      await sleep(300)
      return FULFILL
    })
    const pending = post(port)
    await handlerEntered
    const disconnected = plugin.disconnect()
    const [res] = await Promise.all([pending, disconnected])
    expect(res.status).toBe(200)
    expect(res.body.equals(FULFILL)).toBe(true)
    expect(plugin.isConnected()).toBe(false)
    expect(await tcpConnects(port)).toBe(false)
  })

  test('reconnect after disconnect on the same fixed port works', async () => {
    // Learn a port by binding port 0 once, then use it as a fixed port.
    const first = create(Impl, 0)
    await first.connect()
    const port = await listeningPort(first)
    await first.disconnect()

    const plugin = create(Impl, port)
    plugin.registerDataHandler(() => FULFILL)
    let connects = 0
    let disconnects = 0
    plugin.on('connect', () => connects++)
    plugin.on('disconnect', () => disconnects++)
    for (let round = 1; round <= 3; round++) {
      await plugin.connect()
      expect(plugin.isConnected()).toBe(true)
      const res = await post(port)
      expect(res.status).toBe(200)
      expect(res.body.equals(FULFILL)).toBe(true)
      await plugin.disconnect()
      expect(plugin.isConnected()).toBe(false)
      expect(await tcpConnects(port)).toBe(false)
      expect(connects).toBe(round)
      expect(disconnects).toBe(round)
    }
  })

  test('sendData before connect rejects "plugin is not connected."', async () => {
    const plugin = create(Impl)
    await expect(plugin.sendData(makePrepare())).rejects.toThrow('plugin is not connected.')
  })

  test('sendData after disconnect rejects "plugin is not connected."', async () => {
    const plugin = create(Impl)
    await plugin.connect()
    await plugin.disconnect()
    await expect(plugin.sendData(makePrepare())).rejects.toThrow('plugin is not connected.')
  })

  test('registerDataHandler replaces the handler; deregisterDataHandler removes it (-> 502)', async () => {
    const plugin = create(Impl)
    await plugin.connect()
    const port = await listeningPort(plugin)
    const a = makeFulfill(Buffer.from('a'))
    const b = makeFulfill(Buffer.from('b'))
    const first = jest.fn(async () => a)
    const second = jest.fn(async () => b)
    plugin.registerDataHandler(first)
    plugin.registerDataHandler(second)
    const res = await post(port)
    expect(res.status).toBe(200)
    expect(res.body.equals(b)).toBe(true)
    expect(first).not.toHaveBeenCalled()
    expect(second).toHaveBeenCalledTimes(1)

    plugin.deregisterDataHandler()
    expect((await post(port)).status).toBe(502)
    expect(second).toHaveBeenCalledTimes(1)

    plugin.registerDataHandler(first)
    const again = await post(port)
    expect(again.status).toBe(200)
    expect(again.body.equals(a)).toBe(true)
  })

  test('the data handler registered before connect is used', async () => {
    const plugin = create(Impl)
    plugin.registerDataHandler(() => FULFILL)
    await plugin.connect()
    const res = await post(await listeningPort(plugin))
    expect(res.status).toBe(200)
    expect(res.body.equals(FULFILL)).toBe(true)
  })

  test('money methods are no-ops and sendMoney resolves', async () => {
    const plugin = create(Impl)
    expect(plugin.registerMoneyHandler(async () => {})).toBeUndefined()
    expect(plugin.deregisterMoneyHandler()).toBeUndefined()
    await expect(plugin.sendMoney('100')).resolves.toBeUndefined()
    await plugin.connect()
    await expect(plugin.sendMoney('0')).resolves.toBeUndefined()
  })

  test('instances are EventEmitters', () => {
    const plugin = create(Impl)
    expect(plugin).toBeInstanceOf(EventEmitter)
    expect(plugin).toBeInstanceOf(Impl)
    expect(plugin.constructor.version).toBe(2)
  })
})

describe.each(MODULES)('%s: module shape', (name, modulePath) => {
  test('require(pkg) === require(pkg).default, static version 2', () => {
    const Plugin = require(modulePath)
    expect(typeof Plugin).toBe('function')
    expect(Plugin.default).toBe(Plugin)
    expect(Plugin.version).toBe(2)
  })
})

describe.each(MODULES)('%s: process exit', (name, modulePath) => {
  test('a process that connects, serves one request from itself and disconnects exits by itself with code 0', async () => {
    const port = await freePort()
    const script = `
      'use strict'
      const Plugin = require(${JSON.stringify(modulePath)})
      const IlpPacket = require(${JSON.stringify(require.resolve('ilp-packet'))})
      const crypto = require('crypto')
      const fulfill = IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.alloc(32), data: Buffer.from('self') })
      const prepare = IlpPacket.serializeIlpPrepare({
        amount: '1',
        executionCondition: crypto.createHash('sha256').update(Buffer.alloc(32)).digest(),
        expiresAt: new Date(Date.now() + 30000),
        destination: 'test.self',
        data: Buffer.alloc(0)
      })
      const plugin = new Plugin({
        incoming: { port: ${port}, host: '127.0.0.1', staticToken: 'self-token' },
        outgoing: { url: 'http://127.0.0.1:${port}/ilp', staticToken: 'self-token' }
      })
      let served = 0
      plugin.registerDataHandler(async (data) => {
        served++
        if (!data.equals(prepare)) throw new Error('wrong bytes')
        return fulfill
      })
      ;(async () => {
        await plugin.connect()
        const answer = await plugin.sendData(prepare)
        if (!answer.equals(fulfill)) throw new Error('wrong answer')
        await plugin.disconnect()
        console.log('SERVED ' + served)
      })().catch((err) => {
        console.error('FAILED ' + err.message)
        process.exitCode = 1
      })
    `
    const result = await runNode(script)
    if (result.timedOut) {
      throw new Error('the process did not exit within 10 s after disconnect(); stdout=' +
        JSON.stringify(result.stdout) + ' stderr=' + JSON.stringify(result.stderr))
    }
    expect(result.stderr).toBe('')
    expect(result.stdout.trim()).toBe('SERVED 1')
    expect(result.code).toBe(0)
  })
})

describe('ours: lifecycle (FIX behaviour)', () => {
  const Impl = PluginHttp

  test('port getter: undefined before connect, the bound port while connected, undefined after disconnect', async () => {
    const plugin = create(Impl, 0)
    expect(plugin.port).toBeUndefined()
    await plugin.connect()
    const port = plugin.port
    expect(Number.isInteger(port)).toBe(true)
    expect(port).toBeGreaterThan(0)
    expect(port).toBeLessThan(65536)
    expect(await tcpConnects(port)).toBe(true)
    await plugin.disconnect()
    expect(plugin.port).toBeUndefined()
  })

  test('port getter reports a fixed configured port', async () => {
    const fixed = await freePort()
    const plugin = create(Impl, fixed)
    await plugin.connect()
    expect(plugin.port).toBe(fixed)
  })

  test('connect (port 0) resolves only once bound: TCP connect to plugin.port right after succeeds', async () => {
    for (let i = 0; i < 5; i++) {
      const plugin = create(Impl, 0)
      await plugin.connect()
      expect(await tcpConnects(plugin.port)).toBe(true)
      await plugin.disconnect()
    }
  })

  test('port in use: connect rejects, stays disconnected, emits no connect; connect works once the port is free', async () => {
    const occupied = await occupyPort()
    const plugin = create(Impl, occupied.port)
    let connects = 0
    plugin.on('connect', () => connects++)
    // jest intercepts uncaught errors itself (and fails the test on them); the next test checks
    // the same in a real process, where these listeners do see everything.
    const problems = []
    const onProblem = (err) => problems.push(err)
    process.on('uncaughtException', onProblem)
    process.on('unhandledRejection', onProblem)
    try {
      await expect(plugin.connect()).rejects.toThrow()
      expect(plugin.isConnected()).toBe(false)
      expect(plugin.port).toBeUndefined()
      // A second attempt also rejects (no cached success).
      await expect(plugin.connect()).rejects.toThrow()
      await sleep(300)
      expect(connects).toBe(0)
      expect(plugin.isConnected()).toBe(false)
      expect(problems).toEqual([])
      // disconnect on a plugin whose connect failed: resolves, no event.
      let disconnects = 0
      plugin.on('disconnect', () => disconnects++)
      await plugin.disconnect()
      expect(disconnects).toBe(0)
    } finally {
      process.removeListener('uncaughtException', onProblem)
      process.removeListener('unhandledRejection', onProblem)
    }

    await occupied.close()
    plugin.registerDataHandler(() => FULFILL)
    await plugin.connect()
    expect(connects).toBe(1)
    expect(plugin.isConnected()).toBe(true)
    expect(plugin.port).toBe(occupied.port)
    const res = await post(occupied.port)
    expect(res.status).toBe(200)
    expect(res.body.equals(FULFILL)).toBe(true)
  })

  test('port in use, in a separate process: connect rejects and nothing is thrown outside the promise', async () => {
    const occupied = await occupyPort()
    const script = `
      'use strict'
      const Plugin = require(${JSON.stringify(path.join(__dirname, '..'))})
      const problems = []
      process.on('uncaughtException', (err) => problems.push('uncaughtException: ' + (err && err.message)))
      process.on('unhandledRejection', (err) => problems.push('unhandledRejection: ' + (err && err.message)))
      const plugin = new Plugin({
        incoming: { port: ${occupied.port}, host: '127.0.0.1', staticToken: 't' },
        outgoing: { url: ${JSON.stringify(UNUSED_OUTGOING_URL)}, staticToken: 't' }
      })
      let connects = 0
      plugin.on('connect', () => connects++)
      plugin.connect().then(
        () => ({ rejected: false }),
        (err) => ({ rejected: true, isError: err instanceof Error, message: String(err && err.message) })
      ).then((outcome) => new Promise((resolve) => setTimeout(() => resolve(outcome), 500)))
        .then((outcome) => {
          console.log(JSON.stringify({ ...outcome, connected: plugin.isConnected(), connects, problems }))
          process.exit(0)
        })
    `
    const result = await runNode(script)
    expect(result.timedOut).toBe(false)
    expect(result.code).toBe(0)
    const report = JSON.parse(result.stdout.trim())
    expect(report).toEqual({
      rejected: true,
      isError: true,
      message: expect.any(String),
      connected: false,
      connects: 0,
      problems: []
    })
  })

  test('sendData before connect rejects with ilpErrorCode T01', async () => {
    const plugin = create(Impl)
    let error
    try {
      await plugin.sendData(makePrepare())
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(Error)
    expect(error.message).toBe('plugin is not connected.')
    expect(error.ilpErrorCode).toBe('T01')
  })

  test('disconnect while connect is in progress: ends disconnected', async () => {
    const plugin = create(Impl)
    const connecting = plugin.connect()
    const disconnecting = plugin.disconnect()
    await connecting
    await disconnecting
    expect(plugin.isConnected()).toBe(false)
    expect(plugin.port).toBeUndefined()
  })

  test('connect during disconnect: ends connected and serving', async () => {
    const port = await freePort()
    const plugin = create(Impl, port)
    plugin.registerDataHandler(() => FULFILL)
    await plugin.connect()
    const disconnecting = plugin.disconnect()
    const connecting = plugin.connect()
    await disconnecting
    await connecting
    expect(plugin.isConnected()).toBe(true)
    const res = await post(port)
    expect(res.status).toBe(200)
  })

  test('two plugins cannot both bind the same port; the second rejects and the first keeps serving', async () => {
    const a = create(Impl, 0)
    a.registerDataHandler(() => FULFILL)
    await a.connect()
    const b = create(Impl, a.port)
    await expect(b.connect()).rejects.toThrow()
    expect(b.isConnected()).toBe(false)
    const res = await post(a.port)
    expect(res.status).toBe(200)
    expect(res.body.equals(FULFILL)).toBe(true)
  })
})
