'use strict'
// The user's real path: `npm pack`, then `npm install <tarball>` in a fresh project. The addon
// must build there from source, load, carry a packet, and leave no build folder behind.
// Slow (a full release build), so it has its own generous timeout.
const { execFileSync } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')

const root = path.join(__dirname, '..')
const BUILD_DIR_PREFIX = 'ilp-plugin-http-rs-build-'

/** The environment without npm's per-run variables, so the nested npm behaves like a user's. */
function cleanEnv () {
  const env = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.toLowerCase().startsWith('npm_')) env[key] = value
  }
  return env
}

function leftoverBuildDirs () {
  return fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith(BUILD_DIR_PREFIX))
}

test('npm pack -> npm install in a fresh project builds, loads and carries a packet', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ilp-plugin-http-rs-consumer-'))
  const before = leftoverBuildDirs()
  try {
    const env = cleanEnv()
    const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: root, env })
      .toString().trim().split('\n').pop()
    const consumer = path.join(work, 'consumer')
    fs.mkdirSync(consumer)
    fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }))
    execFileSync('npm', ['install', '--no-audit', '--no-fund', path.join(work, tarball)], { cwd: consumer, env, stdio: 'pipe' })

    const installed = path.join(consumer, 'node_modules', 'ilp-plugin-http-rs')
    expect(fs.existsSync(path.join(installed, 'native', 'ilp-plugin-http-rs.node'))).toBe(true)
    expect(fs.existsSync(path.join(installed, 'target'))).toBe(false)
    expect(leftoverBuildDirs()).toEqual(before)

    // A packet round trip between two plugins from the installed copy, in the consumer project.
    const script = `
      const Plugin = require('ilp-plugin-http-rs')
      const IlpPacket = require(${JSON.stringify(require.resolve('ilp-packet'))})
      ;(async () => {
        if (Plugin.version !== 2 || Plugin.default !== Plugin) throw new Error('bad module shape')
        const server = new Plugin({ incoming: { port: 0, host: '127.0.0.1', staticToken: 'a' }, outgoing: { url: 'http://127.0.0.1:1/', staticToken: 'b' } })
        await server.connect()
        const fulfill = IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.alloc(32), data: Buffer.from('paid') })
        server.registerDataHandler(async () => fulfill)
        const client = new Plugin({ incoming: { port: 0, host: '127.0.0.1', staticToken: 'b' }, outgoing: { url: 'http://127.0.0.1:' + server.port + '/', staticToken: 'a' } })
        await client.connect()
        const prepare = IlpPacket.serializeIlpPrepare({ amount: '1', executionCondition: Buffer.alloc(32), expiresAt: new Date(Date.now() + 10000), destination: 'test.x', data: Buffer.alloc(0) })
        const reply = await client.sendData(prepare)
        if (!reply.equals(fulfill)) throw new Error('wrong reply')
        await client.disconnect()
        await server.disconnect()
        console.log('round trip ok')
      })().catch((e) => { console.error(e); process.exit(1) })
    `
    const out = execFileSync(process.execPath, ['-e', script], { cwd: consumer, env, timeout: 30000 }).toString()
    expect(out).toContain('round trip ok')
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
}, 15 * 60 * 1000)
