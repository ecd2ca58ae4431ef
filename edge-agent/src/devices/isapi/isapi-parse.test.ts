import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { XmlError } from '../xml.ts'
import {
  alertSignal,
  isHeartbeat,
  parseAlert,
  parseDeviceInfo,
  parseInputProxyChannels,
  parseInputProxyStatus,
  parsePresets,
  parseStreamingChannels,
} from './isapi-parse.ts'

const DIR = fileURLToPath(new URL('../../../../../shared/fixtures/devices/isapi/', import.meta.url))
const present = existsSync(DIR)
if (!present) console.warn(`SKIPPED: ISAPI fixtures absent (${DIR}); fixture tests do not run`)
const fixture = (name: string) => readFileSync(`${DIR}${name}`, 'utf8')
const itFixture = present ? it : it.skip

/** Serialises the fixture JSON (XML converted upstream, attributes as "@name") back to XML. */
function toXml(name: string, value: unknown): string {
  if (value === null || value === undefined) return `<${name}/>`
  if (Array.isArray(value)) return value.map((v) => toXml(name, v)).join('')
  if (typeof value !== 'object')
    return `<${name}>${String(value).replaceAll('&', '&amp;').replaceAll('<', '&lt;')}</${name}>`
  const entries = Object.entries(value as Record<string, unknown>)
  const attrs = entries
    .filter(([k]) => k.startsWith('@'))
    .map(([k, v]) => ` ${k.slice(1)}="${String(v)}"`)
    .join('')
  const body = entries
    .filter(([k]) => !k.startsWith('@'))
    .map(([k, v]) => (k === '#text' ? String(v) : toXml(k, v)))
    .join('')
  return `<${name}${attrs}>${body}</${name}>`
}

