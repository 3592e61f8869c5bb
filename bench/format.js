'use strict'
// Number formatting and the median, shared by the benchmark's reports (bench/run.js,
// bench/through.js).

function median (values) {
  if (values.length === 0) return null
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

function fmtInt (n) {
  return n === null || n === undefined ? '–' : Math.round(n).toLocaleString('en-US')
}

function fmtNum (n, digits) {
  return n === null || n === undefined ? '–' : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

function fmtRatio (r) {
  return (r >= 10 ? fmtNum(r, 0) : r >= 1 ? fmtNum(r, 1) : fmtNum(r, 2)) + '×'
}

function mib (kib) {
  return typeof kib === 'number' ? fmtNum(kib / 1024, 0) : '–'
}

function fmtBytes (n) {
  if (n === 0) return '0 B'
  if (n % 1024 === 0) return `${n / 1024} KiB`
  return `${fmtInt(n)} B`
}

/** Smallest and largest of the numbers in `values` as `min–max` (formatted), or '' if none. */
function range (values, format) {
  const xs = values.filter((x) => typeof x === 'number')
  if (xs.length < 2) return ''
  return `${format(Math.min(...xs))}–${format(Math.max(...xs))}`
}

module.exports = { median, range, fmtInt, fmtNum, fmtRatio, mib, fmtBytes }
