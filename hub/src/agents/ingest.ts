import { createHash } from 'node:crypto'
import {
  ACTIVITY_BUCKET_SECONDS,
  cleanJsonValue,
  decode,
  downTopic,
  MAX_BATCH,
  MAX_PAYLOAD_BYTES,
  type ObjectEventData,
  type OutboxMessage,
  objectEventData,
  outboxMessage,
  PROTOCOL_VERSION,
  type SecretBox,
  upStatus,
} from '@ts-vms/shared'
import type { Logger } from 'pino'
import { z } from 'zod'
import { alarmHealth } from '../alarms/alarm-health.ts'
import type { AuditLog } from '../audit/audit-log.ts'
import type { Database, Tx } from '../db/database.ts'
import { eventResource, type UpdateBus } from '../live-updates/update-bus.ts'
import type { AgentBus, AgentMessage } from '../mqtt/agent-bus.ts'
import type { AgentDirectory, AgentRecord } from './agent-directory.ts'
import type { AgentRequests } from './agent-requests.ts'
import { publishDesiredConfig } from './config-sync.ts'
import { healthSample, recordHealthSample } from './health-history.ts'
import type { Presence } from './presence.ts'

export interface IngestMetrics {
  received(kind: string): void
  rejected(reason: string): void
  stored(type: string, n: number): void
  /**
   * A batch committed, `seconds` after the agent published it (its `sentAt`; the agent's clock, so
   * a drifting clock shifts it). `health`: the batch held a heartbeat.
   */
  committed?(seconds: number, health: boolean): void
}

