import {
  type EventStreamHandle,
  openTrackedEventStream,
  type VendorEventStreamOptions,
} from '../device-events.ts'
import { DeviceHttpError, type DeviceResponse, deviceRequest } from '../http/device-http.ts'
import {
  type DahuaSystemInfo,
  eventSignal,
  isCgiError,
  isHeartbeat,
  parseChannelTitles,
  parseDeviceType,
  parseEventBodies,
  parseKeyValues,
  parseSoftwareVersion,
  parseSystemInfo,
} from './dahua-parse.ts'

/**
 * A Dahua camera or NVR over its HTTP CGI API (Digest). Channels are 1-based everywhere in this
 * API; the device's own 0-based `index` (events, ChannelTitle[n]) is converted.
 */
export interface DahuaClientOptions {
  baseUrl: string
  username: string
  password: string
  allowBasic?: boolean
  timeoutMs?: number
}

export type DahuaPtzCode =
  | 'Up'
  | 'Down'
  | 'Left'
  | 'Right'
  | 'LeftUp'
  | 'RightUp'
  | 'LeftDown'
  | 'RightDown'
  | 'ZoomTele'
  | 'ZoomWide'
  | 'FocusNear'
  | 'FocusFar'
  | 'GotoPreset'
  | 'SetPreset'
  | 'ClearPreset'

export interface DahuaEventStreamOptions extends VendorEventStreamOptions {
  /** Seconds between the device's Heartbeat parts (asked in the URL; default 5). */
  heartbeatSeconds?: number
  /** No part for this long: reconnect (default 3 × the heartbeat interval). */
  silenceMs?: number
}

export class DahuaClient {
  private readonly base: string

  constructor(private readonly o: DahuaClientOptions) {
    this.base = o.baseUrl.replace(/\/+$/, '')
  }

  async systemInfo(): Promise<DahuaSystemInfo> {
    return parseSystemInfo(await this.text('/cgi-bin/magicBox.cgi?action=getSystemInfo'))
  }

  async deviceType(): Promise<string> {
    return parseDeviceType(await this.text('/cgi-bin/magicBox.cgi?action=getDeviceType'))
  }

  async softwareVersion(): Promise<{ version: string; build?: string }> {
    return parseSoftwareVersion(await this.text('/cgi-bin/magicBox.cgi?action=getSoftwareVersion'))
  }

  /** The channel names (an NVR: one per channel). */
  async channelTitles(): Promise<{ channel: number; name: string }[]> {
    return parseChannelTitles(
      await this.text('/cgi-bin/configManager.cgi?action=getConfig&name=ChannelTitle'),
    )
  }

  /** A JPEG of the channel (`snapshot.cgi` counts channels from 1). */
  async snapshot(channel: number): Promise<Buffer> {
    const res = await this.request(`/cgi-bin/snapshot.cgi?channel=${positive(channel)}`)
    if (res.body.length < 4 || res.body[0] !== 0xff || res.body[1] !== 0xd8)
      throw new DeviceHttpError('protocol', 'the device answered something that is not a JPEG')
    return res.body
  }

  /**
   * A PTZ command: moves take `arg2` as the speed 1..8 (`arg1` too for diagonals), presets take
   * `arg2` as the preset number. `stop` with the same code ends a move.
   */
  async ptz(
    channel: number,
    action: 'start' | 'stop',
    args: { code: DahuaPtzCode; arg1?: number; arg2?: number; arg3?: number },
  ): Promise<void> {
    const n = (v: number | undefined) =>
      v !== undefined && Number.isInteger(v) && v >= 0 && v <= 1000 ? v : 0
    // The channel number as current integrations send it (older ones sent the 0-based index,
    // which only happened to work on single-channel cameras).
    const path =
      `/cgi-bin/ptz.cgi?action=${action}&channel=${positive(channel)}&code=${args.code}` +
      `&arg1=${n(args.arg1)}&arg2=${n(args.arg2)}&arg3=${n(args.arg3)}`
    await this.text(path)
  }

  async gotoPreset(channel: number, preset: number): Promise<void> {
    await this.ptz(channel, 'start', { code: 'GotoPreset', arg2: positive(preset) })
  }

  /** Saves the current position as preset `preset` (`SetPreset`, arg2). Dahua's CGI names none. */
  async setPreset(channel: number, preset: number): Promise<void> {
    await this.ptz(channel, 'start', { code: 'SetPreset', arg2: positive(preset) })
  }

  async removePreset(channel: number, preset: number): Promise<void> {
    await this.ptz(channel, 'start', { code: 'ClearPreset', arg2: positive(preset) })
  }

  /** `ptz.cgi?action=getPresets`: `presets[0].Index=1`, `presets[0].Name=…`. */
  async presets(channel: number): Promise<{ id: number; name?: string }[]> {
    return parsePresets(await this.text(`/cgi-bin/ptz.cgi?action=getPresets&channel=${positive(channel)}`))
  }

