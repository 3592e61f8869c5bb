'use strict'
// A cluster of two ilp-connector PROCESSES behind nginx (Debian's nginx package), as an operator
// would run it:
//
//   sender (ours) --HTTP--> nginx --round robin--> connector A | connector B --HTTP--> receiver (ours)
//   STREAM client           :LB    (retries)       same config, same address     STREAM server
//
// Both connectors (__test__/fixtures/cluster-connector.js) have the same configuration: ILP
// address test.cluster, child accounts "sender" and "receiver" with plugin 'ilp-plugin-http-rs'
// and the same secrets. The sender and the receiver reach "the cluster" only through nginx
// (/sender/ and /receiver/ locations, one upstream per account); the connectors reach the
// receiver directly. Because the plugin keeps no state between requests, any connector can take
// any packet: ILDCP gives the same answer everywhere, and every connector has a local route to
// test.cluster.receiver.
//
// Shows: both connectors carry traffic; a STREAM payment completes; SIGKILL of one connector
// while it holds a packet does not stop the payment (nginx re-sends that Prepare to the other
// connector; the receiver then sees it twice, which the test measures); the GET health check
// answers through nginx, also with a connector down.
const { spawn, fork, execFileSync } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')
const IlpPacket = require('ilp-packet')
const { createServer, createConnection } = require('ilp-protocol-stream')
const { PluginHttp, freePort, sleep, request } = require('./support')
const { OURS, ASSET, childAccount, connectorConfig, secret } = require('./support/connector')

const FIXTURE = path.join(__dirname, 'fixtures', 'cluster-connector.js')
const NGINX_TEMPLATE = path.join(__dirname, 'fixtures', 'nginx-cluster.conf')
const CLUSTER_ADDRESS = 'test.cluster'
const MAX_PACKET_AMOUNT = 2000
const AMOUNT = 200000 // >= 100 packets

jest.setTimeout(60000)

function findNginx () {
  for (const candidate of ['nginx', '/usr/sbin/nginx']) {
    try {
      execFileSync(candidate, ['-v'], { stdio: 'ignore' })
      return candidate
    } catch (err) {}
  }
  return undefined
}
const NGINX = findNginx()
const NGINX_MISSING = 'nginx is not installed: apt-get install -y nginx (.ci/run does)'
if (!NGINX && process.env.CI && process.env.CI !== 'false') {
  // CI installs it (.ci/run): there, a missing nginx is a failure, not a skip.
  throw new Error(`${NGINX_MISSING}; CI must run this suite`)
}
if (!NGINX) {
  // A fresh machine: one visible line, then the suite reports itself skipped.
  process.stderr.write(`cluster.test.js: SKIPPED, ${NGINX_MISSING}\n`)
}
/** The suite runs only where nginx is installed. */
const describeWithNginx = NGINX ? describe : describe.skip

/** Waits for `child` to exit; resolves with { code, signal }. */
function exitOf (child) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode })
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
}

