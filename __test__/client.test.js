'use strict'
// The outgoing side (sendData) against raw Node HTTP peers: the exact request on the wire,
// how answers and transport failures map to results and ILP error codes, expiry, response
// size limits, JWT signing and connection reuse.
//
// Shared behaviour runs against ours and ilp-plugin-http 1.6.1; FIX behaviour (error codes,
// expiry, body limit, concurrent JWT) runs against ours only.
const crypto = require('crypto')
const jwt = require('jsonwebtoken')
const IlpPacket = require('ilp-packet')
const {
  PluginHttp,
  IMPLS,
  MAX_RESPONSE_LENGTH,
  makePrepare,
  freePort,
  startRawPeer,
  startTcpPeer,
  disconnectAll,
  runCleanups,
  rejectionOf,
  sleep
} = require('./support')

const PATH = '/some/path?x=1&y=2'

// Secrets used in the failure cases; none of them may show up in an error message.
const LEAK_STATIC = 'st4tic-T0ken-q9Zx'
const LEAK_JWT_SECRET = 'jwt-s3cret-Lm7w'

const plugins = []
const cleanups = []

afterEach(async () => {
  await disconnectAll(plugins.splice(0))
  await runCleanups(cleanups.splice(0))
})

/** A connected client plugin posting to `url`. Its incoming port is a free, non-zero port. */
async function startClient (Impl, outgoing, { incomingPort } = {}) {
  const port = incomingPort || await freePort()
  const plugin = new Impl({
    incoming: { port, host: '127.0.0.1', staticToken: 'incoming-unused-token' },
    outgoing
  })
  plugins.push(plugin)
  await plugin.connect()
  return { plugin, port }
}

/** startRawPeer (it also counts accepted connections), torn down after the test. */
async function rawPeer (handler) {
  const peer = await startRawPeer(handler)
  cleanups.push(peer.close)
  return peer
}

/** A TCP server that accepts connections and never answers; `received` holds what it got. */
async function silentPeer () {
  const received = []
  const peer = await startTcpPeer((socket) => socket.on('data', (d) => received.push(d)))
  cleanups.push(peer.close)
  return { port: peer.port, url: `http://127.0.0.1:${peer.port}`, received }
}

/** Answers `status` with `body`, with Content-Length or chunked. */
function answer (res, status, body, { chunked = false } = {}) {
  if (!chunked) {
    res.writeHead(status, { 'content-type': 'application/octet-stream', 'content-length': body.length })
    res.end(body)
    return
  }
  res.writeHead(status, { 'content-type': 'application/octet-stream' })
  for (let i = 0; i < body.length; i += 4096) res.write(body.subarray(i, i + 4096))
  res.end()
}

function verifyJwt (token, secret) {
  return jwt.verify(token, secret, { algorithms: ['HS256'] })
}

