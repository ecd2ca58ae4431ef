import {
  cleanText,
  DEVICE_AUTH,
  DEVICE_PROTOCOL,
  DEVICE_UNREACHABLE,
  type DeviceProbeResult,
  type DeviceProtocol,
  type ProbedChannel,
  type ProbedStream,
  type ProbeProtocol,
  parseHostPort,
} from '@ts-vms/shared'
import { DahuaClient } from './dahua/dahua-client.ts'
import { DeviceHttpError } from './http/device-http.ts'
import { IsapiClient } from './isapi/isapi-client.ts'
import type { IsapiStreamingChannel } from './isapi/isapi-parse.ts'
import type { MediaProfile } from './onvif/media.ts'
import { OnvifClient } from './onvif/onvif-client.ts'
import { OnvifError } from './onvif/soap.ts'

/**
 * `device.probe`: what a device is and the cameras (channels) it serves, with the credentials an
 * installer typed. ONVIF, then Hikvision ISAPI, then Dahua CGI for `auto`. Everything a device
 * sends is bounded and cleaned before it goes into the answer (the hub validates it with
 * `deviceProbeResult`). Docs: docs/devices.md, "Agent requests: probe, snapshot, PTZ".
 */

/** A failure a device request answers with: status, the shared code, a message for the installer. */
export class DeviceError extends Error {
  override name = 'DeviceError'
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

/** What went wrong with one protocol, in the three kinds an installer can act on. */
export type FailureKind = 'auth' | 'unreachable' | 'protocol'

/** The kind of any error a device client throws (anything unknown is the device's fault). */
export function failureKind(err: unknown): FailureKind {
  if (err instanceof OnvifError) {
    if (err.code === 'not_authorized') return 'auth'
    if (err.code === 'unreachable' || err.code === 'timeout') return 'unreachable'
    return 'protocol'
  }
  if (err instanceof DeviceHttpError) {
    if (err.code === 'auth') return 'auth'
    if (err.code === 'unreachable' || err.code === 'timeout') return 'unreachable'
    return 'protocol'
  }
  return 'protocol'
}

export const KIND_CODE: Record<FailureKind, string> = {
  auth: DEVICE_AUTH,
  unreachable: DEVICE_UNREACHABLE,
  protocol: DEVICE_PROTOCOL,
}

/** An error's message as it may go to the hub: one line, bounded. */
export const errorText = (err: unknown): string =>
  cleanText(err instanceof Error ? err.message : String(err), { maxLength: 300 }).trim() || 'unknown error'

/** Where to reach a device, from the request's address. */
export interface ProbeTarget {
  /** As it goes into URLs (`[::1]` bracketed). */
  host: string
  /** The HTTP port (explicit, else 80/443). */
  port: number
  /** `http://host[:port]`: ISAPI and Dahua live at the root. */
  baseUrl: string
  /** The ONVIF device service. */
  onvifUrl: string
}

/**
 * `host`, `host:port` or an http(s) URL. A bare host means ONVIF's usual
 * `/onvif/device_service`; a URL with a path is the device service as discovery reported it.
 */
export function parseProbeAddress(address: string): ProbeTarget {
  if (/^https?:\/\//i.test(address)) {
    let u: URL
    try {
      u = new URL(address)
    } catch {
      throw new DeviceError(400, 'address_invalid', 'the address is not a valid URL')
    }
    const https = u.protocol === 'https:'
    const port = u.port ? Number(u.port) : https ? 443 : 80
    const baseUrl = `${u.protocol}//${u.host}`
    const path = u.pathname === '/' || u.pathname === '' ? '/onvif/device_service' : u.pathname
    return { host: u.hostname, port, baseUrl, onvifUrl: `${baseUrl}${path}${u.search}` }
  }
  const hp = parseHostPort(address)
  if (!hp) throw new DeviceError(400, 'address_invalid', 'the address must be a host, host:port or URL')
  const baseUrl = `http://${hp.host}${hp.port ? `:${hp.port}` : ''}`
  return { host: hp.host, port: hp.port ?? 80, baseUrl, onvifUrl: `${baseUrl}/onvif/device_service` }
}

// ---------------------------------------------------------------------------------------------
// Small pure cleaners: a device's text becomes what the shared schemas accept, or null.

/** Text from a device: control characters out, at most 200 characters; empty is null. */
export function deviceText(value: string | undefined, max = 200): string | null {
  if (value === undefined) return null
  const t = cleanText(value, { maxLength: max }).trim()
  return t === '' ? null : t
}

/** `aa:bb:cc:dd:ee:ff` from any of the usual spellings (`AA-BB-…`, `aabb.ccdd.eeff`, bare hex). */
export function normalizeMac(value: string | undefined): string | null {
  if (!value) return null
  const hex = value.trim().toLowerCase().replace(/[:.-]/g, '')
  if (!/^[0-9a-f]{12}$/.test(hex) || /^0{12}$/.test(hex)) return null
  return hex.match(/../g)?.join(':') ?? null
}

/** A codec name as the schema takes it (`h264`, `h265`, `jpeg`…); null when unreadable. */
export function normalizeCodec(value: string | undefined): string | null {
  if (!value) return null
  const v = value
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '')
  if (v === 'h264' || v === 'avc') return 'h264'
  if (v === 'h265' || v === 'hevc') return 'h265'
  if (v === 'jpeg' || v === 'mjpeg' || v === 'mjpg') return 'jpeg'
  return /^[a-z0-9]{1,32}$/.test(v) ? v : null
}

