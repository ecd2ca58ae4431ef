import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Enrolled, enrollAgentAt } from '../helpers/enrollment.ts'
import { connectFakeAgent, type FakeAgent } from '../helpers/fake-agent.ts'
import { camera, heartbeat } from '../helpers/heartbeats.ts'
import { createTenantWithAdmin, startTestHub, type TestHub, userWithRole } from '../helpers/test-hub.ts'

/**
 * Fleet health storage (issue 17): heartbeats through the real ingest keep the latest report per
 * agent, the alarm part of it, and one downsampled history row per agent per 5 minutes (not a row
 * per camera per heartbeat); the history route shows it to whoever sees the agent, per-camera
 * figures only for the cameras the caller sees.
 */
let t: TestHub
let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
let other: Awaited<ReturnType<typeof createTenantWithAdmin>>
let enrolled: Enrolled
let agent: FakeAgent
let door: string
let till: string
let doorViewer: string
let seq = 0

const history = (token: string, query = '') =>
  t.request('GET', `/api/v1/agents/${enrolled.agentId}/health-history${query}`, { token })

beforeAll(async () => {
  t = await startTestHub()
  acme = await createTenantWithAdmin(t, 'acme-health')
  other = await createTenantWithAdmin(t, 'other-health')
  const site = (await t.request('POST', '/api/v1/sites', { token: acme.token, body: { name: 'North' } })).body
    .id
  enrolled = await enrollAgentAt(t, site, acme.token, 'north-pc')
  const made = async (name: string) => {
    const res = await t.request('POST', '/api/v1/cameras', {
      token: acme.token,
      body: {
        name,
        siteId: site,
        agentId: enrolled.agentId,
        streams: [{ role: 'main', url: `rtsp://10.0.0.1/${name}` }],
      },
    })
    expect(res.status, res.text).toBe(201)
    return res.body.id as string
  }
  door = await made('Door')
  till = await made('Till')
  doorViewer = (
    await userWithRole(t, 'acme-health', acme.token, 'door-viewer', 'viewer', { type: 'camera', id: door })
  ).token
  agent = await connectFakeAgent(enrolled)
  // Two heartbeats: both cameras streaming, then the till's stream down and the disk fuller.
  await agent.publishBatch([heartbeat(++seq, [camera(door), camera(till)])])
  await agent.publishBatch([
    heartbeat(++seq, [camera(door), camera(till, {}, { state: 'backoff', error: 'refused' })], {
      disk: { freeBytes: 100, totalBytes: 1000 },
      outbox: { depth: 7, bytes: 70, full: false },
    }),
  ])
}, 60_000)

afterAll(async () => {
  await agent?.close()
  await t?.close()
})

describe('health storage', () => {
  it('keeps one history row per agent per bucket, and the alarm part of the latest report', async () => {
    const { rows } = await t.db.adminQuery<{ n: number; samples: number }>(
      'select count(*)::int as n, max(samples)::int as samples from agent_health_history where agent_id = $1',
      [enrolled.agentId],
    )
    // Two heartbeats in one 5-minute bucket (or, at a bucket's edge, one in each).
    expect(rows[0]?.n).toBeGreaterThanOrEqual(1)
    expect((rows[0]?.n ?? 0) + (rows[0]?.samples ?? 0)).toBe(3)
    const {
      rows: [stored],
    } = await t.db.adminQuery<{ alarm_health: any; last_health: any }>(
      'select alarm_health, last_health from agents where id = $1',
      [enrolled.agentId],
    )
    expect(stored?.last_health.cameras[0].streams[0].bitrateBps).toBe(1_000_000)
    expect(stored?.alarm_health.cameras[1].streams[0]).toEqual({
      role: 'main',
      state: 'backoff',
      recording: true,
      error: 'refused',
      lastWrittenAt: expect.any(String),
    })
    expect(stored?.alarm_health.disk).toEqual({ freeBytes: 100, totalBytes: 1000 })
  })
})

describe('GET /api/v1/agents/:id/health-history', () => {
  it('gives the buckets of the last day: extremes over the bucket, the last per-camera figures', async () => {
    const res = await history(acme.token)
    expect(res.status, res.text).toBe(200)
    expect(res.body.bucketMinutes).toBe(5)
    const buckets = res.body.buckets as any[]
    expect(buckets.reduce((s, b) => s + b.samples, 0)).toBe(2)
    const last = buckets.at(-1)
    expect(last.cameras).toBe(2)
    expect(last.streamingLast).toBe(1)
    expect(Math.min(...buckets.map((b) => b.streamingMin))).toBe(1)
    expect(last.diskFreeMinBytes).toBe(100)
    expect(Math.max(...buckets.map((b) => b.outboxDepthMax))).toBe(7)
    expect(last.cameraFigures.map((c: any) => [c.cameraId, c.streaming, c.kbps])).toEqual([
      [door, 1, 1000],
      [till, 0, 0],
    ])
  })

  it("shows a camera-scoped viewer only that camera's figures", async () => {
    const res = await history(doorViewer)
    expect(res.status, res.text).toBe(200)
    const ids = new Set(
      (res.body.buckets as any[]).flatMap((b) => b.cameraFigures.map((c: any) => c.cameraId)),
    )
    expect([...ids]).toEqual([door])
    expect(res.text).not.toContain(till)
  })

  it('takes a range, refuses a bad one, and hides the agent from another tenant', async () => {
    const past = await history(acme.token, '?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z')
    expect(past.status, past.text).toBe(200)
    expect(past.body.buckets).toEqual([])
    expect((await history(acme.token, '?from=2020-01-02T00:00:00Z&to=2020-01-01T00:00:00Z')).status).toBe(400)
    expect((await history(acme.token, '?from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z')).status).toBe(400)
    expect((await history(acme.token, '?from=yesterday')).status).toBe(400)
    expect((await history(other.token)).status).toBe(404)
  })
})
