import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MultipartParser } from '../multipart.ts'
import {
  DahuaParseError,
  eventSignal,
  isCgiError,
  isHeartbeat,
  parseChannelTitles,
  parseDeviceType,
  parseEventBodies,
  parseEventBody,
  parseKeyValues,
  parseSoftwareVersion,
  parseSystemInfo,
} from './dahua-parse.ts'

const DIR = fileURLToPath(new URL('../../../../../shared/fixtures/devices/dahua/', import.meta.url))
const present = existsSync(DIR)
if (!present) console.warn(`SKIPPED: Dahua fixtures absent (${DIR}); fixture tests do not run`)
const fixture = (name: string) => readFileSync(`${DIR}${name}`, 'utf8')
const itFixture = present ? it : it.skip

/** What each moonfire fixture must become: [code, action, type, state or undefined, region]. */
const EXPECTED: Record<string, [string, string, string, string | undefined, string | undefined]> = {
  'moonfire_intelliframe-pulse-start.txt': ['IntelliFrame', 'Pulse', 'device.other', 'pulse', undefined],
  'moonfire_intelliframe-pulse-stop.txt': ['IntelliFrame', 'Pulse', 'device.other', 'pulse', undefined],
  'moonfire_lefunctionstatussync-pulse.txt': [
    'LeFunctionStatusSync',
    'Pulse',
    'device.other',
    'pulse',
    undefined,
  ],
  'moonfire_ntpadjusttime-pulse.txt': ['NTPAdjustTime', 'Pulse', 'device.other', 'pulse', undefined],
  'moonfire_parkingdetection-start.txt': ['ParkingDetection', 'Start', 'device.other', 'start', 'parking'],
  'moonfire_rtspsessiondisconnect-start.txt': [
    'RtspSessionDisconnect',
    'Start',
    'device.other',
    'start',
    undefined,
  ],
  'moonfire_rtspsessiondisconnect-stop.txt': [
    'RtspSessionDisconnect',
    'Stop',
    'device.other',
    'stop',
    undefined,
  ],
  'moonfire_smartmotionhuman-start.txt': ['SmartMotionHuman', 'Start', 'device.motion', 'start', 'Region1'],
  'moonfire_smartmotionhuman-stop.txt': ['SmartMotionHuman', 'Stop', 'device.motion', 'stop', 'Region1'],
  'moonfire_smartmotionvehicle-start.txt': [
    'SmartMotionVehicle',
    'Start',
    'device.motion',
    'start',
    'beyond',
  ],
  'moonfire_smartmotionvehicle-stop.txt': ['SmartMotionVehicle', 'Stop', 'device.motion', 'stop', 'beyond'],
  'moonfire_timechange-pulse.txt': ['TimeChange', 'Pulse', 'device.other', 'pulse', undefined],
  'moonfire_videomotion-start.txt': ['VideoMotion', 'Start', 'device.motion', 'start', 'driveway'],
  'moonfire_videomotion-stop.txt': ['VideoMotion', 'Stop', 'device.motion', 'stop', 'driveway'],
  // State is not a transition: dropped (it repeats continuously).
  'moonfire_videomotioninfo-state.txt': ['VideoMotionInfo', 'State', 'device.other', undefined, undefined],
}

describe('Dahua fixtures', () => {
  itFixture('parses every fixture file of dahua/', () => {
    const files = readdirSync(DIR)
    expect(files.length).toBeGreaterThan(0)
    for (const f of files) {
      const text = fixture(f)
      if (f === 'rroller_stream_doorbell_content_length.txt') {
        // A framed part: through the multipart parser first.
        const parts = new MultipartParser('myboundary').push(Buffer.from(text))
        expect(parts).toHaveLength(1)
        const ev = parseEventBody(parts[0]?.body.toString() ?? '')
        expect(ev).toEqual({ code: 'DoorbellPressed', action: 'Pulse', index: 0 })
        expect(eventSignal(ev)).toMatchObject({ type: 'device.other', action: 'pulse', channel: 1 })
        continue
      }
      const want = EXPECTED[f]
      if (!want) throw new Error(`fixture ${f} has no expectation here: add one`)
      const ev = parseEventBody(text)
      expect([ev.code, ev.action]).toEqual([want[0], want[1]])
      expect(ev.index).toBe(0)
      if (text.includes('data=')) expect(ev.data).toBeTypeOf('object')
      else expect(ev.data).toBeUndefined()
      const s = eventSignal(ev, text)
      if (want[3] === undefined) expect(s).toBeUndefined()
      else {
        const action = want[3] === 'stop' ? 'stop' : want[3]
        expect(s).toMatchObject({ source: 'dahua', code: want[0], type: want[2], action, channel: 1 })
        expect(s?.region).toBe(want[4])
      }
    }
  })

  itFixture('keeps the object details of smart motion in raw, and odd values as sent', () => {
    const text = fixture('moonfire_smartmotionhuman-start.txt')
    const ev = parseEventBody(text)
    expect((ev.data as { object: { HumamID: number }[] }).object[0]?.HumamID).toBe(4838)
    expect(eventSignal(ev, text)?.raw).toContain('"Rect"')
    const rtsp = parseEventBody(fixture('moonfire_rtspsessiondisconnect-start.txt'))
    expect((rtsp.data as { UserAgent: string }).UserAgent).toBe(' moonfire-nvr')
    const parking = parseEventBody(fixture('moonfire_parkingdetection-start.txt'))
    expect((parking.data as { Track: unknown }).Track).toBeNull()
  })
})

