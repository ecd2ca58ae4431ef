import { type DeviceSignal, isapiEventType } from '../device-events.ts'
import { children, find, parseXml, textAt, XmlError } from '../xml.ts'

/**
 * Hikvision ISAPI answers → plain values. Pure. Elements are read by local name only: the same
 * document comes with `hikvision.com/ver10` or `ver20`, `std-cgi.com` or `isapi.org` namespaces
 * depending on firmware, and the root is looked up anywhere (`find`) so a wrapper does not matter.
 * Every parser accepts the XML text or an already parsed tree (the NVR fixture is JSON of the same
 * tree shape).
 */
export interface IsapiDeviceInfo {
  manufacturer: 'Hikvision'
  model?: string
  /** `firmwareVersion` and `firmwareReleasedDate` (`V5.7.18 build 240826`). */
  firmware?: string
  serial?: string
  mac?: string
  deviceName?: string
  /** `IPCamera`, `NVR`, `DVR`, ... */
  deviceType?: string
}

export interface IsapiStreamingChannel {
  /** The ISAPI id: camera channel × 100 + stream (101 channel 1 main, 102 its sub). */
  id: string
  channel: number
  /** 1 main, 2 sub, 3+ third streams. */
  stream: number
  role: 'main' | 'sub' | 'other'
  enabled: boolean
  codec?: string
  width?: number
  height?: number
  /** Frames per second; undefined when the device says 0 ("full frame rate", NVR proxies). */
  fps?: number
}

export interface IsapiInputProxyChannel {
  id: string
  channel: number
  name?: string
  /** The IP camera behind the NVR channel. */
  ip?: string
  port?: number
  protocol?: string
}

export interface IsapiAlert {
  eventType: string
  /** `active` or `inactive` (absent: active, as in single-shot alerts). */
  eventState: 'active' | 'inactive'
  /** dynChannelID when given (the NVR's digital channel), else channelID; 1 when neither. */
  channel: number
  channelName?: string
  dateTime?: string
  activePostCount?: number
  description?: string
  regionIds: string[]
  /** `human`, `vehicle` (targetType or a region's detectionTarget). */
  targetType?: string
  inputPort?: string
}

export interface IsapiPreset {
  id: string
  name?: string
}

type Input = string | Buffer | Record<string, unknown>

const tree = (input: Input) =>
  typeof input === 'string' || Buffer.isBuffer(input) ? parseXml(input) : (input as Record<string, unknown>)

function int(s: string | undefined): number | undefined {
  if (s === undefined || !/^-?\d+$/.test(s.trim())) return undefined
  const n = Number(s)
  return Number.isSafeInteger(n) ? n : undefined
}

function root(input: Input, name: string) {
  const doc = tree(input)
  const r = find(doc, name)
  if (r === undefined) throw new XmlError(`not an ISAPI ${name} document`)
  return r
}

export function parseDeviceInfo(input: Input): IsapiDeviceInfo {
  const r = root(input, 'DeviceInfo')
  const fw = [textAt(r, 'firmwareVersion'), textAt(r, 'firmwareReleasedDate')].filter(Boolean).join(' ')
  const out: IsapiDeviceInfo = { manufacturer: 'Hikvision' }
  const set = (k: keyof IsapiDeviceInfo, v: string | undefined) => {
    if (v !== undefined) (out as unknown as Record<string, string>)[k] = v
  }
  set('model', textAt(r, 'model'))
  set('firmware', fw || undefined)
  set('serial', textAt(r, 'serialNumber'))
  set('mac', textAt(r, 'macAddress')?.toLowerCase())
  set('deviceName', textAt(r, 'deviceName'))
  set('deviceType', textAt(r, 'deviceType'))
  return out
}

/** One `StreamingChannel`, or a `StreamingChannelList` (`/ISAPI/Streaming/channels`). */
export function parseStreamingChannels(input: Input): IsapiStreamingChannel[] {
  const doc = tree(input)
  const list = find(doc, 'StreamingChannelList')
  const items = list !== undefined ? children(list, 'StreamingChannel') : children(doc, 'StreamingChannel')
  if (items.length === 0 && list === undefined) {
    const single = find(doc, 'StreamingChannel')
    if (single === undefined) throw new XmlError('not an ISAPI StreamingChannel document')
    items.push(single)
  }
  const out: IsapiStreamingChannel[] = []
  for (const item of items) {
    const id = textAt(item, 'id')
    const n = int(id)
    if (id === undefined || n === undefined || n <= 0) continue
    const channel = Math.floor(n / 100)
    const stream = n % 100
    const video = find(item, 'Video')
    const fpsHundredths = int(textAt(video, 'maxFrameRate'))
    const c: IsapiStreamingChannel = {
      id,
      channel,
      stream,
      role: stream === 1 ? 'main' : stream === 2 ? 'sub' : 'other',
      enabled: textAt(item, 'enabled') !== 'false',
    }
    const codec = textAt(video, 'videoCodecType')
    if (codec) c.codec = codec
    const w = int(textAt(video, 'videoResolutionWidth'))
    const h = int(textAt(video, 'videoResolutionHeight'))
    if (w) c.width = w
    if (h) c.height = h
    // maxFrameRate is in hundredths (2500 = 25 fps); 0 is "full frame rate" on NVR proxy channels.
    if (fpsHundredths && fpsHundredths > 0) c.fps = fpsHundredths / 100
    out.push(c)
  }
  return out
}

