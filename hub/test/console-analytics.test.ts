import { randomUUID } from 'node:crypto'
import type { Locator, Page } from 'playwright-core'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { chromiumAvailable } from '../../scripts/lib/chromium.ts'
import {
  consoleSuite,
  expectAccessible,
  expectNoHorizontalScroll,
  openConsole,
  screenshot,
  signIn,
} from './helpers/console-browser.ts'
import { enrollmentCode } from './helpers/enrollment.ts'
import {
  ADMIN_PASSWORD,
  startTestHub,
  type TestHub,
  USER_PASSWORD,
  userWithRole,
} from './helpers/test-hub.ts'

/**
 * The console's analytics (issue 13) in Debian's Chromium against a real hub, without an agent:
 * object events, their cached snapshots and the camera's motion activity are put straight into
 * the database, as the hub keeps them once an agent has reported them. Covers the events page's
 * object filters, snapshots and detail, the camera's analytics editor (drawing a zone, saving,
 * the hub's refusal shown next to the form), who sees the editor, and the playback timeline's
 * object markers and motion bars.
 */

const ADMIN = { tenant: 'system', username: 'admin', password: ADMIN_PASSWORD }
let t: TestHub
let adminToken: string
let tenantId: string
let siteId: string
let agentId: string
let cameraId: string
const eventIds: Record<'person' | 'car' | 'walker', string> = { person: '', car: '', walker: '' }
/** The time the page is opened at: the events sit in the hour before it. */
const NOW = Date.now()
const minutesAgo = (m: number) => new Date(NOW - m * 60_000).toISOString()

/** A small JPEG of one colour (the hub serves what it cached; the console only shows it). */
const jpeg = (width: number, height: number, r: number, g: number, b: number) =>
  sharp({ create: { width, height, channels: 3, background: { r, g, b } } })
    .jpeg({ quality: 70 })
    .toBuffer()

let seq = 0
async function insertEvent(type: string, time: string, data: Record<string, unknown>): Promise<string> {
  const res = await t.db.adminQuery<{ id: string }>(
    `insert into events (tenant_id, agent_id, site_id, camera_id, seq, type, time, data, object_id)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning id`,
    [
      tenantId,
      agentId,
      siteId,
      cameraId,
      ++seq,
      type,
      time,
      JSON.stringify(data),
      type === 'object' ? randomUUID() : null,
    ],
  )
  return String(res.rows[0]?.id)
}

function objectData(label: string, over: Record<string, unknown>) {
  return {
    label,
    score: 0.8,
    startTime: minutesAgo(10),
    endTime: null,
    zones: [],
    box: [0.2, 0.3, 0.4, 0.9],
    stationary: false,
    loitering: false,
    hasSnapshot: true,
    ...over,
  }
}

async function insertSnapshots(eventId: string, colour: [number, number, number]): Promise<void> {
  for (const [variant, w, h] of [
    ['crop', 96, 128],
    ['box', 640, 360],
  ] as const) {
    await t.db.adminQuery(
      'insert into event_snapshots (event_id, variant, tenant_id, jpeg, width, height) values ($1, $2, $3, $4, $5, $6)',
      [eventId, variant, tenantId, await jpeg(w, h, ...colour), w, h],
    )
  }
}