/** A stable audit event id for an agent's outbox message, so redelivery never duplicates it. */
export function agentAuditEventId(agentId: string, seq: number): string {
  const h = createHash('sha256').update(`${agentId}:${seq}`).digest()
  h[6] = ((h[6] ?? 0) & 0x0f) | 0x50 // version 5 (name-based)
  h[8] = ((h[8] ?? 0) & 0x3f) | 0x80 // RFC 4122 variant
  const x = h.subarray(0, 16).toString('hex')
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`
}

/** The run of messages continuing an agent's committed sequence, in order. */
export function contiguousRun<T extends { seq: number }>(messages: readonly T[], acked: number): T[] {
  const bySeq = new Map(messages.map((m) => [m.seq, m]))
  const run: T[] = []
  for (let seq = acked + 1; bySeq.has(seq); seq++) run.push(bySeq.get(seq) as T)
  return run
}

/** One message of a batch: valid (to apply), or one the hub cannot apply (acknowledged, reported). */
export type BatchEntry = { seq: number; message: OutboxMessage } | { seq: number; rejected: string }

const batchEnvelope = z.object({
  v: z.literal(PROTOCOL_VERSION),
  sentAt: z.iso.datetime({ offset: true }).optional(),
  messages: z.array(z.unknown()).min(1).max(MAX_BATCH),
})
const sequenced = z.object({ seq: z.number().int().positive() })

/**
 * An `up/messages` batch, each message checked on its own: one invalid message is `rejected`
 * (the hub acknowledges it without applying it) instead of refusing the whole batch, which the
 * agent would resend forever with everything behind it. A message without a usable `seq` cannot
 * be placed and is left out (the run stops at the gap). Text is cleaned of what PostgreSQL
 * refuses (NUL, lone surrogates) so one such string cannot fail the batch's transaction either.
 */
export function parseBatch(
  payload: Buffer | string,
): { ok: true; entries: BatchEntry[]; unsequenced: number; sentAt?: string } | { ok: false; error: string } {
  const envelope = decode(batchEnvelope, payload)
  if (!envelope.ok) return envelope
  const entries: BatchEntry[] = []
  // A message without a usable seq has no place in the agent's order: it cannot be acknowledged,
  // only counted and dropped (no agent of ours sends one).
  let unsequenced = 0
  for (const raw of envelope.value.messages) {
    const seq = sequenced.safeParse(raw)
    if (!seq.success) {
      unsequenced++
      continue
    }
    const parsed = outboxMessage.safeParse(raw)
    if (!parsed.success) {
      entries.push({ seq: seq.data.seq, rejected: 'invalid' })
      continue
    }
    const clean = cleanJsonValue(parsed.data, {
      maxLength: MAX_PAYLOAD_BYTES,
      keepLineBreaks: true,
    }) as OutboxMessage
    // An object event is one row updated in place: its data must be whole and well-formed (checked
    // after cleaning, so a label emptied of what PostgreSQL refuses is refused here, not stored).
    if (
      clean.type === 'event' &&
      clean.body.type === 'object' &&
      !objectEventData.safeParse(clean.body.data).success
    ) {
      entries.push({ seq: seq.data.seq, rejected: 'invalid_object_event' })
      continue
    }
    entries.push({ seq: seq.data.seq, message: clean })
  }
  return {
    ok: true,
    entries,
    unsequenced,
    ...(envelope.value.sentAt ? { sentAt: envelope.value.sentAt } : {}),
  }
}

/**
 * Agent traffic into the database, exactly once and in order per agent.
 *
 * Each agent's messages are handled one after another. A batch's effects (events, health, state)
 * and the agent's `acked_seq` are committed in one transaction; only the run that continues
 * `acked_seq` without a gap is taken, so a duplicate or an early message is never applied, and the
 * agent resends what was not acknowledged. After the commit the hub acknowledges `acked_seq` on
 * `down/ack` and the agent deletes what it covers. A message inside the run that the hub cannot
 * apply (invalid) is acknowledged with the rest, not applied, audited and named in the ack's
 * `rejected`; a publication over the size limit is answered with `resend` (send smaller).
 */
/** An event row as stored (what the consoles are told about). */
interface StoredEvent {
  id: string | number
  tenant_id: string
  agent_id: string | null
  site_id: string | null
  camera_id: string | null
  seq: string | number | null
  type: string
  time: Date
  received_at: Date
  data: Record<string, unknown>
}

/** An object event message as committed (one per message, in order; see `onObjectEvent`). */
export interface ObjectEventNotice {
  agent: AgentRecord
  /** The object's one row in `events` (the same from `new` to `end`). */
  eventRowId: string
  /** null when the agent named no camera, or one that is not of its site. */
  cameraId: string | null
  kind: 'new' | 'update' | 'end'
  data: ObjectEventData
}

/** What an object's row stores: its state after the last message (not the message's own framing). */
function storedObjectData(d: ObjectEventData): Record<string, unknown> {
  return {
    label: d.label,
    score: d.score,
    startTime: d.startTime,
    endTime: d.endTime,
    zones: d.zones,
    box: d.box,
    stationary: d.stationary,
    loitering: d.loitering,
    hasSnapshot: d.hasSnapshot,
  }
}

/** Rows per multi-row insert: PostgreSQL takes at most 65,535 parameters a statement. */
const ROWS_PER_INSERT = 1000

export class AgentIngest {
  private readonly queues = new Map<string, Promise<void>>()

  constructor(
    private readonly deps: {
      db: Database
      bus: AgentBus
      directory: AgentDirectory
      presence: Presence
      audit: AuditLog
      logger: Logger
      metrics: IngestMetrics
      box: SecretBox
      requests: AgentRequests
      /** Called once per agent event after it is committed (services react to some: live view). */
      onEvent?: (
        agent: AgentRecord,
        type: string,
        data: Record<string, unknown>,
        /** The camera it names, when that camera is of the agent's site. */
        cameraId: string | undefined,
      ) => void
      /** An agent came online announcing what it can do (`up/status` features). */
      onFeatures?: (agentId: string, features: readonly string[]) => void
      /** Where committed changes are announced to the consoles watching. */
      updates?: UpdateBus
      /**
       * Called after the commit once per `object` event message, in order (a batch holding several
       * messages of one object stores one row, but each message is told).
       */
      onObjectEvent?: (e: ObjectEventNotice) => void
      /** Where `up/objects` (the live overlay's, ephemeral) goes: relayed at once, never queued behind commits. */
      liveObjects?: { receive(agentId: string, payload: Buffer): Promise<void> }
    },
  ) {}

  handle(message: AgentMessage): Promise<void> {
    if (message.kind === 'objects') return this.relayObjects(message)
    const previous = this.queues.get(message.agentId) ?? Promise.resolve()
    const next = previous
      .then(() => this.process(message))
      .catch((err: unknown) => {
        this.deps.logger.error({ err, agentId: message.agentId }, 'ingest failed; the agent will resend')
      })
    this.queues.set(message.agentId, next)
    void next.finally(() => {
      if (this.queues.get(message.agentId) === next) this.queues.delete(message.agentId)
    })
    return next
  }

  /** `up/objects`: from a known, enabled agent, to the relay; a failure costs one frame's overlay. */
  private async relayObjects(message: AgentMessage): Promise<void> {
    this.deps.metrics.received(message.kind)
    try {
      const agent = await this.deps.directory.get(message.agentId)
      if (!agent || agent.disabled || agent.revoked) {
        this.deps.metrics.rejected('unknown_agent')
        return
      }
      await this.deps.liveObjects?.receive(agent.id, message.payload)
    } catch (err) {
      this.deps.logger.debug({ err, agentId: message.agentId }, 'live objects not relayed')
    }
  }

  /** Resolves when every queued message has been handled (for shutdown). */
  async idle(): Promise<void> {
    while (this.queues.size > 0) await Promise.allSettled([...this.queues.values()])
  }

  private async process(message: AgentMessage): Promise<void> {
    const { metrics } = this.deps
    metrics.received(message.kind)
    const agent = await this.deps.directory.get(message.agentId)
    if (!agent || agent.disabled || agent.revoked) {
      metrics.rejected('unknown_agent')
      return
    }
    if (message.kind === 'status') {
      const status = decode(upStatus, message.payload)
      if (!status.ok) {
        metrics.rejected(status.error)
        return
      }
      // A late "online" from a connection that has since closed is not news.
      if (status.value.online && this.deps.bus.isConnected?.(agent.id) === false) return
      if (status.value.online) this.deps.onFeatures?.(agent.id, status.value.features ?? [])
      await this.deps.presence.set(
        agent.id,
        status.value.online,
        status.value.online ? 'connected' : 'disconnected',
      )
      if (status.value.online) await this.greet(agent)
      return
    }
    if (message.kind === 'response') {
      // With several hubs every one sees every response; only the one that asked has a use for it.
      this.deps.requests.handleResponse(agent.id, message.payload)
      return
    }
    if (message.kind !== 'messages') {
      metrics.rejected('unknown_topic')
      return
    }
    const batch = parseBatch(message.payload)
    if (!batch.ok) {
      metrics.rejected(batch.error)
      this.deps.logger.warn({ agentId: agent.id, reason: batch.error }, 'rejected an agent message')
      if (batch.error === 'oversize') {
        // Unread, so nothing in it can be acknowledged: tell the agent where the hub stands and to
        // send smaller publications, instead of letting it resend the same one forever.
        const acked = await this.deps.db.withTenant({ tenantId: agent.tenantId }, (tx) =>
          this.ackedSeq(tx, agent.id),
        )
        await this.deps.bus.publish(
          downTopic(agent.id, 'ack'),
          JSON.stringify({
            v: PROTOCOL_VERSION,
            seq: acked,
            resend: { reason: 'oversize', maxBytes: MAX_PAYLOAD_BYTES },
          }),
        )
      }
      return
    }
    if (batch.unsequenced > 0) {
      metrics.rejected('invalid')
      this.deps.logger.warn(
        { agentId: agent.id, count: batch.unsequenced },
        'dropped agent messages without a sequence number',
      )
    }
    const entries = batch.entries
    // The agent's clock minus the hub's (publication to receipt adds the network's delay, a few
    // milliseconds; `clock.drift` waits for a drift to persist before it alarms). Clamped to what
    // the column holds: a clock years off is reported as about 24 days off, which alarms all the same.
    const clockOffsetMs =
      batch.sentAt && message.receivedAt !== undefined
        ? Math.max(-2e9, Math.min(2e9, Math.round(Date.parse(batch.sentAt) - message.receivedAt)))
        : null

    // Audit records first (they go to the audit trail's own writer), with ids derived from the
    // sequence so that a batch processed twice (crash, or two hubs) records each one once. A
    // message the hub cannot apply is recorded too (as `agent.message.rejected`, same id scheme).
    // Only a batch holding something to audit reads where the agent stands first: a fleet's
    // heartbeats and events (nearly every batch) skip that transaction.
    const audits = entries.some((e) => 'rejected' in e || e.message.type === 'audit')
    const toAudit = audits
      ? contiguousRun(
          entries,
          await this.deps.db.withTenant({ tenantId: agent.tenantId }, (tx) => this.ackedSeq(tx, agent.id)),
        )
      : []
    for (const e of toAudit) {
      if ('rejected' in e) {
        await this.deps.audit.record({
          eventId: agentAuditEventId(agent.id, e.seq),
          action: 'agent.message.rejected',
          outcome: 'failure',
          tenantId: agent.tenantId,
          actor: { type: 'agent', id: agent.id, name: agent.name },
          target: { type: 'agent', id: agent.id },
          reason: `message ${e.seq} is ${e.rejected}: acknowledged without being applied`,
          details: { agentSeq: e.seq, reason: e.rejected },
        })
        continue
      }
      const m = e.message
      if (m.type !== 'audit') continue
      const b = m.body
      await this.deps.audit.record({
        eventId: agentAuditEventId(agent.id, m.seq),
        time: new Date(m.at),
        action: b.action,
        outcome: b.outcome,
        tenantId: agent.tenantId,
        actor: {
          type: 'agent',
          id: agent.id,
          name: b.actor.name ? `${agent.name}: ${b.actor.name}` : agent.name,
        },
        ...(b.target ? { target: { type: b.target.type, id: b.target.id ?? null } } : {}),
        ...(b.reason ? { reason: b.reason } : {}),
        details: { ...(b.details ?? {}), agentSeq: m.seq, localActor: b.actor },
      })
    }

    let applied: OutboxMessage[] = []
    let stored: StoredEvent[] = []
    let objectNotices: ObjectEventNotice[] = []
    let assigned = new Map<string, string>()
    let rejected: { seq: number; reason: string }[] = []
    const { newAcked, wasOffline } = await this.deps.db.withTenant(
      { tenantId: agent.tenantId },
      async (tx) => {
        const [row]: { acked_seq: string; status: string }[] = await tx.execute(
          'select acked_seq, status from agents where id = ? for update',
          [agent.id],
        )
        const current = Number(row?.acked_seq ?? 0)
        const run = contiguousRun(entries, current)
        const valid = run.flatMap((e) => ('message' in e ? [e.message] : []))
        ;({ stored, objects: objectNotices } = await this.apply(tx, agent, valid))
        assigned = await this.assignedCameras(tx, agent, valid)
        applied = valid
        rejected = run.flatMap((e) => ('rejected' in e ? [{ seq: e.seq, reason: e.rejected }] : []))
        const last = run.at(-1)?.seq ?? current
        await tx.execute(
          `update agents set acked_seq = ?, last_seen_at = now(),
             clock_offset_ms = coalesce(?::int, clock_offset_ms),
             clock_measured_at = case when ?::int is null then clock_measured_at else now() end
           where id = ?`,
          [last, clockOffsetMs, clockOffsetMs, agent.id],
        )
        return { newAcked: last, wasOffline: row?.status === 'offline' }
      },
    )
    if (batch.sentAt && applied.length > 0)
      metrics.committed?.(
        Math.max(0, (Date.now() - Date.parse(batch.sentAt)) / 1000),
        applied.some((m) => m.type === 'health'),
      )
    for (const r of rejected) {
      metrics.rejected(`message_${r.reason}`)
      this.deps.logger.warn(
        { agentId: agent.id, seq: r.seq, reason: r.reason },
        'acknowledged an agent message without applying it',
      )
    }
    await this.deps.bus.publish(
      downTopic(agent.id, 'ack'),
      JSON.stringify({ v: PROTOCOL_VERSION, seq: newAcked, ...(rejected.length > 0 ? { rejected } : {}) }),
    )
    this.announce(agent, applied, stored, assigned)
    const storedCamera = new Map(
      stored.flatMap((e) => (e.seq !== null && e.camera_id ? [[Number(e.seq), e.camera_id] as const] : [])),
    )
    for (const m of applied) {
      if (m.type !== 'event') continue
      try {
        // The camera as stored: named by the agent and of its site (else null).
        const cameraId = storedCamera.get(m.seq) ?? undefined
        this.deps.onEvent?.(agent, m.body.type, m.body.data ?? {}, cameraId)
      } catch (err) {
        this.deps.logger.warn({ err, agentId: agent.id, type: m.body.type }, 'an event handler failed')
      }
    }
    if (this.deps.onObjectEvent)
      for (const n of objectNotices) {
        try {
          this.deps.onObjectEvent(n)
        } catch (err) {
          this.deps.logger.warn({ err, agentId: agent.id }, 'an object event handler failed')
        }
      }
    if (
      wasOffline &&
      this.deps.bus.isConnected?.(agent.id) !== false &&
      (await this.deps.presence.set(agent.id, true, 'message received'))
    )
      await this.greet(agent)
  }

  /** On (re)connect: where the hub stands (so the agent resends from there) and what to run. */
  private async greet(agent: AgentRecord): Promise<void> {
    const acked = await this.deps.db.withTenant({ tenantId: agent.tenantId }, (tx) =>
      this.ackedSeq(tx, agent.id),
    )
    await this.deps.bus.publish(
      downTopic(agent.id, 'ack'),
      JSON.stringify({ v: PROTOCOL_VERSION, seq: acked }),
    )
    await publishDesiredConfig(this.deps.db, this.deps.bus, this.deps.box, agent.id)
  }

  private async ackedSeq(tx: Tx, agentId: string): Promise<number> {
    const [row]: { acked_seq: string }[] = await tx.execute('select acked_seq from agents where id = ?', [
      agentId,
    ])
    return Number(row?.acked_seq ?? 0)
  }

  /**
   * Which of the cameras these events and activity reports name belong to the agent's site (RLS
   * keeps it to the tenant).
   */
  private async camerasOfSite(tx: Tx, agent: AgentRecord, messages: OutboxMessage[]): Promise<Set<string>> {
    const named = [
      ...new Set(
        messages.flatMap((m) =>
          m.type === 'event' && m.body.cameraId
            ? [m.body.cameraId]
            : m.type === 'activity'
              ? [m.body.cameraId]
              : [],
        ),
      ),
    ]
    if (named.length === 0) return new Set()
    const rows: { id: string }[] = await tx.execute(
      `select id from cameras where site_id = ? and id in (${named.map(() => '?').join(', ')})`,
      [agent.siteId, ...named],
    )
    return new Set(rows.map((r) => r.id))
  }

  /**
   * The cameras this agent pulls (id to site), when the batch holds a heartbeat and a console is
   * watching: a camera's state is its own agent's word (as in the camera list), so a heartbeat that
   * names any other camera changes nothing a console is told about that camera.
   */
  private async assignedCameras(
    tx: Tx,
    agent: AgentRecord,
    run: OutboxMessage[],
  ): Promise<Map<string, string>> {
    if (!this.deps.updates?.subscribers || !run.some((m) => m.type === 'health')) return new Map()
    const rows: { id: string; site_id: string }[] = await tx.execute(
      'select id, site_id from cameras where agent_id = ?',
      [agent.id],
    )
    return new Map(rows.map((r) => [r.id, r.site_id]))
  }

  /** Tells the consoles what this commit changed: new events, the agent's and cameras' state. */
  private announce(
    agent: AgentRecord,
    applied: OutboxMessage[],
    stored: StoredEvent[],
    assigned: ReadonlyMap<string, string>,
  ): void {
    const updates = this.deps.updates
    if (!updates) return
    for (const r of stored) {
      const e = {
        id: String(r.id),
        tenantId: r.tenant_id,
        agentId: r.agent_id,
        siteId: r.site_id,
        cameraId: r.camera_id,
        seq: r.seq === null ? null : Number(r.seq),
        type: r.type,
        time: new Date(r.time).toISOString(),
        receivedAt: new Date(r.received_at).toISOString(),
        data: r.data,
      }
      updates.publish({ type: 'event', resource: eventResource(e), data: e })
    }
    const health = applied.filter((m) => m.type === 'health').at(-1)
    if (health?.type !== 'health') return
    const site = { tenantId: agent.tenantId, siteId: agent.siteId }
    updates.publish({
      type: 'agent',
      resource: { type: 'site', ...site },
      data: { id: agent.id, siteId: agent.siteId, health: true },
    })
    for (const c of health.body.cameras ?? []) {
      const siteId = assigned.get(c.id)
      if (siteId === undefined) continue
      updates.publish({
        type: 'camera',
        resource: { type: 'camera', tenantId: agent.tenantId, siteId, cameraId: c.id },
        data: { id: c.id, siteId, streams: c.streams },
      })
    }
  }

  private async apply(
    tx: Tx,
    agent: AgentRecord,
    run: OutboxMessage[],
  ): Promise<{ stored: StoredEvent[]; objects: ObjectEventNotice[] }> {
    const events = run.flatMap((m) => (m.type === 'event' ? [m] : []))
    const activity = run.flatMap((m) => (m.type === 'activity' ? [m] : []))
    let stored: StoredEvent[] = []
    let objects: ObjectEventNotice[] = []
    const ownCameras =
      events.length > 0 || activity.length > 0
        ? await this.camerasOfSite(tx, agent, [...events, ...activity])
        : new Set<string>()
    // An agent speaks only for its own site's cameras: an event naming any other camera is kept
    // (nothing an agent reports is lost) but not attributed to that camera, so no viewer of the
    // named camera is shown what another site's agent claims about it.
    const attribute = (e: (typeof events)[number], data: Record<string, unknown>) => {
      const claimed = e.body.cameraId ?? null
      const cameraId = claimed !== null && ownCameras.has(claimed) ? claimed : null
      return {
        cameraId,
        data: claimed !== null && cameraId === null ? { ...data, claimedCameraId: claimed } : data,
      }
    }
    const plain = events.filter((e) => e.body.type !== 'object')
    if (plain.length > 0) {
      const values: string[] = []
      const params: unknown[] = []
      for (const e of plain) {
        const { cameraId, data } = attribute(e, e.body.data ?? {})
        values.push('(?, ?, ?, ?, ?, ?, ?::timestamptz, ?::jsonb)')
        params.push(
          agent.tenantId,
          agent.id,
          agent.siteId,
          cameraId,
          e.seq,
          e.body.type,
          e.at,
          JSON.stringify(data),
        )
      }
      // Only the rows inserted now come back: an event applied before (a resent batch) is not news.
      stored = await tx.execute(
        `insert into events (tenant_id, agent_id, site_id, camera_id, seq, type, time, data)
         values ${values.join(', ')} on conflict (agent_id, seq) do nothing
         returning id, tenant_id, agent_id, site_id, camera_id, seq, type, time, received_at, data`,
        params,
      )
    }
    const objectMessages = events.filter((e) => e.body.type === 'object')
    if (objectMessages.length > 0) {
      const upserted = await this.upsertObjects(tx, agent, objectMessages, attribute)
      stored = [...stored, ...upserted.stored].sort((a, b) => Number(a.seq) - Number(b.seq))
      objects = upserted.notices
    }
    if (events.length > 0) this.deps.metrics.stored('event', events.length)
    if (activity.length > 0) await this.addActivity(tx, agent, activity, ownCameras)
    const health = run.filter((m) => m.type === 'health').at(-1)
    if (health) {
      // The latest report whole (one row per agent, overwritten), the alarm engine's part of it,
      // and one upsert into the agent's 5-minute history bucket: never a row per camera.
      await tx.execute(
        `update agents set last_health = ?::jsonb, alarm_health = ?::jsonb, version = ?,
           hostname = coalesce(?, hostname) where id = ?`,
        [
          JSON.stringify({ ...health.body, at: health.at }),
          JSON.stringify(alarmHealth(health.body, health.at)),
          health.body.version,
          health.body.hostname ?? null,
          agent.id,
        ],
      )
      await recordHealthSample(tx, agent, healthSample(health.body, new Date()))
      this.deps.metrics.stored('health', 1)
    }
    const state = run.filter((m) => m.type === 'state').at(-1)
    if (state) {
      await tx.execute(
        'update agents set reported_state = ?::jsonb, applied_config_version = ? where id = ?',
        [JSON.stringify({ ...state.body, at: state.at }), state.body.configVersion, agent.id],
      )
      this.deps.metrics.stored('state', 1)
    }
    return { stored, objects }
  }

  /**
   * Object events: one row per object (agent, `eventId`), inserted by its first message and
   * overwritten in place by each later one. Several messages of one object in a batch are collapsed
   * to the last (an upsert may not touch a row twice), and the row keeps `time` = the object's
   * `startTime`. Inserted and updated rows both come back (the consoles are told of both).
   */
  private async upsertObjects(
    tx: Tx,
    agent: AgentRecord,
    messages: (OutboxMessage & { type: 'event' })[],
    attribute: (
      e: OutboxMessage & { type: 'event' },
      data: Record<string, unknown>,
    ) => { cameraId: string | null; data: Record<string, unknown> },
  ): Promise<{ stored: StoredEvent[]; notices: ObjectEventNotice[] }> {
    const parsed = messages.map((m) => {
      // Checked in parseBatch: a message whose data does not parse never gets this far.
      const data = objectEventData.parse(m.body.data)
      return { m, data, stored: attribute(m, storedObjectData(data)) }
    })
    const latest = new Map<string, (typeof parsed)[number]>()
    for (const p of parsed) latest.set(p.data.eventId, p)
    const values: string[] = []
    const params: unknown[] = []
    for (const p of latest.values()) {
      values.push("(?, ?, ?, ?, ?, 'object', ?::timestamptz, ?::jsonb, ?::uuid)")
      params.push(
        agent.tenantId,
        agent.id,
        agent.siteId,
        p.stored.cameraId,
        p.m.seq,
        p.data.startTime,
        JSON.stringify(p.stored.data),
        p.data.eventId,
      )
    }
    // The seq guard only matters if messages ever arrived out of order: an older state never
    // overwrites a newer one. An ended event is final: nothing an agent sends later (say, the end
    // a restarted agent sends for an event it believes open) rewrites how it ended.
    const rows: (StoredEvent & { object_id: string; inserted: boolean })[] = await tx.execute(
      `insert into events (tenant_id, agent_id, site_id, camera_id, seq, type, time, data, object_id)
       values ${values.join(', ')}
       on conflict (agent_id, object_id) where object_id is not null
       do update set data = excluded.data, seq = excluded.seq, received_at = now()
         where (events.seq is null or events.seq < excluded.seq) and events.data->>'endTime' is null
       returning id, tenant_id, agent_id, site_id, camera_id, seq, type, time, received_at, data, object_id,
         (xmax = 0) as inserted`,
      params,
    )
    const byObject = new Map(rows.map((r) => [r.object_id, r]))
    const notices: ObjectEventNotice[] = []
    for (const p of parsed) {
      const row = byObject.get(p.data.eventId)
      if (!row) continue
      notices.push({
        agent,
        eventRowId: String(row.id),
        cameraId: row.camera_id,
        kind: p.data.kind,
        data: p.data,
      })
    }
    const stored = rows.map(({ object_id: _o, inserted: _i, ...r }) => r)
    return { stored, notices }
  }

  /**
   * Motion time into `camera_activity`, for the agent's own site's cameras only (a report about
   * another camera is dropped and counted: it is never that camera's history). Buckets are summed
   * in the batch first (one upsert may not touch a row twice), then added to what is stored, at
   * most a whole bucket.
   */
  private async addActivity(
    tx: Tx,
    agent: AgentRecord,
    messages: (OutboxMessage & { type: 'activity' })[],
    ownCameras: ReadonlySet<string>,
  ): Promise<void> {
    const bucketMs = ACTIVITY_BUCKET_SECONDS * 1000
    const sums = new Map<string, { cameraId: string; start: number; seconds: number }>()
    for (const m of messages) {
      if (!ownCameras.has(m.body.cameraId)) {
        this.deps.metrics.rejected('activity_foreign_camera')
        this.deps.logger.warn(
          { agentId: agent.id, seq: m.seq, cameraId: m.body.cameraId },
          "dropped motion activity for a camera not of the agent's site",
        )
        continue
      }
      for (const b of m.body.buckets) {
        // Keyed on the 10 s grid, so the same bucket reported twice adds up on one row.
        const start = Math.floor(Date.parse(b.start) / bucketMs) * bucketMs
        const key = `${m.body.cameraId}/${start}`
        const sum = sums.get(key)
        if (sum) sum.seconds = Math.min(ACTIVITY_BUCKET_SECONDS, sum.seconds + b.motionSeconds)
        else sums.set(key, { cameraId: m.body.cameraId, start, seconds: b.motionSeconds })
      }
    }
    const all = [...sums.values()]
    for (let i = 0; i < all.length; i += ROWS_PER_INSERT) {
      const chunk = all.slice(i, i + ROWS_PER_INSERT)
      await tx.execute(
        `insert into camera_activity (tenant_id, camera_id, bucket_start, motion_seconds)
         values ${chunk.map(() => '(?, ?, ?::timestamptz, ?)').join(', ')}
         on conflict (camera_id, bucket_start) do update
           set motion_seconds = least(${ACTIVITY_BUCKET_SECONDS}, camera_activity.motion_seconds + excluded.motion_seconds)`,
        chunk.flatMap((b) => [agent.tenantId, b.cameraId, new Date(b.start).toISOString(), b.seconds]),
      )
    }
    if (all.length > 0) this.deps.metrics.stored('activity', all.length)
  }
}
