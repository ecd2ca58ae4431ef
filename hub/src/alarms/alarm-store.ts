import { randomUUID } from 'node:crypto'
import type { Tx } from '../db/database.ts'
import { enqueueNotifications, type NotificationEvent } from '../notifications/notification-queue.ts'
import type { AlarmKind, AlarmRule } from './alarm-rule.ts'
import type { Condition } from './conditions.ts'

/**
 * Alarm rows and their transitions, inside the caller's transaction: each change that people are
 * told about (opened, acknowledged, closed, reopened) queues its notifications in the same
 * transaction (so a committed change always has them, issue 16's "durable"), and returns what the
 * caller audits and announces after the commit.
 *
 * One alarm per (rule, target) is not closed at a time (a partial unique index): a condition that
 * keeps holding or comes back bumps `count` and `last_seen_at` instead of opening another, and an
 * alarm closed automatically less than `REOPEN_WINDOW_MS` ago is reopened rather than duplicated,
 * so a flapping camera is one alarm, never a flood.
 */
export const REOPEN_WINDOW_MS = 5 * 60_000

export type AlarmState = 'open' | 'acknowledged' | 'closed'

export interface AlarmRow {
  id: string
  tenant_id: string
  rule_id: string | null
  kind: AlarmKind
  priority: number
  target: string
  state: AlarmState
  site_id: string | null
  agent_id: string | null
  camera_id: string | null
  opened_at: Date
  last_seen_at: Date
  count: number
  acknowledged_by: string | null
  acknowledged_by_name: string | null
  acknowledged_at: Date | null
  acknowledge_comment: string | null
  closed_at: Date | null
  closed_by: string | null
  close_comment: string | null
  cleared_at: Date | null
  details: Record<string, unknown>
}

/** An alarm change to audit, announce and (already queued) notify, after the commit. */
export interface AlarmChange {
  event: Exclude<NotificationEvent, 'test'>
  alarm: AlarmRow
  /** Who made it; absent: the hub (a condition held or cleared). */
  by?: { userId: string; username: string }
  comment?: string
}

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString())

/** The alarm as the API and notifications give it (the fields, then a few more). */
export function alarmDto(r: AlarmRow) {
  return {
    id: r.id,
    ruleId: r.rule_id,
    kind: r.kind,
    priority: r.priority,
    state: r.state,
    siteId: r.site_id,
    agentId: r.agent_id,
    cameraId: r.camera_id,
    openedAt: iso(r.opened_at) as string,
    lastSeenAt: iso(r.last_seen_at) as string,
    count: r.count,
    acknowledgedBy: r.acknowledged_by,
    acknowledgedAt: iso(r.acknowledged_at),
    closedAt: iso(r.closed_at),
    details: r.details,
    tenantId: r.tenant_id,
    target: r.target,
    acknowledgedByName: r.acknowledged_by_name,
    acknowledgeComment: r.acknowledge_comment,
    closedBy: r.closed_by,
    closeComment: r.close_comment,
    clearedAt: iso(r.cleared_at),
  }
}
export type AlarmDto = ReturnType<typeof alarmDto>

async function notify(tx: Tx, rule: Pick<AlarmRule, 'channels'> | undefined, change: AlarmChange) {
  if (!rule || rule.channels.length === 0) return
  await enqueueNotifications(tx, {
    tenantId: change.alarm.tenant_id,
    channelIds: rule.channels,
    alarmId: change.alarm.id,
    event: change.event,
    payload: { event: change.event, alarm: alarmDto(change.alarm) },
  })
}

/** The rule's alarm on this target that is not closed, locked for the transaction. */
export async function activeAlarm(tx: Tx, ruleId: string, target: string): Promise<AlarmRow | undefined> {
  const rows: AlarmRow[] = await tx.execute(
    `select * from alarms where rule_id = ? and target = ? and state <> 'closed' for update`,
    [ruleId, target],
  )
  return rows[0]
}

/** The rule's alarms that are not closed. */
export async function activeAlarms(tx: Tx, ruleId: string): Promise<AlarmRow[]> {
  return tx.execute(`select * from alarms where rule_id = ? and state <> 'closed' for update`, [ruleId])
}

/**
 * The condition holds (long enough): bump the alarm on its target, or open one (reopen one the hub
 * closed moments ago). `occurrence`: a new instance of the condition (another gap, another person
 * in the zone), which counts and reopens an acknowledged alarm; a condition that merely still
 * holds only moves `last_seen_at`.
 */
