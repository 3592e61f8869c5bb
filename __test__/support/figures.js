'use strict'
// Figures a suite measures (jest hides console output), written as JSON; docs/reliability.md
// is filled from these files.
const fs = require('fs')
const os = require('os')

/** Writes `figures` to `file` as JSON, with when, which Node and how many CPUs. */
function writeFigures (file, figures) {
  fs.writeFileSync(file, JSON.stringify({
    measuredAt: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    ...figures
  }, null, 2) + '\n')
}

/** The median of some numbers, or null when there are none. */
function median (values) {
  if (values.length === 0) return null
  const sorted = [...values].sort((x, y) => x - y)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** `{ count, min, median, max }` of the numbers among `values` (`{ count: 0 }` when none). */
function spread (values) {
  const v = values.filter((x) => typeof x === 'number')
  if (v.length === 0) return { count: 0 }
  return { count: v.length, min: Math.min(...v), median: median(v), max: Math.max(...v) }
}

/** Open file descriptors of this process. */
function fdCount () {
  return fs.readdirSync('/proc/self/fd').length
}

module.exports = { writeFigures, median, spread, fdCount }
