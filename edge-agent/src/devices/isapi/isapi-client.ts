import {
  type EventStreamHandle,
  openTrackedEventStream,
  type VendorEventStreamOptions,
} from '../device-events.ts'
import { DeviceHttpError, type DeviceResponse, deviceRequest } from '../http/device-http.ts'
import { children, find, parseXml, textAt } from '../xml.ts'
import {
  alertSignal,
  type IsapiDeviceInfo,
  type IsapiInputProxyChannel,
  type IsapiPreset,
  type IsapiStreamingChannel,
  isHeartbeat,
  parseAlert,
  parseDeviceInfo,
  parseInputProxyChannels,
  parseInputProxyStatus,
  parsePresets,
  parseStreamingChannels,
} from './isapi-parse.ts'

/**
 * A Hikvision camera or NVR over ISAPI (HTTP + XML, Digest). Channels are 1-based camera channels;
 * the ISAPI stream id is channel × 100 + 1 (main) or + 2 (sub).
 */
export interface IsapiClientOptions {
  /** `http://host[:port]` (https works; the certificate is not checked, see device-http.ts). */
  baseUrl: string
  username: string
  password: string
  allowBasic?: boolean
  timeoutMs?: number
}

export interface AlertStreamOptions extends VendorEventStreamOptions {
  /**
   * On a heartbeat, starts not refreshed for this long are ended (default 5 s): a Hikvision
   * camera repeats `active` about every second while an event lasts, and many never send
   * `inactive` for motion; the heartbeat proves the stream alive, so the silence is the end.
   */
  heartbeatEndsAfterMs?: number
  /** No part for this long: reconnect (default 30 s; several heartbeats fit in it). */
  silenceMs?: number
}

export class IsapiClient {
  private readonly base: string

  constructor(private readonly o: IsapiClientOptions) {
    this.base = o.baseUrl.replace(/\/+$/, '')
  }

  async deviceInfo(): Promise<IsapiDeviceInfo> {
    return parseDeviceInfo(await this.xml('/ISAPI/System/deviceInfo'))
  }

  async streamingChannels(): Promise<IsapiStreamingChannel[]> {
    return parseStreamingChannels(await this.xml('/ISAPI/Streaming/channels'))
  }

  /**
   * The streaming channels and, by stream id, the RTSP port each names (`Transport/rtspPortNo`,
   * when it does): one request for both.
   */
  async streamingChannelsWithPorts(): Promise<{
    channels: IsapiStreamingChannel[]
    rtspPorts: Map<string, number>
  }> {
    const doc = await this.xml('/ISAPI/Streaming/channels')
    const channels = parseStreamingChannels(doc)
    const rtspPorts = new Map<string, number>()
    const list = find(doc, 'StreamingChannelList')
    for (const item of children(list ?? doc, 'StreamingChannel')) {
      const id = textAt(item, 'id')
      const port = Number(textAt(item, 'Transport', 'rtspPortNo'))
      if (id && Number.isInteger(port) && port >= 1 && port <= 65535) rtspPorts.set(id, port)
    }
    return { channels, rtspPorts }
  }

  /** An NVR's IP channels (a camera answers 403/404: not an NVR). */
  async inputProxyChannels(): Promise<IsapiInputProxyChannel[]> {
    return parseInputProxyChannels(await this.xml('/ISAPI/ContentMgmt/InputProxy/channels'))
  }

  async inputProxyStatus(): Promise<{ channel: number; online: boolean }[]> {
    return parseInputProxyStatus(await this.xml('/ISAPI/ContentMgmt/InputProxy/channels/status'))
  }

  /** A JPEG of the channel's main stream. */
  async snapshot(channel: number): Promise<Buffer> {
    const res = await this.request('GET', `/ISAPI/Streaming/channels/${streamId(channel, 1)}/picture`)
    return jpeg(res)
  }

  /** Continuous PTZ move; each speed in -1..1 (0 stops that axis). */
  async ptzContinuous(channel: number, pan: number, tilt: number, zoom: number): Promise<void> {
    const body =
      '<?xml version="1.0" encoding="UTF-8"?><PTZData>' +
      `<pan>${speed(pan)}</pan><tilt>${speed(tilt)}</tilt><zoom>${speed(zoom)}</zoom></PTZData>`
    await this.request('PUT', `/ISAPI/PTZCtrl/channels/${positive(channel)}/continuous`, body)
  }

  ptzStop(channel: number): Promise<void> {
    return this.ptzContinuous(channel, 0, 0, 0)
  }

  async presets(channel: number): Promise<IsapiPreset[]> {
    return parsePresets(await this.xml(`/ISAPI/PTZCtrl/channels/${positive(channel)}/presets`))
  }

  async gotoPreset(channel: number, presetId: number): Promise<void> {
    await this.request(
      'PUT',
      `/ISAPI/PTZCtrl/channels/${positive(channel)}/presets/${positive(presetId)}/goto`,
    )
  }

  /** Saves the current position as preset `presetId` (1-based), named `name` when given. */
  async setPreset(channel: number, presetId: number, name?: string): Promise<void> {
    const id = positive(presetId)
    const body =
      '<?xml version="1.0" encoding="UTF-8"?><PTZPreset>' +
      `<id>${id}</id><presetName>${xmlEscape(name ?? `Preset ${id}`)}</presetName></PTZPreset>`
    await this.request('PUT', `/ISAPI/PTZCtrl/channels/${positive(channel)}/presets/${id}`, body)
  }

  async removePreset(channel: number, presetId: number): Promise<void> {
    await this.request('DELETE', `/ISAPI/PTZCtrl/channels/${positive(channel)}/presets/${positive(presetId)}`)
  }

  async gotoHome(channel: number): Promise<void> {
    await this.request('PUT', `/ISAPI/PTZCtrl/channels/${positive(channel)}/homeposition/goto`)
  }

