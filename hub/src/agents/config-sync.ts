import {
  type AgentConfig,
  type AgentModel,
  ANALYTICS_DEFAULTS,
  agentConfig,
  downTopic,
  PROTOCOL_VERSION,
  type SecretBox,
} from '@ts-vms/shared'
import { cameraForAgent } from '../cameras/camera-streams.ts'
import type { Database, Tx } from '../db/database.ts'
import { type Camera, CameraSchema } from '../db/entities.ts'
import { locksForAgent } from '../evidence/lock-store.ts'
import type { AgentBus } from '../mqtt/agent-bus.ts'

/**
 * An agent's desired configuration is its settings (the `desired_config` column, edited with
 * PUT /api/v1/agents/:id/config) plus the cameras assigned to it (the cameras table). Any change
 * to either bumps `config_version`; the configuration is assembled when it is published, with the
 * camera passwords resealed for that agent.
 *
 * Only passwords given for this agent are resealed (`cameraForAgent`): each stored password is
 * sealed for the agent the camera had when someone typed it, and a move to another agent needs it
 * typed again (routes/cameras.ts). An agent's configuration key is known to whoever enrolled it, so
 * resealing a password for an agent is disclosing it to them; a camera that reached an agent by any
 * other path arrives without its passwords. A new agent has a fresh id no camera refers to.
 *
 * Evidence locks in force on the agent's recordings (evidence/lock-store.ts) travel in it too: a
 * lock made or removed bumps the version of the agents it concerns.
 *
 * It flows down retained on `down/config`, so an agent gets the latest version whenever it
 * (re)subscribes, and again each time it comes online.
 */
export async function desiredConfig(
  tx: Tx,
  box: SecretBox,
  agentId: string,
  settings: Record<string, unknown>,
): Promise<AgentConfig> {
  const cameras: Camera[] = await tx.find(CameraSchema, { agentId }, { orderBy: { name: 'asc', id: 'asc' } })
  // Evidence locks come from the hub's lock store only, never from the settings someone PUT.
  const { evidenceLocks: _ignored, ...rest } = settings
  const locks = await locksForAgent(tx, agentId)
  return agentConfig.parse({
    ...rest,
    cameras: cameras.map((c) => cameraForAgent(box, agentId, c)),
    models: await modelsForAgent(tx, cameras),
    // Only when there are any: a configuration without locks stays what it was before locks.
    ...(locks.length > 0 ? { evidenceLocks: locks } : {}),
  })
}

/**
 * The uploaded models the cameras name (enabled or not, so turning analytics on finds the model
 * already there), without their bytes: the agent downloads each one it lacks and checks its
 * SHA-256. `default` is the agent's own. A camera change that names another model bumps the
 * agent's version (routes/cameras.ts); a model no camera names can be deleted, and one cannot be
 * replaced under an id in use, so a model change never alters a published configuration alone.
 */
async function modelsForAgent(tx: Tx, cameras: readonly Camera[]): Promise<AgentModel[]> {
  const ids = [
    ...new Set(
      cameras
        .map((c) => c.analytics?.model)
        .filter((m): m is string => Boolean(m) && m !== ANALYTICS_DEFAULTS.model),
    ),
  ]
  const tenantId = cameras[0]?.tenantId
  if (ids.length === 0 || !tenantId) return []
  const rows: (Omit<AgentModel, 'bytes'> & { bytes: number | string })[] = await tx.execute(
    `select id, format, labels, sha256, bytes from analytics_models
     where tenant_id = ? and id in (${ids.map(() => '?').join(', ')}) order by id`,
    [tenantId, ...ids],
  )
  // The protocol carries at most 32 (a site runs a handful): beyond, the cameras naming the rest
  // show "not installed" in their status rather than the whole configuration failing to publish.
  return rows.slice(0, 32).map((r) => ({ ...r, bytes: Number(r.bytes) }))
}

/** The configuration as users may see it: no sealed secrets. */
export function redactConfig(config: AgentConfig): AgentConfig {
  return {
    ...config,
    cameras: config.cameras.map((c) => ({
      ...c,
      streams: c.streams.map(({ passwordSealed: _sealed, ...s }) => s),
      ...(c.device
        ? { device: (({ passwordSealed: _sealed, ...d }) => d)(c.device) as typeof c.device }
        : {}),
    })),
  }
}

/** Marks an agent's configuration changed (call inside the transaction that changed it). */
export async function bumpConfigVersion(tx: Tx, agentId: string): Promise<void> {
  await tx.execute('update agents set config_version = config_version + 1, updated_at = now() where id = ?', [
    agentId,
  ])
}

export async function publishDesiredConfig(
  db: Database,
  bus: AgentBus,
  box: SecretBox,
  agentId: string,
): Promise<void> {
  const message = await db.withSystem(async (tx) => {
    const rows: { desired_config: Record<string, unknown>; config_version: number }[] = await tx.execute(
      'select desired_config, config_version from agents where id = ? and revoked_at is null',
      [agentId],
    )
    const row = rows[0]
    if (!row) return undefined
    return {
      v: PROTOCOL_VERSION,
      version: row.config_version,
      config: await desiredConfig(tx, box, agentId, row.desired_config),
    }
  })
  if (!message) return
  await bus.publish(downTopic(agentId, 'config'), JSON.stringify(message), { retain: true })
}