const dimension = (n: number | undefined): number | null =>
  n !== undefined && Number.isInteger(n) && n >= 0 && n <= 16_384 ? n : null
const rate = (n: number | undefined): number | null =>
  n !== undefined && Number.isFinite(n) && n >= 0 && n <= 1000 ? n : null

/** A channel id or preset token as the schema takes it: printable ASCII without spaces, ≤ 64. */
export const isDeviceToken = (s: string) => /^[\x21-\x7e]{1,64}$/.test(s)

/**
 * An RTSP URI the device gave, without credentials (in the userinfo or, Dahua- and Axis-style, in
 * the query): a camera's own username and password dial it. Undefined when it is not rtsp://.
 */
export function stripCredentials(uri: string): string | undefined {
  let u: URL
  try {
    u = new URL(uri.trim())
  } catch {
    return undefined
  }
  if (u.protocol !== 'rtsp:' || u.hostname === '') return undefined
  u.username = ''
  u.password = ''
  for (const key of [...u.searchParams.keys()])
    if (/^(user(name)?|pass(word)?|pwd|auth)$/i.test(key)) u.searchParams.delete(key)
  const out = u.toString()
  return out.length <= 2048 ? out : undefined
}

/** Runs `fn` over `items`, at most `limit` at a time, keeping the order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i] as T)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

/** An optional read: its value, or undefined — but wrong credentials are never swallowed. */
async function optional<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p
  } catch (err) {
    if (failureKind(err) === 'auth') throw err
    return undefined
  }
}

/** The most channels an answer lists (the schema's bound). */
export const MAX_PROBED_CHANNELS = 512
/** Calls to one device at once while reading its channels. */
const CONCURRENCY = 4
const RTSP_PORT = 554

export interface ProbeOptions {
  address: string
  protocol: ProbeProtocol
  username: string
  password: string
  /** Epoch ms by which the answer must be ready. */
  deadline: number
}

type Device = DeviceProbeResult['device']

interface ProtocolProbe {
  device: Omit<Device, 'address' | 'port' | 'protocols' | 'onvifUrl' | 'protocol'> & {
    onvifUrl?: string | null
  }
  channels: ProbedChannel[]
}

/** Per-request timeout: what is left before the deadline, between 1 and 10 s. */
const timeoutFor = (deadline: number) => Math.max(1000, Math.min(10_000, deadline - Date.now()))

/**
 * How every probe client dials the device: the installer's credentials, each request bounded by
 * what is left of the deadline (`maxMs` lower still). One place for all three protocols.
 */
const dialOptions = (o: ProbeOptions, maxMs = 10_000) => ({
  username: o.username,
  password: o.password,
  timeoutMs: Math.min(maxMs, timeoutFor(o.deadline)),
})

/**
 * The channels an NVR lists (ISAPI input proxies, Dahua channel titles) that an answer takes:
 * numbers 1..9999, at most the schema's bound. The same rule for both, so they cannot drift.
 */
