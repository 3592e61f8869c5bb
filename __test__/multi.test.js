'use strict'
// Multilateral mode (`multi: true`): one plugin serves many children.
//
//   * interop with ilp-plugin-http 1.6.1: a bilateral child learns its address by ILDCP from a
//     multi parent (ILDCP info from the `ildcp` option, or fetched through the parent's data
//     handler) and Prepares flow both ways, for every (parent, child) pair of implementations;
//   * URL templating: only the first delimiter is replaced, '%' and '^', children routed to
//     different raw HTTP peers by their address segment (the delimiter in the port position);
//   * ILDCP info for outgoing Prepares: fetched once, cached, shared by concurrent callers,
//     retried after a failure;
//   * every rejection: bad segment, destination not under clientAddress, bad or missing
//     ILP-Peer-Name, malformed Prepare bodies, bad options.
//
// Behaviour 1.6.1 shares runs for both implementations (describe.each); docs/contract.md's FIX rows
// run for ours only.
const crypto = require('crypto')
const IlpPacket = require('ilp-packet')
const ILDCP = require('ilp-protocol-ildcp')
const {
  PluginHttp,
  IMPL,
  makePrepare,
  makeFulfill,
  makeReject,
  sha256,
  freePort,
  startRawPeer,
  portOf,
  disconnectAll,
  runCleanups,
  request,
  sleep,
  waitFor,
  rejectionOf
} = require('./support')
const BOTH = [['ours'], ['1.6.1']]
/** [parent (multi), child (bilateral)] */
const PAIRS = [
  ['ours', '1.6.1'],
  ['1.6.1', 'ours'],
  ['ours', 'ours'],
  ['1.6.1', '1.6.1']
]

const PARENT = 'test.parent'
const ASSET = { assetCode: 'XRP', assetScale: 9 }
const PARENT_ILDCP = { clientAddress: PARENT, ...ASSET }
const UP_TOKEN = 'multi-up-token-Yk2' // child -> parent
const DOWN_TOKEN = 'multi-down-token-Qw8' // parent -> child(ren)

const ZERO_FULFILLMENT = Buffer.alloc(32)

const plugins = []
const cleanups = []

afterEach(async () => {
  await disconnectAll(plugins.splice(0))
  await runCleanups(cleanups.splice(0))
})

async function rawPeer (handler = (req, res) => res.end(makeFulfill())) {
  const peer = await startRawPeer(handler)
  cleanups.push(peer.close)
  return peer
}

/**
 * A connected multilateral plugin of implementation `name`. `url` is the outgoing template;
 * `ildcp` the option (omit it to fetch through the data handler).
 */
async function startMulti (name, { url, delimiter, ildcp, outgoing = {}, connect = true } = {}) {
  const opts = {
    multi: true,
    incoming: { port: 0, host: '127.0.0.1', staticToken: UP_TOKEN },
    outgoing: { url: url || `http://127.0.0.1:${await freePort()}/%`, staticToken: DOWN_TOKEN, name: 'parent', ...outgoing }
  }
  if (delimiter !== undefined) opts.multiDelimiter = delimiter
  if (ildcp !== undefined) opts.ildcp = ildcp
  const plugin = new IMPL[name](opts)
  plugins.push(plugin)
  if (connect) await plugin.connect()
  return plugin
}

function isIldcpRequest (data) {
  return data[0] === IlpPacket.Type.TYPE_ILP_PREPARE &&
    IlpPacket.deserializeIlpPrepare(data).destination === 'peer.config'
}

/**
 * A data handler for a multi parent: answers its own ILDCP fetches (peer.config) with
 * `ildcpAnswer()` (default: PARENT_ILDCP), fulfils everything else with sha256(prepare).
 * Records into `state.ildcpRequests` / `state.received`.
 */
function parentHandler (state, ildcpAnswer = () => ILDCP.serializeIldcpResponse(PARENT_ILDCP)) {
  state.ildcpRequests = state.ildcpRequests || []
  state.received = state.received || []
  return async (data) => {
    const buf = Buffer.from(data)
    if (isIldcpRequest(buf)) {
      state.ildcpRequests.push(buf)
      return ildcpAnswer(buf)
    }
    state.received.push(buf)
    return makeFulfill(sha256(buf))
  }
}

/** A peer.config request as a child would POST it, with ILP-Peer-Name `name` (omitted if undefined). */
function postIldcp (port, name, { token = UP_TOKEN } = {}) {
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/ilp+octet-stream' }
  if (name !== undefined) headers['ILP-Peer-Name'] = name
  return request(port, { headers, body: ILDCP.serializeIldcpRequest({}) })
}

function postPrepare (port, body, name = 'kid') {
  return request(port, {
    headers: { Authorization: `Bearer ${UP_TOKEN}`, 'ILP-Peer-Name': name, 'Content-Type': 'application/ilp+octet-stream' },
    body
  })
}

/**
 * A Prepare whose destination bytes are `text` (same length as 'test.peer.alice'); ilp-packet
 * refuses to serialize an invalid address, so the bytes are patched in.
 */
function prepareWithDestinationBytes (text) {
  const prepare = makePrepare({ destination: 'test.peer.alice' })
  const at = prepare.indexOf('test.peer.alice')
  if (Buffer.byteLength(text) !== 'test.peer.alice'.length) throw new Error('prepareWithDestinationBytes: wrong length')
  prepare.write(text, at)
  return prepare
}

