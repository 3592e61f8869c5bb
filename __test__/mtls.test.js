'use strict'
// Mutual TLS (RFC 35 recommends TLS client certificates between peers):
// `incoming.tls.clientCa` makes the server require a client certificate issued by that CA
// (verified in the handshake); `outgoing.tls.cert` + `outgoing.tls.key` make the client present
// one (HTTP/1.1 and HTTP/2). With client certificates required a token is optional on both
// sides; a token configured as well is still checked.
//
// - plugin <-> plugin over TLS + HTTP/1.1 and TLS + h2, with and without tokens
// - no client certificate, or one from another CA: refused in the handshake (T01)
// - construction errors: unreadable PEM, key not matching the certificate, half a pair
// - nothing secret (key, tokens) in logs, errors or getAdminInfo()
//
// Certificates come from ./certs.js (server: `leaf` by `ca`; clients: `client` by `ca`,
// `otherClient` by `otherCa`).
const tls = require('tls')
const fs = require('fs')
const os = require('os')
const path = require('path')
const {
  PluginHttp,
  UNUSED_OUTGOING_URL,
  makePrepare,
  makeFulfill,
  makeLog
} = require('./support')
const { getCerts, getClientCerts } = require('./support/certs')

const TOKEN = 'mtls-static-token-Ee7'

let CERTS, CLIENTS, TMP
beforeAll(() => {
  CERTS = getCerts()
  CLIENTS = getClientCerts()
  TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'ilp-mtls-'))
})
afterAll(() => fs.rmSync(TMP, { recursive: true, force: true }))

let cleanups = []
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
  cleanups = []
})


async function mtlsServer ({ incoming = {}, log } = {}) {
  const plugin = new PluginHttp({
    incoming: { port: 0, host: '127.0.0.1', tls: { cert: CERTS.leaf.cert, key: CERTS.leaf.key, clientCa: CERTS.ca.cert }, ...incoming },
    outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'unused' }
  }, { log })
  plugin.registerDataHandler(async (prepare) => makeFulfill(prepare.subarray(0, 16)))
  await plugin.connect()
  cleanups.push(() => plugin.disconnect())
  return plugin
}

async function mtlsClient (server, { http2 = false, client = CLIENTS.client, outgoing = {}, log } = {}) {
  const plugin = new PluginHttp({
    incoming: { port: 0, host: '127.0.0.1', staticToken: 'unused' },
    outgoing: {
      url: `https://localhost:${server.port}/ilp`,
      http2,
      tls: { ca: CERTS.ca.cert, ...(client ? { cert: client.cert, key: client.key } : {}) },
      ...outgoing
    }
  }, { log })
  await plugin.connect()
  cleanups.push(() => plugin.disconnect())
  return plugin
}

const roundTrip = async (plugin) => {
  const prepare = makePrepare()
  expect((await plugin.sendData(prepare)).equals(makeFulfill(prepare.subarray(0, 16)))).toBe(true)
}

describe.each([['TLS + HTTP/1.1', false], ['TLS + h2', true]])('mutual TLS, %s', (name, http2) => {
  test('a client certificate from the configured CA and no token: round trip', async () => {
    const server = await mtlsServer()
    await roundTrip(await mtlsClient(server, { http2 }))
  })

  test('PEM file paths work as well as PEM text', async () => {
    const files = {}
    for (const [key, text] of Object.entries({ ca: CERTS.ca.cert, cert: CLIENTS.client.cert, key: CLIENTS.client.key })) {
      files[key] = path.join(TMP, `${key}.pem`)
      fs.writeFileSync(files[key], text)
    }
    const server = await mtlsServer({ incoming: { tls: { cert: CERTS.leaf.cert, key: CERTS.leaf.key, clientCa: files.ca } } })
    await roundTrip(await mtlsClient(server, { http2, client: { cert: files.cert, key: files.key } }))
  })

  test('no client certificate: refused in the handshake, sendData rejects T01', async () => {
    const server = await mtlsServer()
    const plugin = await mtlsClient(server, { http2, client: null, outgoing: { staticToken: TOKEN } })
    await expect(plugin.sendData(makePrepare({ expiresInMs: 5000 }))).rejects.toMatchObject({ ilpErrorCode: 'T01' })
  })

  test('a client certificate from another CA: refused, T01', async () => {
    const server = await mtlsServer()
    const plugin = await mtlsClient(server, { http2, client: CLIENTS.otherClient })
    await expect(plugin.sendData(makePrepare({ expiresInMs: 5000 }))).rejects.toMatchObject({ ilpErrorCode: 'T01' })
  })

  test('a token configured as well is still checked: right certificate + wrong token gets 401', async () => {
    const server = await mtlsServer({ incoming: { staticToken: TOKEN } })
    await roundTrip(await mtlsClient(server, { http2, outgoing: { staticToken: TOKEN } }))
    const wrong = await mtlsClient(server, { http2, outgoing: { staticToken: TOKEN + 'x' } })
    await expect(wrong.sendData(makePrepare())).rejects.toMatchObject({ message: 'failed to fetch. code=401' })
  })
})

