'use strict'
// End-to-end: a real ilp-connector 23.0.2 loads the plugin BY PACKAGE NAME, as an operator's
// config does (`plugin: 'ilp-plugin-http-rs'`), for child accounts alice (static tokens), bob
// (JWT) and carol (next hop down). Two standalone plugin instances peer with alice and bob over
// real HTTP on 127.0.0.1, learn their addresses by ILDCP from the connector, and move money
// with ilp-protocol-stream in both directions.
//
// The name resolves through node_modules/ilp-plugin-http-rs -> .. , created by the jest
// globalSetup __test__/setup/link-self.js.
//
// Variants: ours in the connector and standalone, 1.6.1 in both (proves the harness), and the
// two mixes (interop between a 1.6.1 node and an upgraded one).
const crypto = require('crypto')
const path = require('path')
const IlpPacket = require('ilp-packet')
const ILDCP = require('ilp-protocol-ildcp')
const { createConnection, createServer } = require('ilp-protocol-stream')
const {
  OURS, ORIGINAL, CONNECTOR_ADDRESS, ASSET, VARIANTS, childAccount, connectorConfig, startConnector, useNetwork,
  classFor, secret, recordingLogger, parseResponse, captureConnectorLog
} = require('./support/connector')
const { freePort, makePrepare, sleep } = require('./support')

const AMOUNT = 1000000
// Forces STREAM to split each payment into >= 10 packets and to learn the limit from F08s.
const MAX_PACKET_AMOUNT = '100000'

const connectorLog = captureConnectorLog()

// When a plugin's sendData rejects, the connector's expire middleware keeps its timer until
// the forwarded Prepare's expiry (it is only cleared on success). Wait those out at the end,
// so the process exits on its own.
let lastShortExpiry = 0
afterAll(async () => {
  await sleep(Math.max(0, lastShortExpiry - Date.now() + 50))
})

/**
 * Starts a connector with children alice (static tokens), bob (JWT both ways) and carol (its
 * outgoing URL points at a port nobody listens on), plus standalone alice and bob peers.
 */
async function startNetwork (connectorPlugin, StandalonePlugin) {
  const net = { cleanups: [], standaloneLog: [] }
  const [connAlicePort, connBobPort, connCarolPort, aliceStandalonePort, bobStandalonePort, deadPort] =
    await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort()])
  net.secrets = {
    aliceUp: secret('alice-up-token'), // standalone alice -> connector
    aliceDown: secret('alice-down-token'), // connector -> standalone alice
    bobUp: secret('bob-up-jwt-secret'),
    bobDown: secret('bob-down-jwt-secret'),
    carolIn: secret('carol-in-token'),
    carolOut: secret('carol-out-token')
  }
  const s = net.secrets
  const account = (options) => childAccount(connectorPlugin, options, { maxPacketAmount: MAX_PACKET_AMOUNT })
  net.config = connectorConfig(CONNECTOR_ADDRESS, {
    alice: account({
      incoming: { port: connAlicePort, host: '127.0.0.1', staticToken: s.aliceUp },
      outgoing: { url: `http://127.0.0.1:${aliceStandalonePort}/ilp`, staticToken: s.aliceDown }
    }),
    bob: account({
      incoming: { port: connBobPort, host: '127.0.0.1', jwtSecret: s.bobUp },
      outgoing: { url: `http://127.0.0.1:${bobStandalonePort}/ilp?peer=connector`, jwtSecret: s.bobDown }
    }),
    carol: account({
      incoming: { port: connCarolPort, host: '127.0.0.1', staticToken: s.carolIn },
      outgoing: { url: `http://127.0.0.1:${deadPort}/`, staticToken: s.carolOut }
    })
  })
  await startConnector(net)

  const standaloneApi = { log: recordingLogger(net.standaloneLog) }
  net.alice = new StandalonePlugin({
    incoming: { port: aliceStandalonePort, host: '127.0.0.1', staticToken: s.aliceDown },
    outgoing: { url: `http://127.0.0.1:${connAlicePort}/`, staticToken: s.aliceUp }
  }, standaloneApi)
  net.bob = new StandalonePlugin({
    incoming: { port: bobStandalonePort, host: '127.0.0.1', jwtSecret: s.bobDown },
    outgoing: { url: `http://127.0.0.1:${connBobPort}/`, jwtSecret: s.bobUp }
  }, standaloneApi)
  for (const plugin of [net.alice, net.bob]) {
    net.cleanups.push(() => plugin.disconnect())
    await plugin.connect()
  }
  return net
}