describe('ISAPI fixtures', () => {
  itFixture('parses every fixture file of isapi/', () => {
    const files = readdirSync(DIR)
    expect(files.length).toBeGreaterThan(0)
    for (const f of files) {
      if (f.endsWith('.json')) {
        const nvr = JSON.parse(fixture(f)).data.ISAPI as Record<string, { response?: unknown }>
        expect(
          parseDeviceInfo(nvr['System/deviceInfo']?.response as Record<string, unknown>).model,
        ).toBeTruthy()
        continue
      }
      const xml = fixture(f)
      if (xml.includes('<DeviceInfo')) expect(parseDeviceInfo(xml).manufacturer).toBe('Hikvision')
      else {
        const a = parseAlert(xml)
        expect(a.eventType).toBeTruthy()
        const s = alertSignal(a, xml)
        expect(Buffer.byteLength(s.raw ?? '')).toBeGreaterThan(0)
      }
    }
  })

  itFixture('reads deviceInfo of an IP camera (ver20 namespace)', () => {
    expect(parseDeviceInfo(fixture('hikvision_next_deviceInfo_ipc1.xml'))).toEqual({
      manufacturer: 'Hikvision',
      model: 'DS-2CD2386G2-IU',
      firmware: 'V5.7.18 build 240826',
      serial: 'DS-2CD2386G2-IU00000000AAWRJ00000000',
      mac: 'a6:63:9e:f8:01:09',
      deviceName: 'yard',
      deviceType: 'IPCamera',
    })
  })

  itFixture('reads the NVR DS-7616NI-Q2 from its JSON, as a tree and turned back into XML', () => {
    const nvr = JSON.parse(fixture('hikvision_next_device_DS-7616NI-Q2.json')).data.ISAPI as Record<
      string,
      { response?: Record<string, unknown>; status_code?: number }
    >
    const info = nvr['System/deviceInfo']?.response as Record<string, unknown>
    const expected = {
      manufacturer: 'Hikvision',
      model: 'DS-7616NI-Q2/16P',
      firmware: 'V4.30.097 build 240401',
      serial: 'DS-7616NI-Q2/00P0000000000CCRRE00000000WCVU',
      mac: '52:a7:c0:3b:a5:10',
      deviceName: 'Network Video Recorder',
      deviceType: 'NVR',
    }
    expect(parseDeviceInfo(info)).toEqual(expected)
    expect(parseDeviceInfo(toXml('DeviceInfo', info['DeviceInfo']))).toEqual(expected)

    const proxy = nvr['ContentMgmt/InputProxy/channels']?.response as Record<string, unknown>
    const fromTree = parseInputProxyChannels(proxy)
    const fromXml = parseInputProxyChannels(toXml('InputProxyChannelList', proxy['InputProxyChannelList']))
    expect(fromXml).toEqual(fromTree)
    // The list says size="7" and holds 9 channels: all 9 are kept.
    expect(fromTree).toHaveLength(9)
    expect(fromTree[0]).toEqual({
      id: '1',
      channel: 1,
      name: 'Garage',
      ip: '1.0.0.49',
      port: 8000,
      protocol: 'HIKVISION',
    })
    expect(fromTree.map((c) => c.name)).toContain('Back Path')

    const channels = Object.entries(nvr)
      .filter(([k, v]) => k.startsWith('Streaming/channels/') && v.response)
      .flatMap(([, v]) => parseStreamingChannels(v.response as Record<string, unknown>))
    // x03/x04 (third and fourth streams) were answered 403 by this NVR: only main and sub remain.
    expect(nvr['Streaming/channels/103']?.status_code).toBe(403)
    expect(channels).toHaveLength(18)
    expect(new Set(channels.map((c) => c.role))).toEqual(new Set(['main', 'sub']))
    const ch1 = channels.filter((c) => c.channel === 1)
    expect(ch1.find((c) => c.role === 'main')).toEqual({
      id: '101',
      channel: 1,
      stream: 1,
      role: 'main',
      enabled: true,
      codec: 'H.265',
      width: 2560,
      height: 1440,
      // maxFrameRate 0 on the NVR's proxied channels: no fps rather than 0 fps.
    })
    expect(ch1.find((c) => c.role === 'sub')).toMatchObject({
      id: '102',
      codec: 'H.264',
      width: 640,
      height: 480,
    })
  })

  itFixture('reads motion, human and field detection alerts', () => {
    const vmd = parseAlert(fixture('hikvision_next_alert_vmd.xml'))
    expect(vmd).toMatchObject({ eventType: 'VMD', eventState: 'active', channel: 1, activePostCount: 1 })
    expect(alertSignal(vmd)).toEqual({
      source: 'isapi',
      code: 'VMD',
      type: 'device.motion',
      action: 'start',
      channel: 1,
    })
    expect(parseAlert(fixture('hikvision_next_alert_vmd_human.xml')).targetType).toBe('human')
    const ch2 = parseAlert(fixture('hikvision_next_alert_motiondetection_human.xml'))
    expect(ch2).toMatchObject({
      channel: 2,
      channelName: 'Camera 02',
      targetType: 'human',
      activePostCount: 0,
    })
    const field = parseAlert(fixture('hikvision_next_alert_fielddetection_human.xml'))
    expect(field).toMatchObject({ eventType: 'fielddetection', regionIds: ['3'], targetType: 'human' })
    expect(alertSignal(field)).toMatchObject({ type: 'device.intrusion', region: '3', action: 'start' })
    expect(parseAlert(fixture('hikvision_next_alert_fielddetection_vehicle.xml'))).toMatchObject({
      regionIds: ['2'],
      targetType: 'vehicle',
    })
  })

  itFixture('reads IO alarms, ANPR as a pulse, and the ver10 heartbeat', () => {
    for (const cam of ['cam1_DS-2CD2T46G2-ISU', 'cam2_DS-2CD2346G2-ISU', 'cam3_DS-2CD2T86G2-ISU']) {
      const io = parseAlert(fixture(`hikvision_next_alert_${cam}_io_notification.xml`))
      expect(alertSignal(io)).toMatchObject({
        type: 'device.input',
        region: 'input 1',
        action: 'start',
        channel: 1,
      })
    }
    const anpr = fixture('hikvision_next_alert_ipc1_anpr_plate_detected.xml')
    const s = alertSignal(parseAlert(anpr), anpr)
    expect(s).toMatchObject({ type: 'device.other', code: 'ANPR', action: 'pulse' })
    expect(parseAlert(fixture('hikvision_next_alert_ipc1_anpr_plate_unknown.xml')).eventType).toBe('ANPR')
    const hb = parseAlert(fixture('moonfire_alert_videoloss_inactive_hikvision_ver10.xml'))
    expect(isHeartbeat(hb)).toBe(true)
    expect(alertSignal(hb)).toMatchObject({ type: 'device.video_loss', action: 'stop' })
    expect(isHeartbeat(parseAlert(fixture('hikvision_next_alert_vmd.xml')))).toBe(false)
  })
})

