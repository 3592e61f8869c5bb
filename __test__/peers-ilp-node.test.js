'use strict'
// Peering with interledger-rs's ilp-node over HTTP/2, against the stand-in in
// ./peers/warp-h2.js (written from crates/interledger-http/src/server.rs and ilp-node's
// rejection handler; see there): warp's `content_length_limit` refuses a request without
// `content-length`, and ilp-node answers that with 405. Our HTTP/2 requests must carry it
// (HTTP/1.1 requests always did), and the token must be in the `Bearer ` form.
const IlpPacket = require('ilp-packet')
const {
  PluginHttp,
  MAX_DATA_LENGTH,
  UNUSED_OUTGOING_URL,
  makePrepare,
  makeFulfill,
  makeReject,
  h2Request
} = require('./support')
const { startWarpH2Server } = require('./peers/warp-h2')

const TOKEN = 'ilp-node-incoming-token-Vb6'

let cleanups = []
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
  cleanups = []
})

async function ilpNode () {
  const server = await startWarpH2Server({
    accounts: { alice: TOKEN },
    handle: async (prepare) => {
      const { data } = IlpPacket.deserializeIlpPrepare(prepare)
      return data.length ? makeReject({ data }) : makeFulfill()
    }
  })
  cleanups.push(() => server.close())
  return server
}

async function ourClient (outgoing) {
  const plugin = new PluginHttp({
    incoming: { port: 0, host: '127.0.0.1', staticToken: 'unused-incoming' },
    outgoing: { http2: true, staticToken: TOKEN, ...outgoing }
  })
  await plugin.connect()
  cleanups.push(() => plugin.disconnect())
  return plugin
}

describe('the stand-in refuses as ilp-node does', () => {
  test('without content-length: 405; with it: 200; a bare token: 401', async () => {
    const server = await ilpNode()
    const body = makePrepare()
    const post = async (headers) => (await h2Request(`http://127.0.0.1:${server.port}`, { path: '/accounts/alice/ilp', headers, body })).status
    expect(await post({ authorization: `Bearer ${TOKEN}` })).toBe(405)
    expect(await post({ authorization: `Bearer ${TOKEN}`, 'content-length': body.length })).toBe(200)
    expect(await post({ authorization: TOKEN, 'content-length': body.length })).toBe(401)
  })
})

describe('ours (outgoing.http2) -> ilp-node', () => {
  test.each([0, MAX_DATA_LENGTH])('%i data bytes: accepted, the reply is byte-exact; the request carried content-length and :authority', async (size) => {
    const server = await ilpNode()
    const plugin = await ourClient({ url: server.urlFor('alice') })
    const data = Buffer.alloc(size, 0x19)
    const prepare = makePrepare({ data })
    const reply = await plugin.sendData(prepare)
    expect(reply.equals(size ? makeReject({ data }) : makeFulfill())).toBe(true)
    const [request] = server.requests
    expect(request.status).toBe(200)
    expect(request.headers['content-length']).toBe(String(prepare.length))
    // HTTP/1.1 requests carry Host; the h2 equivalent is :authority (from the URL).
    expect(request.headers[':authority']).toBe(`127.0.0.1:${server.port}`)
  })

  test('ilp-node reads the token from byte 7 on: the legacy bare form (outgoing.secretToken) gets 401', async () => {
    const server = await ilpNode()
    const plugin = await ourClient({ url: server.urlFor('alice'), staticToken: undefined, secretToken: TOKEN })
    await expect(plugin.sendData(makePrepare())).rejects.toMatchObject({ message: 'failed to fetch. code=401' })
  })
})

describe('our h2 requests with content-length', () => {
  test('our own server accepts them as before (h2c round trip)', async () => {
    const server = new PluginHttp({
      incoming: { port: 0, host: '127.0.0.1', staticToken: TOKEN },
      outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'unused' }
    })
    server.registerDataHandler(async () => makeFulfill(Buffer.from('h2')))
    await server.connect()
    cleanups.push(() => server.disconnect())
    const plugin = await ourClient({ url: `http://127.0.0.1:${server.port}/` })
    expect((await plugin.sendData(makePrepare())).equals(makeFulfill(Buffer.from('h2')))).toBe(true)
  })
})
