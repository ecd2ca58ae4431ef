import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import type { DeviceEvent } from '../device-events.ts'
import { sleep } from '../isapi/test-isapi-device.ts'
import { DahuaClient } from './dahua-client.ts'
import { TestDahuaDevice } from './test-dahua-device.ts'

const DIR = fileURLToPath(new URL('../../../../../shared/fixtures/devices/dahua/', import.meta.url))
/** A fixture body, or the hand-written stand-in (with a loud warning) when fixtures are absent. */
const body = (name: string, fallback: string): string => {
  if (existsSync(`${DIR}${name}`)) return readFileSync(`${DIR}${name}`, 'utf8')
  console.warn(`SKIPPED part of a test: fixture dahua/${name} absent, a hand-written body stands in`)
  return fallback
}

const devices: TestDahuaDevice[] = []
const closers: (() => void)[] = []
afterEach(async () => {
  for (const c of closers.splice(0)) c()
  for (const d of devices.splice(0)) await d.stop()
})

async function device(o: ConstructorParameters<typeof TestDahuaDevice>[0] = {}) {
  const d = new TestDahuaDevice(o)
  devices.push(d)
  await d.start()
  return d
}

async function waitFor(pred: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms
  while (!pred()) {
    if (Date.now() > until) throw new Error('timed out waiting')
    await sleep(5)
  }
}

const client = (d: TestDahuaDevice, password = d.user.password) =>
  new DahuaClient({ baseUrl: d.url, username: d.user.username, password })

describe('DahuaClient requests', () => {
  it('reads the magicBox answers, channel titles and a snapshot with Digest', async () => {
    const d = await device()
    const c = client(d)
    expect(await c.systemInfo()).toMatchObject({ manufacturer: 'Dahua', serial: '4L0123456789ABC' })
    expect(await c.deviceType()).toBe('IPC-HDW5231R-ZE')
    expect(await c.softwareVersion()).toEqual({ version: '2.800.0000000.16.R', build: '2020-02-05' })
    expect(await c.channelTitles()).toEqual([
      { channel: 1, name: 'Driveway' },
      { channel: 2, name: 'Back Door' },
    ])
    const jpeg = await c.snapshot(1)
    expect([jpeg[0], jpeg[1]]).toEqual([0xff, 0xd8])
    await expect(c.snapshot(2)).rejects.toMatchObject({ code: 'protocol', status: 400 })
  })

  it('sends PTZ commands and presets', async () => {
    const d = await device()
    const c = client(d)
    await c.ptz(1, 'start', { code: 'Left', arg2: 4 })
    await c.ptz(1, 'stop', { code: 'Left' })
    await c.gotoPreset(2, 5)
    expect(d.requests.map((r) => r.url).filter((u) => u.includes('ptz.cgi'))).toEqual([
      '/cgi-bin/ptz.cgi?action=start&channel=1&code=Left&arg1=0&arg2=4&arg3=0',
      '/cgi-bin/ptz.cgi?action=stop&channel=1&code=Left&arg1=0&arg2=0&arg3=0',
      '/cgi-bin/ptz.cgi?action=start&channel=2&code=GotoPreset&arg1=0&arg2=5&arg3=0',
    ])
    await expect(c.gotoPreset(1, 0)).rejects.toBeInstanceOf(RangeError)
  })

  it('is an auth error with wrong credentials; a CGI Error body is a protocol error', async () => {
    const d = await device()
    await expect(client(d, 'nope').systemInfo()).rejects.toMatchObject({ code: 'auth' })
    d.answer('/cgi-bin/magicBox.cgi?action=getDeviceType', { body: 'Error\r\nBad Request!\r\n' })
    await expect(client(d).deviceType()).rejects.toMatchObject({ code: 'protocol', message: /Bad Request/ })
  })
})

