import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestHub, type TestHub } from '../../hub/test/helpers/test-hub.ts'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'
import { freePort } from './helpers/agent-harness.ts'
import { siteWithAgent, type TestSite } from './helpers/site.ts'
import { waitUntil } from './helpers/wait.ts'

/**
 * Fleet alarms on the real conditions (issue 16): a real agent records the camera simulator; the
 * camera is killed and comes back, the agent is stopped and started again. The hub's own
 * evaluation loop (every 200 ms here) opens and closes the alarms; the test only polls the API.
 */
let t: TestHub
let site: TestSite
let sim: CameraSimulator
let simPort: number
let doorId: string

const alarms = async (kind: string) =>
  (
    (await t.request('GET', `/api/v1/alarms?kind=${kind}&limit=50`, { token: site.token })).body.items as {
      id: string
      state: string
      cameraId: string | null
      agentId: string | null
      count: number
      details: Record<string, unknown>
    }[]
  ).filter((a) => a.state !== 'closed')

async function rule(kind: string, params: Record<string, unknown>): Promise<string> {
  const res = await t.request('POST', '/api/v1/alarm-rules', {
    token: site.token,
    body: { name: kind, kind, scope: { type: 'site', id: site.siteId }, params, priority: 1 },
  })
  expect(res.status, res.text).toBe(201)
  return res.body.id
}

beforeAll(async () => {
  sim = await CameraSimulator.start({ streams: [{ name: 'door', codec: 'h264' }] })
  simPort = sim.port
  t = await startTestHub(
    { VMS_MQTT_PORT: await freePort(), VMS_API_RATE_PER_MINUTE: 100_000, VMS_ALARM_EVAL_MS: 200 },
    { systemLicense: true },
  )
  site = await siteWithAgent(
    t,
    {
      VMS_AGENT_SEGMENT_SECONDS: 2,
      VMS_AGENT_RECONNECT_MAX_MS: 500,
      VMS_AGENT_CAMERA_TIMEOUT_MS: 2000,
      VMS_AGENT_MIN_FREE_BYTES: 0,
    },
    { heartbeatSeconds: 2 },
  )
  doorId = await site.addCamera({ name: 'Door', streams: [{ role: 'main', url: sim.url('door') }] })
  await waitUntil(
    async () =>
      (await t.request('GET', `/api/v1/cameras/${doorId}`, { token: site.token })).body.status?.streams?.[0]
        ?.state === 'streaming',
    30_000,
    'the camera streaming',
  )
}, 120_000)

afterAll(async () => {
  await site?.agent.cleanup()
  await t?.close()
  await sim?.close().catch(() => {})
})

describe('alarms on real conditions', () => {
  it('a killed camera opens camera.offline; back, it closes and its recording gap is an alarm', async () => {
    await rule('camera.offline', { seconds: 1 })
    await rule('recording.gap', { seconds: 1, quietSeconds: 600 })
    expect(await alarms('camera.offline')).toEqual([])
    await sim.close()
    await expect.poll(() => alarms('camera.offline'), { timeout: 30_000, interval: 200 }).toHaveLength(1)
    const [down] = await alarms('camera.offline')
    expect(down).toMatchObject({ cameraId: doorId, state: 'open' })
    sim = await CameraSimulator.start({ port: simPort, streams: [{ name: 'door', codec: 'h264' }] })
    await expect.poll(() => alarms('camera.offline'), { timeout: 30_000, interval: 200 }).toEqual([])
    const closed = await t.request('GET', `/api/v1/alarms/${down?.id}`, { token: site.token })
    expect(closed.body).toMatchObject({ state: 'closed', closedBy: null })
    // The recorder reported the hole in the recording when the stream came back.
    await expect.poll(() => alarms('recording.gap'), { timeout: 30_000, interval: 200 }).toHaveLength(1)
    const [gap] = await alarms('recording.gap')
    expect(gap).toMatchObject({ cameraId: doorId, count: 1 })
    expect(Number(gap?.details.lastGapMs)).toBeGreaterThan(1000)
  })

  it('evidence locks filling the recording quota open disk.full (and retention.short); removing the lock closes it', async () => {
    await rule('disk.full', { percent: 90 })
    await rule('retention.short', {})
    expect(await alarms('disk.full')).toEqual([])
    const made = await t.request('POST', '/api/v1/evidence-locks', {
      token: site.token,
      body: {
        cameraIds: [doorId],
        from: new Date(Date.now() - 3_600_000).toISOString(),
        to: new Date().toISOString(),
        reason: 'Incident at the till',
        until: new Date(Date.now() + 86_400_000).toISOString(),
      },
    })
    expect(made.status, made.text).toBe(201)
    await expect
      .poll(
        async () =>
          (await t.request('GET', `/api/v1/evidence-locks/${made.body.id}`, { token: site.token })).body
            .state,
        { timeout: 30_000, interval: 200 },
      )
      .toBe('applied')
    // The quota filled: a thousand bytes, far less than what the lock holds.
    site.agent.agent?.setRecordingQuota(1000)
    await expect.poll(() => alarms('disk.full'), { timeout: 30_000, interval: 200 }).toHaveLength(1)
    const [full] = await alarms('disk.full')
    expect(full).toMatchObject({ agentId: site.agent.agentId })
    expect(full?.details).toMatchObject({
      reason: 'evidence locks fill the recording quota',
      quotaBytes: 1000,
    })
    // The quota made retention remove recordings far younger than the camera's retention (a day).
    await expect.poll(() => alarms('retention.short'), { timeout: 30_000, interval: 200 }).toHaveLength(1)
    const [short] = await alarms('retention.short')
    expect(short).toMatchObject({ cameraId: doorId })
    expect(short?.details).toMatchObject({ retentionDays: 1 })
    expect(Number(short?.details.keptDays)).toBeLessThan(1)
    const removed = await t.request('DELETE', `/api/v1/evidence-locks/${made.body.id}`, { token: site.token })
    expect(removed.status, removed.text).toBe(204)
    await expect.poll(() => alarms('disk.full'), { timeout: 30_000, interval: 200 }).toEqual([])
  })

  it('a stopped agent opens agent.offline; started again, it closes', async () => {
    await rule('agent.offline', { seconds: 1 })
    expect(await alarms('agent.offline')).toEqual([])
    await site.agent.stop()
    await expect.poll(() => alarms('agent.offline'), { timeout: 30_000, interval: 200 }).toHaveLength(1)
    const [away] = await alarms('agent.offline')
    expect(away).toMatchObject({ agentId: site.agent.agentId, state: 'open' })
    site.agent.start()
    await expect.poll(() => alarms('agent.offline'), { timeout: 30_000, interval: 200 }).toEqual([])
  })
})