/** The ILDCP answer in a 200 response body: a Fulfill with the zero fulfillment. */
function expectIldcpAnswer (res, expected) {
  expect(res.status).toBe(200)
  expect(res.headers['content-type']).toBe('application/octet-stream')
  expect(res.body[0]).toBe(IlpPacket.Type.TYPE_ILP_FULFILL)
  expect(IlpPacket.deserializeIlpFulfill(res.body).fulfillment.equals(ZERO_FULFILLMENT)).toBe(true)
  expect(ILDCP.deserializeIldcpResponse(res.body)).toEqual(expected)
}

// ---------------------------------------------------------------------------------------------
// (a) Interop: a bilateral child and a multi parent, every pair of implementations.
// ---------------------------------------------------------------------------------------------

describe.each(PAIRS)('interop: %s multi parent, %s bilateral child', (parentName, childName) => {
  describe.each([['the ildcp option'], ['the parent\'s data handler']])('ILDCP info from %s', (source) => {
    const fromOption = source === 'the ildcp option'

    /**
     * Parent: multi, delimiter '^' in the port position of its outgoing URL. Child: bilateral,
     * listening on `childPort`, named String(childPort), so its address is
     * test.parent.<childPort>.
     */
    async function startFamily () {
      const state = {}
      const childPort = await freePort()
      const parent = await startMulti(parentName, {
        url: 'http://127.0.0.1:^/ilp/from-parent',
        delimiter: '^',
        ildcp: fromOption ? PARENT_ILDCP : undefined
      })
      parent.registerDataHandler(parentHandler(state))
      const parentPort = portOf(parent)
      expect(parentPort).toBeGreaterThan(0)

      const child = new IMPL[childName]({
        incoming: { port: childPort, host: '127.0.0.1', staticToken: DOWN_TOKEN },
        outgoing: { url: `http://127.0.0.1:${parentPort}/ilp/from-child`, staticToken: UP_TOKEN, name: String(childPort) }
      })
      plugins.push(child)
      state.childReceived = []
      child.registerDataHandler(async (data) => {
        const buf = Buffer.from(data)
        state.childReceived.push(buf)
        return makeFulfill(sha256(Buffer.concat([Buffer.from('child'), buf])))
      })
      await child.connect()
      return { parent, child, childPort, state }
    }

    test('the child learns test.parent.<its name> by ILDCP.fetch through its sendData', async () => {
      const { child, childPort, state } = await startFamily()
      const expected = { clientAddress: `${PARENT}.${childPort}`, ...ASSET }
      await expect(ILDCP.fetch(child.sendData.bind(child))).resolves.toEqual(expected)
      // The parent answers peer.config itself: its handler saw no Prepare from the child, and
      // was asked for the parent's own ILDCP info at most once (and only without the option).
      expect(state.received).toHaveLength(0)
      expect(state.ildcpRequests).toHaveLength(fromOption ? 0 : 1)
      // Cached: a second fetch does not ask the handler again.
      await expect(ILDCP.fetch(child.sendData.bind(child))).resolves.toEqual(expected)
      expect(state.ildcpRequests).toHaveLength(fromOption ? 0 : 1)
      expect(state.received).toHaveLength(0)
      if (!fromOption) {
        // The parent's own fetch is a well-formed RFC 31 request.
        expect(() => ILDCP.deserializeIldcpRequest(state.ildcpRequests[0])).not.toThrow()
        expect(IlpPacket.deserializeIlpPrepare(state.ildcpRequests[0])).toMatchObject({ amount: '0', destination: 'peer.config' })
      }
    })

    test('Prepares flow child -> parent and parent -> child (routed by the child\'s address segment)', async () => {
      const { parent, child, childPort, state } = await startFamily()
      const { clientAddress } = await ILDCP.fetch(child.sendData.bind(child))

      // child -> parent: an ordinary Prepare goes to the parent's data handler, byte-exact.
      const up = makePrepare({ destination: 'test.elsewhere.bob', amount: '77', data: crypto.randomBytes(123) })
      const upReply = await child.sendData(up)
      expect(upReply.equals(makeFulfill(sha256(up)))).toBe(true)
      expect(state.received).toHaveLength(1)
      expect(state.received[0].equals(up)).toBe(true)

      // parent -> child: the destination's segment after test.parent is the child's port.
      const down = makePrepare({ destination: `${clientAddress}.stream.abc`, amount: '88', data: crypto.randomBytes(200) })
      const downReply = await parent.sendData(down)
      expect(downReply.equals(makeFulfill(sha256(Buffer.concat([Buffer.from('child'), down]))))).toBe(true)
      expect(state.childReceived).toHaveLength(1)
      expect(state.childReceived[0].equals(down)).toBe(true)
      expect(clientAddress).toBe(`${PARENT}.${childPort}`)
      expect(state.ildcpRequests).toHaveLength(fromOption ? 0 : 1)
    })
  })
})

// ---------------------------------------------------------------------------------------------
// (b) Outgoing: URL templating and routing, headers, ILDCP for outgoing Prepares.
// ---------------------------------------------------------------------------------------------

