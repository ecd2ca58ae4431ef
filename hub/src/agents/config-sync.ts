import { downTopic, PROTOCOL_VERSION } from '@ts-vms/shared'
import type { Database } from '../db/database.ts'
import type { AgentBus } from '../mqtt/agent-bus.ts'

/**
 * Desired configuration flows down retained on `down/config`, so an agent gets the latest version
 * whenever it (re)subscribes, and again each time it comes online.
 */
export async function publishDesiredConfig(db: Database, bus: AgentBus, agentId: string): Promise<void> {
  const rows: { desired_config: Record<string, unknown>; config_version: number }[] = await db.withSystem(
    (tx) =>
      tx.execute('select desired_config, config_version from agents where id = ? and revoked_at is null', [
        agentId,
      ]),
  )
  const row = rows[0]
  if (!row) return
  await bus.publish(
    downTopic(agentId, 'config'),
    JSON.stringify({ v: PROTOCOL_VERSION, version: row.config_version, config: row.desired_config }),
    { retain: true },
  )
}