describe.each(IMPLS)('%s: the request on the wire', (name, Impl) => {
  test('POST to the URL with path and query kept, exact body bytes, Content-Type', async () => {
    const peer = await rawPeer((req, res) => answer(res, 200, Buffer.from('ok')))
    const { plugin } = await startClient(Impl, { url: peer.url + PATH, staticToken: 'tok' })
    const prepare = makePrepare({ data: crypto.randomBytes(1000) })
    await plugin.sendData(prepare)
    expect(peer.requests).toHaveLength(1)
    const req = peer.requests[0]
    expect(req.method).toBe('POST')
    expect(req.url).toBe(PATH)
    expect(req.headers['content-type']).toBe('application/ilp+octet-stream')
    expect(req.body.equals(prepare)).toBe(true)
    expect(req.body.length).toBe(prepare.length)
  })

  test('static token: Authorization is exactly "Bearer tok"', async () => {
    const peer = await rawPeer((req, res) => answer(res, 200, Buffer.from('ok')))
    const { plugin } = await startClient(Impl, { url: peer.url + PATH, staticToken: 'tok' })
    await plugin.sendData(makePrepare())
    expect(peer.requests[0].headers.authorization).toBe('Bearer tok')
  })

  test('legacy outgoing.secretToken: Authorization is the bare token "tok"', async () => {
    const peer = await rawPeer((req, res) => answer(res, 200, Buffer.from('ok')))
    const { plugin } = await startClient(Impl, { url: peer.url + PATH, secretToken: 'tok' })
    await plugin.sendData(makePrepare())
    expect(peer.requests[0].headers.authorization).toBe('tok')
  })

  test('JWT: Authorization is "Bearer <jwt>", HS256, {iat, exp}, exp - iat = floor(jwtExpiry / 1000)', async () => {
    const secret = 'shared-jwt-secret'
    const peer = await rawPeer((req, res) => answer(res, 200, Buffer.from('ok')))
    const { plugin } = await startClient(Impl, { url: peer.url + PATH, jwtSecret: secret, jwtExpiry: 45500 })
    const before = Math.floor(Date.now() / 1000)
    await plugin.sendData(makePrepare())
    const after = Math.floor(Date.now() / 1000)
    const auth = peer.requests[0].headers.authorization
    expect(auth).toMatch(/^Bearer [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/)
    const token = auth.slice('Bearer '.length)
    const payload = verifyJwt(token, secret)
    const decoded = jwt.decode(token, { complete: true })
    expect(decoded.header.alg).toBe('HS256')
    expect(typeof payload.iat).toBe('number')
    expect(typeof payload.exp).toBe('number')
    expect(payload.exp - payload.iat).toBe(45)
    expect(payload.iat).toBeGreaterThanOrEqual(before - 1)
    expect(payload.iat).toBeLessThanOrEqual(after + 1)
    expect(() => jwt.verify(token, 'wrong-secret', { algorithms: ['HS256'] })).toThrow()
  })

  test('JWT with the default expiry: exp - iat = 30', async () => {
    const secret = 'shared-jwt-secret'
    const peer = await rawPeer((req, res) => answer(res, 200, Buffer.from('ok')))
    const { plugin } = await startClient(Impl, { url: peer.url, jwtSecret: secret })
    await plugin.sendData(makePrepare())
    const token = peer.requests[0].headers.authorization.slice('Bearer '.length)
    const payload = verifyJwt(token, secret)
    expect(payload.exp - payload.iat).toBe(30)
  })

  test('legacy outgoing.secret: Authorization is the bare JWT (legacy tokenExpiry wins over jwtExpiry)', async () => {
    const secret = 'legacy-jwt-secret'
    const peer = await rawPeer((req, res) => answer(res, 200, Buffer.from('ok')))
    const { plugin } = await startClient(Impl, { url: peer.url, secret, tokenExpiry: 10000, jwtExpiry: 60000 })
    await plugin.sendData(makePrepare())
    const auth = peer.requests[0].headers.authorization
    expect(auth.startsWith('Bearer ')).toBe(false)
    expect(auth).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/)
    const payload = verifyJwt(auth, secret)
    expect(jwt.decode(auth, { complete: true }).header.alg).toBe('HS256')
    expect(payload.exp - payload.iat).toBe(10)
  })

  test('ILP-Peer-Name defaults to String(incoming.port)', async () => {
    const peer = await rawPeer((req, res) => answer(res, 200, Buffer.from('ok')))
    const { plugin, port } = await startClient(Impl, { url: peer.url, staticToken: 'tok' })
    await plugin.sendData(makePrepare())
    expect(peer.requests[0].headers['ilp-peer-name']).toBe(String(port))
  })

  test('ILP-Peer-Name is outgoing.name when given', async () => {
    const peer = await rawPeer((req, res) => answer(res, 200, Buffer.from('ok')))
    const { plugin } = await startClient(Impl, { url: peer.url, staticToken: 'tok', name: 'alice-node_1' })
    await plugin.sendData(makePrepare())
    expect(peer.requests[0].headers['ilp-peer-name']).toBe('alice-node_1')
  })

  test('ILP-Destination is absent by default', async () => {
    const peer = await rawPeer((req, res) => answer(res, 200, Buffer.from('ok')))
    const { plugin } = await startClient(Impl, { url: peer.url, staticToken: 'tok' })
    await plugin.sendData(makePrepare({ destination: 'test.bob.carl' }))
    expect(peer.requests[0].headers).not.toHaveProperty('ilp-destination')
  })

  test('ILP-Destination is the Prepare destination with sendIlpDestination: true', async () => {
    const peer = await rawPeer((req, res) => answer(res, 200, Buffer.from('ok')))
    const { plugin } = await startClient(Impl, { url: peer.url, staticToken: 'tok', sendIlpDestination: true })
    const prepare = makePrepare({ destination: 'test.bob.carl~x_y-z', data: crypto.randomBytes(64) })
    await plugin.sendData(prepare)
    const req = peer.requests[0]
    expect(req.headers['ilp-destination']).toBe('test.bob.carl~x_y-z')
    expect(req.body.equals(prepare)).toBe(true)
  })

  test('the request carries exactly the expected set of ILP headers', async () => {
    const peer = await rawPeer((req, res) => answer(res, 200, Buffer.from('ok')))
    const { plugin } = await startClient(Impl, { url: peer.url, staticToken: 'tok', name: 'n1', sendIlpDestination: true })
    const prepare = makePrepare({ destination: 'test.d' })
    await plugin.sendData(prepare)
    const h = peer.requests[0].headers
    expect(h.authorization).toBe('Bearer tok')
    expect(h['content-type']).toBe('application/ilp+octet-stream')
    expect(h['ilp-peer-name']).toBe('n1')
    expect(h['ilp-destination']).toBe('test.d')
    // the body framing is consistent with the bytes received
    if (h['content-length'] !== undefined) expect(Number(h['content-length'])).toBe(prepare.length)
  })
})

