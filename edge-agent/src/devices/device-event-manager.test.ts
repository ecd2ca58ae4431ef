import { randomUUID } from 'node:crypto'
import { type AgentCamera, agentCamera } from '@ts-vms/shared'
import { describe, expect, it } from 'vitest'
import {
  channelNumber,
  type DeviceEventBody,
  DeviceEventManager,
  deviceEndpoint,
  deviceKey,
  onvifChannelOf,
} from './device-event-manager.ts'
import { alertXml } from './isapi/test-isapi-device.ts'
import {
  CONFIG_KEY,
  deviceCamera,
  isapiDevice,
  onCleanup,
  silentLogger,
  type TestCameraDevice,
  waitFor,
} from './test-fixtures.ts'

/** A camera on an ISAPI device taking its events (the device at 127.0.0.1 unless given). */
const camera = (device: TestCameraDevice, id?: string): AgentCamera =>
  deviceCamera({ protocol: 'isapi', address: '127.0.0.1', events: true, ...device }, id ? { id } : {})

function manager(configKey: string | undefined = CONFIG_KEY) {
  const written: DeviceEventBody[] = []
  const motion: string[] = []
  const m = new DeviceEventManager({
    configKey,
    write: (body) => written.push(body),
    logger: silentLogger,
    onMotion: (id, active) => motion.push(`${id}:${active ? 'on' : 'off'}`),
    backoff: { initialMs: 10, maxMs: 50 },
    // A heartbeat must not end these starts: the tests end them.
    isapi: { heartbeatEndsAfterMs: 60_000 },
  })
  onCleanup(() => m.stop())
  const lines = () => written.map((w) => `${w.cameraId}:${w.type}:${w.data['state']}:${w.data['channel']}`)
  return { m, written, motion, lines }
}

const nvr = () => isapiDevice({ password: 'nvr-secret' })

describe('device addresses, keys and channels', () => {
  it('normalises addresses so one device is one key', () => {
    expect(deviceEndpoint('isapi', '10.0.0.5')).toBe('http://10.0.0.5')
    expect(deviceEndpoint('isapi', '10.0.0.5:80')).toBe('http://10.0.0.5')
    expect(deviceEndpoint('isapi', 'HTTP://NVR.local:80/ISAPI/')).toBe('http://nvr.local')
    expect(deviceEndpoint('isapi', 'NVR.Local:80')).toBe('http://nvr.local')
    expect(deviceEndpoint('dahua', 'https://10.0.0.5:443')).toBe('https://10.0.0.5')
    expect(deviceEndpoint('dahua', '10.0.0.5:8080')).toBe('http://10.0.0.5:8080')
    expect(deviceEndpoint('onvif', '10.0.0.5')).toBe('http://10.0.0.5/onvif/device_service')
    expect(deviceEndpoint('onvif', 'http://10.0.0.5:8000/onvif/device_service')).toBe(
      'http://10.0.0.5:8000/onvif/device_service',
    )
    expect(deviceEndpoint('onvif', 'http://10.0.0.5:8000/')).toBe('http://10.0.0.5:8000/onvif/device_service')
    expect(deviceEndpoint('isapi', 'http://user:pw@10.0.0.5')).toBeUndefined()
    expect(deviceEndpoint('isapi', 'not a host')).toBeUndefined()
    expect(deviceKey('isapi', 'http://10.0.0.5', undefined)).toBe(deviceKey('isapi', 'http://10.0.0.5', ''))
    expect(deviceKey('isapi', 'http://10.0.0.5', 'a')).not.toBe(deviceKey('isapi', 'http://10.0.0.5', 'b'))
  })

  it('reads channel numbers as the probe writes them: "" is 1', () => {
    expect(channelNumber('')).toBe(1)
    expect(channelNumber('2')).toBe(2)
    expect(channelNumber('101')).toBe(101)
    expect(channelNumber('0')).toBeUndefined()
    expect(channelNumber('abc')).toBeUndefined()
    expect(channelNumber('12345')).toBeUndefined()
    const channels = { sources: ['VS1', 'VS2'], profiles: { main2: 2 }, tokens: { VS2: 2 } }
    expect(onvifChannelOf('main2', channels)).toBe(2)
    expect(onvifChannelOf('VS2', channels)).toBe(2)
    expect(onvifChannelOf('', channels)).toBe(1)
    expect(onvifChannelOf('unknown', channels)).toBeUndefined()
    expect(onvifChannelOf('toString', channels)).toBeUndefined()
  })
})

