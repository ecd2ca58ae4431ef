import { z } from 'zod'
import { streamRole } from './stream-role.ts'

/**
 * Devices on the wire between hub and agent (issue 14): a camera's device binding, and the
 * requests that discover, probe, snapshot and steer devices. The agent talks to the devices; the
 * hub only ever asks it to (sites dial out, the hub never reaches a device itself).
 */

/** How the agent talks to a camera's device. `rtsp`: a plain stream, no device API. */
export const deviceProtocol = z.enum(['onvif', 'isapi', 'dahua', 'rtsp'])
export type DeviceProtocol = z.infer<typeof deviceProtocol>

/** What a probe may be asked to try: `auto` tries ONVIF, then ISAPI, then Dahua. */
export const probeProtocol = z.enum(['auto', 'onvif', 'isapi', 'dahua'])
export type ProbeProtocol = z.infer<typeof probeProtocol>

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*\.?$/
const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/

/** A host as an address names it: a hostname, an IPv4 address or a bracketed IPv6 address. */
function validHost(host: string): boolean {
  if (host.startsWith('[') && host.endsWith(']')) return /^[0-9A-Fa-f:.]{2,45}$/.test(host.slice(1, -1))
  return IPV4.test(host) || HOSTNAME.test(host)
}

/** `host` or `host:port` (port 1..65535); parsed, or undefined when it is neither. */
export function parseHostPort(value: string): { host: string; port?: number } | undefined {
  const m = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(value)
  if (!m) return undefined
  const host = m[1] as string
  if (!validHost(host)) return undefined
  if (m[2] === undefined) return { host }
  const port = Number(m[2])
  return port >= 1 && port <= 65535 ? { host, port } : undefined
}

/**
 * Where a device answers: `host`, `host:port`, or an `http(s)://` URL (an ONVIF device service's
 * address as discovery reports it). No credentials in it, no whitespace or control characters (an
 * address ends up in HTTP request lines and logs).
 */
export const deviceAddress = z
  .string()
  .min(1)
  .max(512)
  .refine((value) => {
    for (const ch of value) if (ch.charCodeAt(0) <= 0x20 || ch.charCodeAt(0) >= 0x7f) return false
    if (/^https?:\/\//i.test(value)) {
      try {
        const u = new URL(value)
        return u.hostname !== '' && u.username === '' && u.password === '' && validHost(u.hostname)
      } catch {
        return false
      }
    }
    return parseHostPort(value) !== undefined
  }, 'must be a host, host:port, or an http(s):// URL without credentials')

/**
 * A device's own channel id as a string: "1", "101", "34" (ISAPI, Dahua), an ONVIF media profile
 * token; empty for a single camera (its first channel or profile). Printable ASCII, no spaces.
 */
export const deviceChannel = z
  .string()
  .max(64)
  .regex(
    /^[\x21-\x7e]*$/,
    'must be printable ASCII without spaces (the device channel id, e.g. "1" or "101")',
  )

/** A camera's device as its agent receives it: the password sealed under the agent's config key. */
export const agentCameraDevice = z.object({
  protocol: deviceProtocol,
  address: deviceAddress,
  channel: deviceChannel.default(''),
  username: z.string().max(256).optional(),
  /** SecretBox-sealed under the agent's configuration key, context `devicePasswordContext(id)`. */
  passwordSealed: z.string().max(4096).optional(),
  /** Take the device's own events (motion, line crossing, ...) in as `device.*` events. */
  events: z.boolean().default(false),
  /**
   * ONVIF: the password may go in clear (UsernameToken PasswordText) when neither digest works —
   * only for the odd old firmware that knows nothing else, and only when the camera says so.
   */
  allowPasswordText: z.boolean().optional(),
})
export type AgentCameraDevice = z.infer<typeof agentCameraDevice>

/** The associated data a camera's device password is sealed with, for its agent. */
export const devicePasswordContext = (cameraId: string) => `camera-device-password:${cameraId}`
/** The associated data of the password a `device.probe` request carries (bound to that request). */
export const probePasswordContext = (requestId: string) => `device-probe-password:${requestId}`

/** The `device.*` event types a device's own events become. */
export const DEVICE_EVENT_TYPES = [
  'device.motion',
  'device.line_crossing',
  'device.intrusion',
  'device.tamper',
  'device.video_loss',
  'device.input',
  'device.other',
] as const
export type DeviceEventType = (typeof DEVICE_EVENT_TYPES)[number]

/** Most targets in one discovery request, and the longest request (ms). */
export const MAX_DISCOVERY_TARGETS = 256
export const MAX_DISCOVERY_TIMEOUT_MS = 60_000

export const discoveryMethod = z.enum(['onvif', 'scan'])
export const discoverRequestFields = {
  methods: z
    .array(discoveryMethod)
    .min(1)
    .max(2)
    .refine((m) => new Set(m).size === m.length, 'a method appears twice'),
  /** Hosts, CIDR ranges (up to /22) and `host:port`; absent: multicast and the local subnets. */
  targets: z
    .array(
      z
        .string()
        .min(1)
        .max(64)
        .regex(/^[0-9A-Za-z.:/[\]-]+$/, 'must be a host, a CIDR range or host:port'),
    )
    .max(MAX_DISCOVERY_TARGETS)
    .optional(),
  timeoutMs: z.number().int().min(100).max(MAX_DISCOVERY_TIMEOUT_MS),
}

const text = (max: number) => z.string().max(max)

export const discoveredProtocol = z.enum(['onvif', 'isapi', 'dahua', 'rtsp', 'http'])

