import type { CameraHealth } from '@ts-vms/shared'
import { type AlarmRule, paramsOf, TARGET_OF } from './alarm-rule.ts'
import { inSchedule } from './weekly-schedule.ts'

/**
 * Whether each rule's condition holds, target by target, from what the hub knows of the fleet
 * (its agents' last heartbeats, presence, clock offsets, licenses). Pure: the engine loads the
 * fleet and applies the result (alarm-engine.ts).
 *
 * Three answers per target: the condition holds (`holding`), it does not (in `known` but not
 * holding: an alarm on it closes), or the hub cannot tell (absent from `known`: nothing changes).
 * A camera behind an agent that is away is unknown, not "offline": the agent's alarm says so, and
 * the camera's alarm neither opens nor closes on a report that is stale.
 */

export interface FleetAgent {
  id: string
  tenantId: string
  siteId: string
  name: string
  online: boolean
  /** When the hub last heard from it (hub clock, ms); null: never. */
  lastSeenAt: number | null
  /** The last heartbeat's body, as stored (loosely typed: older agents send less). */
  health: AgentHealth | undefined
  /** The agent's clock minus the hub's, and when that was measured (hub clock). */
  clockOffsetMs: number | null
  clockMeasuredAt: number | null
}

export interface AgentHealth {
  at?: string
  disk?: { freeBytes: number; totalBytes: number }
  outbox?: { depth?: number; oldestAgeSeconds?: number }
  recording?: { bytes?: number; quotaBytes?: number | null; lockedBytes?: number }
  cameras?: AlarmCameraHealth[]
}

/** What the conditions read of a camera's report (alarm-health.ts stores exactly this). */
export interface AlarmCameraHealth {
  id: string
  streams: Pick<CameraHealth['streams'][number], 'role' | 'state' | 'recording' | 'error' | 'lastWrittenAt'>[]
  probe?: { error?: string | undefined }
  retention?: CameraHealth['retention']
}

export interface FleetCamera {
  id: string
  tenantId: string
  siteId: string
  agentId: string | null
  name: string
  recording: { enabled: boolean; retentionDays: number }
}

export interface Fleet {
  agents: ReadonlyMap<string, FleetAgent>
  cameras: readonly FleetCamera[]
  /** Per tenant, when its current license expires (ms); absent: no license. */
  licenseExpiry: ReadonlyMap<string, number>
  /** Per site, its time zone (absent: UTC). */
  siteTimeZones: ReadonlyMap<string, string>
}

/** An alarm of the rule that is not closed, as the evaluation needs it. */
export interface ActiveAlarm {
  target: string
  siteId: string | null
  lastSeenAt: number
  details: Record<string, unknown>
}

export interface Condition {
  target: string
  tenantId: string
  siteId: string | null
  agentId: string | null
  cameraId: string | null
  details: Record<string, unknown>
  /** How long it must hold before an alarm opens (ms). */
  holdMs: number
  /** Since when it holds, when the data says (hub clock, ms); else since the hub first saw it. */
  since?: number
}

export interface Evaluation {
  holding: Condition[]
  known: Set<string>
}

export const cameraTarget = (id: string) => `camera:${id}`
export const agentTarget = (id: string) => `agent:${id}`
export const tenantTarget = (id: string) => `tenant:${id}`

/** A heartbeat older than this many intervals is too old to judge a camera by. */
const STALE_AFTER_MS = 5 * 60_000

function cameraInScope(rule: AlarmRule, c: FleetCamera): boolean {
  if (c.tenantId !== rule.tenantId) return false
  if (rule.scope.type === 'site') return c.siteId === rule.scope.id
  if (rule.scope.type === 'camera') return c.id === rule.scope.id
  return true
}

function agentsInScope(rule: AlarmRule, fleet: Fleet): FleetAgent[] {
  const scope = rule.scope
  if (scope.type === 'camera') {
    const camera = fleet.cameras.find((c) => c.id === scope.id && c.tenantId === rule.tenantId)
    const agent = camera?.agentId ? fleet.agents.get(camera.agentId) : undefined
    return agent ? [agent] : []
  }
  return [...fleet.agents.values()].filter(
    (a) => a.tenantId === rule.tenantId && (scope.type === 'tenant' || a.siteId === scope.id),
  )
}

const agentCondition = (a: FleetAgent, details: Record<string, unknown>, holdMs = 0, since?: number) => ({
  target: agentTarget(a.id),
  tenantId: a.tenantId,
  siteId: a.siteId,
  agentId: a.id,
  cameraId: null,
  details: { agentName: a.name, ...details },
  holdMs,
  ...(since !== undefined ? { since } : {}),
})

