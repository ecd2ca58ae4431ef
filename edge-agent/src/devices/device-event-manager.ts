import {
  type AgentCamera,
  type AgentCameraDevice,
  type CameraDeviceHealth,
  cleanText,
  type DeviceProtocol,
  devicePasswordContext,
  SecretBox,
} from '@ts-vms/shared'
import type { Logger } from 'pino'
import { DahuaClient } from './dahua/dahua-client.ts'
import {
  type Backoff,
  type DeviceEvent,
  type EventStreamHandle,
  toEventBody,
  type VendorEventStreamOptions,
} from './device-events.ts'
import { parseProbeAddress } from './device-probe.ts'
import { IsapiClient } from './isapi/isapi-client.ts'
import { OnvifClient } from './onvif/onvif-client.ts'
import { NO_CHANNELS, type OnvifChannels, openOnvifEventStream } from './onvif/onvif-event-stream.ts'

/**
 * The device events of the agent's cameras (issue 14): for the cameras whose `device.events` is
 * on, one event stream per device — an NVR serving 16 cameras is one connection — and each event
 * written to the outbox on the camera bound to its channel (`toEventBody`).
 *
 * - A device is protocol + normalised address + username (`deviceKey`); its password is the
 *   first of its cameras' sealed passwords that opens under the agent's key (each camera's is
 *   sealed for that camera, so the same password arrives once per camera).
 * - Binding: ISAPI and Dahua by channel number (`""` is channel 1); ONVIF by video source — a
 *   camera names a media profile, the profile its video source, and notifications name that
 *   source (`OnvifChannels`); a device with a single camera binds everything to it. Events on a
 *   channel no camera is bound to are dropped (counted).
 * - Every start reaches its camera with exactly one end: the end goes where the start went, and a
 *   camera that is removed, or bound elsewhere, gets the end of its open starts at once (`closed`).
 * - `apply` restarts only the streams whose device or credentials changed; rebinding needs none.
 */
export type DeviceEventBody = ReturnType<typeof toEventBody>

export interface DeviceEventManagerOptions {
  /** The agent's configuration key (base64), which opens the device passwords. */
  configKey: string | undefined
  /** One outbox `event` record (never throws). */
  write: (body: DeviceEventBody, at: Date) => void
  logger: Logger
  /** A camera's device motion started (first open motion) or ended (last one ended). */
  onMotion?: (cameraId: string, active: boolean, at: Date) => void
  /** A start without end or refresh is ended after this long (default 30 s). */
  eventTimeoutMs?: number
  backoff?: Backoff
  /** Per request, ms (ONVIF calls; ISAPI and Dahua streams use their silence bounds). */
  requestTimeoutMs?: number
  /** Tuning, mostly for tests. */
  isapi?: { heartbeatEndsAfterMs?: number; silenceMs?: number }
  dahua?: { heartbeatSeconds?: number; silenceMs?: number }
  onvif?: { pullTimeoutSeconds?: number; terminationMs?: number }
}

type EventProtocol = Exclude<DeviceProtocol, 'rtsp'>

interface StreamSpec {
  key: string
  protocol: EventProtocol
  endpoint: string
  username: string
  password: string
  /** ONVIF PasswordText allowed: any camera of the device saying so (they are one device). */
  allowPasswordText: boolean
  /** The cameras on this device, in configuration order. */
  cameras: AgentCamera[]
}

interface DeviceStream extends StreamSpec {
  handle: EventStreamHandle
  state: 'connecting' | 'connected' | 'error'
  error: string | undefined
  channels: OnvifChannels
  closed: boolean
}

/** A start written to cameras and not yet ended there. */
interface OpenStart {
  stream: DeviceStream
  start: DeviceEvent
  cameras: Set<string>
}

const ERROR_MAX = 500
const errorText = (s: string) => cleanText(s, { maxLength: ERROR_MAX }).trim() || 'unknown error'

/**
 * Where a device answers (as `parseProbeAddress` reads it for probes, snapshots and PTZ),
 * normalised so that two spellings of one device are one key: lower-case host, the port only
 * when not the scheme's default; ONVIF keeps the device service path, ISAPI and Dahua the origin.
 */
