import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseKeysFile, verifyExport } from '../../hub/src/exports/export-manifest.ts'
import { startTestHub, type TestHub, USER_PASSWORD } from '../../hub/test/helpers/test-hub.ts'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'
import { enrolledAgent, freePort, type TestAgent } from './helpers/agent-harness.ts'
import { ffprobePath, probe } from './helpers/ffprobe.ts'
import { gstAvailable, startGstServer } from './helpers/gst-rtsp-server.ts'
import { waitUntil } from './helpers/wait.ts'

/**
 * Cameras end to end: the hub assigns cameras (with encrypted passwords) to an agent, the agent
 * records them from the simulator, reports their state, and serves recordings and exports back
 * through the hub, with only its own outbound connections.
 */
const CAM_PASSWORD = 'Door-Cam-Secret-9'
let t: TestHub
let a: TestAgent
let sim: CameraSimulator
let token: string
let siteId: string
let door: string
let yard: string

beforeAll(async () => {
  sim = await CameraSimulator.start({
    streams: [
      { name: 'door', codec: 'h264', audio: true, auth: { username: 'viewer', password: CAM_PASSWORD } },
      { name: 'yard', codec: 'h265' },
    ],
  })
  t = await startTestHub({ VMS_MQTT_PORT: await freePort() }, { systemLicense: true })
  a = await enrolledAgent(t, {
    VMS_AGENT_SEGMENT_SECONDS: 2,
    VMS_AGENT_RECONNECT_MAX_MS: 1000,
    VMS_AGENT_CAMERA_TIMEOUT_MS: 2000,
    VMS_AGENT_MIN_FREE_BYTES: 0,
  })
  token = await t.adminToken()
  const agent = await t.request('GET', `/api/v1/agents/${a.agentId}`, { token })
  siteId = agent.body.siteId
  await t.request('PUT', `/api/v1/agents/${a.agentId}/config`, {
    token,
    body: { config: { heartbeatSeconds: 2 } },
  })
  a.start()
  await waitUntil(
    async () => (await t.request('GET', `/api/v1/agents/${a.agentId}`, { token })).body.status === 'online',
    20_000,
    'the agent online',
  )
}, 60_000)

afterAll(async () => {
  await a?.cleanup()
  await t?.close()
  await sim?.close()
})

const camera = async (id: string) => (await t.request('GET', `/api/v1/cameras/${id}`, { token })).body

