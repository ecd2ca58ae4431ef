import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { toLocalInput } from '../../hub/console/src/components/format.ts'
import {
  consoleSuite,
  expectAccessible,
  openConsole,
  screenshot,
  signIn,
} from '../../hub/test/helpers/console-browser.ts'
import { ADMIN_PASSWORD, startTestHub, type TestHub } from '../../hub/test/helpers/test-hub.ts'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'
import { chromiumAvailable } from '../../scripts/lib/chromium.ts'
import { freePort, type TestAgent } from './helpers/agent-harness.ts'
import { siteWithAgent } from './helpers/site.ts'
import { waitUntil } from './helpers/wait.ts'

/**
 * Playback in the console, in Debian's Chromium: a real agent records simulated cameras, the hub
 * serves their recordings as HLS (the agent uploads segments on request), and the page plays
 * them. The proof is the player's `data-wall-clock`: the recorded time of the frame on screen.
 */

const ADMIN = { tenant: 'system', username: 'admin', password: ADMIN_PASSWORD }
let t: TestHub
let a: TestAgent
let sim: CameraSimulator
const cams: string[] = []
let token: string
/** The gap made in the first camera's recording: recording off, then on again. */
let gap: { from: number; to: number }

interface Ranges {
  ranges: { stream: string; from: string; to: string }[]
}

async function recorded(cameraId: string): Promise<{ from: number; to: number }[]> {
  const now = Date.now()
  const res = await t.request(
    'GET',
    `/api/v1/cameras/${cameraId}/recordings?from=${new Date(now - 3600_000).toISOString()}&to=${new Date(now + 60_000).toISOString()}`,
    { token },
  )
  return (res.body as Ranges).ranges
    .filter((r) => r.stream === 'main')
    .map((r) => ({ from: Date.parse(r.from), to: Date.parse(r.to) }))
}

const suite = consoleSuite(
  'playback',
  async () => {
    sim = await CameraSimulator.start({
      streams: ['a', 'b', 'c', 'd'].map((name) => ({ name, codec: 'h264' as const })),
    })
    t = await startTestHub({ VMS_MQTT_PORT: await freePort() }, { systemLicense: true })
    const site = await siteWithAgent(t, { VMS_AGENT_MIN_FREE_BYTES: 0, VMS_AGENT_SEGMENT_SECONDS: 2 })
    a = site.agent
    token = site.token
    // The store is in Tokyo: the playback clock shows its time on hover.
    const zoned = await t.request('PATCH', `/api/v1/sites/${site.siteId}`, {
      token,
      body: { timeZone: 'Asia/Tokyo' },
    })
    expect(zoned.status).toBe(200)
    for (const name of ['a', 'b', 'c', 'd'])
      cams.push(
        await site.addCamera({
          name: `Camera ${name.toUpperCase()}`,
          streams: [{ role: 'main', url: sim.url(name) }],
        }),
      )
    const first = cams[0] as string
    // About 12 s recorded, a gap of recording switched off, then recording again.
    await waitUntil(
      async () => (await recorded(first)).some((r) => r.to - r.from > 12_000),
      60_000,
      'a first range',
    )
    const off = await t.request('PATCH', `/api/v1/cameras/${first}`, {
      token,
      body: { recording: { enabled: false, retentionDays: 1 } },
    })
    expect(off.status).toBe(200)
    await waitUntil(
      async () => {
        const r = await recorded(first)
        return r.length > 0 && r.every((x) => Date.now() - x.to > 8_000)
      },
      60_000,
      'recording stopped for 8 s',
    )
    const on = await t.request('PATCH', `/api/v1/cameras/${first}`, {
      token,
      body: { recording: { enabled: true, retentionDays: 1 } },
    })
    expect(on.status).toBe(200)
    await waitUntil(
      async () => {
        const r = await recorded(first)
        return r.length >= 2 && (r.at(-1)?.to ?? 0) - (r.at(-1)?.from ?? 0) > 10_000
      },
      60_000,
      'a second range of 10 s',
    )
    const r = await recorded(first)
    gap = { from: r.at(-2)?.to as number, to: r.at(-1)?.from as number }
  },
  async () => {
    await a?.cleanup()
    await t?.close()
    await sim?.close()
  },
  240_000,
)

const wallClock = (page: Page, cameraId: string) =>
  page
    .locator(`[data-camera-id="${cameraId}"] video[data-role="playback"]`)
    .getAttribute('data-wall-clock')
    .then((v) => (v ? Date.parse(v) : undefined))

