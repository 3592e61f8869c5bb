'use strict'
// Keeps the through-connector scenario of `npm run bench` (bench/through.js) from rotting: runs
// it for a moment per row (ours, 1.6.1, the floor plugin of bench/floor.js) with three real
// processes each (sender → ilp-connector 23.0.2 → receiver) and checks that every row moved
// packets without errors and that every figure the report needs was measured. No timing
// assertions: speed belongs in `npm run bench`, not in tests.
const { execFile } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')

const ROOT = path.join(__dirname, '..')

test('bench --scenarios connector: ours, 1.6.1 and the floor each forward packets through ilp-connector', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-through-'))
  try {
    await new Promise((resolve, reject) => {
      execFile(process.execPath, [
        path.join(ROOT, 'bench', 'run.js'), '--scenarios', 'connector', '--rounds', '1',
        '--warmup-ms', '300', '--duration-ms', '500', '--through-in-flight', '4', '--out', out
      ], { cwd: ROOT, timeout: 150000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`bench/run.js failed: ${err.message}\n${stderr}`))
        else resolve()
      })
    })
    const report = JSON.parse(fs.readFileSync(path.join(out, 'bench.json'), 'utf8'))
    expect(report.runs).toEqual([])
    expect(report.throughRuns.map((r) => r.impl)).toEqual(['floor', 'ours', 'orig'])
    for (const run of report.throughRuns) {
      expect({ impl: run.impl, status: run.status, errors: run.errors, firstError: run.firstError })
        .toEqual({ impl: run.impl, status: 'ok', errors: 0, firstError: undefined })
      expect(run.packets).toBeGreaterThan(0)
      for (const figure of ['cpuConnectorUs', 'cpuMainUs', 'cpuOtherUs', 'cpuSenderUs', 'cpuReceiverUs', 'switchesConnector', 'p50Us', 'p99Us', 'rssConnectorKiB']) {
        expect({ impl: run.impl, figure, type: typeof run[figure] }).toEqual({ impl: run.impl, figure, type: 'number' })
      }
      // Only our plugin starts tokio threads in the connector.
      if (run.impl !== 'ours') expect(run.cpuTokioUs).toBe(0)
    }
    const markdown = fs.readFileSync(path.join(out, 'bench.md'), 'utf8')
    expect(markdown).toContain('## Through ilp-connector')
    expect(markdown).toContain('| this plugin |')
  } finally {
    fs.rmSync(out, { recursive: true, force: true })
  }
}, 180000)