const listedChannels = <T extends { channel: number }>(list: readonly T[]): T[] =>
  list.filter((c) => c.channel >= 1 && c.channel <= 9999).slice(0, MAX_PROBED_CHANNELS)

// ---------------------------------------------------------------------------------------------
// ONVIF

/**
 * Channels from media profiles: one per video source (profiles without a source token are one
 * camera), the channel id being its main profile's token; main = the highest resolution, sub =
 * the next.
 */
export function groupProfiles(
  profiles: readonly MediaProfile[],
): { source: string; profiles: MediaProfile[] }[] {
  const withVideo = profiles.filter((p) => p.video !== undefined)
  const usable = (withVideo.length > 0 ? withVideo : profiles).filter((p) => isDeviceToken(p.token))
  const groups = new Map<string, MediaProfile[]>()
  for (const p of usable) {
    const key = p.videoSourceToken ?? ''
    const list = groups.get(key) ?? []
    list.push(p)
    groups.set(key, list)
  }
  const pixels = (p: MediaProfile) => (p.video?.width ?? 0) * (p.video?.height ?? 0)
  return [...groups].map(([source, list]) => ({
    source,
    // Stable: equal sizes keep the device's order (its first profile is its main one).
    profiles: list
      .map((p, i) => ({ p, i }))
      .sort((a, b) => pixels(b.p) - pixels(a.p) || a.i - b.i)
      .map((x) => x.p),
  }))
}

async function probeOnvif(target: ProbeTarget, o: ProbeOptions): Promise<ProtocolProbe> {
  const client = new OnvifClient({ url: target.onvifUrl, ...dialOptions(o) })
  await client.connect()
  const info = await optional(client.deviceInformation())
  // Profiles are what make it a camera: without them this is not an ONVIF video device.
  const profiles = await client.profiles()
  const nics = await optional(client.networkInterfaces())
  const mac = nics?.find((n) => n.enabled && normalizeMac(n.hwAddress))?.hwAddress
  const hasPtz = client.xaddrs.ptz !== undefined
  const groups = groupProfiles(profiles).slice(0, MAX_PROBED_CHANNELS)
  const channels = await mapLimit(groups, CONCURRENCY, async (g): Promise<ProbedChannel> => {
    const [main, sub] = g.profiles as [MediaProfile, MediaProfile | undefined]
    const streams: ProbedStream[] = []
    for (const [role, p] of [
      ['main', main],
      ['sub', sub],
    ] as const) {
      if (!p) continue
      const uri = await optional(client.streamUri(p.token))
      const url = uri ? stripCredentials(uri.uri) : undefined
      if (!url) continue
      streams.push({
        role,
        url,
        codec: normalizeCodec(p.video?.encoding),
        width: dimension(p.video?.width),
        height: dimension(p.video?.height),
        fps: rate(p.video?.fps),
      })
    }
    const snapshot = await optional(client.snapshotUri(main.token))
    return {
      channel: main.token,
      name: deviceText(g.source || undefined) ?? deviceText(main.name) ?? main.token,
      streams,
      snapshot: snapshot !== undefined && /^https?:\/\//i.test(snapshot.uri.trim()),
      ptz: hasPtz && g.profiles.some((p) => p.ptz !== undefined),
    }
  })
  return {
    device: {
      manufacturer: deviceText(info?.manufacturer),
      model: deviceText(info?.model),
      firmware: deviceText(info?.firmwareVersion),
      serial: deviceText(info?.serialNumber),
      mac: normalizeMac(mac),
      name: null,
      hardware: deviceText(info?.hardwareId),
      onvifUrl: target.onvifUrl.length <= 512 ? target.onvifUrl : null,
    },
    channels,
  }
}

// ---------------------------------------------------------------------------------------------
// Hikvision ISAPI

/**
 * An ISAPI channel's streams: `${ch}01` main and `${ch}02` sub, at the RTSP port the stream names
 * (`Transport/rtspPortNo`), else the device's.
 */
