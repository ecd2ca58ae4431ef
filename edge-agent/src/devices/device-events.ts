import { DEVICE_EVENT_TYPES, type DeviceEventType } from '@ts-vms/shared'
import type { DeviceCredentials } from './http/device-http.ts'
import { DeviceHttpError, deviceStream } from './http/device-http.ts'
import {
  boundaryFromContentType,
  type MultipartError,
  MultipartParser,
  type MultipartPart,
} from './multipart.ts'

/**
 * Events a camera or NVR raises itself (its own motion detection, line crossing, tamper, inputs),
 * normalised across vendors. Each becomes one agent event through the outbox:
 * `{ type, cameraId, data: { state, source, code, channel, region?, raw? } }` (`toEventBody`).
 *
 * Vendors say "start" and "stop" unreliably: Hikvision repeats `active` every second while motion
 * lasts and many firmwares never send `inactive` for it; Dahua's Stop is lost when the connection
 * drops; some codes only ever `Pulse`. `DeviceEventTracker` turns that into exactly one `start`,
 * exactly one `end` per start (the device's, a timeout's, or the stream's loss), and `pulse`.
 */
// The types are part of the wire protocol (the hub validates them): one list, in shared.
export { DEVICE_EVENT_TYPES, type DeviceEventType }
export type DeviceEventState = 'start' | 'end' | 'pulse'
export type DeviceEventSource = 'onvif' | 'isapi' | 'dahua'

/** Largest `raw` kept with an event (the vendor's payload, for diagnosis and object details). */
export const MAX_RAW_BYTES = 2048
/** A start the device never ends is ended after this long without a refresh. */
export const DEFAULT_EVENT_TIMEOUT_MS = 30_000

export interface DeviceEvent {
  type: DeviceEventType
  state: DeviceEventState
  source: DeviceEventSource
  /** The vendor's own event code (`VMD`, `VideoMotion`, an ONVIF topic's local names). */
  code: string
  /** The device channel, 1-based (the camera binding maps it to a camera). */
  channel: number
  /** The device's region or rule name/id, when it says. */
  region?: string
  /** The vendor payload, at most MAX_RAW_BYTES of UTF-8. */
  raw?: string
  /** When the agent saw it (device clocks are not trusted). */
  at: Date
  /** Why a synthetic end was made (`timeout`, `stream_lost`, `closed`, `heartbeat`); absent when the device ended it. */
  endReason?: string
}

/** What a vendor parser says happened, before de-duplication. */
export interface DeviceSignal {
  source: DeviceEventSource
  code: string
  type: DeviceEventType
  action: 'start' | 'stop' | 'pulse'
  channel: number
  region?: string
  raw?: string
}

/** The outbox `event` body for a device event on the camera bound to its channel. */
export function toEventBody(
  e: DeviceEvent,
  cameraId: string | undefined,
): {
  type: DeviceEventType
  cameraId?: string
  data: Record<string, unknown>
} {
  const data: Record<string, unknown> = { state: e.state, source: e.source, code: e.code, channel: e.channel }
  if (e.region !== undefined) data['region'] = e.region
  if (e.raw !== undefined) data['raw'] = e.raw
  return cameraId ? { type: e.type, cameraId, data } : { type: e.type, data }
}

/** Cuts a string to at most `maxBytes` of UTF-8 without splitting a character. */
export function truncateUtf8(s: string, maxBytes = MAX_RAW_BYTES): string {
  const buf = Buffer.from(s, 'utf8')
  if (buf.length <= maxBytes) return s
  let cut = maxBytes
  // buf[cut] is the first byte left out; if it continues a character, that character goes too.
  while (cut > 0 && ((buf[cut] ?? 0) & 0xc0) === 0x80) cut--
  return buf.subarray(0, cut).toString('utf8')
}

// Vendor code → type. Keys lower-case: firmwares differ in case (`VMD`/`vmd`, `IO`/`io`).
const ISAPI_TYPES: Record<string, DeviceEventType> = {
  vmd: 'device.motion',
  motiondetection: 'device.motion',
  linedetection: 'device.line_crossing',
  fielddetection: 'device.intrusion',
  regionentrance: 'device.intrusion',
  regionexiting: 'device.intrusion',
  shelteralarm: 'device.tamper',
  tamperdetection: 'device.tamper',
  videoloss: 'device.video_loss',
  io: 'device.input',
}

