import { eventBody } from '@ts-vms/shared'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  DEVICE_EVENT_TYPES,
  type DeviceEvent,
  DeviceEventTracker,
  type DeviceSignal,
  dahuaEventType,
  isapiEventType,
  MAX_RAW_BYTES,
  toEventBody,
  truncateUtf8,
} from './device-events.ts'

function setup(timeoutMs = 30_000) {
  let now = 1_000_000
  const events: DeviceEvent[] = []
  const tracker = new DeviceEventTracker({
    emit: (e) => events.push(e),
    timeoutMs,
    now: () => now,
    sweepMs: 0,
  })
  return {
    tracker,
    events,
    advance: (ms: number) => {
      now += ms
    },
    states: () =>
      events.map((e) => `${e.code}:${e.channel}:${e.state}${e.endReason ? `(${e.endReason})` : ''}`),
  }
}

const motion = (action: DeviceSignal['action'], extra: Partial<DeviceSignal> = {}): DeviceSignal => ({
  source: 'dahua',
  code: 'VideoMotion',
  type: 'device.motion',
  action,
  channel: 1,
  ...extra,
})

describe('vendor code mapping', () => {
  it('maps ISAPI event types, any case', () => {
    expect(isapiEventType('VMD')).toBe('device.motion')
    expect(isapiEventType('linedetection')).toBe('device.line_crossing')
    expect(isapiEventType('fielddetection')).toBe('device.intrusion')
    expect(isapiEventType('regionEntrance')).toBe('device.intrusion')
    expect(isapiEventType('regionExiting')).toBe('device.intrusion')
    expect(isapiEventType('shelteralarm')).toBe('device.tamper')
    expect(isapiEventType('tamperdetection')).toBe('device.tamper')
    expect(isapiEventType('videoloss')).toBe('device.video_loss')
    expect(isapiEventType('IO')).toBe('device.input')
    expect(isapiEventType('ANPR')).toBe('device.other')
  })

  it('maps Dahua codes', () => {
    expect(dahuaEventType('VideoMotion')).toBe('device.motion')
    expect(dahuaEventType('SmartMotionHuman')).toBe('device.motion')
    expect(dahuaEventType('SmartMotionVehicle')).toBe('device.motion')
    expect(dahuaEventType('CrossLineDetection')).toBe('device.line_crossing')
    expect(dahuaEventType('CrossRegionDetection')).toBe('device.intrusion')
    expect(dahuaEventType('VideoBlind')).toBe('device.tamper')
    expect(dahuaEventType('VideoLoss')).toBe('device.video_loss')
    expect(dahuaEventType('AlarmLocal')).toBe('device.input')
    for (const c of ['TimeChange', 'NTPAdjustTime', 'RtspSessionDisconnect', 'ParkingDetection'])
      expect(dahuaEventType(c)).toBe('device.other')
  })
})

describe('truncateUtf8', () => {
  it('keeps short strings and cuts long ones on a character boundary', () => {
    expect(truncateUtf8('abc')).toBe('abc')
    expect(Buffer.byteLength(truncateUtf8('é'.repeat(2000)))).toBe(2048)
    expect(truncateUtf8('aé', 2)).toBe('a')
    expect(truncateUtf8('a😀', 4)).toBe('a')
  })

  it('property: at most the bound, a prefix, never a broken character', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 800 }),
        fc.integer({ min: 0, max: 3000 }),
        (s, max) => {
          const t = truncateUtf8(s, max)
          expect(Buffer.byteLength(t)).toBeLessThanOrEqual(Math.max(max, 0))
          expect(s.startsWith(t)).toBe(true)
          expect(t).not.toContain('\uFFFD')
        },
      ),
    )
  })
})

