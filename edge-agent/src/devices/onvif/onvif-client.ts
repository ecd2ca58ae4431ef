import { DEFAULT_DEVICE_TIMEOUT_MS, deviceRequest } from '../http/device-http.ts'
import {
  type Capabilities,
  DEVICE_ACTION,
  type DeviceInformation,
  getCapabilitiesBody,
  getDeviceInformationBody,
  getNetworkInterfacesBody,
  getServicesBody,
  getSystemDateAndTimeBody,
  type NetworkInterface,
  type OnvifService,
  parseCapabilities,
  parseDeviceInformation,
  parseNetworkInterfaces,
  parseServices,
  parseSystemDateAndTime,
  SERVICE_NS,
} from './device.ts'
import {
  createPullPointSubscriptionBody,
  EVENTS_ACTION,
  type PullResult,
  parseCreatePullPointSubscription,
  parsePullMessages,
  parseRenew,
  parseUnsubscribe,
  pullMessagesBody,
  renewBody,
  type Subscription,
  unsubscribeBody,
} from './events.ts'
import {
  getProfilesBody,
  getSnapshotUriBody,
  getStreamUriBody,
  MEDIA_ACTION,
  type MediaProfile,
  type MediaUri,
  type MediaVersion,
  parseProfiles,
  parseSnapshotUri,
  parseStreamUri,
} from './media.ts'
import {
  absoluteMoveBody,
  continuousMoveBody,
  getNodesBody,
  getPresetsBody,
  getStatusBody,
  gotoHomePositionBody,
  gotoPresetBody,
  PTZ_ACTION,
  type PtzNode,
  type PtzPreset,
  type PtzStatus,
  type PtzVector,
  parseEmpty,
  parseNodes,
  parsePresets,
  parseSetPreset,
  parseStatus,
  relativeMoveBody,
  removePresetBody,
  setPresetBody,
  stopBody,
} from './ptz.ts'
import { envelope, fromDeviceHttpError, OnvifError, soapContentType } from './soap.ts'

/**
 * A small ONVIF client: Device, Media/Media2, PTZ and PullPoint events over SOAP 1.2.
 *
 * Authentication, in order (docs/devices.md, ONVIF):
 * 1. WS-Security UsernameToken with PasswordDigest — what ONVIF mandates and every conformant
 *    camera accepts; the password never travels. Its `Created` is the device's time, so the clock
 *    offset measured by `connect()` matters; on a NotAuthorized the offset is measured again once
 *    and the call retried (a camera clock that jumped, NTP catching up).
 * 2. HTTP Digest without a UsernameToken — newer firmwares (and ONVIF 2.x "HTTP digest" mode)
 *    that refuse or mis-check WS-Security.
 * 3. UsernameToken PasswordText — the password in clear, only when the camera's settings allow it
 *    (`allowPasswordText`), for the odd firmware that knows nothing else.
 * A 401 on any of them is answered with HTTP Digest by deviceRequest (never Basic). The mode that
 * worked is remembered; when it later fails the whole order is tried again.
 *
 * XAddr rewriting: a camera behind a port forward or NAT reports its LAN address in GetServices,
 * GetCapabilities and subscription addresses (or `0.0.0.0`, or a stale DHCP address). Any XAddr
 * naming another host or port than the device URL we reached is rewritten to that URL's scheme,
 * host and port, keeping its path and query. The cost: a device whose services really live on
 * another host (rare NVR proxies) is not supported.
 */
export interface OnvifClientOptions {
  /** The device service XAddr, e.g. http://host/onvif/device_service. */
  url: string
  username: string
  password: string
  /** Allow UsernameToken PasswordText (the password in clear) as the last resort. Default false. */
  allowPasswordText?: boolean
  /** Per request, ms (PullMessages adds its own long-poll time). Default 10 s. */
  timeoutMs?: number
  /** For tests. */
  now?: () => number
}

export type OnvifAuthMode = 'token-digest' | 'http-digest' | 'token-text'

export interface OnvifXAddrs {
  device: string
  media?: string
  media2?: string
  ptz?: string
  events?: string
  imaging?: string
}

interface CallOptions {
  /** Send without any credentials (GetSystemDateAndTime). */
  anonymous?: boolean
  timeoutMs?: number
  addressing?: { to: string; action: string }
  extraHeaders?: { xml: string; namespaces: Record<string, string> }
}