const DAHUA_TYPES: Record<string, DeviceEventType> = {
  videomotion: 'device.motion',
  smartmotionhuman: 'device.motion',
  smartmotionvehicle: 'device.motion',
  crosslinedetection: 'device.line_crossing',
  crossregiondetection: 'device.intrusion',
  videoblind: 'device.tamper',
  videoloss: 'device.video_loss',
  alarmlocal: 'device.input',
}

// ONVIF topics by their local names (`topicLocalName`: vendors differ in prefixes), lower-case:
// the topics of the ONVIF core and analytics specifications.
const ONVIF_TYPES: Record<string, DeviceEventType> = {
  'videosource/motionalarm': 'device.motion',
  'ruleengine/cellmotiondetector/motion': 'device.motion',
  'ruleengine/motionregiondetector/motion': 'device.motion',
  'ruleengine/linedetector/crossed': 'device.line_crossing',
  'ruleengine/fielddetector/objectsinside': 'device.intrusion',
  'videosource/globalscenechange/imagingservice': 'device.tamper',
  'videosource/globalscenechange/analyticsservice': 'device.tamper',
  'ruleengine/tamperdetector/tamper': 'device.tamper',
  'videosource/signalloss': 'device.video_loss',
  'device/trigger/digitalinput': 'device.input',
}

export function isapiEventType(eventType: string): DeviceEventType {
  return ISAPI_TYPES[eventType.toLowerCase()] ?? 'device.other'
}

export function dahuaEventType(code: string): DeviceEventType {
  return DAHUA_TYPES[code.toLowerCase()] ?? 'device.other'
}

/** An ONVIF topic (local names joined by `/`, as `onvif/events.ts` gives them) → type. */
export function onvifEventType(topic: string): DeviceEventType {
  return ONVIF_TYPES[topic.toLowerCase()] ?? 'device.other'
}

export interface TrackerOptions {
  emit: (e: DeviceEvent) => void
  /** A start without end or refresh is ended after this long (default 30 s). */
  timeoutMs?: number
  /** Clock, for tests. */
  now?: () => number
  /** How often open starts are checked for the timeout; 0: never by itself (tests call `sweep`). */
  sweepMs?: number
}

interface Open {
  signal: DeviceSignal
  lastSeen: number
}

/**
 * Start/stop/pulse → start/end/pulse, de-duplicated per (source, code, channel, region). A start
 * for something already open is a refresh (no event). A stop for something not open (the device
 * heartbeat `videoloss inactive`, a stop after a reconnect already ended it) is nothing: every
 * start gets exactly one end. A stop without a region ends every region of that code and channel
 * (devices often name the region in the start only).
 */
export class DeviceEventTracker {
  private readonly open = new Map<string, Open>()
  private readonly timeoutMs: number
  private readonly now: () => number
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly o: TrackerOptions) {
    this.timeoutMs = o.timeoutMs ?? DEFAULT_EVENT_TIMEOUT_MS
    this.now = o.now ?? Date.now
    const sweepMs = o.sweepMs ?? Math.min(1000, Math.max(10, Math.floor(this.timeoutMs / 4)))
    if (sweepMs > 0) {
      this.timer = setInterval(() => this.sweep(), sweepMs)
      this.timer.unref()
    }
  }

  /** The starts not yet ended. */
  get openCount(): number {
    return this.open.size
  }

  signal(s: DeviceSignal): void {
    this.sweep()
    const raw = s.raw === undefined ? undefined : truncateUtf8(s.raw)
    const signal = { ...s, ...(raw !== undefined ? { raw } : {}) }
    if (s.action === 'pulse') {
      this.emit(signal, 'pulse')
      return
    }
    const key = keyOf(s)
    if (s.action === 'start') {
      const existing = this.open.get(key)
      if (existing) existing.lastSeen = this.now()
      else {
        this.open.set(key, { signal, lastSeen: this.now() })
        this.emit(signal, 'start')
      }
      return
    }
    const ended =
      s.region !== undefined
        ? this.open.has(key)
          ? [key]
          : []
        : [...this.open.keys()].filter((k) => k === key || k.startsWith(`${key}|`))
    for (const k of ended) {
      const o = this.open.get(k) as Open
      this.open.delete(k)
      // The device's own stop: its payload (the final object box) rather than the start's.
      this.emit({ ...o.signal, ...(raw !== undefined ? { raw } : {}) }, 'end')
    }
  }

  /** Ends starts not refreshed within the timeout. */
  sweep(): void {
    this.endWhere((o) => this.now() - o.lastSeen >= this.timeoutMs, 'timeout')
  }

  /**
   * Ends starts of `source` not refreshed for `olderThanMs`: a Hikvision heartbeat says the device
   * is alive and would have repeated `active` if the motion still went on.
   */
  endStale(source: DeviceEventSource, olderThanMs: number, reason: string): void {
    this.endWhere((o) => o.signal.source === source && this.now() - o.lastSeen >= olderThanMs, reason)
  }

  /**
   * Counts every open start of `source` as refreshed now: ONVIF reports a property only when it
   * changes, so on a subscription that demonstrably works (a pull answered) a start still holds.
   */
  refresh(source: DeviceEventSource): void {
    const now = this.now()
    for (const o of this.open.values()) if (o.signal.source === source) o.lastSeen = now
  }

  /** Ends every open start: the stream is lost, so no stop can come for them. */
  endAll(reason: string): void {
    this.endWhere(() => true, reason)
  }

  close(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
  }

  private endWhere(pred: (o: Open) => boolean, reason: string): void {
    for (const [k, o] of [...this.open]) {
      if (!pred(o)) continue
      this.open.delete(k)
      this.emit(o.signal, 'end', reason)
    }
  }

  private emit(s: DeviceSignal, state: DeviceEventState, endReason?: string): void {
    const e: DeviceEvent = {
      type: s.type,
      state,
      source: s.source,
      code: s.code,
      channel: s.channel,
      at: new Date(this.now()),
    }
    if (s.region !== undefined) e.region = s.region
    if (s.raw !== undefined) e.raw = s.raw
    if (endReason) e.endReason = endReason
    this.o.emit(e)
  }
}

