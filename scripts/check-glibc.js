#!/usr/bin/env node
'use strict'
// The glibc baseline of the linux-*-gnu prebuilt binaries: every versioned glibc symbol the
// addon imports (`objdump -T`) must be at most GLIBC_2.17 (CentOS 7, Debian 8, Ubuntu 14.04 and
// every newer distribution). `npm run package` runs this on each gnu binary;
// __test__/glibc-baseline.test.js runs it on a zig build.
//
//   node scripts/check-glibc.js <file.node>...
const { execFileSync } = require('child_process')

const GLIBC_BASELINE = '2.17'

function versionAbove (a, b) {
  const x = a.split('.').map(Number)
  const y = b.split('.').map(Number)
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if ((x[i] || 0) !== (y[i] || 0)) return (x[i] || 0) > (y[i] || 0)
  }
  return false
}

/** The GLIBC_x.y versions `file` needs, sorted; throws if one is above the baseline. */
function checkGlibc (file, baseline = GLIBC_BASELINE) {
  const dump = execFileSync('objdump', ['-T', file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  const versions = [...new Set(dump.match(/GLIBC_\d+(\.\d+)*/g) || [])]
    .map((v) => v.slice('GLIBC_'.length))
    .sort((a, b) => (versionAbove(a, b) ? 1 : versionAbove(b, a) ? -1 : 0))
  const above = versions.filter((v) => versionAbove(v, baseline))
  if (above.length) {
    const symbols = dump.split('\n').filter((line) => above.some((v) => line.includes(`GLIBC_${v} `) || line.includes(`GLIBC_${v})`)))
    throw new Error(`${file} needs glibc ${above.join(', ')}, above the baseline ${baseline}:\n${symbols.slice(0, 10).join('\n')}`)
  }
  return versions
}

module.exports = { checkGlibc, GLIBC_BASELINE, versionAbove }

if (require.main === module) {
  let failed = false
  for (const file of process.argv.slice(2)) {
    try {
      const versions = checkGlibc(file)
      console.log(`${file}: GLIBC_${versions[versions.length - 1] || '(none)'} at most (baseline ${GLIBC_BASELINE})`)
    } catch (err) {
      console.error(err.message)
      failed = true
    }
  }
  process.exit(failed ? 1 : 0)
}
