import { cleanText } from '@ts-vms/shared'
import {
  type Backoff,
  backoffDelay,
  DEFAULT_EVENT_TIMEOUT_MS,
  DeviceEventTracker,
  type DeviceSignal,
  type EventStreamHandle,
  onvifEventType,
  type VendorEventStreamOptions,
} from '../device-events.ts'
import { attr, child, children } from '../xml.ts'
import { isStateReport, type Notification } from './events.ts'
import { getProfilesBody, MEDIA_ACTION, type MediaVersion } from './media.ts'
import type { OnvifClient } from './onvif-client.ts'
import { attrText, OnvifError, parseSoapResponse, xmlText } from './soap.ts'

/**
 * ONVIF device events through a PullPoint, kept alive like the ISAPI and Dahua streams
 * (`EventStreamHandle`): connect, CreatePullPointSubscription, PullMessages long polls in a loop,
 * Renew before the subscription runs out, Unsubscribe on close; any failure (the device gone, a
 * fault, garbage) ends what was open, and the subscription is made again after a backoff.
 *
 * Renewal is scheduled on the device's own terms: the lifetime is its TerminationTime minus its
 * CurrentTime (both in its clock, so a camera hours off still renews in time), counted from when
 * the answer arrived here. Without CurrentTime, the client's measured clock offset stands in.
 *
 * ONVIF reports properties (motion on/off) when they change, never repeated. So a start stays
 * open while the subscription demonstrably works (each answered pull refreshes it) and ends with
 * the device's `false`, with the stream's loss, or with `close()`. `Initialized` notifications —
 * the state at subscription start — are not events.
 */
export interface OnvifEventStreamOptions extends VendorEventStreamOptions {
  client: OnvifClient
  /** The lifetime asked of each subscription and renewal (default 60 s; the device may differ). */
  terminationMs?: number
  /** Longest PullMessages long poll, s (default 10). */
  pullTimeoutSeconds?: number
  /** Most notifications per pull (default 100). */
  messageLimit?: number
  /** The device's video sources, after each (re)subscription: how its events map to channels. */
  onChannels?: (channels: OnvifChannels) => void
}

export interface OnvifEventStreamHandle extends EventStreamHandle {
  /** The video sources read at the last subscription. */
  readonly channels: OnvifChannels
  /** Renewals that succeeded (tests, diagnosis). */
  readonly renewals: number
  /** Resolves once the loop has stopped and the subscription was given back (after `close()`). */
  readonly done: Promise<void>
}

/**
 * An ONVIF device's channels: its video sources, 1-based in the order its profiles name them (an
 * NVR's channel 1, 2, ...). Profiles, video source tokens and video source configuration tokens
 * all resolve to a channel, because notifications name either of the latter two and a camera's
 * binding names a profile.
 */
export interface OnvifChannels {
  /** Video source tokens; channel = index + 1. */
  sources: string[]
  /** Profile token → channel. */
  profiles: Record<string, number>
  /** Video source token or video source configuration token → channel. */
  tokens: Record<string, number>
}

export const NO_CHANNELS: OnvifChannels = Object.freeze({ sources: [], profiles: {}, tokens: {} })

/** Reads profiles → video sources from a GetProfiles answer (Media or Media2). */
export function parseProfileChannels(status: number, body: Buffer | string): OnvifChannels {
  const r = parseSoapResponse(status, body, 'GetProfilesResponse')
  const sources: string[] = []
  // Own-property maps: tokens come from the device (a `__proto__` token must stay a key).
  const profiles: Record<string, number> = Object.create(null)
  const tokens: Record<string, number> = Object.create(null)
  for (const node of children(r, 'Profiles')) {
    const token = attrText(node, 'token')
    // Media1 names the configuration on the profile; Media2 under Configurations, shorter.
    const config =
      child(node, 'VideoSourceConfiguration') ?? child(child(node, 'Configurations'), 'VideoSource')
    const source = xmlText(child(config, 'SourceToken'))
    if (!token || !source) continue
    let channel = sources.indexOf(source) + 1
    if (channel === 0) channel = sources.push(source)
    profiles[token] = channel
    tokens[source] = channel
    const configToken = attr(config, 'token')
    if (configToken && !(configToken in tokens)) tokens[configToken] = channel
  }
  return { sources, profiles, tokens }
}

/** The device's profiles as channels; Media1 first (every device has it), else Media2. */
export async function readOnvifChannels(client: OnvifClient): Promise<OnvifChannels> {
  const { media, media2 } = client.xaddrs
  const [v, xaddr]: [MediaVersion, string | undefined] = media ? [1, media] : [2, media2]
  if (!xaddr) throw new OnvifError('not_supported', 'the device has no media service')
  return client.call(xaddr, MEDIA_ACTION(v, 'GetProfiles'), getProfilesBody(v), parseProfileChannels)
}

// Source items that name the video source, best first (the standard's, then vendors').
const SOURCE_ITEMS = ['VideoSourceConfigurationToken', 'VideoSourceToken', 'Source', 'VideoSource']

