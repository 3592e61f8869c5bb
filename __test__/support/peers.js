'use strict'
// Stand-in peers on 127.0.0.1:0 (a raw Node HTTP server, a raw TCP server, a counting TCP
// proxy), free ports, and whether a port accepts connections.
const http = require('http')
const net = require('net')

/** A port that was free a moment ago (bind 127.0.0.1:0, read it, close). */
function freePort () {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/**
 * A raw Node HTTP server on 127.0.0.1:0 standing in for a peer. `handler(req, res, body)` is
 * called once the request body has been read. Returns `{ url, port, requests, connections,
 * close }`: `requests` records `{ method, url, headers, body }` for each request,
 * `connections` counts the TCP connections it accepted, `close()` closes every connection and
 * the server.
 */
async function startRawPeer (handler) {
  const requests = []
  const sockets = new Set()
  let connections = 0
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      requests.push({ method: req.method, url: req.url, headers: req.headers, body })
      handler(req, res, body)
    })
  })
  server.on('connection', (socket) => {
    connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    get connections () { return connections },
    close: () => new Promise((resolve) => {
      server.closeAllConnections()
      for (const s of sockets) s.destroy()
      server.close(() => resolve())
    })
  }
}

/**
 * A TCP server on 127.0.0.1:0 handing each connection to `onSocket(socket)` (socket errors are
 * ignored). Returns `{ port, url, sockets, close }`: `sockets` is the set of open connections,
 * `close()` destroys them and closes the server.
 */
async function startTcpPeer (onSocket) {
  const sockets = new Set()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    onSocket(socket)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  return {
    port,
    url: `http://127.0.0.1:${port}/`,
    sockets,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy()
      server.close(() => resolve())
    })
  }
}

/**
 * A TCP proxy on 127.0.0.1:0 to 127.0.0.1:`targetPort` that counts connections. Returns
 * `{ port, connections, open, close }`: `connections` accepted so far, `open` still open.
 */
async function startCountingProxy (targetPort) {
  const sockets = new Set()
  let connections = 0
  let open = 0
  const server = net.createServer((down) => {
    connections++
    open++
    const up = net.connect(targetPort, '127.0.0.1')
    sockets.add(down)
    sockets.add(up)
    down.on('error', () => {})
    up.on('error', () => {})
    down.pipe(up)
    up.pipe(down)
    down.on('close', () => { open--; sockets.delete(down); up.destroy() })
    up.on('close', () => { sockets.delete(up); down.destroy() })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: server.address().port,
    get connections () { return connections },
    get open () { return open },
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy()
      server.close(() => resolve())
    })
  }
}

/** Resolves true when a TCP connection to 127.0.0.1:port is accepted, false when refused. */
function tcpConnects (port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', (err) => {
      socket.destroy()
      if (err.code === 'ECONNREFUSED') resolve(false)
      else reject(err)
    })
  })
}

module.exports = { freePort, startRawPeer, startTcpPeer, startCountingProxy, tcpConnects }
