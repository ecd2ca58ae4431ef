import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pino from 'pino'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  consoleBuilt,
  expectAccessible,
  expectNoHorizontalScroll,
  openConsole,
  screenshot,
  signIn,
} from '../../hub/test/helpers/console-browser.ts'
import { ADMIN_PASSWORD, startTestHub, type TestHub } from '../../hub/test/helpers/test-hub.ts'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'
import { chromiumAvailable, launchChromium } from '../../scripts/lib/chromium.ts'
import { EdgeAgent } from '../src/agent.ts'
import { loadAgentSettings } from '../src/config.ts'
import { AGENT_VERSION, enroll } from '../src/enroll.ts'
import { freePort } from './helpers/agent-harness.ts'
import { waitUntil } from './helpers/wait.ts'

/**
 * The console's administration of tenants, sites, agents and cameras in Debian's Chromium,
 * against a real hub, a real agent and the camera simulator: a site made on the Sites page, its
 * enrollment code read off the page and used by a real agent, which then shows on the Agents page;
 * a camera added with a password the page and the API never give back (the agent gets it: the
 * simulator asks for it, and the stream plays); its retention edited; the agent revoked after a
 * confirmation; a tenant created, renamed and deleted. Every page: no console errors, no serious
 * or critical axe-core violation, a screenshot under docs/ui/, and no sideways scrolling on a phone.
 * The UI is driven by labels and roles only.
 */
if (!chromiumAvailable)
  console.warn('SKIPPING console admin tests: /usr/bin/chromium is missing (Debian: chromium)')

const ADMIN = { tenant: 'system', username: 'admin', password: ADMIN_PASSWORD }
/** The camera's password: the simulator asks for it, so a stream that plays proves it arrived. */
const CAMERA_PASSWORD = 'Dock-Cam-Secret-5521'
const SITE = 'Harbour'
const AGENT = 'harbour-nvr'

let t: TestHub
let sim: CameraSimulator
let browser: Browser
let agent: EdgeAgent | undefined
let agentDir: string | undefined
let agentId: string
let cameraId: string

beforeAll(async () => {
  if (!chromiumAvailable) return
  await consoleBuilt()
  sim = await CameraSimulator.start({
    streams: [{ name: 'dock', codec: 'h264', auth: { username: 'viewer', password: CAMERA_PASSWORD } }],
  })
  t = await startTestHub({ VMS_MQTT_PORT: await freePort() }, { systemLicense: true })
  browser = await launchChromium()
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await agent?.stop()
  if (agentDir) rmSync(agentDir, { recursive: true, force: true })
  await t?.close()
  await sim?.close()
})

const token = () => t.adminToken()
const mainNav = (page: Page) => page.getByRole('navigation', { name: 'Main' })

/** Every form field's current value: what the DOM holds beyond its markup. */
const fieldValues = (page: Page) =>
  page.evaluate(() =>
    Array.from(document.querySelectorAll('input, textarea'), (e) => (e as HTMLInputElement).value),
  )

