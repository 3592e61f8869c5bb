'use strict'
// Peering with Rafiki (interledger/rafiki), both ways, against the stand-in in
// ./peers/rafiki.js (written from Rafiki's auth.ts, ilp-packet.ts and client.ts; see there).
//
// - Rafiki -> ours: Bearer token, `application/octet-stream`, axios's default Accept, no
//   ILP-Peer-Name; Prepares with 0 and 32,767 data bytes and their replies are byte-exact.
// - ours -> Rafiki: 1.6.1's Content-Type gets Rafiki's 400; `outgoing.contentType:
//   'application/octet-stream'` (RFC 35) passes, with Accept; the bare legacy token form and
//   JWTs are refused by Rafiki (it wants `Bearer <static token>`).
// - our server accepts both content types and none.
const IlpPacket = require('ilp-packet')
const {
  PluginHttp,
  MAX_DATA_LENGTH,
  UNUSED_OUTGOING_URL,
  makePrepare,
  makeFulfill,
  makeReject,
  request
} = require('./support')
const { startRafikiServer, rafikiClient, getBearerToken, AXIOS_ACCEPT } = require('./peers/rafiki')

const RAFIKI_TO_US = 'rafiki-outgoing-token-4hV9'
const US_TO_RAFIKI = 'our-outgoing-token-Zk27'
const RFC35 = 'application/octet-stream'

let cleanups = []
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
  cleanups = []
})

/** Our plugin, connected on 127.0.0.1:0; disconnected after the test. */
async function ourPlugin ({ incoming = {}, outgoing = {} } = {}) {
  const plugin = new PluginHttp({
    incoming: { port: 0, host: '127.0.0.1', staticToken: RAFIKI_TO_US, ...incoming },
    outgoing: { url: UNUSED_OUTGOING_URL, staticToken: US_TO_RAFIKI, ...outgoing }
  })
  await plugin.connect()
  cleanups.push(() => plugin.disconnect())
  return plugin
}

async function rafiki (handle) {
  const server = await startRafikiServer({ incomingTokens: new Map([[US_TO_RAFIKI, 'peer-us']]), handle })
  cleanups.push(() => server.close())
  return server
}

const sizes = [0, MAX_DATA_LENGTH]

describe('the stand-in parses Authorization as Rafiki does', () => {
  test.each([
    ['Bearer tok', 'tok'],
    ['bearer tok', 'tok'],
    ['BEARER tok', 'tok'],
    ['Bearer  tok', undefined],
    ['tok', undefined],
    ['Basic tok', undefined],
    ['Bearer tok extra', undefined]
  ])('%j -> %j', (authorization, token) => {
    expect(getBearerToken({ request: { header: { authorization } } })).toBe(token)
  })
})

describe('Rafiki -> ours', () => {
  test('Bearer token, application/octet-stream, axios Accept, no ILP-Peer-Name: 0 and 32,767 data bytes round-trip byte-exact', async () => {
    const received = []
    const plugin = await ourPlugin()
    plugin.registerDataHandler(async (prepare) => {
      received.push(prepare)
      const { data } = IlpPacket.deserializeIlpPrepare(prepare)
      return data.length % 2 ? makeReject({ data }) : makeFulfill(data)
    })
    const client = rafikiClient({ endpoint: `http://127.0.0.1:${plugin.port}/`, authToken: RAFIKI_TO_US })
    cleanups.push(() => client.close())
    for (const size of sizes) {
      const data = Buffer.alloc(size, 0xa7)
      const prepare = makePrepare({ data })
      const reply = await client.send(prepare)
      expect(received.pop().equals(prepare)).toBe(true)
      const expected = size % 2 ? makeReject({ data }) : makeFulfill(data)
      expect(reply.equals(expected)).toBe(true)
    }
  })

  test('a token we were not given is refused: Rafiki sees 401', async () => {
    const plugin = await ourPlugin()
    plugin.registerDataHandler(async () => makeFulfill())
    const client = rafikiClient({ endpoint: `http://127.0.0.1:${plugin.port}/`, authToken: RAFIKI_TO_US + 'x' })
    cleanups.push(() => client.close())
    await expect(client.send(makePrepare())).rejects.toMatchObject({ status: 401 })
  })
})