export function isapiStreams(
  host: string,
  rtspPort: number,
  channel: number,
  listed: readonly IsapiStreamingChannel[],
  streamPorts: ReadonlyMap<string, number> = new Map(),
): ProbedStream[] {
  const mine = listed.filter((s) => s.channel === channel && s.enabled)
  const out: ProbedStream[] = []
  for (const [role, n] of [
    ['main', 1],
    ['sub', 2],
  ] as const) {
    const s = mine.find((x) => x.stream === n)
    // The main stream exists on every channel even when the list leaves it out (NVR proxies).
    if (!s && (role === 'sub' || mine.length > 0)) continue
    out.push({
      role,
      url: `rtsp://${host}:${streamPorts.get(`${channel}0${n}`) ?? rtspPort}/Streaming/Channels/${channel}0${n}`,
      codec: normalizeCodec(s?.codec),
      width: dimension(s?.width),
      height: dimension(s?.height),
      fps: rate(s?.fps),
    })
  }
  return out
}

async function probeIsapi(target: ProbeTarget, o: ProbeOptions): Promise<ProtocolProbe> {
  const client = new IsapiClient({ baseUrl: target.baseUrl, ...dialOptions(o) })
  const info = await client.deviceInfo()
  const [streaming, proxies, status, ptz, rtspPort] = await Promise.all([
    optional(client.streamingChannelsWithPorts()),
    optional(client.inputProxyChannels()),
    optional(client.inputProxyStatus()),
    optional(client.ptzChannels()),
    optional(client.rtspPort()),
  ])
  const port = rtspPort ?? RTSP_PORT
  const ptzSet = new Set(ptz ?? [])
  const online = new Map((status ?? []).map((s) => [s.channel, s.online]))
  const list = streaming?.channels ?? []
  const ports = streaming?.rtspPorts ?? new Map<string, number>()
  let channels: ProbedChannel[]
  if (proxies && proxies.length > 0) {
    channels = listedChannels(proxies).map((c) => ({
      channel: String(c.channel),
      name: deviceText(c.name) ?? `Channel ${c.channel}`,
      streams: isapiStreams(target.host, port, c.channel, list, ports),
      snapshot: true,
      ptz: ptzSet.has(c.channel),
      ...(online.has(c.channel) ? { online: online.get(c.channel) as boolean } : {}),
    }))
  } else {
    channels = [
      {
        channel: '1',
        name: deviceText(info.deviceName) ?? 'Camera',
        streams: isapiStreams(target.host, port, 1, list, ports),
        snapshot: true,
        ptz: ptzSet.has(1),
      },
    ]
  }
  return {
    device: {
      manufacturer: 'Hikvision',
      model: deviceText(info.model),
      firmware: deviceText(info.firmware),
      serial: deviceText(info.serial),
      mac: normalizeMac(info.mac),
      name: deviceText(info.deviceName),
    },
    channels,
  }
}

// ---------------------------------------------------------------------------------------------
// Dahua CGI

export const dahuaStreamUrl = (host: string, rtspPort: number, channel: number, subtype: 0 | 1) =>
  `rtsp://${host}:${rtspPort}/cam/realmonitor?channel=${channel}&subtype=${subtype}`

async function probeDahua(target: ProbeTarget, o: ProbeOptions): Promise<ProtocolProbe> {
  const client = new DahuaClient({ baseUrl: target.baseUrl, ...dialOptions(o) })
  const info = await client.systemInfo()
  const [type, version, titles, rtspPort] = await Promise.all([
    optional(client.deviceType()),
    optional(client.softwareVersion()),
    optional(client.channelTitles()),
    optional(client.rtspPort()),
  ])
  const port = rtspPort ?? RTSP_PORT
  const named = listedChannels(titles ?? [])
  const list = named.length > 0 ? named : [{ channel: 1, name: '' }]
  const channels = await mapLimit(list, CONCURRENCY, async (t): Promise<ProbedChannel> => {
    const ptz = (await optional(client.ptzSupported(t.channel))) ?? false
    return {
      channel: String(t.channel),
      name: deviceText(t.name) ?? `Channel ${t.channel}`,
      streams: ([0, 1] as const).map((subtype) => ({
        role: subtype === 0 ? 'main' : 'sub',
        url: dahuaStreamUrl(target.host, port, t.channel, subtype),
        codec: null,
        width: null,
        height: null,
        fps: null,
      })),
      snapshot: true,
      ptz,
    }
  })
  const firmware = version
    ? version.build
      ? `${version.version} build ${version.build}`
      : version.version
    : undefined
  return {
    device: {
      manufacturer: 'Dahua',
      model: deviceText(type ?? info.deviceType),
      firmware: deviceText(firmware),
      serial: deviceText(info.serial),
      // Neither is in what the probe reads (Network and MachineName configs): left to discovery.
      mac: null,
      name: null,
    },
    channels,
  }
}