describe('DeviceEventTracker', () => {
  it('turns start/stop into start/end and de-duplicates refreshes', () => {
    const t = setup()
    t.tracker.signal(motion('start', { region: 'driveway' }))
    t.tracker.signal(motion('start', { region: 'driveway' }))
    t.advance(10_000)
    t.tracker.signal(motion('start', { region: 'driveway' }))
    t.tracker.signal(motion('stop', { region: 'driveway', raw: 'final' }))
    t.tracker.signal(motion('stop', { region: 'driveway' }))
    expect(t.states()).toEqual(['VideoMotion:1:start', 'VideoMotion:1:end'])
    expect(t.events[1]?.raw).toBe('final')
    expect(t.events[1]?.region).toBe('driveway')
  })

  it('passes pulses through and ignores a stop nothing started', () => {
    const t = setup()
    t.tracker.signal({ ...motion('pulse'), code: 'TimeChange', type: 'device.other' })
    t.tracker.signal(motion('stop'))
    expect(t.states()).toEqual(['TimeChange:1:pulse'])
  })

  it('keeps channels apart; a stop without a region ends every region of that code', () => {
    const t = setup()
    t.tracker.signal(motion('start', { channel: 1, region: 'a' }))
    t.tracker.signal(motion('start', { channel: 1, region: 'b' }))
    t.tracker.signal(motion('start', { channel: 2 }))
    t.tracker.signal(motion('stop', { channel: 1 }))
    expect(t.states()).toEqual([
      'VideoMotion:1:start',
      'VideoMotion:1:start',
      'VideoMotion:2:start',
      'VideoMotion:1:end',
      'VideoMotion:1:end',
    ])
    expect(t.tracker.openCount).toBe(1)
  })

  it('ends a start with no end after the timeout, unless refreshed', () => {
    const t = setup(30_000)
    t.tracker.signal(motion('start'))
    t.advance(20_000)
    t.tracker.signal(motion('start'))
    t.advance(20_000)
    t.tracker.sweep()
    expect(t.states()).toEqual(['VideoMotion:1:start'])
    t.advance(10_000)
    t.tracker.sweep()
    expect(t.states()).toEqual(['VideoMotion:1:start', 'VideoMotion:1:end(timeout)'])
    // A new start after that is a new event.
    t.tracker.signal(motion('start'))
    expect(t.states()).toHaveLength(3)
  })

  it('ends stale starts of one source on a heartbeat, and all on endAll', () => {
    const t = setup()
    t.tracker.signal({ ...motion('start'), source: 'isapi', code: 'VMD' })
    t.tracker.signal(motion('start'))
    t.advance(6000)
    t.tracker.endStale('isapi', 5000, 'heartbeat')
    expect(t.states()).toEqual(['VMD:1:start', 'VideoMotion:1:start', 'VMD:1:end(heartbeat)'])
    t.tracker.endAll('stream_lost')
    expect(t.states().at(-1)).toBe('VideoMotion:1:end(stream_lost)')
    t.tracker.endAll('stream_lost')
    expect(t.events).toHaveLength(4)
  })

  it('runs its own sweep timer when asked', async () => {
    const events: DeviceEvent[] = []
    const tracker = new DeviceEventTracker({ emit: (e) => events.push(e), timeoutMs: 50, sweepMs: 10 })
    tracker.signal(motion('start'))
    await new Promise((r) => setTimeout(r, 150))
    tracker.close()
    expect(events.map((e) => e.state)).toEqual(['start', 'end'])
  })

  it('bounds raw to 2 KB', () => {
    const t = setup()
    t.tracker.signal(motion('pulse', { raw: 'ü'.repeat(5000) }))
    expect(Buffer.byteLength(t.events[0]?.raw ?? '')).toBeLessThanOrEqual(MAX_RAW_BYTES)
  })

  it('property: every start gets exactly one end, whatever the sequence', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('signal' as const),
        action: fc.constantFrom('start' as const, 'stop' as const, 'pulse' as const),
        channel: fc.integer({ min: 1, max: 3 }),
        region: fc.option(fc.constantFrom('a', 'b'), { nil: undefined }),
      }),
      fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 40_000 }) }),
      fc.record({ kind: fc.constant('endAll' as const) }),
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const t = setup()
        for (const o of ops) {
          if (o.kind === 'signal')
            t.tracker.signal(
              motion(o.action, { channel: o.channel, ...(o.region ? { region: o.region } : {}) }),
            )
          else if (o.kind === 'advance') {
            t.advance(o.ms)
            t.tracker.sweep()
          } else t.tracker.endAll('stream_lost')
        }
        t.tracker.endAll('closed')
        const open = new Map<string, number>()
        for (const e of t.events) {
          const k = `${e.channel}|${e.region ?? ''}`
          if (e.state === 'start') {
            expect(open.get(k) ?? 0).toBe(0)
            open.set(k, 1)
          } else if (e.state === 'end') {
            expect(open.get(k)).toBe(1)
            open.set(k, 0)
          }
        }
        expect([...open.values()].every((v) => v === 0)).toBe(true)
      }),
    )
  })
})

describe('toEventBody', () => {
  it('is the outbox event body', () => {
    const e: DeviceEvent = {
      type: 'device.motion',
      state: 'start',
      source: 'isapi',
      code: 'VMD',
      channel: 2,
      region: '1',
      at: new Date(0),
      endReason: 'x',
    }
    expect(toEventBody(e, 'cam-1')).toEqual({
      type: 'device.motion',
      cameraId: 'cam-1',
      data: { state: 'start', source: 'isapi', code: 'VMD', channel: 2, region: '1' },
    })
    expect(toEventBody({ ...e, region: undefined } as DeviceEvent, undefined)).toEqual({
      type: 'device.motion',
      data: { state: 'start', source: 'isapi', code: 'VMD', channel: 2 },
    })
  })

  it('passes the protocol schema of an event body, for every type', () => {
    for (const type of DEVICE_EVENT_TYPES) {
      const e: DeviceEvent = {
        type,
        state: 'pulse',
        source: 'dahua',
        code: 'X',
        channel: 1,
        raw: 'é'.repeat(3000),
        at: new Date(),
      }
      const body = toEventBody(
        { ...e, raw: truncateUtf8(e.raw ?? '') },
        '0b3c6e4e-8f0a-4c55-9a55-4f1c1c0de001',
      )
      expect(eventBody.safeParse(body).success).toBe(true)
    }
  })
})
