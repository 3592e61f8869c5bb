'use strict'
// Deterministic pseudo-random numbers, so that a "random" test sends the same bytes every run.

/**
 * mulberry32: a small, fast 32-bit PRNG. Returns a function yielding numbers in [0, 1), the same
 * sequence for the same `seed`.
 */
function prng (seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** `length` bytes drawn from `random` (a function from prng()). */
function randomBytes (random, length) {
  const bytes = Buffer.alloc(length)
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256)
  return bytes
}

module.exports = { prng, randomBytes }
