'use strict'
// Differential interop with ilp-plugin-http 1.6.1. Every auth scenario runs for every
// (client, server) pair of implementations, so ours and 1.6.1 are each exercised as client and
// as server against each other (and against themselves, as the baseline):
//   ours  -> 1.6.1, 1.6.1 -> ours, ours -> ours, 1.6.1 -> 1.6.1.
// The JWT scenarios show that ours' JWTs verify in 1.6.1 and 1.6.1's JWTs verify in ours.
const crypto = require('crypto')
const IlpPacket = require('ilp-packet')
const {
  IMPL,
  MAX_DATA_LENGTH,
  MAX_PREPARE_LENGTH,
  UNUSED_OUTGOING_URL,
  makePrepare,
  makeFulfill,
  makeReject,
  largestPrepare,
  sha256,
  portOf,
  disconnectAll,
  rejectionOf
} = require('./support')

/** [client, server] */
const PAIRS = [
  ['ours', '1.6.1'],
  ['1.6.1', 'ours'],
  ['ours', 'ours'],
  ['1.6.1', '1.6.1']
]

const TOKEN = 'interop-static-token-8Jq'
const SECRET = 'interop-jwt-secret-P3v'

/**
 * Auth scenarios, named after what the sending side uses. The legacy ones send the bare token
 * (no `Bearer `); their server side uses the legacy incoming names too.
 */
const SCENARIOS = [
  {
    name: 'static bearer token',
    jwt: false,
    client: { staticToken: TOKEN },
    server: { staticToken: TOKEN },
    wrongClient: { staticToken: TOKEN + 'x' }
  },
  {
    name: 'JWT bearer',
    jwt: true,
    client: { jwtSecret: SECRET, jwtExpiry: 20000 },
    server: { jwtSecret: SECRET },
    wrongClient: { jwtSecret: SECRET + 'x' }
  },
  {
    name: 'legacy outgoing.secret (bare JWT)',
    jwt: true,
    client: { secret: SECRET },
    server: { secret: SECRET },
    wrongClient: { secret: SECRET + 'x' }
  },
  {
    name: 'legacy outgoing.secretToken (bare static token)',
    jwt: false,
    client: { secretToken: TOKEN },
    server: { secretToken: TOKEN },
    wrongClient: { secretToken: TOKEN + 'x' }
  }
]

/** Largest data length whose Prepare (default destination) is at most 32,767 bytes in all. */
const FITS_ORIGINAL_DATA_LENGTH = (() => {
  const overhead = makePrepare({ data: Buffer.alloc(MAX_DATA_LENGTH) }).length - MAX_DATA_LENGTH
  let n = 32767 - overhead
  while (makePrepare({ data: Buffer.alloc(n) }).length > 32767) n--
  return n
})()

/** What the server's handler answers to `prepare` in each mode. */
const expectedFulfill = (prepare) => makeFulfill(sha256(prepare))
const expectedReject = (prepare) => makeReject({
  code: 'F99',
  triggeredBy: 'test.server',
  message: 'rejected ' + sha256(prepare).toString('hex').slice(0, 16),
  data: sha256(prepare)
})

let plugins = []

afterEach(async () => {
  const ps = plugins
  plugins = []
  await disconnectAll(ps)
})

/**
 * Starts a server of implementation `serverName` and a client of `clientName` posting to it.
 * Returns `{ client, server, received, setMode }`; `received` holds every body the server's
 * data handler got.
 */
async function startPair (clientName, serverName, scenario, clientOutgoing = scenario.client) {
  const received = []
  let mode = 'fulfill'
  const server = new IMPL[serverName]({
    incoming: { port: 0, host: '127.0.0.1', ...scenario.server },
    outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'server-outgoing-unused' }
  })
  plugins.push(server)
  server.registerDataHandler(async (data) => {
    const prepare = Buffer.from(data)
    received.push(prepare)
    const { amount } = IlpPacket.deserializeIlpPrepare(prepare) // the server got a well-formed Prepare
    const reject = mode === 'reject' || (mode === 'mixed' && Number(amount) % 2 === 1)
    return reject ? expectedReject(prepare) : expectedFulfill(prepare)
  })
  await server.connect()
  const port = portOf(server)
  expect(port).toBeGreaterThan(0)

  const client = new IMPL[clientName]({
    incoming: { port: 0, host: '127.0.0.1', staticToken: 'client-incoming-unused' },
    outgoing: { url: `http://127.0.0.1:${port}/ilp`, ...clientOutgoing }
  })
  plugins.push(client)
  await client.connect()
  return { client, server, received, setMode: (m) => { mode = m } }
}

