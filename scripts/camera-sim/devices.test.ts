import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DahuaClient } from '../../edge-agent/src/devices/dahua/dahua-client.ts'
import type { DeviceEvent } from '../../edge-agent/src/devices/device-events.ts'
import { IsapiClient } from '../../edge-agent/src/devices/isapi/isapi-client.ts'
import { OnvifClient } from '../../edge-agent/src/devices/onvif/onvif-client.ts'
import { discoverOnvif } from '../../edge-agent/src/devices/onvif/ws-discovery.ts'
import { RtspClient } from '../../edge-agent/src/media/rtsp/client.ts'
import { SimulatedDevices } from './devices.ts'
import { CameraSimulator } from './simulator.ts'

/**
 * The simulated devices, spoken to by the agent's own clients: ONVIF (profiles, stream URIs that
 * play on the simulator, a camera clock 2 h ahead, pull-point motion), WS-Discovery by unicast,
 * a Hikvision-like NVR and a Dahua-like camera with their event streams, and wrong passwords.
 */
let sim: CameraSimulator
let devices: SimulatedDevices
const closers: (() => unknown)[] = []

beforeAll(async () => {
  sim = await CameraSimulator.start({
    streams: [
      { name: 'cam1', codec: 'h264' },
      { name: 'cam1-sub', codec: 'h264', sub: true },
      { name: 'cam2', codec: 'h264' },
    ],
  })
  devices = await SimulatedDevices.start({
    rtspBaseUrl: `rtsp://${sim.host}:${sim.port}`,
    heartbeatMs: 1000,
    devices: [
      {
        kind: 'onvif',
        name: 'front',
        username: 'admin',
        password: 'pw1',
        clockSkewMs: 2 * 3600_000,
        streams: { main: 'cam1', sub: 'cam1-sub' },
      },
      { kind: 'onvif', name: 'back', username: 'admin', password: 'pw2', streams: { main: 'cam2' } },
      {
        kind: 'isapi',
        name: 'nvr',
        username: 'admin',
        password: 'pw3',
        channels: 4,
        streams: [{ main: 'cam1', sub: 'cam1-sub' }, { main: 'cam2' }],
      },
      { kind: 'dahua', name: 'dh', username: 'admin', password: 'pw4', streams: { main: 'cam2' } },
    ],
  })
})

afterAll(async () => {
  for (const c of closers.splice(0)) await c()
  await devices?.close()
  await sim?.close()
})

const onvifClient = (name: string, password?: string) => {
  const d = devices.get(name)
  return new OnvifClient({
    url: d.url,
    username: d.username,
    password: password ?? d.password,
    timeoutMs: 3000,
  })
}

async function plays(url: string): Promise<string> {
  const client = new RtspClient({ url, transport: 'tcp', audio: false })
  closers.push(() => client.close())
  const frame = new Promise<void>((resolve) => client.once('frame', () => resolve()))
  const info = await client.connect()
  await frame
  await client.close()
  return info.codec
}

