import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { chromiumAvailable } from '../../scripts/lib/chromium.ts'
import {
  consoleSuite,
  expectAccessible,
  expectNoHorizontalScroll,
  navLinks,
  openConsole,
  screenshot,
  signIn,
} from './helpers/console-browser.ts'
import { enrollAgentAt } from './helpers/enrollment.ts'
import { connectFakeAgent, type FakeAgent } from './helpers/fake-agent.ts'
import { camera, heartbeat } from './helpers/heartbeats.ts'
import {
  createTenantWithAdmin,
  startTestHub,
  type TestHub,
  USER_PASSWORD,
  userWithRole,
} from './helpers/test-hub.ts'

/**
 * The console's Alarms pages (issue 16) in Debian's Chromium against a real hub and a fake agent
 * speaking the real protocol: a rule made with the rule editor (its defaults shown, the hub's
 * refusal shown beside the field), a camera going down in the agent's heartbeat, the alarm opened
 * by the engine (evaluated by the test with an explicit clock, so nothing waits on a timer), the
 * navigation's badge and the list following the live updates without a reload, the alarm
 * acknowledged with a comment, then closed by the camera coming back. And who sees what: an
 * operator handles alarms but has no rule editor, a viewer has no Alarms at all.
 */

const SLUG = 'acme-console-alarms'
const ADMIN = { tenant: SLUG, username: `${SLUG}-admin`, password: USER_PASSWORD }
const OPERATOR = { tenant: SLUG, username: 'alarm-operator', password: USER_PASSWORD }
const VIEWER = { tenant: SLUG, username: 'alarm-viewer', password: USER_PASSWORD }

let t: TestHub
let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
let agent: FakeAgent
let door: string
let seq = 0

/** A heartbeat as the agent sends it, with the door camera's stream as given. */
const health = (streamOver: Record<string, unknown> = {}) => heartbeat(++seq, [camera(door, {}, streamOver)])

const beat = (streamOver: Record<string, unknown> = {}) => agent.publishBatch([health(streamOver)])