const suite = consoleSuite(
  'analytics',
  async () => {
    t = await startTestHub({}, { systemLicense: true })
    adminToken = await t.adminToken()
    const code = await enrollmentCode(t, 'Depot')
    siteId = code.siteId
    const enrolled = await t.request('POST', '/api/v1/enroll', {
      body: { code: code.code, name: 'depot-agent' },
    })
    expect(enrolled.status, enrolled.text).toBe(201)
    agentId = enrolled.body.agentId
    const camera = await t.request('POST', '/api/v1/cameras', {
      token: adminToken,
      body: { name: 'Gate', siteId, agentId, streams: [{ role: 'main', url: 'rtsp://10.0.0.1/gate' }] },
    })
    expect(camera.status, camera.text).toBe(201)
    cameraId = camera.body.id
    tenantId = camera.body.tenantId

    // A person still in view at the entrance, a car that left the driveway, an older person
    // without a snapshot, and an event of another type.
    eventIds.person = await insertEvent(
      'object',
      minutesAgo(10),
      objectData('person', { score: 0.91, zones: ['entrance'], startTime: minutesAgo(10) }),
    )
    eventIds.car = await insertEvent(
      'object',
      minutesAgo(20),
      objectData('car', {
        score: 0.78,
        zones: ['driveway'],
        startTime: minutesAgo(20),
        endTime: minutesAgo(18),
      }),
    )
    eventIds.walker = await insertEvent(
      'object',
      minutesAgo(30),
      objectData('person', {
        score: 0.66,
        startTime: minutesAgo(30),
        endTime: minutesAgo(29),
        hasSnapshot: false,
      }),
    )
    await insertEvent('camera.offline', minutesAgo(40), { reason: 'timeout' })
    await insertSnapshots(eventIds.person, [200, 60, 60])
    await insertSnapshots(eventIds.car, [60, 60, 200])

    // Motion in the 10 s buckets around the events: a burst per event, full at its peak.
    const bucket = (ms: number) => new Date(Math.floor(ms / 10_000) * 10_000).toISOString()
    for (const m of [10, 20, 30])
      for (let i = -3; i <= 3; i++)
        await t.db.adminQuery(
          'insert into camera_activity (tenant_id, camera_id, bucket_start, motion_seconds) values ($1, $2, $3, $4)',
          [tenantId, cameraId, bucket(NOW - m * 60_000 + i * 10_000), 10 - Math.abs(i) * 3],
        )
  },
  async () => {
    await t?.close()
  },
)

const heading = (page: Page, name: string | RegExp) => page.getByRole('heading', { name, level: 1 })

/** Waits for an image to have decoded, and returns its natural width. */
async function loadedWidth(img: Locator): Promise<number> {
  await img.waitFor()
  await expect
    .poll(() =>
      img.evaluate((el) => ((el as HTMLImageElement).complete ? (el as HTMLImageElement).naturalWidth : 0)),
    )
    .toBeGreaterThan(0)
  return img.evaluate((el) => (el as HTMLImageElement).naturalWidth)
}

const eventItems = (page: Page) =>
  page.getByRole('list', { name: 'Events, newest first' }).getByRole('listitem')

async function applyFilters(page: Page, fill: { label?: string; zone?: string; active?: boolean }) {
  await page.getByLabel('Label', { exact: true }).fill(fill.label ?? '')
  await page.getByLabel('Zone', { exact: true }).fill(fill.zone ?? '')
  await page.getByLabel('Active only', { exact: true }).setChecked(fill.active ?? false)
  await page.getByRole('button', { name: 'Apply filters' }).click()
}

