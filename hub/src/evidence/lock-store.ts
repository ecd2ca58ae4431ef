import { randomUUID } from 'node:crypto'
import type { AgentEvidenceLock } from '@ts-vms/shared'
import type { Tx } from '../db/database.ts'
import type { Camera } from '../db/entities.ts'
import { type LockState, lockState, overallState } from './lock-state.ts'

/**
 * Evidence locks (issue 16): the store, and which agents carry each lock.
 *
 * A lock is pushed to the agents through their desired configuration (agents/config-sync.ts): it
 * bumps the `config_version` of every agent that records one of its cameras, in the transaction
 * that creates it, and remembers that version per agent (`evidence_lock_agents`). The agent
 * reports the version it applied (`state` message, agents.applied_config_version), so the lock is
 * `applied` on an agent as soon as the agent runs a configuration at least that new: nothing else
 * has to travel back. An agent that is away gets the retained configuration when it returns.
 *
 * The agents are the cameras' agents at creation and stay so: recordings remain on the agent that
 * made them when a camera moves, so that is where the lock must hold.
 */

/** Each agent carries at most this many (lock, camera) pairs: its configuration must stay one
 * MQTT message (256 KiB) with its cameras; beyond, creating a lock is refused (TooManyLocks). */
export const MAX_LOCKED_CAMERAS_PER_AGENT = 500

export class TooManyLocks extends Error {
  constructor(readonly agentId: string) {
    super(`agent ${agentId} already carries ${MAX_LOCKED_CAMERAS_PER_AGENT} locked camera ranges`)
    this.name = 'TooManyLocks'
  }
}

export interface EvidenceLockAgent {
  agentId: string
  state: LockState
  /** The configuration version that first carried the lock to this agent. */
  configVersion: number
  appliedConfigVersion: number | null
}

export interface EvidenceLock {
  id: string
  tenantId: string
  cameraIds: string[]
  from: Date
  to: Date
  until: Date
  reason: string
  createdBy: string | null
  createdAt: Date
  state: LockState
  agents: EvidenceLockAgent[]
}

/**
 * As agents/config-sync.ts bumpConfigVersion (not imported: config-sync reads the locks from here).
 * It also locks the agent's row until the commit, which serialises locks made at once for one agent.
 */
async function bumpConfigVersion(tx: Tx, agentId: string): Promise<void> {
  await tx.execute('update agents set config_version = config_version + 1, updated_at = now() where id = ?', [
    agentId,
  ])
}

interface LockRow {
  id: string
  tenant_id: string
  camera_ids: string[]
  from: Date
  to: Date
  until: Date
  reason: string
  created_by: string | null
  created_at: Date
}

interface LockAgentRow {
  lock_id: string
  agent_id: string
  config_version: number
  applied_config_version: number | null
  config_error: string | null
}

/** A lock's state by SQL, for filtering (the same rule as lockState, per agent of the lock). */
const PENDING_SQL = `exists (select 1 from evidence_lock_agents la join agents a on a.id = la.agent_id
   where la.lock_id = l.id and (a.applied_config_version is null or a.applied_config_version < la.config_version
     or (a.reported_state ->> 'configError') is not null))`

async function withAgents(tx: Tx, rows: LockRow[]): Promise<EvidenceLock[]> {
  if (rows.length === 0) return []
  const agents: LockAgentRow[] = await tx.execute(
    `select la.lock_id, la.agent_id, la.config_version, a.applied_config_version,
            a.reported_state ->> 'configError' as config_error
       from evidence_lock_agents la join agents a on a.id = la.agent_id
      where la.lock_id in (?) order by la.agent_id`,
    [rows.map((r) => r.id)],
  )
  return rows.map((r) => {
    const mine = agents
      .filter((a) => a.lock_id === r.id)
      .map((a) => ({
        agentId: a.agent_id,
        state: lockState(a.config_version, a.applied_config_version, a.config_error),
        configVersion: a.config_version,
        appliedConfigVersion: a.applied_config_version,
      }))
    return {
      id: r.id,
      tenantId: r.tenant_id,
      cameraIds: r.camera_ids,
      from: new Date(r.from),
      to: new Date(r.to),
      until: new Date(r.until),
      reason: r.reason,
      createdBy: r.created_by,
      createdAt: new Date(r.created_at),
      state: overallState(mine.map((a) => a.state)),
      agents: mine,
    }
  })
}

export interface NewLock {
  tenantId: string
  /** The lock's cameras, already checked by the caller (visible, evidence.manage). */
  cameras: readonly Camera[]
  from: Date
  to: Date
  until: Date
  reason: string
  createdBy: string | null
}

/**
 * Creates a lock and bumps the configuration of each agent recording one of its cameras. Returns
 * the lock and the agents whose configuration must be published after the commit.
 */
