import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTcpProxy, type TcpProxy } from '../../hub/test/helpers/tcp-proxy.ts'
import { createTestDatabase, type TestDatabase } from '../../hub/test/helpers/test-database.ts'
import { startTestHub, type TestHub } from '../../hub/test/helpers/test-hub.ts'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'
import { freePort, type TestAgent } from './helpers/agent-harness.ts'
import { watch } from './helpers/live-viewer.ts'
import { siteWithAgent } from './helpers/site.ts'
import { waitUntil } from './helpers/wait.ts'

/**
 * Live view when things around it fail: the database goes away (viewing goes on, authorised by
 * the token; the stop is audited through the disk spool) and the agent goes offline (its
 * sessions end, audited).
 */
let db: TestDatabase
let proxy: TcpProxy
let t: TestHub
let a: TestAgent
let sim: CameraSimulator
let token: string
let cameraId: string
let gateId: string

beforeAll(async () => {
  db = await createTestDatabase()
  const target = new URL(db.url)
  proxy = await startTcpProxy(target.hostname, Number(target.port))
  const viaProxy = new URL(db.url)
  viaProxy.port = String(proxy.port)
  sim = await CameraSimulator.start({
    streams: [
      { name: 'till', codec: 'h264' },
      { name: 'gate', codec: 'h265' },
    ],
  })
  t = await startTestHub(
    {
      VMS_DATABASE_URL: viaProxy.toString(),
      VMS_AUDIT_DB_TIMEOUT_MS: 1000,
      VMS_MQTT_PORT: await freePort(),
      VMS_LIVE_HOST_ADDRESSES: '127.0.0.1',
      VMS_LIVE_UPSTREAM_LINGER_MS: 0,
      VMS_LIVE_RECHECK_SECONDS: 1,
    },
    { db, systemLicense: true },
  )
  const site = await siteWithAgent(
    t,
    {
      VMS_AGENT_LIVE_HOST_ADDRESSES: '127.0.0.1',
      VMS_AGENT_MIN_FREE_BYTES: 0,
      // This agent has no transcoder: an H.265-only camera cannot be shown.
      VMS_AGENT_LIVE_TRANSCODE: false,
    },
    { heartbeatSeconds: 2 },
  )
  a = site.agent
  token = site.token
  cameraId = await site.addCamera({ name: 'Till', streams: [{ role: 'main', url: sim.url('till') }] })
  gateId = await site.addCamera({
    name: 'Gate',
    streams: [{ role: 'main', url: sim.url('gate') }],
    recording: { enabled: false, retentionDays: 1 },
  })
}, 90_000)

afterAll(async () => {
  proxy?.restore()
  await a?.cleanup()
  await t?.close()
  await proxy?.close()
  await db?.drop()
  await sim?.close()
})

const stops = async () =>
  (await t.request('GET', '/api/v1/audit?action=camera.live.stop&limit=50', { token })).body.items as {
    details: { sessionId: string; reason: string }
  }[]

describe('live view under failure', () => {
  it('refuses an H.265-only camera with the reason when the agent cannot transcode', async () => {
    const v = await watch(t, token, gateId)
    expect(v.status).toBe(422)
    expect(v.body.error).toMatchObject({
      code: 'codec_unsupported',
      message: expect.stringMatching(/H\.265/),
    })
    await v.close()
  })

  it('keeps playing while the database is away, and audits the stop through the spool', async () => {
    const v = await watch(t, token, cameraId)
    expect(v.status, JSON.stringify(v.body)).toBe(201)
    await v.receives()
    proxy.cut()
    const before = v.fanout.receivedPackets
    // Several permission re-checks fail to reach the database: the session goes on.
    await new Promise((r) => setTimeout(r, 3500))
    expect(t.hub.context.live.sessionCount).toBe(1)
    expect(v.fanout.receivedPackets).toBeGreaterThan(before + 50)
    // The viewer's own session answers from the token alone.
    const seen = await t.request('GET', `/api/v1/live/${v.body.sessionId}`, { token })
    expect(seen.status).toBe(200)
    expect((await t.request('DELETE', `/api/v1/live/${v.body.sessionId}`, { token })).status).toBe(204)
    await v.close()
    expect(t.hub.context.live.sessionCount).toBe(0)
    expect(t.hub.context.audit.spooling).toBe(true)

    proxy.restore()
    await waitUntil(() => !t.hub.context.audit.spooling, 30_000, 'the audit spool replayed')
    const stop = (await stops()).find((e) => e.details.sessionId === v.body.sessionId)
    expect(stop?.details.reason).toBe('viewer closed')
  }, 60_000)

  it('ends the sessions of an agent that goes offline', async () => {
    const v = await watch(t, token, cameraId)
    expect(v.status, JSON.stringify(v.body)).toBe(201)
    await v.receives()
    await a.stop()
    await waitUntil(() => t.hub.context.live.sessionCount === 0, 20_000, 'the session ended')
    expect(t.hub.context.live.upstreamCount).toBe(0)
    await waitUntil(
      async () => (await stops()).some((e) => e.details.sessionId === v.body.sessionId),
      10_000,
      'the stop audited',
    )
    const stop = (await stops()).find((e) => e.details.sessionId === v.body.sessionId)
    expect(stop?.details.reason).toMatch(/agent offline|upstream connection/)
    await v.close()
  }, 60_000)
})