describe.skipIf(!chromiumAvailable)('console analytics in Chromium', () => {
  it('lists object events with snapshots, filters them by label, zone and activity, and opens one', async () => {
    const { page, context, errors } = await openConsole(suite.browser)
    await signIn(page, t.url, ADMIN, '/events')
    await heading(page, 'Events').waitFor()
    await page.getByText('4 events', { exact: true }).waitFor()

    // The thumbnails: the crop variant, fetched with the session's token.
    expect(await loadedWidth(page.getByRole('img', { name: 'Snapshot: person' }))).toBe(96)
    expect(await loadedWidth(page.getByRole('img', { name: 'Snapshot: car' }))).toBe(96)
    const person = eventItems(page).filter({ has: page.getByRole('img', { name: 'Snapshot: person' }) })
    await expect.poll(() => person.innerText()).toMatch(/91 %/)
    expect(await person.innerText()).toMatch(/active/)
    expect(await person.innerText()).toMatch(/Zones: entrance/)
    await screenshot(page, 'events-objects')
    await expectAccessible(page)

    // Label: the car alone; the filter is in the address.
    await applyFilters(page, { label: 'car' })
    await page.getByText('1 event', { exact: true }).waitFor()
    expect(new URL(page.url()).searchParams.get('label')).toBe('car')
    expect(await eventItems(page).count()).toBe(1)
    expect(await eventItems(page).first().innerText()).toMatch(/car[\s\S]*78 %[\s\S]*ended/)

    // Zone: the person who entered the entrance.
    // The count was "1 event" already (the car): the list itself is what changes.
    await applyFilters(page, { zone: 'entrance' })
    await page.getByText('1 event', { exact: true }).waitFor()
    await expect.poll(() => eventItems(page).first().innerText()).toMatch(/person[\s\S]*Zones: entrance/)

    // Label with "active only": the person still in view, not the one who left.
    await applyFilters(page, { label: 'person', active: true })
    await page.getByText('1 event', { exact: true }).waitFor()
    expect(new URL(page.url()).searchParams.get('active')).toBe('true')
    await expect.poll(() => eventItems(page).first().innerText()).toMatch(/person[\s\S]*active/)
    await applyFilters(page, { label: 'person' })
    await page.getByText('2 events', { exact: true }).waitFor()
    expect(await eventItems(page).nth(1).innerText()).toMatch(/No snapshot/)

    // The detail: the full snapshot with its box, the clip and playback.
    await page
      .getByRole('button', { name: /^Details of person/ })
      .first()
      .click()
    const dialog = page.getByRole('dialog', { name: 'person at Gate' })
    await dialog.waitFor()
    expect(await loadedWidth(dialog.getByRole('img', { name: 'Snapshot with box: person' }))).toBe(640)
    expect(await dialog.getByRole('link', { name: 'Download clip' }).getAttribute('href')).toBe(
      `/api/v1/events/${eventIds.person}/clip.mp4`,
    )
    const playback = await dialog.getByRole('link', { name: 'Open in playback' }).getAttribute('href')
    expect(playback).toBe(`/playback/${cameraId}?t=${encodeURIComponent(minutesAgo(10))}`)
    await screenshot(page, 'events-object-detail')
    await expectAccessible(page)
    await dialog.getByRole('button', { name: 'Close' }).click()
    await dialog.waitFor({ state: 'hidden' })

    // The type filter still works as it did.
    await page.getByRole('button', { name: 'Clear filters' }).click()
    await page.getByLabel('Type', { exact: true }).fill('camera.offline')
    await page.getByRole('button', { name: 'Apply filters' }).click()
    await page.getByText('1 event', { exact: true }).waitFor()
    expect(await eventItems(page).first().innerText()).toMatch(/camera\.offline/)
    expect(errors).toEqual([])
    await context.close()
  })

  it('edits a camera’s analytics: zone drawn on the picture, saved, refused input shown', async () => {
    const { page, context, errors } = await openConsole(suite.browser, { width: 1366, height: 1000 })
    await signIn(page, t.url, ADMIN, '/admin/cameras')
    await heading(page, 'Cameras').waitFor()
    const card = page.getByRole('article', { name: 'Gate' })
    await card.getByText('disabled', { exact: true }).waitFor()
    await card.getByRole('button', { name: 'Analytics of camera Gate' }).click()
    const editor = page.getByRole('region', { name: 'Analytics of Gate' })
    await editor.waitFor()
    // The agent never connected: no still, a grid to draw on.
    await editor.getByRole('status').filter({ hasText: 'drawing on a grid' }).waitFor()

    await editor.getByLabel('Enable analytics', { exact: true }).check()
    await editor.getByLabel('Frames per second', { exact: true }).fill('4')
    await editor.getByRole('checkbox', { name: 'car', exact: true }).check()
    await editor.getByLabel('Minimum score', { exact: true }).fill('0.55')
    await editor.getByLabel('Threshold', { exact: true }).fill('0.75')
    await editor.getByRole('button', { name: 'Add zone' }).click()
    await editor.getByLabel('Zone name', { exact: true }).fill('entrance')
    await editor.getByLabel('Objects of zone entrance', { exact: true }).fill('person')
    await editor.getByLabel('Loiter seconds of zone entrance', { exact: true }).fill('30')

    // Four clicks on the picture make the zone; then a point is dragged.
    const canvas = editor.getByRole('application')
    const box = await canvas.boundingBox()
    if (!box) throw new Error('no drawing area')
    for (const [x, y] of [
      [0.1, 0.5],
      [0.5, 0.5],
      [0.5, 0.9],
      [0.1, 0.9],
    ] as const)
      await canvas.click({ position: { x: box.width * x, y: box.height * y } })
    const points = editor.getByLabel('Points of zone entrance', { exact: true })
    await expect.poll(() => points.inputValue()).toBe('0.1,0.5 0.5,0.5 0.5,0.9 0.1,0.9')
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.9)
    await page.mouse.down()
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.95, { steps: 4 })
    await page.mouse.up()
    await expect.poll(() => points.inputValue()).toBe('0.1,0.5 0.5,0.5 0.6,0.95 0.1,0.9')
    await editor.getByRole('button', { name: 'Finish shape' }).click()
    await editor.getByRole('button', { name: 'Add motion mask' }).click()
    for (const [x, y] of [
      [0.8, 0.02],
      [0.98, 0.02],
      [0.98, 0.12],
    ] as const)
      await canvas.click({ position: { x: box.width * x, y: box.height * y } })
    await screenshot(page, 'admin-camera-analytics')
    await expectAccessible(page)
    await editor.getByRole('button', { name: 'Save', exact: true }).click()
    await page.getByRole('status').filter({ hasText: 'Saved the analytics of Gate.' }).waitFor()

    const saved = await t.request('GET', `/api/v1/cameras/${cameraId}`, { token: adminToken })
    expect(saved.body.analyticsConfig).toMatchObject({
      enabled: true,
      fps: 4,
      objects: ['person', 'car'],
      minScore: 0.55,
      threshold: 0.75,
      zones: [
        {
          name: 'entrance',
          objects: ['person'],
          loiterSeconds: 30,
          inertia: 3,
          polygon: [
            [0.1, 0.5],
            [0.5, 0.5],
            [0.6, 0.95],
            [0.1, 0.9],
          ],
        },
      ],
      motionMasks: [
        [
          [0.8, 0.02],
          [0.98, 0.02],
          [0.98, 0.12],
        ],
      ],
    })
    // On, but no agent reports it: the card says so.
    await card.getByText('error', { exact: true }).waitFor()

    // A second zone named like the first (case aside) is refused; the hub's words show.
    await card.getByRole('button', { name: 'Analytics of camera Gate' }).click()
    await editor.waitFor()
    expect(await editor.getByLabel('Points of zone entrance', { exact: true }).inputValue()).toBe(
      '0.1,0.5 0.5,0.5 0.6,0.95 0.1,0.9',
    )
    await editor.getByRole('button', { name: 'Add zone' }).click()
    await editor.getByLabel('Zone name', { exact: true }).nth(1).fill('Entrance')
    for (const [x, y] of [
      [0.6, 0.1],
      [0.9, 0.1],
      [0.9, 0.4],
    ] as const)
      await canvas.click({ position: { x: box.width * x, y: box.height * y } })
    await editor.getByRole('button', { name: 'Save', exact: true }).click()
    await editor.getByRole('alert').filter({ hasText: 'analytics.zones.1.name' }).waitFor()
    expect(await editor.getByRole('alert').innerText()).toMatch(/duplicates zone 0/)

    // A zone of two points is refused too.
    await editor.getByLabel('Zone name', { exact: true }).nth(1).fill('exit')
    // Still the zone being drawn: its last point goes.
    await editor.getByRole('button', { name: 'Drawing zone exit' }).waitFor()
    await editor.getByRole('button', { name: 'Undo last point' }).click()
    await editor.getByRole('button', { name: 'Save', exact: true }).click()
    await editor.getByRole('alert').filter({ hasText: 'analytics.zones.1.polygon' }).waitFor()
    await screenshot(page, 'admin-camera-analytics-refused')
    await expectAccessible(page)
    await editor.getByRole('button', { name: 'Cancel' }).click()
    const after = await t.request('GET', `/api/v1/cameras/${cameraId}`, { token: adminToken })
    expect(after.body.analyticsConfig.zones).toHaveLength(1)

    // The two refusals are the only failed requests.
    expect(
      errors.filter((e) => !e.startsWith(`http 400: PATCH ${t.url}/api/v1/cameras/${cameraId}`)),
    ).toEqual([])
    expect(errors).toHaveLength(2)
    await context.close()
  })

  it('draws on a still from the camera when the agent gives one, and fits a phone', async () => {
    const { page, context, errors } = await openConsole(suite.browser, { width: 390, height: 844 })
    // The agent never connects in this test: the page is told it is online and the still is
    // answered here, as the agent's camera.probe would (a 640x360 JPEG).
    const still = (await jpeg(640, 360, 40, 120, 40)).toString('base64')
    await page.route(
      (url) => url.pathname === '/api/v1/agents',
      async (route) => {
        const res = await route.fetch()
        const body = (await res.json()) as { items: { status: string }[] }
        for (const a of body.items) a.status = 'online'
        await route.fulfill({ response: res, json: body })
      },
    )
    // …and that the camera's analytics run, with the agent's figures.
    await page.route(
      (url) => url.pathname === '/api/v1/cameras',
      async (route) => {
        const res = await route.fetch()
        const body = (await res.json()) as { items: Record<string, unknown>[] }
        for (const c of body.items)
          c.analytics = { state: 'running', fps: 4.96, inferenceMsP50: 21.4, skippedByMotion: 0.873 }
        await route.fulfill({ response: res, json: body })
      },
    )
    let asked: unknown
    await page.route(`**/api/v1/cameras/${cameraId}/test-stream`, (route) => {
      asked = route.request().postDataJSON()
      return route.fulfill({
        json: {
          stream: 'main',
          codec: 'h264',
          width: 640,
          height: 360,
          fps: 10,
          still: { contentType: 'image/jpeg', base64: still },
        },
      })
    })
    await signIn(page, t.url, ADMIN, '/admin/cameras')
    await heading(page, 'Cameras').waitFor()
    const status = page.getByRole('article', { name: 'Gate' }).locator('[data-analytics-state="running"]')
    expect(await status.innerText()).toBe(
      'running 5 fps · inference 21 ms · 87 % of frames skipped (no motion)',
    )
    await page.getByRole('button', { name: 'Analytics of camera Gate' }).click()
    const editor = page.getByRole('region', { name: 'Analytics of Gate' })
    const picture = editor.locator('.shape-canvas img')
    expect(await loadedWidth(picture)).toBe(640)
    expect(asked).toEqual({ stream: 'main' })
    // The zone saved before is drawn over it.
    await editor.locator('.shape-zone polygon').waitFor()
    await screenshot(page, 'admin-camera-analytics-phone')
    await expectNoHorizontalScroll(page)
    await expectAccessible(page)
    await editor.getByRole('button', { name: 'Cancel' }).click()

    await page.goto(`${t.url}/events?label=person`)
    await page.getByText('2 events', { exact: true }).waitFor()
    await expectNoHorizontalScroll(page)
    expect(errors).toEqual([])
    await context.close()
  })

  it('shows no Analytics button to a viewer without camera.manage', async () => {
    await userWithRole(t, 'system', adminToken, 'gate-viewer', 'viewer', { type: 'tenant' })
    const { page, context, errors } = await openConsole(suite.browser)
    await signIn(
      page,
      t.url,
      { tenant: 'system', username: 'gate-viewer', password: USER_PASSWORD },
      '/admin/cameras',
    )
    await heading(page, 'Cameras').waitFor()
    const card = page.getByRole('article', { name: 'Gate' })
    await card.waitFor()
    expect(await card.getByRole('button', { name: /Analytics/ }).count()).toBe(0)
    expect(await page.getByRole('region', { name: /^Analytics of/ }).count()).toBe(0)
    expect(errors).toEqual([])
    await context.close()
  })

  it("takes the motion from the camera's own events when its device sends them", async () => {
    const created = await t.request('POST', '/api/v1/cameras', {
      token: adminToken,
      body: {
        name: 'Porch',
        siteId,
        agentId,
        streams: [{ role: 'main', url: 'rtsp://10.0.0.2/porch' }],
        device: { protocol: 'onvif', address: '127.0.0.1:9', channel: '', events: true },
      },
    })
    expect(created.status, created.text).toBe(201)
    const porchId = created.body.id as string
    const { page, context, errors } = await openConsole(suite.browser, { width: 1366, height: 1000 })
    await signIn(page, t.url, ADMIN, '/admin/cameras')
    await heading(page, 'Cameras').waitFor()

    // Gate has no device: only the agent can give its motion.
    await page.getByRole('button', { name: 'Analytics of camera Gate' }).click()
    const gate = page.getByRole('region', { name: 'Analytics of Gate' })
    const gateSource = gate.getByLabel('Motion from', { exact: true })
    expect(await gateSource.inputValue()).toBe('agent')
    expect(await gateSource.isDisabled()).toBe(true)
    expect(await gate.getByText(/needs its device .* with events on/).count()).toBe(1)
    await gate.getByRole('button', { name: 'Cancel' }).click()

    await page.getByRole('button', { name: 'Analytics of camera Porch' }).click()
    const editor = page.getByRole('region', { name: 'Analytics of Porch' })
    const source = editor.getByLabel('Motion from', { exact: true })
    expect(await source.isDisabled()).toBe(false)
    await editor.getByLabel('Enable analytics', { exact: true }).check()
    await source.selectOption({ label: "The camera's own motion events" })
    await editor.getByText(/detection looks at the whole picture/).waitFor()
    await expectAccessible(page)
    await editor.getByRole('button', { name: 'Save', exact: true }).click()
    await page.getByRole('status').filter({ hasText: 'Saved the analytics of Porch.' }).waitFor()

    const saved = await t.request('GET', `/api/v1/cameras/${porchId}`, { token: adminToken })
    expect(saved.body.analyticsConfig).toMatchObject({ enabled: true, motionSource: 'device' })
    // Reopened, the editor shows what was saved.
    await page.getByRole('button', { name: 'Analytics of camera Porch' }).click()
    await editor.waitFor()
    expect(await editor.getByLabel('Motion from', { exact: true }).inputValue()).toBe('device')
    await editor.getByRole('button', { name: 'Cancel' }).click()
    expect(errors).toEqual([])
    await context.close()
  })

  it('draws motion and object events on the playback timeline', async () => {
    const { page, context, errors } = await openConsole(suite.browser, { width: 1100, height: 1000 })
    await signIn(page, t.url, ADMIN, `/playback/${cameraId}?t=${encodeURIComponent(minutesAgo(15))}`)
    await heading(page, 'Playback').waitFor()
    const row = page.locator(`.timeline-row[data-camera-id="${cameraId}"]`)
    await row.waitFor()
    const markers = row.locator('.timeline-object')
    await expect.poll(() => markers.count()).toBe(3)
    expect((await markers.allInnerTexts()).sort()).toEqual(['car', 'person', 'person'])
    expect(await row.locator('.timeline-object.active').innerText()).toBe('person')
    const bars = row.locator('.timeline-motion')
    await expect.poll(() => bars.count()).toBeGreaterThan(2)
    // Heights follow the share of each bucket with motion.
    const heights = await bars.evaluateAll((els) =>
      els.map((el) => (el as HTMLElement).getBoundingClientRect().height),
    )
    expect(Math.max(...heights)).toBeGreaterThan(Math.min(...heights))
    // Without an agent the recordings cannot be listed: the page says so, the rest still shows.
    await page.getByRole('alert').first().waitFor()
    await screenshot(page, 'playback-analytics')
    // Only the agent's requests (recordings, the player's playlist) fail: nobody is connected.
    expect(errors.filter((e) => !/\/api\/v1\/cameras\/[^/]+\/(recordings|playback\.m3u8)/.test(e))).toEqual(
      [],
    )
    await context.close()
  })

  it('shows a capped count as "10,000+" and loads older pages by cursor, each event once', async () => {
    // More events than the hub counts, days before the others, in runs sharing one time.
    await t.db.adminQuery(
      `insert into events (tenant_id, site_id, type, time, data)
       select $1, $2, 'bulk.tick', $3::timestamptz - (g / 3) * interval '1 second', jsonb_build_object('n', g)
       from generate_series(1, 10050) g`,
      [tenantId, siteId, new Date(NOW - 3 * 86_400_000).toISOString()],
    )
    const { page, context, errors } = await openConsole(suite.browser)
    try {
      await signIn(page, t.url, ADMIN, '/events')
      await page.getByText('10,000+ events', { exact: true }).waitFor()
      await expect.poll(() => eventItems(page).count()).toBe(50)
      await page.getByRole('button', { name: 'Load more events' }).click()
      await expect.poll(() => eventItems(page).count()).toBeGreaterThanOrEqual(100)
      await page.getByRole('button', { name: 'Load more events' }).click()
      await expect.poll(() => eventItems(page).count()).toBeGreaterThanOrEqual(150)
      // Newest first, and no event twice across the pages (each bulk event says its number).
      const times = await eventItems(page)
        .locator('time')
        .evaluateAll((els) => els.map((el) => el.getAttribute('datetime') ?? ''))
      expect(times).toEqual([...times].sort().reverse())
      const numbers = (await eventItems(page).allInnerTexts()).flatMap(
        (text) => /\bn: (\d+)/.exec(text)?.[1] ?? [],
      )
      expect(numbers.length).toBeGreaterThanOrEqual(146)
      expect(new Set(numbers).size).toBe(numbers.length)
      // Equal times: the later insert (the higher id) first.
      expect(numbers.slice(0, 5)).toEqual(['2', '1', '5', '4', '3'])
      // A filter that matches fewer counts exactly again.
      await page.getByLabel('Type', { exact: true }).fill('camera.offline')
      await page.getByRole('button', { name: 'Apply filters' }).click()
      await page.getByText('1 event', { exact: true }).waitFor()
      await expectAccessible(page)
      expect(errors).toEqual([])
    } finally {
      await context.close()
      await t.db.adminQuery(`delete from events where type = 'bulk.tick'`)
    }
  })
})