describe.each(BOTH)('%s multi: outgoing URL templating', (name) => {
  test('\'%\' (default delimiter): only the first occurrence is replaced, path and query kept', async () => {
    const peer = await rawPeer()
    const parent = await startMulti(name, { url: `${peer.url}/children/%/ilp?x=%`, ildcp: PARENT_ILDCP })
    const prepare = makePrepare({ destination: `${PARENT}.alice.x.y`, data: crypto.randomBytes(40) })
    const reply = await parent.sendData(prepare)
    expect(reply.equals(makeFulfill())).toBe(true)
    expect(peer.requests).toHaveLength(1)
    const req = peer.requests[0]
    const url = new URL(req.url, peer.url)
    expect(url.pathname).toBe('/children/alice/ilp')
    expect([...url.searchParams]).toEqual([['x', '%']])
    expect(req.method).toBe('POST')
    expect(req.body.equals(prepare)).toBe(true)
  })

  test('\'^\' delimiter: only the first occurrence is replaced; \'%\' is left alone', async () => {
    const peer = await rawPeer()
    const parent = await startMulti(name, { url: `${peer.url}/c/^/ilp?x=^&y=%`, delimiter: '^', ildcp: PARENT_ILDCP })
    await parent.sendData(makePrepare({ destination: `${PARENT}.Bob-9_z` }))
    expect(peer.requests).toHaveLength(1)
    const url = new URL(peer.requests[0].url, peer.url)
    expect(url.pathname).toBe('/c/Bob-9_z/ilp')
    // 1.6.1 (node-fetch) sends the '^' left in the query as %5E: compare decoded values.
    expect([...url.searchParams]).toEqual([['x', '^'], ['y', '%']])
  })

  test('the segment is the text up to the next \'.\' (or the end of the address)', async () => {
    const peer = await rawPeer()
    const parent = await startMulti(name, { url: `${peer.url}/%`, ildcp: PARENT_ILDCP })
    for (const [destination, segment] of [
      [`${PARENT}.alice`, 'alice'],
      [`${PARENT}.alice.bob.carol`, 'alice'],
      [`${PARENT}.A-Z_a-z_0-9.x`, 'A-Z_a-z_0-9'],
      [`${PARENT}.12345.x`, '12345']
    ]) {
      const before = peer.requests.length
      await parent.sendData(makePrepare({ destination }))
      expect(peer.requests).toHaveLength(before + 1)
      expect({ destination, path: peer.requests[before].url }).toEqual({ destination, path: `/${segment}` })
    }
  })

  test('children are routed by segment: the delimiter in the port position reaches different peers', async () => {
    const peerA = await rawPeer((req, res) => res.end(makeFulfill(Buffer.from('from A'))))
    const peerB = await rawPeer((req, res) => res.end(makeFulfill(Buffer.from('from B'))))
    const parent = await startMulti(name, { url: 'http://127.0.0.1:^/ilp', delimiter: '^', ildcp: PARENT_ILDCP })
    const toA = [1, 2, 3].map((i) => makePrepare({ destination: `${PARENT}.${peerA.port}.x${i}`, data: crypto.randomBytes(10 + i) }))
    const toB = [1, 2].map((i) => makePrepare({ destination: `${PARENT}.${peerB.port}.y${i}`, data: crypto.randomBytes(20 + i) }))
    // Interleaved and concurrent.
    const replies = await Promise.all([toA[0], toB[0], toA[1], toB[1], toA[2]].map((p) => parent.sendData(p)))
    expect(replies.map((r) => IlpPacket.deserializeIlpFulfill(r).data.toString()))
      .toEqual(['from A', 'from B', 'from A', 'from B', 'from A'])
    const hex = (bufs) => bufs.map((b) => b.toString('hex')).sort()
    expect(hex(peerA.requests.map((r) => r.body))).toEqual(hex(toA))
    expect(hex(peerB.requests.map((r) => r.body))).toEqual(hex(toB))
    for (const r of [...peerA.requests, ...peerB.requests]) expect(r.url).toBe('/ilp')
  })

  test('an outgoing.url without the delimiter: every child\'s Prepare goes to that one URL (segment still checked)', async () => {
    // E.g. a load balancer routing on ILP-Destination. (Lead's decision, commit 5ae6386: as in
    // 1.6.1, not a construction error.)
    const peer = await rawPeer()
    const parent = await startMulti(name, {
      url: `${peer.url}/all/children?x=1`, ildcp: PARENT_ILDCP, outgoing: { sendIlpDestination: true }
    })
    await parent.sendData(makePrepare({ destination: `${PARENT}.alice.x` }))
    await parent.sendData(makePrepare({ destination: `${PARENT}.bob` }))
    expect(peer.requests.map((r) => [r.url, r.headers['ilp-destination']])).toEqual([
      ['/all/children?x=1', `${PARENT}.alice.x`],
      ['/all/children?x=1', `${PARENT}.bob`]
    ])
    const err = await rejectionOf(parent.sendData(makePrepare({ destination: `${PARENT}.a~b.c` })))
    expect(err.message).toContain('invalid address segment')
    expect(peer.requests).toHaveLength(2)
  })

  test('request headers: Authorization, Content-Type, ILP-Peer-Name; no ILP-Destination by default', async () => {
    const peer = await rawPeer()
    const parent = await startMulti(name, { url: `${peer.url}/%`, ildcp: PARENT_ILDCP })
    await parent.sendData(makePrepare({ destination: `${PARENT}.kid.x` }))
    const { headers } = peer.requests[0]
    expect(headers.authorization).toBe(`Bearer ${DOWN_TOKEN}`)
    expect(headers['content-type']).toBe('application/ilp+octet-stream')
    expect(headers['ilp-peer-name']).toBe('parent')
    expect(headers['ilp-destination']).toBeUndefined()
  })

  test('sendIlpDestination in multi mode: ILP-Destination is the Prepare\'s destination', async () => {
    const peer = await rawPeer()
    const parent = await startMulti(name, { url: `${peer.url}/%`, ildcp: PARENT_ILDCP, outgoing: { sendIlpDestination: true } })
    await parent.sendData(makePrepare({ destination: `${PARENT}.kid.x.y~z` }))
    expect(peer.requests).toHaveLength(1)
    expect(peer.requests[0].url).toBe('/kid')
    expect(peer.requests[0].headers['ilp-destination']).toBe(`${PARENT}.kid.x.y~z`)
  })

  test('sendIlpDestination in bilateral mode: ILP-Destination is the Prepare\'s destination', async () => {
    const peer = await rawPeer()
    const plugin = new IMPL[name]({
      incoming: { port: 0, host: '127.0.0.1', staticToken: UP_TOKEN },
      outgoing: { url: `${peer.url}/bilateral%`, staticToken: DOWN_TOKEN, sendIlpDestination: true }
    })
    plugins.push(plugin)
    await plugin.connect()
    await plugin.sendData(makePrepare({ destination: 'test.somewhere.else' }))
    expect(peer.requests).toHaveLength(1)
    expect(new URL(peer.requests[0].url, peer.url).pathname).toBe('/bilateral%')
    expect(peer.requests[0].headers['ilp-destination']).toBe('test.somewhere.else')
  })
})