describe.each(VARIANTS)('ilp-connector 23.0.2 with %s', (title, connectorPlugin, standalonePlugin) => {
  let net
  useNetwork(() => startNetwork(connectorPlugin, classFor(standalonePlugin)), connectorLog, (current) => { net = current })

  test('the connector loads the plugin by its package name', () => {
    const Expected = classFor(connectorPlugin)
    for (const id of ['alice', 'bob', 'carol']) {
      const plugin = net.app.getPlugin(id)
      // ilp-compat-plugin passes version-2 plugins through untouched: the very instance.
      expect(plugin).toBeInstanceOf(Expected)
      expect(plugin.constructor.version).toBe(2)
    }
    if (connectorPlugin === OURS) {
      const fromConnector = require.resolve(OURS, { paths: [path.dirname(require.resolve('ilp-connector'))] })
      expect(fromConnector).toBe(require.resolve('..'))
    }
  })

  test('children learn their address and asset by ILDCP through the plugins', async () => {
    await expect(ILDCP.fetch(net.alice.sendData.bind(net.alice))).resolves.toEqual({
      clientAddress: `${CONNECTOR_ADDRESS}.alice`, ...ASSET
    })
    await expect(ILDCP.fetch(net.bob.sendData.bind(net.bob))).resolves.toEqual({
      clientAddress: `${CONNECTOR_ADDRESS}.bob`, ...ASSET
    })
  })

  test('STREAM sends 1,000,000 units alice -> bob and 1,000,000 bob -> alice', async () => {
    const bobServer = await createServer({ plugin: net.bob })
    net.cleanups.push(() => bobServer.close())
    const bobSide = { received: 0n, moneyEvents: 0, stream: undefined }
    const bobStreamReady = new Promise((resolve) => {
      bobServer.on('connection', (connection) => {
        connection.on('stream', (stream) => {
          stream.setReceiveMax(Infinity)
          stream.on('money', (amount) => {
            bobSide.received += BigInt(amount)
            bobSide.moneyEvents++
          })
          bobSide.stream = stream
          resolve(stream)
        })
      })
    })
    const { destinationAccount, sharedSecret } = bobServer.generateAddressAndSecret()
    expect(destinationAccount.startsWith(`${CONNECTOR_ADDRESS}.bob.`)).toBe(true)

    const aliceConnection = await createConnection({ plugin: net.alice, destinationAccount, sharedSecret })
    net.cleanups.push(() => aliceConnection.destroy())
    net.cleanups.push(() => aliceConnection.end())
    expect(aliceConnection.sourceAccount).toBe(`${CONNECTOR_ADDRESS}.alice`)

    const aliceStream = aliceConnection.createStream()
    const aliceSide = { received: 0n, moneyEvents: 0 }
    aliceStream.setReceiveMax(Infinity)
    aliceStream.on('money', (amount) => {
      aliceSide.received += BigInt(amount)
      aliceSide.moneyEvents++
    })

    // alice -> connector -> bob
    await aliceStream.sendTotal(AMOUNT)
    const bobStream = await bobStreamReady
    expect(aliceStream.totalSent).toBe(String(AMOUNT))
    expect(bobStream.totalReceived).toBe(String(AMOUNT))
    expect(bobSide.received).toBe(BigInt(AMOUNT))
    // maxPacketAmount 100000 on the connector: at least ten Fulfilled packets.
    expect(bobSide.moneyEvents).toBeGreaterThanOrEqual(10)

    // bob -> connector -> alice, on the same connection
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

  describe('Rejects through the connector', () => {
    // The connector forwards a Prepare with expiry min(source - minMessageWindow, now +
    // maxHoldTime) and refuses sources expiring within 2 * minMessageWindow (2 s), R02.
    const EXPIRY_MS = 2500
    function shortExpiry () {
      const expiresAt = Date.now() + EXPIRY_MS
      lastShortExpiry = Math.max(lastShortExpiry, expiresAt)
      return new Date(expiresAt)
    }

    test('a Prepare to an address with no route: F02 from the connector', async () => {
      const reply = await net.alice.sendData(makePrepare({ destination: 'test.elsewhere.x', amount: '10' }))
      expect(parseResponse(reply)).toMatchObject({
        type: 'reject', code: 'F02', triggeredBy: CONNECTOR_ADDRESS
      })
    })

    test('a Prepare over maxPacketAmount: F08 from the connector', async () => {
      const reply = await net.alice.sendData(makePrepare({ destination: `${CONNECTOR_ADDRESS}.bob.x`, amount: '100001' }))
      expect(parseResponse(reply)).toMatchObject({
        type: 'reject', code: 'F08', triggeredBy: CONNECTOR_ADDRESS
      })
    })

    test('a Fulfill from the next hop is passed back byte for byte', async () => {
      const fulfillment = crypto.randomBytes(32)
      const condition = crypto.createHash('sha256').update(fulfillment).digest()
      const fulfill = IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.from('hello from bob') })
      const seen = []
      net.bob.registerDataHandler(async (data) => {
        seen.push(IlpPacket.deserializeIlpPrepare(data))
        return fulfill
      })
      const prepare = IlpPacket.serializeIlpPrepare({
        amount: '12345',
        executionCondition: condition,
        expiresAt: new Date(Date.now() + 10000),
        destination: `${CONNECTOR_ADDRESS}.bob.x`,
        data: Buffer.from('hello from alice')
      })
      const reply = await net.alice.sendData(prepare)
      expect(reply.equals(fulfill)).toBe(true)
      expect(seen).toHaveLength(1)
      expect(seen[0]).toMatchObject({
        amount: '12345', destination: `${CONNECTOR_ADDRESS}.bob.x`, data: Buffer.from('hello from alice')
      })
    })

    test('the next hop answers 500: T00 with ours in the connector, F02 with 1.6.1', async () => {
      if (standalonePlugin === ORIGINAL) {
        // Koa (inside 1.6.1) prints the handler's error with console.error.
        jest.spyOn(console, 'error').mockImplementation(() => {})
      }
      let calls = 0
      net.bob.registerDataHandler(async () => {
        calls++
        throw new Error('bob is broken')
      })
      const reply = await net.alice.sendData(makePrepare({
        destination: `${CONNECTOR_ADDRESS}.bob.x`, amount: '10', expiresAt: shortExpiry()
      }))
      expect(calls).toBe(1)
      expect(parseResponse(reply)).toMatchObject({
        type: 'reject',
        code: connectorPlugin === OURS ? 'T00' : 'F02',
        triggeredBy: CONNECTOR_ADDRESS,
        message: 'failed to send packet: failed to fetch. code=500'
      })
    })

    test('the next hop is down: T01 with ours in the connector, F02 with 1.6.1', async () => {
      const reply = await net.alice.sendData(makePrepare({
        destination: `${CONNECTOR_ADDRESS}.carol.x`, amount: '10', expiresAt: shortExpiry()
      }))
      const reject = parseResponse(reply)
      expect(reject).toMatchObject({
        type: 'reject',
        code: connectorPlugin === OURS ? 'T01' : 'F02',
        triggeredBy: CONNECTOR_ADDRESS
      })
      expect(reject.message.startsWith('failed to send packet: ')).toBe(true)
      for (const value of Object.values(net.secrets)) {
        expect(reject.message.includes(value)).toBe(false)
      }
    })
  })
})
