'use strict'
// An operator's install on a platform with a prebuilt binary: the root package as a release packs
// it (optionalDependencies on the platform packages) plus the platform package of this machine
// (npm/<platform>/ around the addon this checkout already built; `npm run package` puts a zig
// build there instead), then in a fresh project `npm install <root> <platform> ilp-connector@23.0.2`
// (the connector from the registry) with cargo and rustc NOT on PATH: nothing may be compiled. The connector runs as its own
// process from its stock entry point (node_modules/.bin/ilp-connector), configured the way
// ilp-connector 23 reads configuration: CONNECTOR_* environment variables (dist/services/
// config.js loadFromEnv; there is no config-file option). The variables live in a file,
// connector.env, loaded with `node --env-file` (the same KEY=value file works as a systemd
// EnvironmentFile= or `docker run --env-file`). Its accounts name 'ilp-plugin-http-rs' as plugin,
// so the connector require()s the installed copy. Two standalone plugins from that same copy then
// make packets round trip through it: ILDCP, a Fulfill from the other side, an F02 from the
// connector. Finally SIGINT: ilp-connector's graceful shutdown (our disconnect included) exits 0.
//
// Nothing from this repository's node_modules is used in the consumer project. The source
// fallback (no prebuilt) is pack.test.js.
const { execFileSync, spawn } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')
const { freePort } = require('./support')
const { PACKAGE, SHIPPED, consumerEnv, packRoot, packPlatform, makeProject } = require('./support/packages')
const { platformTuple, addonFileName } = require('../scripts/platform')

const root = path.join(__dirname, '..')
const CONNECTOR_VERSION = '23.0.2'
const TUPLE = platformTuple()
/** The addon this checkout built (`npm install` / `node scripts/build.js`). */
const BUILT_ADDON = path.join(root, addonFileName(TUPLE))
// Only a platform with a prebuilt package can take this path.
const testPrebuilt = SHIPPED.includes(TUPLE) ? test : test.skip

/** Resolves once `regex` matches the text collected by `source` (or rejects on exit/timeout). */
function waitForOutput (source, regex, child, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`timed out waiting for ${regex}:\n${source.text}`)), timeoutMs)
    const check = () => { if (regex.test(source.text)) done() }
    const onExit = (code, signal) => done(new Error(`exited (${code}, ${signal}) before ${regex}:\n${source.text}`))
    const done = (err) => {
      clearTimeout(timer)
      source.listeners.delete(check)
      child.off('exit', onExit)
      if (err) reject(err)
      else resolve()
    }
    source.listeners.add(check)
    child.on('exit', onExit)
    check()
  })
}

