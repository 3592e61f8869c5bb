'use strict'
// Waiting in tests, with one contract per helper. None of them throws on a timeout unless its
// name says so: the test asserts on what they resolve, so a failure names what was expected.

/** Resolves after `ms` milliseconds. */
function sleep (ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Polls `predicate` (sync or async) until it returns a truthy value. Resolves `true` as soon as
 * it does, `false` once `timeoutMs` have passed without it (the predicate is checked one last
 * time at the deadline). Never rejects on a timeout: callers that need the condition write
 * `expect(await waitFor(...)).toBe(true)`; callers that only wait for a quiet moment ignore it.
 * `everyMs` is the pause between checks (default 10 ms; more when a check is costly).
 *
 * @param {() => (boolean | Promise<boolean>)} predicate
 * @param {number} timeoutMs
 * @param {{ everyMs?: number }} [options]
 * @returns {Promise<boolean>}
 */
async function waitFor (predicate, timeoutMs, { everyMs = 10 } = {}) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await predicate()) return true
    if (Date.now() >= deadline) return false
    await sleep(everyMs)
  }
}

/**
 * The error `promise` rejects with. Rejects (failing the test) when the promise resolves.
 *
 * @param {Promise<unknown>} promise
 * @returns {Promise<any>}
 */
async function rejectionOf (promise) {
  try {
    await promise
  } catch (err) {
    return err
  }
  throw new Error('expected the promise to reject, but it resolved')
}

/**
 * Resolves what `promise` resolves, or rejects with `Error("<message> (after <ms> ms)")` once
 * `ms` have passed (the timer is cleared either way).
 */
function withTimeout (promise, ms, message) {
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${message} (after ${ms} ms)`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/**
 * How `promise` settles, without rejecting: `{ ok: true, value }` or `{ ok: false, error }`,
 * or `{ hung: true }` when it has not settled within `ms` (omit `ms` to wait without a bound).
 */
function settleWithin (promise, ms) {
  const settled = Promise.resolve(promise).then((value) => ({ ok: true, value }), (error) => ({ ok: false, error }))
  if (ms === undefined) return settled
  let timer
  return Promise.race([
    settled,
    new Promise((resolve) => { timer = setTimeout(() => resolve({ hung: true }), ms) })
  ]).finally(() => clearTimeout(timer))
}

module.exports = { sleep, waitFor, rejectionOf, withTimeout, settleWithin }
