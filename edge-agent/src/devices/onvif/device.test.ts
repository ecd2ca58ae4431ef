import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { XmlError } from '../xml.ts'
import {
  hasMedia2,
  parseCapabilities,
  parseDeviceInformation,
  parseNetworkInterfaces,
  parseServices,
  parseSystemDateAndTime,
  servicesByNamespace,
} from './device.ts'
import { OnvifError } from './soap.ts'

const FIXTURES = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../../../shared/fixtures/devices/onvif',
)

/** A real device's response, or undefined (with a loud warning) when the fixtures are absent. */
function fixture(name: string): string | undefined {
  const file = path.join(FIXTURES, name)
  try {
    return readFileSync(file, 'utf8')
  } catch {
    console.warn(`SKIPPING fixture test: ${file} is absent`)
    return undefined
  }
}

const env = (body: string) =>
  `<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><s:Body>${body}</s:Body></s:Envelope>`

describe('GetSystemDateAndTime', () => {
  it('reads the UTC time of the agsh camera', () => {
    const xml = fixture('agsh_GetSystemDateAndTime.xml')
    if (!xml) return
    const t = parseSystemDateAndTime(200, xml)
    expect(t.utc.toISOString()).toBe('2014-12-24T19:14:37.000Z')
    expect(t.dateTimeType).toBe('Manual')
    expect(t.daylightSavings).toBe(true)
    expect(t.timeZone).toBe('MoroccoStandardTime0')
  })

  it('refuses impossible dates instead of rolling them over', () => {
    const dt = (y: number, mo: number, d: number, h = 1) =>
      env(
        `<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:UTCDateTime><tt:Time><tt:Hour>${h}</tt:Hour><tt:Minute>0</tt:Minute><tt:Second>0</tt:Second></tt:Time><tt:Date><tt:Year>${y}</tt:Year><tt:Month>${mo}</tt:Month><tt:Day>${d}</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`,
      )
    expect(parseSystemDateAndTime(200, dt(2026, 2, 28)).utc.toISOString()).toBe('2026-02-28T01:00:00.000Z')
    for (const bad of [dt(2026, 2, 30), dt(2026, 13, 1), dt(2026, 1, 1, 24)])
      expect(() => parseSystemDateAndTime(200, bad)).toThrow(
        expect.objectContaining({ code: 'bad_response' }),
      )
    expect(() =>
      parseSystemDateAndTime(
        200,
        env('<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime/></tds:GetSystemDateAndTimeResponse>'),
      ),
    ).toThrow(OnvifError)
  })
})

describe('GetDeviceInformation', () => {
  it('reads the agsh fixture (with a UsernameToken echoed in its header)', () => {
    const xml = fixture('agsh_GetDeviceInformation.xml')
    if (!xml) return
    expect(parseDeviceInformation(200, xml)).toEqual({
      manufacturer: 'Mockup Manufacturer',
      model: 'Mockup Model',
      firmwareVersion: 'Mockup_15_14_13',
      serialNumber: '00000000',
      hardwareId: 'MOCKUP',
    })
  })
})

describe('GetCapabilities', () => {
  it('reads the agsh camera (all services at one XAddr)', () => {
    const xml = fixture('agsh_GetCapabilities.xml')
    if (!xml) return
    const c = parseCapabilities(200, xml)
    expect(c.xaddrs).toEqual({
      device: 'http://192.168.68.111/onvif/services',
      events: 'http://192.168.68.111/onvif/services',
      imaging: 'http://192.168.68.111/onvif/services',
      media: 'http://192.168.68.111/onvif/services',
      ptz: 'http://192.168.68.111/onvif/services',
      deviceIO: 'http://192.168.68.111/onvif/services',
    })
    expect(c.pullPointSupport).toBe(true)
    expect(c.supportedVersions).toEqual(['2.40'])
  })

  it('reads the Dahua camera with its Extension/Extensions vendor block', () => {
    const xml = fixture('moonfire_dahua_get_capabilities_response.xml')
    if (!xml) return
    const c = parseCapabilities(200, xml)
    expect(c.xaddrs.device).toBe('http://192.168.5.108/onvif/device_service')
    expect(c.xaddrs.media).toBe('http://192.168.5.108/onvif/media_service')
    expect(c.xaddrs.ptz).toBe('http://192.168.5.108/onvif/ptz_service')
    expect(c.xaddrs.events).toBe('http://192.168.5.108/onvif/event_service')
    expect(c.xaddrs.analytics).toBe('http://192.168.5.108/onvif/analytics_service')
    expect(c.xaddrs.deviceIO).toBe('http://192.168.5.108/onvif/deviceIO_service')
    expect(c.xaddrs.telexCapabilities).toBe('http://192.168.5.108/onvif/telecom_service')
    // Quirk: says no PullPoint, yet the same camera answers CreatePullPointSubscription.
    expect(c.pullPointSupport).toBe(false)
    expect(c.rtpMulticast).toBe(true)
    expect(c.supportedVersions).toEqual(['2.00', '2.10', '2.20', '2.30', '2.40', '2.42'])
  })

  it('reads the compact one-line Dahua answer (no PTZ)', () => {
    const xml = fixture('go2rtc_dahua_GetCapabilities_compact.xml')
    if (!xml) return
    const c = parseCapabilities(200, xml)
    expect(c.xaddrs.media).toBe('http://192.168.1.123/onvif/media_service')
    expect(c.xaddrs.events).toBe('http://192.168.1.123/onvif/event_service')
    expect(c.xaddrs.ptz).toBeUndefined()
    expect(c.supportedVersions).toContain('20.06')
    expect(c.pullPointSupport).toBe(true)
  })
})

