'use strict'
// Throwaway certificates for the TLS tests, made with node-forge (RSA 2048, SHA-256):
//
// - `ca`:          a private CA ('ilp-plugin-http-rs test CA').
// - `leaf`:        'localhost' + DNS localhost + IP 127.0.0.1, signed by `ca` (the good one).
// - `otherCa`:     a second, unrelated CA.
// - `otherLeaf`:   'localhost' + 127.0.0.1 again, but signed by `otherCa`.
// - `selfSigned`:  'localhost' + 127.0.0.1, signed by its own key (not a CA).
// - `wrongHost`:   'wrong.example' only (no localhost, no IP), signed by `ca`.
//
// `getClientCerts()` adds client certificates for mutual TLS (extKeyUsage clientAuth):
// - `client`:      'ilp-peer-client', signed by `ca`.
// - `otherClient`: 'ilp-peer-client' again, signed by `otherCa`.
//
// Each is `{ cert, key }` in PEM. Generated once per test file (jest gives every test file its
// own module registry, so the cache below lives as long as one file's run) because key
// generation is the slow part. `writePems(dir)` writes them all as files for the "PEM file
// path" variants of the options.
const fs = require('fs')
const path = require('path')
const forge = require('node-forge')

const { pki } = forge

let cached = null

function newKeys () {
  // forge uses Node's native generateKeyPairSync here when it is available (fast).
  return pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 })
}

let serial = 1
function nextSerial () {
  // Positive (leading 0x01 byte), unique within the run, at most 20 bytes.
  serial += 1
  return '01' + Date.now().toString(16).padStart(12, '0') + serial.toString(16).padStart(6, '0')
}

function validity (cert) {
  const now = Date.now()
  cert.validity.notBefore = new Date(now - 24 * 3600 * 1000)
  cert.validity.notAfter = new Date(now + 30 * 24 * 3600 * 1000)
}

function makeCa (commonName) {
  const keys = newKeys()
  const cert = pki.createCertificate()
  cert.publicKey = keys.publicKey
  cert.serialNumber = nextSerial()
  validity(cert)
  const subject = [{ name: 'commonName', value: commonName }, { name: 'organizationName', value: 'ilp-plugin-http-rs tests' }]
  cert.setSubject(subject)
  cert.setIssuer(subject)
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' }
  ])
  cert.sign(keys.privateKey, forge.md.sha256.create())
  return { cert, keys, pem: { cert: pki.certificateToPem(cert), key: pki.privateKeyToPem(keys.privateKey) } }
}

/**
 * A certificate for `commonName` with the given subjectAltNames, signed by `issuer`
 * (`{ cert, keys }` of a CA), or self-signed when `issuer` is null. `usage` is the extKeyUsage:
 * a server certificate unless told otherwise.
 */
function makeLeaf (commonName, altNames, issuer, usage = { serverAuth: true }) {
  const keys = newKeys()
  const cert = pki.createCertificate()
  cert.publicKey = keys.publicKey
  cert.serialNumber = nextSerial()
  validity(cert)
  cert.setSubject([{ name: 'commonName', value: commonName }])
  cert.setIssuer(issuer ? issuer.cert.subject.attributes : cert.subject.attributes)
  const extensions = [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', ...usage },
    { name: 'subjectAltName', altNames },
    { name: 'subjectKeyIdentifier' }
  ]
  if (issuer) {
    extensions.push({ name: 'authorityKeyIdentifier', keyIdentifier: issuer.cert.generateSubjectKeyIdentifier().getBytes() })
  }
  cert.setExtensions(extensions)
  cert.sign((issuer ? issuer.keys : keys).privateKey, forge.md.sha256.create())
  return { cert: pki.certificateToPem(cert), key: pki.privateKeyToPem(keys.privateKey) }
}

const LOCALHOST_NAMES = [
  { type: 2, value: 'localhost' }, // dNSName
  { type: 7, ip: '127.0.0.1' } // iPAddress
]

let authorities = null
let clientCached = null

/** The two CAs, with their keys (generated on first use, then cached). */
function getAuthorities () {
  if (!authorities) {
    authorities = { ca: makeCa('ilp-plugin-http-rs test CA'), otherCa: makeCa('unrelated test CA') }
  }
  return authorities
}

/** All the server certificates (generated on first use, then cached). */
function getCerts () {
  if (cached) return cached
  const { ca, otherCa } = getAuthorities()
  cached = {
    ca: ca.pem,
    leaf: makeLeaf('localhost', LOCALHOST_NAMES, ca),
    otherCa: otherCa.pem,
    otherLeaf: makeLeaf('localhost', LOCALHOST_NAMES, otherCa),
    selfSigned: makeLeaf('localhost', LOCALHOST_NAMES, null),
    wrongHost: makeLeaf('wrong.example', [{ type: 2, value: 'wrong.example' }], ca)
  }
  return cached
}

/**
 * Client certificates for mutual TLS, signed by the CAs of `getCerts()` (`{ client, otherClient }`,
 * each `{ cert, key }` in PEM; generated on first use, then cached).
 */
function getClientCerts () {
  if (clientCached) return clientCached
  const { ca, otherCa } = getAuthorities()
  const names = [{ type: 2, value: 'ilp-peer-client' }]
  clientCached = {
    client: makeLeaf('ilp-peer-client', names, ca, { clientAuth: true }),
    otherClient: makeLeaf('ilp-peer-client', names, otherCa, { clientAuth: true })
  }
  return clientCached
}

/**
 * Writes every certificate and key of `getCerts()` into `dir` as `<name>.cert.pem` and
 * `<name>.key.pem`; returns `{ <name>: { cert: path, key: path } }`.
 */
function writePems (dir) {
  const certs = getCerts()
  const paths = {}
  for (const [name, pem] of Object.entries(certs)) {
    paths[name] = {
      cert: path.join(dir, `${name}.cert.pem`),
      key: path.join(dir, `${name}.key.pem`)
    }
    fs.writeFileSync(paths[name].cert, pem.cert)
    fs.writeFileSync(paths[name].key, pem.key)
  }
  return paths
}

module.exports = { getCerts, getClientCerts, writePems }
