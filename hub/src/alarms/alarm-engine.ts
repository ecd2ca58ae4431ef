import { createHash } from 'node:crypto'
import type { ObjectEventData } from '@ts-vms/shared'
import type { Logger } from 'pino'
import type { AuditLog } from '../audit/audit-log.ts'
import type { Database, Tx } from '../db/database.ts'
import type { UpdateBus } from '../live-updates/update-bus.ts'
import { type AlarmKind, type AlarmRule, paramsOf } from './alarm-rule.ts'
import {
  type AlarmChange,
  type AlarmRow,
  activeAlarm,
  activeAlarms,
  alarmDto,
  clear,
  type RuleRow,
  raise,
  ruleOf,
  touch,
} from './alarm-store.ts'
import {
  type ActiveAlarm,
  type AgentHealth,
  type Condition,
  cameraTarget,
  evaluateRule,
  type Fleet,
  type FleetAgent,
  type FleetCamera,
} from './conditions.ts'
import { AlarmRuleCache } from './rule-cache.ts'
import { inSchedule } from './weekly-schedule.ts'

/** Rule kinds whose conditions read the agents' last heartbeats (the others need no health read). */
const READS_HEALTH: ReadonlySet<AlarmKind> = new Set([
  'camera.offline',
  'recording.stopped',
  'retention.short',
  'disk.full',
  'outbox.backlog',
])

/** Longest an occurrence trusts the cached rules without a pass having refreshed them. */
const RULE_CACHE_TTL_MS = 30_000

/**
 * The alarm engine: evaluates every enabled rule against the fleet every few seconds (state
 * conditions: offline, disk, clock, backlog, license), and reacts at once to the agent events that
 * are occurrences (`recording.gap`, object events for `object.zone`). Each rule is evaluated under
 * a transaction-scoped advisory lock on its id, so with several hubs one at a time changes its
 * alarms; how long a condition has held is kept in `alarm_conditions`, so neither a restart nor
 * another hub restarts the clock.
 *
 * After each commit the changes are audited (`alarm.open`, `alarm.reopen`, `alarm.close`; by the
 * system), announced to the consoles watching, and the notification dispatcher is woken (the
 * notifications themselves were queued in the transaction).
 */
export interface AlarmEngineDeps {
  db: Database
  audit: AuditLog
  logger: Logger
  updates?: UpdateBus
  /** Woken after a commit that queued notifications. */
  notifications?: { kick(): void }
}

