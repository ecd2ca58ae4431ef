import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestHub, type TestHub } from '../../hub/test/helpers/test-hub.ts'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'
import { freePort } from './helpers/agent-harness.ts'
import { siteWithAgent, type TestSite } from './helpers/site.ts'
import { waitUntil } from './helpers/wait.ts'

/**
 * Health probes and metrics end to end (issue 14): a real hub, a real agent, the camera simulator.
 * A camera that does not record, with live streams on demand, has no session open: only the
 * probe (RTSP OPTIONS/DESCRIBE every second here) can tell it went away. It must reach the
 * heartbeat and the hub's events once per outage, and the agent's and the hub's metrics must show
 * the cameras. Everything waits on conditions (probe rounds, heartbeats), never on sleeps.
 */
let t: TestHub
let site: TestSite
let door: CameraSimulator
let back: CameraSimulator
let backPort: number
let doorId: string
let backId: string

const agentHealth = async () =>
  (await t.request('GET', `/api/v1/agents/${site.agent.agentId}`, { token: site.token })).body.health as {
    cameras?: {
      id: string
      probe?: { reachable: boolean; latencyMs: number | null; at: string; error?: string }
    }[]
  } | null

const probeOf = async (cameraId: string) =>
  (await agentHealth())?.cameras?.find((c) => c.id === cameraId)?.probe

const events = async (type: string, cameraId: string) =>
  (await t.request('GET', `/api/v1/events?type=${type}&cameraId=${cameraId}&limit=50`, { token: site.token }))
    .body.items as { type: string; data: Record<string, unknown> }[]

/** Waits for `rounds` more probe rounds of the agent (each sets a newer `at` on the camera). */
async function probeRounds(cameraId: string, rounds: number): Promise<void> {
  const agent = site.agent.agent
  if (!agent) throw new Error('the agent is not running')
  for (let i = 0; i < rounds; i++) {
    const before = agent.healthProbe.health(cameraId)?.at ?? ''
    await waitUntil(() => (agent.healthProbe.health(cameraId)?.at ?? '') > before, 10_000, 'a probe round')
  }
}

beforeAll(async () => {
  door = await CameraSimulator.start({ streams: [{ name: 'door', codec: 'h264' }] })
  back = await CameraSimulator.start({ streams: [{ name: 'back', codec: 'h264' }] })
  backPort = back.port
  // The test polls the API for its conditions: no rate limit in the way.
  t = await startTestHub(
    { VMS_MQTT_PORT: await freePort(), VMS_API_RATE_PER_MINUTE: 100_000 },
    { systemLicense: true },
  )
  site = await siteWithAgent(
    t,
    {
      VMS_AGENT_RECONNECT_MAX_MS: 1000,
      VMS_AGENT_CAMERA_TIMEOUT_MS: 2000,
      VMS_AGENT_MIN_FREE_BYTES: 0,
      VMS_AGENT_LIVE_STREAMS: 'on-demand',
      VMS_AGENT_PROBE_INTERVAL_SECONDS: 1,
      VMS_AGENT_METRICS_PORT: 0,
    },
    { heartbeatSeconds: 2 },
  )
  doorId = await site.addCamera({ name: 'Door "front"', streams: [{ role: 'main', url: door.url('door') }] })
  backId = await site.addCamera({
    name: 'Back',
    streams: [{ role: 'main', url: back.url('back') }],
    recording: { enabled: false, retentionDays: 1 },
  })
}, 120_000)

afterAll(async () => {
  await site?.agent.cleanup()
  await t?.close()
  await door?.close()
  await back?.close().catch(() => {}) // already closed when the outage test failed midway
})