describe('DeviceEventManager', () => {
  it('one stream per device; events on the bound camera; unbound channels dropped and counted', async () => {
    const d = await nvr()
    const { m, lines, written } = manager()
    const a = camera({ address: d.url, channel: '', username: 'admin', password: 'nvr-secret' })
    // The same NVR spelled differently.
    const b = camera({
      address: `${d.url.replace('http://', 'HTTP://')}/`,
      channel: '2',
      username: 'admin',
      password: 'nvr-secret',
    })
    m.apply([a, b])
    expect(m.streamCount).toBe(1)
    await waitFor(() => d.openStreams === 1, 'the stream')
    await waitFor(() => m.health([a, b]).get(a.id)?.events === 'connected', 'connected')
    await d.sendAlert(alertXml('VMD', 'active', 2))
    await d.sendAlert(alertXml('linedetection', 'active', 1))
    await d.sendAlert(alertXml('VMD', 'active', 3)) // no camera on channel 3
    await d.sendAlert(alertXml('VMD', 'inactive', 2))
    await waitFor(() => written.length === 3, 'three events')
    expect(lines()).toEqual([
      `${b.id}:device.motion:start:2`,
      `${a.id}:device.line_crossing:start:1`,
      `${b.id}:device.motion:end:2`,
    ])
    expect(m.dropped).toBe(1)
    expect(d.streamConnects).toBe(1)
    expect(m.health([a, b]).get(b.id)).toMatchObject({ events: 'connected', lastEventAt: expect.any(String) })
  })

  it('reconfiguration restarts only changed devices; removed or moved cameras get their ends at once', async () => {
    const d = await nvr()
    const { m, lines, written, motion } = manager()
    const cam = (channel: string, id?: string, password = 'nvr-secret') =>
      camera({ address: d.url, channel, username: 'admin', password }, id)
    const a = cam('1')
    const b = cam('2')
    m.apply([a, b])
    await waitFor(() => d.openStreams === 1, 'the stream')
    await d.sendAlert(alertXml('VMD', 'active', 1))
    await d.sendAlert(alertXml('VMD', 'active', 2))
    await waitFor(() => written.length === 2, 'two starts')

    // A new publication (fresh seals, a renamed camera): same device and password, no restart.
    m.apply([{ ...cam('1', a.id), name: 'renamed' }, cam('2', b.id)])
    expect(written.length).toBe(2)
    // Camera b leaves: its open motion ends now; a's goes on.
    m.apply([cam('1', a.id)])
    expect(lines().slice(2)).toEqual([`${b.id}:device.motion:end:2`])
    expect(d.streamConnects).toBe(1)
    expect(motion).toEqual([`${a.id}:on`, `${b.id}:on`, `${b.id}:off`])
    // The device's own end for b's channel later is nothing (already ended there).
    await d.sendAlert(alertXml('VMD', 'inactive', 2))
    await d.sendAlert(alertXml('VMD', 'inactive', 1))
    await waitFor(() => written.length === 4, "a's end")
    expect(lines()[3]).toBe(`${a.id}:device.motion:end:1`)

    // Camera a moves to channel 2 while motion is open on channel 1: ended there.
    await d.sendAlert(alertXml('VMD', 'active', 1))
    await waitFor(() => written.length === 5, 'a start')
    m.apply([cam('2', a.id)])
    expect(lines()[5]).toBe(`${a.id}:device.motion:end:1`)

    // A new password: the stream restarts with it (and this device refuses it).
    const changed = cam('2', a.id, 'changed')
    m.apply([changed])
    await waitFor(() => d.openStreams === 0, 'the old connection closed')
    await waitFor(() => m.health([changed]).get(a.id)?.events === 'error', 'the refusal shown')
    expect(m.health([changed]).get(a.id)?.error).not.toContain('changed')
    expect(m.streamCount).toBe(1)

    // Events off: the stream closes, the camera shows `off`.
    const off = camera({ address: d.url, channel: '2', events: false }, a.id)
    m.apply([off])
    expect(m.streamCount).toBe(0)
    expect(m.health([off]).get(a.id)).toEqual({ events: 'off' })
    await waitFor(() => d.openStreams === 0, 'the stream closed')
  })

  it('a device stream closing ends the open starts on their cameras (closed), exactly once', async () => {
    const d = await nvr()
    const { m, lines, written } = manager()
    const a = camera({ address: d.url, username: 'admin', password: 'nvr-secret' })
    m.apply([a])
    await waitFor(() => d.openStreams === 1, 'the stream')
    await d.sendAlert(alertXml('fielddetection', 'active', 1))
    await waitFor(() => written.length === 1, 'the start')
    m.stop()
    expect(lines()).toEqual([`${a.id}:device.intrusion:start:1`, `${a.id}:device.intrusion:end:1`])
    m.stop()
    m.apply([a])
    expect(written).toHaveLength(2)
    expect(m.streamCount).toBe(0)
  })

  it('passwords that do not open, bad channels and rtsp devices are shown, not connected', () => {
    const { m } = manager()
    const wrongSeal = camera({ address: '10.9.9.9', password: 'x', sealFor: randomUUID() })
    const badChannel = camera({ address: '10.9.9.8', channel: 'abc' })
    const rtsp = camera({ protocol: 'rtsp', address: '10.9.9.7' })
    const none = agentCamera.parse({ id: randomUUID(), name: 'x', streams: [], recording: {} })
    m.apply([wrongSeal, badChannel, rtsp, none])
    expect(m.streamCount).toBe(0)
    const h = m.health([wrongSeal, badChannel, rtsp, none])
    expect(h.get(wrongSeal.id)).toMatchObject({
      events: 'error',
      error: expect.stringMatching(/does not open/),
    })
    expect(h.get(badChannel.id)).toMatchObject({ events: 'error', error: expect.stringMatching(/channel/) })
    expect(h.get(rtsp.id)).toEqual({ events: 'off' })
    expect(h.has(none.id)).toBe(false)

    const { m: keyless } = manager('') // an agent without a configuration key
    const sealed = camera({ address: '10.9.9.9', password: 'x' })
    keyless.apply([sealed])
    expect(keyless.health([sealed]).get(sealed.id)).toMatchObject({ events: 'error' })
  })

  it('device motion: the camera is in motion from the first open motion to the last end', async () => {
    const d = await nvr()
    const { m, written, motion } = manager()
    const a = camera({ address: d.url, username: 'admin', password: 'nvr-secret' })
    m.apply([a])
    await waitFor(() => d.openStreams === 1, 'the stream')
    const region = (state: 'active' | 'inactive', id: string) =>
      alertXml('VMD', state, 1).replace(
        '</eventDescription>',
        `</eventDescription><DetectionRegionList><DetectionRegionEntry><regionID>${id}</regionID></DetectionRegionEntry></DetectionRegionList>`,
      )
    await d.sendAlert(region('active', '1'))
    await d.sendAlert(region('active', '2'))
    await d.sendAlert(region('inactive', '1'))
    await waitFor(() => written.length === 3, 'two starts and an end')
    expect(motion).toEqual([`${a.id}:on`])
    await d.sendAlert(region('inactive', '2'))
    await waitFor(() => written.length === 4, 'the second end')
    expect(motion).toEqual([`${a.id}:on`, `${a.id}:off`])
  })
})
