import http from 'node:http'
import type { AddressInfo } from 'node:net'
import net from 'node:net'
import { deviceProbeResult, type ProbeProtocol } from '@ts-vms/shared'
import { describe, expect, it } from 'vitest'
import {
  DeviceError,
  groupProfiles,
  isapiStreams,
  normalizeCodec,
  normalizeMac,
  parseProbeAddress,
  probeDevice,
  stripCredentials,
} from './device-probe.ts'
import {
  closedPort,
  dahuaDevice as dahua,
  failure,
  isapiDevice as isapi,
  onCleanup,
  onvifDevice as onvif,
} from './test-fixtures.ts'

const hostOf = (url: string) => new URL(url).host

/** An HTTP server that answers every request with 200 and nonsense. */
async function garbageServer(): Promise<string> {
  const s = http.createServer((req, res) => {
    req.resume()
    res.writeHead(200, { 'content-type': 'text/plain' }).end('hello, I am a printer')
  })
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  onCleanup(() => {
    s.closeAllConnections()
    return new Promise((r) => s.close(() => r()))
  })
  return `127.0.0.1:${(s.address() as AddressInfo).port}`
}

const probe = (address: string, protocol: ProbeProtocol, password = 'secret', username = 'admin') =>
  probeDevice({ address, protocol, username, password, deadline: Date.now() + 20_000 })

describe('device probe: pure parts', () => {
  it('reads addresses: host, host:port, URLs (a bare host means /onvif/device_service)', () => {
    expect(parseProbeAddress('10.0.0.5')).toEqual({
      host: '10.0.0.5',
      port: 80,
      baseUrl: 'http://10.0.0.5',
      onvifUrl: 'http://10.0.0.5/onvif/device_service',
    })
    expect(parseProbeAddress('cam.local:8080')).toMatchObject({
      port: 8080,
      baseUrl: 'http://cam.local:8080',
      onvifUrl: 'http://cam.local:8080/onvif/device_service',
    })
    expect(parseProbeAddress('https://10.0.0.5/onvif/device_service')).toMatchObject({
      port: 443,
      baseUrl: 'https://10.0.0.5',
      onvifUrl: 'https://10.0.0.5/onvif/device_service',
    })
    expect(parseProbeAddress('http://10.0.0.5:8000/onvif/services')).toMatchObject({
      port: 8000,
      onvifUrl: 'http://10.0.0.5:8000/onvif/services',
    })
    expect(parseProbeAddress('http://10.0.0.5/')).toMatchObject({
      onvifUrl: 'http://10.0.0.5/onvif/device_service',
    })
    expect(parseProbeAddress('[fe80::1]:81')).toMatchObject({
      host: '[fe80::1]',
      baseUrl: 'http://[fe80::1]:81',
    })
    expect(() => parseProbeAddress('not a host')).toThrow(DeviceError)
  })

  it('cleans what devices send: MACs, codecs, stream URIs without credentials', () => {
    expect(normalizeMac('AA-BB-CC-00-11-22')).toBe('aa:bb:cc:00:11:22')
    expect(normalizeMac('aabb.cc00.1122')).toBe('aa:bb:cc:00:11:22')
    expect(normalizeMac('00:00:00:00:00:00')).toBeNull()
    expect(normalizeMac('garbage')).toBeNull()
    expect(normalizeCodec('H.264')).toBe('h264')
    expect(normalizeCodec('HEVC')).toBe('h265')
    expect(normalizeCodec('JPEG')).toBe('jpeg')
    expect(normalizeCodec('')).toBeNull()
    expect(
      stripCredentials(
        'rtsp://admin:pw@10.0.0.5:554/cam/realmonitor?channel=1&subtype=0&user=admin&password=pw',
      ),
    ).toBe('rtsp://10.0.0.5:554/cam/realmonitor?channel=1&subtype=0')
    expect(stripCredentials('http://10.0.0.5/stream')).toBeUndefined()
    expect(stripCredentials('not a url')).toBeUndefined()
  })

  it('groups profiles by video source, the largest first (main), then the next (sub)', () => {
    const p = (token: string, source: string | undefined, width: number) => ({
      token,
      name: token,
      ...(source ? { videoSourceToken: source } : {}),
      video: { encoding: 'H264', width, height: (width * 9) / 16 },
    })
    const groups = groupProfiles([
      p('a-sub', 'A', 640),
      p('a-main', 'A', 1920),
      p('b-main', 'B', 1280),
      p('bad token', 'B', 4000),
    ])
    expect(groups.map((g) => [g.source, g.profiles.map((x) => x.token)])).toEqual([
      ['A', ['a-main', 'a-sub']],
      ['B', ['b-main']], // a token with a space cannot name a channel
    ])
    // Profiles without a source are one camera.
    expect(
      groupProfiles([p('x', undefined, 640), p('y', undefined, 1920)]).map((g) =>
        g.profiles.map((x) => x.token),
      ),
    ).toEqual([['y', 'x']])
  })

  it('names ISAPI streams by channel: N01 main, N02 sub, at the RTSP port', () => {
    const listed = [
      {
        id: '201',
        channel: 2,
        stream: 1,
        role: 'main' as const,
        enabled: true,
        codec: 'H.265',
        width: 2560,
        height: 1440,
      },
      { id: '202', channel: 2, stream: 2, role: 'sub' as const, enabled: true },
    ]
    expect(isapiStreams('10.0.0.9', 8554, 2, listed)).toEqual([
      {
        role: 'main',
        url: 'rtsp://10.0.0.9:8554/Streaming/Channels/201',
        codec: 'h265',
        width: 2560,
        height: 1440,
        fps: null,
      },
      {
        role: 'sub',
        url: 'rtsp://10.0.0.9:8554/Streaming/Channels/202',
        codec: null,
        width: null,
        height: null,
        fps: null,
      },
    ])
    // A stream that names its own RTSP port is dialled there.
    expect(isapiStreams('10.0.0.9', 554, 2, listed, new Map([['202', 10554]])).map((s) => s.url)).toEqual([
      'rtsp://10.0.0.9:554/Streaming/Channels/201',
      'rtsp://10.0.0.9:10554/Streaming/Channels/202',
    ])
    // A channel the list leaves out still has its main stream.
    expect(isapiStreams('10.0.0.9', 554, 3, listed).map((s) => s.url)).toEqual([
      'rtsp://10.0.0.9:554/Streaming/Channels/301',
    ])
  })
})

