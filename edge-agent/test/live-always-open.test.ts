import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestHub, type TestHub } from '../../hub/test/helpers/test-hub.ts'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'
import { freePort } from './helpers/agent-harness.ts'
import { type TestViewer, watch } from './helpers/live-viewer.ts'
import { siteWithAgent, type TestSite } from './helpers/site.ts'
import { waitUntil } from './helpers/wait.ts'

/**
 * The agent's default `VMS_AGENT_LIVE_STREAMS=always`: every camera stream stays open (the
 * recorder's and the others), so a viewer starts from the stream's last keyframe without a
 * session being opened for it, and nothing closes when the last viewer leaves. A stream taken off
 * the camera is let go.
 */
let t: TestHub
let sim: CameraSimulator
let site: TestSite
let shop: string
const viewers: TestViewer[] = []

beforeAll(async () => {
  sim = await CameraSimulator.start({
    streams: [
      { name: 'shop', codec: 'h264' },
      { name: 'shop-sub', codec: 'h264', sub: true },
    ],
  })
  t = await startTestHub(
    { VMS_MQTT_PORT: await freePort(), VMS_LIVE_HOST_ADDRESSES: '127.0.0.1', VMS_LIVE_UPSTREAM_LINGER_MS: 0 },
    { systemLicense: true },
  )
  site = await siteWithAgent(t, {
    VMS_AGENT_LIVE_HOST_ADDRESSES: '127.0.0.1',
    // Were the stream on demand, it would close as soon as the last viewer left.
    VMS_AGENT_ON_DEMAND_LINGER_MS: 0,
    VMS_AGENT_MIN_FREE_BYTES: 0,
  })
  shop = await site.addCamera({
    name: 'Shop floor',
    streams: [
      { role: 'main', url: sim.url('shop') },
      { role: 'sub', url: sim.url('shop-sub') },
    ],
  })
}, 60_000)

afterAll(async () => {
  for (const v of viewers) await v.close()
  await site?.agent.cleanup()
  await t?.close()
  await sim?.close()
})

describe('camera streams kept open for live view', () => {
  it('holds the sub stream open beside the recorded main one, unwatched', async () => {
    const cameras = () => site.agent.agent?.cameras
    await waitUntil(() => sim.sessionCount('shop-sub') === 1, 20_000, 'the sub stream opened unwatched')
    expect(cameras()?.keptOpenStreams).toEqual([`${shop}/sub`])
    expect(sim.sessionCount('shop')).toBe(1)
    // Its last GOP is there for the first viewer.
    const cached = () => {
      const lease = cameras()?.acquireStream(shop, 'sub')
      lease?.release()
      return lease?.source.producer.cachedFrames ?? 0
    }
    await waitUntil(() => cached() > 0, 20_000, 'a cached keyframe')
  })

  it('serves a viewer from the open session and keeps it after the viewer leaves', async () => {
    const v = await watch(t, site.token, shop, 'relay', 'sub')
    viewers.push(v)
    expect(v.status, JSON.stringify(v.body)).toBe(201)
    expect(v.body.stream).toBe('sub')
    await v.receives()
    expect(sim.sessionCount('shop-sub')).toBe(1)
    const del = await t.request('DELETE', `/api/v1/live/${v.body.sessionId}`, { token: site.token })
    expect(del.status).toBe(204)
    await v.close()
    await waitUntil(() => site.agent.agent?.live.peerCount === 0, 10_000, 'the upstream closed on the agent')
    expect(site.agent.agent?.cameras.onDemandStreams).toEqual([`${shop}/sub`])
    expect(sim.sessionCount('shop-sub')).toBe(1)
  })

  it('lets go of a stream taken off the camera', async () => {
    const res = await t.request('PATCH', `/api/v1/cameras/${shop}`, {
      token: site.token,
      body: { streams: [{ role: 'main', url: sim.url('shop') }] },
    })
    expect(res.status, res.text).toBe(200)
    await waitUntil(
      () => sim.sessionCount('shop-sub') === 0 && site.agent.agent?.cameras.keptOpenStreams.length === 0,
      20_000,
      'the sub stream closed',
    )
    expect(site.agent.agent?.cameras.onDemandStreams).toEqual([])
  })
})
