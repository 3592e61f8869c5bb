'use strict'
// End-to-end, multilateral: a real ilp-connector 23.0.2 loads the plugin BY PACKAGE NAME for a
// child account `kids` in multilateral mode (`multi: true, multiDelimiter: '^'`, outgoing
// `url: 'http://localhost:^'`), so each child's address segment is its port. Two standalone
// bilateral plugins (alice and carol) are children of that one account: each is named
// String(its port), learns `test.connector.kids.<port>` by ILDCP through the kids plugin (which
// itself learns `test.connector.kids` from the connector), and gets Prepares at
// http://localhost:<port>. A second, ordinary child account `bob` (bilateral) is the other
// STREAM end.
//
// Same approach as connector.test.js (not modified; the bits needed are copied here): the name
// 'ilp-plugin-http-rs' resolves through node_modules/ilp-plugin-http-rs -> .. (jest
// globalSetup __test__/setup/link-self.js).
//
// 'localhost': here it resolves to 127.0.0.1 only, so the children bind 127.0.0.1. Where it
// resolves to ::1 first, the children bind '::' (dual stack) instead, so that the connector's
// plugin reaches them whichever address it tries (1.6.1 always binds '::' anyway).
//
// Variants: ours in the connector and standalone, 1.6.1 in both (proves the harness and that
// the scenario is one 1.6.1 supports), and the two mixes.
const crypto = require('crypto')
const dns = require('dns')
const path = require('path')
const IlpPacket = require('ilp-packet')
const ILDCP = require('ilp-protocol-ildcp')
const { createConnection, createServer } = require('ilp-protocol-stream')
const {
  OURS, CONNECTOR_ADDRESS, ASSET, VARIANTS, childAccount, connectorConfig, startConnector, useNetwork,
  classFor, secret, recordingLogger, parseResponse, captureConnectorLog
} = require('./support/connector')
const { freePort, makePrepare, makeFulfill, sleep } = require('./support')

const KIDS = `${CONNECTOR_ADDRESS}.kids`
const AMOUNT = 1000000
// Forces STREAM to split each payment into >= 10 packets and to learn the limit from F08s.
const MAX_PACKET_AMOUNT = '100000'

const connectorLog = captureConnectorLog()
const sha256 = (b) => crypto.createHash('sha256').update(b).digest()

// When a plugin's sendData rejects, the connector's expire middleware keeps its timer until
// the forwarded Prepare's expiry (it is only cleared on success). Wait those out at the end,
// so the process exits on its own.
let lastShortExpiry = 0
afterAll(async () => {
  await sleep(Math.max(0, lastShortExpiry - Date.now() + 50))
})

/** Where the children listen so that http://localhost:<port> reaches them. */
let childHost
beforeAll(async () => {
  const { address } = await dns.promises.lookup('localhost')
  childHost = address === '127.0.0.1' ? '127.0.0.1' : '::'
})

/**
 * Starts a connector with the multilateral child account `kids` and the ordinary child account
 * `bob`, plus standalone children alice and carol (under kids) and bob.
 */