describe('DahuaClient.eventStream', () => {
  function subscribe(c: DahuaClient, extra: Partial<Parameters<DahuaClient['eventStream']>[0]> = {}) {
    const events: DeviceEvent[] = []
    const errors: { err: Error; retryInMs: number | undefined }[] = []
    let heartbeats = 0
    const handle = c.eventStream({
      onEvent: (e) => events.push(e),
      onError: (err, retryInMs) => errors.push({ err, retryInMs }),
      onHeartbeat: () => heartbeats++,
      backoff: { initialMs: 50, maxMs: 400 },
      ...extra,
    })
    closers.push(() => handle.close())
    return {
      handle,
      events,
      errors,
      heartbeats: () => heartbeats,
      states: () => events.map((e) => `${e.code}:${e.state}${e.endReason ? `(${e.endReason})` : ''}`),
    }
  }

  const start = body(
    'moonfire_videomotion-start.txt',
    'Code=VideoMotion;action=Start;index=0;data={\n   "RegionName" : [ "driveway" ]\n}',
  )
  const stop = body(
    'moonfire_videomotion-stop.txt',
    'Code=VideoMotion;action=Stop;index=0;data={\n   "RegionName" : [ "driveway" ]\n}',
  )
  const human = body(
    'moonfire_smartmotionhuman-start.txt',
    'Code=SmartMotionHuman;action=Start;index=0;data={\n   "RegionName" : [ "Region1" ]\n}',
  )

  it('parses parts split mid-boundary, heartbeats, repeats and stops', async () => {
    const d = await device()
    const s = subscribe(client(d))
    await waitFor(() => d.openStreams === 1)
    expect(d.heartbeatsAsked).toEqual([5])
    expect(d.requests[0]?.url).toBe('/cgi-bin/eventManager.cgi?action=attach&codes=[All]&heartbeat=5')
    await d.heartbeat()
    await d.sendEvent(start, [5, 1, 17, 3])
    await d.sendEvent(start, [11])
    await d.sendEvent(human, [2, 40])
    await d.heartbeat()
    await d.sendEvent(body('moonfire_timechange-pulse.txt', 'Code=TimeChange;action=Pulse;index=0'), [7])
    await d.sendEvent(body('moonfire_videomotioninfo-state.txt', 'Code=VideoMotionInfo;action=State;index=0'))
    await d.sendEvent(stop, [1])
    await waitFor(() => s.events.length === 4)
    expect(s.states()).toEqual([
      'VideoMotion:start',
      'SmartMotionHuman:start',
      'TimeChange:pulse',
      'VideoMotion:end',
    ])
    expect(s.events[0]).toMatchObject({
      type: 'device.motion',
      source: 'dahua',
      channel: 1,
      region: 'driveway',
    })
    expect(s.events[1]?.raw).toContain('Region1')
    expect(s.heartbeats()).toBe(2)
    expect(s.errors).toEqual([])
  })

  it('ends a Start without Stop after the event timeout', async () => {
    const d = await device()
    const s = subscribe(client(d), { eventTimeoutMs: 150 })
    await waitFor(() => d.openStreams === 1)
    await d.sendEvent('Code=CrossLineDetection;action=Start;index=1;data={"Name":"Gate line"}')
    await waitFor(() => s.events.length === 2, 2000)
    expect(s.states()).toEqual(['CrossLineDetection:start', 'CrossLineDetection:end(timeout)'])
    expect(s.events[0]).toMatchObject({ type: 'device.line_crossing', channel: 2, region: 'Gate line' })
  })

  it('reconnects when the device vanishes mid-part, ending what was open', async () => {
    const d = await device()
    const s = subscribe(client(d))
    await waitFor(() => d.openStreams === 1)
    await d.sendEvent(start)
    await waitFor(() => s.events.length === 1)
    await d.sendRaw(TestDahuaDevice.part(stop).subarray(0, 30))
    await sleep(20)
    d.dropStreams()
    await waitFor(() => s.events.length === 2)
    expect(s.states()).toEqual(['VideoMotion:start', 'VideoMotion:end(stream_lost)'])
    await waitFor(() => d.openStreams === 1)
    expect(d.streamConnects).toBe(2)
    // The Stop from before the loss can still arrive late: it ends nothing twice.
    await d.sendEvent(stop)
    await d.sendEvent(start)
    await waitFor(() => s.events.length === 3)
    expect(s.states()[2]).toBe('VideoMotion:start')
  })

  it('reconnects a stream silent for three heartbeat intervals', async () => {
    const d = await device()
    const s = subscribe(client(d), { heartbeatSeconds: 1, silenceMs: 250 })
    await waitFor(() => d.openStreams === 1)
    expect(d.heartbeatsAsked).toEqual([1])
    // Heartbeats keep it alive...
    for (let i = 0; i < 4; i++) {
      await d.heartbeat()
      await sleep(100)
    }
    expect(d.streamConnects).toBe(1)
    // ...silence does not.
    await waitFor(() => d.streamConnects === 2, 3000)
    expect(s.errors[0]?.err).toMatchObject({ code: 'timeout' })
  })

  it('backs off on wrong credentials', async () => {
    const d = await device()
    const s = subscribe(client(d, 'wrong'), { backoff: { initialMs: 40, maxMs: 2000 } })
    await sleep(700)
    s.handle.close()
    expect(s.handle.connects).toBeGreaterThanOrEqual(3)
    expect(s.handle.connects).toBeLessThanOrEqual(6)
    expect(s.errors.every((e) => (e.err as { code?: string }).code === 'auth')).toBe(true)
    expect(d.streamConnects).toBe(0)
  })

  it('survives a garbage part and a part over the size bound', async () => {
    const d = await device()
    const s = subscribe(client(d))
    await waitFor(() => d.openStreams === 1)
    await d.sendEvent('this is not an event')
    await d.sendEvent(start)
    await waitFor(() => s.events.length === 1)
    expect(s.errors).toHaveLength(1)
    expect(s.errors[0]?.retryInMs).toBeUndefined()
    // A Content-Length past the bound: the connection is dropped and reopened.
    await d.sendRaw('--myboundary\r\nContent-Type: text/plain\r\nContent-Length: 99999999\r\n\r\n')
    await waitFor(() => s.events.length === 2)
    expect(s.states()[1]).toBe('VideoMotion:end(stream_lost)')
    await waitFor(() => d.streamConnects === 2)
  })
})