/** A connector process of the cluster. */
class Member {
  constructor (name, config) {
    this.name = name
    this.output = ''
    this.nextRequest = 0
    this.pending = new Map()
    this.child = fork(FIXTURE, [], {
      env: { ...process.env, CLUSTER_CONNECTOR_CONFIG: JSON.stringify(config) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc']
    })
    this.child.stdout.on('data', (chunk) => { this.output += chunk })
    this.child.stderr.on('data', (chunk) => { this.output += chunk })
    this.exited = exitOf(this.child)
    this.ready = new Promise((resolve, reject) => {
      this.child.on('message', (message) => {
        if (message.type === 'ready') resolve(message)
        else if (message.type === 'failed') reject(new Error(`${name}: ${message.message}`))
        else if (message.type === 'stats') {
          const resolveStats = this.pending.get(message.requestId)
          this.pending.delete(message.requestId)
          if (resolveStats) resolveStats(message.stats)
        }
      })
      this.exited.then(({ code, signal }) => {
        reject(new Error(`${name} exited (${code}, ${signal}) before it was ready:\n${this.output}`))
        for (const [, resolveStats] of this.pending) resolveStats(undefined)
        this.pending.clear()
      })
    })
  }

  /** SIGKILL, as a crash would. */
  crash () {
    this.crashed = true
    this.child.kill('SIGKILL')
    return this.exited
  }

  get alive () {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** Per-account counters from the process (see the fixture). */
  stats () {
    if (!this.alive || !this.child.connected) return Promise.resolve(undefined)
    const requestId = this.nextRequest++
    return new Promise((resolve) => {
      this.pending.set(requestId, resolve)
      this.child.send({ cmd: 'stats', requestId })
    })
  }

  async stop () {
    if (this.alive && this.child.connected) this.child.send({ cmd: 'stop' })
    const timer = setTimeout(() => { if (this.alive) this.child.kill('SIGKILL') }, 10000)
    const result = await this.exited
    clearTimeout(timer)
    return result
  }
}

/** nginx as a child process, configured from fixtures/nginx-cluster.conf in a temp folder. */
async function startNginx ({ listenPort, senderPorts, receiverPorts, editConf = (text) => text }) {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'ilp-cluster-nginx-'))
  // Run as root, nginx's worker runs as "nobody": it must be able to enter the folder.
  fs.chmodSync(prefix, 0o755)
  const servers = (ports) => ports.map((port) => `        server 127.0.0.1:${port} max_fails=1 fail_timeout=10s;`).join('\n')
  const values = {
    PREFIX: prefix,
    LISTEN: `127.0.0.1:${listenPort}`,
    SENDER_SERVERS: servers(senderPorts),
    RECEIVER_SERVERS: servers(receiverPorts)
  }
  const conf = editConf(fs.readFileSync(NGINX_TEMPLATE, 'utf8')).replace(/\$\{([A-Z_]+)\}/g, (all, key) => {
    if (!(key in values)) throw new Error(`unknown placeholder ${all}`)
    return values[key]
  })
  const confPath = path.join(prefix, 'nginx.conf')
  fs.writeFileSync(confPath, conf)
  const child = spawn(NGINX, ['-e', path.join(prefix, 'error.log'), '-c', confPath, '-p', prefix, '-g', 'daemon off;'], {
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const lb = { prefix, child, output: '', exited: exitOf(child), port: listenPort }
  child.stdout.on('data', (chunk) => { lb.output += chunk })
  child.stderr.on('data', (chunk) => { lb.output += chunk })
  lb.errorLog = () => readIfExists(path.join(prefix, 'error.log'))
  lb.accessLog = () => readIfExists(path.join(prefix, 'access.log'))
  lb.stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM') // fast shutdown: the master stops its workers
    await lb.exited
    fs.rmSync(prefix, { recursive: true, force: true })
  }
  // Ready once the health check answers through it.
  for (let attempt = 0; ; attempt++) {
    let failure
    if (child.exitCode !== null) failure = `nginx exited with ${child.exitCode}`
    else if (attempt > 100) failure = 'nginx did not come up'
    if (failure) {
      failure += `:\n${lb.output}\n${lb.errorLog()}`
      await lb.stop()
      throw new Error(failure)
    }
    try {
      const res = await request(lb.port, { method: 'GET', path: '/sender/', timeoutMs: 5000 })
      if (res.status === 200) break
    } catch (err) {}
    await sleep(50)
  }
  return lb
}

function readIfExists (file) {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch (err) {
    return ''
  }
}

/**
 * The whole topology. `editConf(text)` may change the nginx configuration. Afterwards,
 * `c.receiverHook = async (prepare) => {}` runs before the receiver's STREAM handler.
 */
async function startCluster ({ editConf } = {}) {
  const c = { cleanups: [], members: [], receiverPrepares: [] }
  try {
    const s = {
      senderUp: secret('sender-up'), // sender -> cluster (static token)
      senderDown: secret('sender-down'),
      receiverUp: secret('receiver-up-jwt'), // receiver -> cluster (JWT)
      receiverDown: secret('receiver-down-jwt')
    }
    const lbPort = await freePort()
    // The sender and the receiver only know the load balancer.
    c.sender = new PluginHttp({
      incoming: { port: 0, host: '127.0.0.1', staticToken: s.senderDown },
      outgoing: { url: `http://127.0.0.1:${lbPort}/sender/`, staticToken: s.senderUp }
    })
    c.receiver = new PluginHttp({
      incoming: { port: 0, host: '127.0.0.1', jwtSecret: s.receiverDown },
      outgoing: { url: `http://127.0.0.1:${lbPort}/receiver/`, jwtSecret: s.receiverUp }
    })
    for (const plugin of [c.sender, c.receiver]) {
      c.cleanups.push(() => plugin.disconnect())
      await plugin.connect()
    }

    // One configuration for every member. `incoming.port: 0`: each process binds its own port
    // (they share one host here; on separate hosts they would all use the same fixed port).
    const account = (options) => childAccount(OURS, options, { maxPacketAmount: String(MAX_PACKET_AMOUNT) })
    c.config = connectorConfig(CLUSTER_ADDRESS, {
      sender: account({
        incoming: { port: 0, host: '127.0.0.1', staticToken: s.senderUp },
        outgoing: { url: `http://127.0.0.1:${c.sender.port}/`, staticToken: s.senderDown }
      }),
      receiver: account({
        incoming: { port: 0, host: '127.0.0.1', jwtSecret: s.receiverUp },
        outgoing: { url: `http://127.0.0.1:${c.receiver.port}/`, jwtSecret: s.receiverDown }
      })
    })
    for (const name of ['A', 'B']) {
      const member = new Member(name, c.config)
      c.members.push(member)
      c.cleanups.push(() => member.stop())
    }
    const ready = await Promise.all(c.members.map((m) => m.ready))
    c.members.forEach((m, i) => { m.ports = ready[i].ports })

    c.lb = await startNginx({
      listenPort: lbPort,
      senderPorts: c.members.map((m) => m.ports.sender),
      receiverPorts: c.members.map((m) => m.ports.receiver),
      editConf
    })
    c.cleanups.push(() => c.lb.stop())

    // The receiver's STREAM server; every Prepare that reaches it is recorded (and may be
    // intercepted by c.receiverHook).
    const register = c.receiver.registerDataHandler.bind(c.receiver)
    c.receiver.registerDataHandler = (handler) => register(async (data) => {
      const prepare = IlpPacket.deserializeIlpPrepare(data)
      c.receiverPrepares.push(prepare)
      if (c.receiverHook) await c.receiverHook(prepare)
      return handler(data)
    })
    c.server = await createServer({ plugin: c.receiver }) // ILDCP through nginx
    c.cleanups.push(() => c.server.close())
    c.receivedStreams = []
    c.server.on('connection', (connection) => {
      connection.on('stream', (stream) => {
        stream.setReceiveMax(Infinity)
        c.receivedStreams.push(stream)
      })
    })
    return c
  } catch (err) {
    await stopCluster(c).catch(() => {})
    const logs = c.members.map((m) => `--- ${m.name}\n${m.output}`).join('\n')
    err.message += `\n${logs}`
    throw err
  }
}

async function stopCluster (c) {
  if (!c) return
  const errors = []
  for (const cleanup of c.cleanups.reverse()) {
    // Bounded, so a hung cleanup fails the test with its name instead of the hook timeout.
    let timer
    const timeout = new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`cleanup hung: ${cleanup.toString().slice(0, 80)}`)), 15000)
    })
    try {
      await Promise.race([cleanup(), timeout])
    } catch (err) {
      errors.push(err)
    } finally {
      clearTimeout(timer)
    }
  }
  if (errors.length) throw errors[0]
}

