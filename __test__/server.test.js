'use strict'
// The incoming HTTP server: every row of the status table (health check, 405, 401, 502, 500,
// 504, 413, 200), auth parsing (Bearer prefix, static tokens, JWT rules), exact bodies up to
// the largest valid ILP Prepare, and that the server keeps serving after every bad case.
//
// Shared behaviour runs against ours and ilp-plugin-http 1.6.1; FIX behaviour (HEAD, 405, HS256
// only, `exp` required, rejecting with undefined/null, non-Buffer results, never-settling
// handlers, the 33,857-byte body limit) runs against ours only.
const http = require('http')
const jwt = require('jsonwebtoken')
const IlpPacket = require('ilp-packet')
const {
  PluginHttp,
  IMPLS,
  MAX_DATA_LENGTH,
  MAX_PREPARE_LENGTH,
  MAX_DESTINATION,
  UNUSED_OUTGOING_URL,
  makePrepare,
  makeFulfill,
  makeReject,
  connectAndListen,
  disconnectAll,
  makeLog,
  request,
  sleep
} = require('./support')

const STATIC_TOKEN = 'static-t0ken-Hq8Zr2'
const JWT_SECRET = 'jwt-s3cret-Pn4Vx7'
const JWT_STATIC = 'jwt-side-static-K2m9'
/** Never contacted: these tests only exercise the incoming side. */
const OUTGOING = { url: UNUSED_OUTGOING_URL, staticToken: 'outgoing-unused' }

const FULFILL = makeFulfill(Buffer.from('fulfilled'))

let plugins = []

afterEach(async () => {
  const ps = plugins
  plugins = []
  await disconnectAll(ps)
})

/** A plugin on 127.0.0.1:0 (torn down after the test). */
function create (Impl, { incoming = { staticToken: STATIC_TOKEN }, api, ...rest } = {}) {
  const plugin = new Impl({
    ...rest,
    incoming: { port: 0, host: '127.0.0.1', ...incoming },
    outgoing: OUTGOING
  }, api)
  plugins.push(plugin)
  return plugin
}

/** POST a packet with the given Authorization value (null: no Authorization header). */
function post (port, body, { auth = 'Bearer ' + STATIC_TOKEN, headers = {}, ...rest } = {}) {
  const h = { 'Content-Type': 'application/ilp+octet-stream', ...headers }
  if (auth !== null) h.Authorization = auth
  return request(port, { method: 'POST', body, headers: h, ...rest })
}

/** Asserts that a normal request still gets a 200 with the handler's exact bytes. */
async function expectServing (plugin, port, auth = 'Bearer ' + STATIC_TOKEN) {
  const answer = makeFulfill(Buffer.from('still serving'))
  plugin.registerDataHandler(async () => answer)
  const res = await post(port, makePrepare(), { auth })
  expect(res.status).toBe(200)
  expect(res.body.equals(answer)).toBe(true)
}

function jwtToken (payload = {}, secret = JWT_SECRET, options = { expiresIn: 30 }) {
  return jwt.sign(payload, secret, options)
}