async function startNetwork (connectorPlugin, StandalonePlugin) {
  const net = { cleanups: [], standaloneLog: [] }
  const [connKidsPort, connBobPort, alicePort, carolPort, bobPort] =
    await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()])
  net.ports = { connKidsPort, connBobPort, alicePort, carolPort, bobPort }
  net.secrets = {
    kidsUp: secret('kids-up-token'), // children -> connector
    kidsDown: secret('kids-down-token'), // connector -> children
    bobUp: secret('bob-up-jwt-secret'),
    bobDown: secret('bob-down-jwt-secret')
  }
  const s = net.secrets
  const account = (options) => childAccount(connectorPlugin, options, { maxPacketAmount: MAX_PACKET_AMOUNT })
  net.config = connectorConfig(CONNECTOR_ADDRESS, {
    kids: account({
      multi: true,
      multiDelimiter: '^',
      incoming: { port: connKidsPort, host: '127.0.0.1', staticToken: s.kidsUp },
      outgoing: { url: 'http://localhost:^', staticToken: s.kidsDown }
    }),
    bob: account({
      incoming: { port: connBobPort, host: '127.0.0.1', jwtSecret: s.bobUp },
      outgoing: { url: `http://127.0.0.1:${bobPort}/ilp`, jwtSecret: s.bobDown }
    })
  })
  await startConnector(net)

  const standaloneApi = { log: recordingLogger(net.standaloneLog) }
  const child = (port) => new StandalonePlugin({
    incoming: { port, host: childHost, staticToken: s.kidsDown },
    outgoing: { url: `http://127.0.0.1:${connKidsPort}/`, staticToken: s.kidsUp, name: String(port) }
  }, standaloneApi)
  net.alice = child(alicePort)
  net.carol = child(carolPort)
  net.bob = new StandalonePlugin({
    incoming: { port: bobPort, host: '127.0.0.1', jwtSecret: s.bobDown },
    outgoing: { url: `http://127.0.0.1:${connBobPort}/`, jwtSecret: s.bobUp }
  }, standaloneApi)
  for (const plugin of [net.alice, net.carol, net.bob]) {
    net.cleanups.push(async () => {
      await plugin.disconnect()
      // 1.6.1's disconnect does not wait for its server or close keep-alive sockets.
      if (plugin._httpServer && typeof plugin._httpServer.closeAllConnections === 'function') {
        plugin._httpServer.closeAllConnections()
      }
    })
    await plugin.connect()
  }
  return net
}

