'use strict'
// The tokio runtime's size (issue 13, item 5): ILP_PLUGIN_HTTP_RS_WORKER_THREADS sets the number
// of worker threads of the whole process, is checked when the package loads (a bad value is a
// RangeError naming the variable, not a silent default), and unset gives the documented
// default; getAdminInfo().runtime reports it, and that tokio's LIFO slot is off. Each case runs in a child process, because the addon reads the variable once, when
// it is loaded, and counts the process's tokio worker threads in /proc/self/task after a
// plugin connected (its server runs on the runtime).
const { execFile } = require('child_process')
const path = require('path')
const { UNUSED_OUTGOING_URL } = require('./support/constants')

const ROOT = path.join(__dirname, '..')
const ENV = 'ILP_PLUGIN_HTTP_RS_WORKER_THREADS'
/** README "Performance" and src: the default when the variable is unset. */
const DEFAULT_WORKER_THREADS = 1

/** Loads the package in a child process, connects a plugin, prints the tokio worker count. */
const CHILD = `
const fs = require('fs')
const PluginHttp = require(${JSON.stringify(ROOT)})
const plugin = new PluginHttp({ incoming: { port: 0, host: '127.0.0.1', staticToken: 't' }, outgoing: { url: ${JSON.stringify(UNUSED_OUTGOING_URL)}, staticToken: 't' } })
const countWorkers = () => fs.readdirSync('/proc/self/task')
  .map((tid) => { try { return fs.readFileSync('/proc/self/task/' + tid + '/comm', 'utf8').trim() } catch (e) { return '' } })
  .filter((name) => name.startsWith('tokio-')).length
// Worker threads start (and name themselves) asynchronously: report the count once it has
// stayed the same for 10 reads 30 ms apart (at most ~5 s), not the first read.
async function settledCount () {
  let last = -1
  let same = 0
  for (let i = 0; i < 170 && same < 10; i++) {
    const now = countWorkers()
    same = now === last ? same + 1 : 0
    last = now
    await new Promise((resolve) => setTimeout(resolve, 30))
  }
  return last
}
plugin.connect()
  .then(settledCount)
  .then((count) => {
    console.log(JSON.stringify({ count, runtime: plugin.getAdminInfo().runtime }))
    return plugin.disconnect()
  })
`

function runChild (value) {
  const env = { ...process.env }
  delete env[ENV]
  if (value !== undefined) env[ENV] = value
  return new Promise((resolve) => {
    execFile(process.execPath, ['-e', CHILD], { env, timeout: 20000 }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout: stdout.trim(), stderr })
    })
  })
}

test.each([
  [undefined, DEFAULT_WORKER_THREADS],
  ['', DEFAULT_WORKER_THREADS],
  ['1', 1],
  ['3', 3]
])('%s=%p gives %p tokio worker threads', async (value, expected) => {
  const { code, stdout, stderr } = await runChild(value)
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
  const { count, runtime } = JSON.parse(stdout)
  expect(count).toBe(expected)
  // getAdminInfo() tells the same, and that tokio runs without its LIFO slot (src/node/runtime.rs:
  // built with --cfg tokio_unstable from .cargo/config.toml).
  expect(runtime).toEqual({ workerThreads: expected, lifoSlot: false, aliveTasks: expect.any(Number) })
})

test.each(['0', '-1', '1.5', 'two', '65', ' 2', '1e1'])('%p is refused when the package loads', async (value) => {
  const { code, stderr } = await runChild(value)
  expect(code).not.toBe(0)
  expect(stderr).toContain(`RangeError: ${ENV} must be an integer from 1 to 64, not ${JSON.stringify(value)}`)
})
