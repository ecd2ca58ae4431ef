import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTenantWithAdmin, startTestHub, type TestHub, userWithRole } from '../helpers/test-hub.ts'

/**
 * Agents serve many cameras; a user may see only some of them. What the hub shows about an agent
 * (its configuration, its health, its events) must not tell a camera-scoped user about the other
 * cameras of that agent (issue 10, item 4).
 */
let t: TestHub
let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
const ids: Record<string, string> = {}
const tokens: Record<string, string> = {}

const streamHealth = (role: 'main' | 'sub') => ({
  role,
  state: 'streaming',
  bitrateBps: 1000,
  fps: 25,
  lostPackets: 0,
  reconnects: 0,
  recording: true,
})

async function enroll(siteId: string): Promise<string> {
  const code = await t.request('POST', `/api/v1/sites/${siteId}/enrollments`, { token: acme.token })
  expect(code.status, code.text).toBe(201)
  const res = await t.request('POST', '/api/v1/enroll', { body: { code: code.body.code, name: 'agent' } })
  expect(res.status, res.text).toBe(201)
  return res.body.agentId
}

async function userWith(username: string, role: string, scope: { type: string; id?: string }) {
  tokens[username] = (await userWithRole(t, 'acme', acme.token, username, role, scope)).token
}

async function event(agentId: string, siteId: string, cameraId: string | null, seq: number, type: string) {
  await t.db.adminQuery(
    `insert into events (tenant_id, agent_id, site_id, camera_id, seq, type, time, data)
     values ($1, $2, $3, $4, $5, $6, now(), $7::jsonb)`,
    [acme.tenantId, agentId, siteId, cameraId, seq, type, JSON.stringify({ note: `${type} ${seq}` })],
  )
}

beforeAll(async () => {
  t = await startTestHub()
  acme = await createTenantWithAdmin(t, 'acme')
  const token = acme.token
  for (const name of ['North', 'South'])
    ids[name] = (await t.request('POST', '/api/v1/sites', { token, body: { name } })).body.id
  ids.agent = await enroll(ids.North as string)
  ids.southAgent = await enroll(ids.South as string)
  for (const name of ['Door', 'Till']) {
    const res = await t.request('POST', '/api/v1/cameras', {
      token,
      body: {
        name,
        siteId: ids.North,
        agentId: ids.agent,
        streams: [
          {
            role: 'main',
            url: `rtsp://10.0.0.1/${name}-main`,
            username: `${name}-user`,
            password: 'Pw-123456',
          },
        ],
      },
    })
    expect(res.status, res.text).toBe(201)
    ids[name] = res.body.id
  }
  // The agent's last heartbeat and state, as ingest stores them.
  await t.db.adminQuery(
    `update agents set last_health = $1::jsonb, reported_state = $2::jsonb, status = 'online' where id = $3`,
    [
      JSON.stringify({
        uptimeSeconds: 5,
        version: '0.1.0',
        outbox: { depth: 0, bytes: 0, full: false },
        configVersion: 1,
        cameras: [
          { id: ids.Door, streams: [streamHealth('main')] },
          { id: ids.Till, streams: [streamHealth('main')] },
        ],
        at: new Date().toISOString(),
      }),
      JSON.stringify({
        configVersion: 1,
        configError: `camera ${ids.Till}: rtsp://10.0.0.1/Till-main refused`,
      }),
      ids.agent,
    ],
  )
  await event(ids.agent as string, ids.North as string, null, 1, 'agent.test')
  await event(ids.agent as string, ids.North as string, ids.Door as string, 2, 'motion')
  await event(ids.agent as string, ids.North as string, ids.Till as string, 3, 'motion')
  // An agent of another site naming this camera: not this camera's site, not its history.
  await event(ids.southAgent as string, ids.South as string, ids.Door as string, 1, 'motion')

  await userWith('door-viewer', 'viewer', { type: 'camera', id: ids.Door as string })
  await userWith('north-viewer', 'viewer', { type: 'site', id: ids.North as string })
  await userWith('north-manager', 'site-manager', { type: 'site', id: ids.North as string })
}, 60_000)

afterAll(async () => {
  await t?.close()
})

