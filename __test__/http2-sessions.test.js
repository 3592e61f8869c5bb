'use strict'
// The HTTP/2 client opens more sessions when the peer's SETTINGS_MAX_CONCURRENT_STREAMS is
// reached, also for the very first burst of requests, and never exceeds that limit.
const { PluginHttp, makePrepare, makeFulfill, startH2Peer } = require('./support')

const MAX_STREAMS = 5

/** An h2c peer that allows MAX_STREAMS streams per session and answers after `delayMs`. */
async function startLimitedPeer (delayMs) {
  const stats = { streams: 0, maxOpenPerSession: 0, get sessions () { return peer.sessions } }
  const open = new Map() // session -> streams open on it
  const peer = await startH2Peer((stream) => {
    const session = stream.session
    open.set(session, (open.get(session) || 0) + 1)
    stats.streams++
    stats.maxOpenPerSession = Math.max(stats.maxOpenPerSession, open.get(session))
    stream.on('close', () => open.set(session, open.get(session) - 1))
    stream.resume()
    stream.on('end', () => {
      setTimeout(() => {
        if (stream.destroyed) return
        stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' })
        stream.end(makeFulfill(Buffer.from('ok')))
      }, delayMs)
    })
  }, { settings: { maxConcurrentStreams: MAX_STREAMS } })
  return { url: peer.url, stats, close: peer.close }
}

let peer, plugin
afterEach(async () => {
  if (plugin) await plugin.disconnect()
  if (peer) await peer.close()
  plugin = peer = undefined
})

test('a burst of 20 requests against a 5-stream peer uses at least 4 sessions; every reply arrives', async () => {
  peer = await startLimitedPeer(100)
  plugin = new PluginHttp({
    incoming: { port: 0, host: '127.0.0.1', staticToken: 'in' },
    outgoing: { url: peer.url, staticToken: 'out', http2: true }
  })
  await plugin.connect()
  const replies = await Promise.all(Array.from({ length: 20 }, () => plugin.sendData(makePrepare())))
  for (const reply of replies) expect(reply.equals(makeFulfill(Buffer.from('ok')))).toBe(true)
  expect(peer.stats.streams).toBe(20)
  expect(peer.stats.sessions).toBeGreaterThanOrEqual(4)
  expect(peer.stats.maxOpenPerSession).toBeLessThanOrEqual(MAX_STREAMS)
})

test('sessions are reused once they have room again', async () => {
  peer = await startLimitedPeer(20)
  plugin = new PluginHttp({
    incoming: { port: 0, host: '127.0.0.1', staticToken: 'in' },
    outgoing: { url: peer.url, staticToken: 'out', http2: true }
  })
  await plugin.connect()
  for (let round = 0; round < 5; round++) {
    await Promise.all(Array.from({ length: MAX_STREAMS }, () => plugin.sendData(makePrepare())))
  }
  expect(peer.stats.streams).toBe(25)
  expect(peer.stats.sessions).toBe(1)
})