async function until<T>(f: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = f()
    if (v !== undefined && v !== false) return v
    if (Date.now() > end) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('simulated ONVIF devices', () => {
  it('serve profiles whose stream URIs are the simulator streams, and those play', async () => {
    const c = onvifClient('front')
    const { clockOffsetMs } = await c.connect()
    // The camera clock is 2 h ahead: the client measured it and its UsernameToken was accepted.
    expect(Math.abs(clockOffsetMs - 2 * 3600_000)).toBeLessThan(5000)
    const profiles = await c.profiles()
    expect(profiles.map((p) => p.token)).toEqual(['main', 'sub'])
    expect(devices.get('front').onvif?.log).toContain('GetProfiles:token-digest')
    expect(profiles[0]).toMatchObject({ video: { encoding: 'H264', width: 640, height: 360 } })
    const main = (await c.streamUri('main')).uri
    const sub = (await c.streamUri('sub')).uri
    expect(main).toBe(sim.url('cam1'))
    expect(sub).toBe(sim.url('cam1-sub'))
    expect(await plays(main)).toBe('h264')
    expect(await plays(sub)).toBe('h264')
    const back = onvifClient('back')
    await back.connect()
    expect((await back.streamUri('main')).uri).toBe(sim.url('cam2'))
  })

  it('refuse a wrong password', async () => {
    await expect(onvifClient('back', 'wrong').connect()).rejects.toMatchObject({ code: 'not_authorized' })
  })

  it('deliver motion start and stop to a pull point', async () => {
    const c = onvifClient('front')
    await c.connect()
    await c.events.createPullPoint()
    const first = await c.events.pull(1, 10)
    expect(first.notifications[0]).toMatchObject({
      topic: 'RuleEngine/CellMotionDetector/Motion',
      propertyOperation: 'Initialized',
      data: { IsMotion: 'false' },
    })
    const pulling = c.events.pull(5, 10)
    await new Promise((r) => setTimeout(r, 100))
    await devices.motion('front', true)
    const started = await pulling
    expect(started.notifications.map((n) => [n.topic, n.data.IsMotion])).toEqual([
      ['RuleEngine/CellMotionDetector/Motion', 'true'],
    ])
    await devices.motion('front', false)
    const stopped = await c.events.pull(1, 10)
    expect(stopped.notifications.map((n) => n.data.IsMotion)).toEqual(['false'])
    await c.events.unsubscribe()
  })

  it('answer unicast WS-Discovery probes for each ONVIF device', async () => {
    const target = devices.discoveryTarget
    expect(target).toMatch(/^127\.0\.0\.1:\d+$/)
    const { devices: found } = await discoverOnvif({ targets: [target as string], timeoutMs: 1000 })
    expect(found.map((d) => d.onvifUrl).sort()).toEqual(
      [devices.get('back').url, devices.get('front').url].sort(),
    )
    expect(found.every((d) => d.via === 'unicast')).toBe(true)
  })
})

describe('the simulated Hikvision-like NVR', () => {
  const client = (password = 'pw3') =>
    new IsapiClient({ baseUrl: devices.get('nvr').url, username: 'admin', password, timeoutMs: 3000 })

  it('lists its channels naming the simulator streams', async () => {
    const c = client()
    expect(await c.deviceInfo()).toMatchObject({ deviceName: 'nvr', deviceType: 'NVR' })
    const channels = await c.streamingChannels()
    expect(channels.map((x) => x.id)).toEqual(['101', '102', '201', '301', '302', '401'])
    expect(channels[0]).toMatchObject({ channel: 1, role: 'main', width: 640, height: 360, fps: 15 })
    const proxies = await c.inputProxyChannels()
    expect(proxies.map((p) => [p.channel, p.name, p.ip, p.port])).toEqual([
      [1, 'cam1', sim.host, sim.port],
      [2, 'cam2', sim.host, sim.port],
      [3, 'cam1', sim.host, sim.port],
      [4, 'cam2', sim.host, sim.port],
    ])
    expect((await c.inputProxyStatus()).every((s) => s.online)).toBe(true)
    expect(devices.get('nvr').rtspUrl(2)).toBe(sim.url('cam2'))
    expect(devices.get('nvr').rtspUrl(3, 'sub')).toBe(sim.url('cam1-sub'))
    expect(await plays(devices.get('nvr').rtspUrl(4) as string)).toBe('h264')
  })

  it('refuses a wrong password', async () => {
    await expect(client('wrong').deviceInfo()).rejects.toThrow()
  })

  it('sends heartbeats and motion start/stop on the alert stream', async () => {
    const events: DeviceEvent[] = []
    let heartbeats = 0
    const handle = client().alertStream({ onEvent: (e) => events.push(e), onHeartbeat: () => heartbeats++ })
    closers.push(() => handle.close())
    await until(() => devices.get('nvr').isapi?.openStreams === 1)
    await until(() => heartbeats > 0, 3000)
    await devices.motion('nvr', true, 3)
    await until(() => events.length >= 1)
    // Kept active by repeats (as a Hikvision does) across a heartbeat, then ended by `inactive`.
    await new Promise((r) => setTimeout(r, 1500))
    await devices.motion('nvr', false, 3)
    await until(() => events.length >= 2)
    handle.close()
    expect(events.map((e) => [e.type, e.state, e.channel, e.endReason])).toEqual([
      ['device.motion', 'start', 3, undefined],
      ['device.motion', 'end', 3, undefined],
    ])
  })
})

describe('the simulated Dahua-like camera', () => {
  const client = (password = 'pw4') =>
    new DahuaClient({ baseUrl: devices.get('dh').url, username: 'admin', password, timeoutMs: 3000 })

  it('names its channel after the simulator stream', async () => {
    expect(await client().channelTitles()).toEqual([{ channel: 1, name: 'cam2' }])
    expect((await client().systemInfo()).deviceType).toBe('IPC-HDW-SIM')
    await expect(client('wrong').systemInfo()).rejects.toThrow()
  })

  it('sends motion start/stop split across chunks, and heartbeats', async () => {
    const events: DeviceEvent[] = []
    let heartbeats = 0
    const handle = client().eventStream({
      onEvent: (e) => events.push(e),
      onHeartbeat: () => heartbeats++,
      heartbeatSeconds: 1,
    })
    closers.push(() => handle.close())
    await until(() => devices.get('dh').dahua?.openStreams === 1)
    await devices.motion('dh', true)
    await until(() => events.length >= 1)
    await devices.motion('dh', false)
    await until(() => events.length >= 2)
    await until(() => heartbeats > 0, 3000)
    handle.close()
    expect(events.map((e) => [e.type, e.state, e.channel, e.code])).toEqual([
      ['device.motion', 'start', 1, 'VideoMotion'],
      ['device.motion', 'end', 1, 'VideoMotion'],
    ])
  })

  it('fires motion on a schedule (for the demo)', async () => {
    const events: DeviceEvent[] = []
    const handle = client().eventStream({ onEvent: (e) => events.push(e), heartbeatSeconds: 1 })
    closers.push(() => handle.close())
    await until(() => devices.get('dh').dahua?.openStreams === 1)
    devices.startMotionSchedule({ everyMs: 1000, durationMs: 300 })
    await until(() => events.length >= 4, 4000)
    devices.stopMotionSchedule()
    handle.close()
    expect(events.slice(0, 4).map((e) => e.state)).toEqual(['start', 'end', 'start', 'end'])
  })
})