/** Opens a STREAM connection sender -> receiver through the cluster. */
async function connectSender (c) {
  const { destinationAccount, sharedSecret } = c.server.generateAddressAndSecret()
  const connection = await createConnection({ plugin: c.sender, destinationAccount, sharedSecret })
  c.cleanups.push(() => connection.destroy())
  // end() waits for the peer to close its side, which a broken network may never do: bounded.
  c.cleanups.push(() => new Promise((resolve) => {
    const timer = setTimeout(resolve, 2000)
    connection.end().catch(() => {}).then(() => { clearTimeout(timer); resolve() })
  }))
  return { connection, destinationAccount }
}

const totalReceived = (c) => c.receivedStreams.reduce((sum, stream) => sum + BigInt(stream.totalReceived), 0n)

/**
 * Starts a payment of AMOUNT and, once it is under way (20 money packets in), SIGKILLs
 * connector A at a moment when the Prepare reaching the receiver came through A (STREAM sends
 * one packet at a time, so A then has exactly one in flight). The receiver answers only after
 * A is dead: nginx sees A fail in the middle of the request. Resolves with what happened.
 */
async function payAndCrashA (c) {
  const [victim, survivor] = c.members
  const crash = { killed: null }
  let moneyPackets = 0
  c.receiverHook = async (prepare) => {
    if (crash.killed || prepare.amount === '0') return
    if (++moneyPackets < 20) return
    const stats = await victim.stats()
    if (!stats || stats.receiver.outgoingInFlight !== 1) return
    crash.prepare = prepare
    crash.survivorStats = await survivor.stats()
    crash.killed = victim.crash()
    await crash.killed
  }
  const { connection } = await connectSender(c)
  const stream = connection.createStream()
  crash.payment = await stream.sendTotal(AMOUNT).then(() => 'completed', (err) => err)
  crash.stream = stream
  return crash
}

