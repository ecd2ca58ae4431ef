import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_PASSWORD, startTestHub, type TestHub } from '../../hub/test/helpers/test-hub.ts'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'
import { chromiumAvailable, launchChromium } from '../../scripts/lib/chromium.ts'
import { freePort, type TestAgent } from './helpers/agent-harness.ts'
import { siteWithAgent } from './helpers/site.ts'
import { waitUntil } from './helpers/wait.ts'

/**
 * Live view in a real browser: Debian's Chromium loads the hub's live page, signs in, and plays
 * a simulated camera recorded by an agent, through the hub's relay and directly from the agent.
 * The proof is decoded frames in the page: a video size and a frame count that keeps growing.
 */
if (!chromiumAvailable)
  console.warn('SKIPPING live browser tests: /usr/bin/chromium is missing (Debian: chromium)')

let t: TestHub
let a: TestAgent
let sim: CameraSimulator
let browser: Browser
let cameraId: string

beforeAll(async () => {
  if (!chromiumAvailable) return
  sim = await CameraSimulator.start({ streams: [{ name: 'lobby', codec: 'h264' }] })
  t = await startTestHub(
    { VMS_MQTT_PORT: await freePort(), VMS_LIVE_HOST_ADDRESSES: '127.0.0.1', VMS_LIVE_UPSTREAM_LINGER_MS: 0 },
    { systemLicense: true },
  )
  const site = await siteWithAgent(t, {
    VMS_AGENT_LIVE_HOST_ADDRESSES: '127.0.0.1',
    VMS_AGENT_MIN_FREE_BYTES: 0,
  })
  a = site.agent
  cameraId = await site.addCamera({ name: 'Lobby', streams: [{ role: 'main', url: sim.url('lobby') }] })
  browser = await launchChromium()
}, 90_000)

afterAll(async () => {
  await browser?.close()
  await a?.cleanup()
  await t?.close()
  await sim?.close()
})

async function signIn(): Promise<Page> {
  const page = await browser.newPage()
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  await page.goto(`${t.url}/diagnostics/live`)
  await page.fill('#tenant', 'system')
  await page.fill('#username', 'admin')
  await page.fill('#password', ADMIN_PASSWORD)
  await page.click('#login button[type=submit]')
  await page.waitForSelector('#camera option', { state: 'attached' })
  expect(errors).toEqual([])
  return page
}

/** Plays the camera and waits for decoded frames that keep coming. */
async function play(page: Page, mode: 'relay' | 'direct') {
  await page.selectOption('#camera', cameraId)
  await page.selectOption('#mode', mode)
  await page.click('#play')
  await page.waitForFunction(() => document.body.dataset.state === 'playing', undefined, { timeout: 20_000 })
  const frames = () =>
    page.evaluate(() => {
      const v = document.getElementById('video') as HTMLVideoElement
      return {
        width: v.videoWidth,
        height: v.videoHeight,
        frames: v.getVideoPlaybackQuality().totalVideoFrames,
      }
    })
  await page.waitForFunction(
    () =>
      (document.getElementById('video') as HTMLVideoElement).getVideoPlaybackQuality().totalVideoFrames > 5,
    undefined,
    { timeout: 20_000 },
  )
  const before = await frames()
  await page.waitForFunction(
    (n) =>
      (document.getElementById('video') as HTMLVideoElement).getVideoPlaybackQuality().totalVideoFrames >
      n + 10,
    before.frames,
    { timeout: 20_000 },
  )
  return before
}

describe.skipIf(!chromiumAvailable)('live view in Chromium', () => {
  it('plays through the hub relay; a second browser shares the upstream', async () => {
    const page = await signIn()
    const seen = await play(page, 'relay')
    expect(seen.width).toBeGreaterThan(0)
    expect(seen.height).toBeGreaterThan(0)
    expect(await page.textContent('#state')).toBe('playing')

    const other = await signIn()
    await play(other, 'relay')
    expect(t.hub.context.live.sessionCount).toBe(2)
    expect(t.hub.context.live.upstreamCount).toBe(1)
    expect(a.agent?.live.peerCount).toBe(1)

    await page.click('#stop')
    await other.click('#stop')
    await waitUntil(() => t.hub.context.live.sessionCount === 0, 10_000, 'the sessions ended')
    await waitUntil(() => a.agent?.live.peerCount === 0, 10_000, 'the upstream closed')
    await page.close()
    await other.close()
  })

  it('plays directly from the agent', async () => {
    const page = await signIn()
    const seen = await play(page, 'direct')
    expect(seen.width).toBeGreaterThan(0)
    expect(t.hub.context.live.upstreamCount).toBe(0)
    expect(a.agent?.live.peerCount).toBe(1)
    // The page's own statistics: time to first frame measured, frames decoded.
    await page.waitForFunction(() =>
      /first frame \d+ ms/.test(document.getElementById('stats')?.textContent ?? ''),
    )
    await page.click('#stop')
    await waitUntil(() => a.agent?.live.peerCount === 0, 10_000, 'the direct peer closed')
    await page.close()
  })
})
