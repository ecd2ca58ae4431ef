import type { TestHub } from '../../../hub/test/helpers/test-hub.ts'
import { enrolledAgent, type TestAgent } from './agent-harness.ts'
import { waitUntil } from './wait.ts'

/**
 * A hub's site with one enrolled agent, started and online: what most end-to-end tests begin with.
 * `addCamera` assigns a camera to the agent and waits until the agent has it.
 */
export interface TestSite {
  agent: TestAgent
  token: string
  siteId: string
  addCamera(body: {
    name: string
    streams: unknown[]
    recording?: { enabled: boolean; retentionDays: number }
    analytics?: Record<string, unknown>
  }): Promise<string>
}

export async function siteWithAgent(
  t: TestHub,
  agentSettings: Record<string, unknown> = {},
  options: { heartbeatSeconds?: number } = {},
): Promise<TestSite> {
  const agent = await enrolledAgent(t, agentSettings)
  const token = await t.adminToken()
  const siteId = (await t.request('GET', `/api/v1/agents/${agent.agentId}`, { token })).body.siteId as string
  if (options.heartbeatSeconds)
    await t.request('PUT', `/api/v1/agents/${agent.agentId}/config`, {
      token,
      body: { config: { heartbeatSeconds: options.heartbeatSeconds } },
    })
  agent.start()
  await waitUntil(
    async () =>
      (await t.request('GET', `/api/v1/agents/${agent.agentId}`, { token })).body.status === 'online',
    20_000,
    'the agent online',
  )
  return {
    agent,
    token,
    siteId,
    async addCamera(body) {
      const res = await t.request('POST', '/api/v1/cameras', {
        token,
        body: { siteId, agentId: agent.agentId, recording: { enabled: true, retentionDays: 1 }, ...body },
      })
      if (res.status !== 201) throw new Error(`camera: ${res.text}`)
      const id = res.body.id as string
      await waitUntil(
        () => agent.agent?.cameras.camera(id) !== undefined,
        20_000,
        `camera ${body.name} on the agent`,
      )
      return id
    },
  }
}
