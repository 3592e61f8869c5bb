'use strict'
// Every option of docs/contract.md's options table: defaults, legacy names and which one wins
// (checked by what the peer receives and what the server accepts), JWT expiry, ILP-Peer-Name,
// ILP-Destination, HTTP/2, multilateral URL templates and ILDCP, and constructor validation.
//
// Shared behaviour runs against ours and ilp-plugin-http 1.6.1; FIX behaviour (every bad option
// throws at construction naming the option, `incoming.host`, logging, HTTP/2 query) runs
// against ours only.
const jwt = require('jsonwebtoken')
const ILDCP = require('ilp-protocol-ildcp')
const {
  PluginHttp,
  OriginalPluginHttp,
  IMPLS,
  UNUSED_OUTGOING_URL,
  ILP_CONTENT_TYPE,
  makePrepare,
  makeFulfill,
  freePort,
  startRawPeer,
  startH2Peer,
  readStream,
  connectAndListen,
  disconnectAll,
  runCleanups,
  makeLog,
  request
} = require('./support')

const FULFILL = makeFulfill(Buffer.from('options'))
const INCOMING_TOKEN = 'incoming-t0ken-Rv5'
const LEGACY_JWT = 'legacy-jwt-s3cret-Ab1'
const MODERN_JWT = 'modern-jwt-s3cret-Cd2'
const LEGACY_STATIC = 'legacy-static-t0ken-Ef3'
const MODERN_STATIC = 'modern-static-t0ken-Gh4'
const SECRETS = [INCOMING_TOKEN, LEGACY_JWT, MODERN_JWT, LEGACY_STATIC, MODERN_STATIC]

const plugins = []
const cleanups = []

afterEach(async () => {
  await disconnectAll(plugins.splice(0))
  await runCleanups(cleanups.splice(0))
})

/** A raw peer answering every request 200 with FULFILL; torn down after the test. */
async function fulfillingPeer () {
  const peer = await startRawPeer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' })
    res.end(FULFILL)
  })
  cleanups.push(peer.close)
  return peer
}

/** Creates (and tears down) a plugin; `incoming` defaults to 127.0.0.1:0 with a static token. */
function create (Impl, { incoming = {}, outgoing, api, ...rest }) {
  const plugin = new Impl({
    ...rest,
    incoming: { port: 0, host: '127.0.0.1', staticToken: INCOMING_TOKEN, ...incoming },
    outgoing
  }, api)
  plugins.push(plugin)
  return plugin
}

/** Creates and connects a plugin, returns it with its bound port. */
async function start (Impl, opts) {
  const plugin = create(Impl, opts)
  const port = await connectAndListen(plugin)
  return { plugin, port }
}

/** Sends one Prepare through a fresh plugin with `outgoing` (+ `url` of a fulfilling peer); returns the request the peer saw. */
async function sentRequest (Impl, outgoing, { prepare = makePrepare(), path = '/ilp', ...rest } = {}) {
  const peer = await fulfillingPeer()
  const { plugin } = await start(Impl, { outgoing: { url: peer.url + path, ...outgoing }, ...rest })
  const answer = await plugin.sendData(prepare)
  expect(answer.equals(FULFILL)).toBe(true)
  expect(peer.requests.length).toBe(1)
  return peer.requests[0]
}

/** The token inside an Authorization value, and whether it had the `Bearer ` prefix. */
function splitAuth (value) {
  return value.startsWith('Bearer ')
    ? { bearer: true, token: value.slice('Bearer '.length) }
    : { bearer: false, token: value }
}

/** Does `jwt.verify` accept `token` with `secret` (HS256 only)? */
function verifies (token, secret) {
  try {
    jwt.verify(token, secret, { algorithms: ['HS256'] })
    return true
  } catch (e) {
    return false
  }
}

/** POSTs `body` with `Authorization: <auth>` on a fresh connection (support/http1.js `request`). */
function post (port, body, auth, { headers = {} } = {}) {
  return request(port, { headers: { 'Content-Type': ILP_CONTENT_TYPE, Authorization: auth, ...headers }, body })
}

/**
 * An h2c (cleartext HTTP/2) peer (support/h2.js) recording `requests` (`{ headers, body }`) and
 * answering FULFILL; `origin` is its http://127.0.0.1:<port>. Closed after the test.
 */
