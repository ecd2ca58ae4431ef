import { randomUUID } from 'node:crypto'
import { LiveFanout, ReceivingPeer } from '@ts-vms/shared/live'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AccessTokens } from '../../hub/src/auth/access-tokens.ts'
import { openEventStream } from '../../hub/test/helpers/event-stream.ts'
import { startTestHub, type TestHub, USER_PASSWORD, userWithRole } from '../../hub/test/helpers/test-hub.ts'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'
import { findFfmpeg } from '../src/media/ffmpeg.ts'
import { freePort, type TestAgent } from './helpers/agent-harness.ts'
import { type TestViewer, watch } from './helpers/live-viewer.ts'
import { siteWithAgent, type TestSite } from './helpers/site.ts'
import { waitUntil } from './helpers/wait.ts'

/**
 * Live view end to end, with werift standing in for the browser: the hub relays one upstream per
 * camera from the agent, the agent answers from the camera's running session (or one it opens on
 * demand), and sessions end cleanly for every reason a professional VMS must handle.
 */
const CAM_PASSWORD = 'Live-Cam-Secret-4'
let t: TestHub
let a: TestAgent
let sim: CameraSimulator
let token: string
let addCamera: TestSite['addCamera']
const cams: Record<string, string> = {}
const viewers: TestViewer[] = []

async function view(
  cameraId: string,
  mode: 'relay' | 'direct' = 'relay',
  as = token,
  stream?: 'main' | 'sub',
) {
  const v = await watch(t, as, cameraId, mode, stream)
  viewers.push(v)
  return v
}

const audit = async (action: string) =>
  (await t.request('GET', `/api/v1/audit?action=${action}&limit=200`, { token })).body.items as {
    actor: { id: string; name: string }
    target: { type: string; id: string }
    details: Record<string, unknown>
  }[]

beforeAll(async () => {
  sim = await CameraSimulator.start({
    streams: [
      { name: 'door', codec: 'h264', auth: { username: 'viewer', password: CAM_PASSWORD } },
      { name: 'yard', codec: 'h265' },
      { name: 'yard-sub', codec: 'h264' },
      { name: 'porch', codec: 'h264' },
      { name: 'porch-sub', codec: 'h264', sub: true },
    ],
  })
  t = await startTestHub(
    {
      VMS_MQTT_PORT: await freePort(),
      VMS_LIVE_HOST_ADDRESSES: '127.0.0.1',
      VMS_LIVE_UPSTREAM_LINGER_MS: 0,
      VMS_LIVE_RECHECK_SECONDS: 1,
    },
    { systemLicense: true },
  )
  const site = await siteWithAgent(
    t,
    {
      VMS_AGENT_LIVE_HOST_ADDRESSES: '127.0.0.1',
      VMS_AGENT_ON_DEMAND_LINGER_MS: 0,
      VMS_AGENT_LIVE_STREAMS: 'on-demand', // what these tests watch open and close
      VMS_AGENT_LIVE_CONNECT_TIMEOUT_MS: 3000,
      VMS_AGENT_MIN_FREE_BYTES: 0,
      VMS_AGENT_SEGMENT_SECONDS: 2,
    },
    { heartbeatSeconds: 2 },
  )
  a = site.agent
  token = site.token
  addCamera = site.addCamera
  cams.door = await addCamera({
    name: 'Door',
    streams: [{ role: 'main', url: sim.url('door'), username: 'viewer', password: CAM_PASSWORD }],
  })
  cams.yard = await addCamera({
    name: 'Yard',
    streams: [
      { role: 'main', url: sim.url('yard') },
      { role: 'sub', url: sim.url('yard-sub'), transport: 'udp' },
    ],
  })
  cams.porch = await addCamera({
    name: 'Porch',
    streams: [
      { role: 'main', url: sim.url('porch') },
      { role: 'sub', url: sim.url('porch-sub') },
    ],
    recording: { enabled: false, retentionDays: 1 },
  })
  cams.yardOnly = await addCamera({
    name: 'Yard H.265 only',
    streams: [{ role: 'main', url: sim.url('yard') }],
    recording: { enabled: false, retentionDays: 1 },
  })
}, 60_000)

afterAll(async () => {
  for (const v of viewers) await v.close()
  await a?.cleanup()
  await t?.close()
  await sim?.close()
})

