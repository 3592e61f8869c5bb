'use strict'
// Shared test support: the one place for every helper more than one suite needs. Suites
// `require('./support')`; each helper lives in exactly one module below (none of them ends in
// `.test.js`, so jest never runs them as suites). Every socket is on 127.0.0.1.
//
//   constants.js  body limits, the unused outgoing URL, …
//   packets.js    ILP Prepare / Fulfill / Reject builders
//   plugins.js    the two plugin classes, their bound ports, disconnectAll, runCleanups,
//                 a recording log
//   peers.js      free ports, raw HTTP and TCP peers, a counting TCP proxy
//   wait.js       sleep, waitFor, rejectionOf, withTimeout, settleWithin
//   http1.js      HTTP/1.1 requests: Node's client, raw sockets, a response parser
//   h2frames.js   HTTP/2 frames and HPACK by hand, a frame parser
//   h2.js         HTTP/2 and HTTPS with Node's client and server: peers, single requests
//   prng.js       a seeded PRNG
//   jwt.js        JWTs by hand (any header, payload, signature)
//   figures.js    measured figures as JSON, median / spread, fd count
//   certs.js      test certificates (node-forge), required as `require('./support/certs')`
//   packages.js   packing and installing this package like a user (required separately)
//   connector.js  the harness of the end-to-end tests with a real ilp-connector (required
//                 separately: `require('./support/connector')`, it loads ilp-connector's log)
module.exports = {
  ...require('./constants'),
  ...require('./packets'),
  ...require('./plugins'),
  ...require('./peers'),
  ...require('./wait'),
  ...require('./http1'),
  ...require('./h2frames'),
  ...require('./h2'),
  ...require('./prng'),
  ...require('./jwt'),
  ...require('./figures')
}
