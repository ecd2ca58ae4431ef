import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Enrolled, enrollAgentAt } from '../helpers/enrollment.ts'
import { connectFakeAgent, waitFor } from '../helpers/fake-agent.ts'
import { createTenantWithAdmin, startTestHub, type TestHub, userWithRole } from '../helpers/test-hub.ts'

/**
 * Evidence locks through the API: the exact contract, validation, permissions, tenancy and audit;
 * and, with an agent played over MQTT, the lock carried in the agent's configuration and `pending`
 * until the agent reports the version that carried it, `applied` after.
 */
let t: TestHub
let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
let globex: Awaited<ReturnType<typeof createTenantWithAdmin>>
let operator: { id: string; token: string }
let manager: { id: string; token: string }
let north: string
let south: string
let agent: Enrolled
let camNorth: string
let camNorth2: string
let camSouth: string

const HOUR = 3_600_000
const iso = (ms: number) => new Date(ms).toISOString()
const base = Date.now() - 48 * HOUR
const valid = (cameraIds: string[], extra: Record<string, unknown> = {}) => ({
  cameraIds,
  from: iso(base),
  to: iso(base + HOUR),
  reason: 'Theft at the till, case 42',
  until: iso(Date.now() + 30 * 86_400_000),
  ...extra,
})

beforeAll(async () => {
  t = await startTestHub()
  acme = await createTenantWithAdmin(t, 'acme-evidence')
  globex = await createTenantWithAdmin(t, 'globex-evidence')
  const token = acme.token
  north = (await t.request('POST', '/api/v1/sites', { token, body: { name: 'North' } })).body.id
  south = (await t.request('POST', '/api/v1/sites', { token, body: { name: 'South' } })).body.id
  agent = await enrollAgentAt(t, north, token, 'north-agent')
  const cam = async (name: string, siteId: string, agentId?: string) => {
    const r = await t.request('POST', '/api/v1/cameras', {
      token,
      body: { name, siteId, ...(agentId ? { agentId } : {}) },
    })
    expect(r.status, r.text).toBe(201)
    return r.body.id as string
  }
  camNorth = await cam('Till', north, agent.agentId)
  camNorth2 = await cam('Door', north, agent.agentId)
  camSouth = await cam('Dock', south)
  operator = await userWithRole(t, 'acme-evidence', token, 'ev-op', 'operator', { type: 'tenant' })
  manager = await userWithRole(t, 'acme-evidence', token, 'ev-north', 'site-manager', {
    type: 'site',
    id: north,
  })
})
afterAll(async () => {
  await t?.close()
})

const configVersion = async (agentId: string) =>
  Number(
    (
      (await t.db.adminQuery('select config_version from agents where id = $1', [agentId])).rows[0] as {
        config_version: number
      }
    ).config_version,
  )