describe.each(BOTH)('%s multi: ILDCP info for outgoing Prepares', (name) => {
  test('fetched once through the data handler (an RFC 31 peer.config Prepare), then cached', async () => {
    const peer = await rawPeer()
    const state = {}
    const parent = await startMulti(name, { url: `${peer.url}/%` })
    parent.registerDataHandler(parentHandler(state, () => ILDCP.serializeIldcpResponse({ clientAddress: 'test.fetched', ...ASSET })))
    for (const kid of ['a', 'b', 'c']) {
      await parent.sendData(makePrepare({ destination: `test.fetched.${kid}.x` }))
    }
    expect(state.ildcpRequests).toHaveLength(1)
    expect(() => ILDCP.deserializeIldcpRequest(state.ildcpRequests[0])).not.toThrow()
    expect(IlpPacket.deserializeIlpPrepare(state.ildcpRequests[0])).toMatchObject({ amount: '0', destination: 'peer.config' })
    expect(peer.requests.map((r) => r.url)).toEqual(['/a', '/b', '/c'])
    expect(state.received).toHaveLength(0)
  })

  test('the ildcp option is used as is: the data handler is never asked', async () => {
    const peer = await rawPeer()
    const state = {}
    const parent = await startMulti(name, { url: `${peer.url}/%`, ildcp: { clientAddress: 'test.opt', ...ASSET } })
    parent.registerDataHandler(parentHandler(state))
    await parent.sendData(makePrepare({ destination: 'test.opt.kid.x' }))
    expect(peer.requests.map((r) => r.url)).toEqual(['/kid'])
    expect(state.ildcpRequests).toHaveLength(0)
    expect(state.received).toHaveLength(0)
  })

  test('no data handler and no ildcp option: rejects (\'data handler\'), nothing sent', async () => {
    const peer = await rawPeer()
    const parent = await startMulti(name, { url: `${peer.url}/%` })
    const err = await rejectionOf(parent.sendData(makePrepare({ destination: `${PARENT}.kid.x` })))
    expect(err.message).toMatch(/data handler/)
    expect(peer.requests).toHaveLength(0)
  })

  describe.each([
    ['returns an ILP Reject', () => makeReject({ code: 'F00', message: 'no config for you', triggeredBy: 'test.up' })],
    ['throws', () => { throw new Error('handler exploded') }]
  ])('fetch failure: the handler %s', (how, fail) => {
    test('the call rejects, nothing is sent, and the next call fetches again', async () => {
      const peer = await rawPeer()
      const state = {}
      let failing = true
      const parent = await startMulti(name, { url: `${peer.url}/%` })
      parent.registerDataHandler(parentHandler(state, () => failing ? fail() : ILDCP.serializeIldcpResponse(PARENT_ILDCP)))

      const err = await rejectionOf(parent.sendData(makePrepare({ destination: `${PARENT}.kid.x` })))
      expect(err).toBeInstanceOf(Error)
      if (name === 'ours') expect(err.message).toMatch(/ildcp/i)
      expect(state.ildcpRequests).toHaveLength(1)
      expect(peer.requests).toHaveLength(0)

      // Not cached: the next call asks again (and fails again).
      await rejectionOf(parent.sendData(makePrepare({ destination: `${PARENT}.kid.x` })))
      expect(state.ildcpRequests).toHaveLength(2)
      expect(peer.requests).toHaveLength(0)

      failing = false
      const prepare = makePrepare({ destination: `${PARENT}.kid.x` })
      const reply = await parent.sendData(prepare)
      expect(reply.equals(makeFulfill())).toBe(true)
      expect(state.ildcpRequests).toHaveLength(3)
      expect(peer.requests).toHaveLength(1)
      expect(peer.requests[0].body.equals(prepare)).toBe(true)
    })
  })
})

