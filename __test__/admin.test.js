'use strict'
// getAdminInfo() and getMetrics(): live figures after known traffic, secrets redacted, and
// logging through the `debug` package when no logger is given.
const { spawnSync } = require('child_process')
const path = require('path')
const { PluginHttp, makePrepare, makeFulfill, makeReject, freePort, request, UNUSED_OUTGOING_URL } = require('./support')

const SECRETS = ['in-static-S3CRET', 'in-jwt-S3CRET', 'out-static-S3CRET', 'out-jwt-S3CRET']

let plugins = []
afterEach(async () => {
  await Promise.all(plugins.map((p) => p.disconnect()))
  plugins = []
})

async function pair () {
  const server = new PluginHttp({
    incoming: { port: 0, host: '127.0.0.1', staticToken: SECRETS[0], jwtSecret: SECRETS[1] },
    outgoing: { url: UNUSED_OUTGOING_URL, staticToken: SECRETS[2] }
  })
  plugins.push(server)
  await server.connect()
  const client = new PluginHttp({
    incoming: { port: 0, host: '127.0.0.1', staticToken: SECRETS[0] },
    outgoing: { url: `http://127.0.0.1:${server.port}/ilp`, jwtSecret: SECRETS[1], jwtExpiry: 60000 }
  })
  plugins.push(client)
  await client.connect()
  return { server, client }
}

test('counts packets, fulfills, rejects, errors by kind, bytes and latency in both directions', async () => {
  const { server, client } = await pair()
  let n = 0
  server.registerDataHandler(async () => (n++ % 2 === 0 ? makeFulfill(Buffer.from('ok')) : makeReject()))
  const prepare = makePrepare({ data: Buffer.alloc(100) })
  for (let i = 0; i < 10; i++) await client.sendData(prepare)
  server.registerDataHandler(() => { throw new Error('boom') })
  await expect(client.sendData(prepare)).rejects.toMatchObject({ ilpErrorCode: 'T00' })
  expect((await request(server.port, { headers: { authorization: 'Bearer wrong' }, body: makePrepare() })).status).toBe(401)

  const sent = client.getAdminInfo()
  expect(sent.connected).toBe(true)
  expect(sent.stats.outgoing).toMatchObject({ packets: 11, fulfills: 5, rejects: 5, inFlight: 0 })
  expect(sent.stats.outgoing.errors.T00).toBe(1)
  expect(sent.stats.outgoing.bytesSent).toBe(11 * prepare.length)
  expect(sent.stats.outgoing.latency.count).toBe(11)
  expect(sent.stats.outgoing.latency.p50Ms).toBeGreaterThan(0)
  expect(sent.stats.outgoing.latency.p99Ms).toBeGreaterThanOrEqual(sent.stats.outgoing.latency.p50Ms)
  expect(sent.stats.uptimeSeconds).toBeGreaterThan(0)

  const received = server.getAdminInfo()
  expect(received.port).toBe(server.port)
  expect(received.stats.incoming).toMatchObject({ packets: 11, fulfills: 5, rejects: 5, inFlight: 0 })
  expect(received.stats.incoming.errors['500']).toBe(1)
  expect(received.stats.incoming.errors['401']).toBe(1)
  expect(received.stats.incoming.bytesReceived).toBe(11 * prepare.length)
  expect(received.stats.openConnections).toBeGreaterThanOrEqual(1)

  const metrics = server.getMetrics()
  expect(metrics).toContain('# TYPE ilp_plugin_http_packets_total counter\n')
  expect(metrics).toContain('ilp_plugin_http_packets_total{direction="incoming"} 11\n')
  expect(metrics).toContain('ilp_plugin_http_errors_total{direction="incoming",code="401"} 1\n')
  expect(client.getMetrics('connector_alice')).toContain('connector_alice_errors_total{direction="outgoing",code="T00"} 1\n')
  expect(() => client.getMetrics('bad name')).toThrow(/prefix/)
})

// The task per answered packet fixed in 05a3959 (each one slept until its Prepare expired) is what
// runtime.aliveTasks is for: under steady traffic it stays flat; before the fix it grew by one
// per packet (by 1,000 here: the Prepares expire after 60 s).
test('answered packets leave no task behind: runtime.aliveTasks and its gauge stay flat', async () => {
  const { server, client } = await pair()
  server.registerDataHandler(async () => makeFulfill(Buffer.from('ok')))
  const burst = () => Promise.all(Array.from({ length: 50 }, () => client.sendData(makePrepare({ expiresInMs: 60000 }))))
  await burst() // opens the connections the bursts below reuse
  const before = server.getAdminInfo().runtime.aliveTasks
  for (let i = 0; i < 20; i++) await burst()
  const after = server.getAdminInfo().runtime.aliveTasks
  expect(before).toBeGreaterThan(0)
  expect(after - before).toBeLessThan(100)
  expect(server.getMetrics()).toMatch(/^ilp_plugin_http_runtime_alive_tasks \d+$/m)
  expect(server.getMetrics()).toContain('# TYPE ilp_plugin_http_runtime_alive_tasks gauge\n')
})

test('the effective configuration is shown with every secret redacted', async () => {
  const { server, client } = await pair()
  for (const plugin of [server, client]) {
    const text = JSON.stringify(plugin.getAdminInfo()) + plugin.getMetrics()
    for (const secret of SECRETS) expect(text).not.toContain(secret)
  }
  const { config } = client.getAdminInfo()
  expect(config.incoming.staticToken).toBe('[redacted]')
  expect(config.outgoing).toMatchObject({ auth: 'jwt', credential: '[redacted]', jwtExpiry: 60000, url: `http://127.0.0.1:${server.port}/ilp` })
})

test('a disconnected plugin reports connected false and no port', async () => {
  const plugin = new PluginHttp({ incoming: { port: await freePort(), staticToken: 'a' }, outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'b' } })
  expect(plugin.getAdminInfo()).toMatchObject({ connected: false, port: null })
})

test('without a logger, log lines go to the debug package under ilp-plugin-http-rs:*', () => {
  const script = `
    const Plugin = require(${JSON.stringify(path.join(__dirname, '..'))})
    const p = new Plugin({ incoming: { port: 0, host: '127.0.0.1', staticToken: 'in-S3CRET' }, outgoing: { url: ${JSON.stringify(UNUSED_OUTGOING_URL)}, staticToken: 'out-S3CRET' } })
    p.connect().then(() => p.disconnect())
  `
  const env = { ...process.env, DEBUG: 'ilp-plugin-http*', DEBUG_COLORS: 'no' }
  const run = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8', timeout: 20000 })
  expect(run.status).toBe(0)
  const output = run.stdout + run.stderr
  expect(output).toMatch(/ilp-plugin-http-rs:info listening on port \d+/)
  expect(output).not.toContain('S3CRET')
})
