import type { Logger } from 'pino'
import type { AuditLog } from '../audit/audit-log.ts'
import type { Database } from '../db/database.ts'
import type { UpdateBus } from '../live-updates/update-bus.ts'

/**
 * Online/offline: an agent is online from its first message (or broker connect) until it misses
 * three heartbeats, disconnects, or its last will says so. Transitions are conditional updates, so
 * with several hubs exactly one records each `agent.online` / `agent.offline` event and audit.
 */
export class Presence {
  private sweeper: NodeJS.Timeout | undefined
  private readonly inflight = new Set<Promise<unknown>>()

  constructor(
    private readonly db: Database,
    private readonly audit: AuditLog,
    private readonly logger: Logger,
    private readonly onChange: (agentId: string, online: boolean) => void = () => {},
    /** Where transitions (and their events) are announced to the consoles watching. */
    private readonly updates?: UpdateBus,
  ) {}

  start(everyMs = 5000): void {
    this.sweeper = setInterval(() => {
      this.sweep().catch((err: unknown) => this.logger.warn({ err }, 'agent presence sweep failed'))
    }, everyMs)
    this.sweeper.unref()
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper)
  }

  /** Marks agents offline that missed three heartbeats. */
  async sweep(): Promise<number> {
    const stale: { id: string }[] = await this.db.withSystem((tx) =>
      tx.execute(
        `select id from agents
          where status = 'online'
            and last_seen_at < now() - make_interval(secs => 3 * coalesce((desired_config->>'heartbeatSeconds')::int, 10))`,
      ),
    )
    for (const { id } of stale) await this.set(id, false, 'missed three heartbeats')
    return stale.length
  }

  /** Records a transition if it is one; returns whether it was. */
  set(agentId: string, online: boolean, reason: string): Promise<boolean> {
    const work = this.transition(agentId, online, reason)
    this.inflight.add(work)
    void work.finally(() => this.inflight.delete(work)).catch(() => {})
    return work
  }

  /** Resolves when no transition is being recorded (for shutdown). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.inflight])
  }

  private announce(
    agentId: string,
    online: boolean,
    reason: string,
    row: {
      tenant_id: string
      site_id: string
      event?: { id: string | number; time: Date; received_at: Date }
    },
  ): void {
    if (!this.updates) return
    const resource = { type: 'site' as const, tenantId: row.tenant_id, siteId: row.site_id }
    this.updates.publish({
      type: 'agent',
      resource,
      data: { id: agentId, siteId: row.site_id, status: online ? 'online' : 'offline' },
    })
    if (row.event)
      this.updates.publish({
        type: 'event',
        resource,
        data: {
          id: String(row.event.id),
          tenantId: row.tenant_id,
          agentId,
          siteId: row.site_id,
          cameraId: null,
          seq: null,
          type: online ? 'agent.online' : 'agent.offline',
          time: new Date(row.event.time).toISOString(),
          receivedAt: new Date(row.event.received_at).toISOString(),
          data: { reason },
        },
      })
  }

  private async transition(agentId: string, online: boolean, reason: string): Promise<boolean> {
    const changed = await this.db.withSystem(async (tx) => {
      const rows: { tenant_id: string; site_id: string; name: string }[] = await tx.execute(
        `update agents set status = ?, last_seen_at = case when ? then now() else last_seen_at end, updated_at = now()
          where id = ? and status <> ? and revoked_at is null
          returning tenant_id, site_id, name`,
        [online ? 'online' : 'offline', online, agentId, online ? 'online' : 'offline'],
      )
      const row = rows[0]
      if (!row) return undefined
      const [event]: { id: string | number; time: Date; received_at: Date }[] = await tx.execute(
        `insert into events (tenant_id, agent_id, site_id, type, time, data) values (?, ?, ?, ?, now(), ?::jsonb)
         returning id, time, received_at`,
        [
          row.tenant_id,
          agentId,
          row.site_id,
          online ? 'agent.online' : 'agent.offline',
          JSON.stringify({ reason }),
        ],
      )
      return { ...row, event }
    })
    if (!changed) return false
    this.logger.info({ agentId, online, reason }, online ? 'agent online' : 'agent offline')
    this.onChange(agentId, online)
    this.announce(agentId, online, reason, changed)
    await this.audit.record({
      action: online ? 'agent.online' : 'agent.offline',
      outcome: 'success',
      tenantId: changed.tenant_id,
      actor: { type: 'system', name: 'presence' },
      target: { type: 'agent', id: agentId },
      reason,
      details: { name: changed.name, siteId: changed.site_id },
    })
    return true
  }
}