// ---------------------------------------------------------------------------------------------
// (c) Outgoing rejections.
// ---------------------------------------------------------------------------------------------

describe.each(BOTH)('%s multi: outgoing rejections (shared)', (name) => {
  test('a segment with a character outside [A-Za-z0-9_-] rejects \'invalid address segment\', nothing sent', async () => {
    const peer = await rawPeer()
    const parent = await startMulti(name, { url: `${peer.url}/%`, ildcp: PARENT_ILDCP })
    for (const destination of [`${PARENT}.a~b.c`, `${PARENT}.~`, `${PARENT}.kid~`]) {
      const err = await rejectionOf(parent.sendData(makePrepare({ destination })))
      expect({ destination, message: err.message }).toEqual({ destination, message: expect.stringContaining('invalid address segment') })
      if (name === 'ours') expect({ destination, code: err.ilpErrorCode }).toEqual({ destination, code: 'F02' })
    }
    expect(peer.requests).toHaveLength(0)
    // Still working afterwards.
    await parent.sendData(makePrepare({ destination: `${PARENT}.ab.c` }))
    expect(peer.requests.map((r) => r.url)).toEqual(['/ab'])
  })
})

describe('ours multi: outgoing rejections (FIX)', () => {
  test('a destination not under clientAddress + \'.\' rejects F02, nothing sent', async () => {
    const peer = await rawPeer()
    const parent = await startMulti('ours', { url: `${peer.url}/%`, ildcp: PARENT_ILDCP })
    for (const destination of [
      'test.other.kid.x', // another node
      'test.parentx.kid', // 1.6.1 sends this one to /  (an empty segment)
      'test.parent', // the parent itself
      'g.parent.kid.x',
      'test.paren.tkid'
    ]) {
      const err = await rejectionOf(parent.sendData(makePrepare({ destination })))
      expect({ destination, code: err.ilpErrorCode }).toEqual({ destination, code: 'F02' })
    }
    expect(peer.requests).toHaveLength(0)
  })

  test('a segment that makes no valid URL (letters or > 65535 in the port position) rejects F02', async () => {
    const parent = await startMulti('ours', { url: 'http://127.0.0.1:^/ilp', delimiter: '^', ildcp: PARENT_ILDCP })
    for (const destination of [`${PARENT}.bob.x`, `${PARENT}.99999.x`]) {
      const err = await rejectionOf(parent.sendData(makePrepare({ destination })))
      expect({ destination, code: err.ilpErrorCode }).toEqual({ destination, code: 'F02' })
    }
  })

  test('a destination not under a FETCHED clientAddress rejects F02, nothing sent', async () => {
    const peer = await rawPeer()
    const state = {}
    const parent = await startMulti('ours', { url: `${peer.url}/%` })
    parent.registerDataHandler(parentHandler(state, () => ILDCP.serializeIldcpResponse({ clientAddress: 'test.fetched', ...ASSET })))
    const err = await rejectionOf(parent.sendData(makePrepare({ destination: `${PARENT}.kid.x` })))
    expect(err.ilpErrorCode).toBe('F02')
    expect(peer.requests).toHaveLength(0)
    await parent.sendData(makePrepare({ destination: 'test.fetched.kid.x' }))
    expect(peer.requests.map((r) => r.url)).toEqual(['/kid'])
    expect(state.ildcpRequests).toHaveLength(1)
  })

  test('20 concurrent first sendData calls share ONE ILDCP fetch', async () => {
    const peer = await rawPeer()
    const state = {}
    let release
    const gate = new Promise((resolve) => { release = resolve })
    const parent = await startMulti('ours', { url: `${peer.url}/%` })
    parent.registerDataHandler(parentHandler(state, async () => {
      await gate
      return ILDCP.serializeIldcpResponse(PARENT_ILDCP)
    }))
    const prepares = Array.from({ length: 20 }, (_, i) => makePrepare({ destination: `${PARENT}.kid${i}.x`, amount: String(i + 1) }))
    const results = Promise.all(prepares.map((p) => parent.sendData(p)))
    expect(await waitFor(() => state.ildcpRequests.length >= 1, 5000)).toBe(true)
    // Give every other call the time to reach the fetch, while the first fetch is pending.
    await sleep(200)
    release()
    const replies = await results
    for (const r of replies) expect(r.equals(makeFulfill())).toBe(true)
    expect(state.ildcpRequests).toHaveLength(1)
    expect(peer.requests.map((r) => r.url).sort()).toEqual(prepares.map((_, i) => `/kid${i}`).sort())
  })

  test('concurrent callers of a failing fetch all reject (\'ildcp\'), one handler call; the next call fetches again', async () => {
    const peer = await rawPeer()
    const state = {}
    let release
    const gate = new Promise((resolve) => { release = resolve })
    let failing = true
    const parent = await startMulti('ours', { url: `${peer.url}/%` })
    parent.registerDataHandler(parentHandler(state, async () => {
      if (!failing) return ILDCP.serializeIldcpResponse(PARENT_ILDCP)
      await gate
      return makeReject({ code: 'T00', message: 'upstream down', triggeredBy: 'test.up' })
    }))
    const calls = Array.from({ length: 5 }, (_, i) => rejectionOf(parent.sendData(makePrepare({ destination: `${PARENT}.kid${i}` }))))
    expect(await waitFor(() => state.ildcpRequests.length >= 1, 5000)).toBe(true)
    await sleep(200)
    release()
    const errors = await Promise.all(calls)
    for (const err of errors) {
      expect(err).toBeInstanceOf(Error)
      expect(err.message).toMatch(/ildcp/i)
    }
    expect(state.ildcpRequests).toHaveLength(1)
    expect(peer.requests).toHaveLength(0)

    failing = false
    await parent.sendData(makePrepare({ destination: `${PARENT}.kid.x` }))
    expect(state.ildcpRequests).toHaveLength(2)
    expect(peer.requests.map((r) => r.url)).toEqual(['/kid'])
  })

  test('the handler throwing during the fetch rejects with a message naming ILDCP', async () => {
    const peer = await rawPeer()
    const parent = await startMulti('ours', { url: `${peer.url}/%` })
    parent.registerDataHandler(() => { throw new Error('boom') })
    const err = await rejectionOf(parent.sendData(makePrepare({ destination: `${PARENT}.kid.x` })))
    expect(err).toBeInstanceOf(Error)
    expect(err.message).toMatch(/ildcp/i)
    expect(peer.requests).toHaveLength(0)
  })

  test('no data handler and no ildcp option: the next call after registering a handler succeeds', async () => {
    const peer = await rawPeer()
    const state = {}
    const parent = await startMulti('ours', { url: `${peer.url}/%` })
    const err = await rejectionOf(parent.sendData(makePrepare({ destination: `${PARENT}.kid.x` })))
    expect(err.message).toMatch(/data handler/)
    parent.registerDataHandler(parentHandler(state))
    await parent.sendData(makePrepare({ destination: `${PARENT}.kid.x` }))
    expect(state.ildcpRequests).toHaveLength(1)
    expect(peer.requests.map((r) => r.url)).toEqual(['/kid'])
  })

  test('data that is not an ILP Prepare rejects F01, nothing sent', async () => {
    const peer = await rawPeer()
    const parent = await startMulti('ours', { url: `${peer.url}/%`, ildcp: PARENT_ILDCP })
    for (const data of [Buffer.from('hello'), makeFulfill(), Buffer.alloc(0)]) {
      const err = await rejectionOf(parent.sendData(data))
      expect(err.ilpErrorCode).toBe('F01')
    }
    expect(peer.requests).toHaveLength(0)
  })
})