const keyOf = (s: DeviceSignal) =>
  `${s.source}|${s.code}|${s.channel}${s.region !== undefined ? `|${s.region}` : ''}`

// ---------------------------------------------------------------------------------------------
// The long-lived multipart event connection both Hikvision and Dahua use.

export interface Backoff {
  /** First wait after a failure (default 1 s). */
  initialMs?: number
  /** Longest wait (default 60 s). */
  maxMs?: number
}

/**
 * The wait before reconnect attempt `attempt` (0 for the first failure since data last flowed):
 * doubling from `initialMs` up to `maxMs`, ±20 % jitter so the cameras of a site do not all
 * reconnect in the same instant.
 */
export function backoffDelay(attempt: number, backoff: Backoff = {}, random = Math.random): number {
  const initial = backoff.initialMs ?? 1000
  const max = backoff.maxMs ?? 60_000
  const base = Math.min(max, initial * 2 ** Math.min(Math.max(0, attempt), 30))
  return Math.round(Math.min(max, base * (0.8 + random() * 0.4)))
}

export interface EventStreamOptions {
  url: string
  credentials: DeviceCredentials
  allowBasic?: boolean
  /** Used when the Content-Type names none (or is not multipart at all). */
  defaultBoundary: string
  /** No part at all for this long: the stream is dead, reconnect. */
  silenceMs: number
  backoff?: Backoff
  maxPartBytes?: number
  /** One part; throwing counts as a protocol error of this connection. */
  onPart: (part: MultipartPart) => void
  onConnected?: () => void
  /** The connection was lost or could not be opened; a reconnect follows after `retryInMs`. */
  onLost: (err: DeviceHttpError | MultipartError | Error, retryInMs: number) => void
}

/**
 * Keeps a multipart event stream open: connect (Digest), parse, watch for silence, and on any
 * failure reconnect with exponential backoff (doubling, with jitter, capped). The backoff is reset
 * only once a part arrived: a device that accepts and drops every connection, or refuses the
 * credentials, is retried ever more slowly rather than in a storm.
 */
export class EventStreamRunner {
  private closed = false
  private attempt = 0
  private retryTimer: NodeJS.Timeout | undefined
  private silenceTimer: NodeJS.Timeout | undefined
  private closeConnection: (() => void) | undefined
  private lastPart = 0
  /** Connections opened so far (tests, health). */
  connects = 0

  constructor(private readonly o: EventStreamOptions) {}

  start(): void {
    void this.connect()
  }

  close(): void {
    this.closed = true
    if (this.retryTimer) clearTimeout(this.retryTimer)
    if (this.silenceTimer) clearInterval(this.silenceTimer)
    this.closeConnection?.()
  }