describe('device probe: ONVIF', () => {
  it('describes an NVR-like device: a channel per video source with main and sub streams', async () => {
    const { d, url } = await onvif({
      profiles: [
        {
          token: 'ch1-sub',
          name: 'Sub 1',
          width: 640,
          height: 360,
          videoSource: 'VideoSource_1',
          ptz: false,
        },
        { token: 'ch1-main', name: 'Main 1', width: 2560, height: 1440, videoSource: 'VideoSource_1' },
        {
          token: 'ch2-main',
          name: 'Main 2',
          encoding: 'H265',
          width: 1920,
          height: 1080,
          fps: 15,
          videoSource: 'VideoSource_2',
          ptz: false,
        },
      ],
    })
    const result = await probe(hostOf(url), 'onvif')
    expect(deviceProbeResult.parse(result)).toEqual(result)
    expect(result.device).toMatchObject({
      address: '127.0.0.1',
      port: d.port,
      protocol: 'onvif',
      protocols: ['onvif'],
      manufacturer: 'TS-VMS',
      model: 'TestOnvifDevice',
      firmware: '1.0',
      serial: 'TEST0001',
      mac: '02:00:00:00:00:01',
      onvifUrl: url,
    })
    expect(result.channels).toEqual([
      {
        channel: 'ch1-main',
        name: 'VideoSource_1',
        streams: [
          {
            role: 'main',
            url: `rtsp://127.0.0.1:${d.port}/stream/ch1-main?a=1&b=2`,
            codec: 'h264',
            width: 2560,
            height: 1440,
            fps: 25,
          },
          {
            role: 'sub',
            url: `rtsp://127.0.0.1:${d.port}/stream/ch1-sub?a=1&b=2`,
            codec: 'h264',
            width: 640,
            height: 360,
            fps: 25,
          },
        ],
        snapshot: true,
        ptz: true,
      },
      {
        channel: 'ch2-main',
        name: 'VideoSource_2',
        streams: [
          {
            role: 'main',
            url: `rtsp://127.0.0.1:${d.port}/stream/ch2-main?a=1&b=2`,
            codec: 'h265',
            width: 1920,
            height: 1080,
            fps: 15,
          },
        ],
        snapshot: true,
        ptz: false,
      },
    ])
  })

  it('strips credentials the device puts in its stream URIs', async () => {
    const { url } = await onvif({
      profiles: [
        { token: 'main', streamUri: 'rtsp://admin:secret@10.1.1.1:554/live?user=admin&password=secret' },
      ],
    })
    const result = await probe(url, 'onvif')
    expect(result.channels[0]?.streams[0]?.url).toBe('rtsp://10.1.1.1:554/live')
    expect(JSON.stringify(result)).not.toContain('secret')
  })

  it('works with a device clock two hours off', async () => {
    const { url } = await onvif({ clockSkewMs: 2 * 3600_000 })
    const result = await probe(url, 'onvif')
    expect(result.channels.map((c) => c.channel)).toEqual(['main'])
  })

  it('says DEVICE_AUTH for a wrong password, alone and in auto', async () => {
    const { url } = await onvif()
    const e = await failure(probe(url, 'onvif', 'wrong'))
    expect(e).toMatchObject({ status: 422, code: 'DEVICE_AUTH' })
    // ISAPI and Dahua find no such API there: that must not hide the refused password.
    expect(await failure(probe(hostOf(url), 'auto', 'wrong'))).toMatchObject({ code: 'DEVICE_AUTH' })
    expect(e.message).not.toContain('wrong')
  })

  it('auto takes ONVIF first and lists only the protocols that answered', async () => {
    const { url } = await onvif()
    const result = await probe(hostOf(url), 'auto')
    expect(result.device.protocol).toBe('onvif')
    expect(result.device.protocols).toEqual(['onvif'])
  })
})

