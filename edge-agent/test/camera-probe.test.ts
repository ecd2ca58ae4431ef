import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestHub, type TestHub, userWithRole } from '../../hub/test/helpers/test-hub.ts'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'
import { NO_FFMPEG, StreamProbe } from '../src/cameras/stream-probe.ts'
import { freePort } from './helpers/agent-harness.ts'
import { siteWithAgent, type TestSite } from './helpers/site.ts'
import { waitUntil } from './helpers/wait.ts'

/**
 * "Test stream" end to end: a real hub, a real agent and the camera simulator. The hub asks the
 * camera's agent (`camera.probe`); the agent borrows the stream (the recorder's session, or one
 * opened on demand and released after), reads codec, size and profile from the parameter sets,
 * times two seconds of frames and decodes a keyframe to a JPEG with ffmpeg. Permissions, bad input
 * and unreachable agents are refused the way the other camera routes refuse them.
 */
const FFMPEG = existsSync('/usr/bin/ffmpeg')

let t: TestHub
let site: TestSite
let sim: CameraSimulator
let token: string
let door: string
let yard: string

/** A JPEG's picture size from its start-of-frame marker. */
function jpegSize(jpeg: Buffer): { width: number; height: number } | undefined {
  let i = 2
  while (i + 9 < jpeg.length) {
    if (jpeg[i] !== 0xff) return undefined
    const marker = jpeg[i + 1] as number
    const length = jpeg.readUInt16BE(i + 2)
    if (marker >= 0xc0 && marker <= 0xc3)
      return { height: jpeg.readUInt16BE(i + 5), width: jpeg.readUInt16BE(i + 7) }
    i += 2 + length
  }
  return undefined
}

const testStream = (camera: string, body: unknown, as = token) =>
  t.request('POST', `/api/v1/cameras/${camera}/test-stream`, { token: as, body })

beforeAll(async () => {
  sim = await CameraSimulator.start({
    streams: [
      { name: 'door', codec: 'h264' },
      { name: 'door-sub', codec: 'h264', fps: 10 },
      { name: 'yard', codec: 'h265' },
    ],
  })
  t = await startTestHub({ VMS_MQTT_PORT: await freePort() }, { systemLicense: true })
  site = await siteWithAgent(t, {
    VMS_AGENT_RECONNECT_MAX_MS: 1000,
    VMS_AGENT_CAMERA_TIMEOUT_MS: 2000,
    VMS_AGENT_MIN_FREE_BYTES: 0,
    VMS_AGENT_ON_DEMAND_LINGER_MS: 200,
    VMS_AGENT_LIVE_STREAMS: 'on-demand', // what these tests watch open and close
  })
  token = site.token
  door = await site.addCamera({
    name: 'Door',
    streams: [
      { role: 'main', url: sim.url('door') },
      { role: 'sub', url: sim.url('door-sub') },
    ],
  })
  yard = await site.addCamera({
    name: 'Yard',
    streams: [{ role: 'main', url: sim.url('yard') }],
    recording: { enabled: false, retentionDays: 1 },
  })
}, 120_000)

afterAll(async () => {
  await site?.agent.cleanup()
  await t?.close()
  await sim?.close()
})

