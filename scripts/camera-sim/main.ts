/**
 * `npm run camera-sim`: simulated cameras for development and demos (cam1 also has AAC audio).
 *   VMS_SIM_PORT (8554), VMS_SIM_HOST (127.0.0.1), VMS_SIM_USERNAME/VMS_SIM_PASSWORD (Digest auth on
 *   every stream when set).
 */
import { CameraSimulator } from './simulator.ts'

const auth =
  process.env.VMS_SIM_USERNAME && process.env.VMS_SIM_PASSWORD
    ? { username: process.env.VMS_SIM_USERNAME, password: process.env.VMS_SIM_PASSWORD }
    : undefined
const sim = await CameraSimulator.start({
  host: process.env.VMS_SIM_HOST ?? '127.0.0.1',
  port: Number(process.env.VMS_SIM_PORT ?? 8554),
  streams: [
    { name: 'cam1', codec: 'h264', audio: true, ...(auth ? { auth } : {}) },
    { name: 'cam2', codec: 'h264', ...(auth ? { auth } : {}) },
    { name: 'cam3-h265', codec: 'h265', ...(auth ? { auth } : {}) },
  ],
})
console.log(`camera simulator: ${['cam1', 'cam2', 'cam3-h265'].map((n) => sim.url(n)).join('  ')}`)
const stop = async () => {
  await sim.close()
  process.exit(0)
}
process.on('SIGINT', () => void stop())
process.on('SIGTERM', () => void stop())
