'use strict'
// Credential rotation without downtime: `incoming.staticToken` and `incoming.jwtSecret` (and
// the legacy `secretToken` / `secret`) also take an array; a request is accepted when any one
// matches. The README's procedure: add the new credential to the receiving side, switch the
// sending side, remove the old one. Arrays of the wrong shape are refused at construction, and
// getAdminInfo() shows how many are configured, never the values.
const {
  PluginHttp,
  UNUSED_OUTGOING_URL,
  makePrepare,
  makeFulfill
} = require('./support')

const OLD_TOKEN = 'rotation-old-token-Gg5'
const NEW_TOKEN = 'rotation-new-token-Wt2'
const OLD_SECRET = 'rotation-old-secret-Yu8'
const NEW_SECRET = 'rotation-new-secret-Cx1'

let cleanups = []
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
  cleanups = []
})

async function receiver (incoming) {
  const plugin = new PluginHttp({
    incoming: { port: 0, host: '127.0.0.1', ...incoming },
    outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'unused' }
  })
  plugin.registerDataHandler(async () => makeFulfill())
  await plugin.connect()
  cleanups.push(() => plugin.disconnect())
  return plugin
}

async function sender (server, outgoing) {
  const plugin = new PluginHttp({
    incoming: { port: 0, host: '127.0.0.1', staticToken: 'unused' },
    outgoing: { url: `http://127.0.0.1:${server.port}/`, ...outgoing }
  })
  await plugin.connect()
  cleanups.push(() => plugin.disconnect())
  return plugin
}

/** 200 -> 'ok', else the HTTP status from the rejection. */
async function outcome (server, outgoing) {
  const plugin = await sender(server, outgoing)
  try {
    expect((await plugin.sendData(makePrepare())).equals(makeFulfill())).toBe(true)
    return 'ok'
  } catch (error) {
    return error.message
  }
}

const REFUSED = 'failed to fetch. code=401'

describe.each([
  ['incoming.staticToken', 'staticToken', 'staticToken', OLD_TOKEN, NEW_TOKEN],
  ['incoming.secretToken (legacy)', 'secretToken', 'staticToken', OLD_TOKEN, NEW_TOKEN],
  ['incoming.jwtSecret', 'jwtSecret', 'jwtSecret', OLD_SECRET, NEW_SECRET],
  ['incoming.secret (legacy)', 'secret', 'jwtSecret', OLD_SECRET, NEW_SECRET]
])('rotation with %s', (name, incomingKey, outgoingKey, oldValue, newValue) => {
  test('step 1: both accepted; step 3 (old removed): the new one accepted, the old one refused', async () => {
    const during = await receiver({ [incomingKey]: [oldValue, newValue] })
    expect(await outcome(during, { [outgoingKey]: oldValue })).toBe('ok')
    expect(await outcome(during, { [outgoingKey]: newValue })).toBe('ok')
    expect(await outcome(during, { [outgoingKey]: newValue + 'x' })).toBe(REFUSED)
    const after = await receiver({ [incomingKey]: [newValue] })
    expect(await outcome(after, { [outgoingKey]: newValue })).toBe('ok')
    expect(await outcome(after, { [outgoingKey]: oldValue })).toBe(REFUSED)
  })
})

test('over h2c as well, and static tokens next to JWT secrets: every configured credential works', async () => {
  const server = await receiver({ staticToken: [OLD_TOKEN, NEW_TOKEN], jwtSecret: [OLD_SECRET, NEW_SECRET] })
  for (const outgoing of [{ staticToken: OLD_TOKEN }, { staticToken: NEW_TOKEN }, { jwtSecret: OLD_SECRET }, { jwtSecret: NEW_SECRET }]) {
    expect(await outcome(server, { ...outgoing, http2: true })).toBe('ok')
  }
  expect(await outcome(server, { staticToken: OLD_SECRET, http2: true })).toBe(REFUSED)
  expect(await outcome(server, { jwtSecret: OLD_TOKEN, http2: true })).toBe(REFUSED)
})

test('a single-element array behaves as the plain string', async () => {
  const server = await receiver({ staticToken: [NEW_TOKEN] })
  expect(await outcome(server, { staticToken: NEW_TOKEN })).toBe('ok')
  expect(await outcome(server, { staticToken: OLD_TOKEN })).toBe(REFUSED)
})

describe('bad arrays are refused at construction with a message naming the option', () => {
  const make = (incoming) => () => new PluginHttp({
    incoming: { port: 0, ...incoming },
    outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'b' }
  })
  test.each([
    ['incoming.staticToken', { staticToken: [] }, /incoming\.staticToken.*empty/],
    ['incoming.jwtSecret', { jwtSecret: [] }, /incoming\.jwtSecret.*empty/],
    ['incoming.secretToken', { secretToken: [] }, /incoming\.secretToken.*empty/],
    ['incoming.secret', { secret: [] }, /incoming\.secret\b.*empty/],
    ['incoming.staticToken[1]', { staticToken: ['good-one', 5] }, /incoming\.staticToken\[1\]/],
    ['incoming.staticToken[0]', { staticToken: [''] }, /incoming\.staticToken\[0\]/],
    ['incoming.staticToken[1]', { staticToken: ['good-one', null] }, /incoming\.staticToken\[1\]/],
    ['incoming.jwtSecret[0]', { jwtSecret: [['nested']] }, /incoming\.jwtSecret\[0\]/],
    ['incoming.jwtSecret[2]', { jwtSecret: ['a', 'b', {}] }, /incoming\.jwtSecret\[2\]/],
    ['incoming.staticToken', { staticToken: { 0: 'a' } }, /incoming\.staticToken/]
  ])('%s', (name, incoming, message) => {
    expect(make(incoming)).toThrow(message)
  })

  test('messages never contain a configured value', () => {
    let message = ''
    try { make({ staticToken: ['s3cret-value-1', 's3cret-value-2', 7] })() } catch (e) { message = e.message }
    expect(message).toMatch(/incoming\.staticToken\[2\]/)
    expect(message).not.toMatch(/s3cret/)
  })

  test('outgoing credentials stay single strings (one is sent): an array is refused', () => {
    expect(() => new PluginHttp({
      incoming: { port: 0, staticToken: 'a' },
      outgoing: { url: UNUSED_OUTGOING_URL, staticToken: ['b', 'c'] }
    })).toThrow(/outgoing\.staticToken/)
  })
})

test('getAdminInfo shows how many credentials are configured, never their values', () => {
  const plugin = new PluginHttp({
    incoming: { port: 0, staticToken: [OLD_TOKEN, NEW_TOKEN], jwtSecret: [OLD_SECRET, NEW_SECRET, 'third-secret-Zz'] },
    outgoing: { url: UNUSED_OUTGOING_URL, staticToken: 'b' }
  })
  const info = plugin.getAdminInfo()
  expect(info.config.incoming).toMatchObject({ staticToken: '[redacted]', jwtSecret: '[redacted]', staticTokens: 2, jwtSecrets: 3 })
  const text = JSON.stringify(info)
  for (const value of [OLD_TOKEN, NEW_TOKEN, OLD_SECRET, NEW_SECRET, 'third-secret-Zz']) expect(text).not.toContain(value)
})