describe('live view through the hub relay', () => {
  it('plays a camera from its keyframe, and a second viewer shares the one upstream', async () => {
    const first = await view(cams.door as string)
    expect(first.status, JSON.stringify(first.body)).toBe(201)
    expect(first.body).toMatchObject({ type: 'answer', sessionId: expect.any(String), mode: 'relay' })
    // The simulator's clip is H.264 Main: the answer names that profile and nothing else.
    expect(first.body.sdp).toMatch(/profile-level-id=4d00/)
    expect(first.body.sdp?.match(/a=rtpmap:\d+ H264/g)).toHaveLength(1)
    await first.receives()
    const second = await view(cams.door as string)
    expect(second.status).toBe(201)
    await second.receives()
    // One RTSP session on the agent (the recorder's), one upstream to the hub, two viewers.
    expect(sim.sessionCount('door')).toBe(1)
    expect(a.agent?.live.peerCount).toBe(1)
    expect(t.hub.context.live.upstreamCount).toBe(1)
    expect(t.hub.context.live.sessionCount).toBe(2)
    // The camera's status shows the live view on the agent: one connection (the hub's upstream).
    await waitUntil(
      async () =>
        (await t.request('GET', `/api/v1/cameras/${cams.door}`, { token })).body.status?.live?.connections ===
        1,
      15_000,
      'live view in the camera status',
    )
    expect((await t.request('GET', `/api/v1/cameras/${cams.door}`, { token })).body.status.live).toEqual({
      connections: 1,
      stream: 'main',
      transcoded: false,
    })
    const metrics = await t.request('GET', '/metrics', { token })
    expect(metrics.text).toMatch(/^vms_live_sessions({[^}]*})? 2$/m)
    expect(metrics.text).toMatch(/^vms_live_upstreams({[^}]*})? 1$/m)

    const stats = await t.request('GET', `/api/v1/live/${first.body.sessionId}`, { token })
    expect(stats.status).toBe(200)
    expect(stats.body).toMatchObject({
      mode: 'relay',
      connection: { state: 'connected' },
      upstream: { viewers: 2, lostPackets: 0 },
    })
    expect(stats.body.connection.sentFrames).toBeGreaterThan(0)

    for (const v of [first, second]) {
      const del = await t.request('DELETE', `/api/v1/live/${v.body.sessionId}`, { token })
      expect(del.status).toBe(204)
      await v.close()
    }
    expect(t.hub.context.live.sessionCount).toBe(0)
    await waitUntil(() => a.agent?.live.peerCount === 0, 10_000, 'the upstream closed on the agent')
    expect(t.hub.context.live.upstreamCount).toBe(0)
    expect((await t.request('DELETE', `/api/v1/live/${first.body.sessionId}`, { token })).status).toBe(404)

    const starts = (await audit('camera.live.start')).filter((e) => e.target.id === cams.door)
    const stops = (await audit('camera.live.stop')).filter((e) => e.target.id === cams.door)
    expect(starts).toHaveLength(2)
    expect(stops).toHaveLength(2)
    expect(starts[0]).toMatchObject({ actor: { name: 'admin' }, target: { type: 'camera' } })
    expect(stops[0]?.details).toMatchObject({ reason: 'viewer closed', viewer: 'admin' })
  })

  it('connects a browser directly to the agent when asked', async () => {
    const v = await view(cams.door as string, 'direct')
    expect(v.status, JSON.stringify(v.body)).toBe(201)
    await v.receives()
    expect(t.hub.context.live.upstreamCount).toBe(0)
    expect(a.agent?.live.peerCount).toBe(1)
    await t.request('DELETE', `/api/v1/live/${v.body.sessionId}`, { token })
    await waitUntil(() => a.agent?.live.peerCount === 0, 10_000, 'the direct peer closed')
  })

  it('ends a direct session the browser never connects, reported by the agent', async () => {
    const fanout = new LiveFanout()
    const peer = await ReceivingPeer.offer(fanout, { iceServers: [], additionalHostAddresses: ['127.0.0.1'] })
    const res = await t.request('POST', `/api/v1/cameras/${cams.door}/live`, {
      token,
      body: { type: 'offer', sdp: peer.offerSdp, mode: 'direct' },
    })
    expect(res.status).toBe(201)
    await peer.close() // the answer is never applied: nothing connects
    await waitUntil(
      () => t.hub.context.live.get(res.body.sessionId) === undefined,
      20_000,
      'the session ended',
    )
    // The stop record is written as the session ends, just after it leaves the sessions.
    const stopOf = async () =>
      (await audit('camera.live.stop')).find((e) => e.details.sessionId === res.body.sessionId)
    await expect.poll(stopOf, { timeout: 20_000, interval: 100 }).toBeDefined()
    expect((await stopOf())?.details).toMatchObject({
      reason: 'viewer connection not-connected',
      mode: 'direct',
    })
    await expect.poll(() => a.agent?.live.peerCount, { timeout: 20_000, interval: 100 }).toBe(0)
  })

  it('sends a grid tile the sub-stream and a single view the main, each on its own upstream', async () => {
    const tile = await view(cams.porch as string, 'relay', token, 'sub')
    expect(tile.status, JSON.stringify(tile.body)).toBe(201)
    expect(tile.body.stream).toBe('sub')
    await tile.receives()
    expect(sim.sessionCount('porch-sub')).toBe(1)
    expect(sim.sessionCount('porch')).toBe(0)

    const single = await view(cams.porch as string, 'relay', token, 'main')
    expect(single.status, JSON.stringify(single.body)).toBe(201)
    expect(single.body.stream).toBe('main')
    await single.receives()
    expect(sim.sessionCount('porch')).toBe(1)
    expect(t.hub.context.live.upstreamCount).toBe(2)
    expect(a.agent?.live.peerCount).toBe(2)
    const stats = await t.request('GET', `/api/v1/live/${tile.body.sessionId}`, { token })
    expect(stats.body).toMatchObject({ stream: 'sub', upstream: { viewers: 1 } })
    const listed = await t.request('GET', `/api/v1/live?cameraId=${cams.porch}`, { token })
    expect(listed.body.items.map((s: { stream: string }) => s.stream).sort()).toEqual(['main', 'sub'])
    // Both streams' viewers show in the camera's live status, counted once each.
    await waitUntil(
      async () =>
        (await t.request('GET', `/api/v1/cameras/${cams.porch}`, { token })).body.status?.live
          ?.connections === 2,
      15_000,
      'two live connections in the camera status',
    )

    // A camera without a sub-stream sends its main one to a tile that asks for the sub.
    const fallback = await view(cams.door as string, 'relay', token, 'sub')
    expect(fallback.status, JSON.stringify(fallback.body)).toBe(201)
    expect(fallback.body.stream).toBe('main')
    await fallback.receives()

    for (const v of [tile, single, fallback]) {
      expect((await t.request('DELETE', `/api/v1/live/${v.body.sessionId}`, { token })).status).toBe(204)
      await v.close()
    }
    await waitUntil(() => a.agent?.live.peerCount === 0, 10_000, 'the upstreams closed on the agent')
    expect(t.hub.context.live.upstreamCount).toBe(0)
    await waitUntil(() => a.agent?.cameras.onDemandStreams.length === 0, 10_000, 'on-demand streams closed')
  })

  it('answers a grid’s offers in one request, each on its own', async () => {
    const peers = await Promise.all(
      [0, 1, 2].map(() =>
        ReceivingPeer.offer(new LiveFanout(), { iceServers: [], additionalHostAddresses: ['127.0.0.1'] }),
      ),
    )
    const missing = '00000000-0000-4000-8000-000000000000'
    const res = await t.request('POST', '/api/v1/live/offers', {
      token,
      body: {
        offers: [
          { cameraId: cams.porch, type: 'offer', sdp: peers[0]?.offerSdp, stream: 'sub' },
          { cameraId: cams.door, type: 'offer', sdp: peers[1]?.offerSdp, stream: 'sub' },
          { cameraId: missing, type: 'offer', sdp: peers[2]?.offerSdp },
        ],
      },
    })
    expect(res.status, res.text).toBe(200)
    const [porch, door, none] = res.body.results
    expect(porch).toMatchObject({
      cameraId: cams.porch,
      status: 201,
      answer: { type: 'answer', stream: 'sub' },
    })
    expect(door).toMatchObject({ cameraId: cams.door, status: 201, answer: { stream: 'main' } })
    expect(none).toMatchObject({ cameraId: missing, status: 404, error: { code: 'not_found' } })
    expect(t.hub.context.live.sessionCount).toBe(2)
    for (const [i, r] of [porch, door].entries()) {
      await peers[i]?.accept(r.answer.sdp)
      await waitUntil(
        () => (peers[i]?.connectionState ?? '') === 'connected',
        15_000,
        'a batched viewer connected',
      )
      expect((await t.request('DELETE', `/api/v1/live/${r.answer.sessionId}`, { token })).status).toBe(204)
    }
    for (const p of peers) await p.close()

    // The batch is bounded and validated as a whole; a viewer's batch gets each refusal.
    const offer = { cameraId: cams.door, type: 'offer', sdp: 'v=0\r\n' }
    const batch = (offers: unknown, as = token) =>
      t.request('POST', '/api/v1/live/offers', { token: as, body: { offers } })
    expect((await batch(Array.from({ length: 17 }, () => offer))).status).toBe(400)
    expect((await batch([])).status).toBe(400)
    expect((await batch([{ ...offer, cameraId: 'door\u0000' }])).status).toBe(400)
    expect((await batch([{ ...offer, stream: 'S\uD800' }])).status).toBe(400)
    expect((await t.request('POST', '/api/v1/live/offers', { body: { offers: [offer] } })).status).toBe(401)
    const auditor = (await userWithRole(t, 'system', token, 'batch-auditor', 'auditor', { type: 'tenant' }))
      .token
    const refused = await batch([offer, { ...offer, cameraId: missing }], auditor)
    expect(refused.status).toBe(200)
    expect(refused.body.results.map((r: { status: number }) => r.status)).toEqual([403, 404])
    expect(t.hub.context.live.sessionCount).toBe(0)
  })

  it('plays a grid on one connection: a section per tile, each tile a session of its own', async () => {
    const fanouts = [0, 1, 2].map(() => new LiveFanout())
    const viewer = await ReceivingPeer.offerBundle(fanouts, {
      iceServers: [],
      additionalHostAddresses: ['127.0.0.1'],
    })
    const missing = '00000000-0000-4000-8000-000000000000'
    const grid = (body: unknown, as = token) => t.request('POST', '/api/v1/live/grid', { token: as, body })
    const res = await grid({
      type: 'offer',
      sdp: viewer.offerSdp,
      tiles: [{ cameraId: cams.porch }, { cameraId: missing }, { cameraId: cams.door, stream: 'main' }],
    })
    expect(res.status, res.text).toBe(201)
    const [porch, none, door] = res.body.tiles
    expect(porch).toMatchObject({ cameraId: cams.porch, status: 201, stream: 'sub', mid: viewer.mid(0) })
    expect(none).toMatchObject({ cameraId: missing, status: 404, error: { code: 'not_found' } })
    expect(door).toMatchObject({ cameraId: cams.door, status: 201, stream: 'main', mid: viewer.mid(2) })
    expect(res.body.sdp.match(/^m=video /gm)).toHaveLength(3)
    expect(t.hub.context.live.sessionCount).toBe(2)
    // Both cameras come from the agent on one upstream connection too (the agent announced
    // `live.bundle`): a section each.
    expect(a.agent?.live.peerCount).toBe(1)
    expect(a.agent?.live.trackCount).toBe(2)
    await viewer.accept(res.body.sdp)
    for (const i of [0, 2])
      await waitUntil(
        () => (fanouts[i]?.receivedPackets ?? 0) >= 30 && fanouts[i]?.gop()[0]?.keyframe === true,
        20_000,
        `tile ${i} plays from a keyframe`,
      )
    expect(fanouts[1]?.receivedPackets).toBe(0)
    const stats = await t.request('GET', `/api/v1/live/${door.sessionId}`, { token })
    expect(stats.body).toMatchObject({ cameraId: cams.door, connection: { state: 'connected' } })
    expect(stats.body.connection.sentFrames).toBeGreaterThan(0)
    // Each tile was audited as a session, one connection for both.
    const starts = (await audit('camera.live.start')).filter((e) =>
      [porch.sessionId, door.sessionId].includes(e.details.sessionId),
    )
    expect(starts.map((e) => e.details.bundle)).toEqual([3, 3])

    // One tile leaves: the other plays on; the last one closes the connection.
    expect((await t.request('DELETE', `/api/v1/live/${porch.sessionId}`, { token })).status).toBe(204)
    const before = fanouts[2]?.receivedPackets ?? 0
    await waitUntil(() => (fanouts[2]?.receivedPackets ?? 0) > before + 20, 20_000, 'the door tile plays on')
    expect(viewer.connectionState).toBe('connected')
    // Its upstream had no viewer left: its section on the agent stopped, the connection goes on.
    await waitUntil(() => a.agent?.live.trackCount === 1, 20_000, "the porch's section stops on the agent")
    expect(a.agent?.live.peerCount).toBe(1)
    const still = fanouts[2]?.receivedPackets ?? 0
    await waitUntil(() => (fanouts[2]?.receivedPackets ?? 0) > still + 20, 20_000, 'the door still plays')
    expect((await t.request('DELETE', `/api/v1/live/${door.sessionId}`, { token })).status).toBe(204)
    expect(t.hub.context.live.sessionCount).toBe(0)
    await waitUntil(() => t.hub.context.live.upstreamCount === 0, 20_000, 'the upstreams let go')
    await waitUntil(() => a.agent?.live.peerCount === 0, 20_000, 'the bundled upstream closes on the agent')
    await viewer.close()

    // The offer must have a video section per tile; the request is validated as a whole.
    const two = await ReceivingPeer.offerBundle([new LiveFanout(), new LiveFanout()], {
      iceServers: [],
      additionalHostAddresses: ['127.0.0.1'],
    })
    const mismatched = await grid({
      type: 'offer',
      sdp: two.offerSdp,
      tiles: [{ cameraId: cams.porch }, { cameraId: cams.door }, { cameraId: cams.yard }],
    })
    expect(mismatched.status).toBe(422)
    expect(mismatched.body.error.message).toMatch(/2 video sections where 3/)
    await two.close()
    const tile = { cameraId: cams.door }
    expect((await grid({ type: 'offer', sdp: 'v=0\r\n', tiles: Array(17).fill(tile) })).status).toBe(400)
    expect((await grid({ type: 'offer', sdp: 'v=0\r\n', tiles: [] })).status).toBe(400)
    expect((await grid({ type: 'offer', sdp: 'hello', tiles: [tile] })).status).toBe(400)
    expect((await grid({ type: 'offer', sdp: 'v=0\r\n', tiles: [{ cameraId: 'door\u0000' }] })).status).toBe(
      400,
    )
    expect(
      (await grid({ type: 'offer', sdp: 'v=0\r\n', tiles: [{ ...tile, stream: 'S\uD800' }] })).status,
    ).toBe(400)
    expect(
      (await t.request('POST', '/api/v1/live/grid', { body: { type: 'offer', sdp: 'v=0', tiles: [tile] } }))
        .status,
    ).toBe(401)
    // Each tile is checked as a single view would be: an auditor may not watch.
    const auditor = (await userWithRole(t, 'system', token, 'grid-auditor', 'auditor', { type: 'tenant' }))
      .token
    const one = await ReceivingPeer.offerBundle([new LiveFanout()], {
      iceServers: [],
      additionalHostAddresses: ['127.0.0.1'],
    })
    const refused = await grid({ type: 'offer', sdp: one.offerSdp, tiles: [tile] }, auditor)
    expect(refused.status).toBe(201)
    expect(refused.body.tiles).toMatchObject([{ cameraId: cams.door, status: 403 }])
    await one.close()
    expect(t.hub.context.live.sessionCount).toBe(0)
    expect(t.hub.context.live.upstreamCount).toBe(0)
  })

  it('answers a bundled upstream with a track per camera, an error in place of one it cannot start', async () => {
    const live = a.agent?.live as NonNullable<typeof a.agent>['live']
    const fanouts = [0, 1, 2].map(() => new LiveFanout())
    const hub = await ReceivingPeer.offerBundle(fanouts, {
      iceServers: [],
      additionalHostAddresses: ['127.0.0.1'],
    })
    const peerId = randomUUID()
    const missing = '00000000-0000-4000-8000-000000000001'
    const answer = await live.bundle({
      v: 1,
      id: randomUUID(),
      op: 'live.bundle',
      deadline: new Date(Date.now() + 20_000).toISOString(),
      peerId,
      tracks: [
        { cameraId: cams.porch as string, stream: 'sub' },
        { cameraId: missing, stream: 'sub' },
        { cameraId: cams.door as string, stream: 'main' },
      ],
      sdp: hub.offerSdp,
      iceServers: [],
    })
    expect(answer.tracks).toEqual([
      { stream: 'sub', transcoded: false },
      { error: expect.objectContaining({ status: 404, code: 'camera_unknown' }) },
      { stream: 'main', transcoded: false },
    ])
    expect(live.peerCount).toBe(1)
    expect(live.trackCount).toBe(2)
    await hub.accept(answer.sdp)
    for (const i of [0, 2])
      await waitUntil(() => (fanouts[i]?.receivedPackets ?? 0) >= 30, 20_000, `section ${i} plays`)
    expect(fanouts[1]?.receivedPackets).toBe(0)
    expect((await live.stats()).map((x) => [x.track, x.cameraId])).toEqual([
      [0, cams.porch],
      [2, cams.door],
    ])
    // A closed track stops while the connection goes on; the section already closed is no news.
    expect(await live.close(peerId, 0)).toEqual({ closed: true })
    expect(await live.close(peerId, 1)).toEqual({ closed: false })
    expect(live.trackCount).toBe(1)
    const before = fanouts[2]?.receivedPackets ?? 0
    await waitUntil(
      () => (fanouts[2]?.receivedPackets ?? 0) > before + 20,
      20_000,
      'the door section plays on',
    )
    // Reusing the connection's id is refused; its last track closes the connection.
    await expect(
      live.bundle({
        v: 1,
        id: randomUUID(),
        op: 'live.bundle',
        deadline: new Date(Date.now() + 20_000).toISOString(),
        peerId,
        tracks: [{ cameraId: cams.door as string, stream: 'sub' }],
        sdp: hub.offerSdp,
        iceServers: [],
      }),
    ).rejects.toMatchObject({ status: 409, code: 'peer_exists' })
    expect(await live.close(peerId, 2)).toEqual({ closed: true })
    expect(live.peerCount).toBe(0)
    await waitUntil(() => a.agent?.cameras.onDemandStreams.length === 0, 10_000, 'the cameras let go')
    await hub.close()
  })

  it('asks an agent that does not announce live.bundle for an upstream per camera', async () => {
    t.hub.context.live.setAgentFeatures(a.agentId, [])
    try {
      const fanouts = [0, 1].map(() => new LiveFanout())
      const viewer = await ReceivingPeer.offerBundle(fanouts, {
        iceServers: [],
        additionalHostAddresses: ['127.0.0.1'],
      })
      const res = await t.request('POST', '/api/v1/live/grid', {
        token,
        body: {
          type: 'offer',
          sdp: viewer.offerSdp,
          tiles: [{ cameraId: cams.porch }, { cameraId: cams.door }],
        },
      })
      expect(res.status, res.text).toBe(201)
      expect(a.agent?.live.peerCount).toBe(2)
      await viewer.accept(res.body.sdp)
      for (const i of [0, 1])
        await waitUntil(() => (fanouts[i]?.receivedPackets ?? 0) >= 30, 20_000, `tile ${i} plays`)
      for (const tile of res.body.tiles)
        await t.request('DELETE', `/api/v1/live/${tile.sessionId}`, { token })
      await waitUntil(() => a.agent?.live.peerCount === 0, 20_000, 'the upstreams close')
      await viewer.close()
    } finally {
      t.hub.context.live.setAgentFeatures(a.agentId, ['live.bundle'])
    }
  })

  it("shows an H.265 camera's H.264 sub-stream (opened on demand), or transcodes one that has none", async () => {
    const v = await view(cams.yard as string)
    expect(v.status, JSON.stringify(v.body)).toBe(201)
    await v.receives()
    expect(a.agent?.cameras.onDemandStreams).toEqual([`${cams.yard}/sub`])
    await t.request('DELETE', `/api/v1/live/${v.body.sessionId}`, { token })
    await waitUntil(() => a.agent?.cameras.onDemandStreams.length === 0, 10_000, 'the sub-stream closed')
    await waitUntil(() => sim.sessionCount('yard-sub') === 0, 10_000, 'the camera session ended')

    // No H.264 at all: transcoded once by ffmpeg (Constrained Baseline), recording untouched.
    const only = await view(cams.yardOnly as string)
    if (!findFfmpeg()) {
      console.warn('SKIPPING the live transcoding check: no ffmpeg (FFMPEG_PATH or on PATH)')
      expect(only.status).toBe(422)
      return
    }
    expect(only.status, JSON.stringify(only.body)).toBe(201)
    expect(only.body.sdp).toMatch(/profile-level-id=42e0/)
    await only.receives()
    expect(sim.sessionCount('yard')).toBeGreaterThanOrEqual(1)
    await t.request('DELETE', `/api/v1/live/${only.body.sessionId}`, { token })
    await waitUntil(() => a.agent?.live.peerCount === 0, 10_000, 'the transcoded upstream closed')
  })

  it('refuses what is wrong with 4xx and the reason', async () => {
    const bad = (body: unknown, id = cams.door) =>
      t.request('POST', `/api/v1/cameras/${id}/live`, { token, body })
    expect((await bad({ type: 'offer', sdp: 'hello' })).status).toBe(400)
    expect((await bad({ type: 'answer', sdp: 'v=0' })).status).toBe(400)
    expect((await bad({ type: 'offer' })).status).toBe(400)
    expect((await bad({ type: 'offer', sdp: 'v=0\r\n', stream: 'third' })).status).toBe(400)
    expect((await bad({ type: 'offer', sdp: 'v=0\r\n', stream: 'S\u0000UB' })).status).toBe(400)
    expect(
      (await bad({ type: 'offer', sdp: 'v=0\r\n' }, '00000000-0000-4000-8000-000000000000')).status,
    ).toBe(404)
    const vp8Only = [
      'v=0',
      'o=- 1 1 IN IP4 127.0.0.1',
      's=-',
      't=0 0',
      'm=video 9 UDP/TLS/RTP/SAVPF 96',
      'a=ice-ufrag:abcd',
      'a=ice-pwd:0123456789012345678901',
      'a=fingerprint:sha-256 00:11',
      'a=recvonly',
      'a=rtpmap:96 VP8/90000',
      '',
    ].join('\r\n')
    const res = await bad({ type: 'offer', sdp: vp8Only })
    expect(res.status).toBe(422)
    expect(res.body.error.message).toMatch(/H\.264/)
    expect(t.hub.context.live.sessionCount).toBe(0)
    expect((await t.request('POST', `/api/v1/cameras/${cams.door}/live`, { body: {} })).status).toBe(401)
  })

  it('needs camera.live, and ends the session when the permission is revoked', async () => {
    const u = await t.request('POST', '/api/v1/users', {
      token,
      body: { username: 'guard', password: USER_PASSWORD },
    })
    const auditor = await t.request('POST', `/api/v1/users/${u.body.id}/role-bindings`, {
      token,
      body: { role: 'auditor', scope: { type: 'tenant' } },
    })
    expect(auditor.status).toBe(201)
    let guard = (await t.login('system', 'guard', USER_PASSWORD)).accessToken
    expect((await view(cams.door as string, 'relay', guard)).status).toBe(403)

    const binding = await t.request('POST', `/api/v1/users/${u.body.id}/role-bindings`, {
      token,
      body: { role: 'viewer', scope: { type: 'camera', id: cams.door } },
    })
    expect(binding.status, binding.text).toBe(201)
    guard = (await t.login('system', 'guard', USER_PASSWORD)).accessToken
    const v = await view(cams.door as string, 'relay', guard)
    expect(v.status).toBe(201)
    await v.receives()
    // The viewer sees its own session.
    expect((await t.request('GET', `/api/v1/live/${v.body.sessionId}`, { token: guard })).status).toBe(200)

    const renew = await t.request('POST', `/api/v1/live/${v.body.sessionId}/renew`, { token: guard })
    expect(renew.status).toBe(200)

    await t.request('DELETE', `/api/v1/users/${u.body.id}/role-bindings/${binding.body.id}`, { token })
    await waitUntil(() => t.hub.context.live.sessionCount === 0, 10_000, 'the session ended on revocation')
    const stop = (await audit('camera.live.stop')).find((e) => e.details.sessionId === v.body.sessionId)
    expect(stop?.details).toMatchObject({ reason: 'permission revoked', viewer: 'guard' })
    await waitUntil(() => a.agent?.live.peerCount === 0, 10_000, 'the upstream closed')
  })

  it('ends sessions when the camera is removed', async () => {
    const extra = await addCamera({
      name: 'Door (second)',
      streams: [{ role: 'main', url: sim.url('door'), username: 'viewer', password: CAM_PASSWORD }],
    })
    const v = await view(extra)
    expect(v.status, JSON.stringify(v.body)).toBe(201)
    await v.receives()
    // The viewer's console hears of it on its update stream (a grid tile would only fall silent).
    const updates = await openEventStream(`${t.url}/api/v1/stream`, token)
    await waitUntil(() => updates.messages.some((m) => m.type === 'hello'), 10_000, 'the update stream')
    expect((await t.request('DELETE', `/api/v1/cameras/${extra}`, { token })).status).toBe(204)
    expect(t.hub.context.live.sessionCount).toBe(0)
    await waitUntil(() => updates.messages.some((m) => m.type === 'live'), 10_000, 'the session’s end')
    expect(updates.messages.filter((m) => m.type === 'live').map((m) => m.data)).toEqual([
      { sessionId: v.body.sessionId, cameraId: extra, reason: 'camera removed' },
    ])
    updates.close()
    const stop = (await audit('camera.live.stop')).find((e) => e.details.sessionId === v.body.sessionId)
    expect(stop?.details).toMatchObject({ reason: 'camera removed' })
    await waitUntil(() => a.agent?.live.peerCount === 0, 10_000, 'the agent peer closed')
  })

  it('ends a session when its access token expires, unless renewed with a fresh one', async () => {
    const me = (await t.request('GET', '/api/v1/me', { token })).body
    const rows = await t.db.adminQuery('select session_version from users where id = $1', [me.id])
    const short = new AccessTokens(t.hub.context.keys, { ...t.hub.context.tokens.options, ttlSeconds: 3 })
    const subject = {
      userId: me.id,
      tenantId: me.tenantId,
      sessionVersion: Number(rows.rows[0]?.session_version),
    }
    const expiring = await view(cams.door as string, 'relay', (await short.issue(subject)).token)
    expect(expiring.status, JSON.stringify(expiring.body)).toBe(201)
    const renewed = await view(cams.door as string, 'relay', (await short.issue(subject)).token)
    expect(renewed.status).toBe(201)
    const r = await t.request('POST', `/api/v1/live/${renewed.body.sessionId}/renew`, { token })
    expect(r.status).toBe(200)
    expect(Date.parse(r.body.expiresAt)).toBeGreaterThan(Date.now() + 60_000)
    await waitUntil(() => t.hub.context.live.sessionCount === 1, 10_000, 'the expired session ended')
    expect(t.hub.context.live.get(renewed.body.sessionId as string)).toBeDefined()
    const stop = (await audit('camera.live.stop')).find(
      (e) => e.details.sessionId === expiring.body.sessionId,
    )
    expect(stop?.details).toMatchObject({ reason: 'access token expired' })
    expect((await t.request('DELETE', `/api/v1/live/${renewed.body.sessionId}`, { token })).status).toBe(204)
  })

  it('speaks WHEP beside the JSON endpoint', async () => {
    const v = await view(cams.door as string) // for an offer (then ended)
    await t.request('DELETE', `/api/v1/live/${v.body.sessionId}`, { token })
    const res = await fetch(`${t.url}/api/v1/cameras/${cams.door}/whep`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/sdp' },
      body: v.peer.offerSdp,
    })
    expect(res.status).toBe(201)
    expect(res.headers.get('content-type')).toMatch(/application\/sdp/)
    const location = res.headers.get('location') as string
    expect(location).toMatch(/^\/api\/v1\/live\/[0-9a-f-]{36}$/)
    expect(await res.text()).toMatch(/^v=0/)
    expect((await t.request('DELETE', location, { token })).status).toBe(204)
    const bad = await fetch(`${t.url}/api/v1/cameras/${cams.door}/whep`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/sdp' },
      body: 'nonsense',
    })
    expect(bad.status).toBe(400)
  })

  it('lets a user manager see and end other viewers’ sessions; viewers see only their own', async () => {
    const u = await t.request('POST', '/api/v1/users', {
      token,
      body: { username: 'clerk', password: USER_PASSWORD },
    })
    await t.request('POST', `/api/v1/users/${u.body.id}/role-bindings`, {
      token,
      body: { role: 'viewer', scope: { type: 'tenant' } },
    })
    const clerk = (await t.login('system', 'clerk', USER_PASSWORD)).accessToken
    const theirs = await view(cams.door as string, 'relay', clerk)
    const mine = await view(cams.door as string)
    expect([theirs.status, mine.status]).toEqual([201, 201])

    const own = await t.request('GET', '/api/v1/live', { token: clerk })
    expect(own.status).toBe(200)
    expect(own.body.items.map((i: { sessionId: string }) => i.sessionId)).toEqual([theirs.body.sessionId])
    const all = await t.request('GET', `/api/v1/live?cameraId=${cams.door}`, { token })
    expect(all.body.total).toBe(2)
    expect(all.body.items).toContainEqual(
      expect.objectContaining({
        sessionId: theirs.body.sessionId,
        viewer: { id: u.body.id, username: 'clerk' },
      }),
    )

    const denied = await t.request('POST', `/api/v1/live/${mine.body.sessionId}/terminate`, { token: clerk })
    expect(denied.status).toBe(404)
    const ended = await t.request('POST', `/api/v1/live/${theirs.body.sessionId}/terminate`, { token })
    expect(ended.status).toBe(204)
    expect(t.hub.context.live.get(theirs.body.sessionId as string)).toBeUndefined()
    const terminate = (await audit('camera.live.terminate')).find(
      (e) => e.details.sessionId === theirs.body.sessionId,
    )
    expect(terminate?.actor.name).toBe('admin')
    const stop = (await audit('camera.live.stop')).find((e) => e.details.sessionId === theirs.body.sessionId)
    expect(stop?.details).toMatchObject({ reason: 'ended by admin', viewer: 'clerk' })

    // A help desk (user.manage without the admin's other powers) cannot end the admin's session.
    const role = await t.request('POST', '/api/v1/roles', {
      token,
      body: { name: 'live-desk', permissions: ['user.manage', 'camera.live'] },
    })
    expect(role.status).toBe(201)
    const desk = await t.request('POST', '/api/v1/users', {
      token,
      body: { username: 'live-desk', password: USER_PASSWORD },
    })
    await t.request('POST', `/api/v1/users/${desk.body.id}/role-bindings`, {
      token,
      body: { role: 'live-desk', scope: { type: 'tenant' } },
    })
    const deskToken = (await t.login('system', 'live-desk', USER_PASSWORD)).accessToken
    const refused = await t.request('POST', `/api/v1/live/${mine.body.sessionId}/terminate`, {
      token: deskToken,
    })
    expect(refused.status).toBe(403)
    expect(refused.body.error.code).toBe('privilege_escalation')
    expect(t.hub.context.live.get(mine.body.sessionId as string)).toBeDefined()
    expect((await t.request('DELETE', `/api/v1/live/${mine.body.sessionId}`, { token })).status).toBe(204)
  })
})