/**
 * The channel a notification is about: its video source (configuration) token looked up in the
 * device's channels. A device with at most one video source has only channel 1; on a device with
 * several, a notification naming none of them (a digital input, a device-wide event) is channel 0,
 * "the device as a whole", which only a device's single camera takes.
 */
export function notificationChannel(n: Notification, channels: OnvifChannels): number {
  const has = (token: string | undefined) => token !== undefined && Object.hasOwn(channels.tokens, token)
  for (const name of SOURCE_ITEMS) {
    const token = n.source[name]
    if (has(token)) return channels.tokens[token as string] as number
  }
  // Vendors name the item differently (`channel`, `VideoSourceConfigurationToken ` ...).
  for (const token of Object.values(n.source)) if (has(token)) return channels.tokens[token] as number
  return channels.sources.length <= 1 ? 1 : 0
}

// Data items that carry the state, by topic family; any other single boolean item does too.
const STATE_ITEMS = ['State', 'IsMotion', 'IsInside', 'LogicalState', 'IsTamper', 'Value']

const booleanOf = (value: string | undefined): boolean | undefined => {
  const v = value?.trim().toLowerCase()
  return v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : undefined
}

/** The on/off a notification's data says, or undefined for a stateless event (a line crossed). */
export function notificationState(data: Record<string, string>): boolean | undefined {
  for (const name of STATE_ITEMS) {
    const b = booleanOf(data[name])
    if (b !== undefined) return b
  }
  const booleans = Object.values(data)
    .map(booleanOf)
    .filter((b) => b !== undefined)
  return booleans.length === 1 ? booleans[0] : undefined
}

const MAX_CODE = 200
const MAX_REGION = 128

/**
 * A notification as a tracker signal, or undefined when it is no event: `Initialized` is the state
 * at subscription start. `Changed` true/false is start/stop, `Deleted` a stop (the property went
 * away), a notification without a boolean a pulse. The channel comes from `notificationChannel`;
 * the region is the analytics rule (`Rule`) or the digital input (`InputToken`) when named.
 */
export function notificationSignal(n: Notification, channels: OnvifChannels): DeviceSignal | undefined {
  if (isStateReport(n)) return undefined
  const code = cleanText(n.topic, { maxLength: MAX_CODE }).trim()
  if (!code) return undefined
  const state = notificationState(n.data)
  const action =
    n.propertyOperation === 'Deleted' ? 'stop' : state === undefined ? 'pulse' : state ? 'start' : 'stop'
  const signal: DeviceSignal = {
    source: 'onvif',
    code,
    type: onvifEventType(n.topic),
    action,
    channel: notificationChannel(n, channels),
  }
  const region = n.source['Rule'] ?? n.source['InputToken']
  if (region !== undefined) {
    const clean = cleanText(region, { maxLength: MAX_REGION }).trim()
    if (clean) signal.region = clean
  }
  // The items as the device sent them (the XML itself is gone after parsing); the tracker cuts it.
  const raw = JSON.stringify({ topic: n.topic, source: n.source, key: n.key, data: n.data })
  if (raw.length > 2) signal.raw = raw
  return signal
}

/** Bounds on what a device may say a subscription's lifetime is (nonsense is replaced). */
const MAX_LIFETIME_MS = 24 * 3600_000

/**
 * The device's subscription lifetime from an answer, ms: TerminationTime − CurrentTime, both in
 * its clock (a camera hours off stays right); without CurrentTime, TerminationTime against our
 * clock moved by the measured offset. A lifetime that is not positive or absurdly long is not
 * believed: the one asked for stands in (a subscription really over shows at the next pull).
 */
export function subscriptionLifetimeMs(
  answer: { currentTime?: Date; terminationTime?: Date },
  receivedAtMs: number,
  clockOffsetMs: number,
  askedMs: number,
): number {
  const termination = answer.terminationTime?.getTime()
  if (termination === undefined || !Number.isFinite(termination)) return askedMs
  const current = answer.currentTime?.getTime()
  const lifetime =
    current !== undefined && Number.isFinite(current)
      ? termination - current
      : termination - (receivedAtMs + clockOffsetMs)
  if (!(lifetime > 0)) return askedMs
  return Math.min(lifetime, MAX_LIFETIME_MS)
}

/**
 * How long before the end to renew: a quarter of the lifetime, within 0.5 s .. 10 s — but never
 * more than half of it, so a device granting a very short lifetime still gets pulls between
 * renewals instead of a storm of them.
 */
export const renewMarginMs = (lifetimeMs: number) =>
  Math.min(10_000, Math.max(lifetimeMs / 4, Math.min(500, lifetimeMs / 2)))

