'use strict'
// Jest globalSetup: makes `require('ilp-plugin-http-rs')` resolve to this repository from
// anywhere under node_modules (ilp-connector loads account plugins by package name, exactly as
// an operator's config names them). Creates node_modules/ilp-plugin-http-rs -> .. (a relative
// symlink) when it is missing or points elsewhere. Idempotent; never deletes a real directory.
const fs = require('fs')
const path = require('path')

const ROOT = path.resolve(__dirname, '..', '..')
const LINK = path.join(ROOT, 'node_modules', 'ilp-plugin-http-rs')
const TARGET = path.relative(path.dirname(LINK), ROOT) // '..'

function linkSelf () {
  let stat
  try {
    stat = fs.lstatSync(LINK)
  } catch (err) {
    if (err.code !== 'ENOENT') throw err
  }
  if (stat && stat.isSymbolicLink()) {
    let resolved
    try {
      resolved = fs.realpathSync(LINK)
    } catch (err) {
      resolved = undefined // dangling link: replace it
    }
    if (resolved === fs.realpathSync(ROOT)) return
    fs.unlinkSync(LINK)
  } else if (stat) {
    // A real file or directory (e.g. an installed copy): leave it alone, say so loudly.
    process.stderr.write(`link-self: ${LINK} exists and is not a symlink; ` +
      'require(\'ilp-plugin-http-rs\') will not load this checkout\n')
    return
  }
  fs.mkdirSync(path.dirname(LINK), { recursive: true })
  try {
    fs.symlinkSync(TARGET, LINK, 'dir')
  } catch (err) {
    // Another jest process may have created it in the meantime.
    if (err.code !== 'EEXIST') throw err
  }
}

module.exports = async function globalSetup () {
  linkSelf()
}
module.exports.linkSelf = linkSelf
