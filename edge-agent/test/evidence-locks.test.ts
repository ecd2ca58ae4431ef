import { existsSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestHub, type TestHub } from '../../hub/test/helpers/test-hub.ts'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'
import type { SegmentRow } from '../src/recorder/recording-index.ts'
import { enrolledAgent, freePort, type TestAgent } from './helpers/agent-harness.ts'
import { waitUntil } from './helpers/wait.ts'

/**
 * Issue 16: "a lock made while the agent is offline protects its range from retention after
 * reconnection". A real agent records the simulator; it stops; a lock is made at the hub (pending);
 * the agent comes back and applies it (applied); then a quota of one byte makes retention take
 * everything it may: the locked range survives on disk, the rest of what was recorded before is
 * gone. Removing the lock releases the range to retention.
 */
let t: TestHub
let a: TestAgent
let sim: CameraSimulator
let token: string
let cameraId: string

beforeAll(async () => {
  sim = await CameraSimulator.start({ streams: [{ name: 'till', codec: 'h264' }] })
  t = await startTestHub({ VMS_MQTT_PORT: await freePort() }, { systemLicense: true })
  a = await enrolledAgent(t, {
    VMS_AGENT_SEGMENT_SECONDS: 2,
    VMS_AGENT_RECONNECT_MAX_MS: 1000,
    VMS_AGENT_CAMERA_TIMEOUT_MS: 2000,
    VMS_AGENT_MIN_FREE_BYTES: 0,
  })
  token = await t.adminToken()
  const agent = await t.request('GET', `/api/v1/agents/${a.agentId}`, { token })
  await t.request('PUT', `/api/v1/agents/${a.agentId}/config`, {
    token,
    body: { config: { heartbeatSeconds: 2 } },
  })
  const created = await t.request('POST', '/api/v1/cameras', {
    token,
    body: {
      name: 'Till',
      siteId: agent.body.siteId,
      agentId: a.agentId,
      streams: [{ role: 'main', url: sim.url('till') }],
      recording: { enabled: true, retentionDays: 30 },
    },
  })
  expect(created.status, created.text).toBe(201)
  cameraId = created.body.id
}, 60_000)

afterAll(async () => {
  await a?.cleanup()
  await t?.close()
  await sim?.close()
})

const lockView = async (id: string) =>
  (await t.request('GET', `/api/v1/evidence-locks/${id}`, { token })).body

describe('evidence locks on a real agent', () => {
  it('a lock made while the agent is offline protects its range from retention after reconnection', async () => {
    // Record a few closed segments.
    a.start()
    const closed = () =>
      (a.agent?.index.closedSegmentsOldestFirst(cameraId) ?? []).filter((s) => s.stream === 'main')
    await waitUntil(() => closed().length >= 6, 60_000, 'six closed segments')
    const before: SegmentRow[] = closed()
    await a.stop()
    await expect
      .poll(async () => (await t.request('GET', `/api/v1/agents/${a.agentId}`, { token })).body.status, {
        timeout: 20_000,
      })
      .toBe('offline')
    expect(before.length).toBeGreaterThanOrEqual(6)
    // Lock from the middle of segment 2 to the middle of segment 3: both overlap it, and their
    // neighbours (whose ends may touch theirs by a frame) do not.
    const locked = before.slice(2, 4)
    const outside = before.filter((s) => !locked.includes(s))
    const middle = (s: SegmentRow) => Math.round((s.start_ms + s.end_ms) / 2)
    const from = new Date(middle(locked[0] as SegmentRow)).toISOString()
    const to = new Date(middle(locked[1] as SegmentRow)).toISOString()

    const made = await t.request('POST', '/api/v1/evidence-locks', {
      token,
      body: {
        cameraIds: [cameraId],
        from,
        to,
        reason: 'Incident at the till',
        until: new Date(Date.now() + 7 * 86_400_000).toISOString(),
      },
    })
    expect(made.status, made.text).toBe(201)
    expect(made.body).toMatchObject({ state: 'pending', agents: [{ agentId: a.agentId, state: 'pending' }] })
    const lockId = made.body.id as string
    expect((await lockView(lockId)).state).toBe('pending')

    // The agent returns, gets the retained configuration and applies the lock.
    a.start()
    await expect
      .poll(async () => (await lockView(lockId)).state, { timeout: 30_000, interval: 200 })
      .toBe('applied')
    expect((await lockView(lockId)).agents).toEqual([{ agentId: a.agentId, state: 'applied' }])
    const audit = async () =>
      (await t.request('GET', `/api/v1/audit?action=evidence-lock.apply&target=${lockId}`, { token })).body
        .total
    await expect.poll(audit, { timeout: 20_000 }).toBe(1)

    // Retention with a quota of one byte: everything it may take goes, the locked range stays.
    a.agent?.setRecordingQuota(1)
    await waitUntil(() => outside.every((s) => !existsSync(s.path)), 30_000, 'the unlocked segments deleted')
    for (const s of locked) {
      expect(existsSync(s.path), s.path).toBe(true)
      expect(a.agent?.index.segment(s.id)).toBeDefined()
    }
    // The heartbeat tells the hub what the locks hold (the alarm engine compares it to the quota).
    await expect
      .poll(
        async () => (await t.request('GET', `/api/v1/agents/${a.agentId}`, { token })).body.health?.recording,
        {
          timeout: 20_000,
        },
      )
      .toMatchObject({ quotaBytes: 1, locks: 1, lockedBytes: locked.reduce((n, s) => n + s.bytes, 0) })

    // Removing the lock releases the range: the next retention (before the next segment) takes it.
    const del = await t.request('DELETE', `/api/v1/evidence-locks/${lockId}`, { token })
    expect(del.status).toBe(204)
    await waitUntil(() => locked.every((s) => !existsSync(s.path)), 30_000, 'the released segments deleted')
  }, 180_000)
})