describe.skipIf(!chromiumAvailable)('playback in the console', () => {
  it('plays a recorded moment, with the wall clock of the frame shown', async () => {
    const first = cams[0] as string
    const ranges = await recorded(first)
    const want = (ranges[0]?.from as number) + 3000
    const { page, context, errors } = await openConsole(suite.browser)
    await signIn(page, t.url, ADMIN, `/playback/${first}?t=${new Date(want).toISOString()}`)
    await expect.poll(() => wallClock(page, first), { timeout: 30_000 }).toBeDefined()
    const shown = (await wallClock(page, first)) as number
    expect(Math.abs(shown - want)).toBeLessThanOrEqual(2000)
    // It plays: the clock moves on.
    await expect
      .poll(async () => ((await wallClock(page, first)) ?? 0) - shown, { timeout: 20_000 })
      .toBeGreaterThan(1000)
    await screenshot(page, 'playback')
    await expectAccessible(page)
    // Hovering the clock shows the site's own time: Tokyo, UTC+9 (the browser's zone is not).
    const clock = page.getByLabel('Time on screen')
    await expect(clock.getAttribute('title')).resolves.toMatch(/^.+ \(Asia\/Tokyo\): .*GMT\+9$/)

    // A seek into the gap lands at the start of the next recorded range.
    const into = gap.from + (gap.to - gap.from) / 2
    await page.getByLabel('Go to time').fill(toLocalInput(new Date(into).toISOString()))
    await page.getByRole('button', { name: 'Go', exact: true }).click()
    await expect
      .poll(
        async () => {
          const w = await wallClock(page, first)
          return w !== undefined && w >= gap.to - 500 && w <= gap.to + 3000
        },
        { timeout: 20_000 },
      )
      .toBe(true)
    expect(errors).toEqual([])
    await context.close()
  })

  it('keeps four cameras on one time cursor', async () => {
    const [lead, ...rest] = cams as [string, ...string[]]
    const ranges = await recorded(lead)
    const want = (ranges.at(-1)?.from as number) + 2000
    const { page, context, errors } = await openConsole(suite.browser, { width: 1400, height: 1000 })
    await signIn(
      page,
      t.url,
      ADMIN,
      `/playback/${lead}?with=${rest.join(',')}&t=${new Date(want).toISOString()}`,
    )
    for (const id of cams) await expect.poll(() => wallClock(page, id), { timeout: 30_000 }).toBeDefined()
    // Sampled several times while playing: the four stay within a second of each other.
    for (let i = 0; i < 5; i++) {
      await expect
        .poll(
          async () => {
            const clocks = await Promise.all(cams.map((id) => wallClock(page, id)))
            if (clocks.some((c) => c === undefined)) return Number.POSITIVE_INFINITY
            const xs = clocks as number[]
            return Math.max(...xs) - Math.min(...xs)
          },
          { timeout: 10_000 },
        )
        .toBeLessThanOrEqual(1000)
      await page.waitForTimeout(500)
    }
    await screenshot(page, 'playback-four')
    expect(errors).toEqual([])
    await context.close()
  })

  it("adds a bookmark at the player's time and shows it on the timeline", async () => {
    const first = cams[0] as string
    const ranges = await recorded(first)
    const want = (ranges.at(-1)?.from as number) + 2000
    const { page, context, errors } = await openConsole(suite.browser)
    await signIn(page, t.url, ADMIN, `/playback/${first}?t=${new Date(want).toISOString()}`)
    await expect.poll(() => wallClock(page, first), { timeout: 30_000 }).toBeDefined()
    await page.getByRole('button', { name: 'Pause' }).click()
    await page.getByRole('button', { name: 'Add bookmark' }).click()
    await page.getByLabel('Title').fill('Van at the gate')
    await page.getByLabel('Note').fill('Blue van, no plates')
    await expectAccessible(page)
    await page.getByRole('button', { name: 'Save bookmark' }).click()
    const marker = page.locator(`[data-camera-id="${first}"] .timeline-bookmark[title="Van at the gate"]`)
    await expect.poll(() => marker.count(), { timeout: 10_000 }).toBe(1)
    expect(await marker.isVisible()).toBe(true)
    const id = (await marker.getAttribute('data-bookmark-id')) as string
    // Stored at the player's time, for 30 s.
    const stored = await t.request('GET', `/api/v1/bookmarks/${id}`, { token })
    expect(stored.status, stored.text).toBe(200)
    expect(stored.body).toMatchObject({
      cameraId: first,
      title: 'Van at the gate',
      note: 'Blue van, no plates',
    })
    expect(Date.parse(stored.body.to) - Date.parse(stored.body.from)).toBe(30_000)
    expect(Math.abs(Date.parse(stored.body.from) - want)).toBeLessThanOrEqual(15_000)
    await screenshot(page, 'playback-bookmark')
    // Fetched with the rest of the timeline when the page opens again.
    await page.reload()
    await expect
      .poll(() => page.locator(`.timeline-bookmark[data-bookmark-id="${id}"]`).count(), { timeout: 20_000 })
      .toBe(1)
    expect(errors).toEqual([])
    await context.close()
  })
})