describe('Dahua key=value answers', () => {
  it('reads getSystemInfo, getDeviceType, getSoftwareVersion', () => {
    expect(
      parseSystemInfo(
        'deviceType=IPC-HDW5231R-ZE\r\nhardwareVersion=1.00\r\nprocessor=S2L55M\r\nserialNumber=4L01\r\n',
      ),
    ).toEqual({
      manufacturer: 'Dahua',
      deviceType: 'IPC-HDW5231R-ZE',
      serial: '4L01',
      hardwareVersion: '1.00',
      processor: 'S2L55M',
    })
    expect(parseDeviceType('type=DHI-NVR4108HS-8P-4KS2\r\n')).toBe('DHI-NVR4108HS-8P-4KS2')
    expect(parseDeviceType('deviceType=IPC-X\n')).toBe('IPC-X')
    expect(parseSoftwareVersion('version=2.800.0000000.16.R,build:2020-02-05\r\n')).toEqual({
      version: '2.800.0000000.16.R',
      build: '2020-02-05',
    })
    expect(parseSoftwareVersion('version=1.0')).toEqual({ version: '1.0' })
    expect(() => parseSystemInfo('Error\r\nBad Request!')).toThrow(DahuaParseError)
    expect(() => parseDeviceType('')).toThrow(DahuaParseError)
    expect(isCgiError('Error\r\nBad Request!\r\n')).toBe(true)
    expect(isCgiError('OK\r\n')).toBe(false)
  })

  it('reads channel titles in channel order, 1-based, values with = and spaces kept', () => {
    expect(
      parseChannelTitles(
        'table.ChannelTitle[1].Name=Back = Door\ntable.ChannelTitle[0].Name=Drive way\r\nx=y\r\n',
      ),
    ).toEqual([
      { channel: 1, name: 'Drive way' },
      { channel: 2, name: 'Back = Door' },
    ])
  })

  it('is not fooled by prototype keys', () => {
    const kv = parseKeyValues('__proto__=x\nconstructor=y\na=b')
    expect(kv).toEqual({ a: 'b' })
    expect(Object.getPrototypeOf(kv)).toBe(Object.prototype)
  })
})

describe('Dahua event bodies', () => {
  it('reads a body without data, with data holding ; and =, and with broken JSON', () => {
    expect(parseEventBody('Code=AlarmLocal;action=Start;index=3\r\n')).toEqual({
      code: 'AlarmLocal',
      action: 'Start',
      index: 3,
    })
    const withSemis = parseEventBody('Code=X;action=Pulse;index=0;data={\n "a" : "b;c=d"\n}')
    expect(withSemis.data).toEqual({ a: 'b;c=d' })
    const broken = parseEventBody('Code=X;action=Pulse;index=0;data={"a":')
    expect(broken.data).toBeUndefined()
    expect(broken.dataText).toBe('{"a":')
    expect(eventSignal(parseEventBody('Code=VideoLoss;action=Start;index=3'))).toMatchObject({
      type: 'device.video_loss',
      channel: 4,
    })
  })

  it('splits several records in one part', () => {
    const evs = parseEventBodies(
      'Code=A;action=Start;index=0\r\nCode=B;action=Stop;index=1;data={\n "x": 1\n}',
    )
    expect(evs.map((e) => [e.code, e.action, e.index])).toEqual([
      ['A', 'Start', 0],
      ['B', 'Stop', 1],
    ])
  })

  it('rejects garbage and knows the heartbeat', () => {
    for (const bad of ['', 'garbage', 'Code=;action=Start', 'action=Start;index=0', '{"Code":"X"}'])
      expect(() => parseEventBody(bad)).toThrow(DahuaParseError)
    expect(isHeartbeat('Heartbeat\r\n')).toBe(true)
    expect(isHeartbeat('Code=Heartbeat')).toBe(false)
  })

  it('property: any text parses or fails with DahuaParseError; a valid body round-trips', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        try {
          parseEventBodies(s)
        } catch (err) {
          expect(err).toBeInstanceOf(DahuaParseError)
        }
      }),
    )
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z]{1,20}$/),
        fc.constantFrom('Start', 'Stop', 'Pulse'),
        fc.nat(63),
        fc.option(fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 10 }), { maxKeys: 3 }), {
          nil: undefined,
        }),
        (code, action, index, data) => {
          const body = `Code=${code};action=${action};index=${index}${data ? `;data=${JSON.stringify(data, null, 3)}` : ''}`
          const ev = parseEventBody(body)
          expect([ev.code, ev.action, ev.index]).toEqual([code, action, index])
          if (data) expect(ev.data).toEqual(data)
        },
      ),
    )
  })
})
