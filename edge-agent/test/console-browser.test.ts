import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import {
  consoleSuite,
  expectAccessible,
  expectNoHorizontalScroll,
  navLinks,
  openConsole,
  screenshot,
  signIn,
} from '../../hub/test/helpers/console-browser.ts'
import {
  ADMIN_PASSWORD,
  startTestHub,
  type TestHub,
  USER_PASSWORD,
  userWithRole,
} from '../../hub/test/helpers/test-hub.ts'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'
import { chromiumAvailable } from '../../scripts/lib/chromium.ts'
import { freePort, type TestAgent } from './helpers/agent-harness.ts'
import { siteWithAgent } from './helpers/site.ts'

/**
 * The web console in Debian's Chromium against a real hub, a real agent and the camera
 * simulator: sign-in, the main navigation per permission, the live grid playing cameras, the
 * single view, saved views, and a session that ends and comes back to the same page.
 */

const ADMIN = { tenant: 'system', username: 'admin', password: ADMIN_PASSWORD }
let t: TestHub
let a: TestAgent
let sim: CameraSimulator
let lobby: string
let yard: string
let addCamera: Awaited<ReturnType<typeof siteWithAgent>>['addCamera']

const suite = consoleSuite(
  'browser',
  async () => {
    sim = await CameraSimulator.start({
      streams: [
        { name: 'lobby', codec: 'h264' },
        { name: 'yard', codec: 'h264' },
        { name: 'yard-sub', codec: 'h264', sub: true },
      ],
    })
    t = await startTestHub(
      {
        VMS_MQTT_PORT: await freePort(),
        VMS_LIVE_HOST_ADDRESSES: '127.0.0.1',
        VMS_LIVE_UPSTREAM_LINGER_MS: 0,
      },
      { systemLicense: true },
    )
    const site = await siteWithAgent(t, {
      VMS_AGENT_LIVE_HOST_ADDRESSES: '127.0.0.1',
      VMS_AGENT_MIN_FREE_BYTES: 0,
    })
    a = site.agent
    addCamera = site.addCamera
    lobby = await site.addCamera({ name: 'Lobby', streams: [{ role: 'main', url: sim.url('lobby') }] })
    yard = await site.addCamera({
      name: 'Yard',
      streams: [
        { role: 'main', url: sim.url('yard') },
        { role: 'sub', url: sim.url('yard-sub') },
      ],
    })
  },
  async () => {
    await a?.cleanup()
    await t?.close()
    await sim?.close()
  },
  120_000,
)

/** Waits until the tile's video has a size and decodes frames that keep coming. */
async function expectPlaying(page: Page, cameraId: string): Promise<void> {
  const video = page.locator(`[data-camera-id="${cameraId}"] video`)
  await video.waitFor()
  const frames = () =>
    video.evaluate((v: HTMLVideoElement) => ({
      width: v.videoWidth,
      frames: v.getVideoPlaybackQuality().totalVideoFrames,
    }))
  // A size and a few decoded frames (the count is the element's: it survives a reconnect, the size not).
  await expect
    .poll(
      async () => {
        const f = await frames()
        return f.width > 0 && f.frames > 3
      },
      { timeout: 30_000 },
    )
    .toBe(true)
  const before = await frames()
  await expect
    .poll(async () => (await frames()).frames, { timeout: 20_000 })
    .toBeGreaterThan(before.frames + 5)
}

