/**
 * `npm start`: the whole system on embedded defaults, for a first look and for development: the
 * hub (embedded PostgreSQL and MQTT broker, data in ./data/hub) and one demo agent (./data/agent),
 * enrolled automatically into a "Demo" site of the system tenant on first start. Simulated cameras
 * join here when the media pipeline lands.
 */
import { randomUUID } from 'node:crypto'
import pino from 'pino'
import {
  EdgeAgent,
  enroll,
  hasCredentials,
  loadAgentSettings,
  readCredentials,
} from '../edge-agent/src/index.ts'
import { newEnrollmentCode } from '../hub/src/agents/enrollment.ts'
import { serveHub } from '../hub/src/cli/serve.ts'
import { ConfigError, loadConfig } from '../hub/src/config/config.ts'
import type { HubContext } from '../hub/src/hub-context.ts'

/** A one-time code for the demo agent, in site "Demo" (or the tenant's only site). */
async function demoEnrollment(hub: HubContext): Promise<{ code: string; site: string }> {
  const { code, hash } = newEnrollmentCode()
  const site = await hub.db.withSystem(async (tx) => {
    const sites: { id: string; name: string }[] = await tx.execute(
      `select id, name from sites where tenant_id = ? order by (name = 'Demo') desc, created_at limit 1`,
      [hub.systemTenantId],
    )
    let chosen = sites[0]
    if (!chosen) {
      chosen = { id: randomUUID(), name: 'Demo' }
      await tx.execute('insert into sites (id, tenant_id, name) values (?, ?, ?)', [
        chosen.id,
        hub.systemTenantId,
        chosen.name,
      ])
    }
    await tx.execute(
      `insert into agent_enrollments (id, tenant_id, site_id, code_hash, expires_at)
       values (?, ?, ?, ?, now() + interval '10 minutes')`,
      [randomUUID(), hub.systemTenantId, chosen.id, hash],
    )
    return chosen
  })
  return { code, site: site.name }
}

try {
  // The demo talks to a person: warnings and the banner, not every request, unless asked for.
  const quiet = { ...process.env }
  quiet.VMS_LOG_LEVEL ||= 'warn'
  quiet.VMS_AGENT_LOG_LEVEL ||= 'warn'
  const config = loadConfig(quiet)
  const settings = loadAgentSettings(quiet)
  let agent: EdgeAgent | undefined
  const hub = await serveHub(config, [async () => agent?.stop()])
  const dir = settings.VMS_AGENT_DATA_DIR
  const known = hasCredentials(dir) && (await hub.context.agents.directory.get(readCredentials(dir).agentId))
  if (!known) {
    const { code, site } = await demoEnrollment(hub.context)
    await enroll({ hubUrl: hub.url, code, dataDir: dir, name: 'Demo agent', force: true })
    process.stderr.write(`Demo agent enrolled into site "${site}" (credentials in ${dir}).\n`)
  }
  agent = new EdgeAgent(
    settings,
    pino({ level: settings.VMS_AGENT_LOG_LEVEL, base: { service: 'ts-vms-agent' } }),
  )
  agent.start()
  process.stderr.write(`Demo agent ${agent.agentId} running; it reports to the hub every 10 s.\n\n`)
} catch (err) {
  console.error(
    err instanceof ConfigError
      ? err.message
      : `start failed: ${err instanceof Error ? err.message : String(err)}`,
  )
  process.exit(1)
}