describe.skipIf(!chromiumAvailable)('console administration: tenants, sites, agents, cameras', () => {
  it('creates a site and an enrollment code on the Sites page; a real agent enrolls with that code', async () => {
    const { page, context, errors } = await openConsole(browser)
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: t.url })
    await signIn(page, t.url, ADMIN, '/admin/sites')
    await page.getByRole('heading', { name: 'Sites', level: 1 }).waitFor()
    const create = page.getByRole('form', { name: 'New site' })
    await create.getByLabel('Site name').fill(SITE)
    await create.getByRole('button', { name: 'Create site' }).click()
    await page
      .getByRole('status')
      .filter({ hasText: `Created site ${SITE}.` })
      .waitFor()
    const sites = await t.request('GET', '/api/v1/sites', { token: await token() })
    const siteId = sites.body.items.find((s: { name: string }) => s.name === SITE)?.id as string
    expect(siteId).toBeTruthy()

    // Editing goes through its own form and back: a rename, then a time zone typed in lower case
    // (stored canonical); a zone that is not one is refused readably and changes nothing.
    await page.getByRole('button', { name: `Edit site ${SITE}` }).click()
    const edit = page.getByRole('form', { name: `Edit site ${SITE}` })
    await edit.getByLabel('Name', { exact: true }).fill('Harbour Old')
    await edit.getByRole('button', { name: 'Save site' }).click()
    await page
      .getByRole('status')
      .filter({ hasText: `Renamed site ${SITE} to Harbour Old.` })
      .waitFor()
    await page.getByRole('button', { name: 'Edit site Harbour Old' }).click()
    const second = page.getByRole('form', { name: 'Edit site Harbour Old' })
    await second.getByLabel('Name', { exact: true }).fill(SITE)
    await second.getByLabel('Time zone').fill('Mars/Olympus')
    await second.getByRole('button', { name: 'Save site' }).click()
    await second
      .getByRole('alert')
      .filter({ hasText: /IANA time zone/ })
      .waitFor()
    expect(errors).toEqual([`http 400: PATCH ${t.url}/api/v1/sites/${siteId}`])
    errors.length = 0
    await expectAccessible(page)
    await second.getByLabel('Time zone').fill('asia/tokyo')
    await second.getByRole('button', { name: 'Save site' }).click()
    await page
      .getByRole('status')
      .filter({ hasText: `to ${SITE}.` })
      .waitFor()
    const zoned = await t.request('GET', `/api/v1/sites/${siteId}`, { token: await token() })
    expect(zoned.body).toMatchObject({ name: SITE, timeZone: 'Asia/Tokyo' })
    await expect(
      page.getByRole('table', { name: 'Sites' }).getByRole('row').filter({ hasText: SITE }).innerText(),
    ).resolves.toContain('Asia/Tokyo')

    // The code, shown once, with its expiry and a Copy button.
    const row = page.getByRole('table', { name: 'Sites' }).getByRole('row').filter({ hasText: SITE })
    await row.getByRole('button', { name: `Enrollment code for ${SITE}` }).click()
    const panel = page.getByRole('region', { name: `Enrollment code for ${SITE}` })
    const code = await panel.getByLabel('Enrollment code', { exact: true }).inputValue()
    expect(code.length).toBeGreaterThanOrEqual(8)
    await expect(panel.innerText()).resolves.toMatch(/Shown only this once.*expires .*\(in 2[34] h/s)
    await panel.getByRole('button', { name: 'Copy the enrollment code' }).click()
    await panel.getByRole('status').filter({ hasText: 'Copied to the clipboard.' }).waitFor()
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(code)
    expect(await panel.getByLabel("Command to run on the agent's machine").inputValue()).toContain(
      `--code ${code}`,
    )
    await screenshot(page, 'admin-sites')
    await expectAccessible(page)

    // A real agent enrolls with the code read off the page, and comes online.
    agentDir = mkdtempSync(path.join(tmpdir(), 'vms-agent-'))
    const credentials = await enroll({ hubUrl: t.url, code, dataDir: agentDir, name: AGENT })
    agentId = credentials.agentId
    expect(credentials.siteId).toBe(siteId)
    // Heartbeats every 2 s, so health and stream states reach the hub quickly.
    await t.request('PUT', `/api/v1/agents/${agentId}/config`, {
      token: await token(),
      body: { config: { heartbeatSeconds: 2 } },
    })
    agent = new EdgeAgent(
      loadAgentSettings({
        VMS_AGENT_DATA_DIR: agentDir,
        VMS_AGENT_ACK_TIMEOUT_MS: '1000',
        VMS_AGENT_LOG_LEVEL: 'warn',
        VMS_AGENT_MIN_FREE_BYTES: '0',
      }),
      pino({ level: 'warn' }),
    )
    agent.start()
    // The code was for one enrollment only.
    const again = await t.request('POST', '/api/v1/enroll', { body: { code } })
    expect(again.status).toBe(410)

    // Done: the code is gone from the page, and a reload does not bring it back.
    await panel.getByRole('button', { name: 'Done, hide the code' }).click()
    await expect.poll(() => page.getByLabel('Enrollment code', { exact: true }).count()).toBe(0)
    await page.reload()
    await page.getByRole('table', { name: 'Sites' }).getByRole('row').filter({ hasText: SITE }).waitFor()
    expect(await page.getByLabel('Enrollment code', { exact: true }).count()).toBe(0)
    expect(await page.content()).not.toContain(code)
    expect(errors).toEqual([])
    await context.close()
  }, 120_000)

  it('shows the enrolled agent on the Agents page: online, its version, disk, outbox', async () => {
    await waitUntil(
      async () =>
        (await t.request('GET', `/api/v1/agents/${agentId}`, { token: await token() })).body.health?.disk !==
        undefined,
      30_000,
      'the agent online with a health report',
    )
    const { page, context, errors } = await openConsole(browser)
    await signIn(page, t.url, ADMIN, '/admin/agents')
    await mainNav(page).getByRole('link', { name: 'Agents' }).waitFor()
    const card = page.getByRole('article', { name: AGENT })
    await expect.poll(() => card.innerText(), { timeout: 20_000 }).toMatch(/online/)
    const text = await card.innerText()
    expect(text).toContain(`Site\n${SITE}`)
    expect(text).toContain(`Version\n${AGENT_VERSION}`)
    expect(text).toMatch(/Disk\n.+ used of .+ free/)
    expect(text).toMatch(/Outbox\n\d+ waiting .*0 quarantined/)
    expect(text).toContain('Data disk\nOK')
    expect(text).toContain('Cameras\n0')
    expect(text).not.toMatch(/Last seen\nnever/)
    await page.getByText(/1 of 1 agents online/).waitFor()
    await screenshot(page, 'admin-agents')
    await expectAccessible(page)
    expect(errors).toEqual([])
    await context.close()
  }, 120_000)

  it('adds a camera whose password never comes back, which then streams; edits its retention', async () => {
    const { page, context, errors } = await openConsole(browser)
    await signIn(page, t.url, ADMIN, '/admin/cameras')
    await page.getByRole('button', { name: 'New camera' }).click()
    const form = page.getByRole('form', { name: 'Add a camera' })
    await form.getByLabel('Name', { exact: true }).fill('Dock')
    await form.getByLabel('Site').selectOption({ label: SITE })
    await form.getByLabel('Agent').selectOption(agentId)
    const main = form.getByRole('group', { name: 'Main stream' })
    await main.getByLabel('RTSP URL').fill(sim.url('dock'))
    await main.getByLabel('Username').fill('viewer')
    await main.getByLabel('Password', { exact: true }).fill(CAMERA_PASSWORD)
    await form.getByLabel('Retention (days)').fill('14')
    await expectAccessible(page)
    await form.getByRole('button', { name: 'Add camera' }).click()
    await page.getByRole('status').filter({ hasText: 'Added camera Dock.' }).waitFor()

    // Neither the page (markup or field values) nor the API holds the password.
    const card = page.getByRole('article', { name: 'Dock' })
    await expect.poll(() => card.innerText()).toMatch(/password set/)
    expect(await page.content()).not.toContain(CAMERA_PASSWORD)
    expect(await fieldValues(page)).not.toContain(CAMERA_PASSWORD)
    const list = await t.request('GET', '/api/v1/cameras', { token: await token() })
    expect(list.text).not.toContain(CAMERA_PASSWORD)
    const created = list.body.items.find((c: { name: string }) => c.name === 'Dock')
    cameraId = created.id
    expect(created).toMatchObject({
      agentId,
      recording: { enabled: true, retentionDays: 14 },
      streams: [{ role: 'main', url: sim.url('dock'), username: 'viewer', hasPassword: true }],
    })
    const one = await t.request('GET', `/api/v1/cameras/${cameraId}`, { token: await token() })
    expect(one.text).not.toContain(CAMERA_PASSWORD)

    // The agent got the password: the simulator asks for it and the stream plays, as the page says.
    await expect
      .poll(
        async () => {
          await page.getByRole('button', { name: 'Refresh' }).click()
          return card.getByRole('list', { name: 'Streams of Dock' }).innerText()
        },
        { timeout: 40_000, interval: 1000 },
      )
      .toMatch(/streaming\s*H264 · [\d.]+ fps · [\d.]+ [kM]bit\/s · recording/)
    expect(await card.innerText()).toMatch(/Recording\non, kept 14 days/)
    await screenshot(page, 'admin-cameras')
    await expectAccessible(page)

    // Edit the retention only: the password stays set, and is not asked for again.
    await card.getByRole('button', { name: 'Edit camera Dock' }).click()
    const edit = page.getByRole('form', { name: 'Edit camera Dock' })
    const editMain = edit.getByRole('group', { name: 'Main stream' })
    await editMain.getByText('password set').waitFor()
    expect(await editMain.getByLabel('New password').inputValue()).toBe('')
    await edit.getByLabel('Retention (days)').fill('7')
    await screenshot(page, 'admin-camera-edit')
    await expectAccessible(page)
    await edit.getByRole('button', { name: 'Save camera' }).click()
    await page.getByRole('status').filter({ hasText: 'Saved camera Dock.' }).waitFor()
    await expect.poll(() => card.innerText()).toMatch(/Recording\non, kept 7 days/)
    const edited = await t.request('GET', `/api/v1/cameras/${cameraId}`, { token: await token() })
    expect(edited.body).toMatchObject({
      recording: { enabled: true, retentionDays: 7 },
      streams: [{ role: 'main', username: 'viewer', hasPassword: true }],
    })
    expect(edited.text).not.toContain(CAMERA_PASSWORD)
    expect(await page.content()).not.toContain(CAMERA_PASSWORD)
    expect(await fieldValues(page)).not.toContain(CAMERA_PASSWORD)

    // The light theme passes too.
    await page.getByRole('button', { name: 'Use the light theme' }).click()
    await expect.poll(() => page.evaluate(() => document.documentElement.dataset.theme)).toBe('light')
    await expectAccessible(page)
    await screenshot(page, 'admin-cameras-light')
    await page.getByRole('button', { name: 'Use the dark theme' }).click()
    expect(errors).toEqual([])
    await context.close()
  }, 120_000)

  it('tests a camera stream: codec, resolution, frame rate and a still frame', async () => {
    const { page, context, errors } = await openConsole(browser)
    await signIn(page, t.url, ADMIN, '/admin/cameras')
    const card = page.getByRole('article', { name: 'Dock' })
    await card.getByRole('button', { name: 'Test stream' }).click()
    const facts = card.getByRole('definition').filter({ hasText: 'H.264' })
    await facts.waitFor({ timeout: 30_000 })
    const still = card.getByRole('img', { name: 'Still frame from Dock' })
    await expect
      .poll(() => still.evaluate((img) => (img as HTMLImageElement).naturalWidth), { timeout: 10_000 })
      .toBeGreaterThan(0)
    const shown = await card.getByRole('definition').allInnerTexts()
    expect(shown).toContain('640×360')
    expect(shown.some((d) => /^[\d.]+ fps$/.test(d))).toBe(true)
    await expectAccessible(page)
    await screenshot(page, 'admin-camera-test-stream')
    expect(errors).toEqual([])
    await context.close()
  }, 120_000)

  it('revokes an agent only after a confirmation', async () => {
    const { page, context, errors } = await openConsole(browser)
    await signIn(page, t.url, ADMIN, '/admin/agents')
    const card = page.getByRole('article', { name: AGENT })
    await expect.poll(() => card.innerText(), { timeout: 20_000 }).toMatch(/Cameras\n1/)
    const status = async () =>
      (await t.request('GET', `/api/v1/agents/${agentId}`, { token: await token() })).body.status

    // Cancel changes nothing.
    await card.getByRole('button', { name: `Revoke agent ${AGENT}` }).click()
    const dialog = page.getByRole('dialog', { name: `Revoke agent ${AGENT}?` })
    await dialog.waitFor()
    await expectAccessible(page)
    await screenshot(page, 'admin-agent-revoke')
    await dialog.getByRole('button', { name: 'Cancel' }).click()
    await dialog.waitFor({ state: 'hidden' })
    expect(await status()).toBe('online')

    await card.getByRole('button', { name: `Revoke agent ${AGENT}` }).click()
    await dialog.getByRole('button', { name: 'Revoke agent', exact: true }).click()
    await page
      .getByRole('status')
      .filter({ hasText: `Revoked agent ${AGENT}.` })
      .waitFor()
    expect(await status()).toBe('revoked')
    // Revoked agents are hidden unless asked for, and then have no actions left.
    await expect.poll(() => card.count()).toBe(0)
    await page.getByLabel('Show revoked agents').check()
    await expect.poll(() => card.innerText()).toMatch(/revoked/)
    expect(await card.getByRole('button').count()).toBe(0)
    expect(errors).toEqual([])
    await context.close()
  }, 120_000)

  it('lets a system administrator create, rename and delete a tenant', async () => {
    const { page, context, errors } = await openConsole(browser)
    await signIn(page, t.url, ADMIN, '/admin/tenants')
    await page.getByRole('heading', { name: 'Tenants', level: 1 }).waitFor()
    const form = page.getByRole('form', { name: 'New tenant' })
    await form.getByLabel(/^Slug/).fill('northwind')
    await form.getByLabel('Name', { exact: true }).fill('Northwind Retail')
    await form.getByRole('button', { name: 'Create tenant' }).click()
    await page.getByRole('status').filter({ hasText: 'Created tenant northwind.' }).waitFor()
    const table = page.getByRole('table', { name: 'Tenants' })
    await expect.poll(() => table.innerText()).toMatch(/northwind\s+Northwind Retail/)
    const tenants = await t.request('GET', '/api/v1/tenants', { token: await token() })
    expect(tenants.body.items.map((x: { slug: string }) => x.slug)).toContain('northwind')
    await screenshot(page, 'admin-tenants')
    await expectAccessible(page)

    await page.getByRole('button', { name: 'Edit tenant northwind' }).click()
    const edit = page.getByRole('form', { name: 'Edit tenant northwind' })
    await edit.getByLabel('Name', { exact: true }).fill('Northwind Stores')
    await edit.getByRole('button', { name: 'Save tenant' }).click()
    await page.getByRole('status').filter({ hasText: 'Saved tenant northwind.' }).waitFor()
    await expect.poll(() => table.innerText()).toMatch(/northwind\s+Northwind Stores/)

    // The system tenant (the admin's own) offers no delete; the new one asks first.
    expect(await page.getByRole('button', { name: 'Delete tenant system' }).count()).toBe(0)
    await page.getByRole('button', { name: 'Delete tenant northwind' }).click()
    await page
      .getByRole('dialog', { name: 'Delete tenant northwind?' })
      .getByRole('button', { name: 'Delete tenant', exact: true })
      .click()
    await page.getByRole('status').filter({ hasText: 'Deleted tenant northwind.' }).waitFor()
    await expect.poll(() => table.innerText()).not.toMatch(/northwind/)
    const after = await t.request('GET', '/api/v1/tenants', { token: await token() })
    expect(after.body.items.map((x: { slug: string }) => x.slug)).not.toContain('northwind')
    expect(errors).toEqual([])
    await context.close()
  }, 120_000)

  it('fits a phone: no sideways scrolling on any administration page', async () => {
    const { page, context, errors } = await openConsole(browser, { width: 390, height: 844 })
    await signIn(page, t.url, ADMIN, '/admin/sites')
    for (const [path, heading] of [
      ['/admin/tenants', 'Tenants'],
      ['/admin/sites', 'Sites'],
      ['/admin/agents', 'Agents'],
      ['/admin/cameras', 'Cameras'],
    ] as const) {
      await page.goto(`${t.url}${path}`)
      await page.getByRole('heading', { name: heading, level: 1 }).waitFor()
      await page.getByText(/Loading/).waitFor({ state: 'hidden' })
      if (heading === 'Agents') {
        await page.getByLabel('Show revoked agents').check()
        await page.getByRole('article', { name: AGENT }).waitFor()
      }
      await expectNoHorizontalScroll(page)
      await screenshot(page, `admin-${heading.toLowerCase()}-phone`)
    }
    // The widest parts: the enrollment code panel and the camera form.
    await page.goto(`${t.url}/admin/sites`)
    await page.getByRole('button', { name: `Enrollment code for ${SITE}` }).click()
    await page.getByRole('region', { name: `Enrollment code for ${SITE}` }).waitFor()
    await expectNoHorizontalScroll(page)
    await page.getByRole('button', { name: 'Done, hide the code' }).click()
    await page.goto(`${t.url}/admin/cameras`)
    await page.getByRole('button', { name: 'Edit camera Dock' }).click()
    await page.getByRole('form', { name: 'Edit camera Dock' }).waitFor()
    await expectNoHorizontalScroll(page)
    await expectAccessible(page)
    await screenshot(page, 'admin-camera-edit-phone')
    expect(errors).toEqual([])
    await context.close()
  }, 120_000)

  it('says readably why the hub refuses, and deletes a camera and a site after confirmations', async () => {
    const { page, context, errors } = await openConsole(browser)
    await signIn(page, t.url, ADMIN, '/admin/sites')
    const siteId = (await t.request('GET', '/api/v1/sites', { token: await token() })).body.items.find(
      (x: { name: string }) => x.name === SITE,
    ).id as string
    // A site with a camera cannot go: the page says why, in words.
    await page.getByRole('button', { name: `Delete site ${SITE}` }).click()
    await page
      .getByRole('dialog', { name: `Delete site ${SITE}?` })
      .getByRole('button', { name: 'Delete site', exact: true })
      .click()
    await page
      .getByRole('alert')
      .filter({
        hasText: `Could not delete site ${SITE}: the site still has 1 camera(s); delete or move them first`,
      })
      .waitFor()
    expect(await page.getByRole('alert').innerText()).not.toMatch(/[{}]/)
    // The refusal is the only failed request.
    expect(errors).toEqual([`http 409: DELETE ${t.url}/api/v1/sites/${siteId}`])
    errors.length = 0

    await mainNav(page).getByRole('link', { name: 'Cameras' }).click()
    await page.getByRole('button', { name: 'Delete camera Dock' }).click()
    await page
      .getByRole('dialog', { name: 'Delete camera Dock?' })
      .getByRole('button', { name: 'Delete camera', exact: true })
      .click()
    await page.getByRole('status').filter({ hasText: 'Deleted camera Dock.' }).waitFor()
    await expect.poll(() => page.getByRole('article', { name: 'Dock' }).count()).toBe(0)
    expect((await t.request('GET', `/api/v1/cameras/${cameraId}`, { token: await token() })).status).toBe(404)
    // Without cameras, the site still had an agent (revoked, kept for the record): a clear refusal.
    const kept = await t.request('DELETE', `/api/v1/sites/${siteId}`, { token: await token() })
    expect(kept.status).toBe(409)
    expect(kept.body.error).toMatchObject({
      code: 'site_has_agents',
      message: expect.stringMatching(/rename it instead/),
    })

    // An empty site goes, after its confirmation.
    await mainNav(page).getByRole('link', { name: 'Sites' }).click()
    await page.getByRole('form', { name: 'New site' }).getByLabel('Site name').fill('Pier')
    await page.getByRole('button', { name: 'Create site' }).click()
    await page.getByRole('status').filter({ hasText: 'Created site Pier.' }).waitFor()
    await page.getByRole('button', { name: 'Delete site Pier' }).click()
    await page
      .getByRole('dialog', { name: 'Delete site Pier?' })
      .getByRole('button', { name: 'Delete site', exact: true })
      .click()
    await page.getByRole('status').filter({ hasText: 'Deleted site Pier.' }).waitFor()
    const names = (await t.request('GET', '/api/v1/sites', { token: await token() })).body.items.map(
      (x: { name: string }) => x.name,
    )
    expect(names).toEqual([SITE])
    expect(errors).toEqual([])
    await context.close()
  }, 120_000)
})
