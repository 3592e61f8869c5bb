'use strict'
// Numbers and values several suites rely on. Each is derived where it can be, so that a suite
// never restates a magic number.

/** Largest data field RFC 27 allows in a Prepare (and in a Fulfill or Reject). */
const MAX_DATA_LENGTH = 32767

/** Longest ILP address (RFC 15). */
const MAX_ADDRESS_LENGTH = 1023

/** A destination of the largest length: 'test.' and 1018 'a's (1023 characters). */
const MAX_DESTINATION = 'test.' + 'a'.repeat(MAX_ADDRESS_LENGTH - 'test.'.length)

/**
 * Largest valid ILP Prepare in bytes (1023-character destination, 32,767 data bytes): the body
 * limit of our server (a request body one byte longer is answered 413).
 */
const MAX_PREPARE_LENGTH = 33857

/**
 * Largest valid ILP Reject in bytes (1023-character triggeredBy, 8191-character message,
 * 32,767 data bytes): the response body limit of our client.
 */
const MAX_RESPONSE_LENGTH = 41997

/**
 * `outgoing.url` of plugins that only receive in a test: required by the options, never sent
 * to (nothing is bound; port 9 is the discard service, closed on these machines).
 */
const UNUSED_OUTGOING_URL = 'http://127.0.0.1:9/unused'

/** The Content-Type ILP-over-HTTP requests carry. */
const ILP_CONTENT_TYPE = 'application/ilp+octet-stream'

module.exports = {
  MAX_DATA_LENGTH,
  MAX_ADDRESS_LENGTH,
  MAX_DESTINATION,
  MAX_PREPARE_LENGTH,
  MAX_RESPONSE_LENGTH,
  UNUSED_OUTGOING_URL,
  ILP_CONTENT_TYPE
}