export async function createLock(
  tx: Tx,
  input: NewLock,
): Promise<{ lock: EvidenceLock; agentIds: string[] }> {
  const id = randomUUID()
  const cameraIds = [...new Set(input.cameras.map((c) => c.id))]
  await tx.execute(
    `insert into evidence_locks (id, tenant_id, camera_ids, "from", "to", until, reason, created_by)
     values (?, ?, array[?]::uuid[], ?, ?, ?, ?, ?)`,
    [id, input.tenantId, cameraIds, input.from, input.to, input.until, input.reason, input.createdBy],
  )
  const byAgent = new Map<string, string[]>()
  for (const c of input.cameras) {
    if (!c.agentId) continue // no agent, no recordings to keep
    const list = byAgent.get(c.agentId) ?? []
    if (!list.includes(c.id)) list.push(c.id)
    byAgent.set(c.agentId, list)
  }
  for (const [agentId, ids] of [...byAgent].sort(([a], [b]) => a.localeCompare(b))) {
    // Locks the agent's row first: two locks made at once count each other.
    await bumpConfigVersion(tx, agentId)
    const carried: { n: number }[] = await tx.execute(
      `select coalesce(sum(cardinality(la.camera_ids)), 0)::int as n
         from evidence_lock_agents la join evidence_locks l on l.id = la.lock_id
        where la.agent_id = ? and l.until > now()`,
      [agentId],
    )
    if ((carried[0]?.n ?? 0) + ids.length > MAX_LOCKED_CAMERAS_PER_AGENT) throw new TooManyLocks(agentId)
    await tx.execute(
      `insert into evidence_lock_agents (lock_id, tenant_id, agent_id, camera_ids, config_version)
       select ?, ?, ?, array[?]::uuid[], config_version from agents where id = ?`,
      [id, input.tenantId, agentId, ids, agentId],
    )
  }
  const lock = await lockById(tx, id)
  if (!lock) throw new Error('the lock just created is not readable')
  return { lock, agentIds: [...byAgent.keys()] }
}

export async function lockById(tx: Tx, id: string): Promise<EvidenceLock | undefined> {
  const rows: LockRow[] = await tx.execute('select * from evidence_locks where id = ?', [id])
  return (await withAgents(tx, rows))[0]
}

export interface LockFilter {
  /** Only locks naming at least one of these cameras (what the caller may see). */
  visibleCameraIds: readonly string[]
  cameraId?: string
  state?: LockState
  limit: number
  offset: number
}

/** Locks the filter admits, newest first, with their total. */
export async function listLocks(tx: Tx, f: LockFilter): Promise<{ items: EvidenceLock[]; total: number }> {
  if (f.visibleCameraIds.length === 0) return { items: [], total: 0 }
  const where = ['l.camera_ids && array[?]::uuid[]']
  const args: unknown[] = [f.visibleCameraIds]
  if (f.cameraId) {
    where.push('? = any(l.camera_ids)')
    args.push(f.cameraId)
  }
  if (f.state) where.push(f.state === 'pending' ? PENDING_SQL : `not ${PENDING_SQL}`)
  const filter = where.join(' and ')
  const counted: { n: number }[] = await tx.execute(
    `select count(*)::int as n from evidence_locks l where ${filter}`,
    args,
  )
  const rows: LockRow[] = await tx.execute(
    `select l.* from evidence_locks l where ${filter} order by l.created_at desc, l.id limit ? offset ?`,
    [...args, f.limit, f.offset],
  )
  return { items: await withAgents(tx, rows), total: counted[0]?.n ?? 0 }
}

/** Removes a lock; returns the agents whose configuration must be published after the commit. */
export async function deleteLock(tx: Tx, id: string): Promise<string[]> {
  const agents: { agent_id: string }[] = await tx.execute(
    'select agent_id from evidence_lock_agents where lock_id = ? order by agent_id',
    [id],
  )
  for (const a of agents) await bumpConfigVersion(tx, a.agent_id)
  await tx.execute('delete from evidence_locks where id = ?', [id])
  return agents.map((a) => a.agent_id)
}

/**
 * The locks an agent must hold now (for its configuration): those carried to it that have not
 * expired, with the cameras it records. Expired ones simply drop out; the agent expires them by
 * its own clock too, so nothing needs to be re-sent when one ends.
 */
export async function locksForAgent(tx: Tx, agentId: string, now = new Date()): Promise<AgentEvidenceLock[]> {
  const rows: { id: string; camera_ids: string[]; from: Date; to: Date; until: Date }[] = await tx.execute(
    `select l.id, la.camera_ids, l."from", l."to", l.until
       from evidence_lock_agents la join evidence_locks l on l.id = la.lock_id
      where la.agent_id = ? and l.until > ?
      order by l.until desc, l.id limit 1000`,
    [agentId, now],
  )
  return rows.map((r) => ({
    id: r.id,
    cameraIds: r.camera_ids,
    from: new Date(r.from).toISOString(),
    to: new Date(r.to).toISOString(),
    until: new Date(r.until).toISOString(),
  }))
}