describe('cameras from the hub', () => {
  it('creates cameras with streams; passwords are encrypted at rest and never returned', async () => {
    const created = await t.request('POST', '/api/v1/cameras', {
      token,
      body: {
        name: 'Front door',
        siteId,
        agentId: a.agentId,
        streams: [{ role: 'main', url: sim.url('door'), username: 'viewer', password: CAM_PASSWORD }],
        recording: { enabled: true, retentionDays: 7 },
      },
    })
    expect(created.status, created.text).toBe(201)
    door = created.body.id
    expect(created.body).toMatchObject({
      agentId: a.agentId,
      streams: [
        { role: 'main', url: sim.url('door'), username: 'viewer', hasPassword: true, transport: 'tcp' },
      ],
      recording: { enabled: true, retentionDays: 7 },
    })
    expect(created.text).not.toContain(CAM_PASSWORD)
    const yardRes = await t.request('POST', '/api/v1/cameras', {
      token,
      body: {
        name: 'Yard',
        siteId,
        agentId: a.agentId,
        streams: [{ role: 'main', url: sim.url('yard'), transport: 'udp' }],
      },
    })
    expect(yardRes.status, yardRes.text).toBe(201)
    yard = yardRes.body.id

    // At rest on the hub: sealed, not the password.
    const rows = await t.db.adminQuery('select streams::text as s from cameras where id = $1', [door])
    const stored = (rows.rows[0] as { s: string }).s
    expect(stored).toContain('passwordSealed')
    expect(stored).not.toContain(CAM_PASSWORD)
    // Nor in what any API shows, the agent's configuration and the audit trail included.
    for (const p of [`/api/v1/cameras/${door}`, '/api/v1/cameras', `/api/v1/agents/${a.agentId}/config`]) {
      const res = await t.request('GET', p, { token })
      expect(res.status).toBe(200)
      expect(res.text).not.toContain(CAM_PASSWORD)
      expect(res.text).not.toContain('passwordSealed')
    }
    const audit = await t.request('GET', '/api/v1/audit?action=camera.create', { token })
    expect(audit.body.total).toBe(2)
    expect(audit.text).not.toContain(CAM_PASSWORD)
    expect(t.logs.text()).not.toContain(CAM_PASSWORD)
  })

  it('refuses bad streams and agents with 4xx, naming the problem', async () => {
    const bad = [
      [{ role: 'main', url: 'http://cam/stream' }],
      [{ role: 'main', url: 'rtsp://user:pw@cam/stream' }],
      [{ role: 'main', url: 'rtsp://cam/a b' }],
      [
        { role: 'main', url: 'rtsp://cam/1' },
        { role: 'main', url: 'rtsp://cam/2' },
      ],
    ]
    for (const streams of bad) {
      const res = await t.request('POST', '/api/v1/cameras', {
        token,
        body: { name: 'Bad', siteId, streams },
      })
      expect(res.status, JSON.stringify(streams)).toBe(400)
    }
    const other = await t.request('POST', '/api/v1/sites', { token, body: { name: 'Elsewhere' } })
    const wrongSite = await t.request('POST', '/api/v1/cameras', {
      token,
      body: { name: 'Far', siteId: other.body.id, agentId: a.agentId },
    })
    expect(wrongSite.status).toBe(422)
    expect(wrongSite.body.error.code).toBe('agent_not_in_site')
    // Moving a stream to another host needs its password again: it is never handed to a new host.
    const moved = await t.request('PATCH', `/api/v1/cameras/${door}`, {
      token,
      body: { streams: [{ role: 'main', url: 'rtsp://attacker.example/x' }] },
    })
    expect(moved.status).toBe(422)
    expect(moved.body.error.message).toMatch(/another host/)
  })

  it('records both cameras and reports their state in health', async () => {
    await expect
      .poll(() => a.agent?.index.closedSegmentsOldestFirst(door).length ?? 0, { timeout: 30_000 })
      .toBeGreaterThanOrEqual(2)
    await expect
      .poll(() => a.agent?.index.closedSegmentsOldestFirst(yard).length ?? 0, { timeout: 30_000 })
      .toBeGreaterThanOrEqual(2)
    await expect
      .poll(async () => (await camera(door)).status?.streams?.[0], { timeout: 20_000 })
      .toMatchObject({ role: 'main', state: 'streaming', recording: true, codec: 'h264', audio: 'aac' })
    const y = await camera(yard)
    expect(y.status).toMatchObject({ agentOnline: true })
    await expect
      .poll(async () => (await camera(yard)).status?.streams?.[0]?.codec, { timeout: 20_000 })
      .toBe('h265')
    const s = (await camera(door)).status.streams[0]
    expect(s.bitrateBps).toBeGreaterThan(0)
    expect(s.fps).toBeGreaterThan(0)
    // The agent keeps its copy of the configuration with the password still sealed.
    const saved = a.agent?.outbox.getSetting('config') ?? ''
    expect(saved).toContain('passwordSealed')
    expect(saved).not.toContain(CAM_PASSWORD)
  })

  it.skipIf(!gstAvailable)('records an independent camera (GStreamer, H.265 over UDP, Digest)', async () => {
    const gstAuth = { username: 'operator', password: 'Gst-Cam-Secret-5' }
    const gst = await startGstServer({ codec: 'h265', auth: gstAuth })
    try {
      const res = await t.request('POST', '/api/v1/cameras', {
        token,
        body: {
          name: 'Loading bay (GStreamer)',
          siteId,
          agentId: a.agentId,
          streams: [{ role: 'main', url: gst.url(), transport: 'udp', ...gstAuth }],
        },
      })
      expect(res.status, res.text).toBe(201)
      const id = res.body.id as string
      await expect
        .poll(() => a.agent?.index.closedSegmentsOldestFirst(id).length ?? 0, { timeout: 40_000 })
        .toBeGreaterThanOrEqual(2)
      await expect
        .poll(async () => (await camera(id)).status?.streams?.[0], { timeout: 20_000 })
        .toMatchObject({ state: 'streaming', recording: true, codec: 'h265' })
      if (ffprobePath)
        for (const s of a.agent?.index.closedSegmentsOldestFirst(id) ?? [])
          expect(probe(s.path)).toMatchObject({ codec: 'hevc', frames: s.frames })
      expect((await t.request('DELETE', `/api/v1/cameras/${id}`, { token })).status).toBe(204)
    } finally {
      await gst.close()
    }
  })

  it('lists recorded ranges through the hub, and audits it', async () => {
    const from = new Date(Date.now() - 10 * 60_000).toISOString()
    const to = new Date(Date.now() + 60_000).toISOString()
    const res = await t.request('GET', `/api/v1/cameras/${door}/recordings?from=${from}&to=${to}`, { token })
    expect(res.status, res.text).toBe(200)
    expect(res.body.ranges.length).toBeGreaterThanOrEqual(1)
    expect(res.body.ranges[0]).toMatchObject({
      stream: 'main',
      codec: expect.stringMatching(/^avc1\./),
      width: 640,
    })
    const audit = await t.request('GET', `/api/v1/audit?action=camera.playback&target=${door}`, { token })
    expect(audit.body.total).toBeGreaterThanOrEqual(1)
    const bad = await t.request('GET', `/api/v1/cameras/${door}/recordings?from=${to}&to=${from}`, { token })
    expect(bad.status).toBe(400)
    const notIso = await t.request('GET', `/api/v1/cameras/${door}/recordings?from=yesterday&to=${to}`, {
      token,
    })
    expect(notIso.status).toBe(400)
  })

  it.skipIf(!ffprobePath)(
    'exports a range as an MP4 that ffprobe reads, with a verifiable manifest',
    async () => {
      const segments = a.agent?.index.closedSegmentsOldestFirst(door) ?? []
      const first = segments[0] as (typeof segments)[number]
      const last = segments.at(-1) as (typeof segments)[number]
      const fromMs = first.start_ms + 500
      const toMs = last.end_ms - 200
      const url = `${t.url}/api/v1/cameras/${door}/export.mp4?from=${new Date(fromMs).toISOString()}&to=${new Date(toMs).toISOString()}`
      const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
      expect(res.status, res.status === 200 ? '' : await res.text()).toBe(200)
      expect(res.headers.get('content-type')).toBe('video/mp4')
      const body = Buffer.from(await res.arrayBuffer())
      const sha = createHash('sha256').update(body).digest('hex')
      expect(res.headers.get('x-content-sha256')).toBe(sha)
      // Signed: the manifest verifies against the hub's published keys, offline.
      expect(res.headers.get('x-vms-export-id')).toBe(res.headers.get('x-export-id'))
      const signed = await t.request(
        'GET',
        `/api/v1/exports/${res.headers.get('x-vms-export-id')}/manifest.json`,
        {
          token,
        },
      )
      expect(signed.status, signed.text).toBe(200)
      const keys = await t.request('GET', '/.well-known/export-keys.json')
      expect(
        verifyExport(signed.text, { sha256: sha, bytes: body.length }, parseKeysFile(keys.text)).ok,
      ).toBe(true)
      const file = path.join(a.dataDir, 'export.mp4')
      writeFileSync(file, body)
      const p = probe(file)
      expect(p).toMatchObject({ codec: 'h264', width: 640, height: 360 })
      // The asked range, plus at most one GOP (1 s) of lead-in to the keyframe before "from".
      expect(p.duration).toBeGreaterThan((toMs - fromMs) / 1000 - 0.15)
      expect(p.duration).toBeLessThan((toMs - fromMs) / 1000 + 1.1)
      const manifest = await t.request('GET', `/api/v1/exports/${res.headers.get('x-export-id')}`, { token })
      expect(manifest.status).toBe(200)
      expect(manifest.body).toMatchObject({
        cameraId: door,
        sha256: sha,
        bytes: body.length,
        codec: expect.any(String),
      })
      expect(Date.parse(manifest.body.start)).toBeLessThanOrEqual(fromMs)
      expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(manifest.body.sha256)
      const audit = await t.request('GET', `/api/v1/audit?action=camera.export&target=${door}`, { token })
      expect(audit.body.items[0].details).toMatchObject({ sha256: sha, bytes: body.length })
    },
  )

  it('takes uploads only from the agent asked, for a pending export', async () => {
    const creds = JSON.parse(readFileSync(path.join(a.dataDir, 'credentials.json'), 'utf8'))
    const put = (auth: string | undefined) =>
      fetch(`${t.url}/api/v1/agent/uploads/${crypto.randomUUID()}`, {
        method: 'PUT',
        headers: {
          'content-type': 'video/mp4',
          ...(auth ? { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {}),
        },
        body: Buffer.from('not a video'),
      })
    expect((await put(undefined)).status).toBe(401)
    expect((await put(`${creds.agentId}:wrong-secret`)).status).toBe(401)
    const unexpected = await put(`${creds.agentId}:${creds.secret}`)
    expect(unexpected.status).toBe(410)
  })

  it('answers 404 with a reason for a range the agent does not hold', async () => {
    const res = await t.request(
      'GET',
      `/api/v1/cameras/${door}/export.mp4?from=2020-01-01T00:00:00.000Z&to=2020-01-01T00:10:00.000Z`,
      { token },
    )
    expect(res.status).toBe(404)
    expect(res.body.error).toMatchObject({
      code: 'range_unavailable',
      message: expect.stringMatching(/older than/),
    })
  })

  it('needs camera.playback and camera.export', async () => {
    const u = await t.request('POST', '/api/v1/users', {
      token,
      body: { username: 'watcher', password: USER_PASSWORD },
    })
    await t.request('POST', `/api/v1/users/${u.body.id}/role-bindings`, {
      token,
      body: { role: 'viewer', scope: { type: 'site', id: siteId } },
    })
    const viewer = (await t.login('system', 'watcher', USER_PASSWORD)).accessToken
    const from = new Date(Date.now() - 60_000).toISOString()
    const to = new Date().toISOString()
    expect(
      (await t.request('GET', `/api/v1/cameras/${door}/recordings?from=${from}&to=${to}`, { token: viewer }))
        .status,
    ).toBe(403)
    expect(
      (await t.request('GET', `/api/v1/cameras/${door}/export.mp4?from=${from}&to=${to}`, { token: viewer }))
        .status,
    ).toBe(403)
    expect((await t.request('GET', `/api/v1/cameras/${door}/recordings?from=${from}&to=${to}`)).status).toBe(
      401,
    )
  })

  it('records a camera that drops and returns again, with the gap and offline/online events', async () => {
    sim.fault('door', 'refuse', 3000)
    sim.fault('door', 'drop')
    const events = async () =>
      (await t.request('GET', `/api/v1/events?cameraId=${door}&limit=50`, { token })).body.items as {
        type: string
        time: string
        data: Record<string, unknown>
      }[]
    await expect
      .poll(async () => (await events()).map((e) => e.type), { timeout: 30_000 })
      .toEqual(expect.arrayContaining(['camera.offline', 'camera.online', 'recording.gap']))
    // One outage, one gap: configuration changes meanwhile (cameras added and removed) did not
    // restart this camera's recording.
    const gaps = (await events()).filter((e) => e.type === 'recording.gap')
    expect(gaps).toHaveLength(1)
    const gap = gaps[0]
    expect(gap?.data).toMatchObject({ stream: 'main', durationMs: expect.any(Number) })
    // The camera refused connections for 3 s: the gap is at least that long...
    expect(gap?.data.durationMs as number).toBeGreaterThan(2000)
    // ...and no longer than the outage the agent reported, whatever the machine's speed: it starts
    // at the last frame before the camera went offline and ends at the first keyframe after it
    // came back (one a second from the simulator). Frame times are the camera's clock mapped to
    // the agent's (RTP and sender reports), events the agent's own: a second apart at most here.
    const all = await events()
    const last = (type: string) => Date.parse(all.filter((e) => e.type === type).at(-1)?.time ?? '')
    expect(Date.parse(gap?.data.from as string)).toBeLessThanOrEqual(last('camera.offline') + 1000)
    expect(Date.parse(gap?.data.to as string)).toBeLessThanOrEqual(last('camera.online') + 2000)
    const from = new Date(Date.now() - 10 * 60_000).toISOString()
    const to = new Date(Date.now() + 60_000).toISOString()
    const list = await t.request('GET', `/api/v1/cameras/${door}/recordings?from=${from}&to=${to}`, { token })
    expect(list.body.gaps.some((g: { to: string | null }) => g.to !== null)).toBe(true)
  })

  it('stops recording a camera taken off the agent, and 409s a camera with no agent', async () => {
    const res = await t.request('PATCH', `/api/v1/cameras/${yard}`, { token, body: { agentId: null } })
    expect(res.status, res.text).toBe(200)
    await expect.poll(async () => (await camera(yard)).agentId).toBeNull()
    await expect
      .poll(() => a.agent?.cameras.health().some((c) => c.id === yard), { timeout: 20_000 })
      .toBe(false)
    const from = new Date(Date.now() - 60_000).toISOString()
    const to = new Date().toISOString()
    const list = await t.request('GET', `/api/v1/cameras/${yard}/recordings?from=${from}&to=${to}`, { token })
    expect(list.status).toBe(409)
  })

  it('answers 503 while the agent is away', async () => {
    await a.stop()
    await expect
      .poll(async () => (await t.request('GET', `/api/v1/agents/${a.agentId}`, { token })).body.status, {
        timeout: 20_000,
      })
      .toBe('offline')
    const from = new Date(Date.now() - 60_000).toISOString()
    const to = new Date().toISOString()
    const res = await t.request('GET', `/api/v1/cameras/${door}/recordings?from=${from}&to=${to}`, { token })
    expect(res.status).toBe(503)
    expect(res.body.error.code).toBe('agent_offline')
  })
})
