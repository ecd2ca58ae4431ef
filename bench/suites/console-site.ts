import pino from 'pino'
import { EdgeAgent, loadAgentSettings } from '../../edge-agent/src/index.ts'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'

/**
 * The console bench's site, each part in a process of its own as on a real deployment (cameras are
 * devices of their own, the agent runs on the store's PC, the hub elsewhere):
 * - `cameras <count>`: simulated cameras, each with a main (640x360) and a sub (320x180) stream;
 *   prints one JSON line with the simulator's base URL;
 * - `agent <data dir>`: an agent already enrolled into that directory; prints `{}` once started.
 * Each runs until its standard input closes.
 */
const [role, arg] = process.argv.slice(2)
let stop: () => Promise<void>
if (role === 'cameras' && arg) {
  const sim = await CameraSimulator.start({
    streams: Array.from({ length: Number(arg) }, (_, i) => [
      { name: `cam${i}`, codec: 'h264' as const },
      { name: `cam${i}-sub`, codec: 'h264' as const, sub: true },
    ]).flat(),
  })
  process.stdout.write(`${JSON.stringify({ simBase: sim.url('').replace(/\/$/, '') })}\n`)
  stop = () => sim.close()
} else if (role === 'agent' && arg) {
  const agent = new EdgeAgent(
    loadAgentSettings({
      VMS_AGENT_DATA_DIR: arg,
      VMS_AGENT_LIVE_HOST_ADDRESSES: '127.0.0.1',
      VMS_AGENT_MIN_FREE_BYTES: '0',
    }),
    pino({ level: 'warn' }),
  )
  agent.start()
  process.stdout.write('{}\n')
  stop = () => agent.stop()
} else {
  console.error('usage: console-site.ts cameras <count> | agent <agent data dir>')
  process.exit(2)
}
process.stdin.resume()
process.stdin.on('end', () => {
  void stop().then(() => process.exit(0))
})