async function fulfillingH2Peer () {
  const requests = []
  const peer = await startH2Peer((stream, headers) => {
    readStream(stream).then((body) => {
      requests.push({ headers, body })
      stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' })
      stream.end(FULFILL)
    }, () => {})
  })
  cleanups.push(peer.close)
  peer.requests = requests
  return peer
}

describe.each(IMPLS)('%s: options (shared)', (name, Impl) => {
  describe('incoming auth: legacy names win', () => {
    test('incoming.secret wins over incoming.jwtSecret', async () => {
      const { plugin, port } = await start(Impl, {
        incoming: { secret: LEGACY_JWT, jwtSecret: MODERN_JWT, staticToken: undefined },
        outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'x' }
      })
      plugin.registerDataHandler(() => FULFILL)
      const legacy = jwt.sign({}, LEGACY_JWT, { expiresIn: 30 })
      const modern = jwt.sign({}, MODERN_JWT, { expiresIn: 30 })
      expect((await post(port, makePrepare(), 'Bearer ' + legacy)).status).toBe(200)
      expect((await post(port, makePrepare(), 'Bearer ' + modern)).status).toBe(401)
    })

    test('incoming.jwtSecret alone is used', async () => {
      const { plugin, port } = await start(Impl, {
        incoming: { jwtSecret: MODERN_JWT, staticToken: undefined },
        outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'x' }
      })
      plugin.registerDataHandler(() => FULFILL)
      expect((await post(port, makePrepare(), 'Bearer ' + jwt.sign({}, MODERN_JWT, { expiresIn: 30 }))).status).toBe(200)
      expect((await post(port, makePrepare(), 'Bearer ' + jwt.sign({}, LEGACY_JWT, { expiresIn: 30 }))).status).toBe(401)
    })

    test('incoming.secretToken wins over incoming.staticToken', async () => {
      const { plugin, port } = await start(Impl, {
        incoming: { secretToken: LEGACY_STATIC, staticToken: MODERN_STATIC },
        outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'x' }
      })
      plugin.registerDataHandler(() => FULFILL)
      expect((await post(port, makePrepare(), 'Bearer ' + LEGACY_STATIC)).status).toBe(200)
      expect((await post(port, makePrepare(), LEGACY_STATIC)).status).toBe(200)
      expect((await post(port, makePrepare(), 'Bearer ' + MODERN_STATIC)).status).toBe(401)
    })

    test('incoming.secretToken alone is used', async () => {
      const { plugin, port } = await start(Impl, {
        incoming: { secretToken: LEGACY_STATIC, staticToken: undefined },
        outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'x' }
      })
      plugin.registerDataHandler(() => FULFILL)
      expect((await post(port, makePrepare(), 'Bearer ' + LEGACY_STATIC)).status).toBe(200)
      expect((await post(port, makePrepare(), 'Bearer ' + INCOMING_TOKEN)).status).toBe(401)
    })

    test('incoming.secret (JWT) plus incoming.secretToken: both accepted', async () => {
      const { plugin, port } = await start(Impl, {
        incoming: { secret: LEGACY_JWT, secretToken: LEGACY_STATIC, staticToken: undefined },
        outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'x' }
      })
      plugin.registerDataHandler(() => FULFILL)
      expect((await post(port, makePrepare(), 'Bearer ' + jwt.sign({}, LEGACY_JWT, { expiresIn: 30 }))).status).toBe(200)
      expect((await post(port, makePrepare(), 'Bearer ' + LEGACY_STATIC)).status).toBe(200)
      expect((await post(port, makePrepare(), 'Bearer ' + LEGACY_JWT)).status).toBe(401)
    })
  })

  describe('outgoing auth: legacy names win, Bearer only with the new names', () => {
    test('outgoing.staticToken -> "Bearer <token>"', async () => {
      const req = await sentRequest(Impl, { staticToken: MODERN_STATIC })
      expect(req.headers.authorization).toBe('Bearer ' + MODERN_STATIC)
    })

    test('outgoing.secretToken -> the bare token (no Bearer)', async () => {
      const req = await sentRequest(Impl, { secretToken: LEGACY_STATIC })
      expect(req.headers.authorization).toBe(LEGACY_STATIC)
    })

    test('outgoing.secretToken wins over outgoing.staticToken, sent bare', async () => {
      const req = await sentRequest(Impl, { secretToken: LEGACY_STATIC, staticToken: MODERN_STATIC })
      expect(req.headers.authorization).toBe(LEGACY_STATIC)
    })

    test('outgoing.jwtSecret -> "Bearer <HS256 JWT>" signed with it', async () => {
      const req = await sentRequest(Impl, { jwtSecret: MODERN_JWT })
      const { bearer, token } = splitAuth(req.headers.authorization)
      expect(bearer).toBe(true)
      expect(jwt.decode(token, { complete: true }).header.alg).toBe('HS256')
      expect(verifies(token, MODERN_JWT)).toBe(true)
    })

    test('outgoing.secret -> the bare JWT signed with it', async () => {
      const req = await sentRequest(Impl, { secret: LEGACY_JWT })
      const { bearer, token } = splitAuth(req.headers.authorization)
      expect(bearer).toBe(false)
      expect(verifies(token, LEGACY_JWT)).toBe(true)
    })

    test('outgoing.secret wins over outgoing.jwtSecret (bare JWT signed with the legacy secret)', async () => {
      const req = await sentRequest(Impl, { secret: LEGACY_JWT, jwtSecret: MODERN_JWT })
      const { bearer, token } = splitAuth(req.headers.authorization)
      expect(bearer).toBe(false)
      expect(verifies(token, LEGACY_JWT)).toBe(true)
      expect(verifies(token, MODERN_JWT)).toBe(false)
    })

    test('outgoing.jwtSecret plus staticToken: the JWT is sent, not the static token', async () => {
      const req = await sentRequest(Impl, { jwtSecret: MODERN_JWT, staticToken: MODERN_STATIC })
      const { bearer, token } = splitAuth(req.headers.authorization)
      expect(bearer).toBe(true)
      expect(token).not.toBe(MODERN_STATIC)
      expect(verifies(token, MODERN_JWT)).toBe(true)
    })

    test('outgoing.jwtSecret plus secretToken: a bare JWT (legacy name drops Bearer)', async () => {
      const req = await sentRequest(Impl, { jwtSecret: MODERN_JWT, secretToken: LEGACY_STATIC })
      const { bearer, token } = splitAuth(req.headers.authorization)
      expect(bearer).toBe(false)
      expect(verifies(token, MODERN_JWT)).toBe(true)
    })

    test('a legacy peer: outgoing.secret sends a bare JWT that a plugin with incoming.secret accepts', async () => {
      const { plugin: server, port } = await start(Impl, {
        incoming: { secret: LEGACY_JWT, staticToken: undefined },
        outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'x' }
      })
      server.registerDataHandler(() => FULFILL)
      const { plugin: client } = await start(Impl, { outgoing: { url: `http://127.0.0.1:${port}/`, secret: LEGACY_JWT } })
      const answer = await client.sendData(makePrepare())
      expect(answer.equals(FULFILL)).toBe(true)
    })
  })

  describe('outgoing.jwtExpiry / tokenExpiry', () => {
    test.each([
      ['default', {}, 30],
      ['jwtExpiry 60000', { jwtExpiry: 60000 }, 60],
      ['jwtExpiry 0 means the default', { jwtExpiry: 0 }, 30],
      ['jwtExpiry 1500 (floored)', { jwtExpiry: 1500 }, 1],
      ['jwtExpiry 90999 (floored)', { jwtExpiry: 90999 }, 90],
      ['tokenExpiry 120000', { tokenExpiry: 120000 }, 120],
      ['tokenExpiry wins over jwtExpiry', { tokenExpiry: 120000, jwtExpiry: 60000 }, 120],
      ['tokenExpiry 0 falls back to jwtExpiry', { tokenExpiry: 0, jwtExpiry: 60000 }, 60],
      ['both 0 means the default', { tokenExpiry: 0, jwtExpiry: 0 }, 30]
    ])('%s (%j) -> exp - iat = %i s', async (_, expiry, seconds) => {
      const req = await sentRequest(Impl, { jwtSecret: MODERN_JWT, ...expiry })
      const { token } = splitAuth(req.headers.authorization)
      const payload = jwt.decode(token)
      expect(typeof payload.iat).toBe('number')
      expect(typeof payload.exp).toBe('number')
      expect(payload.exp - payload.iat).toBe(seconds)
      expect(Math.abs(payload.iat - Date.now() / 1000)).toBeLessThan(5)
    })

    test('legacy secret + tokenExpiry', async () => {
      const req = await sentRequest(Impl, { secret: LEGACY_JWT, tokenExpiry: 45000, jwtExpiry: 10000 })
      const payload = jwt.decode(req.headers.authorization)
      expect(payload.exp - payload.iat).toBe(45)
    })
  })

  describe('outgoing.url', () => {
    test('path and query are kept; Content-Type is application/ilp+octet-stream; body is exact', async () => {
      const prepare = makePrepare({ data: Buffer.from([0, 1, 2, 255, 254]) })
      const req = await sentRequest(Impl, { staticToken: MODERN_STATIC }, { path: '/some/path?a=1&b=two', prepare })
      expect(req.method).toBe('POST')
      expect(req.url).toBe('/some/path?a=1&b=two')
      expect(req.headers['content-type']).toBe('application/ilp+octet-stream')
      expect(req.body.equals(prepare)).toBe(true)
    })

    test('multi defaults to false: a "%" in the URL is not a template', async () => {
      const req = await sentRequest(Impl, { staticToken: MODERN_STATIC }, {
        path: '/a%25b',
        prepare: makePrepare({ destination: 'test.parent.bob.x' })
      })
      expect(req.url).toBe('/a%25b')
    })
  })

  describe('outgoing.name', () => {
    test('defaults to String(incoming.port)', async () => {
      const port = await freePort()
      const req = await sentRequest(Impl, { staticToken: MODERN_STATIC }, { incoming: { port } })
      expect(req.headers['ilp-peer-name']).toBe(String(port))
    })

    test('outgoing.name overrides it', async () => {
      const req = await sentRequest(Impl, { staticToken: MODERN_STATIC, name: 'alice' })
      expect(req.headers['ilp-peer-name']).toBe('alice')
    })
  })

  describe('outgoing.sendIlpDestination', () => {
    test('default: no ILP-Destination header', async () => {
      const req = await sentRequest(Impl, { staticToken: MODERN_STATIC })
      expect(req.headers['ilp-destination']).toBeUndefined()
    })

    test('false: no ILP-Destination header', async () => {
      const req = await sentRequest(Impl, { staticToken: MODERN_STATIC, sendIlpDestination: false })
      expect(req.headers['ilp-destination']).toBeUndefined()
    })

    test('true: ILP-Destination is the Prepare destination', async () => {
      const req = await sentRequest(Impl, { staticToken: MODERN_STATIC, sendIlpDestination: true }, {
        prepare: makePrepare({ destination: 'g.some-where.bob~x_y' })
      })
      expect(req.headers['ilp-destination']).toBe('g.some-where.bob~x_y')
    })
  })

  describe('multi, multiDelimiter, ildcp', () => {
    const ildcp = { clientAddress: 'test.parent', assetCode: 'XRP', assetScale: 9 }

    test('multiDelimiter defaults to "%": the first segment after clientAddress replaces it', async () => {
      const req = await sentRequest(Impl, { staticToken: MODERN_STATIC }, {
        path: '/%/ilp',
        multi: true,
        ildcp,
        prepare: makePrepare({ destination: 'test.parent.bob.x.y' })
      })
      expect(req.url).toBe('/bob/ilp')
    })

    test('a custom multiDelimiter; only its first occurrence is replaced', async () => {
      const req = await sentRequest(Impl, { staticToken: MODERN_STATIC }, {
        path: '/PEER/x/PEER',
        multi: true,
        multiDelimiter: 'PEER',
        ildcp,
        prepare: makePrepare({ destination: 'test.parent.carol_1-2.z' })
      })
      expect(req.url).toBe('/carol_1-2/x/PEER')
    })

    test('ildcp option: peer.config is answered with clientAddress + "." + ILP-Peer-Name, without the data handler', async () => {
      const { plugin, port } = await start(Impl, {
        multi: true,
        ildcp,
        outgoing: { url: 'http://127.0.0.1/%', staticToken: 'x' }
      })
      const handler = jest.fn(async () => FULFILL)
      plugin.registerDataHandler(handler)
      const res = await post(port, ILDCP.serializeIldcpRequest({ expiresAt: new Date(Date.now() + 30000) }), 'Bearer ' + INCOMING_TOKEN, {
        headers: { 'ILP-Peer-Name': 'carol' }
      })
      expect(res.status).toBe(200)
      expect(ILDCP.deserializeIldcpResponse(res.body)).toEqual({
        clientAddress: 'test.parent.carol',
        assetCode: 'XRP',
        assetScale: 9
      })
      expect(handler).not.toHaveBeenCalled()
    })
  })

  describe('outgoing.http2', () => {
    test('default (false): HTTP/1.1', async () => {
      let version
      const peer = await startRawPeer((req, res) => {
        version = req.httpVersion
        res.writeHead(200)
        res.end(FULFILL)
      })
      cleanups.push(peer.close)
      const { plugin } = await start(Impl, { outgoing: { url: peer.url + '/ilp', staticToken: MODERN_STATIC } })
      await plugin.sendData(makePrepare())
      expect(version).toBe('1.1')
    })

    test('http2: true speaks h2c to an http:// URL; headers and body as over HTTP/1.1', async () => {
      const peer = await fulfillingH2Peer()
      const prepare = makePrepare({ destination: 'test.h2.bob' })
      const { plugin } = await start(Impl, {
        outgoing: { url: peer.origin + '/ilp', staticToken: MODERN_STATIC, http2: true, name: 'h2name', sendIlpDestination: true }
      })
      const answer = await plugin.sendData(prepare)
      expect(answer.equals(FULFILL)).toBe(true)
      expect(peer.requests.length).toBe(1)
      const { headers, body } = peer.requests[0]
      expect(headers[':method']).toBe('POST')
      expect(headers[':path']).toBe('/ilp')
      expect(headers.authorization).toBe('Bearer ' + MODERN_STATIC)
      expect(headers['content-type']).toBe('application/ilp+octet-stream')
      expect(headers['ilp-peer-name']).toBe('h2name')
      expect(headers['ilp-destination']).toBe('test.h2.bob')
      expect(body.equals(prepare)).toBe(true)
    })

    test('http2MaxRequestsPerSession default (unlimited): sequential requests share one session', async () => {
      const peer = await fulfillingH2Peer()
      const { plugin } = await start(Impl, { outgoing: { url: peer.origin + '/ilp', staticToken: MODERN_STATIC, http2: true } })
      for (let i = 0; i < 6; i++) {
        expect((await plugin.sendData(makePrepare())).equals(FULFILL)).toBe(true)
      }
      expect(peer.requests.length).toBe(6)
      expect(peer.sessions).toBe(1)
    })

    test('http2MaxRequestsPerSession 2: six sequential requests use three sessions', async () => {
      const peer = await fulfillingH2Peer()
      const { plugin } = await start(Impl, {
        outgoing: { url: peer.origin + '/ilp', staticToken: MODERN_STATIC, http2: true, http2MaxRequestsPerSession: 2 }
      })
      for (let i = 0; i < 6; i++) {
        expect((await plugin.sendData(makePrepare())).equals(FULFILL)).toBe(true)
      }
      expect(peer.requests.length).toBe(6)
      expect(peer.sessions).toBe(3)
    })
  })
})