  /**
   * The channels with PTZ (`/ISAPI/PTZCtrl/channels`); a device without PTZ answers 403 or 404
   * (`notSupport`), which is an empty list here, not an error.
   */
  async ptzChannels(): Promise<number[]> {
    let doc: Record<string, unknown>
    try {
      doc = await this.xml('/ISAPI/PTZCtrl/channels')
    } catch (err) {
      if (err instanceof DeviceHttpError && (err.status === 403 || err.status === 404)) return []
      throw err
    }
    return parsePtzChannels(doc)
  }

  /**
   * The RTSP port the device names (`/ISAPI/Security/adminAccesses`, protocol RTSP); undefined
   * when it does not say (then 554, the default, is the caller's guess).
   */
  async rtspPort(): Promise<number | undefined> {
    const doc = await this.xml('/ISAPI/Security/adminAccesses')
    for (const item of children(find(doc, 'AdminAccessProtocolList'), 'AdminAccessProtocol')) {
      if (textAt(item, 'protocol')?.toUpperCase() !== 'RTSP') continue
      const port = Number(textAt(item, 'portNo'))
      if (Number.isInteger(port) && port >= 1 && port <= 65535) return port
    }
    return undefined
  }

  /**
   * Subscribes to `/ISAPI/Event/notification/alertStream` until `close()`: parts become device
   * events through a tracker (de-duplicated `active` repeats; ends by `inactive`, by a heartbeat
   * after silence, by the timeout, or when the stream is lost), and the stream is reopened with
   * backoff whenever it fails.
   */
  alertStream(opts: AlertStreamOptions): EventStreamHandle {
    const staleMs = opts.heartbeatEndsAfterMs ?? 5000
    return openTrackedEventStream(
      opts,
      {
        url: `${this.base}/ISAPI/Event/notification/alertStream`,
        credentials: { username: this.o.username, password: this.o.password },
        allowBasic: this.o.allowBasic ?? false,
        defaultBoundary: 'boundary',
        silenceMs: opts.silenceMs ?? 30_000,
      },
      (part, tracker) => {
        const type = part.headers['content-type'] ?? ''
        // Some firmwares interleave the alarm pictures (image/jpeg parts): not events.
        if (/^image\//i.test(type)) return
        const xml = part.body.toString('utf8')
        let alert: ReturnType<typeof parseAlert>
        try {
          alert = parseAlert(xml)
        } catch (err) {
          opts.onError?.(err instanceof Error ? err : new Error(String(err)))
          return
        }
        if (isHeartbeat(alert)) {
          opts.onHeartbeat?.()
          tracker.endStale('isapi', staleMs, 'heartbeat')
        }
        tracker.signal(alertSignal(alert, xml))
      },
    )
  }

  private async xml(path: string): Promise<Record<string, unknown>> {
    return parseXml((await this.request('GET', path)).body)
  }

  private async request(
    method: 'GET' | 'PUT' | 'DELETE',
    path: string,
    body?: string,
  ): Promise<DeviceResponse> {
    const res = await deviceRequest({
      url: `${this.base}${path}`,
      method,
      credentials: { username: this.o.username, password: this.o.password },
      allowBasic: this.o.allowBasic ?? false,
      ...(this.o.timeoutMs ? { timeoutMs: this.o.timeoutMs } : {}),
      ...(body !== undefined
        ? { body, headers: { 'content-type': 'application/xml; charset="UTF-8"' } }
        : {}),
    })
    if (res.status === 401) throw new DeviceHttpError('auth', 'the device asks for credentials', 401)
    if (res.status < 200 || res.status >= 300) {
      throw new DeviceHttpError(
        'protocol',
        `ISAPI ${method} ${path}: HTTP ${res.status}${statusDetail(res)}`,
        res.status,
      )
    }
    return res
  }
}

/** Hikvision explains errors in a ResponseStatus document (`subStatusCode` e.g. `notSupport`). */
function statusDetail(res: DeviceResponse): string {
  try {
    const r = find(parseXml(res.body), 'ResponseStatus')
    const detail = [textAt(r, 'statusString'), textAt(r, 'subStatusCode')].filter(Boolean).join(', ')
    return detail ? ` (${detail.slice(0, 200)})` : ''
  } catch {
    return ''
  }
}

/** `/ISAPI/PTZCtrl/channels`: the ids of the enabled `PTZChannel`s. */
export function parsePtzChannels(doc: Record<string, unknown>): number[] {
  const list = find(doc, 'PTZChannelList')
  const items = list !== undefined ? children(list, 'PTZChannel') : children(doc, 'PTZChannel')
  const out: number[] = []
  for (const item of items) {
    const id = Number(textAt(item, 'id'))
    if (!Number.isInteger(id) || id < 1 || id > 9999) continue
    if (textAt(item, 'enabled') === 'false') continue
    out.push(id)
  }
  return out
}

/** Text for an XML element (a preset name typed by a user). */
function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`)
}

function jpeg(res: DeviceResponse): Buffer {
  // A JPEG starts with SOI (FF D8); an error page or an XML status with 200 is not a picture.
  if (res.body.length < 4 || res.body[0] !== 0xff || res.body[1] !== 0xd8)
    throw new DeviceHttpError('protocol', 'the device answered something that is not a JPEG')
  return res.body
}

function positive(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 9999) throw new RangeError(`not a channel or preset number: ${n}`)
  return n
}

const streamId = (channel: number, stream: number) => positive(channel) * 100 + stream

/** -1..1 → -100..100 (ISAPI's speed scale), clamped. */
export function speed(v: number): number {
  if (!Number.isFinite(v)) return 0
  return Math.round(Math.max(-1, Math.min(1, v)) * 100)
}