describe('GetServices', () => {
  it('maps namespaces to XAddrs with versions (agsh)', () => {
    const xml = fixture('agsh_GetServices.xml')
    if (!xml) return
    const services = parseServices(200, xml)
    expect(services).toHaveLength(6)
    const map = servicesByNamespace(services)
    expect(map.get('http://www.onvif.org/ver20/ptz/wsdl')).toEqual({
      namespace: 'http://www.onvif.org/ver20/ptz/wsdl',
      xaddr: 'http://192.168.68.111/onvif/services',
      version: { major: 2, minor: 41 },
    })
    expect(map.get('http://www.onvif.org/ver10/device/wsdl')?.version).toEqual({ major: 2, minor: 42 })
    expect(hasMedia2(services)).toBe(false)
  })

  it('detects Media2', () => {
    const xml = env(
      '<tds:GetServicesResponse><tds:Service><tds:Namespace>http://www.onvif.org/ver20/media/wsdl</tds:Namespace><tds:XAddr>http://c/onvif/media2</tds:XAddr></tds:Service></tds:GetServicesResponse>',
    )
    expect(hasMedia2(parseServices(200, xml))).toBe(true)
    expect(() => parseServices(200, env('<tds:GetServicesResponse/>'))).toThrow(
      expect.objectContaining({ code: 'bad_response' }),
    )
  })
})

describe('GetNetworkInterfaces', () => {
  it('reads interfaces, manual and DHCP addresses', () => {
    const xml = env(
      '<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces token="eth0"><tt:Enabled>true</tt:Enabled><tt:Info><tt:Name>eth0</tt:Name><tt:HwAddress>e0:50:8b:11:22:33</tt:HwAddress><tt:MTU>1500</tt:MTU></tt:Info>' +
        '<tt:IPv4><tt:Enabled>true</tt:Enabled><tt:Config><tt:FromDHCP><tt:Address>10.0.0.5</tt:Address><tt:PrefixLength>16</tt:PrefixLength></tt:FromDHCP><tt:DHCP>true</tt:DHCP></tt:Config></tt:IPv4>' +
        '</tds:NetworkInterfaces><tds:NetworkInterfaces token="wlan0"><tt:Enabled>false</tt:Enabled></tds:NetworkInterfaces></tds:GetNetworkInterfacesResponse>',
    )
    expect(parseNetworkInterfaces(200, xml)).toEqual([
      {
        token: 'eth0',
        enabled: true,
        name: 'eth0',
        hwAddress: 'e0:50:8b:11:22:33',
        mtu: 1500,
        ipv4: {
          enabled: true,
          dhcp: true,
          addresses: [{ address: '10.0.0.5', prefixLength: 16, from: 'dhcp' }],
        },
      },
      { token: 'wlan0', enabled: false },
    ])
  })
})

describe('device parsers on bad input', () => {
  const parsers = [
    parseSystemDateAndTime,
    parseDeviceInformation,
    parseCapabilities,
    parseServices,
    parseNetworkInterfaces,
  ]

  it('turn a fault and a truncated body into OnvifError', () => {
    const xml = fixture('agsh_GetCapabilities.xml')
    if (xml)
      expect(() => parseCapabilities(200, xml.slice(0, xml.length / 2))).toThrow(
        expect.objectContaining({ code: 'bad_response' }),
      )
    expect(() => parseDeviceInformation(200, '<<<garbage')).toThrow(OnvifError)
    // A parser given another operation's answer.
    expect(() => parseDeviceInformation(200, env('<tds:GetServicesResponse/>'))).toThrow(
      expect.objectContaining({ code: 'bad_response' }),
    )
  })

  it('never throw anything but OnvifError/XmlError on arbitrary strings', () => {
    const arb = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc
        .string({ maxLength: 60 })
        .map((s) =>
          env(
            `<tds:GetCapabilitiesResponse><tds:Capabilities>${s}</tds:Capabilities></tds:GetCapabilitiesResponse>`,
          ),
        ),
      fc
        .constantFrom(
          'Year',
          'Month',
          'Hour',
          'XAddr',
          'Namespace',
          'Manufacturer',
          'Service',
          'NetworkInterfaces',
        )
        .chain((tag) =>
          fc.string({ maxLength: 30 }).map((s) => env(`<tds:X><tt:${tag}>${s}</tt:${tag}></tds:X>`)),
        ),
    )
    fc.assert(
      fc.property(arb, fc.constantFrom(...parsers), (s, parse) => {
        try {
          parse(200, s)
        } catch (err) {
          expect(err instanceof OnvifError || err instanceof XmlError).toBe(true)
        }
      }),
      { numRuns: 300 },
    )
  })
})
