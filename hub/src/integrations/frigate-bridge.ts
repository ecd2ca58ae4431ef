import { randomUUID } from 'node:crypto'
import type { ObjectEventData } from '@ts-vms/shared'
import mqtt, { type MqttClient } from 'mqtt'
import type { Logger } from 'pino'
import type { AgentRecord } from '../agents/agent-directory.ts'
import type { Database } from '../db/database.ts'

/**
 * Frigate compatibility (issue 13): the hub republishes the agents' `object` events to an MQTT
 * broker in the shape of Frigate's `frigate/events` topic, so Home Assistant automations, Node-RED
 * flows and other tools written for Frigate can consume TS-VMS detections unchanged.
 *
 * Topic `<VMS_FRIGATE_TOPIC_PREFIX>/events`, QoS 1, payload `{ type, before, after }` as Frigate's.
 * Where our data differs from Frigate's (see `frigateEventPayload` and docs/analytics.md):
 *   - `id` is the agent's event id (a UUID), the same from `new` to `end`;
 *   - `box` is relative to the frame (0..1), not in pixels; `area`, `ratio`, `region` and
 *     `snapshot` are not sent (they only have a meaning in pixels of Frigate's detect stream);
 *   - `score` and `top_score` are both the highest median score the object reached;
 *   - `current_zones` is every zone entered while the object is in view, and `[]` once it ended
 *     (agents report zones entered, not left).
 *
 * One broker for every tenant: meant for single-tenant / on-prem hubs. Publishing never blocks or
 * fails ingest: events wait in a bounded queue (the oldest dropped, counted and warned about) while
 * the broker is away, and the connection is retried with a growing delay.
 */

/** One committed `object` event, as ingest hands it over (see AgentIngest's `onObjectEvent`). */
export interface ObjectEventInput {
  agent: AgentRecord
  eventRowId: string
  cameraId: string | null
  kind: 'new' | 'update' | 'end'
  data: ObjectEventData
}

/** `before` / `after` of a `frigate/events` message (the fields our data can fill). */
export interface FrigateTrackedObject {
  id: string
  camera: string
  frame_time: number
  label: string
  sub_label: null
  top_score: number
  false_positive: false
  start_time: number
  end_time: number | null
  score: number
  /** Relative to the frame, 0..1: [x1, y1, x2, y2] (Frigate: pixels of the detect stream). */
  box: [number, number, number, number]
  current_zones: string[]
  entered_zones: string[]
  has_snapshot: boolean
  has_clip: false
  active: boolean
  stationary: boolean
  pending_loitering: boolean
  attributes: Record<string, never>
  current_attributes: never[]
}

export interface FrigateEventMessage {
  type: 'new' | 'update' | 'end'
  before: FrigateTrackedObject
  after: FrigateTrackedObject
}

/** Epoch seconds (float) of an ISO time. */
const epochSeconds = (iso: string): number => Date.parse(iso) / 1000

/**
 * A Frigate camera name from ours: lower case, accents dropped, every run of other characters than
 * letters and digits turned into one `_`, trimmed of `_`. Empty (a name of only symbols or of a
 * script without ASCII letters) gives `camera_` and the id's first 8 characters.
 */
export function frigateCameraSlug(name: string | undefined, cameraId?: string | null): string {
  const slug = (name ?? '')
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
  if (slug) return slug
  return cameraId
    ? `camera_${cameraId
        .replace(/[^A-Za-z0-9]/g, '')
        .slice(0, 8)
        .toLowerCase()}`
    : 'unknown'
}

/**
 * The `frigate/events` message for one object event. Pure: `frameTime` is the epoch seconds the
 * update stands for (the hub's receipt time, or the end time for `end`), `previous` the `after` of
 * the same event last sent (`before` is that, or `after` itself when unknown).
 */
export function frigateEventPayload(input: {
  kind: 'new' | 'update' | 'end'
  data: ObjectEventData
  camera: string
  frameTime: number
  previous?: FrigateTrackedObject | undefined
}): FrigateEventMessage {
  const { kind, data, camera } = input
  const startTime = epochSeconds(data.startTime)
  const ended = kind === 'end'
  // Frigate's `end` always carries end_time: the agent's, else the time of this message.
  const endTime = data.endTime !== null ? epochSeconds(data.endTime) : ended ? input.frameTime : null
  const frameTime = Math.max(startTime, ended && endTime !== null ? endTime : input.frameTime)
  const after: FrigateTrackedObject = {
    id: data.eventId,
    camera,
    frame_time: frameTime,
    label: data.label,
    sub_label: null,
    top_score: data.score,
    false_positive: false,
    start_time: startTime,
    end_time: endTime,
    score: data.score,
    box: [...data.box],
    current_zones: ended ? [] : [...data.zones],
    entered_zones: [...data.zones],
    has_snapshot: data.hasSnapshot,
    has_clip: false,
    active: !data.stationary,
    stationary: data.stationary,
    pending_loitering: data.loitering,
    attributes: {},
    current_attributes: [],
  }
  return { type: kind, before: input.previous ?? after, after }
}

