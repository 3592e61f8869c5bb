'use strict'
// The HTTP/2 client opens more sessions when the peer's SETTINGS_MAX_CONCURRENT_STREAMS is
// reached, also for the very first burst of requests, and never exceeds that limit.
const http2 = require('http2')
const { PluginHttp, makePrepare, makeFulfill } = require('./support')

const MAX_STREAMS = 5

/** An h2c peer that allows MAX_STREAMS streams per session and answers after `delayMs`. */
async function startLimitedPeer (delayMs) {
  const server = http2.createServer({ settings: { maxConcurrentStreams: MAX_STREAMS } })
  const stats = { sessions: 0, streams: 0, maxOpenPerSession: 0, refused: 0 }
  const sessions = new Set()
  server.on('session', (session) => {
    stats.sessions++
    sessions.add(session)
    session.open = 0
    session.on('close', () => sessions.delete(session))
  })
  server.on('stream', (stream) => {
    const session = stream.session
    session.open++
    stats.streams++
    stats.maxOpenPerSession = Math.max(stats.maxOpenPerSession, session.open)
    stream.on('close', () => { session.open-- })
    stream.resume()
    stream.on('end', () => {
      setTimeout(() => {
        if (stream.destroyed) return
        stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' })
        stream.end(makeFulfill(Buffer.from('ok')))
      }, delayMs)
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    stats,
    close: () => new Promise((resolve) => {
      for (const session of sessions) session.destroy()
      server.close(() => resolve())
    })
  }
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