describe('ours: options (FIX behaviour)', () => {
  const Impl = PluginHttp

  test('http2 keeps the query string', async () => {
    const peer = await fulfillingH2Peer()
    const { plugin } = await start(Impl, { outgoing: { url: peer.origin + '/p/q?x=1&y=2', staticToken: MODERN_STATIC, http2: true } })
    await plugin.sendData(makePrepare())
    expect(peer.requests[0].headers[':path']).toBe('/p/q?x=1&y=2')
  })

  describe('incoming.host', () => {
    /** The status of a GET to host:port, or the error code when it fails. */
    async function get (host, port) {
      const res = await request(port, { host, method: 'GET', settled: true })
      return res.error ? res.error.code : res.status
    }

    test('default "::" serves IPv4 and IPv6 (dual stack)', async () => {
      const plugin = new Impl({
        incoming: { port: 0, staticToken: INCOMING_TOKEN },
        outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'x' }
      })
      plugins.push(plugin)
      await plugin.connect()
      expect(await get('127.0.0.1', plugin.port)).toBe(200)
      expect(await get('::1', plugin.port)).toBe(200)
    })

    test('"127.0.0.1" serves IPv4 only', async () => {
      const { plugin } = await start(Impl, { outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'x' } })
      expect(await get('127.0.0.1', plugin.port)).toBe(200)
      expect(await get('::1', plugin.port)).toBe('ECONNREFUSED')
    })

    test('"::1" serves IPv6 loopback only', async () => {
      const { plugin } = await start(Impl, { incoming: { host: '::1' }, outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'x' } })
      expect(await get('::1', plugin.port)).toBe(200)
      expect(await get('127.0.0.1', plugin.port)).toBe('ECONNREFUSED')
    })
  })

  describe('logging', () => {
    // A handler returning a string is logged at error level (see server.test.js).
    async function triggerErrorLog (plugin, port) {
      plugin.registerDataHandler(() => 'not a buffer')
      const res = await post(port, makePrepare(), 'Bearer ' + INCOMING_TOKEN)
      expect(res.status).toBe(500)
    }

    test('opts._log is used when api.log is absent', async () => {
      const { log, lines } = makeLog()
      const { plugin, port } = await start(Impl, { _log: log, outgoing: { url: UNUSED_OUTGOING_URL, staticToken: MODERN_STATIC } })
      await triggerErrorLog(plugin, port)
      expect(lines.error.length).toBeGreaterThanOrEqual(1)
    })

    test('api.log is preferred over opts._log', async () => {
      const api = makeLog()
      const opt = makeLog()
      const { plugin, port } = await start(Impl, { api: { log: api.log }, _log: opt.log, outgoing: { url: UNUSED_OUTGOING_URL, staticToken: MODERN_STATIC } })
      await triggerErrorLog(plugin, port)
      expect(api.lines.error.length).toBeGreaterThanOrEqual(1)
      expect(opt.lines.all).toEqual([])
    })

    test('no secret appears in any log line (connect, bad auth, errors, sendData failures, disconnect)', async () => {
      const { log, lines } = makeLog()
      const peer = await startRawPeer((req, res) => {
        res.writeHead(500)
        res.end('nope')
      })
      cleanups.push(peer.close)
      const { plugin, port } = await start(Impl, {
        api: { log },
        incoming: { jwtSecret: LEGACY_JWT, staticToken: INCOMING_TOKEN },
        outgoing: { url: peer.url + '/ilp', jwtSecret: MODERN_JWT, staticToken: MODERN_STATIC }
      })
      await triggerErrorLog(plugin, port)
      expect((await post(port, makePrepare(), 'Bearer ' + LEGACY_STATIC)).status).toBe(401)
      expect((await post(port, makePrepare(), 'Bearer ' + jwt.sign({}, 'wrong', { expiresIn: 30 }))).status).toBe(401)
      await expect(plugin.sendData(makePrepare())).rejects.toThrow('failed to fetch. code=500')
      await plugin.disconnect()
      const text = lines.all.map((l) => l.text).join('\n')
      for (const secret of SECRETS) expect(text).not.toContain(secret)
    })
  })

  describe('valid edge values do not throw', () => {
    test.each([
      ['port 0', { incoming: { port: 0 } }],
      ['port 65535', { incoming: { port: 65535 } }],
      ['jwtExpiry 0', { outgoing: { jwtSecret: 's', jwtExpiry: 0 } }],
      ['tokenExpiry 0', { outgoing: { secret: 's', tokenExpiry: 0 } }],
      ['http2 true', { outgoing: { http2: true } }],
      ['http2MaxRequestsPerSession 1', { outgoing: { http2: true, http2MaxRequestsPerSession: 1 } }],
      ['name "alice"', { outgoing: { name: 'alice' } }],
      ['multiDelimiter "{peer}"', { multi: true, multiDelimiter: '{peer}', outgoing: { url: 'http://127.0.0.1/{peer}' } }],
      ['https URL', { outgoing: { url: 'https://example.com/ilp?x=1' } }],
      ['IPv6 URL', { outgoing: { url: 'http://[::1]:8080/ilp' } }],
      ['ildcp given', { multi: true, ildcp: { clientAddress: 'test.parent', assetCode: 'XRP', assetScale: 9 } }],
      ['opts._store and opts._log', { _store: {}, _log: makeLog().log }]
    ])('%s', (_, overrides) => {
      const opts = {
        ...overrides,
        incoming: { port: 0, staticToken: INCOMING_TOKEN, ...overrides.incoming },
        outgoing: { url: 'http://127.0.0.1/ilp', staticToken: MODERN_STATIC, ...overrides.outgoing }
      }
      expect(() => new Impl(opts)).not.toThrow()
    })
  })
})