/** One device as discovery (and a probe) describes it; unknown fields are null. */
export const discoveredDevice = z.object({
  address: z.string().min(1).max(64),
  port: z.number().int().min(1).max(65535),
  manufacturer: text(200).nullable(),
  model: text(200).nullable(),
  firmware: text(200).nullable(),
  serial: text(200).nullable(),
  mac: z
    .string()
    .regex(/^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/)
    .nullable(),
  name: text(200).nullable(),
  protocols: z.array(discoveredProtocol).max(5),
  onvifUrl: text(512).nullable(),
  /** The TCP ports that answered a scan (absent when only WS-Discovery found it). */
  openPorts: z.array(z.number().int().min(1).max(65535)).max(16).optional(),
  hardware: text(200).nullable().optional(),
  location: text(200).nullable().optional(),
})
export type DiscoveredDeviceInfo = z.infer<typeof discoveredDevice>

/** The answer to `device.discover`. */
export const deviceDiscoverResult = z.object({
  devices: z.array(discoveredDevice).max(2048),
})
export type DeviceDiscoverResult = z.infer<typeof deviceDiscoverResult>

/** A stream a probed channel offers, with what the device says about it. */
export const probedStream = z.object({
  role: streamRole,
  /** rtsp:// without credentials (the camera's username and password dial it). */
  url: z.string().min(1).max(2048),
  codec: z
    .string()
    .regex(/^[a-z0-9.-]{1,32}$/)
    .nullable(),
  width: z.number().int().min(0).max(16_384).nullable(),
  height: z.number().int().min(0).max(16_384).nullable(),
  fps: z.number().nonnegative().max(1000).nullable(),
})
export type ProbedStream = z.infer<typeof probedStream>

export const probedChannel = z.object({
  /** The device's own channel id (deviceChannel): what a camera's `device.channel` names. */
  channel: deviceChannel,
  name: text(200),
  streams: z.array(probedStream).max(2),
  snapshot: z.boolean(),
  ptz: z.boolean(),
  /** An NVR channel whose camera does not answer (ISAPI InputProxy status), when the device says. */
  online: z.boolean().optional(),
})
export type ProbedChannel = z.infer<typeof probedChannel>

/** The answer to `device.probe`: the device, and a channel per camera it serves. */
export const deviceProbeResult = z.object({
  device: discoveredDevice.extend({ protocol: deviceProtocol }),
  channels: z.array(probedChannel).max(512),
})
export type DeviceProbeResult = z.infer<typeof deviceProbeResult>

/** Error codes a device request answers with (status 422): what the installer must fix. */
export const DEVICE_AUTH = 'DEVICE_AUTH'
export const DEVICE_UNREACHABLE = 'DEVICE_UNREACHABLE'
/** 422: the device answered, but not as any protocol asked for (or garbage). */
export const DEVICE_PROTOCOL = 'DEVICE_PROTOCOL'
/** 409: the camera (or its device) has no PTZ. */
export const PTZ_UNSUPPORTED = 'PTZ_UNSUPPORTED'

/** Longest a continuous move runs before the agent stops it (whether or not a stop arrives). */
export const PTZ_MAX_MOVE_MS = 5000
/** A move's duration when the request names none. */
export const PTZ_DEFAULT_MOVE_MS = 1000

const axis = z.number().min(-1).max(1)

/** A preset's id as the device names it (ONVIF token; ISAPI and Dahua numbers as text). */
export const ptzPresetId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')

/** What `camera.ptz` carries: the hub's API body, checked. */
export const ptzCommand = z.discriminatedUnion('action', [
  z.object({
    action: z.literal('move'),
    pan: axis.default(0),
    tilt: axis.default(0),
    zoom: axis.default(0),
    timeoutMs: z.number().int().min(1).max(PTZ_MAX_MOVE_MS).default(PTZ_DEFAULT_MOVE_MS),
  }),
  z.object({ action: z.literal('stop') }),
  z.object({ action: z.literal('goto'), preset: ptzPresetId }),
  z.object({
    action: z.literal('set'),
    /** Overwrite this preset; absent: a new one. */
    preset: ptzPresetId.optional(),
    name: z.string().min(1).max(64).optional(),
  }),
  z.object({ action: z.literal('remove'), preset: ptzPresetId }),
  z.object({ action: z.literal('home') }),
])
export type PtzCommand = z.infer<typeof ptzCommand>

/** The answer to `camera.ptz` (`set` says which preset it wrote). */
export const ptzResult = z.object({ preset: ptzPresetId.optional() })
export type PtzResult = z.infer<typeof ptzResult>

export const ptzPreset = z.object({ preset: ptzPresetId, name: text(200) })
/** The answer to `camera.ptz.presets`. */
export const ptzPresetsResult = z.object({ presets: z.array(ptzPreset).max(1000) })
export type PtzPresetsResult = z.infer<typeof ptzPresetsResult>

/** Most base64 characters of a current still (about 180 KB of JPEG: one MQTT message). */
export const CAMERA_SNAPSHOT_MAX_BASE64 = 240 * 1024

/** The answer to `camera.snapshot`: the device's own still, or a keyframe of the stream decoded. */
export const cameraSnapshotResult = z.object({
  contentType: z.literal('image/jpeg'),
  base64: z
    .string()
    .min(4)
    .max(CAMERA_SNAPSHOT_MAX_BASE64)
    .regex(/^[A-Za-z0-9+/]+={0,2}$/),
  source: z.enum(['device', 'stream']),
  width: z.number().int().min(1).max(16_384).optional(),
  height: z.number().int().min(1).max(16_384).optional(),
})
export type CameraSnapshotResult = z.infer<typeof cameraSnapshotResult>