describe('ISAPI parsers on hand-written and bad input', () => {
  it('reads a StreamingChannelList with frame rates in hundredths, any namespace prefix', () => {
    const xml = `<?xml version="1.0"?>
<MC1:StreamingChannelList xmlns:MC1="http://www.std-cgi.com/ver20/XMLSchema">
  <MC1:StreamingChannel><MC1:id>101</MC1:id><MC1:enabled>true</MC1:enabled>
    <MC1:Video><MC1:videoCodecType>H.264</MC1:videoCodecType><MC1:videoResolutionWidth>1920</MC1:videoResolutionWidth>
    <MC1:videoResolutionHeight>1080</MC1:videoResolutionHeight><MC1:maxFrameRate>2500</MC1:maxFrameRate></MC1:Video>
  </MC1:StreamingChannel>
  <MC1:StreamingChannel><MC1:id>102</MC1:id><MC1:enabled>false</MC1:enabled>
    <MC1:Video><MC1:maxFrameRate>1250</MC1:maxFrameRate></MC1:Video></MC1:StreamingChannel>
  <MC1:StreamingChannel><MC1:id>bogus</MC1:id></MC1:StreamingChannel>
</MC1:StreamingChannelList>`
    expect(parseStreamingChannels(xml)).toEqual([
      {
        id: '101',
        channel: 1,
        stream: 1,
        role: 'main',
        enabled: true,
        codec: 'H.264',
        width: 1920,
        height: 1080,
        fps: 25,
      },
      { id: '102', channel: 1, stream: 2, role: 'sub', enabled: false, fps: 12.5 },
    ])
  })

  it('reads a hand-written NVR channel list and its status (psialliance namespace)', () => {
    const xml = `<InputProxyChannelList version="1.0" xmlns="urn:psialliance-org">
<InputProxyChannel><id>1</id><name>Door</name><sourceInputPortDescriptor><proxyProtocol>ONVIF</proxyProtocol>
<ipAddress>10.0.0.5</ipAddress><managePortNo>80</managePortNo></sourceInputPortDescriptor></InputProxyChannel>
<InputProxyChannel><id>2</id><sourceInputPortDescriptor><hostName>cam2.local</hostName></sourceInputPortDescriptor></InputProxyChannel>
</InputProxyChannelList>`
    expect(parseInputProxyChannels(xml)).toEqual([
      { id: '1', channel: 1, name: 'Door', ip: '10.0.0.5', port: 80, protocol: 'ONVIF' },
      { id: '2', channel: 2, ip: 'cam2.local' },
    ])
    const status = `<InputProxyChannelStatusList xmlns="http://www.hikvision.com/ver20/XMLSchema">
<InputProxyChannelStatus><id>1</id><online>true</online></InputProxyChannelStatus>
<InputProxyChannelStatus><id>2</id><online>false</online></InputProxyChannelStatus></InputProxyChannelStatusList>`
    expect(parseInputProxyStatus(status)).toEqual([
      { channel: 1, online: true },
      { channel: 2, online: false },
    ])
  })

  it('reads presets, skipping unset ones', () => {
    const xml = `<PTZPresetList xmlns="http://www.hikvision.com/ver20/XMLSchema">
<PTZPreset><id>1</id><presetName>Gate</presetName><enabled>true</enabled></PTZPreset>
<PTZPreset><id>2</id><presetName></presetName><enabled>false</enabled></PTZPreset>
<PTZPreset><id>3</id></PTZPreset></PTZPresetList>`
    expect(parsePresets(xml)).toEqual([{ id: '1', name: 'Gate' }, { id: '3' }])
  })

  it('rejects garbage, truncated and wrong documents with an XmlError', () => {
    for (const bad of [
      '',
      'garbage',
      '<EventNotificationAlert><eventType>VMD</eventType>',
      '<a><b></a>',
      '\u0000\u0001',
    ])
      expect(() => parseAlert(bad)).toThrow(XmlError)
    expect(() =>
      parseAlert('<EventNotificationAlert><eventState>active</eventState></EventNotificationAlert>'),
    ).toThrow(/without eventType/)
    expect(() => parseDeviceInfo('<ResponseStatus><statusCode>4</statusCode></ResponseStatus>')).toThrow(
      XmlError,
    )
    expect(() => parseInputProxyChannels('<DeviceInfo/>')).toThrow(XmlError)
    expect(() => parseStreamingChannels('<DeviceInfo><x>1</x></DeviceInfo>')).toThrow(XmlError)
  })

  it('property: arbitrary text never throws anything but an XmlError', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        for (const parse of [parseAlert, parseDeviceInfo, parseStreamingChannels, parseInputProxyChannels]) {
          try {
            parse(s)
          } catch (err) {
            expect(err).toBeInstanceOf(XmlError)
          }
        }
      }),
    )
  })
})