/** Opens the loop; events go to `opts.onEvent` through a tracker, as for ISAPI and Dahua. */
export function openOnvifEventStream(opts: OnvifEventStreamOptions): OnvifEventStreamHandle {
  const loop = new OnvifEventLoop(opts)
  const done = loop.run()
  return {
    close: () => loop.close(),
    get connects() {
      return loop.connects
    },
    get renewals() {
      return loop.renewals
    },
    get channels() {
      return loop.channels
    },
    done,
  }
}

class OnvifEventLoop {
  connects = 0
  renewals = 0
  channels: OnvifChannels = NO_CHANNELS
  private closed = false
  private attempt = 0
  private wake: (() => void) | undefined
  private unsubscribing: Promise<void> | undefined
  private readonly tracker: DeviceEventTracker
  private readonly terminationMs: number
  private readonly backoff: Backoff | undefined

  constructor(private readonly o: OnvifEventStreamOptions) {
    this.terminationMs = o.terminationMs ?? 60_000
    this.backoff = o.backoff
    this.tracker = new DeviceEventTracker({
      emit: o.onEvent,
      timeoutMs: o.eventTimeoutMs ?? DEFAULT_EVENT_TIMEOUT_MS,
      ...(o.now ? { now: o.now } : {}),
    })
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.wake?.()
    this.tracker.endAll('closed')
    this.tracker.close()
    // Given back at once, even while a long poll is still out (it ends with the subscription).
    void this.unsubscribe()
  }

  async run(): Promise<void> {
    while (!this.closed) {
      try {
        await this.subscribeAndPull()
      } catch (err) {
        if (this.closed) break
        const error = err instanceof Error ? err : new Error(String(err))
        this.tracker.endAll('stream_lost')
        await this.drop(error)
        const wait = backoffDelay(this.attempt++, this.backoff)
        this.o.onError?.(error, wait)
        await this.sleep(wait)
      }
    }
    await this.unsubscribe()
  }

  private async subscribeAndPull(): Promise<void> {
    const { client } = this.o
    this.connects++
    // Again after every failure: the device may have rebooted (new clock, new addresses).
    await client.connect()
    if (this.closed) return
    try {
      this.channels = await readOnvifChannels(client)
    } catch (err) {
      const e = err instanceof OnvifError ? err : undefined
      // Events work without profiles (a single camera takes everything); the credentials, or
      // the device going away, fail the subscription as well.
      if (e?.code === 'not_authorized' || e?.code === 'unreachable' || e?.code === 'timeout') throw err
    }
    this.o.onChannels?.(this.channels)
    if (this.closed) return
    const sub = await client.events.createPullPoint({ terminationMs: this.terminationMs })
    let lifetime = subscriptionLifetimeMs(sub, Date.now(), client.clockOffsetMs, this.terminationMs)
    let renewAt = Date.now() + lifetime - renewMarginMs(lifetime)
    if (this.closed) return
    this.o.onConnected?.()
    // Each answered pull refreshes the open starts: a poll longer than the event timeout would let
    // the tracker end a motion the device still reports.
    const eventTimeoutMs = this.o.eventTimeoutMs ?? DEFAULT_EVENT_TIMEOUT_MS
    const pullMax = Math.min(this.o.pullTimeoutSeconds ?? 10, Math.max(0.1, eventTimeoutMs / 2000))
    while (!this.closed) {
      const left = renewAt - Date.now()
      if (left < 100) {
        const renewed = await client.events.renew(this.terminationMs)
        lifetime = subscriptionLifetimeMs(renewed, Date.now(), client.clockOffsetMs, this.terminationMs)
        renewAt = Date.now() + lifetime - renewMarginMs(lifetime)
        this.renewals++
        continue
      }
      // A long poll never outlasts the moment to renew.
      const seconds = Math.min(pullMax, Math.floor(left / 100) / 10)
      const result = await client.events.pull(seconds, this.o.messageLimit ?? 100)
      if (this.closed) return
      // Data flowed: the next failure starts the backoff from the beginning again.
      this.attempt = 0
      this.tracker.refresh('onvif')
      this.o.onHeartbeat?.()
      for (const n of result.notifications) {
        const signal = notificationSignal(n, this.channels)
        if (signal) this.tracker.signal(signal)
      }
    }
  }

  /**
   * Forgets the failed subscription. A device that answered (a fault, garbage) is asked to drop
   * it; one that is gone or silent is not (it expires by itself, and asking would wait a timeout).
   */
  private async drop(err: Error): Promise<void> {
    const code = err instanceof OnvifError ? err.code : undefined
    if (code === 'fault' || code === 'bad_response' || code === 'protocol') await this.unsubscribe()
    else this.o.client.events.subscription = undefined
  }

  private unsubscribe(): Promise<void> {
    const events = this.o.client.events
    if (this.unsubscribing) return this.unsubscribing
    if (!events.subscription) return Promise.resolve()
    this.unsubscribing = events
      .unsubscribe()
      .catch(() => undefined)
      .finally(() => {
        this.unsubscribing = undefined
      })
    return this.unsubscribing
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms)
      function done() {
        clearTimeout(timer)
        resolve()
      }
      this.wake = done
    })
  }
}