describe.each(IMPLS)('%s: answers', (name, Impl) => {
  test.each([200, 201])('status %i resolves with the exact body bytes', async (status) => {
    const body = crypto.randomBytes(3000)
    const peer = await rawPeer((req, res) => answer(res, status, body))
    const { plugin } = await startClient(Impl, { url: peer.url, staticToken: 'tok' })
    const result = await plugin.sendData(makePrepare())
    expect(Buffer.isBuffer(result)).toBe(true)
    expect(result.equals(body)).toBe(true)
  })

  test('status 204 resolves with an empty Buffer', async () => {
    const peer = await rawPeer((req, res) => { res.writeHead(204); res.end() })
    const { plugin } = await startClient(Impl, { url: peer.url, staticToken: 'tok' })
    const result = await plugin.sendData(makePrepare())
    expect(Buffer.isBuffer(result)).toBe(true)
    expect(result.length).toBe(0)
  })

  test.each([
    ['with Content-Length', false],
    ['chunked', true]
  ])('a response body of exactly 41,997 bytes (%s) resolves byte-exact', async (label, chunked) => {
    const body = crypto.randomBytes(MAX_RESPONSE_LENGTH)
    const peer = await rawPeer((req, res) => answer(res, 200, body, { chunked }))
    const { plugin } = await startClient(Impl, { url: peer.url, staticToken: 'tok' })
    const result = await plugin.sendData(makePrepare())
    expect(result.length).toBe(MAX_RESPONSE_LENGTH)
    expect(result.equals(body)).toBe(true)
  })

  test.each([404, 400, 500, 503])('status %i rejects "failed to fetch. code=<status>"', async (status) => {
    const peer = await rawPeer((req, res) => answer(res, status, Buffer.from('nope')))
    const { plugin } = await startClient(Impl, { url: peer.url, staticToken: 'tok' })
    const err = await rejectionOf(plugin.sendData(makePrepare()))
    expect(err).toBeInstanceOf(Error)
    expect(err.message).toBe(`failed to fetch. code=${status}`)
  })

  test('connection refused rejects', async () => {
    const port = await freePort()
    const { plugin } = await startClient(Impl, { url: `http://127.0.0.1:${port}/`, staticToken: 'tok' })
    const err = await rejectionOf(plugin.sendData(makePrepare()))
    expect(err).toBeInstanceOf(Error)
  })

  test('JWT: consecutive calls within half the lifetime reuse the same token', async () => {
    const secret = 'reuse-secret'
    const peer = await rawPeer((req, res) => answer(res, 200, Buffer.from('ok')))
    const { plugin } = await startClient(Impl, { url: peer.url, jwtSecret: secret, jwtExpiry: 30000 })
    for (let i = 0; i < 5; i++) await plugin.sendData(makePrepare())
    const auths = peer.requests.map((r) => r.headers.authorization)
    expect(auths).toHaveLength(5)
    expect(new Set(auths).size).toBe(1)
    verifyJwt(auths[0].slice('Bearer '.length), secret)
  })

  test('JWT: the token is re-signed so that it is never sent expired', async () => {
    const secret = 'resign-secret'
    const verdicts = []
    const peer = await rawPeer((req, res) => {
      const token = req.headers.authorization.slice('Bearer '.length)
      try {
        const payload = verifyJwt(token, secret)
        verdicts.push({ ok: true, token, payload })
      } catch (e) {
        verdicts.push({ ok: false, token, error: e.message })
      }
      answer(res, 200, Buffer.from('ok'))
    })
    const { plugin } = await startClient(Impl, { url: peer.url, jwtSecret: secret, jwtExpiry: 2000 })
    await plugin.sendData(makePrepare())
    await sleep(1100)
    await plugin.sendData(makePrepare())
    await sleep(1100)
    await plugin.sendData(makePrepare())
    expect(verdicts).toHaveLength(3)
    for (const v of verdicts) {
      expect(v).toMatchObject({ ok: true })
      expect(v.payload.exp - v.payload.iat).toBe(2)
    }
  })

  test('keep-alive: 20 sequential calls use fewer than 20 connections', async () => {
    const peer = await rawPeer((req, res) => answer(res, 200, Buffer.from('ok')))
    const { plugin } = await startClient(Impl, { url: peer.url, staticToken: 'tok' })
    for (let i = 0; i < 20; i++) {
      const result = await plugin.sendData(makePrepare())
      expect(result.toString()).toBe('ok')
    }
    expect(peer.requests).toHaveLength(20)
    expect(peer.connections).toBeGreaterThanOrEqual(1)
    expect(peer.connections).toBeLessThan(20)
  })
})