/** The round trip, run inside the consumer project with ITS node_modules only. */
const ROUND_TRIP_SCRIPT = `'use strict'
const crypto = require('crypto')
const PluginHttp = require('ilp-plugin-http-rs')
const IlpPacket = require('ilp-packet')
const ILDCP = require('ilp-protocol-ildcp')

const cfg = JSON.parse(process.env.ROUND_TRIP)
;(async () => {
  const out = { pluginPath: require.resolve('ilp-plugin-http-rs') }
  const alice = new PluginHttp({
    incoming: { port: cfg.alicePort, host: '127.0.0.1', staticToken: cfg.aliceDown },
    outgoing: { url: 'http://127.0.0.1:' + cfg.connectorAlicePort + '/', staticToken: cfg.aliceUp }
  })
  const bob = new PluginHttp({
    incoming: { port: cfg.bobPort, host: '127.0.0.1', jwtSecret: cfg.bobDown },
    outgoing: { url: 'http://127.0.0.1:' + cfg.connectorBobPort + '/', jwtSecret: cfg.bobUp }
  })
  await alice.connect()
  await bob.connect()
  try {
    out.aliceIldcp = await ILDCP.fetch(alice.sendData.bind(alice))
    out.bobIldcp = await ILDCP.fetch(bob.sendData.bind(bob))

    const fulfillment = crypto.randomBytes(32)
    const condition = crypto.createHash('sha256').update(fulfillment).digest()
    const fulfill = IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.from('paid, says bob') })
    const seenByBob = []
    bob.registerDataHandler(async (data) => {
      const prepare = IlpPacket.deserializeIlpPrepare(data)
      seenByBob.push({ destination: prepare.destination, amount: prepare.amount, data: prepare.data.toString() })
      return fulfill
    })
    const reply = await alice.sendData(IlpPacket.serializeIlpPrepare({
      amount: '1234',
      executionCondition: condition,
      expiresAt: new Date(Date.now() + 10000),
      destination: out.bobIldcp.clientAddress + '.invoice-1',
      data: Buffer.from('hello bob')
    }))
    out.fulfillIdentical = reply.equals(fulfill)
    out.seenByBob = seenByBob

    const rejectBytes = await alice.sendData(IlpPacket.serializeIlpPrepare({
      amount: '1',
      executionCondition: condition,
      expiresAt: new Date(Date.now() + 10000),
      destination: 'test.nowhere.x',
      data: Buffer.alloc(0)
    }))
    const reject = IlpPacket.deserializeIlpReject(rejectBytes)
    out.reject = { type: rejectBytes[0], code: reject.code, triggeredBy: reject.triggeredBy }
  } finally {
    await alice.disconnect()
    await bob.disconnect()
  }
  console.log(JSON.stringify(out))
})().catch((err) => { console.error(err); process.exit(1) })
`