/** Options that are valid except for what a case overrides. */
function base () {
  return {
    incoming: { port: 0, staticToken: INCOMING_TOKEN },
    outgoing: { url: 'http://127.0.0.1/ilp', staticToken: MODERN_STATIC, jwtSecret: MODERN_JWT }
  }
}

function withIncoming (fields) {
  const o = base()
  o.incoming = { ...o.incoming, ...fields }
  return o
}

function withOutgoing (fields) {
  const o = base()
  o.outgoing = { ...o.outgoing, ...fields }
  return o
}

function without (side, key) {
  const o = base()
  delete o[side][key]
  return o
}

/** [description, () => options, pattern the message must match] */
const BAD_OPTIONS = [
  ['missing incoming', () => { const o = base(); delete o.incoming; return o }, /incoming/],
  ['incoming not an object', () => ({ ...base(), incoming: 'x' }), /incoming/],
  ['missing incoming.port', () => without('incoming', 'port'), /port/],
  ['incoming.port -1', () => withIncoming({ port: -1 }), /port/],
  ['incoming.port 70000', () => withIncoming({ port: 70000 }), /port/],
  ['incoming.port 65536', () => withIncoming({ port: 65536 }), /port/],
  ['incoming.port 1.5', () => withIncoming({ port: 1.5 }), /port/],
  ['incoming.port "80"', () => withIncoming({ port: '80' }), /port/],
  ['incoming.port NaN', () => withIncoming({ port: NaN }), /port/],
  ['incoming.port null', () => withIncoming({ port: null }), /port/],
  ['incoming.host not a string', () => withIncoming({ host: 5 }), /host/],
  ['missing outgoing', () => { const o = base(); delete o.outgoing; return o }, /outgoing/],
  ['outgoing not an object', () => ({ ...base(), outgoing: 42 }), /outgoing/],
  ['missing outgoing.url', () => without('outgoing', 'url'), /url/],
  ['outgoing.url "not a url"', () => withOutgoing({ url: 'not a url' }), /url/],
  ['outgoing.url with ftp:// scheme', () => withOutgoing({ url: 'ftp://127.0.0.1/ilp' }), /url/],
  ['outgoing.url a number', () => withOutgoing({ url: 42 }), /url/],
  ['outgoing.url empty string', () => withOutgoing({ url: '' }), /url/],
  ['no auth on the incoming side', () => ({ ...base(), incoming: { port: 0 } }), /invalid auth options/],
  ['no auth on the outgoing side', () => ({ ...base(), outgoing: { url: 'http://127.0.0.1/ilp' } }), /invalid auth options/],
  ['incoming.staticToken a number', () => ({ ...base(), incoming: { port: 0, staticToken: 12345 } }), /staticToken/],
  ['incoming.secretToken a number', () => withIncoming({ secretToken: 12345 }), /secretToken/],
  ['outgoing.staticToken a number', () => ({ ...base(), outgoing: { url: 'http://127.0.0.1/ilp', staticToken: 12345 } }), /staticToken/],
  ['outgoing.secretToken a number', () => withOutgoing({ secretToken: 12345 }), /secretToken/],
  ['incoming.jwtSecret a number', () => withIncoming({ jwtSecret: 12345 }), /jwtSecret/],
  ['incoming.secret a number', () => withIncoming({ secret: 12345 }), /secret/],
  ['outgoing.jwtSecret a number', () => ({ ...base(), outgoing: { url: 'http://127.0.0.1/ilp', jwtSecret: 12345 } }), /jwtSecret/],
  ['outgoing.jwtSecret an object', () => withOutgoing({ jwtSecret: { a: 1 } }), /jwtSecret/],
  ['outgoing.secret a number', () => withOutgoing({ secret: 12345 }), /secret/],
  ['outgoing.jwtExpiry negative', () => withOutgoing({ jwtExpiry: -1 }), /jwtExpiry/],
  ['outgoing.jwtExpiry a string', () => withOutgoing({ jwtExpiry: '30000' }), /jwtExpiry/],
  ['outgoing.jwtExpiry NaN', () => withOutgoing({ jwtExpiry: NaN }), /jwtExpiry/],
  ['outgoing.tokenExpiry negative', () => withOutgoing({ tokenExpiry: -5 }), /tokenExpiry/],
  ['outgoing.http2 "yes"', () => withOutgoing({ http2: 'yes' }), /http2/],
  ['outgoing.http2 1', () => withOutgoing({ http2: 1 }), /http2/],
  ['outgoing.http2MaxRequestsPerSession -1', () => withOutgoing({ http2: true, http2MaxRequestsPerSession: -1 }), /http2MaxRequestsPerSession/],
  ['outgoing.http2MaxRequestsPerSession "ten"', () => withOutgoing({ http2: true, http2MaxRequestsPerSession: 'ten' }), /http2MaxRequestsPerSession/],
  ['outgoing.name containing "\\n"', () => withOutgoing({ name: 'ali\nce' }), /name/],
  ['outgoing.name containing "\\r\\n" (header injection)', () => withOutgoing({ name: 'a\r\nX-Evil: 1' }), /name/],
  ['outgoing.name a number', () => withOutgoing({ name: 42 }), /name/],
  ['outgoing.sendIlpDestination "yes"', () => withOutgoing({ sendIlpDestination: 'yes' }), /sendIlpDestination/],
  ['multi "yes"', () => ({ ...base(), multi: 'yes' }), /multi/],
  ['multiDelimiter empty string', () => ({ ...base(), multi: true, multiDelimiter: '' }), /multiDelimiter/],
  ['multiDelimiter a number', () => ({ ...base(), multi: true, multiDelimiter: 5 }), /multiDelimiter/],
  ['ildcp not an object', () => ({ ...base(), multi: true, ildcp: 'test.parent' }), /ildcp/]
]

