import { describe, expect, it } from 'vitest'
import { backoffDelay, type DeviceEvent } from '../device-events.ts'
import { onCleanup, onvifDevice, waitFor } from '../test-fixtures.ts'
import type { Notification } from './events.ts'
import { OnvifClient } from './onvif-client.ts'
import {
  NO_CHANNELS,
  notificationChannel,
  notificationSignal,
  notificationState,
  type OnvifChannels,
  type OnvifEventStreamHandle,
  openOnvifEventStream,
  parseProfileChannels,
  renewMarginMs,
  subscriptionLifetimeMs,
} from './onvif-event-stream.ts'
import type { TestOnvifDevice, TestOnvifDeviceOptions } from './test-onvif-server.ts'

const MOTION = 'tns1:RuleEngine/CellMotionDetector/Motion'

function notification(n: Partial<Notification> & { topic: string }): Notification {
  return { source: {}, key: {}, data: {}, ...n }
}

const NVR: OnvifChannels = {
  sources: ['VS1', 'VS2'],
  profiles: { prof1: 1, prof1sub: 1, prof2: 2 },
  tokens: { VS1: 1, VS2: 2, 'vsc-VS1': 1, 'vsc-VS2': 2 },
}

describe('ONVIF notifications → device signals', () => {
  it('maps the standard topics to types, whatever the prefixes', () => {
    const type = (topic: string, data: Record<string, string> = { State: 'true' }) =>
      notificationSignal(notification({ topic, data, propertyOperation: 'Changed' }), NO_CHANNELS)?.type
    expect(type('VideoSource/MotionAlarm')).toBe('device.motion')
    expect(type('RuleEngine/CellMotionDetector/Motion', { IsMotion: 'true' })).toBe('device.motion')
    expect(type('RuleEngine/LineDetector/Crossed', { ObjectId: '7' })).toBe('device.line_crossing')
    expect(type('RuleEngine/FieldDetector/ObjectsInside', { IsInside: 'true' })).toBe('device.intrusion')
    expect(type('VideoSource/GlobalSceneChange/ImagingService')).toBe('device.tamper')
    expect(type('VideoSource/SignalLoss')).toBe('device.video_loss')
    expect(type('Device/Trigger/DigitalInput', { LogicalState: 'true' })).toBe('device.input')
    expect(type('RuleEngine/MyRuleDetector/PeopleDetect', { IsPeople: 'true' })).toBe('device.other')
    expect(type('ruleengine/cellmotiondetector/MOTION')).toBe('device.motion')
  })

  it('Initialized is state, not an event; Changed is start/stop; no boolean is a pulse; Deleted stops', () => {
    const sig = (n: Partial<Notification>) =>
      notificationSignal(notification({ topic: 'RuleEngine/CellMotionDetector/Motion', ...n }), NO_CHANNELS)
    expect(sig({ propertyOperation: 'Initialized', data: { IsMotion: 'true' } })).toBeUndefined()
    expect(sig({ propertyOperation: 'Changed', data: { IsMotion: 'true' } })?.action).toBe('start')
    expect(sig({ propertyOperation: 'Changed', data: { IsMotion: 'false' } })?.action).toBe('stop')
    expect(sig({ data: { IsMotion: '1' } })?.action).toBe('start')
    expect(sig({ propertyOperation: 'Deleted' })?.action).toBe('stop')
    expect(sig({ propertyOperation: 'Changed', data: { ObjectId: '3' } })?.action).toBe('pulse')
    expect(sig({ propertyOperation: 'Changed', data: { IsMotion: 'maybe' } })?.action).toBe('pulse')
  })

  it('reads the state from the known items, else from the only boolean item', () => {
    expect(notificationState({ State: 'false', Other: 'true' })).toBe(false)
    expect(notificationState({ IsPeople: 'TRUE' })).toBe(true)
    expect(notificationState({ A: 'true', B: 'false' })).toBeUndefined()
    expect(notificationState({})).toBeUndefined()
  })

  it('binds by video source (configuration) token; a multi-source device puts the unnamed on channel 0', () => {
    const ch = (source: Record<string, string>, channels = NVR) =>
      notificationChannel(notification({ topic: 'x', source }), channels)
    expect(ch({ VideoSourceConfigurationToken: 'vsc-VS2', Rule: 'MyMotion' })).toBe(2)
    expect(ch({ Source: 'VS1' })).toBe(1)
    expect(ch({ channel: 'VS2' })).toBe(2)
    expect(ch({ InputToken: 'DI_1' })).toBe(0)
    expect(ch({ InputToken: 'DI_1' }, NO_CHANNELS)).toBe(1)
    expect(ch({ Source: '__proto__' })).toBe(0)
  })

  it('keeps the rule or input as region, bounds text, and keeps the items as raw', () => {
    const s = notificationSignal(
      notification({
        topic: 'RuleEngine/FieldDetector/ObjectsInside',
        propertyOperation: 'Changed',
        source: { VideoSourceConfigurationToken: 'vsc-VS2', Rule: `Zone\u0000 A${'x'.repeat(500)}` },
        data: { IsInside: 'true' },
      }),
      NVR,
    )
    expect(s).toMatchObject({ source: 'onvif', channel: 2, type: 'device.intrusion', action: 'start' })
    expect(s?.region?.startsWith('Zone A')).toBe(true)
    expect(s?.region?.length).toBeLessThanOrEqual(128)
    expect(JSON.parse(s?.raw ?? '{}').data).toEqual({ IsInside: 'true' })
    const input = notificationSignal(
      notification({
        topic: 'Device/Trigger/DigitalInput',
        source: { InputToken: 'DI_2' },
        data: { LogicalState: 'true' },
      }),
      NVR,
    )
    expect(input).toMatchObject({ region: 'DI_2', channel: 0, type: 'device.input' })
  })

  it('reads profiles → channels from Media1 and Media2 answers', async () => {
    const { d, url } = await onvifDevice({
      profiles: [
        { token: 'prof1', videoSource: 'VS1' },
        { token: 'prof1sub', videoSource: 'VS1' },
        { token: 'prof2', videoSource: 'VS2' },
        { token: 'novideo' },
      ],
    })
    for (const media2 of [false, true]) {
      d.options.media2 = media2
      const c = new OnvifClient({ url, username: 'admin', password: 'secret' })
      await c.connect()
      const body = await c.call(
        (media2 ? c.xaddrs.media2 : c.xaddrs.media) as string,
        media2
          ? 'http://www.onvif.org/ver20/media/wsdl/GetProfiles'
          : 'http://www.onvif.org/ver10/media/wsdl/GetProfiles',
        media2 ? '<tr2:GetProfiles><tr2:Type>All</tr2:Type></tr2:GetProfiles>' : '<trt:GetProfiles/>',
        parseProfileChannels,
      )
      expect({ ...body, profiles: { ...body.profiles }, tokens: { ...body.tokens } }).toEqual(NVR)
    }
  })

  it('schedules renewal from the device clock, not ours', () => {
    const now = Date.parse('2026-01-01T00:00:00Z')
    const twoHoursAhead = {
      currentTime: new Date(now + 7_200_000),
      terminationTime: new Date(now + 7_260_000),
    }
    expect(subscriptionLifetimeMs(twoHoursAhead, now, 0, 30_000)).toBe(60_000)
    // Without CurrentTime the measured offset stands in.
    expect(
      subscriptionLifetimeMs({ terminationTime: new Date(now + 7_260_000) }, now, 7_200_000, 30_000),
    ).toBe(60_000)
    // Nonsense (termination before now, none at all) is not believed.
    expect(
      subscriptionLifetimeMs(
        { currentTime: new Date(now), terminationTime: new Date(now - 5) },
        now,
        0,
        30_000,
      ),
    ).toBe(30_000)
    expect(subscriptionLifetimeMs({}, now, 0, 30_000)).toBe(30_000)
    expect(
      subscriptionLifetimeMs({ currentTime: new Date(0), terminationTime: new Date(now) }, now, 0, 1),
    ).toBe(24 * 3600_000)
    expect(renewMarginMs(60_000)).toBe(10_000)
    expect(renewMarginMs(3_000)).toBe(750)
    expect(renewMarginMs(1_000)).toBe(500)
    expect(renewMarginMs(400)).toBe(200)
  })

  it('backs off like the multipart streams: doubling, capped, ±20 %', () => {
    const mid = () => 0.5
    expect([0, 1, 2, 3, 10].map((a) => backoffDelay(a, {}, mid))).toEqual([1000, 2000, 4000, 8000, 60_000])
    expect(backoffDelay(0, { initialMs: 10 }, () => 0)).toBe(8)
    expect(backoffDelay(0, { initialMs: 10 }, () => 0.999_999)).toBe(12)
    expect(backoffDelay(40, { initialMs: 10, maxMs: 80 }, () => 0.999_999)).toBe(80)
  })
})

