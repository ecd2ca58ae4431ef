import { randomUUID } from 'node:crypto'
import os from 'node:os'
import { TestDahuaDevice } from '../../edge-agent/src/devices/dahua/test-dahua-device.ts'
import { alertXml, TestIsapiDevice, TINY_JPEG } from '../../edge-agent/src/devices/isapi/test-isapi-device.ts'
import { escapeXml } from '../../edge-agent/src/devices/onvif/soap.ts'
import { type TestEvent, TestOnvifDevice } from '../../edge-agent/src/devices/onvif/test-onvif-server.ts'
import {
  buildProbeMatchesXml,
  TestWsDiscoveryResponder,
} from '../../edge-agent/src/devices/onvif/test-ws-discovery.ts'
import { WS_DISCOVERY_PORT } from '../../edge-agent/src/devices/onvif/ws-discovery.ts'

/**
 * Simulated network cameras and NVRs in front of the camera simulator's RTSP streams: the
 * edge agent's test devices (ONVIF, Hikvision-like ISAPI, Dahua-like CGI) wired so that what they
 * say about their streams names the simulator's real RTSP URLs, plus a WS-Discovery responder for
 * the ONVIF ones and motion events on demand or on a schedule.
 *
 * What each device says about its streams:
 * - ONVIF: profiles `main` (640x360) and `sub` (320x180, when given); GetStreamUri answers the
 *   simulator's URL of that stream (the test device's `streamUri` per profile).
 * - ISAPI: Streaming/channels lists `<c>01` (and `<c>02`) per channel with the stream name as
 *   `channelName` and the simulator's port as `Transport/rtspPortNo`; an NVR (`channels`) also
 *   lists InputProxy channels named after their main stream, whose source is the simulator's
 *   host and port. ISAPI has no field for a full RTSP URL: `rtspUrl()` gives it.
 * - Dahua: ChannelTitle names each channel after its main stream; `RTSP.Port` is the simulator's.
 *
 * Not for production: the devices answer anyone who knows the (configured) password.
 */
export type SimDeviceKind = 'onvif' | 'isapi' | 'dahua'

export interface SimDeviceStreams {
  /** Names of streams on the RTSP simulator. */
  main: string
  sub?: string
}

export interface SimDeviceSpec {
  kind: SimDeviceKind
  name: string
  username?: string
  password?: string
  /** An NVR with this many channels (ISAPI and Dahua; ONVIF devices have one). Default 1. */
  channels?: number
  /** ONVIF: the device clock minus real time, ms. */
  clockSkewMs?: number
  /** One set for all channels, or one per channel (cycled). */
  streams: SimDeviceStreams | SimDeviceStreams[]
}

export interface SimulatedDevicesOptions {
  /** Where the devices listen. Default 127.0.0.1. */
  host?: string
  /** The host the devices name in their addresses (XAddrs, discovery). Default: `host`, or this machine's first LAN IPv4 when `host` is 0.0.0.0. */
  advertisedHost?: string
  /** The simulator's base URL, e.g. `rtsp://127.0.0.1:8554` (`sim.url('')` without the trailing slash). */
  rtspBaseUrl: string
  devices: SimDeviceSpec[]
  /** WS-Discovery for the ONVIF devices: false for none; default a responder on `host`, random port. */
  discovery?: false | { port?: number; host?: string; multicast?: boolean }
  /** ISAPI and Dahua heartbeat period, ms. Default 5 s (Dahua: the attach request's `heartbeat` when asked). */
  heartbeatMs?: number
  /** Dahua: chunk sizes (cycled) the attach-stream parts are cut into. Default [7, 13, 5, 64]. */
  dahuaChunkSizes?: number[]
  /**
   * The RTSP simulator, to serve each ISAPI and Dahua channel under the path that vendor's
   * cameras use (`/Streaming/Channels/101`, `/cam/realmonitor?channel=1&subtype=0`): what a probe
   * of the device names. One simulator serves one device of each vendor that way (the paths are
   * the same on every device); later ones keep only the simulator's own stream names.
   */
  simulator?: { alias(path: string, stream: string): boolean }
}