/** A small LRU map: reading or writing a key makes it the newest; the oldest go past `max`. */
class Lru<K, V> {
  private readonly map = new Map<K, V>()
  constructor(private readonly max: number) {}
  get(key: K): V | undefined {
    const v = this.map.get(key)
    if (v !== undefined) {
      this.map.delete(key)
      this.map.set(key, v)
    }
    return v
  }
  set(key: K, value: V): void {
    this.map.delete(key)
    this.map.set(key, value)
    while (this.map.size > this.max) {
      const oldest = this.map.keys().next()
      if (oldest.done) break
      this.map.delete(oldest.value)
    }
  }
  delete(key: K): void {
    this.map.delete(key)
  }
  get size(): number {
    return this.map.size
  }
}

export interface FrigateBridgeOptions {
  /** mqtt:// or mqtts:// URL; credentials in it are used but never logged. */
  url: string
  /** Topic prefix, Frigate's `topic_prefix` (default `frigate`). */
  topicPrefix?: string
  logger: Logger
  /** Where camera names are read (RLS: in the agent's tenant). */
  db?: Database
  /** Instead of `db`: how a camera's name is found (tests). */
  cameraName?: (tenantId: string, cameraId: string) => Promise<string | undefined>
  /** Events waiting for the broker, at most (the oldest are dropped beyond). Default 10,000. */
  maxQueue?: number
  /** Events whose last state is kept for `before`. Default 10,000. */
  maxEvents?: number
  /** How long a camera's name is cached. Default 60 s. */
  cameraTtlMs?: number
  /** Published messages not yet acknowledged by the broker, at most. Default 100. */
  maxInflight?: number
  /** Reconnection delay: the first, and the most it grows to. Default 1 s and 30 s. */
  reconnectMinMs?: number
  reconnectMaxMs?: number
}

interface Entry {
  input: ObjectEventInput
  /** Epoch ms the hub was handed the event. */
  receivedAt: number
  /** The message, once built (in order, just before it is sent). */
  payload?: string
}

interface Connection {
  client: MqttClient
  connected: boolean
  /** Handed to this client, not yet acknowledged (put back in the queue if it goes away). */
  inflight: Set<Entry>
}

const DROP_WARN_INTERVAL_MS = 60_000

export class FrigateBridge {
  private readonly url: URL
  private readonly topic: string
  private readonly logger: Logger
  private readonly maxQueue: number
  private readonly maxInflight: number
  private readonly cameraTtlMs: number
  private readonly reconnectMinMs: number
  private readonly reconnectMaxMs: number
  private readonly queue: Entry[] = []
  private readonly states: Lru<string, FrigateTrackedObject>
  private readonly cameras = new Lru<string, { slug: string; at: number }>(10_000)
  private connection: Connection | undefined
  private reconnectTimer: NodeJS.Timeout | undefined
  private attempts = 0
  private pumping = false
  private started = false
  private closed = false
  private lastDropWarning = 0
  private everConnected = false
  private warnedDown = false
  /** Counters (diagnostics, tests). */
  readonly stats = { received: 0, published: 0, dropped: 0, failed: 0 }
  /** Where the broker is, without credentials: for logs. */
  readonly description: string

  constructor(private readonly options: FrigateBridgeOptions) {
    this.url = new URL(options.url)
    if (this.url.protocol !== 'mqtt:' && this.url.protocol !== 'mqtts:')
      throw new Error('VMS_FRIGATE_MQTT_URL: must be an mqtt:// or mqtts:// URL')
    this.description = `${this.url.protocol}//${this.url.host}`
    this.topic = `${(options.topicPrefix ?? 'frigate').replace(/\/+$/, '')}/events`
    this.logger = options.logger.child({ component: 'frigate-bridge', broker: this.description })
    this.maxQueue = options.maxQueue ?? 10_000
    this.maxInflight = options.maxInflight ?? 100
    this.cameraTtlMs = options.cameraTtlMs ?? 60_000
    this.reconnectMinMs = options.reconnectMinMs ?? 1000
    this.reconnectMaxMs = options.reconnectMaxMs ?? 30_000
    this.states = new Lru(options.maxEvents ?? 10_000)
  }