describe.skipIf(!chromiumAvailable)('web console in Chromium', () => {
  it('signs in by label, shows every link to an admin, and plays two cameras in the grid', async () => {
    const { page, context, errors } = await openConsole(suite.browser)
    await page.goto(`${t.url}/`)
    await page.getByLabel('Tenant').waitFor()
    await screenshot(page, 'sign-in')
    await expectAccessible(page)
    await signIn(page, t.url, ADMIN)
    expect(new URL(page.url()).pathname).toBe('/live')
    expect(await navLinks(page)).toEqual([
      'Live',
      'Playback',
      'Events',
      'Health',
      'Alarms',
      'Cases',
      'Tenants',
      'Sites',
      'Agents',
      'Cameras',
      'Models',
      'Users',
      'Notifications',
      'Evidence',
      'Audit',
      'License',
    ])
    await expectPlaying(page, lobby)
    await expectPlaying(page, yard)
    await expect
      .poll(() => page.locator(`[data-camera-id="${lobby}"]`).getAttribute('data-state'))
      .toBe('streaming')
    // The grid asks for sub streams: Yard sends its 320x180 one, Lobby (no sub) its main.
    const tile = (id: string) => page.locator(`[data-camera-id="${id}"]`)
    const width = (id: string) =>
      tile(id)
        .locator('video')
        .evaluate((v: HTMLVideoElement) => v.videoWidth)
    await expect.poll(() => tile(yard).getAttribute('data-stream')).toBe('sub')
    expect(await width(yard)).toBe(320)
    await expect.poll(() => tile(lobby).getAttribute('data-stream')).toBe('main')
    expect(await width(lobby)).toBe(640)
    await expect(page.locator(`[data-camera-id="${lobby}"] figcaption`).innerText()).resolves.toMatch(/Lobby/)
    await screenshot(page, 'live')
    await expectAccessible(page)

    // Enter on a tile opens the single view; the URL keeps it across a reload.
    await page.locator(`[data-camera-id="${yard}"]`).focus()
    await page.keyboard.press('Enter')
    await page.getByRole('button', { name: 'Back to the grid' }).waitFor()
    expect(new URL(page.url()).searchParams.get('camera')).toBe(yard)
    await page.reload()
    await expectPlaying(page, yard)
    // The single view shows the main stream, switchable to the sub.
    await expect.poll(() => tile(yard).getAttribute('data-stream')).toBe('main')
    await expect.poll(() => width(yard)).toBe(640)
    await expect(tile(yard).locator('figcaption').innerText()).resolves.toMatch(/Main stream/)
    await screenshot(page, 'live-single')
    await page.getByLabel('Stream', { exact: true }).selectOption({ label: 'Sub stream' })
    await expect.poll(() => tile(yard).getAttribute('data-stream'), { timeout: 20_000 }).toBe('sub')
    await expect.poll(() => width(yard)).toBe(320)
    expect(new URL(page.url()).searchParams.get('stream')).toBe('sub')
    await expectAccessible(page)
    await page.getByRole('button', { name: 'Back to the grid' }).click()
    await expectPlaying(page, lobby)
    expect(errors).toEqual([])
    await context.close()
  })

  it('keeps a saved view on the hub and brings it back', async () => {
    const { page, context, errors } = await openConsole(suite.browser)
    await signIn(page, t.url, ADMIN, '/live')
    await page.getByLabel('Layout').selectOption('1')
    await page.getByRole('button', { name: 'Yard', exact: true }).click()
    await expectPlaying(page, yard)
    await page.getByLabel('View name').fill('Yard only')
    await page.getByRole('button', { name: 'Save view' }).click()
    await page.getByRole('status').filter({ hasText: 'Saved view' }).waitFor()
    const saved = await t.request('GET', '/api/v1/views', { token: await t.adminToken() })
    expect(saved.body.views).toMatchObject([{ name: 'Yard only', layout: '1', cameraIds: [yard] }])

    await page.goto(`${t.url}/live`)
    await page.getByLabel('Saved view').selectOption({ label: 'Yard only' })
    await expectPlaying(page, yard)
    expect(await page.locator('[data-camera-id]').count()).toBe(1)
    await page.getByRole('button', { name: 'Delete view' }).click()
    await page.getByRole('status').filter({ hasText: 'Deleted view' }).waitFor()
    expect((await t.request('GET', '/api/v1/views', { token: await t.adminToken() })).body.views).toEqual([])
    expect(errors).toEqual([])
    await context.close()
  })

  it('shows a camera an administrator adds or removes at once, the other tiles playing on', async () => {
    const { page, context, errors } = await openConsole(suite.browser)
    await signIn(page, t.url, ADMIN, '/live')
    await expectPlaying(page, lobby)
    // The tile's element survives the catalog's reload: its connection is not restarted.
    await page.locator(`[data-camera-id="${lobby}"] video`).evaluate((v) => {
      v.dataset.mark = 'kept'
    })
    const porch = await addCamera({ name: 'Porch', streams: [{ role: 'main', url: sim.url('lobby') }] })
    await page.getByRole('button', { name: 'Porch', exact: true }).waitFor()
    await expectPlaying(page, porch)
    const admin = await t.adminToken()
    expect((await t.request('DELETE', `/api/v1/cameras/${porch}`, { token: admin })).status).toBe(204)
    await page.getByRole('button', { name: 'Porch', exact: true }).waitFor({ state: 'detached' })
    expect(await page.locator(`[data-camera-id="${lobby}"] video`).getAttribute('data-mark')).toBe('kept')
    expect(await page.locator(`[data-camera-id="${lobby}"]`).getAttribute('data-state')).toBe('streaming')
    // The hub ended the deleted camera's session itself; the tile's goodbye may find it gone (404).
    expect(errors.filter((e) => !/^http 404: DELETE .*\/api\/v1\/live\/[0-9a-f-]{36}$/.test(e))).toEqual([])
    await context.close()
  })

  it('returns to sign-in when the session ends, then back to the same page', async () => {
    const { page, context } = await openConsole(suite.browser)
    await signIn(page, t.url, ADMIN, '/live?layout=1')
    // The session ends on the hub (signed out elsewhere): the refresh token is revoked.
    await page.evaluate(async () => {
      const saved = JSON.parse(sessionStorage.getItem('ts-vms.session') ?? '{}') as { refreshToken: string }
      await fetch('/api/v1/auth/logout', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refreshToken: saved.refreshToken }),
      })
      sessionStorage.setItem('ts-vms.session', JSON.stringify({ ...saved, accessToken: 'expired' }))
    })
    await page.goto(`${t.url}/events`)
    await page.getByText('Your session has ended').waitFor()
    expect(new URL(page.url()).searchParams.get('next')).toBe('/events')
    await page.getByLabel('Username').fill('admin')
    await page.getByLabel('Password').fill(ADMIN_PASSWORD)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('heading', { name: 'Events' }).waitFor()
    expect(new URL(page.url()).pathname).toBe('/events')
    await context.close()
  })

  it('shows a camera-scoped viewer only that camera and no administration', async () => {
    const admin = await t.adminToken()
    await userWithRole(t, 'system', admin, 'lobby-viewer', 'viewer', { type: 'camera', id: lobby })
    const { page, context, errors } = await openConsole(suite.browser)
    await signIn(page, t.url, { tenant: 'system', username: 'lobby-viewer', password: USER_PASSWORD })
    expect(await navLinks(page)).toEqual(['Live', 'Playback', 'Events', 'Health'])
    await expectPlaying(page, lobby)
    expect(
      await page
        .locator('[data-camera-id]')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-camera-id')).filter(Boolean)),
    ).toEqual([lobby])

    // An administrator ends the viewer's session: the hub tells the console at once (its update
    // stream; on a shared connection the video would only stop), the tile says why and reconnects.
    const tile = page.locator(`[data-camera-id="${lobby}"]`)
    await tile.evaluate((el) => {
      const seen: string[] = []
      ;(window as unknown as { __tileStates: string[] }).__tileStates = seen
      new MutationObserver(() =>
        seen.push(`${el.getAttribute('data-state')}: ${el.querySelector('.tile-detail')?.textContent ?? ''}`),
      ).observe(el, { attributes: true, attributeFilter: ['data-state'] })
    })
    const sessions = await t.request('GET', `/api/v1/live?cameraId=${lobby}`, { token: admin })
    const watching = sessions.body.items.find(
      (x: { viewer: { username: string } }) => x.viewer.username === 'lobby-viewer',
    )
    expect(watching).toBeDefined()
    const ended = await t.request('POST', `/api/v1/live/${watching.sessionId}/terminate`, { token: admin })
    expect(ended.status).toBe(204)
    await expect
      .poll(() => page.evaluate(() => (window as unknown as { __tileStates: string[] }).__tileStates))
      .toContain('offline: ended by admin')
    await expect.poll(() => tile.getAttribute('data-state'), { timeout: 30_000 }).toBe('streaming')
    expect(errors.filter((e) => !/^http 404: DELETE .*\/api\/v1\/live\/[0-9a-f-]{36}$/.test(e))).toEqual([])
    await context.close()
  })

  it('lists events newest first, filtered, and shows health from the agents', async () => {
    const { page, context, errors } = await openConsole(suite.browser)
    await signIn(page, t.url, ADMIN, '/events')
    // The agent's coming online is an event.
    await page.getByRole('list', { name: 'Events, newest first' }).getByText('agent.online').first().waitFor()
    await page.getByLabel('Type').fill('agent.online')
    await page.getByRole('button', { name: 'Apply filters' }).click()
    await expect.poll(() => new URL(page.url()).searchParams.get('type')).toBe('agent.online')
    const types = () =>
      page.getByRole('list', { name: 'Events, newest first' }).locator('strong').allInnerTexts()
    await expect.poll(async () => [...new Set(await types())]).toEqual(['agent.online'])
    await screenshot(page, 'events')
    await expectAccessible(page)

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Health' }).click()
    await page.getByRole('heading', { name: 'Health' }).waitFor()
    await expect.poll(() => page.getByText(/1 of 1 agents online/).count(), { timeout: 20_000 }).toBe(1)
    const lobbyRow = page.locator(`tr[data-camera-id="${lobby}"]`)
    await expect.poll(() => lobbyRow.innerText(), { timeout: 30_000 }).toMatch(/main: streaming, recording/)
    await screenshot(page, 'health')
    await expectAccessible(page)
    expect(errors).toEqual([])
    await context.close()
  })

  it('fits a phone: one column, no sideways scrolling', async () => {
    const { page, context, errors } = await openConsole(suite.browser, { width: 390, height: 844 })
    await signIn(page, t.url, ADMIN, '/live')
    await expectPlaying(page, lobby)
    await expectNoHorizontalScroll(page)
    await screenshot(page, 'live-phone')
    for (const path of ['/events', '/health', '/playback']) {
      await page.goto(`${t.url}${path}`)
      await page.getByRole('navigation', { name: 'Main' }).waitFor()
      await expectNoHorizontalScroll(page)
    }
    expect(errors).toEqual([])
    await context.close()
  })
})
