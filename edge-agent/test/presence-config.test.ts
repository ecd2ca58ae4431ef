import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestHub, type TestHub } from '../../hub/test/helpers/test-hub.ts'
import { enrolledAgent, freePort, type TestAgent } from './helpers/agent-harness.ts'

let t: TestHub
let a: TestAgent
let token: string

beforeAll(async () => {
  t = await startTestHub({ VMS_MQTT_PORT: await freePort() }, { systemLicense: true })
  a = await enrolledAgent(t)
  token = await t.adminToken()
})
afterAll(async () => {
  await a?.cleanup()
  await t?.close()
})

const view = async () => (await t.request('GET', `/api/v1/agents/${a.agentId}`, { token })).body
const eventTypes = async () =>
  (await t.request('GET', `/api/v1/events?agentId=${a.agentId}&limit=100`, { token })).body.items.map(
    (e: { type: string }) => e.type,
  )

describe('presence, health and configuration', () => {
  it('shows the agent online with its health, and records the transition', async () => {
    a.start()
    await expect.poll(async () => (await view()).status, { timeout: 20_000 }).toBe('online')
    await expect.poll(async () => (await view()).health?.outbox, { timeout: 20_000 }).toBeDefined()
    const v = await view()
    expect(v.health).toMatchObject({
      version: '0.1.0',
      outbox: { full: false },
      disk: { freeBytes: expect.any(Number) },
    })
    expect(v.lastSeenAt).not.toBeNull()
    expect(await eventTypes()).toContain('agent.online')
    const audit = await t.request('GET', `/api/v1/audit?action=agent.online&target=${a.agentId}`, { token })
    expect(audit.body.total).toBe(1)
  })

  it('sends a new desired configuration down; the agent applies, persists and reports it', async () => {
    const put = await t.request('PUT', `/api/v1/agents/${a.agentId}/config`, {
      token,
      body: { config: { heartbeatSeconds: 3, cameras: [] } },
    })
    expect(put.status).toBe(200)
    const version = put.body.version
    await expect.poll(async () => (await view()).appliedConfigVersion, { timeout: 20_000 }).toBe(version)
    expect(a.agent?.config).toEqual({ version, config: { heartbeatSeconds: 3, cameras: [], models: [] } })
    const cfg = await t.request('GET', `/api/v1/agents/${a.agentId}/config`, { token })
    expect(cfg.body).toEqual({
      version,
      config: { heartbeatSeconds: 3, cameras: [], models: [] },
      appliedVersion: version,
    })
    // The agent's own audit record reaches the tenant's chain.
    const applied = async () =>
      (await t.request('GET', '/api/v1/audit?action=agent.config.apply', { token })).body.items.map(
        (e: { details: { to: number }; actor: { type: string } }) => [e.actor.type, e.details.to],
      )
    await expect.poll(applied, { timeout: 20_000 }).toContainEqual(['agent', version])
    const bad = await t.request('PUT', `/api/v1/agents/${a.agentId}/config`, {
      token,
      body: { config: { heartbeatSeconds: 0 } },
    })
    expect(bad.status).toBe(400)
  })

  it('marks the agent offline after three missed heartbeats', async () => {
    await t.db.adminQuery(`update agents set last_seen_at = now() - interval '10 seconds' where id = $1`, [
      a.agentId,
    ])
    expect(await t.hub.context.agents.presence.sweep()).toBe(1)
    expect((await view()).status).toBe('offline')
    expect(await eventTypes()).toContain('agent.offline')
    // Its next heartbeat brings it back.
    await expect.poll(async () => (await view()).status, { timeout: 20_000 }).toBe('online')
  })

  it('marks the agent offline when it disconnects, and an agent starting offline runs its last configuration', async () => {
    const applied = a.agent?.config
    await a.stop()
    await expect.poll(async () => (await view()).status, { timeout: 20_000 }).toBe('offline')
    await t.hub.close()
    const agent = a.start()
    expect(agent.config).toEqual(applied)
    expect(agent.connected).toBe(false)
    await a.stop()
    await t.restart()
  })
})