interface Run {
  device: TestOnvifDevice
  handle: OnvifEventStreamHandle
  events: DeviceEvent[]
  errors: { err: Error; retryInMs: number | undefined }[]
  connected: () => number
}

async function run(
  options: TestOnvifDeviceOptions = {},
  stream: { password?: string; terminationMs?: number; eventTimeoutMs?: number } = {},
): Promise<Run> {
  const { d: device, url } = await onvifDevice({ maxPullWaitMs: 2000, ...options })
  const events: DeviceEvent[] = []
  const errors: Run['errors'] = []
  let connected = 0
  const handle = openOnvifEventStream({
    client: new OnvifClient({
      url,
      username: 'admin',
      password: stream.password ?? 'secret',
      timeoutMs: 2000,
    }),
    onEvent: (e) => events.push(e),
    onError: (err, retryInMs) => errors.push({ err, retryInMs }),
    onConnected: () => connected++,
    backoff: { initialMs: 10, maxMs: 80 },
    pullTimeoutSeconds: 1,
    ...(stream.terminationMs ? { terminationMs: stream.terminationMs } : {}),
    ...(stream.eventTimeoutMs ? { eventTimeoutMs: stream.eventTimeoutMs } : {}),
  })
  onCleanup(() => handle.close())
  return { device, handle, events, errors, connected: () => connected }
}