describe('device probe: Hikvision ISAPI', () => {
  it('describes a single camera as channel 1', async () => {
    const d = await isapi({ ptzChannels: [1] })
    const result = await probe(hostOf(d.url), 'isapi')
    expect(deviceProbeResult.parse(result)).toEqual(result)
    expect(result.device).toMatchObject({
      protocol: 'isapi',
      protocols: ['isapi'],
      manufacturer: 'Hikvision',
      model: 'DS-TEST-1',
      firmware: 'V5.7.0 build 240101',
      serial: 'DS-TEST-100000000',
      mac: '02:00:00:00:00:01',
      name: 'Test camera',
      onvifUrl: null,
    })
    expect(result.channels).toEqual([
      {
        channel: '1',
        name: 'Test camera',
        streams: [
          {
            role: 'main',
            url: 'rtsp://127.0.0.1:554/Streaming/Channels/101',
            codec: 'h265',
            width: 2560,
            height: 1440,
            fps: 25,
          },
          {
            role: 'sub',
            url: 'rtsp://127.0.0.1:554/Streaming/Channels/102',
            codec: 'h264',
            width: 640,
            height: 360,
            fps: 15,
          },
        ],
        snapshot: true,
        ptz: true,
      },
    ])
  })

  it('describes an NVR: InputProxy channels, online status, the RTSP port the device names', async () => {
    const d = await isapi({ ptzChannels: [2] })
    d.answer('/ISAPI/ContentMgmt/InputProxy/channels', {
      body:
        '<InputProxyChannelList size="1"><InputProxyChannel><id>1</id><name>Gate</name></InputProxyChannel>' +
        '<InputProxyChannel><id>2</id><name>Yard</name></InputProxyChannel></InputProxyChannelList>',
    })
    d.answer('/ISAPI/ContentMgmt/InputProxy/channels/status', {
      body:
        '<InputProxyChannelStatusList><InputProxyChannelStatus><id>1</id><online>true</online></InputProxyChannelStatus>' +
        '<InputProxyChannelStatus><id>2</id><online>false</online></InputProxyChannelStatus></InputProxyChannelStatusList>',
    })
    d.answer('/ISAPI/Security/adminAccesses', {
      body:
        '<AdminAccessProtocolList><AdminAccessProtocol><id>1</id><protocol>HTTP</protocol><portNo>80</portNo></AdminAccessProtocol>' +
        '<AdminAccessProtocol><id>4</id><protocol>RTSP</protocol><portNo>10554</portNo></AdminAccessProtocol></AdminAccessProtocolList>',
    })
    const result = await probe(d.url, 'isapi')
    expect(
      result.channels.map((c) => [c.channel, c.name, c.online, c.ptz, c.streams.map((s) => s.url)]),
    ).toEqual([
      [
        '1',
        'Gate',
        true,
        false,
        ['rtsp://127.0.0.1:10554/Streaming/Channels/101', 'rtsp://127.0.0.1:10554/Streaming/Channels/102'],
      ],
      ['2', 'Yard', false, true, ['rtsp://127.0.0.1:10554/Streaming/Channels/201']],
    ])
  })

  it('auto falls through ONVIF to ISAPI', async () => {
    const d = await isapi()
    const result = await probe(hostOf(d.url), 'auto')
    expect(result.device.protocol).toBe('isapi')
  })

  it('says DEVICE_AUTH for a wrong password (and auto does too)', async () => {
    const d = await isapi()
    expect(await failure(probe(hostOf(d.url), 'isapi', 'wrong'))).toMatchObject({
      status: 422,
      code: 'DEVICE_AUTH',
    })
    expect(await failure(probe(hostOf(d.url), 'auto', 'wrong'))).toMatchObject({ code: 'DEVICE_AUTH' })
  })
})

