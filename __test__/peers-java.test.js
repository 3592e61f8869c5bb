'use strict'
// Peering with the Java implementation (interledger4j ilpv4-connector + quilt) and its
// JWT_HS_256 profile, against the stand-in in ./peers/java-connector.js (written from the
// connector's JwtHs256AuthenticationProvider and java-jwt 3.9.0's JWTVerifier; see there):
// a `sub` claim equal to the account's token subject, HS256, zero leeway.
//
// - ours -> Java: with `outgoing.jwtSubject` our JWTs verify; without it they are refused.
// - Java -> ours: quilt's tokens `{ sub, exp }`; `incoming.jwtSubject` makes our server
//   require `sub` to equal it (the same 401 as every other refusal); without it, unchanged.
const jwt = require('jsonwebtoken')
const IlpPacket = require('ilp-packet')
const {
  PluginHttp,
  MAX_DATA_LENGTH,
  UNUSED_OUTGOING_URL,
  makePrepare,
  makeFulfill
} = require('./support')
const { verifyJwtHs256, signJwtHs256, startJavaConnector, sendFromJavaLink } = require('./peers/java-connector')

const SECRET_US_TO_JAVA = 'shared-secret-us-to-java-Hq4'
const SECRET_JAVA_TO_US = 'shared-secret-java-to-us-Lm8'
const ACCOUNT = 'alice' // our account id at the Java connector, also its token subject

let cleanups = []
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
  cleanups = []
})

async function ourPlugin ({ incoming = {}, outgoing = {} } = {}) {
  const plugin = new PluginHttp({
    incoming: { port: 0, host: '127.0.0.1', jwtSecret: SECRET_JAVA_TO_US, ...incoming },
    outgoing: { url: UNUSED_OUTGOING_URL, jwtSecret: SECRET_US_TO_JAVA, ...outgoing }
  })
  await plugin.connect()
  cleanups.push(() => plugin.disconnect())
  return plugin
}

async function javaConnector () {
  const server = await startJavaConnector({
    accounts: { [ACCOUNT]: { secret: SECRET_US_TO_JAVA, subject: ACCOUNT } },
    handle: async (prepare) => makeFulfill(IlpPacket.deserializeIlpPrepare(prepare).data)
  })
  cleanups.push(() => server.close())
  return server
}

const nowSecs = () => Math.floor(Date.now() / 1000)
const sign = (claims, options = {}) => jwt.sign(claims, SECRET_US_TO_JAVA, { algorithm: 'HS256', noTimestamp: true, ...options })

describe('the stand-in verifies as java-jwt 3.9.0 with acceptLeeway(0).withSubject', () => {
  const verify = (token) => verifyJwtHs256(token, { secret: SECRET_US_TO_JAVA, subject: ACCOUNT })

  test('quilt\'s own token verifies', () => {
    expect(verify(signJwtHs256({ secret: SECRET_US_TO_JAVA, subject: ACCOUNT }))).toBeNull()
  })

  test.each([
    ['no sub', () => sign({ exp: nowSecs() + 30 })],
    ['another sub', () => sign({ sub: 'bob', exp: nowSecs() + 30 })],
    ['expired a second ago', () => sign({ sub: ACCOUNT, exp: nowSecs() - 1 })],
    ['issued 2 s in the future (zero leeway)', () => sign({ sub: ACCOUNT, iat: nowSecs() + 2, exp: nowSecs() + 30 }, { noTimestamp: false })],
    ['HS512', () => sign({ sub: ACCOUNT, exp: nowSecs() + 30 }, { algorithm: 'HS512' })],
    ['another secret', () => jwt.sign({ sub: ACCOUNT, exp: nowSecs() + 30 }, 'other', { algorithm: 'HS256' })]
  ])('refused: %s', (name, token) => {
    expect(verify(token())).not.toBeNull()
  })
})

describe('ours -> Java connector', () => {
  test.each([0, MAX_DATA_LENGTH])('with outgoing.jwtSubject: accepted, %i data bytes round-trip byte-exact; the JWT carries sub, iat, exp', async (size) => {
    const java = await javaConnector()
    const plugin = await ourPlugin({ outgoing: { url: java.urlFor(ACCOUNT), jwtSubject: ACCOUNT, contentType: 'application/octet-stream' } })
    const data = Buffer.alloc(size, 0x61)
    const reply = await plugin.sendData(makePrepare({ data }))
    expect(reply.equals(makeFulfill(data))).toBe(true)
    const request = java.requests[0]
    expect(request).toMatchObject({ status: 200, reason: null })
    const token = request.headers.authorization.replace(/^Bearer /, '')
    const claims = jwt.decode(token)
    expect(claims).toEqual({ sub: ACCOUNT, iat: expect.any(Number), exp: claims.iat + 30 })
  })

  test('with the default content type the Java connector accepts too (it consumes both)', async () => {
    const java = await javaConnector()
    const plugin = await ourPlugin({ outgoing: { url: java.urlFor(ACCOUNT), jwtSubject: ACCOUNT } })
    await plugin.sendData(makePrepare())
    expect(java.requests[0].headers['content-type']).toBe('application/ilp+octet-stream')
  })

  test('without outgoing.jwtSubject: refused (401, no sub claim), sendData rejects F00', async () => {
    const java = await javaConnector()
    const plugin = await ourPlugin({ outgoing: { url: java.urlFor(ACCOUNT) } })
    await expect(plugin.sendData(makePrepare())).rejects.toMatchObject({ message: 'failed to fetch. code=401', ilpErrorCode: 'F00' })
    expect(java.requests[0].reason).toMatch(/'sub'/)
  })

  test('with the subject of another account: refused', async () => {
    const java = await javaConnector()
    const plugin = await ourPlugin({ outgoing: { url: java.urlFor(ACCOUNT), jwtSubject: 'bob' } })
    await expect(plugin.sendData(makePrepare())).rejects.toMatchObject({ message: 'failed to fetch. code=401' })
  })
})