// ---------------------------------------------------------------------------------------------
// Ours only (FIX behaviour): ILP error codes, expiry, body limit, no secrets in messages.

/** How the client authenticates in the failure table; every secret must stay out of messages. */
const AUTH_KINDS = [
  ['static token', { staticToken: LEAK_STATIC }],
  ['legacy secretToken', { secretToken: LEAK_STATIC }],
  ['JWT', { jwtSecret: LEAK_JWT_SECRET }],
  ['legacy secret (JWT)', { secret: LEAK_JWT_SECRET }],
  ['JWT with a static token too', { jwtSecret: LEAK_JWT_SECRET, staticToken: LEAK_STATIC }]
]

/**
 * Failure cases. `setup()` returns `{ url, requests? }`; `data()` the bytes to send;
 * `expectMessage` exact string or RegExp; `noRequest` means the peer must see no request.
 */
const FAILURES = [
  {
    name: 'status 404 -> F00',
    setup: () => rawPeer((req, res) => answer(res, 404, Buffer.from('not found'))),
    code: 'F00',
    expectMessage: 'failed to fetch. code=404'
  },
  {
    name: 'status 400 -> F00',
    setup: () => rawPeer((req, res) => answer(res, 400, Buffer.from('bad request'))),
    code: 'F00',
    expectMessage: 'failed to fetch. code=400'
  },
  {
    name: 'status 500 -> T00',
    setup: () => rawPeer((req, res) => answer(res, 500, Buffer.from('oops'))),
    code: 'T00',
    expectMessage: 'failed to fetch. code=500'
  },
  {
    name: 'status 503 -> T00',
    setup: () => rawPeer((req, res) => answer(res, 503, Buffer.from('busy'))),
    code: 'T00',
    expectMessage: 'failed to fetch. code=503'
  },
  {
    name: 'connection refused -> T01',
    setup: async () => ({ url: `http://127.0.0.1:${await freePort()}` }),
    code: 'T01'
  },
  {
    name: 'peer destroys the socket without answering -> T01',
    setup: () => rawPeer((req) => { req.socket.destroy() }),
    code: 'T01'
  },
  {
    name: 'peer destroys the socket in the middle of the response body -> T01',
    setup: () => rawPeer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 1000 })
      res.write(Buffer.alloc(100, 1))
      setTimeout(() => req.socket.destroy(), 50)
    }),
    code: 'T01'
  },
  {
    name: 'response body of 41,998 bytes with Content-Length -> T01 too large',
    setup: () => rawPeer((req, res) => answer(res, 200, crypto.randomBytes(MAX_RESPONSE_LENGTH + 1))),
    code: 'T01',
    expectMessage: /too large/
  },
  {
    name: 'chunked response body of 41,998 bytes -> T01 too large',
    setup: () => rawPeer((req, res) => answer(res, 200, crypto.randomBytes(MAX_RESPONSE_LENGTH + 1), { chunked: true })),
    code: 'T01',
    expectMessage: /too large/
  },
  {
    name: 'chunked response body of 1 MiB -> T01 too large',
    setup: () => rawPeer((req, res) => answer(res, 200, Buffer.alloc(1024 * 1024, 7), { chunked: true })),
    code: 'T01',
    expectMessage: /too large/
  },
  {
    name: 'peer accepts TCP and never answers -> R00 at about the expiry',
    setup: () => silentPeer(),
    expiresInMs: 700,
    code: 'R00'
  },
  {
    name: 'already expired Prepare -> R00, nothing sent',
    setup: () => rawPeer((req, res) => answer(res, 200, Buffer.from('ok'))),
    data: () => makePrepare({ expiresAt: new Date(Date.now() - 1000) }),
    code: 'R00',
    noRequest: true
  },
  {
    name: 'data that is not an ILP Prepare -> F01, nothing sent',
    setup: () => rawPeer((req, res) => answer(res, 200, Buffer.from('ok'))),
    data: () => Buffer.from('hello'),
    code: 'F01',
    noRequest: true
  },
  {
    name: 'a Fulfill instead of a Prepare -> F01, nothing sent',
    setup: () => rawPeer((req, res) => answer(res, 200, Buffer.from('ok'))),
    data: () => IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.alloc(32), data: Buffer.alloc(0) }),
    code: 'F01',
    noRequest: true
  }
]

