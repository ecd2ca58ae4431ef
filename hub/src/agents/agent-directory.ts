import type { Database } from '../db/database.ts'
import { agentSecretMatches } from '../mqtt/agent-secrets.ts'

/** What the hub needs to know about an agent on every message, cached briefly. */
export interface AgentRecord {
  id: string
  tenantId: string
  siteId: string
  name: string
  secretHash: string
  disabled: boolean
  revoked: boolean
  heartbeatSeconds: number
}

const TTL_MS = 30_000

export class AgentDirectory {
  private readonly cache = new Map<string, { record: AgentRecord | undefined; at: number }>()

  constructor(private readonly db: Database) {}

  async get(agentId: string): Promise<AgentRecord | undefined> {
    const hit = this.cache.get(agentId)
    if (hit && Date.now() - hit.at < TTL_MS) return hit.record
    const rows: {
      id: string
      tenant_id: string
      site_id: string
      name: string
      secret_hash: string
      disabled: boolean
      revoked_at: Date | null
      heartbeat: number | null
    }[] = await this.db.withSystem((tx) =>
      tx.execute(
        `select id, tenant_id, site_id, name, secret_hash, disabled, revoked_at,
                (desired_config->>'heartbeatSeconds')::int as heartbeat
           from agents where id = ?`,
        [agentId],
      ),
    )
    const row = rows[0]
    const record = row
      ? {
          id: row.id,
          tenantId: row.tenant_id,
          siteId: row.site_id,
          name: row.name,
          secretHash: row.secret_hash,
          disabled: row.disabled,
          revoked: row.revoked_at !== null,
          heartbeatSeconds: row.heartbeat ?? 10,
        }
      : undefined
    this.cache.set(agentId, { record, at: Date.now() })
    return record
  }

  /** An agent's credentials are good if it exists, is active and the secret matches. */
  async verify(agentId: string, secret: Buffer | undefined): Promise<boolean> {
    if (!/^[0-9a-f-]{36}$/.test(agentId)) return false
    this.forget(agentId) // credentials are checked against the database, never a stale cache
    const agent = await this.get(agentId)
    return Boolean(agent && !agent.disabled && !agent.revoked && agentSecretMatches(secret, agent.secretHash))
  }

  forget(agentId: string): void {
    this.cache.delete(agentId)
  }
}
