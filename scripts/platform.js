'use strict'
// The napi-rs name of this machine's platform (`linux-x64-gnu`, `linux-x64-musl`,
// `linux-arm64-gnu`, `darwin-arm64`, `win32-x64-msvc`, …), detected the way the generated
// loader (binding.js) detects it, so the source build writes the file the loader looks for.
const fs = require('fs')

const PACKAGE = 'ilp-plugin-http-rs'
/** The platforms with a prebuilt package (package.json `napi.targets`). */
const PREBUILT = ['linux-x64-gnu', 'linux-arm64-gnu', 'linux-x64-musl']

function isMusl () {
  try {
    return fs.readFileSync('/usr/bin/ldd', 'utf8').includes('musl')
  } catch {}
  const report = typeof process.report?.getReport === 'function' ? process.report.getReport() : null
  return Boolean(report && report.header && !report.header.glibcVersionRuntime)
}

function platformTuple () {
  const { platform, arch } = process
  if (platform === 'win32') return `win32-${arch}-msvc`
  if (platform !== 'linux') return `${platform}-${arch}`
  const abi = isMusl() ? 'musl' : 'gnu'
  return arch === 'arm' ? `linux-arm-${abi}eabihf` : `linux-${arch}-${abi}`
}

/** `ilp-plugin-http-rs.linux-x64-gnu.node`: the file a source build writes next to binding.js. */
function addonFileName (tuple = platformTuple()) {
  return `${PACKAGE}.${tuple}.node`
}

module.exports = { PACKAGE, PREBUILT, isMusl, platformTuple, addonFileName }