async function until<T>(check: () => Promise<T | undefined | false>, what: string): Promise<T> {
  const deadline = Date.now() + 20_000
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** The tenant's alarms in a state, as the API has them. */
async function alarms(state: string): Promise<{ id: string; state: string }[]> {
  const res = await t.request('GET', `/api/v1/alarms?state=${state}`, { token: acme.token })
  expect(res.status, res.text).toBe(200)
  return res.body.items
}

const suite = consoleSuite(
  'alarms',
  async () => {
    t = await startTestHub({ VMS_ALARM_EVAL_MS: 600_000 })
    acme = await createTenantWithAdmin(t, SLUG)
    const site = await t.request('POST', '/api/v1/sites', { token: acme.token, body: { name: 'North' } })
    expect(site.status, site.text).toBe(201)
    const enrolled = await enrollAgentAt(t, site.body.id, acme.token, 'north-pc')
    const camera = await t.request('POST', '/api/v1/cameras', {
      token: acme.token,
      body: {
        name: 'Front door',
        siteId: site.body.id,
        agentId: enrolled.agentId,
        streams: [{ role: 'main', url: 'rtsp://10.0.0.1/front' }],
      },
    })
    expect(camera.status, camera.text).toBe(201)
    door = camera.body.id
    // A channel for the rule's picker, disabled: nothing is sent anywhere.
    const channel = await t.request('POST', '/api/v1/notification-channels', {
      token: acme.token,
      body: { type: 'email', name: 'Night shift', to: ['night@example.com'], enabled: false },
    })
    expect(channel.status, channel.text).toBe(201)
    await userWithRole(t, SLUG, acme.token, OPERATOR.username, 'operator', { type: 'tenant' })
    await userWithRole(t, SLUG, acme.token, VIEWER.username, 'viewer', { type: 'tenant' })
    agent = await connectFakeAgent(enrolled)
    await beat()
  },
  async () => {
    await agent?.close()
    await t?.close()
  },
)

const nav = (page: Page) => page.getByRole('navigation', { name: 'Main' })
const alarmsLink = (page: Page, name: string | RegExp) => nav(page).getByRole('link', { name, exact: true })
const status = (page: Page, text: string | RegExp) => page.getByRole('status').filter({ hasText: text })
const alarmRow = (page: Page, text: string) =>
  page.getByRole('table', { name: 'Alarms' }).getByRole('row').filter({ hasText: text })

describe.skipIf(!chromiumAvailable)('console alarms in Chromium', () => {
  it('makes a rule, shows the alarm live with its badge and sound, acknowledges it, and sees it close', async () => {
    const { page, context, errors } = await openConsole(suite.browser)
    await signIn(page, t.url, ADMIN, '/events')
    await alarmsLink(page, 'Alarms').click()
    await page.getByRole('heading', { name: 'Alarms', level: 1 }).waitFor()
    expect(new URL(page.url()).pathname).toBe('/alarms')
    await page.getByText('No active alarms.').waitFor()

    // The sound is off until turned on, and remembered in this browser.
    const sound = page.getByLabel('Play a sound for new alarms')
    expect(await sound.isChecked()).toBe(false)
    await sound.check()
    expect(await page.evaluate(() => localStorage.getItem('ts-vms.alarm-sound'))).toBe('on')

    // The rule editor: defaults pre-filled, the hub's refusal beside its field.
    await page.getByRole('link', { name: 'Alarm rules' }).click()
    await page.getByRole('heading', { name: 'Alarm rules', level: 1 }).waitFor()
    await page.getByText('No alarm rules yet.').waitFor()
    const form = page.getByRole('form', { name: 'New rule' })
    expect(await form.getByLabel('Seconds', { exact: true }).inputValue()).toBe('60')
    await form.getByLabel('Kind', { exact: true }).selectOption({ label: 'Disk full' })
    expect(await form.getByLabel('Percent', { exact: true }).inputValue()).toBe('90')
    await form.getByLabel('Kind', { exact: true }).selectOption({ label: 'Object in zone' })
    await form.getByLabel('Name', { exact: true }).fill('Stockroom at night')
    await form.getByLabel('Zone', { exact: true }).fill('stockroom')
    await form.getByRole('button', { name: 'Add window' }).click()
    const window1 = form.getByRole('group', { name: 'Window 1' })
    expect(await window1.getByLabel('Mon', { exact: true }).isChecked()).toBe(true)
    expect(await window1.getByLabel('Sun', { exact: true }).isChecked()).toBe(false)
    expect(await window1.getByLabel('From', { exact: true }).inputValue()).toBe('22:00')
    await form.getByRole('button', { name: 'Create rule' }).click()
    const label = form.getByLabel('Label', { exact: true })
    await until(async () => (await label.getAttribute('aria-invalid')) === 'true', 'the label field marked')
    const described = (await label.getAttribute('aria-describedby')) ?? ''
    expect(await page.locator(`[id="${described}"]`).innerText()).toBe('required')

    await form.getByLabel('Kind', { exact: true }).selectOption({ label: 'Camera offline' })
    await form.getByLabel('Name', { exact: true }).fill('Cameras down')
    await form.getByLabel('Scope', { exact: true }).selectOption({ label: 'Camera' })
    await form.getByLabel('Camera', { exact: true }).selectOption({ label: 'North / Front door' })
    await form.getByLabel('Priority', { exact: true }).selectOption({ label: 'P1 (highest)' })
    await form.getByLabel('Seconds', { exact: true }).fill('1')
    await form.getByRole('group', { name: 'Channels' }).getByLabel('Night shift').check()
    await form.getByRole('button', { name: 'Create rule' }).click()
    await status(page, 'Created rule Cameras down.').waitFor()
    const ruleRow = page
      .getByRole('table', { name: 'Alarm rules' })
      .getByRole('row')
      .filter({ hasText: 'Cameras down' })
    await ruleRow.waitFor()
    const ruleText = await ruleRow.innerText()
    for (const s of ['Camera offline', 'Camera Front door', 'Seconds 1', 'P1', 'Night shift', 'yes'])
      expect(ruleText).toContain(s)
    const rules = await t.request('GET', '/api/v1/alarm-rules', { token: acme.token })
    expect(rules.body.items).toEqual([
      expect.objectContaining({
        name: 'Cameras down',
        kind: 'camera.offline',
        scope: { type: 'camera', id: door },
        params: { seconds: 1 },
        priority: 1,
        enabled: true,
      }),
    ])
    await expectAccessible(page)
    await screenshot(page, 'alarm-rules')

    // The camera goes down; the engine opens the alarm after its second.
    await beat({ state: 'backoff', error: 'connection refused', recording: false })
    const t0 = Date.now()
    await t.hub.context.alarms.evaluate(t0)
    await t.hub.context.alarms.evaluate(t0 + 2000)
    await until(async () => (await alarms('open')).length === 1, 'the alarm to open')

    // The badge follows the live update, here on another page, without a reload.
    await alarmsLink(page, 'Alarms 1 open alarm').waitFor({ timeout: 20_000 })
    await until(
      async () => (await page.evaluate(() => document.documentElement.dataset.alarmBeeps)) === '1',
      'the alarm tone',
    )
    await alarmsLink(page, 'Alarms 1 open alarm').click()
    const row = alarmRow(page, 'Front door')
    await row.waitFor()
    const text = await row.innerText()
    for (const s of [
      'P1',
      'Camera offline: connection refused',
      'North / Front door',
      'Open',
      'Cameras down',
    ])
      expect(text).toContain(s)
    await row.getByRole('img', { name: 'Priority 1 (highest)' }).waitFor()
    expect(await row.getByRole('link', { name: /^Live/ }).getAttribute('href')).toBe(`/live?camera=${door}`)
    const playback = (await row.getByRole('link', { name: /^Playback/ }).getAttribute('href')) ?? ''
    expect(playback).toMatch(new RegExp(`^/playback/${door}\\?t=`))
    const at = Date.parse(decodeURIComponent(playback.split('t=')[1] ?? ''))
    expect(Math.abs(at - t0)).toBeLessThan(60_000)

    // Acknowledged with a comment in the dialog.
    await row.getByRole('button', { name: /^Acknowledge/ }).click()
    const dialog = page.getByRole('dialog', { name: 'Acknowledge alarm' })
    await dialog.getByLabel('Comment').fill('Checking the cable')
    await expectAccessible(page)
    await dialog.getByRole('button', { name: 'Acknowledge alarm' }).click()
    await status(page, /^Acknowledged: Camera offline/).waitFor()
    await until(async () => (await row.innerText()).includes('Acknowledged by'), 'the acknowledged row')
    const acked = await row.innerText()
    expect(acked).toContain(`Acknowledged by ${ADMIN.username}`)
    expect(acked).toContain('Checking the cable')
    await alarmsLink(page, 'Alarms').waitFor()
    await expectAccessible(page)
    await screenshot(page, 'alarms')
    // The light theme keeps the priority chips and states readable too.
    await page.getByRole('button', { name: 'Use the light theme' }).click()
    await expectAccessible(page)
    await page.getByRole('button', { name: 'Use the dark theme' }).click()

    // The camera is back: the alarm closes by itself and leaves the active list.
    await beat()
    await t.hub.context.alarms.evaluate(Date.now())
    await until(async () => (await alarms('active')).length === 0, 'the alarm to close')
    await page.getByText('No active alarms.').waitFor({ timeout: 20_000 })
    await page.getByLabel('State', { exact: true }).selectOption({ label: 'Closed' })
    expect(new URL(page.url()).searchParams.get('state')).toBe('closed')
    await until(
      async () => (await row.count()) === 1 && (await row.innerText()).includes('Closed'),
      'the closed row',
    )
    expect(await row.getByRole('button').count()).toBe(0)
    expect(await alarmsLink(page, 'Alarms').count()).toBe(1)

    // The rule is edited (only what changed is sent), disabled, and deleted behind a confirmation.
    await page.getByRole('link', { name: 'Alarm rules' }).click()
    await page.getByRole('button', { name: 'Edit rule Cameras down' }).click()
    const edit = page.getByRole('form', { name: 'Edit rule Cameras down' })
    expect(await edit.getByLabel('Seconds', { exact: true }).inputValue()).toBe('1')
    expect(await edit.getByLabel('Kind', { exact: true }).isDisabled()).toBe(true)
    await edit.getByLabel('Name', { exact: true }).fill('Front door down')
    await edit.getByRole('button', { name: 'Save rule' }).click()
    await status(page, 'Saved rule Front door down.').waitFor()
    await page.getByRole('button', { name: 'Disable rule Front door down' }).click()
    await status(page, 'Disabled rule Front door down.').waitFor()
    const saved = await t.request('GET', '/api/v1/alarm-rules', { token: acme.token })
    expect(saved.body.items[0]).toMatchObject({
      name: 'Front door down',
      enabled: false,
      params: { seconds: 1 },
    })
    await page.getByRole('button', { name: 'Delete rule Front door down' }).click()
    await page
      .getByRole('dialog', { name: 'Delete rule Front door down?' })
      .getByRole('button', { name: 'Delete rule' })
      .click()
    await status(page, 'Deleted rule Front door down.').waitFor()
    await page.getByText('No alarm rules yet.').waitFor()
    // The one failed request is the rule refused on purpose.
    expect(errors).toEqual([expect.stringMatching(/^http 400: POST .*\/api\/v1\/alarm-rules$/)])
    await context.close()
  })

  it('gives an operator alarms without the rule editor, a viewer no alarms, and fits a phone', async () => {
    const op = await openConsole(suite.browser, { width: 390, height: 844 })
    await signIn(op.page, t.url, OPERATOR, '/alarms?state=closed')
    await op.page.getByRole('heading', { name: 'Alarms', level: 1 }).waitFor()
    await alarmRow(op.page, 'Front door').waitFor()
    expect(await alarmsLink(op.page, 'Alarms').count()).toBe(1)
    expect(await op.page.getByRole('link', { name: 'Alarm rules' }).count()).toBe(0)
    await expectNoHorizontalScroll(op.page)
    expect(op.errors).toEqual([])
    await op.context.close()

    const viewer = await openConsole(suite.browser)
    await signIn(viewer.page, t.url, VIEWER, '/events')
    expect(await navLinks(viewer.page)).toEqual(['Live', 'Playback', 'Events', 'Health'])
    expect(viewer.errors).toEqual([])
    await viewer.context.close()
  })
})