// ---------------------------------------------------------------------------------------------
// Incoming: peer.config answered by the plugin, other Prepares to the handler.
// ---------------------------------------------------------------------------------------------

describe.each(BOTH)('%s multi: incoming (shared)', (name) => {
  test('peer.config -> 200 Fulfill (zero fulfillment) with ILDCP for clientAddress.<ILP-Peer-Name>; handler not called', async () => {
    const state = {}
    const parent = await startMulti(name, { ildcp: PARENT_ILDCP })
    parent.registerDataHandler(parentHandler(state))
    const port = portOf(parent)
    expectIldcpAnswer(await postIldcp(port, 'kid1'), { clientAddress: `${PARENT}.kid1`, ...ASSET })
    expectIldcpAnswer(await postIldcp(port, 'Other_Kid-2'), { clientAddress: `${PARENT}.Other_Kid-2`, ...ASSET })
    // A name with dots makes a deeper (still valid) address.
    expectIldcpAnswer(await postIldcp(port, 'a.b'), { clientAddress: `${PARENT}.a.b`, ...ASSET })
    expect(state.ildcpRequests).toHaveLength(0)
    expect(state.received).toHaveLength(0)
  })

  test('asset code and scale are passed on as configured (scale 0, 255; a long code)', async () => {
    for (const ildcp of [
      { clientAddress: 'g.big-node', assetCode: 'USD', assetScale: 0 },
      { clientAddress: 'test.x', assetCode: 'SOME_LONG_ASSET_CODE', assetScale: 255 }
    ]) {
      const parent = await startMulti(name, { ildcp })
      expectIldcpAnswer(await postIldcp(portOf(parent), 'kid'), { ...ildcp, clientAddress: `${ildcp.clientAddress}.kid` })
    }
  })

  test('without the ildcp option: fetched once through the data handler, then cached', async () => {
    const state = {}
    const parent = await startMulti(name)
    parent.registerDataHandler(parentHandler(state, () => ILDCP.serializeIldcpResponse({ clientAddress: 'test.fetched', assetCode: 'EUR', assetScale: 2 })))
    const port = portOf(parent)
    expectIldcpAnswer(await postIldcp(port, 'kid1'), { clientAddress: 'test.fetched.kid1', assetCode: 'EUR', assetScale: 2 })
    expectIldcpAnswer(await postIldcp(port, 'kid2'), { clientAddress: 'test.fetched.kid2', assetCode: 'EUR', assetScale: 2 })
    expect(state.ildcpRequests).toHaveLength(1)
    expect(() => ILDCP.deserializeIldcpRequest(state.ildcpRequests[0])).not.toThrow()
    expect(state.received).toHaveLength(0)
  })

  test('other Prepares go to the data handler; the answer is its exact bytes', async () => {
    const state = {}
    const parent = await startMulti(name, { ildcp: PARENT_ILDCP })
    parent.registerDataHandler(parentHandler(state))
    const prepare = makePrepare({ destination: 'test.elsewhere.x', data: crypto.randomBytes(500) })
    const res = await postPrepare(portOf(parent), prepare)
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toBe('application/octet-stream')
    expect(res.body.equals(makeFulfill(sha256(prepare)))).toBe(true)
    expect(state.received).toHaveLength(1)
    expect(state.received[0].equals(prepare)).toBe(true)
  })

  test('a Prepare to the parent\'s own children addresses also goes to the handler', async () => {
    const state = {}
    const parent = await startMulti(name, { ildcp: PARENT_ILDCP })
    parent.registerDataHandler(parentHandler(state))
    const prepare = makePrepare({ destination: `${PARENT}.kid2.x` })
    const res = await postPrepare(portOf(parent), prepare, 'kid1')
    expect(res.status).toBe(200)
    expect(res.body.equals(makeFulfill(sha256(prepare)))).toBe(true)
    expect(state.received).toHaveLength(1)
  })

  test('peer.config with a wrong token -> 401 \'invalid authorization\'', async () => {
    const state = {}
    const parent = await startMulti(name, { ildcp: PARENT_ILDCP })
    parent.registerDataHandler(parentHandler(state))
    const res = await postIldcp(portOf(parent), 'kid', { token: 'wrong' })
    expect(res.status).toBe(401)
    expect(res.body.toString()).toBe('invalid authorization')
    expect(state.ildcpRequests).toHaveLength(0)
  })
})

