/**
 * What the hub's alarm API says (issue 16): alarms (what went wrong across the fleet, handled by
 * people with `alarm.handle`) and the rules that open them (managed with `alarm.manage`).
 */
export const ALARM_KINDS = [
  'camera.offline',
  'recording.gap',
  'recording.stopped',
  'disk.full',
  'retention.short',
  'outbox.backlog',
  'clock.drift',
  'agent.offline',
  'license.expiring',
  'object.zone',
] as const
export type AlarmKind = (typeof ALARM_KINDS)[number]

export type AlarmState = 'open' | 'acknowledged' | 'closed'
export type AlarmPriority = 1 | 2 | 3

export interface Alarm {
  id: string
  ruleId: string | null
  kind: AlarmKind
  /** 1 is the highest. */
  priority: number
  state: AlarmState
  siteId: string | null
  agentId: string | null
  cameraId: string | null
  openedAt: string
  lastSeenAt: string
  /** How many times it happened while active. */
  count: number
  acknowledgedBy: string | null
  acknowledgedAt: string | null
  closedAt: string | null
  /** What the condition saw: error, cameraName, agentName, label, zone, usedPercent, offsetMs, daysLeft… */
  details: Record<string, unknown>
  tenantId?: string
  target?: string
  acknowledgedByName: string | null
  acknowledgeComment: string | null
  closedBy: string | null
  closeComment: string | null
  /** Set when the condition cleared by itself (the alarm closed without a person). */
  clearedAt: string | null
  ruleName: string | null
  siteName: string | null
  cameraName: string | null
  agentName: string | null
}

export interface AlarmPage {
  items: Alarm[]
  total: number
  /** Open alarms the caller may handle (the navigation's badge), whatever the filter. */
  open: number
}

export interface AlarmQuery {
  /** `active` (open and acknowledged), or states separated by commas. */
  state?: string
  siteId?: string
  cameraId?: string
  priority?: number
  kind?: AlarmKind
  limit?: number
  offset?: number
}

/** A live update on `GET /api/v1/stream` (`event: alarm`). */
export interface AlarmUpdate {
  event: 'opened' | 'acknowledged' | 'closed' | 'reopened'
  alarm: Partial<Alarm> & { id: string }
}

export type RuleScope = { type: 'tenant' } | { type: 'site'; id: string } | { type: 'camera'; id: string }

export interface ScheduleWindow {
  days: Weekday[]
  from: string
  to: string
}
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const
export type Weekday = (typeof WEEKDAYS)[number]

export interface AlarmRule {
  id: string
  tenantId: string
  name: string
  kind: AlarmKind
  scope: { type: 'tenant' | 'site' | 'camera'; id?: string }
  params: Record<string, unknown>
  priority: number
  channels: string[]
  enabled: boolean
  createdAt: string
  updatedAt: string
}

export interface AlarmRuleCreate {
  name: string
  kind: AlarmKind
  scope: RuleScope
  params: Record<string, unknown>
  priority: AlarmPriority
  channels: string[]
  enabled: boolean
}

/** A change: the kind stays; absent fields are kept. */
export type AlarmRuleUpdate = Partial<Omit<AlarmRuleCreate, 'kind'>>
