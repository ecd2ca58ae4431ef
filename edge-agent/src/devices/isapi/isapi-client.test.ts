import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import type { DeviceEvent } from '../device-events.ts'
import { IsapiClient, speed } from './isapi-client.ts'
import { alertXml, sleep, TestIsapiDevice } from './test-isapi-device.ts'

const DIR = fileURLToPath(new URL('../../../../../shared/fixtures/devices/isapi/', import.meta.url))
const fixture = (name: string): string | undefined => {
  if (existsSync(`${DIR}${name}`)) return readFileSync(`${DIR}${name}`, 'utf8')
  console.warn(`SKIPPED part of a test: fixture isapi/${name} absent, a hand-written document stands in`)
  return undefined
}

const devices: TestIsapiDevice[] = []
const closers: (() => void)[] = []
afterEach(async () => {
  for (const c of closers.splice(0)) c()
  for (const d of devices.splice(0)) await d.stop()
})

async function device(o: ConstructorParameters<typeof TestIsapiDevice>[0] = {}) {
  const d = new TestIsapiDevice(o)
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

const client = (d: TestIsapiDevice, password = d.user.password) =>
  new IsapiClient({ baseUrl: d.url, username: d.user.username, password })

describe('IsapiClient requests', () => {
  it('reads device info, channels, NVR channels and a snapshot with Digest', async () => {
    const d = await device()
    d.answer('/ISAPI/System/deviceInfo', {
      body:
        fixture('hikvision_next_deviceInfo_ipc1.xml') ??
        '<DeviceInfo><model>DS-2CD2386G2-IU</model><firmwareVersion>V5.7.18</firmwareVersion></DeviceInfo>',
    })
    d.answer('/ISAPI/Streaming/channels', {
      body:
        '<StreamingChannelList xmlns="http://www.isapi.org/ver20/XMLSchema"><StreamingChannel><id>101</id>' +
        '<Video><videoCodecType>H.265</videoCodecType><maxFrameRate>2000</maxFrameRate></Video></StreamingChannel></StreamingChannelList>',
    })
    d.answer('/ISAPI/ContentMgmt/InputProxy/channels', {
      body: '<InputProxyChannelList><InputProxyChannel><id>1</id><name>Gate</name></InputProxyChannel></InputProxyChannelList>',
    })
    const c = client(d)
    expect((await c.deviceInfo()).model).toBe('DS-2CD2386G2-IU')
    expect(await c.streamingChannels()).toEqual([
      { id: '101', channel: 1, stream: 1, role: 'main', enabled: true, codec: 'H.265', fps: 20 },
    ])
    expect(await c.inputProxyChannels()).toEqual([{ id: '1', channel: 1, name: 'Gate' }])
    const jpeg = await c.snapshot(1)
    expect(jpeg[0]).toBe(0xff)
    expect(jpeg[1]).toBe(0xd8)
  })

  it('refuses a snapshot that is not a JPEG and explains an ISAPI error', async () => {
    const d = await device()
    d.answer('/ISAPI/Streaming/channels/201/picture', {
      contentType: 'text/html',
      body: '<html>login</html>',
    })
    const c = client(d)
    await expect(c.snapshot(2)).rejects.toMatchObject({ code: 'protocol', message: /not a JPEG/ })
    await expect(c.inputProxyChannels()).rejects.toMatchObject({
      code: 'protocol',
      status: 404,
      message: /notSupport/,
    })
    await expect(c.snapshot(0)).rejects.toBeInstanceOf(RangeError)
  })

  it('moves PTZ on the -100..100 scale and goes to presets', async () => {
    const d = await device()
    d.answer('/ISAPI/PTZCtrl/channels/1/presets', {
      body: '<PTZPresetList><PTZPreset><id>1</id><presetName>Gate</presetName></PTZPreset></PTZPresetList>',
    })
    const c = client(d)
    await c.ptzContinuous(1, 0.5, -2, 0.333)
    await c.ptzStop(1)
    expect(await c.presets(1)).toEqual([{ id: '1', name: 'Gate' }])
    await c.gotoPreset(1, 3)
    const puts = d.requests.filter((r) => r.method === 'PUT')
    expect(puts[0]?.url).toBe('/ISAPI/PTZCtrl/channels/1/continuous')
    expect(puts[0]?.body).toContain('<pan>50</pan><tilt>-100</tilt><zoom>33</zoom>')
    expect(puts[1]?.body).toContain('<pan>0</pan><tilt>0</tilt><zoom>0</zoom>')
    expect(puts[2]?.url).toBe('/ISAPI/PTZCtrl/channels/1/presets/3/goto')
    expect(speed(Number.NaN)).toBe(0)
  })

  it('is an auth error with wrong credentials', async () => {
    const d = await device()
    await expect(client(d, 'wrong').deviceInfo()).rejects.toMatchObject({ code: 'auth' })
  })
})

describe('IsapiClient.alertStream', () => {
  function subscribe(c: IsapiClient, extra: Partial<Parameters<IsapiClient['alertStream']>[0]> = {}) {
    const events: DeviceEvent[] = []
    const errors: { err: Error; retryInMs: number | undefined }[] = []
    let heartbeats = 0
    const handle = c.alertStream({
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

  it('turns a stream split mid-boundary into de-duplicated events; a heartbeat ends motion gone quiet', async () => {
    const d = await device()
    const s = subscribe(client(d), { heartbeatEndsAfterMs: 150 })
    await waitFor(() => d.openStreams === 1)
    await d.heartbeat()
    await waitFor(() => s.heartbeats() === 1)
    // Motion repeated (Hikvision posts `active` every second) in odd chunks cutting the boundary.
    await d.sendAlert(alertXml('VMD', 'active'), [3, 7, 1, 50])
    await d.sendAlert(alertXml('VMD', 'active'), [13, 2])
    const field =
      fixture('hikvision_next_alert_fielddetection_human.xml') ??
      '<EventNotificationAlert><eventType>fielddetection</eventType><eventState>active</eventState></EventNotificationAlert>'
    await d.sendAlert(field, [1, 1, 1, 97])
    await waitFor(() => s.events.length === 2)
    expect(s.states()).toEqual(['VMD:start', 'fielddetection:start'])
    expect(s.events[1]).toMatchObject({ type: 'device.intrusion', source: 'isapi', channel: 1 })
    expect(Buffer.byteLength(s.events[1]?.raw ?? '')).toBeLessThanOrEqual(2048)
    await sleep(200)
    await d.heartbeat()
    await waitFor(() => s.events.length === 4)
    expect(s.states().slice(2).sort()).toEqual(['VMD:end(heartbeat)', 'fielddetection:end(heartbeat)'])
    expect(s.errors).toEqual([])
  })

  it('ends a start with no end after the event timeout; a device inactive ends it at once', async () => {
    const d = await device()
    const s = subscribe(client(d), { eventTimeoutMs: 150 })
    await waitFor(() => d.openStreams === 1)
    await d.sendAlert(alertXml('linedetection', 'active', 2))
    await waitFor(() => s.events.length === 2, 2000)
    expect(s.states()).toEqual(['linedetection:start', 'linedetection:end(timeout)'])
    expect(s.events[0]).toMatchObject({ type: 'device.line_crossing', channel: 2 })
    await d.sendAlert(alertXml('shelteralarm', 'active'))
    await d.sendAlert(alertXml('shelteralarm', 'inactive'))
    await waitFor(() => s.events.length === 4)
    expect(s.states().slice(2)).toEqual(['shelteralarm:start', 'shelteralarm:end'])
  })

  it('skips an unreadable part and carries on', async () => {
    const d = await device()
    const s = subscribe(client(d))
    await waitFor(() => d.openStreams === 1)
    await d.sendAlert('<EventNotificationAlert><eventType>VMD')
    await d.sendAlert(alertXml('IO', 'active'))
    await waitFor(() => s.events.length === 1)
    expect(s.events[0]?.type).toBe('device.input')
    expect(s.errors).toHaveLength(1)
    expect(s.errors[0]?.retryInMs).toBeUndefined()
  })

  it('reconnects when the device vanishes mid-stream, ending what was open', async () => {
    const d = await device()
    const s = subscribe(client(d))
    await waitFor(() => d.openStreams === 1)
    await d.sendAlert(alertXml('VMD', 'active'))
    await waitFor(() => s.events.length === 1)
    // Half a part, then the device is gone.
    await d.sendRaw('--boundary\r\nContent-Length: 500\r\n\r\n<EventNotif')
    await sleep(20)
    d.dropStreams()
    await waitFor(() => s.events.length === 2)
    expect(s.states()).toEqual(['VMD:start', 'VMD:end(stream_lost)'])
    expect(s.errors[0]?.retryInMs).toBeGreaterThan(0)
    await waitFor(() => d.streamConnects === 2)
    await waitFor(() => d.openStreams === 1)
    await d.sendAlert(alertXml('VMD', 'active'))
    await waitFor(() => s.events.length === 3)
    expect(s.states()[2]).toBe('VMD:start')
    s.handle.close()
    expect(s.states()[3]).toBe('VMD:end(closed)')
  })

  it('backs off on wrong credentials instead of storming', async () => {
    const d = await device()
    const s = subscribe(client(d, 'wrong'), { backoff: { initialMs: 40, maxMs: 2000 } })
    await sleep(700)
    s.handle.close()
    // 40, 80, 160, 320 ms (±20 %) fit in 700 ms: a handful of attempts, not hundreds.
    expect(s.handle.connects).toBeGreaterThanOrEqual(3)
    expect(s.handle.connects).toBeLessThanOrEqual(6)
    expect(s.errors.every((e) => (e.err as { code?: string }).code === 'auth')).toBe(true)
    const waits = s.errors.map((e) => e.retryInMs ?? 0)
    for (let i = 1; i < waits.length; i++) expect(waits[i]).toBeGreaterThan(waits[i - 1] as number)
    expect(d.streamConnects).toBe(0)
  })

  it('reconnects a stream that goes silent', async () => {
    const d = await device()
    const s = subscribe(client(d), { silenceMs: 200 })
    await waitFor(() => d.streamConnects === 1)
    await waitFor(() => d.streamConnects === 2, 3000)
    expect(s.errors[0]?.err).toMatchObject({ code: 'timeout' })
  })
})
