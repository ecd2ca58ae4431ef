/**
 * The record benchmark's camera simulator, in its own process so it competes with neither the
 * recorder's event loop nor the benchmark's:
 *   node --import tsx bench/suites/record-sim.ts CLIP FPS STREAMS
 * Prints `{"urls":[...]}` once it listens, then reads commands on stdin: `mark` starts a
 * measurement window, `report` prints `{"cpuSeconds","seconds","elu","lagP99Ms"}` for the window
 * (its CPU time, wall time, event-loop utilisation and 99th-percentile timer lag). It stops when
 * stdin closes.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'

const [clipFile, fps, count] = process.argv.slice(2)
if (!clipFile || !fps || !count) {
  console.error('usage: record-sim.ts CLIP FPS STREAMS')
  process.exit(2)
}
const names = Array.from({ length: Number(count) }, (_, i) => `cam${i}`)
const sim = await CameraSimulator.start({
  streams: names.map((name) => ({ name, codec: 'h264' as const, clipFile, fps: Number(fps) })),
})
const lag = monitorEventLoopDelay({ resolution: 10 })
lag.enable()
let mark = { cpu: process.cpuUsage(), elu: performance.eventLoopUtilization(), at: performance.now() }
process.stdout.write(`${JSON.stringify({ urls: names.map((n) => sim.url(n)) })}\n`)

for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'mark') {
    lag.reset()
    mark = { cpu: process.cpuUsage(), elu: performance.eventLoopUtilization(), at: performance.now() }
  } else if (line === 'report') {
    const cpu = process.cpuUsage(mark.cpu)
    process.stdout.write(
      `${JSON.stringify({
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        seconds: (performance.now() - mark.at) / 1000,
        elu: performance.eventLoopUtilization(mark.elu).utilization,
        lagP99Ms: lag.percentile(99) / 1e6,
      })}\n`,
    )
  }
}
await sim.close()
process.exit(0)