function expectNoSecrets (err) {
  const text = `${err.message}\n${err.stack}`
  for (const secret of [LEAK_STATIC, LEAK_JWT_SECRET]) {
    expect(text.includes(secret)).toBe(false)
  }
  // a serialized JWT always starts with base64url('{"') = 'eyJ'
  expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]*\./)
}

describe('ours: failures carry ilpErrorCode and never leak secrets', () => {
  describe.each(AUTH_KINDS)('client auth: %s', (authName, auth) => {
    test.each(FAILURES.map((f) => [f.name, f]))('%s', async (caseName, f) => {
      const peer = await f.setup()
      const { plugin } = await startClient(PluginHttp, { url: peer.url + PATH, ...auth })
      const expiresInMs = f.expiresInMs || 30000
      const start = Date.now()
      const data = f.data ? f.data() : makePrepare({ expiresAt: new Date(start + expiresInMs) })
      const err = await rejectionOf(plugin.sendData(data))
      const elapsed = Date.now() - start
      expect(err).toBeInstanceOf(Error)
      expect(err.ilpErrorCode).toBe(f.code)
      if (typeof f.expectMessage === 'string') expect(err.message).toBe(f.expectMessage)
      if (f.expectMessage instanceof RegExp) expect(err.message).toMatch(f.expectMessage)
      expectNoSecrets(err)
      if (f.expiresInMs) {
        expect(elapsed).toBeGreaterThanOrEqual(expiresInMs - 100)
        expect(elapsed).toBeLessThanOrEqual(expiresInMs + 1000)
      }
      if (f.noRequest) {
        await sleep(200)
        expect(peer.requests).toHaveLength(0)
      }
    })
  })
})