describe('device probe: Dahua', () => {
  it('describes channels from the channel titles, with realmonitor streams', async () => {
    const d = await dahua({ ptz: true })
    const result = await probe(hostOf(d.url), 'dahua')
    expect(deviceProbeResult.parse(result)).toEqual(result)
    expect(result.device).toMatchObject({
      protocol: 'dahua',
      manufacturer: 'Dahua',
      model: 'IPC-HDW5231R-ZE',
      firmware: '2.800.0000000.16.R build 2020-02-05',
      serial: '4L0123456789ABC',
      mac: null,
    })
    expect(result.channels.map((c) => [c.channel, c.name, c.ptz, c.streams.map((s) => s.url)])).toEqual([
      [
        '1',
        'Driveway',
        true,
        [
          'rtsp://127.0.0.1:554/cam/realmonitor?channel=1&subtype=0',
          'rtsp://127.0.0.1:554/cam/realmonitor?channel=1&subtype=1',
        ],
      ],
      [
        '2',
        'Back Door',
        true,
        [
          'rtsp://127.0.0.1:554/cam/realmonitor?channel=2&subtype=0',
          'rtsp://127.0.0.1:554/cam/realmonitor?channel=2&subtype=1',
        ],
      ],
    ])
  })

  it('auto falls through ONVIF and ISAPI to Dahua; a fixed camera has no PTZ; the RTSP port it names', async () => {
    const d = await dahua()
    d.answer('/cgi-bin/configManager.cgi?action=getConfig&name=RTSP', {
      body: 'table.RTSP.Enable=true\r\ntable.RTSP.Port=8554\r\n',
    })
    const result = await probe(hostOf(d.url), 'auto')
    expect(result.device.protocol).toBe('dahua')
    expect(result.channels.every((c) => !c.ptz)).toBe(true)
    expect(result.channels[0]?.streams[0]?.url).toBe(
      'rtsp://127.0.0.1:8554/cam/realmonitor?channel=1&subtype=0',
    )
  })

  it('says DEVICE_AUTH for a wrong password', async () => {
    const d = await dahua()
    expect(await failure(probe(hostOf(d.url), 'dahua', 'wrong'))).toMatchObject({
      status: 422,
      code: 'DEVICE_AUTH',
    })
    expect(await failure(probe(hostOf(d.url), 'auto', 'wrong'))).toMatchObject({ code: 'DEVICE_AUTH' })
  })
})

describe('device probe: failures', () => {
  it('says DEVICE_UNREACHABLE for a closed port, whatever the protocol', async () => {
    const port = await closedPort()
    for (const protocol of ['auto', 'onvif', 'isapi', 'dahua'] as const) {
      const e = await failure(probe(`127.0.0.1:${port}`, protocol))
      expect(e).toMatchObject({ status: 422, code: 'DEVICE_UNREACHABLE' })
    }
  })

  it('says DEVICE_PROTOCOL for an HTTP server that answers garbage', async () => {
    const address = await garbageServer()
    for (const protocol of ['auto', 'onvif', 'isapi', 'dahua'] as const) {
      const e = await failure(probe(address, protocol))
      expect(e).toMatchObject({ status: 422, code: 'DEVICE_PROTOCOL' })
    }
    const e = await failure(probe(address, 'auto'))
    expect(e.message).toMatch(/ONVIF: .*; ISAPI: .*; Dahua: /)
  })

  it('says DEVICE_PROTOCOL for a TCP server that does not speak HTTP', async () => {
    const sockets = new Set<net.Socket>()
    const s = net.createServer((socket) => {
      sockets.add(socket)
      socket.end('SSH-2.0-OpenSSH_9.6\r\n')
    })
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
    onCleanup(() => {
      for (const socket of sockets) socket.destroy()
      return new Promise((r) => s.close(() => r()))
    })
    const e = await failure(probe(`127.0.0.1:${(s.address() as AddressInfo).port}`, 'isapi'))
    expect(e.code).toBe('DEVICE_PROTOCOL')
  })
})
