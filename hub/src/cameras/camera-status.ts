import { type CameraHealth, healthBody } from '@ts-vms/shared'
import type { Tx } from '../db/database.ts'

/**
 * A camera's live status as the hub knows it: whether its agent is connected, and each stream's
 * state from the agent's last heartbeat (connecting, streaming, backoff with the error, recording,
 * bitrate). The agent is the source; the hub only relays what it last heard.
 */
export interface CameraStatus {
  agentOnline: boolean
  at: string | null
  streams: CameraHealth['streams']
  /** Live view on the agent, when someone watches the camera (from the last heartbeat). */
  live?: CameraHealth['live']
  /**
   * Analytics on the agent (from the last heartbeat, while the agent is online): absent when the
   * agent did not report it for this camera (an agent without analytics, or not yet).
   */
  analytics?: CameraHealth['analytics']
}

export async function cameraStatuses(
  tx: Tx,
  cameras: readonly { id: string; agentId: string | null }[],
): Promise<Map<string, CameraStatus>> {
  const agentIds = [...new Set(cameras.map((c) => c.agentId).filter((a): a is string => Boolean(a)))]
  const out = new Map<string, CameraStatus>()
  if (agentIds.length === 0) return out
  const rows: { id: string; status: string; last_health: unknown }[] = await tx.execute(
    `select id, status, last_health from agents where id in (${agentIds.map(() => '?').join(', ')})`,
    agentIds,
  )
  const byAgent = new Map(rows.map((r) => [r.id, r]))
  for (const c of cameras) {
    const agent = c.agentId ? byAgent.get(c.agentId) : undefined
    if (!agent) continue
    const raw = agent.last_health as { at?: string } | null
    const health = healthBody.safeParse(raw)
    const mine = health.success ? health.data.cameras?.find((h) => h.id === c.id) : undefined
    out.set(c.id, {
      agentOnline: agent.status === 'online',
      at: health.success && typeof raw?.at === 'string' ? raw.at : null,
      // While the agent is away its last report is stale: say so rather than show "streaming".
      streams: agent.status === 'online' ? (mine?.streams ?? []) : [],
      ...(agent.status === 'online' && mine?.live ? { live: mine.live } : {}),
      // Stale while the agent is away, like the streams: "running" from a dead agent would lie.
      ...(agent.status === 'online' && mine?.analytics ? { analytics: mine.analytics } : {}),
    })
  }
  return out
}