describe('ours: more sendData edge cases', () => {
  test('peer that accepts TCP and never answers: rejects R00 within [expiry - 100 ms, expiry + 1000 ms]', async () => {
    const peer = await silentPeer()
    const { plugin } = await startClient(PluginHttp, { url: peer.url, staticToken: 'tok' })
    const start = Date.now()
    const expiresAt = new Date(start + 700)
    const err = await rejectionOf(plugin.sendData(makePrepare({ expiresAt })))
    const elapsed = Date.now() - start
    expect(err.ilpErrorCode).toBe('R00')
    expect(elapsed).toBeGreaterThanOrEqual(600)
    expect(elapsed).toBeLessThanOrEqual(1700)
    // the request did reach the peer: the connection was made and bytes were written
    expect(Buffer.concat(peer.received).toString('latin1')).toMatch(/^POST \/ HTTP\/1\.1\r\n/)
  })

  test('peer that answers after the expiry: R00 at about the expiry, not the late answer', async () => {
    const late = []
    const peer = await rawPeer((req, res) => {
      late.push(setTimeout(() => answer(res, 200, Buffer.from('too late')), 2500))
    })
    cleanups.push(() => late.forEach(clearTimeout))
    const { plugin } = await startClient(PluginHttp, { url: peer.url, staticToken: 'tok' })
    const start = Date.now()
    const err = await rejectionOf(plugin.sendData(makePrepare({ expiresAt: new Date(start + 700) })))
    const elapsed = Date.now() - start
    expect(err.ilpErrorCode).toBe('R00')
    expect(elapsed).toBeGreaterThanOrEqual(600)
    expect(elapsed).toBeLessThanOrEqual(1700)
  })

  test('after a timed-out request the plugin still sends normally', async () => {
    let hang = true
    const peer = await rawPeer((req, res) => {
      if (hang) { hang = false; return } // never answers the first request
      answer(res, 200, Buffer.from('fine'))
    })
    const { plugin } = await startClient(PluginHttp, { url: peer.url, staticToken: 'tok' })
    const err = await rejectionOf(plugin.sendData(makePrepare({ expiresInMs: 500 })))
    expect(err.ilpErrorCode).toBe('R00')
    const result = await plugin.sendData(makePrepare())
    expect(result.toString()).toBe('fine')
  })

  test('after a too-large response the plugin still sends normally', async () => {
    let big = true
    const peer = await rawPeer((req, res) => {
      if (big) { big = false; answer(res, 200, Buffer.alloc(MAX_RESPONSE_LENGTH + 1), { chunked: true }); return }
      answer(res, 200, Buffer.from('fine'))
    })
    const { plugin } = await startClient(PluginHttp, { url: peer.url, staticToken: 'tok' })
    const err = await rejectionOf(plugin.sendData(makePrepare()))
    expect(err.ilpErrorCode).toBe('T01')
    expect(err.message).toMatch(/too large/)
    const result = await plugin.sendData(makePrepare())
    expect(result.toString()).toBe('fine')
  })

  test('not connected: rejects "plugin is not connected." with T01 and sends nothing', async () => {
    const peer = await rawPeer((req, res) => answer(res, 200, Buffer.from('ok')))
    const plugin = new PluginHttp({
      incoming: { port: 0, host: '127.0.0.1', staticToken: 'x' },
      outgoing: { url: peer.url, staticToken: LEAK_STATIC }
    })
    plugins.push(plugin)
    const err = await rejectionOf(plugin.sendData(makePrepare()))
    expect(err.message).toBe('plugin is not connected.')
    expect(err.ilpErrorCode).toBe('T01')
    expectNoSecrets(err)
    expect(peer.requests).toHaveLength(0)
  })

  test.each([
    ['a string', 'hello'],
    ['undefined', undefined],
    ['a plain object', { data: 1 }]
  ])('data that is %s: TypeError with ilpErrorCode F00', async (label, value) => {
    const peer = await rawPeer((req, res) => answer(res, 200, Buffer.from('ok')))
    const { plugin } = await startClient(PluginHttp, { url: peer.url, staticToken: 'tok' })
    const err = await rejectionOf(plugin.sendData(value))
    expect(err).toBeInstanceOf(TypeError)
    expect(err.ilpErrorCode).toBe('F00')
    await sleep(100)
    expect(peer.requests).toHaveLength(0)
  })

  test('a Uint8Array Prepare is sent byte-exact', async () => {
    const peer = await rawPeer((req, res) => answer(res, 200, Buffer.from('ok')))
    const { plugin } = await startClient(PluginHttp, { url: peer.url, staticToken: 'tok' })
    const prepare = makePrepare({ data: crypto.randomBytes(200) })
    const u8 = new Uint8Array(prepare.length + 10)
    u8.set(prepare, 5)
    await plugin.sendData(u8.subarray(5, 5 + prepare.length))
    expect(peer.requests[0].body.equals(prepare)).toBe(true)
  })
})