testPrebuilt(`prebuilt ${TUPLE} package + ilp-connector@${CONNECTOR_VERSION} in a fresh project, cargo not on PATH: the connector loads the plugin by name from a config file and carries packets`, async () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ilp-plugin-http-rs-operator-'))
  let connector
  try {
    // CONNECTOR_* would override the env file; NODE_PATH could reach this repository.
    const env = consumerEnv({ withoutCargo: true })
    const rootTarball = packRoot(work, { optional: true })
    const platformTarball = packPlatform(work, TUPLE, BUILT_ADDON)
    const project = makeProject(path.join(work, 'connector'), 'my-connector')
    const started = Date.now()
    execFileSync('npm', ['install', '--no-audit', '--no-fund', rootTarball, platformTarball, `ilp-connector@${CONNECTOR_VERSION}`], {
      cwd: project, env, stdio: 'pipe'
    })
    console.log(`npm install (prebuilt ${TUPLE} + ilp-connector) took ${((Date.now() - started) / 1000).toFixed(1)} s`)

    // All came from the install, as real folders (not links into this repository); no addon
    // was compiled into the root package: the binary is the platform package's.
    const installed = path.join(project, 'node_modules', PACKAGE)
    expect(fs.lstatSync(installed).isDirectory()).toBe(true)
    expect(fs.readdirSync(installed).filter((name) => name.endsWith('.node'))).toEqual([])
    expect(fs.existsSync(path.join(project, 'node_modules', `${PACKAGE}-${TUPLE}`, addonFileName(TUPLE)))).toBe(true)
    expect(JSON.parse(fs.readFileSync(path.join(project, 'node_modules', 'ilp-connector', 'package.json'))).version).toBe(CONNECTOR_VERSION)

    // The operator's configuration file.
    const [connectorAlicePort, connectorBobPort, alicePort, bobPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()])
    const secrets = {
      aliceUp: 'alice-to-connector-token', // static tokens, alice
      aliceDown: 'connector-to-alice-token',
      bobUp: 'bob-to-connector-jwt-secret', // JWT (HS256), bob
      bobDown: 'connector-to-bob-jwt-secret'
    }
    const accounts = {
      alice: {
        relation: 'child',
        assetCode: 'XRP',
        assetScale: 9,
        plugin: 'ilp-plugin-http-rs',
        options: {
          incoming: { port: connectorAlicePort, host: '127.0.0.1', staticToken: secrets.aliceUp },
          outgoing: { url: `http://127.0.0.1:${alicePort}/`, staticToken: secrets.aliceDown }
        }
      },
      bob: {
        relation: 'child',
        assetCode: 'XRP',
        assetScale: 9,
        plugin: 'ilp-plugin-http-rs',
        options: {
          incoming: { port: connectorBobPort, host: '127.0.0.1', jwtSecret: secrets.bobUp },
          outgoing: { url: `http://127.0.0.1:${bobPort}/`, jwtSecret: secrets.bobDown }
        }
      }
    }
    const envFile = path.join(project, 'connector.env')
    fs.writeFileSync(envFile, [
      '# ilp-connector configuration. Start: node --env-file=connector.env node_modules/.bin/ilp-connector',
      'CONNECTOR_ENV=test',
      'CONNECTOR_ILP_ADDRESS=test.operator',
      'CONNECTOR_BACKEND=one-to-one',
      'CONNECTOR_SPREAD=0',
      'CONNECTOR_STORE=memory',
      'CONNECTOR_ADMIN_API=false',
      `CONNECTOR_ACCOUNTS='${JSON.stringify(accounts)}'`,
      ''
    ].join('\n'))

    const log = { text: '', listeners: new Set() }
    connector = spawn(process.execPath, ['--env-file=connector.env', path.join('node_modules', '.bin', 'ilp-connector')], {
      cwd: project, env, stdio: ['ignore', 'pipe', 'pipe']
    })
    const exited = new Promise((resolve) => connector.on('exit', (code, signal) => resolve({ code, signal })))
    for (const stream of [connector.stdout, connector.stderr]) {
      stream.on('data', (chunk) => {
        log.text += chunk
        for (const listener of log.listeners) listener()
      })
    }
    await waitForOutput(log, /connector ready \(republic attitude\)\. address=test\.operator version=23\.0\.2/, connector, 60000)
    // The connector read the file: no validation complaint, no unknown variable.
    expect(log.text).not.toMatch(/config validation error|unable to parse config|unrecognized environment variable/)

    fs.writeFileSync(path.join(project, 'roundtrip.js'), ROUND_TRIP_SCRIPT)
    const output = execFileSync(process.execPath, ['roundtrip.js'], {
      cwd: project,
      env: { ...env, ROUND_TRIP: JSON.stringify({ ...secrets, connectorAlicePort, connectorBobPort, alicePort, bobPort }) },
      timeout: 60000
    }).toString()
    const result = JSON.parse(output.trim().split('\n').pop())
    expect(result).toEqual({
      pluginPath: path.join(fs.realpathSync(installed), 'index.js'),
      aliceIldcp: { clientAddress: 'test.operator.alice', assetCode: 'XRP', assetScale: 9 },
      bobIldcp: { clientAddress: 'test.operator.bob', assetCode: 'XRP', assetScale: 9 },
      fulfillIdentical: true,
      seenByBob: [{ destination: 'test.operator.bob.invoice-1', amount: '1234', data: 'hello bob' }],
      reject: { type: 14, code: 'F02', triggeredBy: 'test.operator' }
    })
    // No secret in the connector's log (ours logs into it through api.log).
    for (const [name, value] of Object.entries(secrets)) {
      expect({ name, leaked: log.text.includes(value) }).toEqual({ name, leaked: false })
    }

    // Ctrl-C: ilp-connector's own SIGINT handler shuts down (plugins disconnect) and exits 0.
    connector.kill('SIGINT')
    const exit = await exited
    expect({ exit, log: exit.code === 0 ? '' : log.text }).toEqual({ exit: { code: 0, signal: null }, log: '' })
    expect(log.text).not.toMatch(/error while shutting down/)
  } finally {
    if (connector && connector.exitCode === null && connector.signalCode === null) connector.kill('SIGKILL')
    fs.rmSync(work, { recursive: true, force: true })
  }
}, 15 * 60 * 1000)