/** A stable audit id per alarm change, so a change recorded twice (a retry) is kept once. */
function changeEventId(change: AlarmChange): string {
  const a = change.alarm
  const h = createHash('sha256')
    .update(`alarm:${a.id}:${change.event}:${a.count}:${new Date(a.last_seen_at).getTime()}:${a.state}`)
    .update(`:${change.alarm.acknowledged_at ?? ''}:${change.alarm.closed_at ?? ''}`)
    .digest()
  h[6] = ((h[6] ?? 0) & 0x0f) | 0x50
  h[8] = ((h[8] ?? 0) & 0x3f) | 0x80
  const x = h.subarray(0, 16).toString('hex')
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`
}

const AUDIT_ACTION: Record<AlarmChange['event'], string> = {
  opened: 'alarm.open',
  reopened: 'alarm.reopen',
  acknowledged: 'alarm.acknowledge',
  closed: 'alarm.close',
}

/** The resource an alarm is about (who may see it): its camera, else its site, else the tenant. */
export function alarmResource(a: Pick<AlarmRow, 'tenant_id' | 'site_id' | 'camera_id'>) {
  if (a.camera_id && a.site_id)
    return { type: 'camera' as const, tenantId: a.tenant_id, siteId: a.site_id, cameraId: a.camera_id }
  if (a.site_id) return { type: 'site' as const, tenantId: a.tenant_id, siteId: a.site_id }
  return { type: 'tenant' as const, tenantId: a.tenant_id }
}

export class AlarmEngine {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private readonly inflight = new Set<Promise<unknown>>()
  private closed = false
  private readonly rules: AlarmRuleCache

  constructor(private readonly deps: AlarmEngineDeps) {
    this.rules = new AlarmRuleCache((tenantId) => this.loadRules(tenantId), RULE_CACHE_TTL_MS)
  }

  /** A tenant's alarm rule was created, changed or deleted on this hub: forget the cached ones. */
  rulesChanged(tenantId: string): void {
    this.rules.invalidate(tenantId)
  }

  private loadRules(tenantId: string): Promise<AlarmRule[]> {
    return this.deps.db.withSystem(async (tx) => {
      const rows: RuleRow[] = await tx.execute('select * from alarm_rules where tenant_id = ? and enabled', [
        tenantId,
      ])
      return rows.map(ruleOf)
    })
  }

  start(everyMs: number): void {
    this.timer = setInterval(() => {
      if (this.running) return // a slow pass is not queued behind by the timer
      void this.evaluate().catch((err: unknown) => this.deps.logger.warn({ err }, 'alarm evaluation failed'))
    }, everyMs)
    this.timer.unref()
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.timer) clearInterval(this.timer)
    await this.running?.catch(() => {})
    await Promise.allSettled([...this.inflight])
  }

  /** One pass over every enabled rule, after any pass already running (passes never overlap). */
  evaluate(nowMs?: number): Promise<void> {
    const run = (this.running ?? Promise.resolve())
      .catch(() => {})
      .then(() => this.pass(nowMs))
      .finally(() => {
        if (this.running === run) this.running = undefined
      })
    this.running = run
    return run
  }

  /** After the commit: audited, announced, delivered. */
  async publish(changes: readonly AlarmChange[]): Promise<void> {
    if (changes.length === 0) return
    for (const change of changes) {
      const a = change.alarm
      await this.deps.audit.record({
        eventId: changeEventId(change),
        action: AUDIT_ACTION[change.event],
        outcome: 'success',
        tenantId: a.tenant_id,
        actor: change.by
          ? { type: 'user', id: change.by.userId, name: change.by.username }
          : { type: 'system', name: 'alarm engine' },
        target: { type: 'alarm', id: a.id },
        ...(change.comment ? { reason: change.comment } : {}),
        details: {
          ruleId: a.rule_id,
          kind: a.kind,
          priority: a.priority,
          target: a.target,
          state: a.state,
          count: a.count,
          siteId: a.site_id,
          cameraId: a.camera_id,
          agentId: a.agent_id,
        },
      })
      this.deps.updates?.publish({
        type: 'alarm',
        resource: alarmResource(a),
        data: { event: change.event, alarm: alarmDto(a) },
      })
    }
    this.deps.notifications?.kick()
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.inflight.add(work)
    void work.finally(() => this.inflight.delete(work)).catch(() => {})
    return work
  }

  private async pass(nowMs?: number): Promise<void> {
    if (this.closed) return
    const generation = this.rules.currentGeneration()
    const startedAt = Date.now()
    const rules = await this.deps.db.withSystem(async (tx) => {
      const rows: RuleRow[] = await tx.execute(
        'select * from alarm_rules where enabled order by tenant_id, created_at, id',
      )
      return rows.map(ruleOf)
    })
    this.rules.fill(rules, startedAt, generation)
    if (rules.length === 0) return
    const fleet = await this.loadFleet(
      [...new Set(rules.map((r) => r.tenantId))],
      rules.some((r) => READS_HEALTH.has(r.kind)),
    )
    for (const rule of rules) {
      if (this.closed) return
      try {
        const changes = await this.deps.db.withSystem((tx) => this.reconcile(tx, rule, fleet, nowMs))
        await this.publish(changes)
      } catch (err) {
        this.deps.logger.warn({ err, ruleId: rule.id }, 'an alarm rule could not be evaluated')
      }
    }
  }

  /** One rule against the fleet: alarms opened, bumped and closed to match. */
  private async reconcile(tx: Tx, rule: AlarmRule, fleet: Fleet, nowArg?: number): Promise<AlarmChange[]> {
    await lockRule(tx, rule.id)
    // The database's clock, the one `alarm_conditions` and the alarms' times are on (several hubs).
    const nowMs = nowArg ?? (await dbNow(tx))
    const active = await activeAlarms(tx, rule.id)
    const byTarget = new Map<string, ActiveAlarm>(
      active.map((a) => [
        a.target,
        {
          target: a.target,
          siteId: a.site_id,
          lastSeenAt: new Date(a.last_seen_at).getTime(),
          details: a.details,
        },
      ]),
    )
    const { holding, known } = evaluateRule(rule, fleet, byTarget, nowMs)
    const pendingRows: { target: string; since: Date }[] = await tx.execute(
      'select target, since from alarm_conditions where rule_id = ?',
      [rule.id],
    )
    const pending = new Map(pendingRows.map((p) => [p.target, new Date(p.since).getTime()]))
    const changes: AlarmChange[] = []
    const holdingTargets = new Set<string>()
    for (const c of holding) {
      holdingTargets.add(c.target)
      const since = c.since ?? pending.get(c.target) ?? nowMs
      if (nowMs - since < c.holdMs) {
        if (c.since === undefined && !pending.has(c.target))
          await tx.execute(
            `insert into alarm_conditions (tenant_id, rule_id, target, since) values (?, ?, ?, ?)
             on conflict (rule_id, target) do nothing`,
            [rule.tenantId, rule.id, c.target, new Date(since)],
          )
        continue
      }
      if (pending.has(c.target))
        await tx.execute('delete from alarm_conditions where rule_id = ? and target = ?', [rule.id, c.target])
      const change = await raise(tx, rule, { ...c, since }, nowMs, false)
      if (change) changes.push(change)
    }
    for (const target of known) {
      if (holdingTargets.has(target)) continue
      if (pending.has(target))
        await tx.execute('delete from alarm_conditions where rule_id = ? and target = ?', [rule.id, target])
      const alarm = active.find((a) => a.target === target)
      if (alarm) {
        const change = await clear(tx, rule, alarm, nowMs, 'the condition cleared')
        if (change) changes.push(change)
      }
    }
    // What the alarm was about is gone (a camera deleted, an agent revoked): nothing will clear it.
    for (const alarm of active) {
      if (known.has(alarm.target) || subjectExists(alarm, fleet)) continue
      const change = await clear(tx, rule, alarm, nowMs, 'its camera or agent was removed')
      if (change) changes.push(change)
    }
    return changes
  }

  /**
   * The fleet of these tenants as the hub knows it now. The agents' health is the stored alarm
   * part of their last heartbeat (`alarm_health`, a few hundred bytes; `last_health` for a report
   * stored before it existed), read only when a rule needs it.
   */
  private loadFleet(tenantIds: readonly string[], withHealth: boolean): Promise<Fleet> {
    return this.deps.db.withSystem(async (tx) => {
      const agents: {
        id: string
        tenant_id: string
        site_id: string
        name: string
        status: string
        last_seen_at: Date | null
        last_health: AgentHealth | null
        clock_offset_ms: number | null
        clock_measured_at: Date | null
      }[] = await tx.execute(
        `select id, tenant_id, site_id, name, status, last_seen_at,
                ${withHealth ? 'coalesce(alarm_health, last_health)' : 'null::jsonb'} as last_health,
                clock_offset_ms, clock_measured_at
           from agents where tenant_id in (?) and revoked_at is null`,
        [tenantIds],
      )
      const cameras: {
        id: string
        tenant_id: string
        site_id: string
        agent_id: string | null
        name: string
        recording: { enabled?: boolean; retentionDays?: number } | null
      }[] = await tx.execute(
        'select id, tenant_id, site_id, agent_id, name, recording from cameras where tenant_id in (?)',
        [tenantIds],
      )
      const licenses: { tenant_id: string; expires_at: Date }[] = await tx.execute(
        `select distinct on (tenant_id) tenant_id, expires_at from licenses where tenant_id in (?)
          order by tenant_id, installed_at desc, id desc`,
        [tenantIds],
      )
      const sites: { id: string; time_zone: string | null }[] = await tx.execute(
        'select id, time_zone from sites where tenant_id in (?)',
        [tenantIds],
      )
      const fleetAgents = new Map<string, FleetAgent>(
        agents.map((a) => [
          a.id,
          {
            id: a.id,
            tenantId: a.tenant_id,
            siteId: a.site_id,
            name: a.name,
            online: a.status === 'online',
            lastSeenAt: a.last_seen_at ? new Date(a.last_seen_at).getTime() : null,
            health: a.last_health ?? undefined,
            clockOffsetMs: a.clock_offset_ms,
            clockMeasuredAt: a.clock_measured_at ? new Date(a.clock_measured_at).getTime() : null,
          },
        ]),
      )
      const fleetCameras: FleetCamera[] = cameras.map((c) => ({
        id: c.id,
        tenantId: c.tenant_id,
        siteId: c.site_id,
        agentId: c.agent_id,
        name: c.name,
        recording: {
          enabled: c.recording?.enabled !== false,
          retentionDays: c.recording?.retentionDays ?? 30,
        },
      }))
      return {
        agents: fleetAgents,
        cameras: fleetCameras,
        licenseExpiry: new Map(licenses.map((l) => [l.tenant_id, new Date(l.expires_at).getTime()])),
        siteTimeZones: new Map(sites.filter((s) => s.time_zone).map((s) => [s.id, s.time_zone as string])),
      }
    })
  }

  /** An agent's `recording.gap` event (after its commit): an occurrence for the rules watching. */
  onRecordingGap(
    agent: { id: string; tenantId: string; siteId: string },
    cameraId: string,
    durationMs: number,
  ) {
    if (this.closed) return
    void this.track(
      this.occurrence(agent.tenantId, 'recording.gap', cameraId, async (tx, rule, camera, nowMs) => {
        const { seconds } = paramsOf({ kind: 'recording.gap', params: rule.params })
        if (durationMs < seconds * 1000) return undefined
        const current = await activeAlarm(tx, rule.id, cameraTarget(cameraId))
        const gaps = Number(current?.details.gaps ?? 0) + 1
        return raise(
          tx,
          rule,
          condition(camera, { cameraName: camera.name, lastGapMs: Math.round(durationMs), gaps }),
          nowMs,
          true,
        )
      }).catch((err: unknown) => this.deps.logger.warn({ err, cameraId }, 'recording gap alarm failed')),
    )
  }

  /** An object event (after its commit): `object.zone` rules open on a match, clear when it leaves. */
  onObjectEvent(agent: { id: string; tenantId: string }, cameraId: string | null, data: ObjectEventData) {
    if (this.closed || !cameraId) return
    void this.track(
      this.occurrence(agent.tenantId, 'object.zone', cameraId, async (tx, rule, camera, nowMs, zone) => {
        const p = paramsOf({ kind: 'object.zone', params: rule.params })
        const target = cameraTarget(cameraId)
        const current = await activeAlarm(tx, rule.id, target)
        const objects = Array.isArray(current?.details.activeObjects)
          ? (current.details.activeObjects as string[])
          : []
        const atMs = data.endTime ? Date.parse(data.endTime) : nowMs
        const matches =
          data.endTime === null &&
          data.label === p.label &&
          data.zones.includes(p.zone) &&
          (!p.loitering || data.loitering) &&
          (inSchedule(p.schedule, Date.parse(data.startTime), zone) || inSchedule(p.schedule, atMs, zone))
        if (!matches) {
          if (!current || !objects.includes(data.eventId)) return undefined
          const left = objects.filter((id) => id !== data.eventId)
          if (left.length > 0) {
            await touch(tx, current, { ...current.details, activeObjects: left }, nowMs)
            return undefined
          }
          return clear(tx, rule, current, nowMs, `the ${p.label} left ${p.zone}`)
        }
        if (current && objects.includes(data.eventId)) {
          await touch(tx, current, { ...current.details, lastObjectAt: new Date(nowMs).toISOString() }, nowMs)
          return undefined
        }
        const details = {
          cameraName: camera.name,
          label: data.label,
          zone: p.zone,
          eventId: data.eventId,
          score: data.score,
          startTime: data.startTime,
          loitering: data.loitering,
          hasSnapshot: data.hasSnapshot,
          activeObjects: [...objects, data.eventId].slice(-20),
        }
        return raise(tx, rule, condition(camera, details), nowMs, true)
      }).catch((err: unknown) => this.deps.logger.warn({ err, cameraId }, 'object zone alarm failed')),
    )
  }

  /** Runs `apply` for each enabled rule of a kind that covers the camera, each under its lock. */
  private async occurrence(
    tenantId: string,
    kind: 'recording.gap' | 'object.zone',
    cameraId: string,
    apply: (
      tx: Tx,
      rule: AlarmRule,
      camera: { id: string; tenantId: string; siteId: string; agentId: string | null; name: string },
      nowMs: number,
      timeZone: string,
    ) => Promise<AlarmChange | undefined>,
  ): Promise<void> {
    const rules = await this.rules.enabled(tenantId, kind)
    if (rules.length === 0) return
    const found = await this.deps.db.withSystem(async (tx) => {
      const cameras: {
        id: string
        tenant_id: string
        site_id: string
        agent_id: string | null
        name: string
        time_zone: string | null
      }[] = await tx.execute(
        `select c.id, c.tenant_id, c.site_id, c.agent_id, c.name, s.time_zone
           from cameras c join sites s on s.id = c.site_id where c.tenant_id = ? and c.id = ?`,
        [tenantId, cameraId],
      )
      const c = cameras[0]
      return c ? { rules, camera: c } : undefined
    })
    if (!found) return
    const { camera: c } = found
    const camera = { id: c.id, tenantId: c.tenant_id, siteId: c.site_id, agentId: c.agent_id, name: c.name }
    for (const rule of found.rules) {
      const covers =
        rule.scope.type === 'tenant' ||
        (rule.scope.type === 'site' && rule.scope.id === camera.siteId) ||
        (rule.scope.type === 'camera' && rule.scope.id === camera.id)
      if (!covers) continue
      const change = await this.deps.db.withSystem(async (tx) => {
        await lockRule(tx, rule.id)
        return apply(tx, rule, camera, await dbNow(tx), c.time_zone ?? 'UTC')
      })
      if (change) await this.publish([change])
    }
  }
}

function condition(
  camera: { id: string; tenantId: string; siteId: string; agentId: string | null },
  details: Record<string, unknown>,
): Condition {
  return {
    target: cameraTarget(camera.id),
    tenantId: camera.tenantId,
    siteId: camera.siteId,
    agentId: camera.agentId,
    cameraId: camera.id,
    details,
    holdMs: 0,
  }
}

function subjectExists(alarm: AlarmRow, fleet: Fleet): boolean {
  const [type, id] = alarm.target.split(':')
  if (type === 'camera') return fleet.cameras.some((c) => c.id === id)
  if (type === 'agent') return fleet.agents.has(id ?? '')
  return true
}

/** Serialises changes to one rule's alarms across hubs, for the transaction. */
export async function lockRule(tx: Tx, ruleId: string): Promise<void> {
  await tx.execute(`select pg_advisory_xact_lock(hashtext('vms.alarm-rule'), hashtext(?))`, [ruleId])
}

async function dbNow(tx: Tx): Promise<number> {
  const [row]: { now: Date }[] = await tx.execute('select clock_timestamp() as now')
  return row ? new Date(row.now).getTime() : Date.now()
}