describe.each(IMPLS)('%s: server (shared)', (name, Impl) => {
  describe('health check', () => {
    test.each(['/', '/health', '/some/deep/path?x=1'])('GET %s -> 200 OK text/plain, no auth', async (path) => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      const res = await request(port, { method: 'GET', path })
      expect(res.status).toBe(200)
      expect(res.body.toString()).toBe('OK')
      expect(res.headers['content-type']).toMatch(/^text\/plain\b/)
    })

    test('GET with a wrong Authorization header is still 200 OK', async () => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      const res = await request(port, { method: 'GET', headers: { Authorization: 'Bearer wrong' } })
      expect(res.status).toBe(200)
      expect(res.body.toString()).toBe('OK')
    })

    test('GET does not call the data handler', async () => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      const handler = jest.fn(async () => FULFILL)
      plugin.registerDataHandler(handler)
      const res = await request(port, { method: 'GET', headers: { Authorization: 'Bearer ' + STATIC_TOKEN } })
      expect(res.status).toBe(200)
      expect(res.body.toString()).toBe('OK')
      expect(handler).not.toHaveBeenCalled()
    })
  })

  describe('auth (static token side)', () => {
    let plugin, port, handler
    beforeEach(async () => {
      plugin = create(Impl)
      port = await connectAndListen(plugin)
      handler = jest.fn(async () => FULFILL)
      plugin.registerDataHandler(handler)
    })

    test.each([
      ['Bearer <token>', 'Bearer ' + STATIC_TOKEN],
      ['bare <token>', STATIC_TOKEN]
    ])('%s -> 200', async (_, auth) => {
      const res = await post(port, makePrepare(), { auth })
      expect(res.status).toBe(200)
      expect(res.body.equals(FULFILL)).toBe(true)
      expect(handler).toHaveBeenCalledTimes(1)
    })

    test.each([
      ['missing header', null],
      ['empty header', ''],
      ['wrong token (Bearer)', 'Bearer wrong-token'],
      ['wrong token (bare)', 'wrong-token'],
      ['token with one extra char', 'Bearer ' + STATIC_TOKEN + 'x'],
      ['token missing its last char', 'Bearer ' + STATIC_TOKEN.slice(0, -1)],
      ['lowercase "bearer " prefix (not stripped)', 'bearer ' + STATIC_TOKEN],
      ['"Bearer" with two spaces', 'Bearer  ' + STATIC_TOKEN],
      ['"Bearer" without space', 'Bearer' + STATIC_TOKEN],
      ['a JWT (no JWT secret on this side)', 'Bearer ' + jwtToken({}, STATIC_TOKEN)]
    ])('%s -> 401 invalid authorization, handler not called, still serving', async (_, auth) => {
      const res = await post(port, makePrepare(), { auth })
      expect(res.status).toBe(401)
      expect(res.body.toString()).toBe('invalid authorization')
      expect(handler).not.toHaveBeenCalled()
      await expectServing(plugin, port)
    })

    test('401 is answered before the body is read (1 MiB announced, never sent)', async () => {
      const res = await new Promise((resolve, reject) => {
        const req = http.request({
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/',
          agent: false,
          headers: { Authorization: 'Bearer wrong', 'Content-Length': String(1024 * 1024) }
        }, (res) => {
          const chunks = []
          res.on('data', (c) => chunks.push(c))
          res.on('end', () => {
            clearTimeout(timer)
            resolve({ status: res.statusCode, body: Buffer.concat(chunks) })
            req.destroy()
          })
        })
        req.on('error', () => {})
        req.flushHeaders()
        const timer = setTimeout(() => { reject(new Error('no answer before the body was sent')); req.destroy() }, 5000)
      })
      expect(res.status).toBe(401)
      expect(res.body.toString()).toBe('invalid authorization')
      expect(handler).not.toHaveBeenCalled()
      await expectServing(plugin, port)
    })
  })

  describe('auth (JWT side, also configured with a static token)', () => {
    let plugin, port, handler
    beforeEach(async () => {
      plugin = create(Impl, { incoming: { jwtSecret: JWT_SECRET, staticToken: JWT_STATIC } })
      port = await connectAndListen(plugin)
      handler = jest.fn(async () => FULFILL)
      plugin.registerDataHandler(handler)
    })

    test.each([
      ['Bearer <HS256 JWT with exp>', () => 'Bearer ' + jwtToken()],
      ['bare <HS256 JWT with exp>', () => jwtToken()],
      ['JWT with extra claims', () => 'Bearer ' + jwtToken({ sub: 'alice', aud: 'x' })],
      ['its static token (Bearer)', () => 'Bearer ' + JWT_STATIC],
      ['its static token (bare)', () => JWT_STATIC]
    ])('%s -> 200', async (_, auth) => {
      const res = await post(port, makePrepare(), { auth: auth() })
      expect(res.status).toBe(200)
      expect(res.body.equals(FULFILL)).toBe(true)
      expect(handler).toHaveBeenCalledTimes(1)
    })

    test.each([
      ['missing header', () => null],
      ['wrong JWT secret', () => 'Bearer ' + jwtToken({}, 'not-the-secret')],
      ['expired JWT', () => 'Bearer ' + jwtToken({ exp: Math.floor(Date.now() / 1000) - 10 }, JWT_SECRET, {})],
      ['JWT not valid yet (nbf in the future)', () => 'Bearer ' + jwtToken({}, JWT_SECRET, { expiresIn: 60, notBefore: 30 })],
      ['unsigned JWT (alg none)', () => 'Bearer ' + jwt.sign({ exp: Math.floor(Date.now() / 1000) + 30 }, null, { algorithm: 'none' })],
      ['JWT with a tampered payload', () => {
        const [h, , s] = jwtToken().split('.')
        const payload = Buffer.from(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + 3600 })).toString('base64url')
        return 'Bearer ' + [h, payload, s].join('.')
      }],
      ['garbage', () => 'Bearer a.b.c'],
      ['wrong static token', () => 'Bearer ' + JWT_STATIC + 'x'],
      ['the JWT secret itself', () => 'Bearer ' + JWT_SECRET]
    ])('%s -> 401 invalid authorization, still serving', async (_, auth) => {
      const res = await post(port, makePrepare(), { auth: auth() })
      expect(res.status).toBe(401)
      expect(res.body.toString()).toBe('invalid authorization')
      expect(handler).not.toHaveBeenCalled()
      await expectServing(plugin, port, 'Bearer ' + jwtToken())
    })
  })

  describe('data handler', () => {
    test('no data handler -> 502, still serving', async () => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      const res = await post(port, makePrepare())
      expect(res.status).toBe(502)
      await expectServing(plugin, port)
    })

    test('deregistered data handler -> 502', async () => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      const handler = jest.fn(async () => FULFILL)
      plugin.registerDataHandler(handler)
      plugin.deregisterDataHandler()
      const res = await post(port, makePrepare())
      expect(res.status).toBe(502)
      expect(handler).not.toHaveBeenCalled()
      await expectServing(plugin, port)
    })

    test.each([
      ['throws synchronously', () => { throw new Error('sync boom') }],
      ['rejects with an Error', async () => { throw new Error('async boom') }],
      ['returns Promise.reject(new Error)', () => Promise.reject(new Error('rejected'))]
    ])('handler %s -> 500, still serving', async (_, handler) => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      plugin.registerDataHandler(handler)
      const res = await post(port, makePrepare())
      expect(res.status).toBe(500)
      await expectServing(plugin, port)
    })

    test('synchronous handler returning a Buffer -> 200 with its exact bytes', async () => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      const answer = makeReject({ code: 'F02', message: 'sync answer' })
      plugin.registerDataHandler(() => answer)
      const res = await post(port, makePrepare())
      expect(res.status).toBe(200)
      expect(res.headers['content-type']).toBe('application/octet-stream')
      expect(res.body.equals(answer)).toBe(true)
    })

    test('async handler -> 200 application/octet-stream with its exact bytes', async () => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      plugin.registerDataHandler(async () => {
        await sleep(20)
        return FULFILL
      })
      const res = await post(port, makePrepare())
      expect(res.status).toBe(200)
      expect(res.headers['content-type']).toBe('application/octet-stream')
      expect(Number(res.headers['content-length'] || res.body.length)).toBe(FULFILL.length)
      expect(res.body.equals(FULFILL)).toBe(true)
    })

    test('the handler receives exactly the request bytes (every byte value) and the answer is byte-exact', async () => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      const data = Buffer.alloc(256 * 40)
      for (let i = 0; i < data.length; i++) data[i] = i % 256
      const prepare = makePrepare({ destination: 'test.peer.bob.x', amount: '18446744073709551615', data })
      // A large answer with every byte value, in a valid Reject (41,997 bytes is the largest).
      const answerData = Buffer.alloc(30000)
      for (let i = 0; i < answerData.length; i++) answerData[i] = (i * 7 + 3) % 256
      const answer = makeReject({ code: 'F99', message: 'x'.repeat(8000), data: answerData })
      let received
      plugin.registerDataHandler(async (buf) => {
        received = Buffer.from(buf)
        return answer
      })
      const res = await post(port, prepare)
      expect(res.status).toBe(200)
      expect(received.equals(prepare)).toBe(true)
      expect(res.body.length).toBe(answer.length)
      expect(res.body.equals(answer)).toBe(true)
    })

    test('the handler gets a Buffer', async () => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      let isBuffer
      plugin.registerDataHandler((buf) => {
        isBuffer = Buffer.isBuffer(buf)
        return FULFILL
      })
      const res = await post(port, makePrepare())
      expect(res.status).toBe(200)
      expect(isBuffer).toBe(true)
    })

    test.each([
      ['no Content-Type', undefined],
      ['text/plain', 'text/plain'],
      ['application/json', 'application/json'],
      ['application/octet-stream', 'application/octet-stream'],
      ['application/x-www-form-urlencoded', 'application/x-www-form-urlencoded']
    ])('any request Content-Type is accepted: %s', async (_, contentType) => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      const prepare = makePrepare({ data: Buffer.from('{"a":1}&b=2') })
      let received
      plugin.registerDataHandler(async (buf) => {
        received = Buffer.from(buf)
        return FULFILL
      })
      const headers = { Authorization: 'Bearer ' + STATIC_TOKEN }
      if (contentType) headers['Content-Type'] = contentType
      const res = await request(port, { method: 'POST', headers, body: prepare })
      expect(res.status).toBe(200)
      expect(res.body.equals(FULFILL)).toBe(true)
      expect(received.equals(prepare)).toBe(true)
    })

    test('any POST path is served', async () => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      plugin.registerDataHandler(() => FULFILL)
      const res = await post(port, makePrepare(), { path: '/some/path?q=1' })
      expect(res.status).toBe(200)
      expect(res.body.equals(FULFILL)).toBe(true)
    })

    test('chunked request body (no Content-Length) is read exactly', async () => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      const prepare = makePrepare({ data: Buffer.alloc(20000, 0x5a) })
      let received
      plugin.registerDataHandler(async (buf) => {
        received = Buffer.from(buf)
        return FULFILL
      })
      const res = await post(port, prepare, { chunked: true })
      expect(res.status).toBe(200)
      expect(res.body.equals(FULFILL)).toBe(true)
      expect(received.equals(prepare)).toBe(true)
    })

    test('concurrent requests each get their own answer', async () => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      plugin.registerDataHandler(async (buf) => {
        const { data } = IlpPacket.deserializeIlpPrepare(buf)
        await sleep(Math.floor(Math.random() * 30))
        return makeFulfill(data)
      })
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => {
        const data = Buffer.from('request-' + i)
        return post(port, makePrepare({ data })).then((res) => ({ res, data }))
      }))
      for (const { res, data } of results) {
        expect(res.status).toBe(200)
        expect(res.body.equals(makeFulfill(data))).toBe(true)
      }
    })
  })

  describe('body limit', () => {
    test.each([
      ['33,858 bytes with Content-Length', 33858, false],
      ['33,858 bytes chunked', 33858, true],
      ['1 MiB with Content-Length', 1024 * 1024, false],
      ['1 MiB chunked', 1024 * 1024, true]
    ])('%s -> 413, handler not called, still serving', async (_, size, chunked) => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      const handler = jest.fn(async () => FULFILL)
      plugin.registerDataHandler(handler)
      const res = await post(port, Buffer.alloc(size, 1), { chunked })
      expect(res.status).toBe(413)
      expect(handler).not.toHaveBeenCalled()
      await expectServing(plugin, port)
      // And once more, to be sure nothing is stuck.
      await expectServing(plugin, port)
    })

    test('1 MiB body with no data handler -> 413 (size is checked before the handler)', async () => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      const res = await post(port, Buffer.alloc(1024 * 1024, 1))
      expect(res.status).toBe(413)
      await expectServing(plugin, port)
    })

    test('1 MiB body with bad auth -> 401 (auth is checked before the size)', async () => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      const handler = jest.fn(async () => FULFILL)
      plugin.registerDataHandler(handler)
      const res = await post(port, Buffer.alloc(1024 * 1024, 1), { auth: 'Bearer wrong' })
      expect(res.status).toBe(401)
      expect(handler).not.toHaveBeenCalled()
      await expectServing(plugin, port)
    })
  })

  test('old keep-alive connection after disconnect: the request never reaches the handler (502 or closed)', async () => {
    const plugin = create(Impl)
    const port = await connectAndListen(plugin)
    const handler = jest.fn(async () => FULFILL)
    plugin.registerDataHandler(handler)
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    try {
      const send = () => new Promise((resolve) => {
        const req = http.request({
          host: '127.0.0.1',
          port,
          method: 'POST',
          agent,
          headers: { Authorization: 'Bearer ' + STATIC_TOKEN }
        }, (res) => {
          const chunks = []
          res.on('data', (c) => chunks.push(c))
          res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }))
          res.on('error', (err) => resolve({ error: err }))
        })
        req.on('error', (err) => resolve({ error: err }))
        req.end(makePrepare())
      })
      const first = await send()
      expect(first.status).toBe(200)
      await plugin.disconnect()
      const second = await send()
      if (second.error === undefined) expect(second.status).toBe(502)
      expect(handler).toHaveBeenCalledTimes(1)
    } finally {
      agent.destroy()
    }
  })
})