const cameraCondition = (c: FleetCamera, details: Record<string, unknown>, holdMs = 0): Condition => ({
  target: cameraTarget(c.id),
  tenantId: c.tenantId,
  siteId: c.siteId,
  agentId: c.agentId,
  cameraId: c.id,
  details: { cameraName: c.name, ...details },
  holdMs,
})

/** The camera's part of its agent's last heartbeat, when the agent is online and the report fresh. */
function reported(
  fleet: Fleet,
  c: FleetCamera,
  nowMs: number,
): { health: AlarmCameraHealth; at: number } | undefined {
  const agent = c.agentId ? fleet.agents.get(c.agentId) : undefined
  if (!agent?.online || !agent.health) return undefined
  const at = agent.health.at ? Date.parse(agent.health.at) - (agent.clockOffsetMs ?? 0) : Number.NaN
  if (!Number.isFinite(at) || nowMs - at > STALE_AFTER_MS) return undefined
  const health = agent.health.cameras?.find((h) => h.id === c.id)
  return health ? { health, at } : undefined
}

const round1 = (n: number) => Math.round(n * 10) / 10

export function evaluateRule(
  rule: AlarmRule,
  fleet: Fleet,
  active: ReadonlyMap<string, ActiveAlarm>,
  nowMs: number,
): Evaluation {
  const holding: Condition[] = []
  const known = new Set<string>()
  const cameras = () => fleet.cameras.filter((c) => cameraInScope(rule, c))
  switch (rule.kind) {
    case 'camera.offline': {
      const { seconds } = paramsOf({ kind: rule.kind, params: rule.params })
      for (const c of cameras()) {
        const r = reported(fleet, c, nowMs)
        if (!r || r.health.streams.length === 0) continue
        known.add(cameraTarget(c.id))
        if (r.health.streams.some((s) => s.state === 'streaming')) continue
        const error = r.health.streams.find((s) => s.error)?.error ?? r.health.probe?.error
        holding.push(
          cameraCondition(
            c,
            {
              streams: r.health.streams.map((s) => ({ role: s.role, state: s.state })),
              ...(error ? { error } : {}),
            },
            seconds * 1000,
          ),
        )
      }
      break
    }
    case 'recording.stopped': {
      const { seconds } = paramsOf({ kind: rule.kind, params: rule.params })
      for (const c of cameras()) {
        if (!c.recording.enabled) continue
        const r = reported(fleet, c, nowMs)
        if (!r) continue
        known.add(cameraTarget(c.id))
        const streaming = r.health.streams.filter((s) => s.state === 'streaming')
        if (streaming.length === 0) continue // not streaming: camera.offline's, not this one's
        const healthAt = r.at + (fleet.agents.get(c.agentId ?? '')?.clockOffsetMs ?? 0)
        const writing = streaming.some(
          (s) =>
            s.recording &&
            (s.lastWrittenAt === undefined || healthAt - Date.parse(s.lastWrittenAt) < seconds * 1000),
        )
        if (writing) continue
        const last = streaming.map((s) => s.lastWrittenAt).find(Boolean)
        holding.push(cameraCondition(c, { ...(last ? { lastWrittenAt: last } : {}) }, seconds * 1000))
      }
      break
    }
    case 'retention.short': {
      const { days } = paramsOf({ kind: rule.kind, params: rule.params })
      for (const c of cameras()) {
        const r = reported(fleet, c, nowMs)
        if (!r) continue
        known.add(cameraTarget(c.id))
        const ret = r.health.retention
        if (!ret?.evictedForSpaceAt || !ret.oldestAt) continue
        const wanted = days ?? c.recording.retentionDays
        const keptMs = Date.parse(ret.evictedForSpaceAt) - Date.parse(ret.oldestAt)
        if (keptMs >= wanted * 86_400_000) continue
        holding.push(
          cameraCondition(c, {
            oldestAt: ret.oldestAt,
            keptDays: round1(Math.max(0, keptMs) / 86_400_000),
            retentionDays: wanted,
          }),
        )
      }
      break
    }
    case 'disk.full': {
      const { percent } = paramsOf({ kind: rule.kind, params: rule.params })
      for (const a of agentsInScope(rule, fleet)) {
        if (!a.online || !a.health) continue
        known.add(agentTarget(a.id))
        const disk = a.health.disk
        const used = disk && disk.totalBytes > 0 ? 100 * (1 - disk.freeBytes / disk.totalBytes) : undefined
        const rec = a.health.recording
        const locked =
          rec?.lockedBytes !== undefined && rec.quotaBytes
            ? (100 * rec.lockedBytes) / rec.quotaBytes
            : undefined
        if ((used ?? 0) < percent && (locked ?? 0) < percent) continue
        holding.push(
          agentCondition(a, {
            ...(used !== undefined ? { usedPercent: round1(used), freeBytes: disk?.freeBytes } : {}),
            ...(locked !== undefined
              ? { lockedPercent: round1(locked), lockedBytes: rec?.lockedBytes, quotaBytes: rec?.quotaBytes }
              : {}),
            reason: (used ?? 0) >= percent ? 'disk' : 'evidence locks fill the recording quota',
          }),
        )
      }
      break
    }
    case 'outbox.backlog': {
      const { seconds } = paramsOf({ kind: rule.kind, params: rule.params })
      for (const a of agentsInScope(rule, fleet)) {
        if (!a.online || !a.health) continue
        known.add(agentTarget(a.id))
        const reportedAge = a.health.outbox?.oldestAgeSeconds ?? 0
        // Heartbeats queue behind the backlog too: the newest one the hub has ages with it.
        const at = a.health.at ? Date.parse(a.health.at) - (a.clockOffsetMs ?? 0) : nowMs
        const age = Math.max(reportedAge, (nowMs - at) / 1000)
        if (age < seconds) continue
        holding.push(
          agentCondition(a, { oldestAgeSeconds: Math.round(age), depth: a.health.outbox?.depth ?? null }),
        )
      }
      break
    }
    case 'clock.drift': {
      const { seconds, forSeconds } = paramsOf({ kind: rule.kind, params: rule.params })
      for (const a of agentsInScope(rule, fleet)) {
        if (!a.online || a.clockOffsetMs === null || a.clockMeasuredAt === null) continue
        if (nowMs - a.clockMeasuredAt > STALE_AFTER_MS) continue
        known.add(agentTarget(a.id))
        if (Math.abs(a.clockOffsetMs) < seconds * 1000) continue
        holding.push(agentCondition(a, { offsetMs: a.clockOffsetMs }, forSeconds * 1000))
      }
      break
    }
    case 'agent.offline': {
      const { seconds } = paramsOf({ kind: rule.kind, params: rule.params })
      for (const a of agentsInScope(rule, fleet)) {
        if (a.lastSeenAt === null) continue // enrolled, never connected: nothing to miss yet
        known.add(agentTarget(a.id))
        if (a.online) continue
        holding.push(
          agentCondition(
            a,
            { lastSeenAt: new Date(a.lastSeenAt).toISOString() },
            seconds * 1000,
            a.lastSeenAt,
          ),
        )
      }
      break
    }
    case 'license.expiring': {
      const { days } = paramsOf({ kind: rule.kind, params: rule.params })
      const target = tenantTarget(rule.tenantId)
      known.add(target)
      const expires = fleet.licenseExpiry.get(rule.tenantId)
      if (expires !== undefined && expires - nowMs <= days * 86_400_000)
        holding.push({
          target,
          tenantId: rule.tenantId,
          siteId: null,
          agentId: null,
          cameraId: null,
          details: {
            expiresAt: new Date(expires).toISOString(),
            daysLeft: Math.ceil((expires - nowMs) / 86_400_000),
          },
          holdMs: 0,
        })
      break
    }
    case 'recording.gap': {
      // Opened by the agent's `recording.gap` events (alarm-engine.ts); clears once quiet.
      const { quietSeconds } = paramsOf({ kind: rule.kind, params: rule.params })
      for (const [target, alarm] of active) {
        known.add(target)
        if (nowMs - alarm.lastSeenAt < quietSeconds * 1000) holding.push(keep(rule, alarm))
      }
      break
    }
    case 'object.zone': {
      // Opened by object events (alarm-engine.ts); clears when the objects have left or ended, or
      // when the schedule's window closes.
      const { schedule } = paramsOf({ kind: rule.kind, params: rule.params })
      for (const [target, alarm] of active) {
        known.add(target)
        const objects = Array.isArray(alarm.details.activeObjects) ? alarm.details.activeObjects : []
        const zone = fleet.siteTimeZones.get(alarm.siteId ?? '') ?? 'UTC'
        if (objects.length > 0 && inSchedule(schedule, nowMs, zone)) holding.push(keep(rule, alarm))
      }
      break
    }
  }
  return { holding, known }
}

/** An event-opened alarm that still holds: unchanged (its details are the events'). */
function keep(rule: AlarmRule, alarm: ActiveAlarm): Condition {
  const id = alarm.target.slice(alarm.target.indexOf(':') + 1)
  return {
    target: alarm.target,
    tenantId: rule.tenantId,
    siteId: alarm.siteId,
    agentId: null,
    cameraId: TARGET_OF[rule.kind] === 'camera' ? id : null,
    details: alarm.details,
    holdMs: 0,
  }
}
