import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseXml, textAt, XmlError } from '../xml.ts'
import {
  getSnapshotUriBody,
  getStreamUriBody,
  parseProfiles,
  parseSnapshotUri,
  parseStreamUri,
} from './media.ts'
import { OnvifError } from './soap.ts'

const FIXTURES = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../../../shared/fixtures/devices/onvif',
)

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
  `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tr2="http://www.onvif.org/ver20/media/wsdl" xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><s:Body>${body}</s:Body></s:Envelope>`

describe('GetProfiles', () => {
  it('reads the agsh profile: H264 1920x1080 @5 fps with a PTZ configuration', () => {
    const xml = fixture('agsh_GetProfiles.xml')
    if (!xml) return
    expect(parseProfiles(200, xml)).toEqual([
      {
        token: 'main',
        name: 'main',
        fixed: true,
        videoSourceToken: 'vidsrc0',
        video: {
          encoding: 'H264',
          width: 1920,
          height: 1080,
          fps: 5,
          bitrateKbps: 1000,
          govLength: 30,
          profile: 'High',
        },
        ptz: { configurationToken: 'default', nodeToken: 'default' },
      },
    ])
  })

  it('reads Media2 profiles (Configurations/VideoEncoder, H265)', () => {
    const xml = env(
      '<tr2:GetProfilesResponse><tr2:Profiles token="Profile_1" fixed="true"><tr2:Name>mainStream</tr2:Name><tr2:Configurations>' +
        '<tr2:VideoSource token="VS"><tt:Name>VS</tt:Name><tt:SourceToken>VideoSource_1</tt:SourceToken></tr2:VideoSource>' +
        '<tr2:VideoEncoder token="VE" GovLength="50" Profile="Main"><tt:Name>VE</tt:Name><tt:Encoding>H265</tt:Encoding><tt:Resolution><tt:Width>3840</tt:Width><tt:Height>2160</tt:Height></tt:Resolution>' +
        '<tt:RateControl ConstantBitRate="false"><tt:FrameRateLimit>20.000000</tt:FrameRateLimit><tt:BitrateLimit>8192</tt:BitrateLimit></tt:RateControl></tr2:VideoEncoder>' +
        '<tr2:PTZ token="PTZ1"><tt:Name>P</tt:Name><tt:NodeToken>N1</tt:NodeToken></tr2:PTZ>' +
        '</tr2:Configurations></tr2:Profiles><tr2:Profiles token="Profile_2"><tr2:Name>audio only</tr2:Name></tr2:Profiles></tr2:GetProfilesResponse>',
    )
    expect(parseProfiles(200, xml)).toEqual([
      {
        token: 'Profile_1',
        name: 'mainStream',
        fixed: true,
        videoSourceToken: 'VideoSource_1',
        video: {
          encoding: 'H265',
          width: 3840,
          height: 2160,
          fps: 20,
          bitrateKbps: 8192,
          govLength: 50,
          profile: 'Main',
        },
        ptz: { configurationToken: 'PTZ1', nodeToken: 'N1' },
      },
      { token: 'Profile_2', name: 'audio only' },
    ])
  })
})

describe('GetStreamUri / GetSnapshotUri', () => {
  it('reads the agsh stream URI', () => {
    const xml = fixture('agsh_GetStreamUri.xml')
    if (!xml) return
    expect(parseStreamUri(200, xml)).toEqual({
      uri: 'rtsp://192.168.68.111/h264main',
      invalidAfterConnect: false,
      invalidAfterReboot: false,
      timeout: 'PT0S',
    })
  })

  it('decodes &amp; in the Dahua stream and snapshot URIs', () => {
    const stream = fixture('go2rtc_dahua_GetStreamUri_compact.xml')
    const snapshot = fixture('go2rtc_dahua_GetSnapshotUri_compact.xml')
    if (!stream || !snapshot) return
    const s = parseStreamUri(200, stream)
    expect(s.uri).toBe(
      'rtsp://192.168.1.123:554/cam/realmonitor?channel=1&subtype=1&unicast=true&proto=Onvif',
    )
    expect(s.invalidAfterConnect).toBe(true)
    expect(new URL(s.uri).searchParams.get('subtype')).toBe('1')
    expect(parseSnapshotUri(200, snapshot).uri).toBe(
      'http://192.168.1.123/onvifsnapshot/media_service/snapshot?channel=1&subtype=1',
    )
  })

  it('reads go2rtc 1.9.8 (only tt:Uri, standalone="no")', () => {
    const xml = fixture('go2rtc_go2rtc-1.9.8_GetStreamUri.xml')
    if (!xml) return
    expect(parseStreamUri(200, xml)).toEqual({ uri: 'rtsp://192.168.1.123:8554/rtsp-dahua2' })
  })

  it('reads the Media2 shape (Uri directly in the response)', () => {
    const xml = env(
      '<tr2:GetStreamUriResponse><tr2:Uri>rtsp://10.0.0.2/Streaming/Channels/101?transportmode=unicast&amp;profile=Profile_1</tr2:Uri></tr2:GetStreamUriResponse>',
    )
    expect(parseStreamUri(200, xml).uri).toBe(
      'rtsp://10.0.0.2/Streaming/Channels/101?transportmode=unicast&profile=Profile_1',
    )
  })

  it('builds RTSP unicast requests for Media1 and Media2, escaping tokens', () => {
    const m1 = parseXml(`<r xmlns:trt="a" xmlns:tt="b">${getStreamUriBody(1, 'a&b')}</r>`)
    expect(textAt(m1, 'r', 'GetStreamUri', 'StreamSetup', 'Stream')).toBe('RTP-Unicast')
    expect(textAt(m1, 'r', 'GetStreamUri', 'StreamSetup', 'Transport', 'Protocol')).toBe('RTSP')
    expect(textAt(m1, 'r', 'GetStreamUri', 'ProfileToken')).toBe('a&amp;b')
    expect(getStreamUriBody(2, 'p')).toBe(
      '<tr2:GetStreamUri><tr2:Protocol>RTSP</tr2:Protocol><tr2:ProfileToken>p</tr2:ProfileToken></tr2:GetStreamUri>',
    )
    expect(getSnapshotUriBody(1, 'p')).toContain('<trt:GetSnapshotUri><trt:ProfileToken>p</trt:ProfileToken>')
  })

  it('refuses a missing or unusable URI', () => {
    expect(() =>
      parseStreamUri(200, env('<trt:GetStreamUriResponse><trt:MediaUri/></trt:GetStreamUriResponse>')),
    ).toThrow(expect.objectContaining({ code: 'bad_response' }))
    expect(() =>
      parseStreamUri(
        200,
        env(
          '<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>not a uri</tt:Uri></trt:MediaUri></trt:GetStreamUriResponse>',
        ),
      ),
    ).toThrow(expect.objectContaining({ code: 'bad_response' }))
  })
})

describe('media parsers on arbitrary input', () => {
  it('never throw anything but OnvifError/XmlError', () => {
    const arb = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc
        .constantFrom('Profiles', 'Uri', 'MediaUri', 'Width', 'Encoding', 'FrameRateLimit')
        .chain((tag) =>
          fc
            .string({ maxLength: 40 })
            .map((s) =>
              env(
                `<trt:GetProfilesResponse><tt:${tag} token="${s.replace(/"/g, '')}">${s}</tt:${tag}></trt:GetProfilesResponse>`,
              ),
            ),
        ),
    )
    fc.assert(
      fc.property(arb, fc.constantFrom(parseProfiles, parseStreamUri, parseSnapshotUri), (s, parse) => {
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