export function deviceEndpoint(protocol: EventProtocol, address: string): string | undefined {
  // Credentials in the address (the hub refuses them) are never used, nor silently dropped.
  if (/^https?:\/\/[^/?#]*@/i.test(address)) return undefined
  try {
    const target = parseProbeAddress(address)
    const url = new URL(protocol === 'onvif' ? target.onvifUrl : target.baseUrl)
    if (!url.hostname) return undefined
    return protocol === 'onvif' ? `${url.origin}${url.pathname}${url.search}` : url.origin
  } catch {
    return undefined
  }
}

export const deviceKey = (protocol: EventProtocol, endpoint: string, username: string | undefined) =>
  `${protocol}|${endpoint}|${username ?? ''}`

/**
 * The device channel a camera's `device.channel` names, for ISAPI and Dahua: `""` is channel 1,
 * else the 1-based number the probe wrote (the NVR's channel, as snapshots and PTZ read it).
 * Undefined when it is no channel number.
 */
export function channelNumber(channel: string): number | undefined {
  if (channel === '') return 1
  if (!/^\d{1,4}$/.test(channel)) return undefined
  const n = Number(channel)
  return n >= 1 ? n : undefined
}

/**
 * The ONVIF channel a camera's profile token names: its video source's channel; a video source
 * token or a plain number also works; `""` is channel 1. Undefined while the device's profiles are
 * unknown or when the device has no such profile.
 */
export function onvifChannelOf(channel: string, channels: OnvifChannels): number | undefined {
  if (channel === '') return 1
  if (Object.hasOwn(channels.profiles, channel)) return channels.profiles[channel]
  if (Object.hasOwn(channels.tokens, channel)) return channels.tokens[channel]
  return /^\d{1,4}$/.test(channel) && Number(channel) >= 1 ? Number(channel) : undefined
}

const isEventProtocol = (p: DeviceProtocol): p is EventProtocol => p !== 'rtsp'

export class DeviceEventManager {
  private readonly streams = new Map<string, DeviceStream>()
  /** Cameras that want events but cannot have them (a password that does not open, a bad address). */
  private readonly cameraErrors = new Map<string, string>()
  /** Cameras configured with a device, and whether they want its events. */
  private readonly configured = new Map<string, boolean>()
  private readonly open = new Map<string, OpenStart>()
  private readonly motion = new Map<string, number>()
  private readonly lastEventAt = new Map<string, string>()
  private readonly box: SecretBox | undefined
  private stopped = false
  /** Events dropped because no camera is bound to their channel. */
  dropped = 0

  constructor(private readonly o: DeviceEventManagerOptions) {
    this.box = o.configKey ? new SecretBox(Buffer.from(o.configKey, 'base64')) : undefined
  }

  /** Brings the event streams in line with the cameras' device settings. */
  apply(cameras: readonly AgentCamera[]): void {
    if (this.stopped) return
    this.cameraErrors.clear()
    this.configured.clear()
    const ids = new Set(cameras.map((c) => c.id))
    for (const id of this.lastEventAt.keys()) if (!ids.has(id)) this.lastEventAt.delete(id)
    const groups = new Map<
      string,
      { protocol: EventProtocol; endpoint: string; username: string; cameras: AgentCamera[] }
    >()
    for (const camera of cameras) {
      const d = camera.device
      if (!d) continue
      this.configured.set(camera.id, d.events && isEventProtocol(d.protocol))
      if (!d.events || !isEventProtocol(d.protocol)) continue
      const endpoint = deviceEndpoint(d.protocol, d.address)
      if (!endpoint) {
        this.cameraErrors.set(camera.id, 'the device address is not usable')
        continue
      }
      if (d.protocol !== 'onvif' && channelNumber(d.channel) === undefined) {
        this.cameraErrors.set(camera.id, `"${d.channel}" is not a ${d.protocol} channel number`)
        continue
      }
      const key = deviceKey(d.protocol, endpoint, d.username)
      const group = groups.get(key)
      if (group) group.cameras.push(camera)
      else groups.set(key, { protocol: d.protocol, endpoint, username: d.username ?? '', cameras: [camera] })
    }
    const wanted = new Map<string, StreamSpec>()
    for (const [key, g] of groups) {
      // Each camera carries the device password sealed for itself; they are one password.
      const opened = g.cameras.map((c) => this.password(c.id, c.device as AgentCameraDevice))
      const password =
        opened.find((p) => p.password)?.password ?? opened.find((p) => p.password !== undefined)?.password
      if (password === undefined) {
        for (const c of g.cameras) this.cameraErrors.set(c.id, opened[0]?.error ?? 'no password')
        continue
      }
      if (opened.some((p) => p.password && p.password !== password))
        this.o.logger.warn(
          { device: g.endpoint, protocol: g.protocol },
          'device events: the cameras of one device name different passwords; the first is used',
        )
      const allowPasswordText = g.cameras.some((c) => c.device?.allowPasswordText === true)
      wanted.set(key, { key, ...g, password, allowPasswordText })
    }
    // Changed or gone devices first: closing ends their open starts on the cameras that had them.
    for (const [key, s] of this.streams) {
      const w = wanted.get(key)
      if (w && w.password === s.password && w.allowPasswordText === s.allowPasswordText) continue
      this.closeStream(s)
      this.streams.delete(key)
    }
    for (const [key, w] of wanted) {
      const s = this.streams.get(key)
      if (s) s.cameras = w.cameras
      else this.streams.set(key, this.openStream(w))
    }
    this.endUnbound()
  }

  /** Per camera with a device, for the heartbeat. */
  health(cameras: readonly AgentCamera[]): Map<string, CameraDeviceHealth> {
    const out = new Map<string, CameraDeviceHealth>()
    for (const camera of cameras) {
      const d = camera.device
      if (!d) continue
      const last = this.lastEventAt.get(camera.id)
      const h = this.cameraHealth(camera)
      out.set(camera.id, last && h.events !== 'off' ? { ...h, lastEventAt: last } : h)
    }
    return out
  }

  /** Open device streams (one per device). */
  get streamCount(): number {
    return this.streams.size
  }

  /** Ends every open start (`closed`) and closes every stream; nothing is written after. */
  stop(): void {
    if (this.stopped) return
    for (const s of this.streams.values()) this.closeStream(s)
    this.streams.clear()
    this.endUnbound()
    this.stopped = true
  }

  private cameraHealth(camera: AgentCamera): CameraDeviceHealth {
    if (!this.configured.get(camera.id)) return { events: 'off' }
    const error = this.cameraErrors.get(camera.id)
    if (error !== undefined) return { events: 'error', error }
    const s = this.streamOf(camera.id)
    if (!s) return { events: 'off' }
    if (s.state === 'error') return { events: 'error', error: s.error ?? 'unknown error' }
    if (s.state === 'connected' && s.protocol === 'onvif' && s.cameras.length > 1) {
      const channel = camera.device?.channel ?? ''
      if (onvifChannelOf(channel, s.channels) === undefined)
        return { events: 'error', error: `the device has no profile "${channel}"` }
    }
    return { events: s.state }
  }

  private streamOf(cameraId: string): DeviceStream | undefined {
    for (const s of this.streams.values()) if (s.cameras.some((c) => c.id === cameraId)) return s
    return undefined
  }

  private password(cameraId: string, d: AgentCameraDevice): { password?: string; error?: string } {
    if (!d.passwordSealed) return { password: '' }
    if (!this.box)
      return { error: 'this agent has no configuration key for device passwords: enroll it again' }
    try {
      return { password: this.box.open(d.passwordSealed, devicePasswordContext(cameraId)).toString('utf8') }
    } catch {
      return { error: 'the device password does not open with this agent key: enroll the agent again' }
    }
  }

  private openStream(w: StreamSpec): DeviceStream {
    const s: DeviceStream = {
      ...w,
      handle: { close() {}, connects: 0 },
      state: 'connecting',
      error: undefined,
      channels: NO_CHANNELS,
      closed: false,
    }
    const where = { device: w.endpoint, protocol: w.protocol }
    const common: VendorEventStreamOptions = {
      onEvent: (e) => this.event(s, e),
      onConnected: () => {
        if (s.closed) return
        s.state = 'connected'
        s.error = undefined
        this.o.logger.info(where, 'device events: connected')
      },
      onError: (err, retryInMs) => {
        if (s.closed) return
        // Without a retry it was one unreadable part: the stream goes on.
        if (retryInMs === undefined) {
          this.o.logger.debug({ ...where, error: errorText(err.message) }, 'device events: a part skipped')
          return
        }
        const error = errorText(err.message)
        if (s.state !== 'error' || s.error !== error)
          this.o.logger.warn({ ...where, error, retryInMs }, 'device events: connection lost; retrying')
        s.state = 'error'
        s.error = error
      },
      ...(this.o.eventTimeoutMs ? { eventTimeoutMs: this.o.eventTimeoutMs } : {}),
      ...(this.o.backoff ? { backoff: this.o.backoff } : {}),
    }
    const credentials = { baseUrl: w.endpoint, username: w.username, password: w.password }
    if (w.protocol === 'isapi')
      s.handle = new IsapiClient(credentials).alertStream({ ...common, ...this.o.isapi })
    else if (w.protocol === 'dahua')
      s.handle = new DahuaClient(credentials).eventStream({ ...common, ...this.o.dahua })
    else
      s.handle = openOnvifEventStream({
        ...common,
        ...this.o.onvif,
        client: new OnvifClient({
          url: w.endpoint,
          username: w.username,
          password: w.password,
          allowPasswordText: w.allowPasswordText,
          ...(this.o.requestTimeoutMs ? { timeoutMs: this.o.requestTimeoutMs } : {}),
        }),
        onChannels: (channels) => {
          s.channels = channels
        },
      })
    this.o.logger.info({ ...where, cameras: w.cameras.length }, 'device events: opening')
    return s
  }

  private closeStream(s: DeviceStream): void {
    s.handle.close() // ends its open starts (`closed`) through `event`
    s.closed = true
  }

  /** The cameras of `s` bound to a device channel. */
  private bound(s: DeviceStream, channel: number): AgentCamera[] {
    if (s.protocol === 'onvif') {
      // One camera on the device: everything it reports is about that camera.
      if (s.cameras.length === 1) return s.cameras
      return s.cameras.filter((c) => onvifChannelOf(c.device?.channel ?? '', s.channels) === channel)
    }
    return s.cameras.filter((c) => channelNumber(c.device?.channel ?? '') === channel)
  }

  private event(s: DeviceStream, e: DeviceEvent): void {
    if (this.stopped || s.closed) return
    const key = JSON.stringify([s.key, e.source, e.code, e.channel, e.region ?? null])
    if (e.state === 'end') {
      const open = this.open.get(key)
      // No open start here: it was dropped (no camera) or already ended for its camera.
      if (!open) return
      this.open.delete(key)
      for (const cameraId of open.cameras) this.writeEnd(cameraId, e)
      return
    }
    const cameras = this.bound(s, e.channel)
    if (cameras.length === 0) {
      this.dropped++
      this.o.logger.debug(
        { device: s.endpoint, channel: e.channel, type: e.type },
        'device events: no camera on this channel; dropped',
      )
      return
    }
    if (e.state === 'start')
      this.open.set(key, { stream: s, start: e, cameras: new Set(cameras.map((c) => c.id)) })
    for (const c of cameras) {
      this.write(c.id, e)
      if (e.state === 'start' && e.type === 'device.motion') this.motionChange(c.id, +1, e.at)
    }
  }

  private writeEnd(cameraId: string, e: DeviceEvent): void {
    this.write(cameraId, e)
    if (e.type === 'device.motion') this.motionChange(cameraId, -1, e.at)
  }

  private write(cameraId: string, e: DeviceEvent): void {
    this.lastEventAt.set(cameraId, e.at.toISOString())
    this.o.write(toEventBody(e, cameraId), e.at)
  }

  private motionChange(cameraId: string, delta: 1 | -1, at: Date): void {
    const before = this.motion.get(cameraId) ?? 0
    const after = Math.max(0, before + delta)
    if (after === 0) this.motion.delete(cameraId)
    else this.motion.set(cameraId, after)
    if ((before === 0) !== (after === 0)) this.o.onMotion?.(cameraId, after > 0, at)
  }

  /**
   * Ends, on each camera, the open starts it is no longer bound to (removed, events turned off,
   * moved to another channel, its device closed): no end can reach it for them any more.
   */
  private endUnbound(): void {
    const now = new Date()
    for (const [key, open] of this.open) {
      const live = this.streams.get(open.stream.key) === open.stream && !open.stream.closed
      const still = new Set(live ? this.bound(open.stream, open.start.channel).map((c) => c.id) : [])
      for (const cameraId of [...open.cameras]) {
        if (still.has(cameraId)) continue
        open.cameras.delete(cameraId)
        const { raw: _raw, ...start } = open.start
        this.writeEnd(cameraId, { ...start, state: 'end', at: now, endReason: 'closed' })
      }
      if (open.cameras.size === 0) this.open.delete(key)
    }
  }
}