describe('the handshake itself refuses', () => {
  /** Connects with Node's TLS client, sends a health check, and reports what came back. */
  function probe (port, { cert, key } = {}) {
    return new Promise((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: CERTS.ca.cert, cert, key, ALPNProtocols: ['http/1.1'] })
      let data = ''
      let error = null
      socket.on('secureConnect', () => socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'))
      socket.on('data', (chunk) => { data += chunk })
      socket.on('error', (e) => { error = e })
      socket.on('close', () => resolve({ data, error }))
      socket.setTimeout(5000, () => socket.destroy())
    })
  }

  test('without a certificate even the health check gets no HTTP answer; with one it does', async () => {
    const server = await mtlsServer()
    const refused = await probe(server.port)
    expect(refused.data).toBe('')
    expect(refused.error).not.toBeNull()
    const other = await probe(server.port, CLIENTS.otherClient)
    expect(other.data).toBe('')
    const accepted = await probe(server.port, CLIENTS.client)
    expect(accepted.data).toMatch(/^HTTP\/1\.1 200/)
  })
})

describe('options are validated at construction', () => {
  const server = (tlsOptions, incoming = {}) => () => new PluginHttp({
    incoming: { port: 0, tls: { cert: CERTS.leaf.cert, key: CERTS.leaf.key, ...tlsOptions }, ...incoming },
    outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'b' }
  })
  const client = (tlsOptions, outgoing = {}) => () => new PluginHttp({
    incoming: { port: 0, staticToken: 'a' },
    outgoing: { url: 'https://localhost:1/', tls: tlsOptions, ...outgoing }
  })

  // Tables are built before beforeAll runs: each row takes the generated PEMs.
  test.each([
    ['incoming.tls.clientCa unreadable', () => server({ clientCa: '/nonexistent/ca.pem' }), /incoming\.tls\.clientCa/],
    ['incoming.tls.clientCa not PEM', () => server({ clientCa: '-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n' }), /incoming\.tls\.clientCa/],
    ['incoming.tls.clientCa not a string', () => server({ clientCa: 5 }), /incoming\.tls\.clientCa/],
    ['outgoing.tls.cert without key', (c) => client({ cert: c.client.cert }), /outgoing\.tls\.key/],
    ['outgoing.tls.key without cert', (c) => client({ key: c.client.key }), /outgoing\.tls\.cert/],
    ['outgoing.tls.cert unreadable', (c) => client({ cert: '/nonexistent/cert.pem', key: c.client.key }), /outgoing\.tls\.cert/],
    ['outgoing.tls.key not a key', (c) => client({ cert: c.client.cert, key: '-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n' }), /outgoing\.tls\.key/],
    ['outgoing.tls.key not matching the certificate', (c) => client({ cert: c.client.cert, key: c.otherClient.key }), /outgoing\.tls.*(match|do not work together)/]
  ])('%s', (name, construct, message) => {
    expect(construct(CLIENTS)).toThrow(message)
  })

  test('client certificates required and no token: constructs; without client certificates a token is still required', () => {
    expect(() => server({ clientCa: CERTS.ca.cert })()).not.toThrow()
    expect(() => new PluginHttp({
      incoming: { port: 0, tls: { cert: CERTS.leaf.cert, key: CERTS.leaf.key } },
      outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'b' }
    })).toThrow(/invalid auth options/)
    expect(() => new PluginHttp({
      incoming: { port: 0, staticToken: 'a' },
      outgoing: { url: 'https://localhost:1/', tls: { cert: CLIENTS.client.cert, key: CLIENTS.client.key } }
    })).not.toThrow()
    expect(() => new PluginHttp({
      incoming: { port: 0, staticToken: 'a' },
      outgoing: { url: 'https://localhost:1/' }
    })).toThrow(/invalid auth options/)
  })

  test('incoming.tls.clientCa needs the server certificate and key', () => {
    expect(() => new PluginHttp({
      incoming: { port: 0, tls: { clientCa: CERTS.ca.cert } },
      outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'b' }
    })).toThrow(/incoming\.tls\.cert/)
  })
})

test('nothing secret reaches logs, errors or getAdminInfo()', async () => {
  const serverLog = makeLog()
  const clientLog = makeLog()
  const server = await mtlsServer({ log: serverLog.log, incoming: { staticToken: TOKEN } })
  const good = await mtlsClient(server, { log: clientLog.log, outgoing: { staticToken: TOKEN } })
  await roundTrip(good)
  const errors = []
  for (const client of [null, CLIENTS.otherClient]) {
    const bad = await mtlsClient(server, { log: clientLog.log, client, outgoing: { staticToken: TOKEN } })
    errors.push(await bad.sendData(makePrepare({ expiresInMs: 5000 })).catch((e) => e.message))
  }
  for (const http2 of [false, true]) {
    const bad = await mtlsClient(server, { http2, log: clientLog.log, client: CLIENTS.otherClient, outgoing: { staticToken: TOKEN } })
    errors.push(await bad.sendData(makePrepare({ expiresInMs: 5000 })).catch((e) => e.message))
  }
  const admin = JSON.stringify([server.getAdminInfo(), good.getAdminInfo()])
  expect(good.getAdminInfo().config.outgoing.tls).toMatchObject({ clientCertificate: true })
  expect(server.getAdminInfo().config.incoming.tls).toMatchObject({ clientCertificates: 'required' })
  const keyBody = (pem) => pem.split('\n').filter((line) => line && !line.startsWith('-----')).slice(0, 3).join('')
  const logged = [...serverLog.lines.all, ...clientLog.lines.all].map((line) => line.text)
  expect(logged.length).toBeGreaterThan(0)
  const text = [...logged, ...errors, admin].join('\n')
  for (const secret of [TOKEN, keyBody(CLIENTS.client.key), keyBody(CLIENTS.otherClient.key), keyBody(CERTS.leaf.key), 'PRIVATE KEY']) {
    expect(text).not.toContain(secret)
  }
})