describe('ours multi: incoming (FIX)', () => {
  test('missing ILP-Peer-Name on peer.config -> 400, handler not called', async () => {
    const state = {}
    const parent = await startMulti('ours', { ildcp: PARENT_ILDCP })
    parent.registerDataHandler(parentHandler(state))
    const res = await postIldcp(parent.port, undefined)
    expect(res.status).toBe(400)
    expect(state.ildcpRequests).toHaveLength(0)
    expect(state.received).toHaveLength(0)
    expectIldcpAnswer(await postIldcp(parent.port, 'kid'), { clientAddress: `${PARENT}.kid`, ...ASSET })
  })

  test.each([
    ['a space', 'bad name'],
    ['an empty segment', 'a.b..c'],
    ['a leading dot', '.kid'],
    ['a trailing dot', 'kid.'],
    ['empty', ''],
    ['a character no ILP address allows', 'kid!'],
    ['too long (address over 1023 characters)', 'k'.repeat(1100)]
  ])('ILP-Peer-Name with %s -> 400, handler not called', async (what, peerName) => {
    const state = {}
    const parent = await startMulti('ours', { ildcp: PARENT_ILDCP })
    parent.registerDataHandler(parentHandler(state))
    const res = await postIldcp(parent.port, peerName)
    expect(res.status).toBe(400)
    expect(state.ildcpRequests).toHaveLength(0)
    expect(state.received).toHaveLength(0)
    // Still serving.
    expectIldcpAnswer(await postIldcp(parent.port, 'kid'), { clientAddress: `${PARENT}.kid`, ...ASSET })
  })

  test('the longest valid name (address of exactly 1023 characters) is answered', async () => {
    const parent = await startMulti('ours', { ildcp: PARENT_ILDCP })
    const peerName = 'k'.repeat(1023 - PARENT.length - 1)
    expectIldcpAnswer(await postIldcp(parent.port, peerName), { clientAddress: `${PARENT}.${peerName}`, ...ASSET })
  })

  test('an invalid name is refused with 400 also when ILDCP info is fetched through the handler', async () => {
    const state = {}
    const parent = await startMulti('ours')
    parent.registerDataHandler(parentHandler(state))
    const res = await postIldcp(parent.port, 'bad name')
    expect(res.status).toBe(400)
    expect(state.received).toHaveLength(0)
    expectIldcpAnswer(await postIldcp(parent.port, 'kid'), { clientAddress: `${PARENT}.kid`, ...ASSET })
  })

  test.each([
    ['text', Buffer.from('hello, not a packet')],
    ['an empty body', Buffer.alloc(0)],
    ['an ILP Fulfill', makeFulfill()],
    ['an ILP Reject', makeReject()],
    ['a truncated Prepare', makePrepare({ data: Buffer.alloc(100) }).subarray(0, 60)],
    ['a Prepare whose length prefix is longer than the body', (() => { const b = makePrepare(); b[1] += 5; return b })()],
    ['a Prepare whose destination is not an ILP address', prepareWithDestinationBytes('test peer alice')]
  ])('a POST body that is not a valid ILP Prepare (%s) -> 400, handler not called', async (what, body) => {
    const state = {}
    const parent = await startMulti('ours', { ildcp: PARENT_ILDCP })
    parent.registerDataHandler(parentHandler(state))
    const res = await postPrepare(parent.port, body)
    expect(res.status).toBe(400)
    expect(state.received).toHaveLength(0)
    expect(state.ildcpRequests).toHaveLength(0)
    // The next normal request succeeds.
    const prepare = makePrepare()
    const ok = await postPrepare(parent.port, prepare)
    expect(ok.status).toBe(200)
    expect(ok.body.equals(makeFulfill(sha256(prepare)))).toBe(true)
  })

  test('10 concurrent first peer.config requests share ONE fetch through the handler', async () => {
    const state = {}
    let release
    const gate = new Promise((resolve) => { release = resolve })
    const parent = await startMulti('ours')
    parent.registerDataHandler(parentHandler(state, async () => {
      await gate
      return ILDCP.serializeIldcpResponse(PARENT_ILDCP)
    }))
    const responses = Promise.all(Array.from({ length: 10 }, (_, i) => postIldcp(parent.port, `kid${i}`)))
    expect(await waitFor(() => state.ildcpRequests.length >= 1, 5000)).toBe(true)
    await sleep(200)
    release()
    const all = await responses
    all.forEach((res, i) => expectIldcpAnswer(res, { clientAddress: `${PARENT}.kid${i}`, ...ASSET }))
    expect(state.ildcpRequests).toHaveLength(1)
  })

  test('incoming and outgoing share the cached ILDCP info (one fetch in all)', async () => {
    const peer = await rawPeer()
    const state = {}
    const parent = await startMulti('ours', { url: `${peer.url}/%` })
    parent.registerDataHandler(parentHandler(state))
    expectIldcpAnswer(await postIldcp(parent.port, 'kid'), { clientAddress: `${PARENT}.kid`, ...ASSET })
    await parent.sendData(makePrepare({ destination: `${PARENT}.kid.x` }))
    expect(state.ildcpRequests).toHaveLength(1)
    expect(peer.requests.map((r) => r.url)).toEqual(['/kid'])
  })
})

