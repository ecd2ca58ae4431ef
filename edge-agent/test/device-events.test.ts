import { randomUUID } from 'node:crypto'
import { ACTIVITY_BUCKET_SECONDS, type AgentCamera, type AgentCameraDevice, eventBody } from '@ts-vms/shared'
import { describe, expect, it } from 'vitest'
import { AnalyticsManager, type AnalyticsRecord } from '../src/analytics/analytics-manager.ts'
import { type DeviceEventBody, DeviceEventManager } from '../src/devices/device-event-manager.ts'
import { alertXml } from '../src/devices/isapi/test-isapi-device.ts'
import {
  CONFIG_KEY,
  capturingLogger,
  dahuaDevice,
  deviceCamera,
  isapiDevice,
  onCleanup,
  onvifDevice,
  silentLogger,
} from '../src/devices/test-fixtures.ts'
import { waitUntil } from './helpers/wait.ts'

/**
 * Device events end to end without an agent: the DeviceEventManager against the fake Hikvision,
 * Dahua and ONVIF devices, as the agent wires it (outbox `event` bodies, device motion into the
 * analytics' activity). Every wait is on a condition.
 */
// Characters a careless log or URL would mangle or reveal.
const PASSWORD = 'Nvr:p@ss/w0rd%&"'
const EVENT_TIMEOUT_MS = 300

const wait = (check: () => boolean, what: string) => waitUntil(check, 10_000, what)

const camera = (
  device: Partial<AgentCameraDevice> & { address: string; protocol: AgentCameraDevice['protocol'] },
) => deviceCamera({ username: 'admin', events: true, password: PASSWORD, ...device })

interface Written {
  body: DeviceEventBody
  at: Date
}

function harness() {
  const written: Written[] = []
  const { logger, lines: logs } = capturingLogger()
  const motion: string[] = []
  const manager = new DeviceEventManager({
    configKey: CONFIG_KEY,
    write: (body, at) => written.push({ body, at }),
    logger,
    onMotion: (cameraId, active) => motion.push(`${cameraId}:${active ? 'on' : 'off'}`),
    eventTimeoutMs: EVENT_TIMEOUT_MS,
    backoff: { initialMs: 10, maxMs: 100 },
    requestTimeoutMs: 2000,
    isapi: { heartbeatEndsAfterMs: 60_000 },
    onvif: { pullTimeoutSeconds: 1 },
  })
  onCleanup(() => manager.stop())
  const on = (c: AgentCamera) => written.filter((w) => w.body.cameraId === c.id)
  const line = (w: Written) => `${w.body.type}:${w.body.data['state']}:${w.body.data['channel']}`
  const secretsKept = () => {
    const all = [...logs, ...written.map((w) => JSON.stringify(w.body))].join('\n')
    expect(all).not.toContain(PASSWORD)
    expect(all).not.toContain(encodeURIComponent(PASSWORD))
  }
  return { manager, written, logs, motion, on, line, secretsKept }
}