export async function raise(
  tx: Tx,
  rule: AlarmRule,
  c: Condition,
  nowMs: number,
  occurrence: boolean,
): Promise<AlarmChange | undefined> {
  const now = new Date(nowMs)
  const details = JSON.stringify(c.details)
  const current = await activeAlarm(tx, rule.id, c.target)
  if (current) {
    const reopen = occurrence && current.state === 'acknowledged'
    const [row]: AlarmRow[] = await tx.execute(
      `update alarms set last_seen_at = ?, details = ?::jsonb, count = count + ?, priority = ?,
         state = case when ? then 'open' else state end,
         acknowledged_by = case when ? then null else acknowledged_by end,
         acknowledged_by_name = case when ? then null else acknowledged_by_name end,
         acknowledged_at = case when ? then null else acknowledged_at end,
         acknowledge_comment = case when ? then null else acknowledge_comment end
       where id = ? returning *`,
      [now, details, occurrence ? 1 : 0, rule.priority, reopen, reopen, reopen, reopen, reopen, current.id],
    )
    if (!row || !reopen) return undefined
    const change: AlarmChange = { event: 'reopened', alarm: row }
    await notify(tx, rule, change)
    return change
  }
  const recent: AlarmRow[] = await tx.execute(
    `select * from alarms where rule_id = ? and target = ? and state = 'closed' and closed_by is null
       and cleared_at is not null and closed_at > ? order by closed_at desc limit 1 for update`,
    [rule.id, c.target, new Date(nowMs - REOPEN_WINDOW_MS)],
  )
  const previous = recent[0]
  if (previous) {
    const [row]: AlarmRow[] = await tx.execute(
      `update alarms set state = 'open', last_seen_at = ?, details = ?::jsonb, count = count + 1, priority = ?,
         closed_at = null, closed_by = null, close_comment = null, cleared_at = null,
         acknowledged_by = null, acknowledged_by_name = null, acknowledged_at = null, acknowledge_comment = null
       where id = ? returning *`,
      [now, details, rule.priority, previous.id],
    )
    if (!row) return undefined
    const change: AlarmChange = { event: 'reopened', alarm: row }
    await notify(tx, rule, change)
    return change
  }
  const [row]: AlarmRow[] = await tx.execute(
    `insert into alarms (id, tenant_id, rule_id, kind, priority, target, state, site_id, agent_id, camera_id,
       opened_at, last_seen_at, count, details)
     values (?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, 1, ?::jsonb) returning *`,
    [
      randomUUID(),
      rule.tenantId,
      rule.id,
      rule.kind,
      rule.priority,
      c.target,
      c.siteId,
      c.agentId,
      c.cameraId,
      new Date(Math.min(nowMs, c.since ?? nowMs)),
      now,
      details,
    ],
  )
  if (!row) return undefined
  const change: AlarmChange = { event: 'opened', alarm: row }
  await notify(tx, rule, change)
  return change
}

/** Updates an active alarm's details without counting an occurrence (an object's update). */
export async function touch(tx: Tx, alarm: AlarmRow, details: Record<string, unknown>, nowMs: number) {
  await tx.execute('update alarms set details = ?::jsonb, last_seen_at = ? where id = ?', [
    JSON.stringify(details),
    new Date(nowMs),
    alarm.id,
  ])
}

/** The condition no longer holds: the hub closes the alarm (by nobody, `cleared_at` set). */
export async function clear(
  tx: Tx,
  rule: AlarmRule | undefined,
  alarm: AlarmRow,
  nowMs: number,
  why: string,
): Promise<AlarmChange | undefined> {
  const now = new Date(nowMs)
  const [row]: AlarmRow[] = await tx.execute(
    `update alarms set state = 'closed', closed_at = ?, cleared_at = ?, close_comment = ?
     where id = ? and state <> 'closed' returning *`,
    [now, now, why, alarm.id],
  )
  if (!row) return undefined
  const change: AlarmChange = { event: 'closed', alarm: row, comment: why }
  await notify(tx, rule, change)
  return change
}

/** A person acknowledges an open alarm (an acknowledged one stays as it was: no second change). */
export async function acknowledge(
  tx: Tx,
  rule: AlarmRule | undefined,
  alarm: AlarmRow,
  by: { userId: string; username: string },
  comment: string | null,
): Promise<AlarmChange | undefined> {
  const [row]: AlarmRow[] = await tx.execute(
    `update alarms set state = 'acknowledged', acknowledged_by = ?, acknowledged_by_name = ?,
       acknowledged_at = now(), acknowledge_comment = ?
     where id = ? and state = 'open' returning *`,
    [by.userId, by.username, comment, alarm.id],
  )
  if (!row) return undefined
  const change: AlarmChange = { event: 'acknowledged', alarm: row, by, ...(comment ? { comment } : {}) }
  await notify(tx, rule, change)
  return change
}

/** A person closes an alarm (open or acknowledged). Should the condition still hold, a new alarm opens. */
export async function closeByHand(
  tx: Tx,
  rule: AlarmRule | undefined,
  alarm: AlarmRow,
  by: { userId: string; username: string },
  comment: string | null,
): Promise<AlarmChange | undefined> {
  const [row]: AlarmRow[] = await tx.execute(
    `update alarms set state = 'closed', closed_at = now(), closed_by = ?, close_comment = ?
     where id = ? and state <> 'closed' returning *`,
    [by.userId, comment, alarm.id],
  )
  if (!row) return undefined
  const change: AlarmChange = { event: 'closed', alarm: row, by, ...(comment ? { comment } : {}) }
  await notify(tx, rule, change)
  return change
}

interface RuleRow {
  id: string
  tenant_id: string
  name: string
  kind: AlarmKind
  scope_type: 'tenant' | 'site' | 'camera'
  scope_id: string | null
  params: Record<string, unknown>
  priority: number
  channels: string[]
  enabled: boolean
  created_by: string | null
  created_at: Date
  updated_at: Date
}

export type { RuleRow }

/** A uuid[] as the driver gives it: an array, or (some drivers) its text form `{a,b}`. */
function uuidList(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String)
  if (typeof value === 'string' && value.length > 2) return value.slice(1, -1).split(',')
  return []
}

export function ruleOf(r: RuleRow): AlarmRule {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    name: r.name,
    kind: r.kind,
    scope: r.scope_type === 'tenant' ? { type: 'tenant' } : { type: r.scope_type, id: r.scope_id as string },
    params: r.params,
    priority: r.priority as 1 | 2 | 3,
    channels: uuidList(r.channels),
    enabled: r.enabled,
  }
}

export async function ruleById(tx: Tx, id: string | null): Promise<AlarmRule | undefined> {
  if (!id) return undefined
  const rows: RuleRow[] = await tx.execute('select * from alarm_rules where id = ?', [id])
  return rows[0] ? ruleOf(rows[0]) : undefined
}
