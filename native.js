'use strict'
// The native addon. binding.js is the loader `napi build --platform` generates: it loads
// ./ilp-plugin-http-rs.<platform>.node (a source build, scripts/build.js) or else the prebuilt
// package ilp-plugin-http-rs-<platform> (an optionalDependency). When neither loads, this
// replaces the generated message with one that names the platform and the ways out.
const { PACKAGE, PREBUILT, platformTuple } = require('./scripts/platform')

try {
  module.exports = require('./binding.js')
} catch (err) {
  const tuple = platformTuple()
  const prebuilt = PREBUILT.includes(tuple)
    ? `the prebuilt package ${PACKAGE}-${tuple} is not installed or did not load (was the install run with --omit=optional?)`
    : `there is no prebuilt package for ${tuple} (prebuilt: ${PREBUILT.join(', ')})`
  const error = new Error(`${PACKAGE}: no native addon for ${tuple}: ${prebuilt}, and no source build was found. ` +
    'Build it from source (needs Rust, see the README): npm rebuild ilp-plugin-http-rs --build-from-source ' +
    '(npm 11 blocks dependency install scripts: add --allow-scripts=ilp-plugin-http-rs). Causes: see error.cause')
  error.cause = err
  throw error
}