/** Rewrites `xaddr` onto the scheme, host and port of `reached` when it names another endpoint. */
export function rewriteXAddr(xaddr: string, reached: string): string | undefined {
  // Some firmwares list several addresses separated by spaces (IPv4 then IPv6).
  const first = xaddr.trim().split(/\s+/)[0]
  if (!first) return undefined
  let u: URL
  let base: URL
  try {
    u = new URL(first)
    base = new URL(reached)
  } catch {
    return undefined
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined
  if (u.protocol === base.protocol && u.host === base.host) return u.toString()
  return `${base.protocol}//${base.host}${u.pathname}${u.search}`
}

export class OnvifClient {
  /** Device clock minus ours, ms (0 until measured). */
  clockOffsetMs = 0
  xaddrs: OnvifXAddrs
  services: OnvifService[] = []
  capabilities: Capabilities | undefined
  /** The authentication that last worked. */
  authMode: OnvifAuthMode | undefined
  readonly ptz: OnvifPtz
  readonly events: OnvifEvents
  private profileCache: MediaProfile[] | undefined
  private media2Failed = false
  private readonly now: () => number

  constructor(readonly options: OnvifClientOptions) {
    this.xaddrs = { device: options.url }
    this.now = options.now ?? Date.now
    this.ptz = new OnvifPtz(this)
    this.events = new OnvifEvents(this)
  }

  /**
   * GetSystemDateAndTime unauthenticated (ONVIF requires it to be open; the offset feeds every
   * UsernameToken), then GetServices, or GetCapabilities for devices without it. Unreachable
   * and timeout are thrown; a device that refuses the time query keeps offset 0.
   */
  async connect(): Promise<{ clockOffsetMs: number; xaddrs: OnvifXAddrs; media2: boolean }> {
    try {
      await this.measureClock()
    } catch (err) {
      const e = fromDeviceHttpError(err)
      if (e.code === 'unreachable' || e.code === 'timeout') throw e
    }
    const device = this.options.url
    try {
      this.services = await this.call(device, DEVICE_ACTION('GetServices'), getServicesBody(), parseServices)
      const byNs = (ns: string) => {
        const s = this.services.find((x) => x.namespace === ns)
        return s ? rewriteXAddr(s.xaddr, device) : undefined
      }
      this.xaddrs = clean({
        device,
        media: byNs(SERVICE_NS.media),
        media2: byNs(SERVICE_NS.media2),
        ptz: byNs(SERVICE_NS.ptz),
        events: byNs(SERVICE_NS.events),
        imaging: byNs(SERVICE_NS.imaging),
      })
      if (!this.xaddrs.media && !this.xaddrs.media2) await this.fromCapabilities().catch(() => undefined)
    } catch (err) {
      const e = fromDeviceHttpError(err)
      if (e.code === 'not_authorized' || e.code === 'unreachable' || e.code === 'timeout') throw e
      // Pre-2.0 devices have no GetServices.
      await this.fromCapabilities()
    }
    return { clockOffsetMs: this.clockOffsetMs, xaddrs: { ...this.xaddrs }, media2: !!this.xaddrs.media2 }
  }

  /** GetCapabilities, for devices without GetServices or whose GetServices lists no media. */
  private async fromCapabilities(): Promise<void> {
    const device = this.options.url
    this.capabilities = await this.call(
      device,
      DEVICE_ACTION('GetCapabilities'),
      getCapabilitiesBody(),
      parseCapabilities,
    )
    const x = this.capabilities.xaddrs
    const at = (name: string) => (x[name] ? rewriteXAddr(x[name], device) : undefined)
    this.xaddrs = clean({
      device,
      media: at('media'),
      ptz: at('ptz'),
      events: at('events'),
      imaging: at('imaging'),
    })
  }

  /** Measures the device clock; returns whether the offset moved by more than a second. */
  async measureClock(): Promise<boolean> {
    const ask = (anonymous: boolean) =>
      this.send(
        this.options.url,
        DEVICE_ACTION('GetSystemDateAndTime'),
        getSystemDateAndTimeBody(),
        parseSystemDateAndTime,
        {},
        anonymous ? undefined : 'http-digest',
      )
    let sent = this.now()
    let sdt: Awaited<ReturnType<typeof ask>>
    try {
      sdt = await ask(true)
    } catch (err) {
      // Against the standard, some firmwares protect it; HTTP Digest needs no clock.
      if (!(err instanceof OnvifError) || err.code !== 'not_authorized') throw err
      sent = this.now()
      sdt = await ask(false)
    }
    const received = this.now()
    // The device reports whole seconds (truncated): its real time is half a second later on average.
    const offset = sdt.utc.getTime() + 500 - (sent + received) / 2
    const moved = Math.abs(offset - this.clockOffsetMs) > 1000
    this.clockOffsetMs = Math.round(offset)
    return moved
  }

  deviceInformation(): Promise<DeviceInformation> {
    return this.call(
      this.xaddrs.device,
      DEVICE_ACTION('GetDeviceInformation'),
      getDeviceInformationBody(),
      parseDeviceInformation,
    )
  }

  networkInterfaces(): Promise<NetworkInterface[]> {
    return this.call(
      this.xaddrs.device,
      DEVICE_ACTION('GetNetworkInterfaces'),
      getNetworkInterfacesBody(),
      parseNetworkInterfaces,
    )
  }

  async profiles(): Promise<MediaProfile[]> {
    const profiles = await this.withMedia((v, xaddr) =>
      this.call(xaddr, MEDIA_ACTION(v, 'GetProfiles'), getProfilesBody(v), parseProfiles),
    )
    this.profileCache = profiles
    return profiles
  }

  /** Cached profiles (fetched once), for PTZ checks. */
  async knownProfiles(): Promise<MediaProfile[]> {
    return this.profileCache ?? this.profiles()
  }

  /** The RTSP unicast URI of a profile, as the device names it (host not rewritten). */
  streamUri(profileToken: string): Promise<MediaUri> {
    return this.withMedia((v, xaddr) =>
      this.call(xaddr, MEDIA_ACTION(v, 'GetStreamUri'), getStreamUriBody(v, profileToken), parseStreamUri),
    )
  }

  snapshotUri(profileToken: string): Promise<MediaUri> {
    return this.withMedia((v, xaddr) =>
      this.call(
        xaddr,
        MEDIA_ACTION(v, 'GetSnapshotUri'),
        getSnapshotUriBody(v, profileToken),
        parseSnapshotUri,
      ),
    )
  }

  /** Media2 when offered, falling back to Media1 (and staying there) when Media2 fails. */
  private async withMedia<T>(fn: (v: MediaVersion, xaddr: string) => Promise<T>): Promise<T> {
    const { media, media2 } = this.xaddrs
    if (media2 && !this.media2Failed) {
      try {
        return await fn(2, media2)
      } catch (err) {
        const e = fromDeviceHttpError(err)
        if (!media || !['not_supported', 'fault', 'bad_response', 'protocol'].includes(e.code)) throw e
        // A bad argument (unknown profile token) means Media2 works: that answer stands.
        if (e.code === 'fault' && e.fault?.subcodes.includes('InvalidArgVal')) throw e
        this.media2Failed = true
      }
    }
    if (!media) throw new OnvifError('not_supported', 'the device has no media service')
    return fn(1, media)
  }

  /**
   * One SOAP call with the authentication order above. Every failure is an OnvifError.
   * Internal to the package (the PTZ and event helpers use it), public for the odd extra call.
   */
  async call<T>(
    url: string,
    action: string,
    body: string,
    parse: (status: number, body: Buffer) => T,
    options: CallOptions = {},
  ): Promise<T> {
    if (options.anonymous) return this.send(url, action, body, parse, options, undefined)
    const order: OnvifAuthMode[] = ['token-digest', 'http-digest']
    if (this.options.allowPasswordText) order.push('token-text')
    const modes = this.authMode ? [this.authMode, ...order.filter((m) => m !== this.authMode)] : order
    let clockChecked = false
    let last: OnvifError | undefined
    for (const mode of modes) {
      for (;;) {
        try {
          const result = await this.send(url, action, body, parse, options, mode)
          this.authMode = mode
          return result
        } catch (err) {
          const e = fromDeviceHttpError(err)
          if (e.code !== 'not_authorized') throw e
          last = e
          if (mode !== 'http-digest' && !clockChecked) {
            clockChecked = true
            // A wrong Created is the usual reason a right password is refused: measure again,
            // and retry only when the clock actually moved (else it is the password).
            const moved = await this.measureClock().catch(() => false)
            if (moved) continue
          }
          break
        }
      }
    }
    throw last ?? new OnvifError('not_authorized', 'the device refused the credentials')
  }

  private async send<T>(
    url: string,
    action: string,
    body: string,
    parse: (status: number, body: Buffer) => T,
    options: CallOptions,
    mode: OnvifAuthMode | undefined,
  ): Promise<T> {
    const { username, password } = this.options
    const xml = envelope({
      body,
      ...(mode === 'token-digest' || mode === 'token-text'
        ? {
            security: {
              username,
              password,
              passwordType: mode === 'token-text' ? 'text' : 'digest',
              clockOffsetMs: this.clockOffsetMs,
              nowMs: this.now(),
            },
          }
        : {}),
      ...(options.addressing ? { addressing: options.addressing } : {}),
      ...(options.extraHeaders ? { extraHeaders: options.extraHeaders } : {}),
    })
    let response: Awaited<ReturnType<typeof deviceRequest>>
    try {
      response = await deviceRequest({
        url,
        method: 'POST',
        headers: { 'content-type': soapContentType(action) },
        body: xml,
        ...(mode ? { credentials: { username, password } } : {}),
        timeoutMs: options.timeoutMs ?? this.options.timeoutMs ?? DEFAULT_DEVICE_TIMEOUT_MS,
      })
    } catch (err) {
      throw fromDeviceHttpError(err)
    }
    try {
      return parse(response.status, response.body)
    } catch (err) {
      if (err instanceof OnvifError) throw err
      throw new OnvifError('bad_response', `unreadable answer: ${String(err)}`.slice(0, 300))
    }
  }
}

function clean(x: { [K in keyof OnvifXAddrs]: string | undefined }): OnvifXAddrs {
  const out: OnvifXAddrs = { device: x.device as string }
  for (const [k, v] of Object.entries(x)) if (v) out[k as keyof OnvifXAddrs] = v
  return out
}

type PtzNeed = 'continuous' | 'relative' | 'absolute' | 'presets' | 'home'

/**
 * PTZ on a media profile's PTZ configuration. Refuses with `not_supported` (without asking the
 * device to move) when there is no PTZ service, the profile has no PTZ configuration, or the
 * profile's node lacks the space or feature the move needs.
 */
export class OnvifPtz {
  private nodeCache: PtzNode[] | undefined
  constructor(private readonly client: OnvifClient) {}

  private xaddr(): string {
    const x = this.client.xaddrs.ptz
    if (!x) throw new OnvifError('not_supported', 'the device has no PTZ service')
    return x
  }

  async nodes(): Promise<PtzNode[]> {
    this.nodeCache ??= await this.client.call(
      this.xaddr(),
      PTZ_ACTION('GetNodes'),
      getNodesBody(),
      parseNodes,
    )
    return this.nodeCache
  }

  private async check(profileToken: string, need?: PtzNeed): Promise<string> {
    const xaddr = this.xaddr()
    const profile = (await this.client.knownProfiles()).find((p) => p.token === profileToken)
    if (profile && !profile.ptz)
      throw new OnvifError('not_supported', `profile ${profileToken} has no PTZ configuration`)
    if (!need) return xaddr
    let nodes: PtzNode[]
    try {
      nodes = await this.nodes()
    } catch (err) {
      const e = fromDeviceHttpError(err)
      if (e.code === 'not_authorized' || e.code === 'unreachable' || e.code === 'timeout') throw e
      return xaddr // No node description: let the device decide.
    }
    const node =
      nodes.find((n) => n.token === profile?.ptz?.nodeToken) ?? (nodes.length === 1 ? nodes[0] : undefined)
    if (!node) return xaddr
    const ok =
      need === 'presets' ? node.maxPresets > 0 : need === 'home' ? node.homeSupported : node.supports[need]
    if (!ok) throw new OnvifError('not_supported', `PTZ node ${node.token} does not support ${need} moves`)
    return xaddr
  }

  private async run(
    profileToken: string,
    need: PtzNeed | undefined,
    op: string,
    body: string,
  ): Promise<void> {
    const xaddr = await this.check(profileToken, need)
    await this.client.call(xaddr, PTZ_ACTION(op), body, (s, b) => parseEmpty(s, b, op))
  }

  /** Moves at a velocity (each axis -1..1, clamped) until Stop or `timeoutMs`. */
  continuousMove(profileToken: string, velocity: PtzVector, timeoutMs?: number): Promise<void> {
    return this.run(
      profileToken,
      'continuous',
      'ContinuousMove',
      continuousMoveBody(profileToken, velocity, timeoutMs),
    )
  }

  stop(profileToken: string, axes: { panTilt?: boolean; zoom?: boolean } = {}): Promise<void> {
    return this.run(
      profileToken,
      undefined,
      'Stop',
      stopBody(profileToken, axes.panTilt ?? true, axes.zoom ?? true),
    )
  }

  relativeMove(profileToken: string, translation: PtzVector, speed?: PtzVector): Promise<void> {
    return this.run(
      profileToken,
      'relative',
      'RelativeMove',
      relativeMoveBody(profileToken, translation, speed),
    )
  }

  absoluteMove(profileToken: string, position: PtzVector, speed?: PtzVector): Promise<void> {
    return this.run(profileToken, 'absolute', 'AbsoluteMove', absoluteMoveBody(profileToken, position, speed))
  }

  async status(profileToken: string): Promise<PtzStatus> {
    const xaddr = await this.check(profileToken)
    return this.client.call(xaddr, PTZ_ACTION('GetStatus'), getStatusBody(profileToken), parseStatus)
  }

  async presets(profileToken: string): Promise<PtzPreset[]> {
    const xaddr = await this.check(profileToken, 'presets')
    return this.client.call(xaddr, PTZ_ACTION('GetPresets'), getPresetsBody(profileToken), parsePresets)
  }

  gotoPreset(profileToken: string, presetToken: string, speed?: PtzVector): Promise<void> {
    return this.run(profileToken, 'presets', 'GotoPreset', gotoPresetBody(profileToken, presetToken, speed))
  }

  /**
   * Saves the current position as a preset — a new one, or `presetToken` overwritten — and
   * returns its token.
   */
  async setPreset(profileToken: string, name?: string, presetToken?: string): Promise<string> {
    const xaddr = await this.check(profileToken, 'presets')
    return this.client.call(
      xaddr,
      PTZ_ACTION('SetPreset'),
      setPresetBody(profileToken, name, presetToken),
      parseSetPreset,
    )
  }

  removePreset(profileToken: string, presetToken: string): Promise<void> {
    return this.run(profileToken, 'presets', 'RemovePreset', removePresetBody(profileToken, presetToken))
  }

  gotoHome(profileToken: string, speed?: PtzVector): Promise<void> {
    return this.run(profileToken, 'home', 'GotoHomePosition', gotoHomePositionBody(profileToken, speed))
  }
}

/**
 * One PullPoint subscription at a time. The subscription address is rewritten onto the device
 * URL's host and port like every XAddr (cameras name `0.0.0.0` or their LAN address behind NAT).
 * Notifications with `propertyOperation: 'Initialized'` are the state at subscription start
 * (`isStateReport`), not events that just happened.
 */
export class OnvifEvents {
  subscription: Subscription | undefined
  constructor(private readonly client: OnvifClient) {}

  async createPullPoint(
    options: { terminationMs?: number; topicFilter?: string } = {},
  ): Promise<Subscription> {
    const xaddr = this.client.xaddrs.events
    if (!xaddr) throw new OnvifError('not_supported', 'the device has no event service')
    const sub = await this.client.call(
      xaddr,
      EVENTS_ACTION.createPullPointSubscription,
      createPullPointSubscriptionBody(options.terminationMs ?? 60_000, options.topicFilter),
      parseCreatePullPointSubscription,
    )
    const address = rewriteXAddr(sub.address, this.client.options.url)
    if (!address) throw new OnvifError('bad_response', 'the subscription address is not an HTTP URL')
    this.subscription = { ...sub, address }
    return this.subscription
  }

  private target(action: string): { address: string; options: CallOptions } {
    const sub = this.subscription
    if (!sub) throw new Error('no PullPoint subscription: call createPullPoint() first')
    return {
      address: sub.address,
      options: {
        addressing: { to: sub.address, action },
        ...(sub.referenceParameters ? { extraHeaders: sub.referenceParameters } : {}),
      },
    }
  }

  /** Long-polls up to `timeoutSeconds` for at most `limit` notifications. */
  async pull(timeoutSeconds = 10, limit = 100): Promise<PullResult> {
    const { address, options } = this.target(EVENTS_ACTION.pullMessages)
    const base = this.client.options.timeoutMs ?? DEFAULT_DEVICE_TIMEOUT_MS
    const result = await this.client.call(
      address,
      EVENTS_ACTION.pullMessages,
      pullMessagesBody(timeoutSeconds, limit),
      parsePullMessages,
      {
        ...options,
        timeoutMs: base + timeoutSeconds * 1000,
      },
    )
    if (this.subscription && result.terminationTime)
      this.subscription.terminationTime = result.terminationTime
    return result
  }

  async renew(terminationMs = 60_000): Promise<{ terminationTime?: Date }> {
    const { address, options } = this.target(EVENTS_ACTION.renew)
    const result = await this.client.call(
      address,
      EVENTS_ACTION.renew,
      renewBody(terminationMs),
      parseRenew,
      options,
    )
    if (this.subscription && result.terminationTime)
      this.subscription.terminationTime = result.terminationTime
    return result
  }

  async unsubscribe(): Promise<void> {
    const { address, options } = this.target(EVENTS_ACTION.unsubscribe)
    try {
      await this.client.call(address, EVENTS_ACTION.unsubscribe, unsubscribeBody(), parseUnsubscribe, options)
    } finally {
      this.subscription = undefined
    }
  }
}
