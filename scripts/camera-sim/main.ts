/**
 * `npm run camera-sim`: simulated cameras for development and demos (cam1 also has AAC audio).
 *   VMS_SIM_PORT (8554), VMS_SIM_HOST (127.0.0.1), VMS_SIM_USERNAME/VMS_SIM_PASSWORD (Digest auth on
 *   every stream when set).
 *   --gop <s>              seconds between keyframes on every stream (1; other values need ffmpeg)
 *
 * Simulated network devices in front of those streams (none by default; see devices.ts):
 *   npm run camera-sim -- --onvif cam1 --isapi-nvr 4 --dahua cam2 --device-password s3cret
 *   --onvif <stream>       an ONVIF camera (profiles main + sub) named after a stream; repeatable
 *   --isapi <stream>       a Hikvision-like ISAPI camera; repeatable
 *   --isapi-nvr <n>        a Hikvision-like NVR "nvr" with n channels over the streams in turn
 *   --dahua <stream>       a Dahua-like camera; repeatable
 *   --dahua-nvr <n>        a Dahua-like NVR "dahua-nvr" with n channels
 *   --device-user <u>      device username (admin); --device-password <p> (secret)
 *   --device-host <h>      where the devices listen (VMS_SIM_HOST); ports are random
 *   --clock-skew <ms>      ONVIF devices' clock minus real time (0)
 *   --discovery-port <p>   WS-Discovery unicast port (random); --discovery-multicast also joins
 *                          239.255.255.250 on 0.0.0.0 (port 3702 unless given)
 *   --motion-every <s>     motion on every device and channel every s seconds, for 1/3 of it
 * Each device's address, credentials and RTSP URLs are printed at start.
 */
import { parseArgs } from 'node:util'
import { lanAddress, type SimDeviceSpec, SimulatedDevices } from './devices.ts'
import { CameraSimulator, type SimStreamOptions } from './simulator.ts'

const { values: args } = parseArgs({
  options: {
    onvif: { type: 'string', multiple: true },
    isapi: { type: 'string', multiple: true },
    'isapi-nvr': { type: 'string' },
    dahua: { type: 'string', multiple: true },
    'dahua-nvr': { type: 'string' },
    'device-user': { type: 'string' },
    'device-password': { type: 'string' },
    'device-host': { type: 'string' },
    'clock-skew': { type: 'string' },
    'discovery-port': { type: 'string' },
    'discovery-multicast': { type: 'boolean' },
    'motion-every': { type: 'string' },
    gop: { type: 'string' },
  },
})

const int = (name: string, v: string | undefined, min: number): number | undefined => {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name}: expected an integer ≥ ${min}, got ${JSON.stringify(v)}`)
    process.exit(2)
  }
  return n
}

const NAMES = ['cam1', 'cam2', 'cam3-h265']
const wantDevices = Boolean(
  args.onvif?.length || args.isapi?.length || args.dahua?.length || args['isapi-nvr'] || args['dahua-nvr'],
)
const auth =
  process.env.VMS_SIM_USERNAME && process.env.VMS_SIM_PASSWORD
    ? { username: process.env.VMS_SIM_USERNAME, password: process.env.VMS_SIM_PASSWORD }
    : undefined
const gopSeconds = int('gop', args.gop, 1)
const common = { ...(auth ? { auth } : {}), ...(gopSeconds !== undefined ? { gopSeconds } : {}) }
const streams: SimStreamOptions[] = [
  { name: 'cam1', codec: 'h264', audio: true, ...common },
  { name: 'cam2', codec: 'h264', ...common },
  { name: 'cam3-h265', codec: 'h265', ...common },
]
// Devices name a sub stream per camera; without devices the simulator serves what it always did.
if (wantDevices)
  for (const name of NAMES) streams.push({ name: `${name}-sub`, codec: 'h264', sub: true, ...common })

const host = process.env.VMS_SIM_HOST ?? '127.0.0.1'
const sim = await CameraSimulator.start({ host, port: Number(process.env.VMS_SIM_PORT ?? 8554), streams })
console.log(`camera simulator: ${NAMES.map((n) => sim.url(n)).join('  ')}`)

let devices: SimulatedDevices | undefined
if (wantDevices) {
  const username = args['device-user'] ?? 'admin'
  const password = args['device-password'] ?? 'secret'
  const clockSkewMs = int('clock-skew', args['clock-skew'], Number.MIN_SAFE_INTEGER) ?? 0
  const streamsOf = (name: string) => {
    if (!NAMES.includes(name)) {
      console.error(`no simulator stream ${JSON.stringify(name)} (streams: ${NAMES.join(', ')})`)
      process.exit(2)
    }
    return { main: name, sub: `${name}-sub` }
  }
  const all = NAMES.map((n) => ({ main: n, sub: `${n}-sub` }))
  const specs: SimDeviceSpec[] = [
    ...(args.onvif ?? []).map((n) => ({
      kind: 'onvif' as const,
      name: `onvif-${n}`,
      username,
      password,
      clockSkewMs,
      streams: streamsOf(n),
    })),
    ...(args.isapi ?? []).map((n) => ({
      kind: 'isapi' as const,
      name: `isapi-${n}`,
      username,
      password,
      streams: streamsOf(n),
    })),
    ...(args.dahua ?? []).map((n) => ({
      kind: 'dahua' as const,
      name: `dahua-${n}`,
      username,
      password,
      streams: streamsOf(n),
    })),
  ]
  const isapiNvr = int('isapi-nvr', args['isapi-nvr'], 1)
  if (isapiNvr)
    specs.push({ kind: 'isapi', name: 'nvr', username, password, channels: isapiNvr, streams: all })
  const dahuaNvr = int('dahua-nvr', args['dahua-nvr'], 1)
  if (dahuaNvr)
    specs.push({ kind: 'dahua', name: 'dahua-nvr', username, password, channels: dahuaNvr, streams: all })
  const discoveryPort = int('discovery-port', args['discovery-port'], 0)
  devices = await SimulatedDevices.start({
    host: args['device-host'] ?? host,
    rtspBaseUrl: `rtsp://${sim.host === '0.0.0.0' ? lanAddress() : sim.host}:${sim.port}`,
    devices: specs,
    simulator: sim,
    discovery: {
      ...(discoveryPort !== undefined ? { port: discoveryPort } : {}),
      ...(args['discovery-multicast'] ? { multicast: true } : {}),
    },
  })
  for (const line of devices.describe()) console.log(line)
  const every = int('motion-every', args['motion-every'], 1)
  if (every) {
    devices.startMotionSchedule({ everyMs: every * 1000, durationMs: Math.max(500, (every * 1000) / 3) })
    console.log(`motion on every device for ${Math.round(every / 3)} s of every ${every} s`)
  }
}

const stop = async () => {
  await devices?.close()
  await sim.close()
  process.exit(0)
}
process.on('SIGINT', () => void stop())
process.on('SIGTERM', () => void stop())
