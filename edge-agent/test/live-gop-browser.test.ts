import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_PASSWORD, startTestHub, type TestHub } from '../../hub/test/helpers/test-hub.ts'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'
import { chromiumAvailable, launchChromium } from '../../scripts/lib/chromium.ts'
import { freePort, type TestAgent } from './helpers/agent-harness.ts'
import { ffprobePath } from './helpers/ffprobe.ts'
import { siteWithAgent } from './helpers/site.ts'
import { waitUntil } from './helpers/wait.ts'

/**
 * A camera with a 10 s GOP, recorded by the agent, watched in Chromium through the hub relay: the
 * first viewer (the hub opens its upstream, the agent its live source) and a second one (sharing
 * that upstream) each decode a frame before the camera sends its next keyframe, so their first
 * picture came from the cached GOP (the recorder's producer, the agent's fanout, the hub's fanout)
 * and not from the camera. The simulator counts the keyframes it sends; each viewer starts right
 * after one, which leaves it the rest of the 10 s GOP to show a frame.
 */
const haveTools = chromiumAvailable && Boolean(ffprobePath)
if (!haveTools)
  console.warn('SKIPPING live GOP browser tests: they need chromium and ffmpeg (Debian: chromium ffmpeg)')

const STREAM = 'long-gop'
let t: TestHub
let a: TestAgent
let sim: CameraSimulator
let browser: Browser
let cameraId: string

beforeAll(async () => {
  if (!haveTools) return
  sim = await CameraSimulator.start({ streams: [{ name: STREAM, codec: 'h264', gopSeconds: 10 }] })
  t = await startTestHub(
    { VMS_MQTT_PORT: await freePort(), VMS_LIVE_HOST_ADDRESSES: '127.0.0.1', VMS_LIVE_UPSTREAM_LINGER_MS: 0 },
    { systemLicense: true },
  )
  const site = await siteWithAgent(t, {
    VMS_AGENT_LIVE_HOST_ADDRESSES: '127.0.0.1',
    VMS_AGENT_MIN_FREE_BYTES: 0,
  })
  a = site.agent
  cameraId = await site.addCamera({ name: 'Long GOP', streams: [{ role: 'main', url: sim.url(STREAM) }] })
  browser = await launchChromium()
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await a?.cleanup()
  await t?.close()
  await sim?.close()
})

/** Frames the recorded stream's producer holds from its last keyframe (what a live viewer starts on). */
function cachedFrames(): number {
  const lease = a.agent?.cameras.acquireStream(cameraId, 'main')
  lease?.release()
  return lease?.source.producer.cachedFrames ?? 0
}

/** Resolves once the camera has sent a keyframe after now and the recorder's producer holds it. */
async function justAfterKeyframe(): Promise<number> {
  const before = sim.sent(STREAM).keyframes
  await waitUntil(() => sim.sent(STREAM).keyframes > before, 25_000, 'the camera sent a keyframe')
  const keyframes = sim.sent(STREAM).keyframes
  await waitUntil(() => cachedFrames() > 0, 5_000, 'the recorded stream cached the keyframe')
  return keyframes
}

async function signIn(): Promise<Page> {
  const page = await browser.newPage()
  await page.goto(`${t.url}/diagnostics/live`)
  await page.fill('#tenant', 'system')
  await page.fill('#username', 'admin')
  await page.fill('#password', ADMIN_PASSWORD)
  await page.click('#login button[type=submit]')
  await page.waitForSelector('#camera option', { state: 'attached' })
  return page
}

/** Plays through the relay; resolves once Chromium has decoded a frame. */
async function firstFrame(page: Page): Promise<void> {
  await page.bringToFront()
  await page.selectOption('#camera', cameraId)
  await page.selectOption('#mode', 'relay')
  await page.click('#play')
  await page.waitForFunction(
    () =>
      (document.getElementById('video') as HTMLVideoElement).getVideoPlaybackQuality().totalVideoFrames > 0,
    undefined,
    { timeout: 30_000 },
  )
}

describe.skipIf(!haveTools)('live view of a long-GOP camera in Chromium', () => {
  it('shows the first viewer and a later one a frame from the cached GOP', async () => {
    const first = await signIn()
    const keyframes = await justAfterKeyframe()
    expect(t.hub.context.live.upstreamCount).toBe(0)
    await firstFrame(first)
    // Decoded before the camera's next keyframe: the picture came from the cached GOP.
    expect(sim.sent(STREAM).keyframes).toBe(keyframes)
    expect(t.hub.context.live.upstreamCount).toBe(1)

    const later = await signIn()
    const keyframesNow = await justAfterKeyframe()
    await firstFrame(later)
    expect(sim.sent(STREAM).keyframes).toBe(keyframesNow)
    // The later viewer shared the first one's upstream: its GOP came from the hub's fanout.
    expect(t.hub.context.live.upstreamCount).toBe(1)
    expect(a.agent?.live.peerCount).toBe(1)

    await first.click('#stop')
    await later.click('#stop')
    await waitUntil(() => t.hub.context.live.sessionCount === 0, 10_000, 'the sessions ended')
    await first.close()
    await later.close()
  }, 120_000)
})