describe('evidence locks API', () => {
  it('creates (cleaned, audited, pushed to the agent), reads, lists, and deletes (audited)', async () => {
    const before = await configVersion(agent.agentId)
    const made = await t.request('POST', '/api/v1/evidence-locks', {
      token: manager.token,
      body: valid([camNorth, camNorth2, camNorth], { reason: '  Theft\tat the till\u0007 ' }),
    })
    expect(made.status, made.text).toBe(201)
    const lock = made.body
    expect(Object.keys(lock).sort()).toEqual(
      [
        'id',
        'cameraIds',
        'from',
        'to',
        'reason',
        'until',
        'state',
        'agents',
        'tenantId',
        'createdBy',
        'createdAt',
      ].sort(),
    )
    expect(lock).toMatchObject({
      cameraIds: [camNorth, camNorth2],
      from: iso(base),
      to: iso(base + HOUR),
      reason: 'Theft at the till',
      state: 'pending',
      agents: [{ agentId: agent.agentId, state: 'pending' }],
      tenantId: acme.tenantId,
      createdBy: manager.id,
    })
    expect(Object.keys(lock.agents[0]).sort()).toEqual(['agentId', 'state'])
    expect(await configVersion(agent.agentId)).toBe(before + 1)

    const audit = await t.request('GET', '/api/v1/audit?action=evidence-lock.create&limit=1', {
      token: acme.token,
    })
    expect(audit.body.items[0]).toMatchObject({
      action: 'evidence-lock.create',
      target: { type: 'evidence_lock', id: lock.id },
      details: { cameraIds: [camNorth, camNorth2], reason: 'Theft at the till', agentIds: [agent.agentId] },
    })

    const got = await t.request('GET', `/api/v1/evidence-locks/${lock.id}`, { token: operator.token })
    expect(got.status, got.text).toBe(200)
    expect(got.body).toEqual(lock)

    // A lock on a camera without an agent concerns no agent: nothing to wait for.
    const south1 = await t.request('POST', '/api/v1/evidence-locks', {
      token: acme.token,
      body: valid([camSouth]),
    })
    expect(south1.status, south1.text).toBe(201)
    expect(south1.body).toMatchObject({ state: 'applied', agents: [] })

    const all = await t.request('GET', '/api/v1/evidence-locks', { token: acme.token })
    expect(all.body.total).toBe(2)
    expect(all.body.items.map((l: { id: string }) => l.id)).toEqual([south1.body.id, lock.id])
    const byCamera = await t.request('GET', `/api/v1/evidence-locks?cameraId=${camNorth2}`, {
      token: acme.token,
    })
    expect(byCamera.body.items.map((l: { id: string }) => l.id)).toEqual([lock.id])
    const pending = await t.request('GET', '/api/v1/evidence-locks?state=pending', { token: acme.token })
    expect(pending.body.items.map((l: { id: string }) => l.id)).toEqual([lock.id])
    const applied = await t.request('GET', '/api/v1/evidence-locks?state=applied&limit=1', {
      token: acme.token,
    })
    expect(applied.body).toMatchObject({ total: 1, items: [{ id: south1.body.id }] })
    // The north site manager sees only locks on cameras it sees.
    const mine = await t.request('GET', '/api/v1/evidence-locks', { token: manager.token })
    expect(mine.body.items.map((l: { id: string }) => l.id)).toEqual([lock.id])

    const del = await t.request('DELETE', `/api/v1/evidence-locks/${lock.id}`, { token: manager.token })
    expect(del.status, del.text).toBe(204)
    expect(await configVersion(agent.agentId)).toBe(before + 2)
    expect((await t.request('GET', `/api/v1/evidence-locks/${lock.id}`, { token: acme.token })).status).toBe(
      404,
    )
    const deleted = await t.request('GET', '/api/v1/audit?action=evidence-lock.delete&limit=1', {
      token: acme.token,
    })
    expect(deleted.body.items[0]).toMatchObject({
      action: 'evidence-lock.delete',
      actor: { id: manager.id },
      target: { type: 'evidence_lock', id: lock.id },
    })
    expect(
      (await t.request('DELETE', `/api/v1/evidence-locks/${south1.body.id}`, { token: acme.token })).status,
    ).toBe(204)
  })

  it('refuses invalid bodies with 400, never 500', async () => {
    const now = Date.now()
    const bad: Record<string, unknown>[] = [
      valid([]),
      valid(Array.from({ length: 65 }, () => randomUUID())),
      valid(['not-a-uuid']),
      valid([camNorth], { to: iso(base) }), // to == from
      valid([camNorth], { to: iso(base - 1) }),
      valid([camNorth], { to: iso(base + 32 * 86_400_000), until: iso(now + 60 * 86_400_000) }),
      valid([camNorth], { until: iso(now - 1000), to: iso(now - 2000), from: iso(now - 3000) }),
      valid([camNorth], { from: iso(now + HOUR), to: iso(now + 3 * HOUR), until: iso(now + 2 * HOUR) }),
      valid([camNorth], { reason: '' }),
      valid([camNorth], { reason: ' \u0000\u0007\t ' }),
      valid([camNorth], { reason: 'x'.repeat(501) }),
      valid([camNorth], { reason: 42 }),
      valid([camNorth], { from: 'yesterday' }),
      valid([camNorth], { until: '2026-13-45T99:00:00Z' }),
      valid([camNorth], { extra: true }),
      { cameraIds: camNorth },
      {},
    ]
    for (const body of bad) {
      const r = await t.request('POST', '/api/v1/evidence-locks', { token: acme.token, body })
      expect(r.status, `${JSON.stringify(body).slice(0, 200)} -> ${r.text}`).toBe(400)
    }
    const list = await t.request('GET', '/api/v1/evidence-locks?state=gone', { token: acme.token })
    expect(list.status).toBe(400)
    // NUL and lone surrogates are refused by the API as a whole (400 invalid_characters).
    for (const reason of ['a\u0000b', 'a\ud800b']) {
      const r = await t.request('POST', '/api/v1/evidence-locks', {
        token: acme.token,
        body: valid([camNorth], { reason }),
      })
      expect(r.status, r.text).toBe(400)
    }
    const hostile = await t.request('POST', '/api/v1/evidence-locks', {
      token: acme.token,
      body: valid([camNorth], { reason: "'); drop table evidence_locks; --\u202e\u0085<script>" }),
    })
    expect(hostile.status, hostile.text).toBe(201)
    expect(hostile.body.reason).toContain('drop table')
    expect(
      (await t.request('DELETE', `/api/v1/evidence-locks/${hostile.body.id}`, { token: acme.token })).status,
    ).toBe(204)
  })

  it('needs evidence.manage on every camera; hides other tenants and invisible cameras (404)', async () => {
    const op = await t.request('POST', '/api/v1/evidence-locks', {
      token: operator.token,
      body: valid([camNorth]),
    })
    expect(op.status).toBe(403)
    // The north manager cannot see the south camera at all.
    const mixed = await t.request('POST', '/api/v1/evidence-locks', {
      token: manager.token,
      body: valid([camNorth, camSouth]),
    })
    expect(mixed.status).toBe(404)
    const other = await t.request('POST', '/api/v1/evidence-locks', {
      token: globex.token,
      body: valid([camNorth]),
    })
    expect(other.status).toBe(404)

    const both = await t.request('POST', '/api/v1/evidence-locks', {
      token: acme.token,
      body: valid([camNorth, camSouth]),
    })
    expect(both.status, both.text).toBe(201)
    const id = both.body.id
    expect((await t.request('GET', `/api/v1/evidence-locks/${id}`, { token: globex.token })).status).toBe(404)
    expect((await t.request('DELETE', `/api/v1/evidence-locks/${id}`, { token: globex.token })).status).toBe(
      404,
    )
    expect((await t.request('GET', '/api/v1/evidence-locks', { token: globex.token })).body.total).toBe(0)
    // The manager sees it (one camera is theirs) but may not remove it (one is not).
    expect((await t.request('GET', `/api/v1/evidence-locks/${id}`, { token: manager.token })).status).toBe(
      200,
    )
    expect((await t.request('DELETE', `/api/v1/evidence-locks/${id}`, { token: manager.token })).status).toBe(
      403,
    )
    expect(
      (await t.request('DELETE', `/api/v1/evidence-locks/${id}`, { token: operator.token })).status,
    ).toBe(403)
    expect(
      (await t.request('DELETE', `/api/v1/evidence-locks/${randomUUID()}`, { token: acme.token })).status,
    ).toBe(404)
    expect((await t.request('DELETE', `/api/v1/evidence-locks/${id}`, { token: acme.token })).status).toBe(
      204,
    )
  })

  it('goes down in the configuration; pending until the agent reports that version, then applied', async () => {
    const made = await t.request('POST', '/api/v1/evidence-locks', {
      token: acme.token,
      body: valid([camNorth]),
    })
    expect(made.status, made.text).toBe(201)
    const lockId = made.body.id
    const version = await configVersion(agent.agentId)
    const fake = await connectFakeAgent(agent)
    try {
      const config = await waitFor(
        () => fake.configs.find((c) => c.version === version),
        `configuration ${version}`,
      )
      expect(config.config.evidenceLocks).toEqual([
        { id: lockId, cameraIds: [camNorth], from: iso(base), to: iso(base + HOUR), until: made.body.until },
      ])
      const get = async () =>
        (await t.request('GET', `/api/v1/evidence-locks/${lockId}`, { token: acme.token })).body
      expect(await get()).toMatchObject({
        state: 'pending',
        agents: [{ agentId: agent.agentId, state: 'pending' }],
      })
      // An older version applied is not enough.
      await fake.publishBatch([
        { seq: 1, type: 'state', at: iso(Date.now()), body: { configVersion: version - 1 } },
      ])
      expect((await get()).state).toBe('pending')
      await fake.publishBatch([
        { seq: 2, type: 'state', at: iso(Date.now()), body: { configVersion: version } },
      ])
      expect(await get()).toMatchObject({
        state: 'applied',
        agents: [{ agentId: agent.agentId, state: 'applied' }],
      })
      // A configuration error makes the agent's locks pending again: "applied" is never a guess.
      await fake.publishBatch([
        { seq: 3, type: 'state', at: iso(Date.now()), body: { configVersion: version, configError: 'disk' } },
      ])
      expect((await get()).state).toBe('pending')
      await fake.publishBatch([
        { seq: 4, type: 'state', at: iso(Date.now()), body: { configVersion: version } },
      ])
      expect((await get()).state).toBe('applied')

      // The agent's configuration as users read it carries the lock; removing it takes it out.
      const del = await t.request('DELETE', `/api/v1/evidence-locks/${lockId}`, { token: acme.token })
      expect(del.status).toBe(204)
      const next = await waitFor(
        () => fake.configs.find((c) => c.version === version + 1),
        `configuration ${version + 1}`,
      )
      expect(next.config.evidenceLocks).toBeUndefined()
    } finally {
      await fake.close()
    }
  })

  it('expired locks drop out of the configuration', async () => {
    const made = await t.request('POST', '/api/v1/evidence-locks', {
      token: acme.token,
      body: valid([camNorth2]),
    })
    expect(made.status).toBe(201)
    const cfg = async () =>
      (await t.request('GET', `/api/v1/agents/${agent.agentId}/config`, { token: acme.token })).body.config
    expect((await cfg()).evidenceLocks.map((l: { id: string }) => l.id)).toEqual([made.body.id])
    await t.db.adminQuery(
      `update evidence_locks set "from" = now() - interval '3 hours', "to" = now() - interval '2 hours',
         until = now() - interval '1 hour' where id = $1`,
      [made.body.id],
    )
    expect((await cfg()).evidenceLocks).toBeUndefined()
  })
})