describe('device events from an NVR: one connection, events on the right camera', () => {
  it('Hikvision ISAPI: channels 1 and 2, timeout, a lost connection', async () => {
    const nvr = await isapiDevice({ password: PASSWORD })
    const h = harness()
    const gate = camera({ protocol: 'isapi', address: nvr.url, channel: '' })
    const till = camera({ protocol: 'isapi', address: nvr.url, channel: '2' })
    h.manager.apply([gate, till])
    await wait(() => h.manager.health([gate, till]).get(till.id)?.events === 'connected', 'connected')
    expect(nvr.streamConnects).toBe(1)

    await nvr.sendAlert(alertXml('linedetection', 'active', 2))
    await nvr.sendAlert(alertXml('linedetection', 'inactive', 2))
    await nvr.sendAlert(alertXml('VMD', 'active', 1)) // never ended by the device
    await wait(() => h.written.length === 4, 'the events and the timeout end')
    expect(h.on(till).map(h.line)).toEqual(['device.line_crossing:start:2', 'device.line_crossing:end:2'])
    const [start, end] = h.on(gate)
    expect([start, end].map((w) => w && h.line(w))).toEqual(['device.motion:start:1', 'device.motion:end:1'])
    expect((end?.at.getTime() ?? 0) - (start?.at.getTime() ?? 0)).toBeGreaterThanOrEqual(EVENT_TIMEOUT_MS)
    expect(start?.body.data).toMatchObject({ source: 'isapi', code: 'VMD', channel: 1 })
    for (const w of h.written) expect(eventBody.safeParse(w.body).success).toBe(true)

    // The device vanishes with motion open: it ends; the stream comes back.
    await nvr.sendAlert(alertXml('VMD', 'active', 2))
    await wait(() => h.written.length === 5, 'a start')
    nvr.dropStreams()
    await wait(() => h.written.length === 6, 'its end')
    expect(h.line(h.written[5] as Written)).toBe('device.motion:end:2')
    await wait(() => nvr.streamConnects === 2 && nvr.openStreams === 1, 'the reconnect')
    expect(h.motion).toEqual([`${gate.id}:on`, `${gate.id}:off`, `${till.id}:on`, `${till.id}:off`])
    h.secretsKept()
  })

  it('Dahua CGI: index 0 and 1 are channels 1 and 2; a lost connection ends what is open', async () => {
    const nvr = await dahuaDevice({ password: PASSWORD })
    const url = nvr.url
    const h = harness()
    const one = camera({ protocol: 'dahua', address: url.replace('http://', ''), channel: '1' })
    const two = camera({ protocol: 'dahua', address: url, channel: '2' })
    h.manager.apply([one, two])
    await wait(() => nvr.openStreams === 1, 'the attach stream')
    expect(h.manager.streamCount).toBe(1)

    await nvr.sendEvent('Code=VideoMotion;action=Start;index=1')
    await nvr.sendEvent('Code=CrossRegionDetection;action=Start;index=0;data={"Name":"Fence"}')
    await nvr.sendEvent('Code=VideoMotion;action=Stop;index=1')
    await nvr.sendEvent('Code=VideoMotion;action=Start;index=7') // no camera on channel 8
    await wait(() => h.written.length === 3, 'three events')
    expect(h.on(two).map(h.line)).toEqual(['device.motion:start:2', 'device.motion:end:2'])
    expect(h.on(one).map(h.line)).toEqual(['device.intrusion:start:1'])
    expect(h.on(one)[0]?.body.data['region']).toBe('Fence')
    await wait(() => h.manager.dropped === 1, 'the unbound event counted')

    nvr.dropStreams()
    await wait(() => h.on(one).length === 2, 'the intrusion ended by the loss')
    expect(h.on(one).map(h.line)).toEqual(['device.intrusion:start:1', 'device.intrusion:end:1'])
    await wait(() => nvr.streamConnects === 2, 'the reconnect')
    h.secretsKept()
  })

  it('ONVIF: profiles bind by video source; a vanished device ends what is open', async () => {
    const { d: nvr, url } = await onvifDevice({
      password: PASSWORD,
      maxPullWaitMs: 1000,
      profiles: [
        { token: 'prof1', videoSource: 'VS1' },
        { token: 'prof1sub', videoSource: 'VS1' },
        { token: 'prof2', videoSource: 'VS2' },
      ],
    })
    const h = harness()
    const one = camera({ protocol: 'onvif', address: url, channel: 'prof1sub' })
    const two = camera({
      protocol: 'onvif',
      address: url.replace('/onvif/device_service', ''),
      channel: 'prof2',
    })
    h.manager.apply([one, two])
    await wait(() => h.manager.health([one, two]).get(two.id)?.events === 'connected', 'subscribed')
    expect(nvr.log.filter((l) => l.startsWith('CreatePullPointSubscription'))).toHaveLength(1)

    const motion = (token: string, on: boolean) => ({
      topic: 'tns1:RuleEngine/CellMotionDetector/Motion',
      source: { VideoSourceConfigurationToken: token, Rule: 'MyMotion' },
      data: { IsMotion: String(on) },
    })
    nvr.pushEvent(motion('vsc-VS2', true), motion('vsc-VS1', true), motion('vsc-VS2', false))
    await wait(() => h.written.length === 3, 'three events')
    expect(h.on(two).map(h.line)).toEqual(['device.motion:start:2', 'device.motion:end:2'])
    expect(h.on(one).map(h.line)).toEqual(['device.motion:start:1'])
    expect(h.on(one)[0]?.body.data).toMatchObject({
      source: 'onvif',
      code: 'RuleEngine/CellMotionDetector/Motion',
      region: 'MyMotion',
    })
    // A digital input names no video source: on a device with several cameras it is dropped.
    nvr.pushEvent({
      topic: 'tns1:Device/Trigger/DigitalInput',
      source: { InputToken: 'DI_1' },
      data: { LogicalState: 'true' },
    })
    await wait(() => h.manager.dropped === 1, 'the input dropped')

    await nvr.stop()
    await wait(() => h.on(one).length === 2, 'the motion ended by the loss')
    await wait(() => h.manager.health([one]).get(one.id)?.events === 'error', 'the error shown')
    h.secretsKept()
  })

  it('ONVIF: a single camera on its device takes every event', async () => {
    const { d: cam, url } = await onvifDevice({ password: PASSWORD, maxPullWaitMs: 1000 })
    const h = harness()
    const only = camera({ protocol: 'onvif', address: url })
    h.manager.apply([only])
    await wait(() => h.manager.health([only]).get(only.id)?.events === 'connected', 'subscribed')
    cam.pushEvent({
      topic: 'tns1:Device/Trigger/DigitalInput',
      source: { InputToken: 'DI_1' },
      data: { LogicalState: 'true' },
    })
    await wait(() => h.written.length === 1, 'the input')
    expect(h.written[0]?.body).toMatchObject({
      type: 'device.input',
      cameraId: only.id,
      data: { state: 'start', region: 'DI_1' },
    })
    h.manager.stop()
    expect(h.written.map(h.line)).toEqual(['device.input:start:1', 'device.input:end:1'])
  })

  it('refused credentials are shown on the camera and never logged', async () => {
    const nvr = await isapiDevice({ password: 'another' })
    const h = harness()
    const cam = camera({ protocol: 'isapi', address: nvr.url })
    h.manager.apply([cam])
    await wait(() => h.manager.health([cam]).get(cam.id)?.events === 'error', 'the error')
    await wait(() => h.logs.some((l) => l.includes('connection lost')), 'the warning')
    expect(nvr.streamConnects).toBe(0)
    h.secretsKept()
  })
})