  /** Starts connecting (in the background: the hub does not wait for the broker). */
  start(): void {
    if (this.started || this.closed) return
    this.started = true
    this.logger.info({ topic: this.topic }, 'frigate bridge: publishing object events')
    this.connect()
  }

  /** Queues one object event; never throws, never waits. */
  publishObjectEvent(e: ObjectEventInput): void {
    try {
      if (this.closed) return
      this.stats.received++
      this.queue.push({ input: e, receivedAt: Date.now() })
      this.trim()
      void this.pump()
    } catch (err) {
      this.stats.failed++
      this.logger.warn({ err }, 'frigate bridge: could not queue an event')
    }
  }

  /** Events waiting for the broker. */
  get queued(): number {
    return this.queue.length
  }

  get connected(): boolean {
    return this.connection?.connected ?? false
  }

  /**
   * Stops: waits up to `graceMs` for what is queued to reach a connected broker, then disconnects.
   */
  async close(graceMs = 2000): Promise<void> {
    if (this.closed) return
    const deadline = Date.now() + graceMs
    while (
      this.connected &&
      (this.queue.length > 0 || (this.connection?.inflight.size ?? 0) > 0) &&
      Date.now() < deadline
    ) {
      await new Promise((r) => setTimeout(r, 20))
    }
    this.closed = true
    clearTimeout(this.reconnectTimer)
    const c = this.connection
    this.connection = undefined
    if (c) await this.endClient(c, Math.max(0, deadline - Date.now()))
    if (this.queue.length > 0)
      this.logger.warn({ unsent: this.queue.length }, 'frigate bridge: closed with events unsent')
  }

  /** Disconnects politely when nothing is in flight, else (or when that stalls) at once. */
  private async endClient(c: Connection, graceMs: number): Promise<void> {
    if (c.connected && c.inflight.size === 0) {
      const ended = await Promise.race([
        c.client.endAsync(false).then(
          () => true,
          () => false,
        ),
        new Promise<false>((r) => setTimeout(() => r(false), Math.max(100, Math.min(graceMs, 1000))).unref()),
      ])
      if (ended) return
    }
    c.client.end(true)
    c.client.stream?.destroy()
  }

  private connect(): void {
    if (this.closed) return
    const url = new URL(this.url)
    const username = url.username ? decodeURIComponent(url.username) : undefined
    const password = url.password ? decodeURIComponent(url.password) : undefined
    url.username = ''
    url.password = ''
    let client: MqttClient
    try {
      client = mqtt.connect(url.toString(), {
        clientId: `vms-hub-frigate-${randomUUID().slice(0, 8)}`,
        clean: true,
        // Reconnection is ours (with a growing delay): one client per attempt.
        reconnectPeriod: 0,
        connectTimeout: 10_000,
        keepalive: 30,
        ...(username !== undefined ? { username } : {}),
        ...(password !== undefined ? { password } : {}),
      })
    } catch (err) {
      // Never expected (the URL was checked): retry later rather than throw from a timer.
      this.noteDown((err as Error).message)
      this.retryLater()
      return
    }
    const c: Connection = { client, connected: false, inflight: new Set() }
    this.connection = c
    client.on('connect', () => {
      if (this.connection !== c) return
      c.connected = true
      this.attempts = 0
      if (!this.everConnected || this.warnedDown)
        this.logger.info({ topic: this.topic }, 'frigate bridge: connected to the broker')
      this.everConnected = true
      this.warnedDown = false
      void this.pump()
    })
    client.on('error', (err) => {
      if (this.connection !== c) return
      // The message names the cause (refused, not authorized, ...), never the URL's password.
      this.noteDown(err.message)
    })
    client.on('close', () => {
      if (this.connection !== c) return
      this.noteDown('connection closed')
      this.lost(c)
    })
  }

  private noteDown(reason: string): void {
    if (this.warnedDown) {
      this.logger.debug({ reason }, 'frigate bridge: broker still unavailable')
      return
    }
    this.warnedDown = true
    this.logger.warn({ reason, queued: this.queue.length }, 'frigate bridge: broker unavailable; retrying')
  }

  /** The connection went: what it had not confirmed goes back to the queue's head; try again later. */
  private lost(c: Connection): void {
    c.connected = false
    this.connection = undefined
    if (c.inflight.size > 0) {
      this.queue.unshift(...c.inflight)
      c.inflight.clear()
      this.trim()
    }
    c.client.end(true)
    this.retryLater()
  }

