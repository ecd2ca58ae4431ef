import type { Alarm, AlarmKind, AlarmState } from '../../api/alarm-types.ts'

/**
 * Alarms in plain words (issue 16): what each kind means with what its condition saw ("Camera
 * offline: connection refused", "Disk 98 % full", "Clock 10.2 s ahead", "person in stockroom"),
 * where it is, its priority and state. Pure, so they are tested without a browser.
 */
export const KIND_NAMES: Record<AlarmKind, string> = {
  'camera.offline': 'Camera offline',
  'recording.gap': 'Recording gap',
  'recording.stopped': 'Recording stopped',
  'disk.full': 'Disk full',
  'retention.short': 'Retention short',
  'outbox.backlog': 'Outbox backlog',
  'clock.drift': 'Clock drift',
  'agent.offline': 'Agent offline',
  'license.expiring': 'License expiring',
  'object.zone': 'Object in zone',
}

export const STATE_NAMES: Record<AlarmState, string> = {
  open: 'Open',
  acknowledged: 'Acknowledged',
  closed: 'Closed',
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() ? v.trim() : undefined)

/** One decimal at most, without a trailing ".0": 10.2, 98, 0.5. */
export const decimal = (n: number): string => String(Math.round(n * 10) / 10)

/** A duration in seconds as people say it: "45 s", "6 min", "2 h 5 min", "3 d". */
export function seconds(s: number): string {
  const r = Math.round(s)
  if (r < 60) return `${r} s`
  const m = Math.floor(r / 60)
  if (m < 60) return r % 60 ? `${m} min ${r % 60} s` : `${m} min`
  const h = Math.floor(m / 60)
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`
  return `${Math.floor(h / 24)} d`
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`

/** What the alarm is about, in words. */
export function describeAlarm(a: Pick<Alarm, 'kind' | 'details'>): string {
  const d = a.details ?? {}
  switch (a.kind) {
    case 'camera.offline': {
      const error = str(d.error)
      return error ? `Camera offline: ${error}` : 'Camera offline'
    }
    case 'recording.gap': {
      const last = num(d.lastGapMs)
      const gaps = num(d.gaps)
      const gap = last === undefined ? 'Recording gap' : `Recording gap of ${seconds(last / 1000)}`
      return gaps && gaps > 1 ? `${gap} (${plural(gaps, 'gap')})` : gap
    }
    case 'recording.stopped':
      return 'Recording stopped: the camera streams but nothing is written'
    case 'disk.full': {
      const used = num(d.usedPercent)
      const locked = num(d.lockedPercent)
      if (d.reason !== 'disk' && locked !== undefined)
        return `Evidence locks hold ${decimal(locked)} % of the recording quota`
      return used === undefined ? 'Disk full' : `Disk ${decimal(used)} % full`
    }
    case 'retention.short': {
      const kept = num(d.keptDays)
      const wanted = num(d.retentionDays)
      if (kept === undefined) return 'Recordings are kept shorter than the retention'
      return `Recordings kept ${decimal(kept)} days${wanted === undefined ? '' : ` of ${wanted} wanted`}`
    }
    case 'outbox.backlog': {
      const age = num(d.oldestAgeSeconds)
      const depth = num(d.depth)
      if (age === undefined) return 'Outbox backlog'
      return `Outbox backlog: oldest record ${seconds(age)} old${depth ? ` (${plural(depth, 'record')} waiting)` : ''}`
    }
    case 'clock.drift': {
      const offset = num(d.offsetMs)
      if (offset === undefined) return 'Clock drift'
      return `Clock ${decimal(Math.abs(offset) / 1000)} s ${offset >= 0 ? 'ahead' : 'behind'}`
    }
    case 'agent.offline':
      return 'Agent offline'
    case 'license.expiring': {
      const days = num(d.daysLeft)
      if (days === undefined) return 'License expiring'
      if (days <= 0) return 'License expired'
      return `License expires in ${plural(days, 'day')}`
    }
    case 'object.zone': {
      const label = str(d.label) ?? 'object'
      const zone = str(d.zone)
      const where = zone ? `${label} in ${zone}` : label
      return d.loitering === true ? `${where}, loitering` : where
    }
    default:
      return String(a.kind)
  }
}

/** Where the alarm is: site / camera / agent, the names that apply. */
export function describeWhere(
  a: Pick<Alarm, 'siteName' | 'cameraName' | 'agentName' | 'details' | 'cameraId' | 'agentId'>,
): string {
  const d = a.details ?? {}
  const camera = a.cameraName ?? str(d.cameraName)
  const agent = a.agentName ?? str(d.agentName)
  const parts = [a.siteName, camera, camera ? undefined : agent].filter((p): p is string => Boolean(p))
  return parts.length ? parts.join(' / ') : 'Tenant'
}

/** "P1" and what it means, for the eye and for a screen reader. */
export function priorityText(priority: number): { short: string; label: string } {
  const meaning = priority === 1 ? 'highest' : priority === 2 ? 'medium' : 'lowest'
  return { short: `P${priority}`, label: `Priority ${priority} (${meaning})` }
}