export interface SimulatedDevice {
  kind: SimDeviceKind
  name: string
  username: string
  password: string
  channels: number
  /** ONVIF: the device service URL; ISAPI and Dahua: the HTTP base URL. */
  url: string
  /** The RTSP URL of a channel's stream (1-based), as the simulator serves it. */
  rtspUrl(channel: number, stream?: 'main' | 'sub'): string | undefined
  onvif?: TestOnvifDevice
  isapi?: TestIsapiDevice
  dahua?: TestDahuaDevice
}

const MOTION_TOPIC = 'tns1:RuleEngine/CellMotionDetector/Motion'
/** Queued ONVIF notifications kept for a subscriber that stopped pulling. */
const MAX_QUEUED_ONVIF_EVENTS = 100
const ISAPI_ACTIVE_REPEAT_MS = 1000

/** This machine's first non-internal IPv4 address (127.0.0.1 when there is none). */
export function lanAddress(): string {
  for (const list of Object.values(os.networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  return '127.0.0.1'
}

function onvifMotionEvent(active: boolean): TestEvent {
  return {
    topic: MOTION_TOPIC,
    source: {
      VideoSourceConfigurationToken: 'VideoSourceConfig0',
      VideoAnalyticsConfigurationToken: 'VideoAnalyticsConfig0',
      Rule: 'MyMotionDetectorRule',
    },
    data: { IsMotion: String(active) },
  }
}

export class SimulatedDevices {
  readonly devices: SimulatedDevice[] = []
  discovery: TestWsDiscoveryResponder | undefined
  private readonly motionState = new Map<string, boolean>()
  private timers: NodeJS.Timeout[] = []
  private schedule: NodeJS.Timeout | undefined
  private lastDahuaHeartbeat = 0
  private closed = false

  private constructor(private readonly o: SimulatedDevicesOptions) {}

  static async start(options: SimulatedDevicesOptions): Promise<SimulatedDevices> {
    const d = new SimulatedDevices(options)
    try {
      await d.startAll()
    } catch (err) {
      await d.close()
      throw err
    }
    return d
  }

  private get host(): string {
    return this.o.host ?? '127.0.0.1'
  }

  private get advertisedHost(): string {
    return this.o.advertisedHost ?? (this.host === '0.0.0.0' ? lanAddress() : this.host)
  }

  private async startAll(): Promise<void> {
    const names = new Set<string>()
    const base = this.o.rtspBaseUrl.replace(/\/+$/, '')
    for (const spec of this.o.devices) {
      if (names.has(spec.name)) throw new Error(`two simulated devices are named ${spec.name}`)
      names.add(spec.name)
      const channels = spec.kind === 'onvif' ? 1 : Math.max(1, Math.floor(spec.channels ?? 1))
      const all = Array.isArray(spec.streams) ? spec.streams : [spec.streams]
      if (all.length === 0) throw new Error(`${spec.name}: no streams`)
      const streamsOf = (channel: number) => all[(channel - 1) % all.length] as SimDeviceStreams
      const rtspUrl = (channel: number, stream: 'main' | 'sub' = 'main') => {
        if (!Number.isInteger(channel) || channel < 1 || channel > channels) return undefined
        const name = streamsOf(channel)[stream]
        return name === undefined ? undefined : `${base}/${name}`
      }
      const username = spec.username ?? 'admin'
      const password = spec.password ?? 'secret'
      const device: SimulatedDevice = {
        kind: spec.kind,
        name: spec.name,
        username,
        password,
        channels,
        url: '',
        rtspUrl,
      }
      this.devices.push(device)
      if (spec.kind === 'onvif') await this.startOnvif(device, spec, streamsOf(1))
      else if (spec.kind === 'isapi') await this.startIsapi(device, streamsOf, base)
      else await this.startDahua(device, streamsOf, base)
    }
    const onvif = this.devices.filter((d) => d.onvif)
    if (onvif.length > 0 && this.o.discovery !== false) await this.startDiscovery(onvif)
    const tick = setInterval(() => void this.heartbeats(), 1000)
    tick.unref()
    this.timers.push(tick)
  }

  private async startOnvif(device: SimulatedDevice, spec: SimDeviceSpec, streams: SimDeviceStreams) {
    const profiles = [
      {
        token: 'main',
        name: `${spec.name} main`,
        encoding: 'H264',
        width: 640,
        height: 360,
        fps: 15,
        ptz: true,
        streamUri: device.rtspUrl(1, 'main'),
      },
      ...(streams.sub
        ? [
            {
              token: 'sub',
              name: `${spec.name} sub`,
              encoding: 'H264',
              width: 320,
              height: 180,
              fps: 15,
              ptz: true,
              streamUri: device.rtspUrl(1, 'sub'),
            },
          ]
        : []),
    ]
    const onvif = new TestOnvifDevice({
      username: device.username,
      password: device.password,
      clockSkewMs: spec.clockSkewMs ?? 0,
      profiles,
      initialEvents: [onvifMotionEvent(false)],
      maxPullWaitMs: 10_000,
    })
    await onvif.start(this.host, 0)
    // The XAddrs name where a client reaches the device (the test device says 127.0.0.1 otherwise).
    onvif.options.advertisedHost = `${this.advertisedHost}:${onvif.port}`
    onvif.options.subscriptionHost = `${this.advertisedHost}:${onvif.port}`
    device.onvif = onvif
    device.url = `http://${this.advertisedHost}:${onvif.port}/onvif/device_service`
  }

  private async startIsapi(
    device: SimulatedDevice,
    streamsOf: (channel: number) => SimDeviceStreams,
    base: string,
  ) {
    const isapi = new TestIsapiDevice({ username: device.username, password: device.password })
    const rtsp = new URL(base.replace(/^rtsp:/, 'http:'))
    const rtspPort = rtsp.port || '554'
    const nvr = device.channels > 1
    const ns = 'xmlns="http://www.hikvision.com/ver20/XMLSchema"'
    isapi.answer('/ISAPI/System/deviceInfo', {
      body:
        `<?xml version="1.0" encoding="UTF-8"?><DeviceInfo version="2.0" ${ns}><deviceName>${escapeXml(device.name)}</deviceName>` +
        `<model>${nvr ? `DS-76${String(device.channels).padStart(2, '0')}NI-SIM` : 'DS-2CD-SIM'}</model>` +
        `<serialNumber>SIM-${escapeXml(device.name)}</serialNumber><macAddress>02:00:00:00:00:02</macAddress>` +
        '<firmwareVersion>V4.30.0</firmwareVersion><firmwareReleasedDate>build 240101</firmwareReleasedDate>' +
        `<deviceType>${nvr ? 'NVR' : 'IPCamera'}</deviceType></DeviceInfo>`,
    })
    const channelXml: string[] = []
    for (let c = 1; c <= device.channels; c++) {
      const s = streamsOf(c)
      const entries: [string, string, number, number][] = [[`${c}01`, s.main, 640, 360]]
      if (s.sub) entries.push([`${c}02`, s.sub, 320, 180])
      for (const [id, name, w, h] of entries) {
        this.o.simulator?.alias(`/Streaming/Channels/${id}`, name)
        const xml =
          `<StreamingChannel><id>${id}</id><channelName>${escapeXml(name)}</channelName><enabled>true</enabled>` +
          `<Transport><rtspPortNo>${rtspPort}</rtspPortNo></Transport><Video><videoCodecType>H.264</videoCodecType>` +
          `<videoResolutionWidth>${w}</videoResolutionWidth><videoResolutionHeight>${h}</videoResolutionHeight>` +
          '<maxFrameRate>1500</maxFrameRate></Video></StreamingChannel>'
        channelXml.push(xml)
        isapi.answer(`/ISAPI/Streaming/channels/${id}`, {
          body: `<?xml version="1.0" encoding="UTF-8"?>${xml.replace('<StreamingChannel>', `<StreamingChannel version="2.0" ${ns}>`)}`,
        })
        isapi.answer(`/ISAPI/Streaming/channels/${id}/picture`, {
          contentType: 'image/jpeg',
          body: TINY_JPEG,
        })
      }
    }
    isapi.answer('/ISAPI/Streaming/channels', {
      body: `<?xml version="1.0" encoding="UTF-8"?><StreamingChannelList version="2.0" ${ns}>${channelXml.join('')}</StreamingChannelList>`,
    })
    if (nvr) {
      const proxies: string[] = []
      const status: string[] = []
      for (let c = 1; c <= device.channels; c++) {
        proxies.push(
          `<InputProxyChannel><id>${c}</id><name>${escapeXml(streamsOf(c).main)}</name><sourceInputPortDescriptor>` +
            `<proxyProtocol>ONVIF</proxyProtocol><addressingFormatType>ipaddress</addressingFormatType>` +
            `<ipAddress>${escapeXml(rtsp.hostname)}</ipAddress><managePortNo>${rtspPort}</managePortNo>` +
            `<srcInputPort>1</srcInputPort><userName>${escapeXml(device.username)}</userName><streamType>auto</streamType>` +
            '</sourceInputPortDescriptor></InputProxyChannel>',
        )
        status.push(`<InputProxyChannelStatus><id>${c}</id><online>true</online></InputProxyChannelStatus>`)
      }
      isapi.answer('/ISAPI/ContentMgmt/InputProxy/channels', {
        body: `<?xml version="1.0" encoding="UTF-8"?><InputProxyChannelList version="2.0" ${ns} size="${device.channels}">${proxies.join('')}</InputProxyChannelList>`,
      })
      isapi.answer('/ISAPI/ContentMgmt/InputProxy/channels/status', {
        body: `<?xml version="1.0" encoding="UTF-8"?><InputProxyChannelStatusList version="2.0" ${ns}>${status.join('')}</InputProxyChannelStatusList>`,
      })
    }
    device.url = (await isapi.start(0, this.host)).replace(/\/\/[^:/]+:/, `//${this.advertisedHost}:`)
    device.isapi = isapi
  }

  private async startDahua(
    device: SimulatedDevice,
    streamsOf: (channel: number) => SimDeviceStreams,
    base: string,
  ) {
    const dahua = new TestDahuaDevice({ username: device.username, password: device.password })
    const rtspPort = new URL(base.replace(/^rtsp:/, 'http:')).port || '554'
    const nvr = device.channels > 1
    const type = nvr ? `DHI-NVR41${String(device.channels).padStart(2, '0')}-SIM` : 'IPC-HDW-SIM'
    dahua.answer('/cgi-bin/magicBox.cgi?action=getSystemInfo', {
      contentType: 'text/plain',
      body: `deviceType=${type}\r\nhardwareVersion=1.00\r\nserialNumber=SIM${device.name}\r\nupdateSerial=${type}\r\n`,
    })
    dahua.answer('/cgi-bin/magicBox.cgi?action=getDeviceType', {
      contentType: 'text/plain',
      body: `type=${type}\r\n`,
    })
    const titles: string[] = []
    for (let c = 1; c <= device.channels; c++) {
      titles.push(`table.ChannelTitle[${c - 1}].Name=${streamsOf(c).main}\r\n`)
      const streams = streamsOf(c)
      this.o.simulator?.alias(`/cam/realmonitor?channel=${c}&subtype=0`, streams.main)
      if (streams.sub) this.o.simulator?.alias(`/cam/realmonitor?channel=${c}&subtype=1`, streams.sub)
      dahua.answer(`/cgi-bin/snapshot.cgi?channel=${c}`, { contentType: 'image/jpeg', body: TINY_JPEG })
    }
    dahua.answer('/cgi-bin/configManager.cgi?action=getConfig&name=ChannelTitle', {
      contentType: 'text/plain',
      body: titles.join(''),
    })
    dahua.answer('/cgi-bin/configManager.cgi?action=getConfig&name=RTSP', {
      contentType: 'text/plain',
      body: `table.RTSP.Enable=true\r\ntable.RTSP.Port=${rtspPort}\r\n`,
    })
    device.url = (await dahua.start(0, this.host)).replace(/\/\/[^:/]+:/, `//${this.advertisedHost}:`)
    device.dahua = dahua
  }

  private async startDiscovery(onvif: SimulatedDevice[]): Promise<void> {
    const d = this.o.discovery || {}
    const multicast = Boolean(d.multicast)
    const host = d.host ?? (multicast ? '0.0.0.0' : this.host)
    const endpoints = onvif.map((dev, i) => ({
      dev,
      epr: `urn:uuid:5f5a0000-0000-4000-8000-${String(i + 1).padStart(12, '0')}`,
    }))
    let messageNumber = 0
    const responder = new TestWsDiscoveryResponder({
      host,
      port: d.port ?? (multicast ? WS_DISCOVERY_PORT : 0),
      joinMulticast: multicast,
      respond: (probe) =>
        endpoints.map(({ dev, epr }) =>
          buildProbeMatchesXml({
            messageId: `urn:uuid:${randomUUID()}`,
            relatesTo: probe.messageId,
            endpointReference: epr,
            types: 'dn:NetworkVideoTransmitter tds:Device',
            scopes: [
              'onvif://www.onvif.org/type/video_encoder',
              'onvif://www.onvif.org/Profile/Streaming',
              `onvif://www.onvif.org/name/${encodeURIComponent(dev.name)}`,
              'onvif://www.onvif.org/hardware/TS-VMS-SIM',
              'onvif://www.onvif.org/location/Simulator',
            ],
            xaddrs: [dev.url],
            messageNumber: ++messageNumber,
          }),
        ),
    })
    await responder.start()
    this.discovery = responder
  }

  /** `host:port` of the WS-Discovery responder (a unicast discovery target), when there is one. */
  get discoveryTarget(): string | undefined {
    if (!this.discovery) return undefined
    const host = this.discovery.host === '0.0.0.0' ? this.advertisedHost : this.discovery.host
    return `${host}:${this.discovery.port}`
  }

  get(name: string): SimulatedDevice {
    const d = this.devices.find((x) => x.name === name)
    if (!d) throw new Error(`no simulated device named ${name}`)
    return d
  }

  /**
   * Motion starts (`active`) or stops on a device's channel (1-based): an ONVIF
   * CellMotionDetector IsMotion notification, an ISAPI VMD alert (repeated every second while
   * active, as Hikvision cameras do), or a Dahua `Code=VideoMotion` part cut across chunks.
   */
  async motion(name: string, active: boolean, channel = 1): Promise<void> {
    const d = this.get(name)
    if (!Number.isInteger(channel) || channel < 1 || channel > d.channels)
      throw new Error(`${name} has no channel ${channel}`)
    this.motionState.set(`${name}#${channel}`, active)
    if (d.onvif) {
      const event = onvifMotionEvent(active)
      d.onvif.options.initialEvents = [event]
      // Only a subscriber pulls the queue; without one, events would pile up.
      if (d.onvif.subscriptions.size > 0) {
        const queue = d.onvif.options.events
        if (queue.length >= MAX_QUEUED_ONVIF_EVENTS)
          queue.splice(0, queue.length - MAX_QUEUED_ONVIF_EVENTS + 1)
        d.onvif.pushEvent(event)
      }
    } else if (d.isapi) {
      await d.isapi.sendAlert(alertXml('VMD', active ? 'active' : 'inactive', channel))
    } else if (d.dahua) {
      await d.dahua.sendEvent(
        `Code=VideoMotion;action=${active ? 'Start' : 'Stop'};index=${channel - 1}`,
        this.o.dahuaChunkSizes ?? [7, 13, 5, 64],
      )
    }
  }

  /** Whether motion is on for a device's channel. */
  isMotion(name: string, channel = 1): boolean {
    return this.motionState.get(`${name}#${channel}`) ?? false
  }

  /**
   * Motion on every device and channel every `everyMs` for `durationMs` (for the demo), until
   * `stopMotionSchedule()` or `close()`.
   */
  startMotionSchedule(o: { everyMs?: number; durationMs?: number } = {}): void {
    this.stopMotionSchedule()
    const every = Math.max(1000, o.everyMs ?? 30_000)
    const duration = Math.min(Math.max(500, o.durationMs ?? 10_000), every - 250)
    const all = (active: boolean) => {
      for (const d of this.devices)
        for (let c = 1; c <= d.channels; c++) void this.motion(d.name, active, c).catch(() => {})
    }
    const cycle = () => {
      if (this.closed) return
      all(true)
      const stop = setTimeout(() => all(false), duration)
      stop.unref()
      this.timers.push(stop)
    }
    this.schedule = setInterval(cycle, every)
    this.schedule.unref()
    cycle()
  }

  stopMotionSchedule(): void {
    if (this.schedule) clearInterval(this.schedule)
    this.schedule = undefined
  }

  /** Heartbeats (ISAPI every `heartbeatMs`; Dahua at the interval the attach asked) and ISAPI `active` repeats. */
  private lastIsapiHeartbeat = 0
  private lastIsapiRepeat = 0
  private async heartbeats(): Promise<void> {
    if (this.closed) return
    const now = Date.now()
    const every = this.o.heartbeatMs ?? 5000
    const sends: Promise<void>[] = []
    if (now - this.lastIsapiHeartbeat >= every) {
      this.lastIsapiHeartbeat = now
      for (const d of this.devices) if (d.isapi) sends.push(d.isapi.heartbeat(1))
    }
    if (now - this.lastIsapiRepeat >= ISAPI_ACTIVE_REPEAT_MS) {
      this.lastIsapiRepeat = now
      for (const d of this.devices)
        for (let c = 1; c <= d.channels; c++)
          if (d.isapi && this.isMotion(d.name, c)) sends.push(d.isapi.sendAlert(alertXml('VMD', 'active', c)))
    }
    const asked = this.devices.flatMap((d) => d.dahua?.heartbeatsAsked.slice(-1) ?? []).filter((s) => s > 0)
    const dahuaEvery = asked.length > 0 ? Math.max(1000, Math.min(...asked) * 1000) : every
    if (now - this.lastDahuaHeartbeat >= dahuaEvery) {
      this.lastDahuaHeartbeat = now
      for (const d of this.devices) if (d.dahua) sends.push(d.dahua.heartbeat())
    }
    await Promise.allSettled(sends)
  }

  /** One line per device (and the discovery target), for a console. */
  describe(): string[] {
    const lines = this.devices.map((d) => {
      const streams = Array.from({ length: d.channels }, (_, i) => d.rtspUrl(i + 1)).join(' ')
      return `${d.kind} ${d.name}${d.channels > 1 ? ` (${d.channels} channels)` : ''}: ${d.url}  user ${d.username}  → ${streams}`
    })
    if (this.discoveryTarget) lines.push(`ws-discovery (unicast probes): ${this.discoveryTarget}`)
    return lines
  }

  async close(): Promise<void> {
    this.closed = true
    this.stopMotionSchedule()
    for (const t of this.timers) clearTimeout(t)
    this.timers = []
    await Promise.allSettled([
      this.discovery?.stop(),
      ...this.devices.map((d) => d.onvif?.stop() ?? d.isapi?.stop() ?? d.dahua?.stop()),
    ])
    this.discovery = undefined
  }
}
