import { type DeviceSignal, dahuaEventType } from '../device-events.ts'

/**
 * Dahua CGI answers → plain values. Pure. The CGI API answers `key=value` lines (magicBox,
 * configManager) and pushes events as `Code=…;action=…;index=…[;data={json}]` bodies on the
 * attach stream.
 */
export class DahuaParseError extends Error {
  override name = 'DahuaParseError'
}

/** `key=value` lines (CRLF or LF; blank lines and lines without `=` skipped; the first `=` splits). */
export function parseKeyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split(/\r?\n/)) {
    const eq = line.indexOf('=')
    if (eq <= 0) continue
    const key = line.slice(0, eq).trim()
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue
    out[key] = line.slice(eq + 1).trim()
  }
  return out
}

/** A CGI error answer (`Error` / `Bad Request!` bodies come with 200 on some firmwares). */
export function isCgiError(text: string): boolean {
  return /^\s*Error\b/i.test(text)
}

export interface DahuaSystemInfo {
  manufacturer: 'Dahua'
  deviceType?: string
  serial?: string
  hardwareVersion?: string
  processor?: string
}

/** `magicBox.cgi?action=getSystemInfo`. */
export function parseSystemInfo(text: string): DahuaSystemInfo {
  const kv = parseKeyValues(text)
  const out: DahuaSystemInfo = { manufacturer: 'Dahua' }
  if (kv['deviceType']) out.deviceType = kv['deviceType']
  if (kv['serialNumber']) out.serial = kv['serialNumber']
  if (kv['hardwareVersion']) out.hardwareVersion = kv['hardwareVersion']
  if (kv['processor']) out.processor = kv['processor']
  if (Object.keys(out).length === 1) throw new DahuaParseError('not a getSystemInfo answer')
  return out
}

/** `magicBox.cgi?action=getDeviceType` answers `type=…` (older firmwares `deviceType=…`). */
export function parseDeviceType(text: string): string {
  const kv = parseKeyValues(text)
  const t = kv['type'] ?? kv['deviceType']
  if (!t) throw new DahuaParseError('not a getDeviceType answer')
  return t
}

/** `magicBox.cgi?action=getSoftwareVersion`: `version=2.800.0000000.16.R,build:2020-02-05`. */
export function parseSoftwareVersion(text: string): { version: string; build?: string } {
  const v = parseKeyValues(text)['version']
  if (!v) throw new DahuaParseError('not a getSoftwareVersion answer')
  const m = /^(.*?),\s*build\s*:\s*(.+)$/i.exec(v)
  return m ? { version: (m[1] as string).trim(), build: (m[2] as string).trim() } : { version: v }
}

/** `configManager.cgi?action=getConfig&name=ChannelTitle`: `table.ChannelTitle[0].Name=Door`. */
export function parseChannelTitles(text: string): { channel: number; name: string }[] {
  const out: { channel: number; name: string }[] = []
  for (const [key, value] of Object.entries(parseKeyValues(text))) {
    const m = /^(?:table\.)?ChannelTitle\[(\d{1,4})\]\.Name$/.exec(key)
    if (m) out.push({ channel: Number(m[1]) + 1, name: value })
  }
  return out.sort((a, b) => a.channel - b.channel)
}

export interface DahuaEvent {
  code: string
  /** `Start`, `Stop`, `Pulse`, `State`, as sent. */
  action: string
  /** The 0-based channel index the device sent. */
  index: number
  /** The parsed `data` JSON, when present and valid. */
  data?: unknown
  /** The `data` text, when present (also when it is not valid JSON). */
  dataText?: string
}

/** True for the attach stream's keep-alive part. */
export const isHeartbeat = (body: string) => body.trim() === 'Heartbeat'

/**
 * One event body. `data` runs to the end of the body (its JSON spans lines and may hold `;`), so
 * only what precedes it is split on `;`. Absent `data` is fine (VideoMotionInfo State, doorbells).
 */
export function parseEventBody(text: string): DahuaEvent {
  const body = text.replace(/^\uFEFF/, '').trim()
  const fields = new Map<string, string>()
  let rest = body
  while (rest.length > 0) {
    if (/^data=/i.test(rest)) {
      fields.set('data', rest.slice(5))
      break
    }
    const semi = rest.indexOf(';')
    const field = semi === -1 ? rest : rest.slice(0, semi)
    const eq = field.indexOf('=')
    if (eq > 0) fields.set(field.slice(0, eq).trim().toLowerCase(), field.slice(eq + 1).trim())
    rest = semi === -1 ? '' : rest.slice(semi + 1)
  }
  const code = fields.get('code')
  const action = fields.get('action')
  if (!code || !action) throw new DahuaParseError(`not a Dahua event: ${JSON.stringify(body.slice(0, 80))}`)
  const index = Number(fields.get('index') ?? '0')
  const ev: DahuaEvent = { code, action, index: Number.isInteger(index) && index >= 0 ? index : 0 }
  const dataText = fields.get('data')
  if (dataText !== undefined) {
    ev.dataText = dataText
    try {
      ev.data = JSON.parse(dataText)
    } catch {
      // Kept as text: a firmware's broken JSON should not lose the event itself.
    }
  }
  return ev
}

/**
 * The events of one part body. NVRs have been seen to put several `Code=` records in one part;
 * a record starts at a line beginning with `Code=`.
 */
export function parseEventBodies(text: string): DahuaEvent[] {
  return text
    .split(/\r?\n(?=Code=)/)
    .filter((s) => s.trim() !== '')
    .map(parseEventBody)
}

/**
 * The tracker signal of an event, or undefined for actions that are not transitions (`State`:
 * VideoMotionInfo repeats it continuously; forwarding it would flood the outbox).
 */
export function eventSignal(ev: DahuaEvent, raw?: string): DeviceSignal | undefined {
  const action = ev.action.toLowerCase()
  if (action !== 'start' && action !== 'stop' && action !== 'pulse') return undefined
  const s: DeviceSignal = {
    source: 'dahua',
    code: ev.code,
    type: dahuaEventType(ev.code),
    action,
    channel: ev.index + 1,
  }
  const region = regionOf(ev.data)
  if (region !== undefined) s.region = region
  if (raw !== undefined) s.raw = raw
  return s
}

/** A region or rule name: `RegionName[0]` (motion), `Name` (IVS rules: line, region, parking). */
function regionOf(data: unknown): string | undefined {
  if (!data || typeof data !== 'object') return undefined
  const d = data as Record<string, unknown>
  const names = d['RegionName']
  if (Array.isArray(names) && typeof names[0] === 'string' && names[0]) return names[0].slice(0, 100)
  if (typeof d['Name'] === 'string' && d['Name']) return d['Name'].slice(0, 100)
  return undefined
}