describe('ours: constructor validation', () => {
  test.each([
    ['undefined', undefined],
    ['null', null],
    ['a string', 'options'],
    ['a number', 42]
  ])('opts %s -> throws', (_, opts) => {
    expect(() => new PluginHttp(opts)).toThrow(/option/i)
  })

  test.each(BAD_OPTIONS)('%s -> throws at construction naming the option', (_, make, pattern) => {
    let error
    try {
      const plugin = new PluginHttp(make())
      plugins.push(plugin)
    } catch (err) {
      error = err
    }
    // The addon's errors come from Node's realm, not jest's sandbox: check the brand, not instanceof.
    expect(Object.prototype.toString.call(error)).toBe('[object Error]')
    expect(error.message).toMatch(pattern)
    for (const secret of SECRETS) expect(error.message).not.toContain(secret)
  })
})

describe('1.6.1-compatible constructor behaviour', () => {
  test.each(IMPLS)('%s: no auth on the incoming side -> "invalid auth options"', (_, Impl) => {
    expect(() => new Impl({ ...base(), incoming: { port: 0 } })).toThrow('invalid auth options')
  })

  test.each(IMPLS)('%s: no auth on the outgoing side -> "invalid auth options"', (_, Impl) => {
    expect(() => new Impl({ ...base(), outgoing: { url: 'http://127.0.0.1/ilp' } })).toThrow('invalid auth options')
  })

  test.each(IMPLS)('%s: empty-string token and secret count as no auth -> throws', (_, Impl) => {
    expect(() => new Impl({ ...base(), incoming: { port: 0, staticToken: '', jwtSecret: '' } })).toThrow()
    expect(() => new Impl({ ...base(), outgoing: { url: 'http://127.0.0.1/ilp', staticToken: '' } })).toThrow()
  })

  test.each(IMPLS)('%s: a JWT secret alone or a static token alone is enough', (_, Impl) => {
    expect(() => new Impl({ incoming: { port: 0, jwtSecret: 'a' }, outgoing: { url: 'http://127.0.0.1/', jwtSecret: 'b' } })).not.toThrow()
    expect(() => new Impl({ incoming: { port: 0, secret: 'a' }, outgoing: { url: 'http://127.0.0.1/', secret: 'b' } })).not.toThrow()
    expect(() => new Impl({ incoming: { port: 0, secretToken: 'a' }, outgoing: { url: 'http://127.0.0.1/', secretToken: 'b' } })).not.toThrow()
  })

  test('1.6.1 throws for a missing incoming (raw TypeError), like ours (named)', () => {
    expect(() => new OriginalPluginHttp({ outgoing: base().outgoing })).toThrow(TypeError)
  })
})