const summary = (events: DeviceEvent[]) =>
  events.map(
    (e) =>
      `${e.type}:${e.state}:${e.channel}${e.region ? `:${e.region}` : ''}${e.endReason ? `:${e.endReason}` : ''}`,
  )

describe('ONVIF event stream against TestOnvifDevice', () => {
  it('subscribes, skips the Initialized state, tracks start/end per channel, and unsubscribes on close', async () => {
    const r = await run({
      profiles: [
        { token: 'prof1', videoSource: 'VS1' },
        { token: 'prof2', videoSource: 'VS2' },
      ],
      initialEvents: [
        { topic: MOTION, source: { VideoSourceConfigurationToken: 'vsc-VS1' }, data: { IsMotion: 'true' } },
      ],
    })
    await waitFor(() => r.connected() === 1, 'the subscription')
    expect(r.handle.channels.profiles).toEqual({ prof1: 1, prof2: 2 })
    await waitFor(
      () => r.device.requests.filter((q) => q.operation === 'PullMessages').length >= 2,
      'two pulls',
    )
    expect(r.events).toEqual([]) // the Initialized motion is state

    r.device.pushEvent(
      {
        topic: MOTION,
        source: { VideoSourceConfigurationToken: 'vsc-VS2', Rule: 'Cell' },
        data: { IsMotion: 'true' },
      },
      {
        topic: MOTION,
        source: { VideoSourceConfigurationToken: 'vsc-VS2', Rule: 'Cell' },
        data: { IsMotion: 'true' },
      },
      {
        topic: 'tns1:RuleEngine/LineDetector/Crossed',
        source: { Source: 'VS1', Rule: 'Door' },
        data: { ObjectId: '4' },
      },
    )
    await waitFor(() => r.events.length === 2, 'start and pulse')
    r.device.pushEvent({
      topic: MOTION,
      source: { VideoSourceConfigurationToken: 'vsc-VS2', Rule: 'Cell' },
      data: { IsMotion: 'false' },
    })
    await waitFor(() => r.events.length === 3, 'the end')
    expect(summary(r.events)).toEqual([
      'device.motion:start:2:Cell',
      'device.line_crossing:pulse:1:Door',
      'device.motion:end:2:Cell',
    ])
    expect(r.events[0]).toMatchObject({ source: 'onvif', code: 'RuleEngine/CellMotionDetector/Motion' })

    r.device.pushEvent({
      topic: 'tns1:VideoSource/SignalLoss',
      source: { Source: 'VS1' },
      data: { State: 'true' },
    })
    await waitFor(() => r.events.length === 4, 'video loss')
    r.handle.close()
    await r.handle.done
    expect(summary(r.events).at(-1)).toBe('device.video_loss:end:1:closed')
    expect(r.device.log.filter((l) => l.startsWith('Unsubscribe'))).toHaveLength(1)
    expect(r.device.subscriptions.size).toBe(0)
    expect(r.errors).toEqual([])
  })

  it.each([
    ['2 h ahead', 7_200_000],
    ['2 h behind', -7_200_000],
  ])('renews before the subscription ends on a device clock %s', async (_name, skew) => {
    const r = await run({ clockSkewMs: skew, subscriptionLifetimeMs: 3000 }, { terminationMs: 3000 })
    await waitFor(() => r.handle.renewals >= 2, 'two renewals', 10_000)
    // Renewed when due, not in a storm: pulls between renewals.
    const ops = r.device.log.map((l) => l.split(':')[0]).filter((o) => o === 'Renew' || o === 'PullMessages')
    for (let i = 1; i < ops.length; i++) if (ops[i] === 'Renew') expect(ops[i - 1]).toBe('PullMessages')
    // Every renewal in time: one subscription all along, no fault, no reconnect.
    expect(r.errors).toEqual([])
    expect(r.handle.connects).toBe(1)
    expect(r.device.log.filter((l) => l.startsWith('CreatePullPointSubscription'))).toHaveLength(1)
    expect(r.device.subscriptions.size).toBe(1)
  })

  it('a subscription the device let expire is made again', async () => {
    const r = await run()
    await waitFor(() => r.connected() === 1, 'the subscription')
    r.device.subscriptions.clear() // the device forgot it (rebooted its event service)
    await waitFor(() => r.connected() === 2, 'a new subscription')
    expect(r.errors[0]?.err.message).toMatch(/subscription/)
    r.device.pushEvent({
      topic: 'tns1:Device/Trigger/DigitalInput',
      source: { InputToken: 'DI_1' },
      data: { LogicalState: 'true' },
    })
    await waitFor(() => r.events.length === 1, 'the input')
    expect(summary(r.events)).toEqual(['device.input:start:1:DI_1'])
  })

  it('a device that vanishes mid-stream: open starts end as stream_lost, then it comes back', async () => {
    const r = await run()
    await waitFor(() => r.connected() === 1, 'the subscription')
    const alarm = {
      topic: 'tns1:VideoSource/MotionAlarm',
      source: { Source: 'VS1' },
      data: { State: 'true' },
    }
    r.device.pushEvent(alarm)
    await waitFor(() => r.events.length === 1, 'the start')
    const port = r.device.port
    await r.device.stop()
    await waitFor(() => r.events.length === 2, 'the end')
    expect(summary(r.events)).toEqual(['device.motion:start:1', 'device.motion:end:1:stream_lost'])
    await waitFor(() => r.errors.length >= 3, 'retries while it is away')
    // Backoff grows while nothing flows (never a storm).
    expect(r.errors.map((e) => e.retryInMs ?? 0).at(-1)).toBeGreaterThan(r.errors[0]?.retryInMs ?? 0)
    await r.device.start('127.0.0.1', port)
    await waitFor(() => r.connected() === 2, 'the new subscription')
    r.device.pushEvent(alarm)
    await waitFor(() => r.events.length === 3, 'a new start')
    expect(summary(r.events).at(-1)).toBe('device.motion:start:1')
  })

  it('garbage answers: the subscription is given back and made again; the stream goes on', async () => {
    const r = await run()
    await waitFor(() => r.connected() === 1, 'the subscription')
    r.device.pushEvent({ topic: MOTION, data: { IsMotion: 'true' } })
    await waitFor(() => r.events.length === 1, 'the start')
    r.device.options.responses = { PullMessages: '\u0000<<not xml' }
    await waitFor(() => r.errors.length >= 1, 'an error')
    r.device.options.responses = undefined
    await waitFor(() => r.connected() >= 2, 'a new subscription')
    expect((r.errors[0]?.err as { code?: string } | undefined)?.code).toBe('bad_response')
    expect(summary(r.events)).toEqual(['device.motion:start:1', 'device.motion:end:1:stream_lost'])
    expect(r.device.log).toContain('Unsubscribe:token-digest')
    r.device.pushEvent({ topic: MOTION, data: { IsMotion: 'true' } })
    await waitFor(() => r.events.length === 3, 'the stream goes on')
  })

  it('wrong credentials: errors with a growing backoff, no subscription, no password in the error', async () => {
    const r = await run({}, { password: 'wrong-Pa55word' })
    await waitFor(() => r.errors.length >= 3, 'three failures')
    expect(r.connected()).toBe(0)
    expect((r.errors[0]?.err as { code?: string } | undefined)?.code).toBe('not_authorized')
    for (const e of r.errors) expect(`${e.err.message} ${e.err.stack}`).not.toContain('wrong-Pa55word')
    expect(r.errors[2]?.retryInMs ?? 0).toBeGreaterThan(r.errors[0]?.retryInMs ?? 0)
  })

  it('an open start is refreshed by every answered pull, and still ends when the device says so', async () => {
    const r = await run({ maxPullWaitMs: 100 }, { eventTimeoutMs: 1000 })
    await waitFor(() => r.connected() === 1, 'the subscription')
    r.device.pushEvent({ topic: MOTION, data: { IsMotion: 'true' } })
    await waitFor(() => r.events.length === 1, 'the start')
    const pulls = () => r.device.requests.filter((q) => q.operation === 'PullMessages').length
    const after = pulls()
    // Many pulls and more than the event timeout later, the motion the device reports still holds.
    await waitFor(() => pulls() >= after + 12, 'twelve more pulls (at least 1.2 s)')
    expect(summary(r.events)).toEqual(['device.motion:start:1'])
    r.device.pushEvent({ topic: MOTION, data: { IsMotion: 'false' } })
    await waitFor(() => r.events.length === 2, 'the end')
    expect(summary(r.events)).toEqual(['device.motion:start:1', 'device.motion:end:1'])
  })
})