  private async connect(): Promise<void> {
    if (this.closed) return
    let settled = false
    const lost = (err: Error) => {
      if (settled) return
      settled = true
      if (this.silenceTimer) clearInterval(this.silenceTimer)
      this.closeConnection?.()
      this.closeConnection = undefined
      if (this.closed) return
      const wait = this.nextDelay()
      this.o.onLost(err, wait)
      this.retryTimer = setTimeout(() => void this.connect(), wait)
    }
    try {
      this.connects++
      const s = await deviceStream({
        url: this.o.url,
        credentials: this.o.credentials,
        allowBasic: this.o.allowBasic ?? false,
        timeoutMs: this.o.silenceMs,
        idleMs: this.o.silenceMs,
      })
      if (this.closed) {
        s.close()
        return
      }
      this.closeConnection = s.close
      if (s.status !== 200) {
        s.response.resume()
        lost(
          new DeviceHttpError(
            'protocol',
            `the device answered HTTP ${s.status} to the event stream`,
            s.status,
          ),
        )
        return
      }
      const boundary = boundaryFromContentType(s.headers['content-type']) ?? this.o.defaultBoundary
      const parser = new MultipartParser(boundary, { maxPartBytes: this.o.maxPartBytes })
      this.o.onConnected?.()
      this.lastPart = Date.now()
      this.silenceTimer = setInterval(
        () => {
          if (Date.now() - this.lastPart > this.o.silenceMs)
            lost(new DeviceHttpError('timeout', 'the device went silent (no heartbeat)'))
        },
        Math.max(10, Math.floor(this.o.silenceMs / 4)),
      )
      this.silenceTimer.unref()
      s.response.on('data', (chunk: Buffer) => {
        if (settled) return
        try {
          for (const part of parser.push(chunk)) {
            this.lastPart = Date.now()
            this.attempt = 0
            this.o.onPart(part)
          }
        } catch (err) {
          lost(err instanceof Error ? err : new Error(String(err)))
        }
      })
      s.response.on('error', (err) =>
        lost(
          err instanceof DeviceHttpError ? err : new DeviceHttpError('unreachable', 'the event stream broke'),
        ),
      )
      s.response.on('close', () =>
        lost(new DeviceHttpError('unreachable', 'the device closed the event stream')),
      )
    } catch (err) {
      lost(err instanceof Error ? err : new Error(String(err)))
    }
  }

  private nextDelay(): number {
    return backoffDelay(this.attempt++, this.o.backoff)
  }
}

/** What a vendor's event stream takes from its caller (ISAPI and Dahua add their own options). */
export interface VendorEventStreamOptions {
  onEvent: (e: DeviceEvent) => void
  /** With `retryInMs`: the connection was lost and is retried then; without: one part skipped. */
  onError?: (err: Error, retryInMs?: number) => void
  onHeartbeat?: () => void
  onConnected?: () => void
  /** A start with no end or refresh is ended after this long (default 30 s). */
  eventTimeoutMs?: number
  backoff?: Backoff
  /** Clock for the tracker, for tests. */
  now?: () => number
}

export interface EventStreamHandle {
  close(): void
  /** Connections opened so far. */
  readonly connects: number
}

/**
 * A vendor's event stream: a tracker turning its signals into device events, and a runner keeping
 * its connection. A lost connection ends what was open (its stop was on that connection and will
 * never come); `close()` stops both and ends what is still open.
 */
export function openTrackedEventStream(
  opts: VendorEventStreamOptions,
  connection: Pick<
    EventStreamOptions,
    'url' | 'credentials' | 'allowBasic' | 'defaultBoundary' | 'silenceMs'
  >,
  handlePart: (part: MultipartPart, tracker: DeviceEventTracker) => void,
): EventStreamHandle {
  const tracker = new DeviceEventTracker({
    emit: opts.onEvent,
    timeoutMs: opts.eventTimeoutMs ?? DEFAULT_EVENT_TIMEOUT_MS,
    ...(opts.now ? { now: opts.now } : {}),
  })
  const runner = new EventStreamRunner({
    ...connection,
    ...(opts.backoff ? { backoff: opts.backoff } : {}),
    onPart: (part) => handlePart(part, tracker),
    ...(opts.onConnected ? { onConnected: opts.onConnected } : {}),
    onLost: (err, retryInMs) => {
      tracker.endAll('stream_lost')
      opts.onError?.(err, retryInMs)
    },
  })
  runner.start()
  return {
    close() {
      runner.close()
      tracker.endAll('closed')
      tracker.close()
    },
    get connects() {
      return runner.connects
    },
  }
}