describe.each(PAIRS)('%s client -> %s server', (clientName, serverName) => {
  describe.each(SCENARIOS.map((s) => [s.name, s]))('%s', (scenarioName, scenario) => {
    const prefix = scenario.jwt ? `${clientName} JWTs verify in ${serverName}: ` : ''

    test(`${prefix}Prepare -> Fulfill round trip is byte-exact`, async () => {
      const { client, received } = await startPair(clientName, serverName, scenario)
      const prepare = makePrepare({ destination: 'test.server.bob', amount: '12345', data: crypto.randomBytes(777) })
      const result = await client.sendData(prepare)
      expect(received).toHaveLength(1)
      expect(received[0].equals(prepare)).toBe(true)
      expect(Buffer.isBuffer(result)).toBe(true)
      expect(result.equals(expectedFulfill(prepare))).toBe(true)
      expect(IlpPacket.deserializeIlpFulfill(result).data.equals(sha256(prepare))).toBe(true)
    })

    test(`${prefix}Prepare -> Reject round trip is byte-exact`, async () => {
      const { client, received, setMode } = await startPair(clientName, serverName, scenario)
      setMode('reject')
      const prepare = makePrepare({ destination: 'test.server.bob', data: crypto.randomBytes(300) })
      const result = await client.sendData(prepare)
      expect(received).toHaveLength(1)
      expect(received[0].equals(prepare)).toBe(true)
      expect(result.equals(expectedReject(prepare))).toBe(true)
      const reject = IlpPacket.deserializeIlpReject(result)
      expect(reject.code).toBe('F99')
      expect(reject.triggeredBy).toBe('test.server')
    })

    if (serverName === 'ours') {
      test(`${prefix}a Prepare with 32,767 data bytes round-trips byte-exact (our server accepts it)`, async () => {
        const { client, received } = await startPair(clientName, serverName, scenario)
        const prepare = makePrepare({ data: crypto.randomBytes(MAX_DATA_LENGTH) })
        expect(prepare.length).toBeGreaterThan(32767)
        const result = await client.sendData(prepare)
        expect(received).toHaveLength(1)
        expect(received[0].equals(prepare)).toBe(true)
        expect(result.equals(expectedFulfill(prepare))).toBe(true)
      })

      test(`${prefix}the largest valid Prepare (33,857 bytes: 32,767 data bytes, 1023-char destination) round-trips`, async () => {
        const { client, received } = await startPair(clientName, serverName, scenario)
        const prepare = largestPrepare(crypto.randomBytes(MAX_DATA_LENGTH))
        expect(prepare.length).toBe(MAX_PREPARE_LENGTH)
        const result = await client.sendData(prepare)
        expect(received).toHaveLength(1)
        expect(received[0].equals(prepare)).toBe(true)
        expect(result.equals(expectedFulfill(prepare))).toBe(true)
      })
    } else {
      test(`${prefix}a Prepare of exactly 32,767 bytes (the most 1.6.1's server takes) round-trips byte-exact`, async () => {
        const { client, received } = await startPair(clientName, serverName, scenario)
        const prepare = makePrepare({ data: crypto.randomBytes(FITS_ORIGINAL_DATA_LENGTH) })
        expect(prepare.length).toBe(32767)
        const result = await client.sendData(prepare)
        expect(received).toHaveLength(1)
        expect(received[0].equals(prepare)).toBe(true)
        expect(result.equals(expectedFulfill(prepare))).toBe(true)
      })

      test(`${prefix}1.6.1's server refuses a 32,768-byte Prepare with 413`, async () => {
        const { client, received } = await startPair(clientName, serverName, scenario)
        const prepare = makePrepare({ data: crypto.randomBytes(FITS_ORIGINAL_DATA_LENGTH + 1) })
        expect(prepare.length).toBe(32768)
        const err = await rejectionOf(client.sendData(prepare))
        expect(err.message).toBe('failed to fetch. code=413')
        if (clientName === 'ours') expect(err.ilpErrorCode).toBe('F00')
        expect(received).toHaveLength(0)
      })
    }

    test(`${prefix}100 sequential Prepares each get their own Fulfill, in order`, async () => {
      const { client, received } = await startPair(clientName, serverName, scenario)
      const prepares = []
      for (let i = 0; i < 100; i++) {
        const prepare = makePrepare({ destination: `test.server.n${i}`, amount: String(i + 1), data: crypto.randomBytes(i * 10) })
        prepares.push(prepare)
        const result = await client.sendData(prepare)
        expect(result.equals(expectedFulfill(prepare))).toBe(true)
      }
      expect(received).toHaveLength(100)
      received.forEach((r, i) => expect(r.equals(prepares[i])).toBe(true))
    })

    test(`${prefix}50 concurrent Prepares each get their own Fulfill or Reject`, async () => {
      const { client, received, setMode } = await startPair(clientName, serverName, scenario)
      if (clientName === '1.6.1' && scenario.jwt) {
        // 1.6.1 sends 'Bearer undefined' on concurrent first calls (its bug; ours is tested for
        // that in client.test.js), so let it sign its token first.
        await client.sendData(makePrepare())
        received.length = 0
      }
      setMode('mixed') // odd amounts are rejected, even ones fulfilled
      const prepares = Array.from({ length: 50 }, (_, i) =>
        makePrepare({ destination: `test.server.c${i}`, amount: String(1000 + i), data: crypto.randomBytes(50 + i) }))
      const results = await Promise.all(prepares.map((p) => client.sendData(p)))
      results.forEach((r, i) => {
        const expected = i % 2 === 0 ? expectedFulfill(prepares[i]) : expectedReject(prepares[i])
        expect(r.equals(expected)).toBe(true)
      })
      expect(received).toHaveLength(50)
      const hex = (bufs) => bufs.map((b) => b.toString('hex')).sort()
      expect(hex(received)).toEqual(hex(prepares))
    })

    test(`${serverName} server refuses wrong credentials from ${clientName} (401)`, async () => {
      const { client, received } = await startPair(clientName, serverName, scenario, scenario.wrongClient)
      const err = await rejectionOf(client.sendData(makePrepare()))
      expect(err.message).toBe('failed to fetch. code=401')
      if (clientName === 'ours') expect(err.ilpErrorCode).toBe('F00')
      expect(received).toHaveLength(0)
    })
  })
})