describe('ours: JWT signing under concurrency', () => {
  test('50 concurrent first sendData calls all carry a valid JWT (never "Bearer undefined")', async () => {
    const secret = 'concurrent-secret'
    const peer = await rawPeer((req, res) => answer(res, 200, Buffer.from('ok')))
    const { plugin } = await startClient(PluginHttp, { url: peer.url, jwtSecret: secret, jwtExpiry: 20000 })
    const results = await Promise.all(Array.from({ length: 50 }, () => plugin.sendData(makePrepare())))
    expect(results.map((r) => r.toString())).toEqual(Array(50).fill('ok'))
    expect(peer.requests).toHaveLength(50)
    for (const req of peer.requests) {
      const auth = req.headers.authorization
      expect(auth).not.toBe('Bearer undefined')
      expect(auth.startsWith('Bearer ')).toBe(true)
      const payload = verifyJwt(auth.slice('Bearer '.length), secret)
      expect(payload.exp - payload.iat).toBe(20)
    }
  })

  test('50 concurrent first calls with legacy secret all carry a valid bare JWT', async () => {
    const secret = 'concurrent-legacy-secret'
    const peer = await rawPeer((req, res) => answer(res, 200, Buffer.from('ok')))
    const { plugin } = await startClient(PluginHttp, { url: peer.url, secret })
    await Promise.all(Array.from({ length: 50 }, () => plugin.sendData(makePrepare())))
    expect(peer.requests).toHaveLength(50)
    for (const req of peer.requests) {
      const auth = req.headers.authorization
      expect(auth).not.toBe('undefined')
      expect(auth.startsWith('Bearer ')).toBe(false)
      const payload = verifyJwt(auth, secret)
      expect(payload.exp - payload.iat).toBe(30)
    }
  })
})