describe('device motion on the activity timeline', () => {
  function analytics() {
    const records: AnalyticsRecord[] = []
    const manager = new AnalyticsManager({
      // None of these is used: no camera has agent analytics here.
      cameras: {} as never,
      models: {} as never,
      snapshots: {} as never,
      logger: silentLogger,
      ffmpeg: undefined,
      write: (r) => records.push(r),
      getSetting: () => undefined,
      setSetting: () => {},
      respond: async () => {},
      activityFlushMs: 3_600_000,
    })
    onCleanup(() => manager.stop())
    return { manager, records }
  }

  it('counts a device motion span into the activity buckets, for a camera without analytics', async () => {
    const { manager, records } = analytics()
    const bucketMs = ACTIVITY_BUCKET_SECONDS * 1000
    // Ten buckets ago, 2 s into a bucket, for 15 s: 8 s and 7 s.
    const t0 = Math.floor(Date.now() / bucketMs) * bucketMs - 10 * bucketMs + 2000
    const cam = randomUUID()
    manager.deviceMotion(cam, true, new Date(t0))
    manager.deviceMotion(cam, true, new Date(t0 + 5000)) // a second region: still one span
    manager.deviceMotion(cam, false, new Date(t0 + 15_000))
    manager.deviceMotion(randomUUID(), false, new Date(t0)) // an end alone counts nothing
    await manager.stop()
    expect(records).toEqual([
      {
        type: 'activity',
        body: {
          cameraId: cam,
          bucketSeconds: ACTIVITY_BUCKET_SECONDS,
          buckets: [
            { start: new Date(t0 - 2000).toISOString(), motionSeconds: 8 },
            { start: new Date(t0 - 2000 + bucketMs).toISOString(), motionSeconds: 7 },
          ],
        },
      },
    ])
  })

  it('the device manager feeds it: motion on, then off when the device ends it', async () => {
    const nvr = await isapiDevice({ password: PASSWORD })
    const { manager: activity, records } = analytics()
    const calls: boolean[] = []
    const devices = new DeviceEventManager({
      configKey: CONFIG_KEY,
      write: () => {},
      logger: silentLogger,
      onMotion: (cameraId, active, at) => {
        calls.push(active)
        activity.deviceMotion(cameraId, active, at)
      },
      isapi: { heartbeatEndsAfterMs: 60_000 },
    })
    onCleanup(() => devices.stop())
    const cam = camera({ protocol: 'isapi', address: nvr.url })
    devices.apply([cam])
    await wait(() => nvr.openStreams === 1, 'the stream')
    await nvr.sendAlert(alertXml('VMD', 'active', 1))
    await wait(() => calls.length === 1, 'motion on')
    await nvr.sendAlert(alertXml('VMD', 'inactive', 1))
    await wait(() => calls.length === 2, 'motion off')
    expect(calls).toEqual([true, false])
    await activity.stop()
    // A span of a few ms may round to nothing; what was written is this camera's.
    for (const r of records) expect(r.body['cameraId']).toBe(cam.id)
  })
})