describe.each(VARIANTS)('ilp-connector 23.0.2, multilateral child account, %s', (title, connectorPlugin, standalonePlugin) => {
  let net
  useNetwork(() => startNetwork(connectorPlugin, classFor(standalonePlugin)), connectorLog, (current) => { net = current })

  test('the connector loads the plugin by its package name, multilateral account included', () => {
    const Expected = classFor(connectorPlugin)
    for (const id of ['kids', 'bob']) {
      const plugin = net.app.getPlugin(id)
      expect(plugin).toBeInstanceOf(Expected)
      expect(plugin.constructor.version).toBe(2)
    }
    if (connectorPlugin === OURS) {
      const fromConnector = require.resolve(OURS, { paths: [path.dirname(require.resolve('ilp-connector'))] })
      expect(fromConnector).toBe(require.resolve('..'))
    }
  })

  test('children of the multilateral account learn test.connector.kids.<port> by ILDCP; bob learns test.connector.bob', async () => {
    await expect(ILDCP.fetch(net.alice.sendData.bind(net.alice))).resolves.toEqual({
      clientAddress: `${KIDS}.${net.ports.alicePort}`, ...ASSET
    })
    await expect(ILDCP.fetch(net.carol.sendData.bind(net.carol))).resolves.toEqual({
      clientAddress: `${KIDS}.${net.ports.carolPort}`, ...ASSET
    })
    await expect(ILDCP.fetch(net.bob.sendData.bind(net.bob))).resolves.toEqual({
      clientAddress: `${CONNECTOR_ADDRESS}.bob`, ...ASSET
    })
  })

  test('STREAM sends 1,000,000 units multi child alice -> bob and 1,000,000 bob -> alice', async () => {
    const bobServer = await createServer({ plugin: net.bob })
    net.cleanups.push(() => bobServer.close())
    const bobSide = { received: 0n, moneyEvents: 0 }
    const bobStreamReady = new Promise((resolve) => {
      bobServer.on('connection', (connection) => {
        connection.on('stream', (stream) => {
          stream.setReceiveMax(Infinity)
          stream.on('money', (amount) => {
            bobSide.received += BigInt(amount)
            bobSide.moneyEvents++
          })
          resolve(stream)
        })
      })
    })
    const { destinationAccount, sharedSecret } = bobServer.generateAddressAndSecret()
    expect(destinationAccount.startsWith(`${CONNECTOR_ADDRESS}.bob.`)).toBe(true)

    const aliceConnection = await createConnection({ plugin: net.alice, destinationAccount, sharedSecret })
    net.cleanups.push(() => aliceConnection.destroy())
    net.cleanups.push(() => aliceConnection.end())
    expect(aliceConnection.sourceAccount).toBe(`${KIDS}.${net.ports.alicePort}`)

    const aliceStream = aliceConnection.createStream()
    const aliceSide = { received: 0n, moneyEvents: 0 }
    aliceStream.setReceiveMax(Infinity)
    aliceStream.on('money', (amount) => {
      aliceSide.received += BigInt(amount)
      aliceSide.moneyEvents++
    })

    // alice -> connector (kids, multilateral) -> bob
    await aliceStream.sendTotal(AMOUNT)
    const bobStream = await bobStreamReady
    expect(aliceStream.totalSent).toBe(String(AMOUNT))
    expect(bobStream.totalReceived).toBe(String(AMOUNT))
    expect(bobSide.received).toBe(BigInt(AMOUNT))
    expect(bobSide.moneyEvents).toBeGreaterThanOrEqual(10)

    // bob -> connector -> kids plugin -> http://localhost:<alice's port> -> alice
    await bobStream.sendTotal(AMOUNT)
    expect(bobStream.totalSent).toBe(String(AMOUNT))
    expect(aliceStream.totalReceived).toBe(String(AMOUNT))
    expect(aliceSide.received).toBe(BigInt(AMOUNT))
    expect(aliceSide.moneyEvents).toBeGreaterThanOrEqual(10)

    // Nothing more moved either way.
    expect(bobStream.totalReceived).toBe(String(AMOUNT))
    expect(aliceStream.totalSent).toBe(String(AMOUNT))
    expect(aliceConnection.totalDelivered).toBe(String(AMOUNT))
  })

  test('Prepares are routed to the right child by its port segment (bob -> carol, alice -> carol, bob -> alice)', async () => {
    const seen = { alice: [], carol: [] }
    for (const name of ['alice', 'carol']) {
      net[name].registerDataHandler(async (data) => {
        const prepare = IlpPacket.deserializeIlpPrepare(data)
        seen[name].push(prepare)
        return makeFulfill(Buffer.from(`${name} got ${prepare.destination}`))
      })
    }
    const { alicePort, carolPort } = net.ports
    const fulfillment = Buffer.alloc(32)
    const send = (from, destination, data) => net[from].sendData(IlpPacket.serializeIlpPrepare({
      amount: '100',
      executionCondition: sha256(fulfillment),
      expiresAt: new Date(Date.now() + 10000),
      destination,
      data: Buffer.from(data)
    }))

    const r1 = parseResponse(await send('bob', `${KIDS}.${carolPort}.x`, 'bob to carol'))
    expect(r1).toMatchObject({ type: 'fulfill', data: Buffer.from(`carol got ${KIDS}.${carolPort}.x`) })
    // Child to child through the same multilateral account.
    const r2 = parseResponse(await send('alice', `${KIDS}.${carolPort}.y.z`, 'alice to carol'))
    expect(r2).toMatchObject({ type: 'fulfill', data: Buffer.from(`carol got ${KIDS}.${carolPort}.y.z`) })
    const r3 = parseResponse(await send('bob', `${KIDS}.${alicePort}`, 'bob to alice'))
    expect(r3).toMatchObject({ type: 'fulfill', data: Buffer.from(`alice got ${KIDS}.${alicePort}`) })

    expect(seen.carol.map((p) => [p.destination, p.data.toString()])).toEqual([
      [`${KIDS}.${carolPort}.x`, 'bob to carol'],
      [`${KIDS}.${carolPort}.y.z`, 'alice to carol']
    ])
    expect(seen.alice.map((p) => [p.destination, p.data.toString()])).toEqual([
      [`${KIDS}.${alicePort}`, 'bob to alice']
    ])
  })

  test('a Prepare to a bad address segment is rejected F02 by the connector; no child sees it', async () => {
    const seen = []
    for (const name of ['alice', 'carol']) {
      net[name].registerDataHandler(async (data) => {
        seen.push(name)
        return makeFulfill()
      })
    }
    const expiresAt = Date.now() + 2500
    lastShortExpiry = Math.max(lastShortExpiry, expiresAt)
    const reply = await net.bob.sendData(makePrepare({
      destination: `${KIDS}.a~b.x`, amount: '10', expiresAt: new Date(expiresAt)
    }))
    const reject = parseResponse(reply)
    expect(reject).toMatchObject({ type: 'reject', code: 'F02', triggeredBy: CONNECTOR_ADDRESS })
    expect(reject.message).toContain('invalid address segment')
    expect(seen).toEqual([])
  })
})