describe('health probes', () => {
  it('reports an on-demand camera that goes away once, and when it is back', async () => {
    // Reachable while the simulator serves it, with no session held open for the probe.
    await expect
      .poll(() => probeOf(backId), { timeout: 20_000, interval: 200 })
      .toMatchObject({ reachable: true })
    expect((await probeOf(backId))?.latencyMs).toBeGreaterThanOrEqual(0)
    expect(back.sessionCount('back')).toBe(0)
    expect(site.agent.agent?.cameras.onDemandStreams).toEqual([])

    await back.close()
    await expect
      .poll(() => probeOf(backId), { timeout: 20_000, interval: 200 })
      .toMatchObject({
        reachable: false,
        latencyMs: null,
        error: expect.stringContaining('cannot connect'),
      })
    await expect
      .poll(async () => (await events('camera.offline', backId)).length, { timeout: 20_000, interval: 200 })
      .toBe(1)
    // Further failed rounds, all delivered (a heartbeat after them), raise nothing more.
    await probeRounds(backId, 3)
    const seen = site.agent.agent?.healthProbe.health(backId)?.at ?? ''
    await expect
      .poll(async () => ((await probeOf(backId))?.at ?? '') >= seen, { timeout: 20_000, interval: 200 })
      .toBe(true)
    const offline = await events('camera.offline', backId)
    expect(offline).toHaveLength(1)
    expect(offline[0]?.data).toMatchObject({
      stream: 'main',
      probe: true,
      reason: expect.stringContaining('cannot connect'),
    })
    expect(await events('camera.online', backId)).toHaveLength(0)

    back = await CameraSimulator.start({ port: backPort, streams: [{ name: 'back', codec: 'h264' }] })
    await expect
      .poll(async () => (await events('camera.online', backId)).length, { timeout: 20_000, interval: 200 })
      .toBe(1)
    await expect
      .poll(() => probeOf(backId), { timeout: 20_000, interval: 200 })
      .toMatchObject({ reachable: true })
    expect(await events('camera.offline', backId)).toHaveLength(1)
    // The recorded camera streams throughout: its pipeline speaks for it, and said nothing.
    expect(await events('camera.offline', doorId)).toHaveLength(0)
  })

  it('serves the named metrics at GET /metrics on the agent, on loopback only', async () => {
    const agent = site.agent.agent
    await waitUntil(() => agent?.metricsServer !== undefined, 10_000, 'the metrics listener')
    const server = agent?.metricsServer
    expect(server?.host).toBe('127.0.0.1')
    const base = `http://127.0.0.1:${server?.port}`
    const scrape = async () => (await fetch(`${base}/metrics`)).text()
    const door = `camera_id="${doorId}",camera_name="Door \\"front\\"",stream="main"`
    await expect
      .poll(scrape, { timeout: 20_000, interval: 200 })
      .toContain(`vms_agent_stream_up{${door},service="ts-vms-agent"} 1`)
    const text = await scrape()
    for (const name of [
      'vms_agent_stream_bitrate_bits_per_second',
      'vms_agent_stream_fps',
      'vms_agent_stream_dropped_frames_total',
      'vms_agent_stream_reconnects_total',
    ])
      expect(text).toContain(`${name}{${door}`)
    expect(text).toMatch(
      new RegExp(`vms_agent_camera_reachable\\{camera_id="${backId}",camera_name="Back"[^}]*\\} 1`),
    )
    expect(text).toMatch(
      new RegExp(`vms_agent_camera_probe_latency_seconds\\{camera_id="${backId}"[^}]*\\} [0-9.e-]+`),
    )
    expect(text).toMatch(/vms_agent_disk_free_bytes\{disk="data"[^}]*\} \d+/)
    expect(text).toMatch(/vms_agent_disk_total_bytes\{disk="recordings"[^}]*\} \d+/)
    expect(text).toMatch(/vms_agent_outbox_depth\{[^}]*\} \d+/)
    expect(text).toMatch(/vms_agent_outbox_bytes\{[^}]*\} \d+/)
    expect(text).toContain('vms_agent_process_resident_memory_bytes')
    expect((await fetch(`${base}/`)).status).toBe(404)
  })

  it("aggregates the site on the hub's /metrics, and keeps the last values when the database fails", async () => {
    const token = await t.adminToken()
    const site_ = `site="${site.siteId}"`
    const scrape = async () => {
      const res = await t.request('GET', '/metrics', { token })
      expect(res.status).toBe(200)
      return res.text
    }
    const gauge = (text: string, name: string) =>
      Number(new RegExp(`^${name}\\{[^}]*${site_}[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1])
    await expect
      .poll(async () => gauge(await scrape(), 'vms_site_cameras_streaming'), {
        timeout: 20_000,
        interval: 200,
      })
      .toBe(1)
    const text = await scrape()
    expect(gauge(text, 'vms_site_cameras')).toBe(2)
    expect(gauge(text, 'vms_site_cameras_unreachable')).toBe(0)
    expect(gauge(text, 'vms_site_agents_online')).toBe(1)
    expect(gauge(text, 'vms_site_outbox_depth')).toBeGreaterThanOrEqual(0)
    expect(gauge(text, 'vms_site_disk_free_bytes')).toBeGreaterThan(0)
    expect(gauge(text, 'vms_site_recording_bytes')).toBeGreaterThanOrEqual(0)
    expect(text).toMatch(
      new RegExp(`vms_site_agents_online\\{tenant="[0-9a-f-]{36}",${site_},site_name="[^"]+"`),
    )

    // The database down: the scrape still answers, with the previous values, and the failure is logged.
    const metrics = t.hub.context.metrics
    const source = metrics.siteSource
    metrics.siteSource = {
      query: async () => {
        throw new Error('connection refused')
      },
      logger: pino({ level: 'silent' }),
    }
    try {
      const res = await t.request('GET', '/metrics', { token })
      expect(res.status).toBe(200)
      expect(gauge(res.text, 'vms_site_cameras')).toBe(2)
      expect(gauge(res.text, 'vms_site_agents_online')).toBe(1)
    } finally {
      metrics.siteSource = source
    }
  })
})