describeWithNginx('two ilp-connector processes behind nginx', () => {
  let c

  afterEach(async () => {
    const current = c
    c = undefined
    if (!current) return
    const survivors = current.members.filter((m) => !m.crashed)
    await stopCluster(current)
    // Each connector that was not killed shut down gracefully (our plugin's disconnect included).
    for (const member of survivors) {
      expect({ member: member.name, exit: await member.exited }).toEqual({ member: member.name, exit: { code: 0, signal: null } })
    }
  }, 120000) // every cleanup step is bounded (15 s); the connectors get 10 s to stop

  test('the GET health check answers through nginx', async () => {
    c = await startCluster()
    for (const location of ['/sender/', '/receiver/', '/sender/health']) {
      const res = await request(c.lb.port, { method: 'GET', path: location, timeoutMs: 5000 })
      expect({ location, status: res.status, body: res.body.toString(), type: res.headers['content-type'] })
        .toEqual({ location, status: 200, body: 'OK', type: 'text/plain; charset=utf-8' })
    }
    // Round robin: consecutive checks were answered by both connectors.
    const upstreams = new Set(c.lb.accessLog().split('\n')
      .filter((line) => line.startsWith('GET /sender/ 200'))
      .map((line) => line.match(/upstream=\[([^\]]*)\]/)[1]))
    expect([...upstreams].sort()).toEqual(c.members.map((m) => `127.0.0.1:${m.ports.sender}`).sort())
  })

  test('ILDCP gives the same address through either connector', async () => {
    c = await startCluster()
    const ILDCP = require('ilp-protocol-ildcp')
    const answers = []
    for (let i = 0; i < 4; i++) answers.push(await ILDCP.fetch(c.sender.sendData.bind(c.sender)))
    for (const answer of answers) {
      expect(answer).toEqual({ clientAddress: `${CLUSTER_ADDRESS}.sender`, ...ASSET })
    }
    const stats = await Promise.all(c.members.map((m) => m.stats()))
    expect(stats.map((s) => s.sender.incomingIldcp)).toEqual([2, 2])
    // The receiver's createServer() made one ILDCP request, on the receiver account.
    expect(stats[0].receiver.incomingIldcp + stats[1].receiver.incomingIldcp).toBe(1)
  })

  test('a STREAM payment crosses the cluster and both connectors carry it', async () => {
    c = await startCluster()
    const { connection, destinationAccount } = await connectSender(c)
    expect(connection.sourceAccount).toBe(`${CLUSTER_ADDRESS}.sender`)
    expect(destinationAccount.startsWith(`${CLUSTER_ADDRESS}.receiver.`)).toBe(true)
    const stream = connection.createStream()
    await stream.sendTotal(AMOUNT)
    expect(stream.totalSent).toBe(String(AMOUNT))
    expect(totalReceived(c)).toBe(BigInt(AMOUNT))

    const [a, b] = await Promise.all(c.members.map((m) => m.stats()))
    const forwarded = a.receiver.outgoing + b.receiver.outgoing
    // Every Prepare the receiver saw was forwarded by exactly one of the connectors.
    expect(forwarded).toBe(c.receiverPrepares.length)
    expect(forwarded).toBeGreaterThanOrEqual(AMOUNT / MAX_PACKET_AMOUNT)
    // Round robin: each connector carried a fair share (not just "some").
    expect({ A: a.receiver.outgoing >= forwarded / 3, B: b.receiver.outgoing >= forwarded / 3 }).toEqual({ A: true, B: true })
    // What came in on the sender account is what went out to the receiver (+ F08/rate probes
    // the connectors rejected themselves), split over both processes.
    expect(a.sender.incoming).toBeGreaterThanOrEqual(a.receiver.outgoing)
    expect(b.sender.incoming).toBeGreaterThanOrEqual(b.receiver.outgoing)
    // No request needed a second attempt.
    expect(c.lb.accessLog()).not.toMatch(/upstream=\[[^\]]*,/)
  })

  test('SIGKILL of one connector while it holds a packet: the payment still completes', async () => {
    c = await startCluster()
    const [victim, survivor] = c.members
    const crash = await payAndCrashA(c)

    expect(crash.killed).not.toBeNull()
    await expect(crash.killed).resolves.toEqual({ code: null, signal: 'SIGKILL' })
    // The payment completed: the sender sent exactly AMOUNT...
    expect(crash.payment).toBe('completed')
    expect(crash.stream.totalSent).toBe(String(AMOUNT))
    // ...and nginx re-sent the Prepare A was holding to B: the receiver saw that very Prepare
    // (same condition) twice and, STREAM having no duplicate detection, credited it twice.
    const conditions = c.receiverPrepares.map((p) => p.executionCondition.toString('hex'))
    const duplicates = conditions.filter((cond, i) => conditions.indexOf(cond) !== i)
    expect(duplicates).toEqual([crash.prepare.executionCondition.toString('hex')])
    expect(totalReceived(c)).toBe(BigInt(AMOUNT) + BigInt(crash.prepare.amount))

    // nginx's log shows the retry: A failed (502), B answered (200).
    const aAddr = `127.0.0.1:${victim.ports.sender}`
    const bAddr = `127.0.0.1:${survivor.ports.sender}`
    const retried = c.lb.accessLog().split('\n').filter((line) => line.includes(`upstream=[${aAddr}, ${bAddr}]`))
    expect(retried).toHaveLength(1)
    expect(retried[0]).toMatch(/^POST \/sender\/ 200 upstream=\[[^\]]+\] upstream_status=\[502, 200\]$/)
    expect(c.lb.errorLog()).toMatch(/upstream prematurely closed connection|Connection reset by peer/)

    // After the kill, B carried the rest.
    const after = await survivor.stats()
    expect(after.receiver.outgoing).toBeGreaterThan(crash.survivorStats.receiver.outgoing + 10)

    // The health check still answers with A down (A is skipped, or retried on B).
    for (let i = 0; i < 3; i++) {
      const res = await request(c.lb.port, { method: 'GET', path: '/sender/', timeoutMs: 5000 })
      expect({ status: res.status, body: res.body.toString() }).toEqual({ status: 200, body: 'OK' })
    }
  })

  test('why the config says non_idempotent: without it the same crash ends the payment', async () => {
    const WITH = 'proxy_next_upstream error timeout http_502 http_503 non_idempotent;'
    c = await startCluster({
      editConf: (text) => {
        expect(text).toContain(WITH)
        return text.replace(WITH, 'proxy_next_upstream error timeout http_502 http_503;')
      }
    })
    const [victim] = c.members
    const crash = await payAndCrashA(c)
    await expect(crash.killed).resolves.toEqual({ code: null, signal: 'SIGKILL' })
    // nginx does not re-send the POST: the sender gets 502, its plugin rejects sendData with
    // T00 'failed to fetch. code=502', and ilp-protocol-stream ends the connection on a
    // sendData error (it retries T-Rejects, not thrown errors).
    expect(crash.payment).toBeInstanceOf(Error)
    expect(crash.payment.message).toMatch(/^Stream was closed before the desired amount was sent \(target: 200000, totalSent: \d+\)$/)
    const aAddr = `127.0.0.1:${victim.ports.sender}`
    expect(c.lb.accessLog().split('\n')).toContain(`POST /sender/ 502 upstream=[${aAddr}] upstream_status=[502]`)
    // The receiver saw every Prepare once.
    const conditions = c.receiverPrepares.map((p) => p.executionCondition.toString('hex'))
    expect(new Set(conditions).size).toBe(conditions.length)
  })
})
