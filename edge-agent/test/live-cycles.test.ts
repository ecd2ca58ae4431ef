import v8 from 'node:v8'
import vm from 'node:vm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestHub, type TestHub } from '../../hub/test/helpers/test-hub.ts'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'
import { freePort, type TestAgent } from './helpers/agent-harness.ts'
import { watch } from './helpers/live-viewer.ts'
import { siteWithAgent } from './helpers/site.ts'

/**
 * 1,000 live sessions opened and closed: every one frees its peer, its sockets and its timers.
 * Most cycles post the same offer and end the session at once (what a user clicking through
 * cameras does to the hub); every 100th connects for real and receives video. Afterwards the hub
 * holds no session, the UDP sockets and timers are back where they started, and the heap has
 * not grown with the cycles.
 */
v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void

let t: TestHub
let a: TestAgent
let sim: CameraSimulator
let token: string
let cameraId: string

type Handle = { constructor: { name: string } }
const handles = () => {
  const counts: Record<string, number> = {}
  for (const h of (process as unknown as { _getActiveHandles(): Handle[] })._getActiveHandles())
    counts[h.constructor.name] = (counts[h.constructor.name] ?? 0) + 1
  return counts
}

beforeAll(async () => {
  sim = await CameraSimulator.start({ streams: [{ name: 'aisle', codec: 'h264' }] })
  t = await startTestHub(
    // The upstream stays between cycles, as it does while operators flip through a camera.
    {
      VMS_MQTT_PORT: await freePort(),
      VMS_LIVE_HOST_ADDRESSES: '127.0.0.1',
      VMS_LIVE_UPSTREAM_LINGER_MS: 600_000,
      VMS_API_RATE_PER_MINUTE: 100_000,
    },
    { systemLicense: true },
  )
  const site = await siteWithAgent(t, {
    VMS_AGENT_LIVE_HOST_ADDRESSES: '127.0.0.1',
    VMS_AGENT_MIN_FREE_BYTES: 0,
  })
  a = site.agent
  token = site.token
  cameraId = await site.addCamera({ name: 'Aisle', streams: [{ role: 'main', url: sim.url('aisle') }] })
}, 60_000)

afterAll(async () => {
  await a?.cleanup()
  await t?.close()
  await sim?.close()
})

describe('live session lifecycle', () => {
  it('leaks nothing over 1,000 open/close cycles', async () => {
    // Warm up: the upstream exists and one viewer has played, so baselines include them.
    const warm = await watch(t, token, cameraId)
    expect(warm.status).toBe(201)
    await warm.receives()
    await t.request('DELETE', `/api/v1/live/${warm.body.sessionId}`, { token })
    await warm.close()
    const offer = (await watch(t, token, cameraId)).body // a session to take the offer shape from
    await t.request('DELETE', `/api/v1/live/${offer.sessionId}`, { token })
    await new Promise((r) => setTimeout(r, 200))
    gc()
    const baseHandles = handles()
    const baseHeap = process.memoryUsage().heapUsed

    const probe = await watch(t, token, cameraId)
    const staticOffer = probe.peer.offerSdp
    await t.request('DELETE', `/api/v1/live/${probe.body.sessionId}`, { token })
    await probe.close()
    for (let i = 1; i <= 1000; i++) {
      if (i % 100 === 0) {
        const v = await watch(t, token, cameraId)
        expect(v.status).toBe(201)
        await v.receives(20)
        expect((await t.request('DELETE', `/api/v1/live/${v.body.sessionId}`, { token })).status).toBe(204)
        await v.close()
        continue
      }
      const res = await t.request('POST', `/api/v1/cameras/${cameraId}/live`, {
        token,
        body: { type: 'offer', sdp: staticOffer },
      })
      expect(res.status, res.text).toBe(201)
      expect((await t.request('DELETE', `/api/v1/live/${res.body.sessionId}`, { token })).status).toBe(204)
    }
    expect(t.hub.context.live.sessionCount).toBe(0)
    expect(t.hub.context.live.upstreamCount).toBe(1)
    expect(a.agent?.live.peerCount).toBe(1)
    await new Promise((r) => setTimeout(r, 500))
    gc()
    const after = handles()
    // Sockets (UDP for ICE) and timers are back to the baseline; small slack for in-flight HTTP.
    expect(after.UDP ?? 0).toBeLessThanOrEqual(baseHandles.UDP ?? 0)
    expect(after.Timeout ?? 0).toBeLessThanOrEqual((baseHandles.Timeout ?? 0) + 5)
    const grownMiB = (process.memoryUsage().heapUsed - baseHeap) / 2 ** 20
    expect(grownMiB).toBeLessThan(40)
    const audits = await t.request('GET', '/api/v1/audit?action=camera.live.stop&limit=1', { token })
    expect(audits.body.total).toBeGreaterThanOrEqual(1000)
  }, 600_000)
})