describe('ours: server (FIX behaviour)', () => {
  const Impl = PluginHttp

  test('HEAD any path -> 200, no body, text/plain, no auth', async () => {
    const plugin = create(Impl)
    const port = await connectAndListen(plugin)
    for (const path of ['/', '/health', '/a/b?c=d']) {
      const res = await request(port, { method: 'HEAD', path })
      expect(res.status).toBe(200)
      expect(res.body.length).toBe(0)
      expect(res.headers['content-type']).toMatch(/^text\/plain\b/)
    }
    await expectServing(plugin, port)
  })

  test.each(['PUT', 'DELETE', 'PATCH', 'OPTIONS'])('%s -> 405 with Allow: GET, HEAD, POST (with or without auth), handler not called', async (method) => {
    const plugin = create(Impl)
    const port = await connectAndListen(plugin)
    const handler = jest.fn(async () => FULFILL)
    plugin.registerDataHandler(handler)
    for (const auth of [undefined, 'Bearer ' + STATIC_TOKEN]) {
      const headers = auth ? { Authorization: auth } : {}
      const res = await request(port, { method, headers, body: makePrepare() })
      expect(res.status).toBe(405)
      expect(res.headers.allow).toBeDefined()
      const allowed = res.headers.allow.split(',').map((m) => m.trim()).sort()
      expect(allowed).toEqual(['GET', 'HEAD', 'POST'])
    }
    expect(handler).not.toHaveBeenCalled()
    await expectServing(plugin, port)
  })

  describe('JWT rules', () => {
    let plugin, port, handler
    beforeEach(async () => {
      plugin = create(Impl, { incoming: { jwtSecret: JWT_SECRET, staticToken: JWT_STATIC } })
      port = await connectAndListen(plugin)
      handler = jest.fn(async () => FULFILL)
      plugin.registerDataHandler(handler)
    })

    test.each([
      ['JWT without exp', () => jwtToken({}, JWT_SECRET, {})],
      ['JWT without exp and without iat', () => jwtToken({}, JWT_SECRET, { noTimestamp: true })],
      ['HS512 JWT (right secret, with exp)', () => jwtToken({}, JWT_SECRET, { algorithm: 'HS512', expiresIn: 30 })],
      ['HS384 JWT (right secret, with exp)', () => jwtToken({}, JWT_SECRET, { algorithm: 'HS384', expiresIn: 30 })]
    ])('%s -> 401 invalid authorization (Bearer and bare), still serving', async (_, token) => {
      const t = token()
      for (const auth of ['Bearer ' + t, t]) {
        const res = await post(port, makePrepare(), { auth })
        expect(res.status).toBe(401)
        expect(res.body.toString()).toBe('invalid authorization')
      }
      expect(handler).not.toHaveBeenCalled()
      await expectServing(plugin, port, 'Bearer ' + jwtToken())
    })

    test('JWT-only side (no static token) accepts an HS256 JWT with exp, rejects without', async () => {
      const only = create(Impl, { incoming: { jwtSecret: JWT_SECRET } })
      const onlyPort = await connectAndListen(only)
      only.registerDataHandler(() => FULFILL)
      expect((await post(onlyPort, makePrepare(), { auth: 'Bearer ' + jwtToken() })).status).toBe(200)
      expect((await post(onlyPort, makePrepare(), { auth: jwtToken() })).status).toBe(200)
      expect((await post(onlyPort, makePrepare(), { auth: 'Bearer ' + jwtToken({}, JWT_SECRET, {}) })).status).toBe(401)
      expect((await post(onlyPort, makePrepare(), { auth: 'Bearer ' + JWT_STATIC })).status).toBe(401)
      expect((await post(onlyPort, makePrepare(), { auth: null })).status).toBe(401)
    })
  })

  describe('handler failures', () => {
    test.each([
      ['rejects with undefined', () => Promise.reject(undefined)], // eslint-disable-line prefer-promise-reject-errors
      ['rejects with null', () => Promise.reject(null)], // eslint-disable-line prefer-promise-reject-errors
      ['async throws undefined', async () => { throw undefined }], // eslint-disable-line no-throw-literal
      ['throws a string', () => { throw 'boom' }], // eslint-disable-line no-throw-literal
      ['rejects with a plain object', () => Promise.reject({ message: 'x' })] // eslint-disable-line prefer-promise-reject-errors
    ])('handler %s -> 500, still serving', async (_, handler) => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      plugin.registerDataHandler(handler)
      const res = await post(port, makePrepare())
      expect(res.status).toBe(500)
      await expectServing(plugin, port)
    })

    test.each([
      ['a string', () => 'not a buffer'],
      ['a plain object', () => ({ data: 'x' })],
      ['undefined', () => undefined],
      ['a number', () => 42],
      ['null', () => null],
      ['an array of bytes', () => [1, 2, 3]],
      ['a Promise of a string', async () => 'not a buffer'],
      ['a Promise of undefined', async () => undefined]
    ])('handler returning %s -> 500 and an error log line, still serving', async (_, handler) => {
      const { log, lines } = makeLog()
      const plugin = create(Impl, { api: { log } })
      const port = await connectAndListen(plugin)
      plugin.registerDataHandler(handler)
      const res = await post(port, makePrepare())
      expect(res.status).toBe(500)
      // The body must not be the JSON/text the handler returned (1.6.1 sends that).
      expect(res.body.toString()).not.toContain('not a buffer')
      expect(res.body.toString()).not.toContain('"data"')
      expect(lines.error.length).toBeGreaterThanOrEqual(1)
      expect(lines.error.join('\n')).toMatch(/buffer/i)
      await expectServing(plugin, port)
    })

    test('handler that never settles -> 504 once the Prepare has expired, still serving', async () => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      let called = 0
      plugin.registerDataHandler(() => {
        called++
        return new Promise(() => {})
      })
      const expiresAt = new Date(Date.now() + 1000)
      const res = await post(port, makePrepare({ expiresAt }))
      const answeredAt = Date.now()
      expect(res.status).toBe(504)
      expect(called).toBe(1)
      // Not answered before the Prepare expired (a little slack for millisecond rounding).
      expect(answeredAt).toBeGreaterThanOrEqual(expiresAt.getTime() - 100)
      await expectServing(plugin, port)
    })

    test('two never-settling requests with different expiries are answered 504 independently', async () => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      plugin.registerDataHandler(() => new Promise(() => {}))
      const t0 = Date.now()
      const [a, b] = await Promise.all([
        post(port, makePrepare({ expiresAt: new Date(t0 + 600) })).then((res) => ({ res, at: Date.now() })),
        post(port, makePrepare({ expiresAt: new Date(t0 + 1500) })).then((res) => ({ res, at: Date.now() }))
      ])
      expect(a.res.status).toBe(504)
      expect(b.res.status).toBe(504)
      expect(a.at).toBeLessThan(b.at)
      expect(b.at).toBeGreaterThanOrEqual(t0 + 1500 - 100)
      await expectServing(plugin, port)
    })
  })

  describe('results', () => {
    test('Uint8Array result -> 200 with its exact bytes', async () => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      const answer = makeFulfill(Buffer.from('from a Uint8Array'))
      plugin.registerDataHandler(async () => new Uint8Array(answer))
      const res = await post(port, makePrepare())
      expect(res.status).toBe(200)
      expect(res.headers['content-type']).toBe('application/octet-stream')
      expect(res.body.equals(answer)).toBe(true)
    })

    test('Uint8Array view into a larger buffer -> exactly the viewed bytes', async () => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      const answer = makeFulfill(Buffer.from('viewed'))
      const backing = new Uint8Array(answer.length + 20).fill(0xee)
      backing.set(answer, 10)
      plugin.registerDataHandler(() => new Uint8Array(backing.buffer, 10, answer.length))
      const res = await post(port, makePrepare())
      expect(res.status).toBe(200)
      expect(res.body.equals(answer)).toBe(true)
    })

    test('Buffer slice of a larger buffer -> exactly the slice', async () => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      const answer = makeFulfill(Buffer.from('sliced'))
      const backing = Buffer.concat([Buffer.alloc(7, 0xff), answer, Buffer.alloc(9, 0xff)])
      plugin.registerDataHandler(() => backing.subarray(7, 7 + answer.length))
      const res = await post(port, makePrepare())
      expect(res.status).toBe(200)
      expect(res.body.equals(answer)).toBe(true)
    })

    test('empty Buffer result -> 200 with an empty body', async () => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      plugin.registerDataHandler(() => Buffer.alloc(0))
      const res = await post(port, makePrepare())
      expect(res.status).toBe(200)
      expect(res.body.length).toBe(0)
    })
  })

  describe('body limit', () => {
    test('the largest valid ILP Prepare (33,857 bytes) is accepted and delivered byte-exact (Content-Length and chunked)', async () => {
      const data = Buffer.alloc(MAX_DATA_LENGTH)
      for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 11) % 256
      const prepare = makePrepare({ destination: MAX_DESTINATION, data })
      expect(MAX_DESTINATION.length).toBe(1023)
      expect(prepare.length).toBe(MAX_PREPARE_LENGTH)
      const parsed = IlpPacket.deserializeIlpPrepare(prepare)
      expect(parsed.destination).toBe(MAX_DESTINATION)
      expect(parsed.data.length).toBe(32767)

      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      const received = []
      plugin.registerDataHandler(async (buf) => {
        received.push(Buffer.from(buf))
        return FULFILL
      })
      for (const chunked of [false, true]) {
        const res = await post(port, prepare, { chunked })
        expect(res.status).toBe(200)
        expect(res.body.equals(FULFILL)).toBe(true)
      }
      expect(received.length).toBe(2)
      for (const r of received) expect(r.equals(prepare)).toBe(true)
    })

    test('a body just over 32,767 bytes (the original limit) is accepted', async () => {
      // 32,767 data bytes with a short destination: over 32,767 bytes in total.
      const body = makePrepare({ data: Buffer.alloc(MAX_DATA_LENGTH, 3) })
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      let received
      plugin.registerDataHandler(async (buf) => {
        received = Buffer.from(buf)
        return FULFILL
      })
      expect(body.length).toBeGreaterThan(32767)
      expect(body.length).toBeLessThan(MAX_PREPARE_LENGTH)
      const res = await post(port, body)
      expect(res.status).toBe(200)
      expect(received.equals(body)).toBe(true)
    })

    test('many 413s in a row, then normal service', async () => {
      const plugin = create(Impl)
      const port = await connectAndListen(plugin)
      for (let i = 0; i < 5; i++) {
        const res = await post(port, Buffer.alloc(1024 * 1024, 2), { chunked: i % 2 === 1 })
        expect(res.status).toBe(413)
      }
      await expectServing(plugin, port)
    })
  })

  test('every bad case in a row, then normal service', async () => {
    const { log } = makeLog()
    const plugin = create(Impl, { api: { log } })
    const port = await connectAndListen(plugin)
    const expect413 = async (size, chunked) => expect((await post(port, Buffer.alloc(size), { chunked })).status).toBe(413)
    expect((await request(port, { method: 'PUT' })).status).toBe(405)
    expect((await post(port, makePrepare(), { auth: 'Bearer nope' })).status).toBe(401)
    expect((await post(port, makePrepare())).status).toBe(502)
    plugin.registerDataHandler(() => { throw new Error('x') })
    expect((await post(port, makePrepare())).status).toBe(500)
    plugin.registerDataHandler(() => Promise.reject(null)) // eslint-disable-line prefer-promise-reject-errors
    expect((await post(port, makePrepare())).status).toBe(500)
    plugin.registerDataHandler(() => 'str')
    expect((await post(port, makePrepare())).status).toBe(500)
    plugin.registerDataHandler(() => new Promise(() => {}))
    expect((await post(port, makePrepare({ expiresInMs: 500 }))).status).toBe(504)
    await expect413(33858, false)
    await expect413(33858, true)
    await expect413(1024 * 1024, false)
    await expect413(1024 * 1024, true)
    await expectServing(plugin, port)
  })
})