const PROBES: Record<
  Exclude<DeviceProtocol, 'rtsp'>,
  (t: ProbeTarget, o: ProbeOptions) => Promise<ProtocolProbe>
> = { onvif: probeOnvif, isapi: probeIsapi, dahua: probeDahua }
const NAMES = { onvif: 'ONVIF', isapi: 'ISAPI', dahua: 'Dahua' } as const

/**
 * Whether the device also answers `protocol` (an identity read only), for `protocols`: a
 * Hikvision camera speaks ONVIF and ISAPI, and the hub may prefer ISAPI for its events.
 */
async function alsoAnswers(
  protocol: 'isapi' | 'dahua',
  target: ProbeTarget,
  o: ProbeOptions,
): Promise<boolean> {
  // An identity read only: quick.
  const common = { baseUrl: target.baseUrl, ...dialOptions(o, 3000) }
  try {
    if (protocol === 'isapi') await new IsapiClient(common).deviceInfo()
    else await new DahuaClient(common).systemInfo()
    return true
  } catch {
    return false
  }
}

/** A connection refused or unroutable (not a timeout): the host and port, whatever the protocol. */
const refused = (err: unknown) =>
  (err instanceof OnvifError || err instanceof DeviceHttpError) && err.code === 'unreachable'

/**
 * Probes the device. `auto`: ONVIF, then ISAPI, then Dahua, the first that works is the answer.
 * When none does: DEVICE_AUTH if any refused the credentials (a protocol that does not exist there
 * must not hide that the password is wrong), else DEVICE_PROTOCOL if something answered, else
 * DEVICE_UNREACHABLE.
 */
export async function probeDevice(o: ProbeOptions): Promise<DeviceProbeResult> {
  const target = parseProbeAddress(o.address)
  const order: Exclude<DeviceProtocol, 'rtsp'>[] =
    o.protocol === 'auto' ? ['onvif', 'isapi', 'dahua'] : [o.protocol]
  const failures: { protocol: keyof typeof NAMES; kind: FailureKind; message: string }[] = []
  for (const protocol of order) {
    if (Date.now() >= o.deadline - 200) {
      failures.push({ protocol, kind: 'unreachable', message: 'no time was left to try it' })
      continue
    }
    try {
      const found = await PROBES[protocol](target, o)
      const protocols: DeviceProtocol[] = [protocol]
      if (o.protocol === 'auto' && protocol === 'onvif') {
        const [isapi, dahua] = await Promise.all([
          alsoAnswers('isapi', target, o),
          alsoAnswers('dahua', target, o),
        ])
        if (isapi) protocols.push('isapi')
        if (dahua) protocols.push('dahua')
      }
      return {
        device: {
          address: target.host.slice(0, 64),
          port: target.port,
          ...found.device,
          onvifUrl: found.device.onvifUrl ?? null,
          protocols,
          protocol,
        },
        channels: found.channels,
      }
    } catch (err) {
      if (err instanceof DeviceError) throw err
      const kind = failureKind(err)
      failures.push({ protocol, kind, message: errorText(err) })
      // A refused or unroutable connection is the host and port, not the protocol: the others
      // would dial the same and be refused the same.
      if (refused(err)) break
    }
  }
  const kind: FailureKind = failures.some((f) => f.kind === 'auth')
    ? 'auth'
    : failures.some((f) => f.kind === 'protocol')
      ? 'protocol'
      : 'unreachable'
  const lead =
    kind === 'auth'
      ? 'the device refused the credentials'
      : kind === 'protocol'
        ? `the device did not answer as ${order.map((p) => NAMES[p]).join(' or ')}`
        : 'the device did not answer'
  const detail = failures.map((f) => `${NAMES[f.protocol]}: ${f.message}`).join('; ')
  throw new DeviceError(422, KIND_CODE[kind], `${lead} (${detail})`)
}