  private retryLater(): void {
    if (this.closed) return
    const delay = Math.min(this.reconnectMaxMs, this.reconnectMinMs * 2 ** this.attempts)
    this.attempts = Math.min(this.attempts + 1, 16)
    const jittered = Math.round(delay * (0.8 + Math.random() * 0.4))
    clearTimeout(this.reconnectTimer)
    this.reconnectTimer = setTimeout(() => this.connect(), jittered)
    this.reconnectTimer.unref()
  }

  /** Drops the oldest events beyond the bound. */
  private trim(): void {
    const excess = this.queue.length - this.maxQueue
    if (excess <= 0) return
    this.queue.splice(0, excess)
    this.stats.dropped += excess
    const now = Date.now()
    if (now - this.lastDropWarning >= DROP_WARN_INTERVAL_MS) {
      this.lastDropWarning = now
      this.logger.warn(
        { dropped: this.stats.dropped, maxQueue: this.maxQueue },
        'frigate bridge: queue full; the oldest events were dropped',
      )
    }
  }

  /** Sends what is queued, in order, while the broker is connected and the in-flight window open. */
  private async pump(): Promise<void> {
    if (this.pumping) return
    this.pumping = true
    try {
      for (;;) {
        const c = this.connection
        if (this.closed || !c?.connected || c.inflight.size >= this.maxInflight) return
        const entry = this.queue[0]
        if (!entry) return
        if (entry.payload === undefined) {
          try {
            entry.payload = await this.build(entry)
          } catch (err) {
            // Never expected (build does not throw): skip the event rather than stall the queue.
            if (this.queue[0] === entry) this.queue.shift()
            this.stats.failed++
            this.logger.warn({ err }, 'frigate bridge: could not build an event message')
            continue
          }
        }
        // While building, the queue may have moved (dropped on overflow) or the connection gone.
        if (this.queue[0] !== entry) continue
        const now = this.connection
        if (!now?.connected || now.inflight.size >= this.maxInflight) return
        this.queue.shift()
        this.send(now, entry)
      }
    } catch (err) {
      // Never expected; whatever it was must not reach ingest (nor be an unhandled rejection).
      this.stats.failed++
      this.logger.warn({ err }, 'frigate bridge: sending failed')
    } finally {
      this.pumping = false
    }
  }

  private send(c: Connection, entry: Entry): void {
    c.inflight.add(entry)
    c.client.publish(this.topic, entry.payload ?? '', { qos: 1 }, (err) => {
      if (!c.inflight.delete(entry)) return // put back in the queue when the connection went
      if (!err) this.stats.published++
      else if (this.connection === c && c.connected) {
        // Refused by the client itself (too large for the broker, ...): sending again would not help.
        this.stats.failed++
        this.logger.warn({ err: err.message }, 'frigate bridge: an event could not be published; skipped')
      } else {
        // Not sent because the connection is going: back to the queue's head.
        this.queue.unshift(entry)
        this.trim()
      }
      void this.pump()
    })
  }

  private async build(entry: Entry): Promise<string> {
    const { input } = entry
    const camera = await this.cameraSlug(input.agent.tenantId, input.cameraId)
    const message = frigateEventPayload({
      kind: input.kind,
      data: input.data,
      camera,
      frameTime: entry.receivedAt / 1000,
      previous: this.states.get(input.data.eventId),
    })
    if (input.kind === 'end') this.states.delete(input.data.eventId)
    else this.states.set(input.data.eventId, message.after)
    return JSON.stringify(message)
  }

  private async cameraSlug(tenantId: string, cameraId: string | null): Promise<string> {
    if (!cameraId) return 'unknown'
    const hit = this.cameras.get(cameraId)
    if (hit && Date.now() - hit.at < this.cameraTtlMs) return hit.slug
    try {
      const name = await this.lookupCameraName(tenantId, cameraId)
      const slug = frigateCameraSlug(name, cameraId)
      this.cameras.set(cameraId, { slug, at: Date.now() })
      return slug
    } catch (err) {
      this.logger.warn({ err, cameraId }, 'frigate bridge: camera name lookup failed')
      // The last known name, else one from the id; not cached, so the next event asks again.
      return hit?.slug ?? frigateCameraSlug(undefined, cameraId)
    }
  }

  private async lookupCameraName(tenantId: string, cameraId: string): Promise<string | undefined> {
    if (this.options.cameraName) return this.options.cameraName(tenantId, cameraId)
    const db = this.options.db
    if (!db) return undefined
    const rows: { name: string }[] = await db.withTenant({ tenantId }, (tx) =>
      tx.execute('select name from cameras where id = ?', [cameraId]),
    )
    return rows[0]?.name
  }
}