describe('test stream (camera.probe)', () => {
  it("reports the recorded main stream's codec, size, frame rate and a still frame", async () => {
    const res = await testStream(door, {})
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({
      stream: 'main',
      codec: 'h264',
      width: 640,
      height: 360,
      profile: 'Main',
    })
    // The simulator sends 15 fps; a wide band, as timing on a busy machine varies.
    expect(res.body.fps).toBeGreaterThanOrEqual(5)
    expect(res.body.fps).toBeLessThanOrEqual(60)
    expect(res.body.bitrateKbps).toBeGreaterThan(0)
    if (FFMPEG) {
      expect(res.body.still.contentType).toBe('image/jpeg')
      const jpeg = Buffer.from(res.body.still.base64, 'base64')
      expect(jpeg.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]))
      expect(jpegSize(jpeg)).toEqual({ width: 640, height: 360 })
      expect(res.body.stillError).toBeUndefined()
    }

    // Audited with what the stream is, never the picture.
    const audit = await t.request('GET', `/api/v1/audit?action=camera.test_stream&target=${door}`, { token })
    expect(audit.body.total).toBe(1)
    expect(audit.body.items[0].details).toMatchObject({ stream: 'main', codec: 'h264', width: 640 })
    if (FFMPEG) expect(audit.text).not.toContain(res.body.still.base64.slice(0, 64))
  })

  it('tests a sub stream on demand and lets it go after', async () => {
    const res = await testStream(door, { stream: 'sub' })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({ stream: 'sub', codec: 'h264', width: 640, height: 360 })
    expect(res.body.fps).toBeGreaterThanOrEqual(3)
    expect(res.body.fps).toBeLessThanOrEqual(60)
    if (FFMPEG)
      expect(Buffer.from(res.body.still.base64, 'base64').subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]))
    // The session opened for the test closes once the lease is released (after a short linger).
    await waitUntil(
      () => (site.agent.agent?.cameras.onDemandStreams.length ?? 1) === 0,
      20_000,
      'the on-demand stream closed',
    )
  })

  it('reads H.265 too: its size and profile from the SPS, a still decoded from an IRAP picture', async () => {
    const res = await testStream(yard, { stream: 'main' })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({ stream: 'main', codec: 'h265', profile: 'Main' })
    expect(res.body.width).toBeGreaterThan(0)
    expect(res.body.height).toBeGreaterThan(0)
    if (FFMPEG) {
      const jpeg = Buffer.from(res.body.still.base64, 'base64')
      expect(jpeg.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]))
      expect(jpegSize(jpeg)?.width).toBeLessThanOrEqual(640)
    }
  })

  it('answers without a still, and says why, when the agent has no ffmpeg', async () => {
    const cameras = site.agent.agent?.cameras
    if (!cameras) throw new Error('the agent is not running')
    const probe = new StreamProbe({
      cameras,
      logger: pino({ level: 'silent' }),
      respond: async () => {},
      ffmpeg: undefined,
      measureMs: 500,
    })
    const result = await probe.probe({
      v: 1,
      id: randomUUID(),
      op: 'camera.probe',
      deadline: new Date(Date.now() + 15_000).toISOString(),
      cameraId: door,
      stream: 'main',
    })
    expect(result).toMatchObject({
      codec: 'h264',
      width: 640,
      height: 360,
      still: null,
      stillError: NO_FFMPEG,
    })

    // The agent's own refusals: a camera it does not have, a stream that sends nothing in time.
    const ask = (cameraId: string, stream: 'main' | 'sub', ms: number) =>
      probe.probe({
        v: 1,
        id: randomUUID(),
        op: 'camera.probe',
        deadline: new Date(Date.now() + ms).toISOString(),
        cameraId,
        stream,
      })
    await expect(ask(randomUUID(), 'main', 15_000)).rejects.toMatchObject({
      status: 404,
      code: 'camera_unknown',
    })
    await expect(ask(yard, 'sub', 15_000)).rejects.toMatchObject({ status: 404, code: 'stream_unknown' })
    sim.fault('door-sub', 'refuse', 10_000)
    await expect(ask(door, 'sub', 3000)).rejects.toMatchObject({ status: 503, code: 'camera_unavailable' })
  })

  it('refuses who may not manage the camera, unknown cameras and streams, and bad bodies', async () => {
    const viewer = await userWithRole(t, 'system', token, 'probe-viewer', 'viewer', {
      type: 'site',
      id: site.siteId,
    })
    const denied = await testStream(door, {}, viewer.token)
    expect(denied.status, denied.text).toBe(403)
    // A camera the user cannot see is not there at all.
    const yardOperator = await userWithRole(t, 'system', token, 'probe-yard-operator', 'operator', {
      type: 'camera',
      id: yard,
    })
    const hidden = await testStream(door, {}, yardOperator.token)
    expect(hidden.status, hidden.text).toBe(404)

    expect((await testStream(randomUUID(), {})).status).toBe(404)
    expect((await testStream('not-a-uuid', {})).status).toBe(404)
    const noSub = await testStream(yard, { stream: 'sub' })
    expect(noSub.status, noSub.text).toBe(404)
    expect(noSub.body.error.code).toBe('stream_unknown')

    for (const body of [
      { stream: 'x' },
      { stream: '<script>alert(1)</script>\u0000\u202e' },
      { stream: 'main', url: 'rtsp://evil/' },
      { stream: 1 },
    ]) {
      const bad = await testStream(door, body)
      expect(bad.status, JSON.stringify(body)).toBe(400)
      expect(bad.text).not.toContain('<script>')
    }

    // A camera no agent serves cannot be tested.
    const loose = await t.request('POST', '/api/v1/cameras', {
      token,
      body: { siteId: site.siteId, name: 'Loose', streams: [{ role: 'main', url: sim.url('door') }] },
    })
    expect(loose.status, loose.text).toBe(201)
    const unassigned = await testStream(loose.body.id, {})
    expect(unassigned.status, unassigned.text).toBe(409)
    expect(unassigned.body.error.code).toBe('camera_unassigned')
  })

  it('is in the OpenAPI document, with its body and answer', async () => {
    const doc = (await t.request('GET', '/api/v1/openapi.json', { token })).body
    const route = doc.paths['/api/v1/cameras/{id}/test-stream'].post
    expect(route.requestBody.content['application/json'].schema.properties.stream.enum).toEqual([
      'main',
      'sub',
    ])
    expect(route.responses['200'].content['application/json'].schema.properties.still).toBeTruthy()
  })

  it('answers 503 while the agent is away', async () => {
    await site.agent.stop()
    await waitUntil(
      async () =>
        (await t.request('GET', `/api/v1/agents/${site.agent.agentId}`, { token })).body.status === 'offline',
      20_000,
      'the agent offline',
    )
    const res = await testStream(door, {})
    expect(res.status, res.text).toBe(503)
    expect(res.body.error.code).toBe('agent_offline')
  })
})