// ---------------------------------------------------------------------------------------------
// Options (ours: validated at construction, errors name the option).
// ---------------------------------------------------------------------------------------------

describe('ours multi: options', () => {
  const base = (extra = {}, outgoing = {}) => ({
    multi: true,
    incoming: { port: 0, host: '127.0.0.1', staticToken: UP_TOKEN },
    outgoing: { url: 'http://127.0.0.1:1/%', staticToken: DOWN_TOKEN, ...outgoing },
    ...extra
  })

  test('multi: true with valid options constructs and connects', async () => {
    const plugin = new PluginHttp(base({ ildcp: PARENT_ILDCP }))
    plugins.push(plugin)
    await plugin.connect()
    expect(plugin.isConnected()).toBe(true)
    expect(plugin.port).toBeGreaterThan(0)
  })

  test('a url without the delimiter is fine in bilateral mode', () => {
    expect(() => new PluginHttp({ ...base({}, { url: 'http://127.0.0.1:1/children' }), multi: false })).not.toThrow()
  })

  test.each([
    ['not an ILP address', { clientAddress: 'not an address', ...ASSET }, 'ildcp.clientAddress'],
    ['an empty segment', { clientAddress: 'test..parent', ...ASSET }, 'ildcp.clientAddress'],
    ['a trailing dot', { clientAddress: 'test.parent.', ...ASSET }, 'ildcp.clientAddress'],
    ['an unknown scheme', { clientAddress: 'nope.parent', ...ASSET }, 'ildcp.clientAddress'],
    ['a number', { clientAddress: 42, ...ASSET }, 'ildcp.clientAddress'],
    ['missing', { ...ASSET }, 'ildcp.clientAddress'],
    ['an empty asset code', { clientAddress: PARENT, assetCode: '', assetScale: 9 }, 'ildcp.assetCode'],
    ['a numeric asset code', { clientAddress: PARENT, assetCode: 5, assetScale: 9 }, 'ildcp.assetCode'],
    ['a missing asset code', { clientAddress: PARENT, assetScale: 9 }, 'ildcp.assetCode'],
    ['a negative scale', { clientAddress: PARENT, assetCode: 'XRP', assetScale: -1 }, 'ildcp.assetScale'],
    ['a scale of 256', { clientAddress: PARENT, assetCode: 'XRP', assetScale: 256 }, 'ildcp.assetScale'],
    ['a fractional scale', { clientAddress: PARENT, assetCode: 'XRP', assetScale: 1.5 }, 'ildcp.assetScale'],
    ['a string scale', { clientAddress: PARENT, assetCode: 'XRP', assetScale: '9' }, 'ildcp.assetScale'],
    ['a NaN scale', { clientAddress: PARENT, assetCode: 'XRP', assetScale: NaN }, 'ildcp.assetScale'],
    ['a missing scale', { clientAddress: PARENT, assetCode: 'XRP' }, 'ildcp.assetScale']
  ])('ildcp with %s throws', (what, ildcp, option) => {
    expect(() => new PluginHttp(base({ ildcp }))).toThrow(option)
  })

  test('ildcp scales 0 and 255 are accepted', () => {
    expect(() => new PluginHttp(base({ ildcp: { clientAddress: PARENT, assetCode: 'XRP', assetScale: 0 } }))).not.toThrow()
    expect(() => new PluginHttp(base({ ildcp: { clientAddress: PARENT, assetCode: 'XRP', assetScale: 255 } }))).not.toThrow()
  })
})