/** `/ISAPI/ContentMgmt/InputProxy/channels`: the NVR's IP channels and the cameras behind them. */
export function parseInputProxyChannels(input: Input): IsapiInputProxyChannel[] {
  const doc = tree(input)
  const list = find(doc, 'InputProxyChannelList')
  if (list === undefined) throw new XmlError('not an ISAPI InputProxyChannelList document')
  // The list's `size` attribute is not trusted (the DS-7616NI-Q2 says 7 and lists 9).
  const out: IsapiInputProxyChannel[] = []
  for (const item of children(list, 'InputProxyChannel')) {
    const id = textAt(item, 'id')
    const channel = int(id)
    if (id === undefined || channel === undefined) continue
    const c: IsapiInputProxyChannel = { id, channel }
    const name = textAt(item, 'name')
    if (name) c.name = name
    const src = find(item, 'sourceInputPortDescriptor')
    const ip = textAt(src, 'ipAddress') ?? textAt(src, 'hostName')
    if (ip) c.ip = ip
    const port = int(textAt(src, 'managePortNo'))
    if (port) c.port = port
    const protocol = textAt(src, 'proxyProtocol')
    if (protocol) c.protocol = protocol
    out.push(c)
  }
  return out
}

/** `/ISAPI/ContentMgmt/InputProxy/channels/status`: which NVR channels are online. */
export function parseInputProxyStatus(input: Input): { channel: number; online: boolean }[] {
  const doc = tree(input)
  const list = find(doc, 'InputProxyChannelStatusList')
  if (list === undefined) throw new XmlError('not an ISAPI InputProxyChannelStatusList document')
  const out: { channel: number; online: boolean }[] = []
  for (const item of children(list, 'InputProxyChannelStatus')) {
    const channel = int(textAt(item, 'id'))
    if (channel === undefined) continue
    out.push({ channel, online: textAt(item, 'online') === 'true' })
  }
  return out
}

export function parsePresets(input: Input): IsapiPreset[] {
  const doc = tree(input)
  const list = find(doc, 'PTZPresetList')
  if (list === undefined) throw new XmlError('not an ISAPI PTZPresetList document')
  const out: IsapiPreset[] = []
  for (const item of children(list, 'PTZPreset')) {
    const id = textAt(item, 'id')
    if (!id) continue
    // Unset presets come back enabled=false or with an empty name on many firmwares.
    if (textAt(item, 'enabled') === 'false') continue
    const name = textAt(item, 'presetName')
    out.push(name ? { id, name } : { id })
  }
  return out
}

/** An `EventNotificationAlert` (one alertStream part). */
export function parseAlert(input: Input): IsapiAlert {
  const r = root(input, 'EventNotificationAlert')
  const eventType = textAt(r, 'eventType')
  if (!eventType) throw new XmlError('EventNotificationAlert without eventType')
  const state = textAt(r, 'eventState')?.toLowerCase()
  const channel =
    int(textAt(r, 'dynChannelID')) ?? int(textAt(r, 'channelID')) ?? int(textAt(r, 'dynVideoInputChannelID'))
  const alert: IsapiAlert = {
    eventType,
    eventState: state === 'inactive' ? 'inactive' : 'active',
    channel: channel !== undefined && channel > 0 ? channel : 1,
    regionIds: [],
  }
  const name = textAt(r, 'channelName')
  if (name) alert.channelName = name
  const dateTime = textAt(r, 'dateTime')
  if (dateTime) alert.dateTime = dateTime
  const count = int(textAt(r, 'activePostCount'))
  if (count !== undefined) alert.activePostCount = count
  const description = textAt(r, 'eventDescription')
  if (description) alert.description = description
  const regions = find(r, 'DetectionRegionList')
  for (const entry of children(regions, 'DetectionRegionEntry')) {
    const id = textAt(entry, 'regionID')
    if (id) alert.regionIds.push(id)
    const target = textAt(entry, 'detectionTarget')
    if (target && !alert.targetType) alert.targetType = target
  }
  const targetType = textAt(r, 'targetType')
  if (targetType) alert.targetType = targetType
  const port = textAt(r, 'inputIOPortID') ?? textAt(r, 'dynInputIOPortID')
  if (port) alert.inputPort = port
  return alert
}

/**
 * The heartbeat Hikvision cameras send on an idle alertStream (every few seconds): `videoloss` with
 * `inactive`. It is also the genuine end of a video loss, so it still goes to the tracker.
 */
export const isHeartbeat = (a: IsapiAlert) =>
  a.eventType.toLowerCase() === 'videoloss' && a.eventState === 'inactive'

/** Event types that only ever say `active` once per occurrence: pulses, not starts. */
const ISAPI_PULSES = new Set(['anpr'])

/** The tracker signal of an alert. `raw` is the XML text given, when given. */
export function alertSignal(a: IsapiAlert, raw?: string): DeviceSignal {
  const pulse = ISAPI_PULSES.has(a.eventType.toLowerCase())
  const s: DeviceSignal = {
    source: 'isapi',
    code: a.eventType,
    type: isapiEventType(a.eventType),
    action: pulse ? 'pulse' : a.eventState === 'active' ? 'start' : 'stop',
    channel: a.channel,
  }
  // An IO alarm's "region" is its input port, so two inputs of one camera stay two events.
  const region =
    a.inputPort !== undefined && s.type === 'device.input' ? `input ${a.inputPort}` : a.regionIds[0]
  if (region !== undefined) s.region = region
  if (raw !== undefined) s.raw = raw
  return s
}
