import pino from 'pino'
import { EdgeAgent, loadAgentSettings } from '../../edge-agent/src/index.ts'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'

/**
 * The console bench's site, in a process of its own as on a real deployment (the agent runs on
 * the store's PC, not in the hub): `count` simulated cameras (main 640x360, sub 320x180) and an
 * agent already enrolled into `agentDir`. Prints one JSON line with the simulator's base URL, then
 * runs until its standard input closes.
 */
const [agentDir, count] = process.argv.slice(2)
if (!agentDir || !count) {
  console.error('usage: console-site.ts <agent data dir> <cameras>')
  process.exit(2)
}
const sim = await CameraSimulator.start({
  streams: Array.from({ length: Number(count) }, (_, i) => [
    { name: `cam${i}`, codec: 'h264' as const },
    { name: `cam${i}-sub`, codec: 'h264' as const, sub: true },
  ]).flat(),
})
const agent = new EdgeAgent(
  loadAgentSettings({
    VMS_AGENT_DATA_DIR: agentDir,
    VMS_AGENT_LIVE_HOST_ADDRESSES: '127.0.0.1',
    VMS_AGENT_MIN_FREE_BYTES: '0',
  }),
  pino({ level: 'warn' }),
)
agent.start()
process.stdout.write(`${JSON.stringify({ simBase: sim.url('').replace(/\/$/, '') })}\n`)
process.stdin.resume()
process.stdin.on('end', () => {
  void (async () => {
    await agent.stop()
    await sim.close()
    process.exit(0)
  })()
})