const healthCameras = (agent: { health: { cameras?: { id: string }[] } | null }) =>
  (agent.health?.cameras ?? []).map((c) => c.id).sort()

describe('agent configuration', () => {
  it('needs agent.manage: a camera-scoped or site viewer is refused, a site-manager reads it', async () => {
    for (const user of ['door-viewer', 'north-viewer']) {
      const get = await t.request('GET', `/api/v1/agents/${ids.agent}/config`, { token: tokens[user] })
      expect(get.status, `${user}: ${get.text}`).toBe(403)
      expect(get.text).not.toContain('Till')
      const put = await t.request('PUT', `/api/v1/agents/${ids.agent}/config`, {
        token: tokens[user],
        body: { config: { heartbeatSeconds: 5 } },
      })
      expect(put.status, user).toBe(403)
    }
    const ok = await t.request('GET', `/api/v1/agents/${ids.agent}/config`, {
      token: tokens['north-manager'],
    })
    expect(ok.status, ok.text).toBe(200)
    expect(ok.body.config.cameras.map((c: { name: string }) => c.name)).toEqual(['Door', 'Till'])
    expect(ok.text).not.toContain('passwordSealed')
  })
})

describe('agent lists, detail and health', () => {
  it("show a camera-scoped viewer only that camera's health", async () => {
    const token = tokens['door-viewer']
    const list = await t.request('GET', '/api/v1/agents', { token })
    expect(list.status).toBe(200)
    const listed = list.body.items.find((a: { id: string }) => a.id === ids.agent)
    expect(healthCameras(listed)).toEqual([ids.Door])
    const one = await t.request('GET', `/api/v1/agents/${ids.agent}`, { token })
    expect(one.status).toBe(200)
    expect(healthCameras(one.body)).toEqual([ids.Door])
    // The agent's own health stays; a configuration error may name any camera, so it does not.
    expect(one.body.health).toMatchObject({ version: '0.1.0', outbox: { full: false } })
    expect(one.body.reportedState).toEqual({ configVersion: 1 })
    for (const res of [list, one]) {
      expect(res.text).not.toContain(ids.Till)
      expect(res.text).not.toContain('Till-main')
    }
  })

  it('show whoever sees the whole site every camera', async () => {
    for (const user of ['north-viewer', 'north-manager']) {
      const one = await t.request('GET', `/api/v1/agents/${ids.agent}`, { token: tokens[user] })
      expect(healthCameras(one.body), user).toEqual([ids.Door, ids.Till].sort())
      expect(one.body.reportedState.configError, user).toContain(ids.Till)
      const list = await t.request('GET', '/api/v1/agents', { token: tokens[user] })
      const listed = list.body.items.find((a: { id: string }) => a.id === ids.agent)
      expect(healthCameras(listed), user).toEqual([ids.Door, ids.Till].sort())
    }
    const admin = await t.request('GET', `/api/v1/agents/${ids.agent}`, { token: acme.token })
    expect(healthCameras(admin.body)).toEqual([ids.Door, ids.Till].sort())
  })
})

describe('events', () => {
  const seen = async (user: string, query: string) => {
    const res = await t.request('GET', `/api/v1/events?${query}`, { token: tokens[user] })
    expect(res.status, res.text).toBe(200)
    return res.body.items.map((e: { agentId: string; cameraId: string | null; type: string }) => [
      e.agentId === ids.agent ? 'agent' : 'south-agent',
      e.cameraId === ids.Door ? 'Door' : e.cameraId === ids.Till ? 'Till' : null,
      e.type,
    ])
  }

  it("show a camera-scoped viewer only that camera's events from its own site", async () => {
    expect(await seen('door-viewer', `agentId=${ids.agent}`)).toEqual([['agent', 'Door', 'motion']])
    expect(await seen('door-viewer', `cameraId=${ids.Till}`)).toEqual([])
    expect(await seen('door-viewer', '')).toEqual([['agent', 'Door', 'motion']])
  })

  it('show a site viewer the whole site', async () => {
    expect((await seen('north-viewer', `agentId=${ids.agent}`)).sort()).toEqual(
      [
        ['agent', null, 'agent.test'],
        ['agent', 'Door', 'motion'],
        ['agent', 'Till', 'motion'],
      ].sort(),
    )
  })
})