  /**
   * Whether the channel has PTZ (`getCurrentProtocolCaps`: `caps.Pan`, `caps.Tile` — Dahua's own
   * spelling — `caps.Tilt` or `caps.Zoom` true). A fixed camera answers `Error`: false, not a failure.
   */
  async ptzSupported(channel: number): Promise<boolean> {
    let body: string
    try {
      body = await this.text(`/cgi-bin/ptz.cgi?action=getCurrentProtocolCaps&channel=${positive(channel)}`)
    } catch (err) {
      if (err instanceof DeviceHttpError && err.code === 'protocol') return false
      throw err
    }
    const kv = parseKeyValues(body)
    return ['Pan', 'Tile', 'Tilt', 'Zoom'].some((k) => (kv[`caps.${k}`] ?? '').toLowerCase() === 'true')
  }

  /** The RTSP port (`configManager … name=RTSP`: `table.RTSP.Port=554`); undefined when unsaid. */
  async rtspPort(): Promise<number | undefined> {
    const kv = parseKeyValues(await this.text('/cgi-bin/configManager.cgi?action=getConfig&name=RTSP'))
    const port = Number(kv['table.RTSP.Port'])
    return Number.isInteger(port) && port >= 1 && port <= 65535 ? port : undefined
  }

  /**
   * Subscribes to `eventManager.cgi?action=attach&codes=[All]&heartbeat=N` until `close()`. Parts
   * become device events through a tracker; Heartbeat parts prove the stream alive, and a stream
   * silent for 3 heartbeats is reopened; any loss ends what was open and reconnects with backoff.
   */
  eventStream(opts: DahuaEventStreamOptions): EventStreamHandle {
    const heartbeat = Math.max(1, Math.min(300, Math.round(opts.heartbeatSeconds ?? 5)))
    return openTrackedEventStream(
      opts,
      {
        url: `${this.base}/cgi-bin/eventManager.cgi?action=attach&codes=[All]&heartbeat=${heartbeat}`,
        credentials: { username: this.o.username, password: this.o.password },
        allowBasic: this.o.allowBasic ?? false,
        defaultBoundary: 'myboundary',
        silenceMs: opts.silenceMs ?? heartbeat * 3000,
      },
      (part, tracker) => {
        const text = part.body.toString('utf8')
        if (isHeartbeat(text)) {
          opts.onHeartbeat?.()
          return
        }
        let events: ReturnType<typeof parseEventBodies>
        try {
          events = parseEventBodies(text)
        } catch (err) {
          opts.onError?.(err instanceof Error ? err : new Error(String(err)))
          return
        }
        for (const ev of events) {
          const s = eventSignal(ev, events.length === 1 ? text.trim() : recordText(ev))
          if (s) tracker.signal(s)
        }
      },
    )
  }

  private async text(path: string): Promise<string> {
    const body = (await this.request(path)).body.toString('utf8')
    if (isCgiError(body))
      throw new DeviceHttpError('protocol', `Dahua ${path.split('?')[0]}: ${body.trim().slice(0, 200)}`)
    return body
  }

  private async request(path: string): Promise<DeviceResponse> {
    const res = await deviceRequest({
      url: `${this.base}${path}`,
      credentials: { username: this.o.username, password: this.o.password },
      allowBasic: this.o.allowBasic ?? false,
      ...(this.o.timeoutMs ? { timeoutMs: this.o.timeoutMs } : {}),
    })
    if (res.status === 401) throw new DeviceHttpError('auth', 'the device asks for credentials', 401)
    if (res.status < 200 || res.status >= 300) {
      const detail = res.body.toString('utf8').trim().slice(0, 200)
      throw new DeviceHttpError(
        'protocol',
        `Dahua ${path.split('?')[0]}: HTTP ${res.status}${detail ? ` (${detail})` : ''}`,
        res.status,
      )
    }
    return res
  }
}

/** `presets[n].Index=…` / `presets[n].Name=…` lines, by Index (entries without a valid Index dropped). */
export function parsePresets(text: string): { id: number; name?: string }[] {
  const byEntry = new Map<string, { id?: number; name?: string }>()
  for (const [key, value] of Object.entries(parseKeyValues(text))) {
    const m = /^presets\[(\d{1,4})\]\.(Index|Name)$/.exec(key)
    if (!m) continue
    const entry = byEntry.get(m[1] as string) ?? {}
    if (m[2] === 'Index') {
      const id = Number(value)
      if (Number.isInteger(id) && id >= 1 && id <= 9999) entry.id = id
    } else if (value) entry.name = value
    byEntry.set(m[1] as string, entry)
  }
  const out: { id: number; name?: string }[] = []
  for (const e of byEntry.values())
    if (e.id !== undefined) out.push(e.name !== undefined ? { id: e.id, name: e.name } : { id: e.id })
  return out.sort((a, b) => a.id - b.id)
}

/** One record of a multi-record part, as the device wrote it. */
const recordText = (ev: { code: string; action: string; index: number; dataText?: string }) =>
  `Code=${ev.code};action=${ev.action};index=${ev.index}${ev.dataText !== undefined ? `;data=${ev.dataText}` : ''}`

function positive(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 9999) throw new RangeError(`not a channel or preset number: ${n}`)
  return n
}