describe('ours -> Rafiki', () => {
  test('default (1.6.1 wire format, application/ilp+octet-stream): Rafiki answers 400, sendData rejects F00', async () => {
    const server = await rafiki(async () => makeFulfill())
    const plugin = await ourPlugin({ outgoing: { url: server.url } })
    await expect(plugin.sendData(makePrepare())).rejects.toMatchObject({ message: 'failed to fetch. code=400', ilpErrorCode: 'F00' })
    expect(server.requests[0].headers['content-type']).toBe('application/ilp+octet-stream')
  })

  test.each(sizes)('outgoing.contentType application/octet-stream: %i data bytes round-trip byte-exact (Fulfill and Reject)', async (size) => {
    const data = Buffer.alloc(size, 0x3c)
    const seen = []
    let reject = false
    const server = await rafiki(async ({ prepare, rawPrepare, peerId }) => {
      seen.push({ rawPrepare, peerId })
      expect(prepare.data.equals(data)).toBe(true)
      return reject ? makeReject({ data }) : makeFulfill(data)
    })
    const plugin = await ourPlugin({ outgoing: { url: server.url, contentType: RFC35 } })
    for (const asReject of [false, true]) {
      reject = asReject
      const prepare = makePrepare({ data })
      const reply = await plugin.sendData(prepare)
      expect(reply.equals(asReject ? makeReject({ data }) : makeFulfill(data))).toBe(true)
      expect(seen.pop()).toEqual({ rawPrepare: prepare, peerId: 'peer-us' })
    }
    for (const request of server.requests) {
      expect(request.status).toBe(200)
      expect(request.headers['content-type']).toBe(RFC35)
      expect(request.headers.accept).toBe(RFC35)
      expect(request.headers.authorization).toBe(`Bearer ${US_TO_RAFIKI}`)
    }
  })

  test('Rafiki wants the Bearer form: the legacy bare outgoing.secretToken gets 401', async () => {
    const server = await rafiki(async () => makeFulfill())
    const plugin = await ourPlugin({ outgoing: { url: server.url, contentType: RFC35, staticToken: undefined, secretToken: US_TO_RAFIKI } })
    await expect(plugin.sendData(makePrepare())).rejects.toMatchObject({ message: 'failed to fetch. code=401' })
  })

  test('Rafiki looks tokens up as they are: a JWT gets 401 (use a static token with Rafiki)', async () => {
    const server = await rafiki(async () => makeFulfill())
    const plugin = await ourPlugin({ outgoing: { url: server.url, contentType: RFC35, jwtSecret: US_TO_RAFIKI } })
    await expect(plugin.sendData(makePrepare())).rejects.toMatchObject({ message: 'failed to fetch. code=401' })
  })
})

describe('our server accepts both content types and none', () => {
  test.each([
    ['application/octet-stream', RFC35],
    ['application/ilp+octet-stream', 'application/ilp+octet-stream'],
    ['none', undefined],
    ['axios Accept with octet-stream', RFC35]
  ])('Content-Type %s: 200 with the handler\'s bytes', async (name, contentType) => {
    const plugin = await ourPlugin()
    const fulfill = makeFulfill(Buffer.from('ok'))
    plugin.registerDataHandler(async () => fulfill)
    const body = makePrepare()
    const headers = { Authorization: `Bearer ${RAFIKI_TO_US}`, Accept: AXIOS_ACCEPT }
    if (contentType) headers['Content-Type'] = contentType
    const { status, body: reply } = await request(plugin.port, { headers, body })
    expect(status).toBe(200)
    expect(reply.equals(fulfill)).toBe(true)
  })
})

describe('outgoing.contentType is validated at construction', () => {
  test.each([
    ['text/plain'],
    ['rfc35'],
    [true],
    [''],
    ['APPLICATION/OCTET-STREAM ']
  ])('%j is refused with a message naming the option', (value) => {
    expect(() => new PluginHttp({
      incoming: { port: 0, staticToken: 'a' },
      outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'b', contentType: value }
    })).toThrow(/outgoing\.contentType/)
  })

  test('both media types construct, and getAdminInfo shows the choice', () => {
    for (const value of [RFC35, 'application/ilp+octet-stream']) {
      const plugin = new PluginHttp({
        incoming: { port: 0, staticToken: 'a' },
        outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'b', contentType: value }
      })
      expect(plugin.getAdminInfo().config.outgoing.contentType).toBe(value)
    }
    const plugin = new PluginHttp({ incoming: { port: 0, staticToken: 'a' }, outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'b' } })
    expect(plugin.getAdminInfo().config.outgoing.contentType).toBe('application/ilp+octet-stream')
  })
})