describe('Java -> ours (quilt tokens { sub, exp })', () => {
  const javaToken = (subject) => signJwtHs256({ secret: SECRET_JAVA_TO_US, subject })
  const send = (plugin, token) => sendFromJavaLink({ url: `http://127.0.0.1:${plugin.port}/`, token, prepare: makePrepare() })

  test('incoming.jwtSubject: the right sub is accepted; another sub, none, or a token with another secret get the same 401', async () => {
    const plugin = await ourPlugin({ incoming: { jwtSubject: 'java-connector' } })
    const fulfill = makeFulfill(Buffer.from('from us'))
    plugin.registerDataHandler(async () => fulfill)
    const accepted = await send(plugin, javaToken('java-connector'))
    expect(accepted.status).toBe(200)
    expect(accepted.body.equals(fulfill)).toBe(true)
    const refusals = [
      await send(plugin, javaToken('someone-else')),
      await send(plugin, jwt.sign({ exp: nowSecs() + 30 }, SECRET_JAVA_TO_US, { algorithm: 'HS256' })),
      await send(plugin, jwt.sign({ sub: 'java-connector', exp: nowSecs() + 30 }, 'wrong-secret', { algorithm: 'HS256' })),
      await send(plugin, jwt.sign({ sub: 'JAVA-CONNECTOR', exp: nowSecs() + 30 }, SECRET_JAVA_TO_US, { algorithm: 'HS256' }))
    ]
    for (const refusal of refusals) {
      expect(refusal.status).toBe(401)
      expect(refusal.body.toString()).toBe(refusals[0].body.toString())
    }
  })

  test('incoming.jwtSubject does not concern static tokens: a configured static token is still accepted', async () => {
    const plugin = await ourPlugin({ incoming: { jwtSubject: 'java-connector', staticToken: 'static-token-Pq1' } })
    plugin.registerDataHandler(async () => makeFulfill())
    expect((await send(plugin, 'static-token-Pq1')).status).toBe(200)
  })

  test('without incoming.jwtSubject: any sub (and none) is accepted, as before', async () => {
    const plugin = await ourPlugin()
    plugin.registerDataHandler(async () => makeFulfill())
    expect((await send(plugin, javaToken('anyone'))).status).toBe(200)
    expect((await send(plugin, jwt.sign({ exp: nowSecs() + 30 }, SECRET_JAVA_TO_US, { algorithm: 'HS256' }))).status).toBe(200)
  })
})

describe('ours <-> ours with subjects', () => {
  test.each([['HTTP/1.1', false], ['h2c', true]])('%s: matching subjects round-trip; a mismatch is 401', async (name, http2) => {
    const server = await ourPlugin({ incoming: { jwtSecret: 'peer-secret-Ab3', jwtSubject: 'client-a' } })
    server.registerDataHandler(async () => makeFulfill())
    const url = `http://127.0.0.1:${server.port}/`
    const good = await ourPlugin({ outgoing: { url, http2, jwtSecret: 'peer-secret-Ab3', jwtSubject: 'client-a' } })
    expect((await good.sendData(makePrepare())).equals(makeFulfill())).toBe(true)
    const wrong = await ourPlugin({ outgoing: { url, http2, jwtSecret: 'peer-secret-Ab3', jwtSubject: 'client-b' } })
    await expect(wrong.sendData(makePrepare())).rejects.toMatchObject({ message: 'failed to fetch. code=401' })
    const none = await ourPlugin({ outgoing: { url, http2, jwtSecret: 'peer-secret-Ab3' } })
    await expect(none.sendData(makePrepare())).rejects.toMatchObject({ message: 'failed to fetch. code=401' })
  })
})

describe('jwtSubject options are validated at construction', () => {
  const make = (incoming, outgoing) => () => new PluginHttp({
    incoming: { port: 0, ...incoming },
    outgoing: { url: UNUSED_OUTGOING_URL, ...outgoing }
  })
  test.each([
    ['outgoing.jwtSubject', { staticToken: 'a' }, { jwtSecret: 's', jwtSubject: 5 }],
    ['outgoing.jwtSubject', { staticToken: 'a' }, { jwtSecret: 's', jwtSubject: '' }],
    ['outgoing.jwtSubject', { staticToken: 'a' }, { jwtSecret: 's', jwtSubject: 'a\nb' }],
    ['outgoing.jwtSubject', { staticToken: 'a' }, { staticToken: 'b', jwtSubject: 'x' }],
    ['incoming.jwtSubject', { jwtSecret: 's', jwtSubject: ['x'] }, { staticToken: 'b' }],
    ['incoming.jwtSubject', { jwtSecret: 's', jwtSubject: '' }, { staticToken: 'b' }],
    ['incoming.jwtSubject', { staticToken: 'a', jwtSubject: 'x' }, { staticToken: 'b' }]
  ])('%s: %j / %j refused', (option, incoming, outgoing) => {
    expect(make(incoming, outgoing)).toThrow(option)
  })

  test('getAdminInfo shows the subjects (they are not secrets)', () => {
    const plugin = make({ jwtSecret: 's', jwtSubject: 'in-sub' }, { jwtSecret: 't', jwtSubject: 'out-sub' })()
    const { config } = plugin.getAdminInfo()
    expect(config.incoming.jwtSubject).toBe('in-sub')
    expect(config.outgoing.jwtSubject).toBe('out-sub')
  })
})
