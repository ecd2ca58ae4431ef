import type { AlarmKind, AlarmRule, ScheduleWindow, Weekday } from '../../api/alarm-types.ts'
import { WEEKDAYS } from '../../api/alarm-types.ts'

/**
 * The alarm rule editor's parameters (issue 16): each kind's fields with the hub's defaults
 * (hub/src/alarms/alarm-rule.ts), turned from the form's text into the `params` the API takes.
 * The hub checks them again; its 400 names the field (`params.label`), shown beside it.
 */
export interface NumberField {
  key: string
  label: string
  /** Undefined: optional, empty means the hub's own choice. */
  fallback: number | undefined
  min: number
  max: number
  step: number
  hint?: string
}

const secondsField = (fallback: number, hint: string, min = 1): NumberField => ({
  key: 'seconds',
  label: 'Seconds',
  fallback,
  min,
  max: 7 * 86_400,
  step: 1,
  hint,
})

export const NUMBER_FIELDS: Record<AlarmKind, NumberField[]> = {
  'camera.offline': [secondsField(60, 'How long no stream of the camera streams')],
  'recording.gap': [
    secondsField(10, 'Shortest gap in the recording that counts'),
    {
      key: 'quietSeconds',
      label: 'Quiet seconds',
      fallback: 600,
      min: 10,
      max: 7 * 86_400,
      step: 1,
      hint: 'Closes after this long without a new gap',
    },
  ],
  'recording.stopped': [secondsField(60, 'How long the camera streams with nothing written')],
  'disk.full': [
    {
      key: 'percent',
      label: 'Percent',
      fallback: 90,
      min: 1,
      max: 100,
      step: 0.1,
      hint: "Use of the agent's disk, or share of its recording quota held by evidence locks",
    },
  ],
  'retention.short': [
    {
      key: 'days',
      label: 'Days',
      fallback: undefined,
      min: 1,
      max: 3650,
      step: 1,
      hint: "Days that must be kept; empty: each camera's configured retention",
    },
  ],
  'outbox.backlog': [secondsField(300, "Age of the oldest record waiting in the agent's outbox")],
  'clock.drift': [
    {
      key: 'seconds',
      label: 'Seconds',
      fallback: 2,
      min: 0.1,
      max: 86_400,
      step: 0.1,
      hint: "The agent's clock against the hub's",
    },
    {
      key: 'forSeconds',
      label: 'For seconds',
      fallback: 30,
      min: 0,
      max: 7 * 86_400,
      step: 1,
      hint: 'How long the drift must persist',
    },
  ],
  'agent.offline': [secondsField(120, 'How long the agent has been away')],
  'license.expiring': [
    { key: 'days', label: 'Days', fallback: 14, min: 1, max: 365, step: 1, hint: 'Days before expiry' },
  ],
  'object.zone': [],
}

export const DAY_NAMES: Record<Weekday, string> = {
  mon: 'Mon',
  tue: 'Tue',
  wed: 'Wed',
  thu: 'Thu',
  fri: 'Fri',
  sat: 'Sat',
  sun: 'Sun',
}

/** What the form edits: numbers as typed (text), the object.zone fields and schedule. */
export interface ParamsDraft {
  numbers: Record<string, string>
  label: string
  zone: string
  loitering: boolean
  schedule: ScheduleWindow[]
}

export const newWindow = (): ScheduleWindow => ({
  days: ['mon', 'tue', 'wed', 'thu', 'fri'],
  from: '22:00',
  to: '06:00',
})

/** A kind's fields filled with the defaults, or with a rule's stored parameters. */
export function draftOf(kind: AlarmKind, params: Record<string, unknown> = {}): ParamsDraft {
  const numbers: Record<string, string> = {}
  for (const f of NUMBER_FIELDS[kind]) {
    const v = params[f.key]
    numbers[f.key] = typeof v === 'number' ? String(v) : f.fallback === undefined ? '' : String(f.fallback)
  }
  const schedule = Array.isArray(params.schedule)
    ? (params.schedule as ScheduleWindow[]).map((w) => ({
        days: WEEKDAYS.filter((d) => w.days?.includes(d)),
        from: w.from,
        to: w.to,
      }))
    : []
  return {
    numbers,
    label: typeof params.label === 'string' ? params.label : '',
    zone: typeof params.zone === 'string' ? params.zone : '',
    loitering: params.loitering === true,
    schedule,
  }
}

/** The `params` to send: numbers as numbers (text the hub refuses readably), empty optional ones left out. */
export function paramsOf(kind: AlarmKind, draft: ParamsDraft): Record<string, unknown> {
  if (kind === 'object.zone')
    return {
      label: draft.label.trim(),
      zone: draft.zone.trim(),
      schedule: draft.schedule.map((w) => ({ days: w.days, from: w.from, to: w.to })),
      loitering: draft.loitering,
    }
  const out: Record<string, unknown> = {}
  for (const f of NUMBER_FIELDS[kind]) {
    const text = (draft.numbers[f.key] ?? '').trim()
    if (text === '') {
      if (f.fallback !== undefined) out[f.key] = f.fallback
      continue
    }
    const n = Number(text)
    out[f.key] = Number.isFinite(n) ? n : text
  }
  return out
}

/** A rule's parameters in a few words, for the list: "Seconds 60", "person in stockroom, Mon–Fri 22:00–06:00". */
export function describeParams(rule: Pick<AlarmRule, 'kind' | 'params'>): string {
  const p = rule.params ?? {}
  if (rule.kind === 'object.zone') {
    const windows = Array.isArray(p.schedule) ? (p.schedule as ScheduleWindow[]) : []
    const when = windows.length
      ? windows
          .map((w) => `${(w.days ?? []).map((d) => DAY_NAMES[d] ?? d).join(' ')} ${w.from}–${w.to}`)
          .join('; ')
      : 'always'
    return `${String(p.label ?? '')} in ${String(p.zone ?? '')}${p.loitering === true ? ', loitering only' : ''}; ${when}`
  }
  const parts = NUMBER_FIELDS[rule.kind].map((f) =>
    p[f.key] === undefined ? `${f.label}: default` : `${f.label} ${String(p[f.key])}`,
  )
  return parts.join(', ')
}

/** `error.details` of a 400 as a map from path (`params.label`, `name`, `scope.id`) to message. */
export function fieldErrors(details: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  if (!Array.isArray(details)) return out
  for (const d of details as { path?: unknown; message?: unknown }[]) {
    const path = typeof d?.path === 'string' ? d.path : ''
    const message = typeof d?.message === 'string' ? d.message : 'invalid'
    out[path] = out[path] ? `${out[path]}; ${message}` : message
  }
  return out
}
