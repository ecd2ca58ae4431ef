import { readFileSync } from 'node:fs'
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
import { issueTestLicense } from './helpers/licenses.ts'
import { ADMIN_PASSWORD, startTestHub, type TestHub, USER_PASSWORD } from './helpers/test-hub.ts'

/**
 * The console's administration of users (with roles and role bindings), the audit trail and the
 * license, in Debian's Chromium against a real hub (no agent needed: the camera is only a target
 * for a binding). Driven by labels and roles, as a person would; every page is checked for
 * console errors, axe-core's serious and critical violations and a phone's width.
 */

const ADMIN = { tenant: 'system', username: 'admin', password: ADMIN_PASSWORD }
const NEW_PASSWORD = 'Copper-Harbour-Lantern-5820'
/** Created with USER_PASSWORD from the page, which then sets NEW_PASSWORD. */
const VIEWER = { tenant: 'system', username: 'gate-viewer', password: NEW_PASSWORD }
let t: TestHub
let adminToken: string
let siteId: string
let cameraId: string
let viewerId: string

const suite = consoleSuite(
  'admin',
  async () => {
    t = await startTestHub({}, { systemLicense: true })
    adminToken = await t.adminToken()
    const site = await t.request('POST', '/api/v1/sites', { token: adminToken, body: { name: 'Depot' } })
    expect(site.status, site.text).toBe(201)
    siteId = site.body.id
    const camera = await t.request('POST', '/api/v1/cameras', {
      token: adminToken,
      body: { name: 'Gate', siteId },
    })
    expect(camera.status, camera.text).toBe(201)
    cameraId = camera.body.id
  },
  async () => {
    await t?.close()
  },
)

const heading = (page: Page, name: string | RegExp) => page.getByRole('heading', { name, level: 1 })

/** A user made through the API, for the flows that do not create their own. */
async function apiUser(username: string): Promise<string> {
  const res = await t.request('POST', '/api/v1/users', {
    token: adminToken,
    body: { username, password: USER_PASSWORD },
  })
  expect(res.status, res.text).toBe(201)
  return res.body.id
}

describe.skipIf(!chromiumAvailable)('console administration in Chromium', () => {
  it('creates a user and gives it a camera-scoped viewer binding from the Users page', async () => {
    const { page, context, errors } = await openConsole(suite.browser)
    await signIn(page, t.url, ADMIN, '/admin/users')
    await heading(page, 'Users').waitFor()
    await page
      .getByRole('table', { name: 'Users', exact: true })
      .getByRole('link', { name: 'admin', exact: true })
      .waitFor()

    await page.getByLabel('Username', { exact: true }).fill(VIEWER.username)
    await page.getByLabel('Password', { exact: true }).fill(USER_PASSWORD)
    await page.getByLabel('Display name (optional)', { exact: true }).fill('Gate viewer')
    await page.getByRole('button', { name: 'Create user' }).click()
    await heading(page, /User gate-viewer/).waitFor()
    await page.getByRole('status').filter({ hasText: 'Created user gate-viewer' }).waitFor()
    viewerId = new URL(page.url()).pathname.split('/').at(-1) ?? ''
    expect(viewerId).toMatch(/^[0-9a-f-]{36}$/)

    // Role, scope, then the camera from the lists the hub gave.
    await page.getByLabel('Role', { exact: true }).selectOption({ label: 'viewer' })
    await page.getByText('Grants: camera.live').waitFor()
    await page.getByLabel('Scope', { exact: true }).selectOption({ label: 'One camera' })
    await page.getByLabel('Camera', { exact: true }).selectOption({ label: 'Gate (Depot)' })
    await page.getByRole('button', { name: 'Add role binding' }).click()
    const bindings = page.getByRole('table', { name: 'Role bindings' })
    await bindings.getByRole('cell', { name: 'Camera Gate (Depot)', exact: true }).waitFor()
    const saved = await t.request('GET', `/api/v1/users/${viewerId}/role-bindings`, { token: adminToken })
    expect(saved.body.items).toMatchObject([
      { role: { name: 'viewer' }, scope: { type: 'camera', id: cameraId } },
    ])

    // The user's own address survives a reload.
    await page.reload()
    await heading(page, /User gate-viewer/).waitFor()
    await bindings.getByRole('cell', { name: 'viewer', exact: true }).waitFor()
    await screenshot(page, 'admin-user')
    await expectAccessible(page)

    // A new password, set from the page, is the one that works from now on.
    await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD)
    await page.getByRole('button', { name: 'Set password' }).click()
    await page.getByRole('status').filter({ hasText: 'Set a new password for gate-viewer' }).waitFor()
    await expect(t.login('system', VIEWER.username, NEW_PASSWORD)).resolves.toHaveProperty('accessToken')

    await page.getByRole('link', { name: 'Back to the users' }).click()
    await heading(page, 'Users').waitFor()
    await page
      .getByRole('table', { name: 'Users', exact: true })
      .getByRole('link', { name: 'gate-viewer', exact: true })
      .waitFor()
    await screenshot(page, 'admin-users')
    await expectAccessible(page)
    expect(errors).toEqual([])
    await context.close()
  })

  it('lists built-in and custom roles and defines a custom role', async () => {
    const { page, context, errors } = await openConsole(suite.browser)
    await signIn(page, t.url, ADMIN, '/admin/users/roles')
    await heading(page, 'Roles').waitFor()
    const viewerPerms = page.getByRole('list', { name: 'Permissions of viewer' })
    await viewerPerms.getByText('camera.live').waitFor()
    await page.getByLabel('Role name', { exact: true }).fill('Night shift')
    await page.getByLabel('Description (optional)', { exact: true }).fill('Watches and reviews at night')
    await page.getByRole('checkbox', { name: /^camera\.live/ }).check()
    await page.getByRole('checkbox', { name: /^camera\.playback/ }).check()
    await page.getByRole('button', { name: 'Create role' }).click()
    await page.getByRole('status').filter({ hasText: 'Created the role Night shift' }).waitFor()
    expect(
      await page.getByRole('list', { name: 'Permissions of Night shift' }).locator('.mono').allInnerTexts(),
    ).toEqual(['camera.live', 'camera.playback'])

    // Edit it: drop playback.
    await page.getByRole('button', { name: 'Edit Night shift' }).click()
    await page.getByRole('checkbox', { name: /^camera\.playback/ }).uncheck()
    await page.getByRole('button', { name: 'Save role' }).click()
    await page.getByRole('status').filter({ hasText: 'Saved the role Night shift' }).waitFor()
    const roles = await t.request('GET', '/api/v1/roles', { token: adminToken })
    expect(roles.body.items.find((r: { name: string }) => r.name === 'Night shift')).toMatchObject({
      permissions: ['camera.live'],
      builtin: false,
    })
    await heading(page, 'Roles').scrollIntoViewIfNeeded()
    await screenshot(page, 'admin-roles')
    await expectAccessible(page)

    // Delete it, after confirming.
    await page.getByRole('button', { name: 'Delete Night shift' }).click()
    const dialog = page.getByRole('dialog', { name: 'Delete the role Night shift?' })
    await dialog.getByRole('button', { name: 'Delete role' }).click()
    await page.getByRole('status').filter({ hasText: 'Deleted the role Night shift' }).waitFor()
    expect(await page.getByRole('list', { name: 'Permissions of Night shift' }).count()).toBe(0)
    expect(errors).toEqual([])
    await context.close()
  })

  it('says why a user manager may not grant more than they hold (403)', async () => {
    // A help desk that manages users and watches video, but is no tenant administrator.
    const role = await t.request('POST', '/api/v1/roles', {
      token: adminToken,
      body: { name: 'help desk', permissions: ['user.manage', 'camera.live'] },
    })
    expect(role.status, role.text).toBe(201)
    const helpdeskId = await apiUser('helpdesk')
    const bound = await t.request('POST', `/api/v1/users/${helpdeskId}/role-bindings`, {
      token: adminToken,
      body: { role: 'help desk', scope: { type: 'tenant' } },
    })
    expect(bound.status, bound.text).toBe(201)
    const targetId = await apiUser('new-starter')

    const { page, context, errors } = await openConsole(suite.browser)
    await signIn(
      page,
      t.url,
      { tenant: 'system', username: 'helpdesk', password: USER_PASSWORD },
      `/admin/users/${targetId}`,
    )
    expect(await navLinks(page)).toEqual(['Live', 'Playback', 'Events', 'Health', 'Users'])
    await heading(page, /User new-starter/).waitFor()
    await page.getByLabel('Role', { exact: true }).selectOption({ label: 'tenant-admin' })
    await page.getByRole('button', { name: 'Add role binding' }).click()
    await page
      .getByRole('alert')
      .filter({ hasText: 'you cannot grant permissions you do not hold' })
      .waitFor()
    expect(await page.getByRole('table', { name: 'Role bindings' }).count()).toBe(0)
    await expectAccessible(page)
    // The refusal is the one failed request, and it was deliberate.
    expect(errors).toEqual([expect.stringMatching(/^http 403: POST .*\/role-bindings$/)])
    await context.close()
  })

  it('shows the viewer no administration, and a disabled user cannot sign in', async () => {
    const viewer = await openConsole(suite.browser)
    // A deep link to administration opens, but shows only what the API allows: their own account.
    await signIn(viewer.page, t.url, VIEWER, '/admin/users')
    expect(await navLinks(viewer.page)).toEqual(['Live', 'Playback', 'Events', 'Health'])
    await viewer.page.getByText('You can see only your own account').waitFor()
    await viewer.page
      .getByRole('table', { name: 'Users', exact: true })
      .getByRole('link', { name: 'gate-viewer', exact: true })
      .waitFor()
    expect(
      await viewer.page.getByRole('table', { name: 'Users', exact: true }).getByRole('row').count(),
    ).toBe(2)
    expect(await viewer.page.getByRole('button', { name: 'Create user' }).count()).toBe(0)
    expect(viewer.errors).toEqual([])
    await viewer.context.close()

    const { page, context, errors } = await openConsole(suite.browser)
    await signIn(page, t.url, ADMIN, '/admin/users')
    await page
      .getByRole('table', { name: 'Users', exact: true })
      .getByRole('link', { name: 'gate-viewer', exact: true })
      .click()
    await heading(page, /User gate-viewer/).waitFor()
    await page.getByRole('button', { name: 'Disable user' }).click()
    const dialog = page.getByRole('dialog', { name: 'Disable gate-viewer?' })
    await dialog.waitFor()
    await dialog.getByRole('button', { name: 'Disable', exact: true }).click()
    await page.getByRole('status').filter({ hasText: 'Disabled gate-viewer' }).waitFor()
    await page.getByText('Disabled', { exact: true }).waitFor()
    const user = await t.request('GET', `/api/v1/users/${viewerId}`, { token: adminToken })
    expect(user.body.disabled).toBe(true)
    expect(errors).toEqual([])

    const refused = await openConsole(suite.browser)
    await refused.page.goto(`${t.url}/sign-in`)
    await refused.page.getByLabel('Tenant').fill(VIEWER.tenant)
    await refused.page.getByLabel('Username', { exact: true }).fill(VIEWER.username)
    await refused.page.getByLabel('Password').fill(VIEWER.password)
    await refused.page.getByRole('button', { name: 'Sign in' }).click()
    await refused.page.getByRole('alert').filter({ hasText: 'this account is disabled' }).waitFor()
    // The hub's refusal (403) is the one failed request, and it is the point of this step.
    expect(refused.errors).toEqual([expect.stringMatching(/^http 403: POST .*\/api\/v1\/auth\/login$/)])
    await refused.context.close()

    // Enabled again, they can sign in.
    await page.getByRole('button', { name: 'Enable user' }).click()
    await page.getByRole('status').filter({ hasText: 'Enabled gate-viewer' }).waitFor()
    await expect(t.login('system', VIEWER.username, VIEWER.password)).resolves.toHaveProperty('accessToken')
    expect(errors).toEqual([])
    await context.close()
  })

  it('deletes a user only after confirmation', async () => {
    const id = await apiUser('leaver')
    const { page, context, errors } = await openConsole(suite.browser)
    await signIn(page, t.url, ADMIN, `/admin/users/${id}`)
    await heading(page, /User leaver/).waitFor()
    // Cancelling keeps the user.
    await page.getByRole('button', { name: 'Delete user' }).click()
    const dialog = page.getByRole('dialog', { name: 'Delete leaver?' })
    await dialog.getByRole('button', { name: 'Cancel' }).click()
    await dialog.waitFor({ state: 'hidden' })
    expect((await t.request('GET', `/api/v1/users/${id}`, { token: adminToken })).status).toBe(200)
    await page.getByRole('button', { name: 'Delete user' }).click()
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click()
    await heading(page, 'Users').waitFor()
    await page.getByRole('status').filter({ hasText: 'Deleted user leaver' }).waitFor()
    expect((await t.request('GET', `/api/v1/users/${id}`, { token: adminToken })).status).toBe(404)
    expect(
      await page
        .getByRole('table', { name: 'Users', exact: true })
        .getByRole('link', { name: 'leaver', exact: true })
        .count(),
    ).toBe(0)
    expect(errors).toEqual([])
    await context.close()
  })

  it('searches the audit trail, exports it as CSV and verifies the chain', async () => {
    const { page, context, errors } = await openConsole(suite.browser)
    await signIn(page, t.url, ADMIN, '/admin/audit')
    await heading(page, 'Audit').waitFor()
    await page.getByLabel('Action', { exact: true }).fill('user.create')
    await page.getByRole('button', { name: 'Search' }).click()
    await expect.poll(() => new URL(page.url()).searchParams.get('action')).toBe('user.create')
    const records = page.getByRole('table', { name: 'Audit records' })
    const actions = () => records.locator('tbody td.mono').allInnerTexts()
    await expect.poll(async () => [...new Set(await actions())]).toEqual(['user.create'])
    await records.getByText('username: gate-viewer').waitFor()

    // The search is in the address: a reload shows the same records.
    await page.reload()
    await records.getByText('username: gate-viewer').waitFor()
    await expect(page.getByLabel('Action', { exact: true }).inputValue()).resolves.toBe('user.create')

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Export matches as CSV' }).click(),
    ])
    expect(download.suggestedFilename()).toMatch(/^audit-[\d-]+\.csv$/)
    const csv = readFileSync(await download.path(), 'utf8')
    expect(csv.split('\r\n')[0]).toMatch(/^id,time,tenant_id,seq,actor_type/)
    expect(csv).toContain('user.create')
    expect(csv).toContain('gate-viewer')
    expect(csv).not.toMatch(/\r\n[^\r\n]*,role\.create,/)

    await page.getByRole('button', { name: 'Verify the chain' }).click()
    await page.getByRole('status').filter({ hasText: 'Valid: the audit chain is intact' }).waitFor()
    await page.getByText('No records in quarantine').waitFor()
    await screenshot(page, 'admin-audit')
    await expectAccessible(page)

    // Searching by actor: the admin's sign-ins.
    await page.getByRole('button', { name: 'Clear' }).click()
    await page.getByLabel('Actor', { exact: true }).fill('admin')
    await page.getByLabel('Action', { exact: true }).fill('auth.*')
    await page.getByRole('button', { name: 'Search' }).click()
    await expect.poll(() => new URL(page.url()).searchParams.get('actor')).toBe('admin')
    await expect.poll(async () => [...new Set(await actions())]).toEqual(['auth.login.success'])
    expect(errors).toEqual([])
    await context.close()
  })

  it('shows license usage against its limits and installs a license file', async () => {
    const { page, context, errors } = await openConsole(suite.browser)
    await signIn(page, t.url, ADMIN, '/admin/license')
    await heading(page, 'License').waitFor()
    const usage = page.getByRole('table', { name: 'Usage against limits' })
    const row = (name: string) => usage.getByRole('row', { name: new RegExp(`^${name}\\b`) })
    await expect.poll(() => row('Cameras').innerText()).toMatch(/Cameras\s+1\s+100/)
    await page.getByText('Test Customer').waitFor()

    // A file that is no license: the hub's reason, readable.
    const input = page.getByLabel('License file', { exact: true })
    await input.setInputFiles({
      name: 'bogus.lic',
      mimeType: 'text/plain',
      buffer: Buffer.from('not a license'),
    })
    await page.getByRole('button', { name: 'Install license' }).click()
    await page.getByRole('alert').filter({ hasText: 'The hub refused this license' }).waitFor()

    const license = await issueTestLicense({
      tenant: 'system',
      customer: 'Console Customer',
      limits: { maxCameras: 7, maxAgents: 3, maxSites: 4, maxUsers: 12 },
    })
    await input.setInputFiles({ name: 'console.lic', mimeType: 'text/plain', buffer: Buffer.from(license) })
    await page.getByRole('button', { name: 'Install license' }).click()
    await page.getByRole('status').filter({ hasText: 'Installed the license for Console Customer' }).waitFor()
    await expect.poll(() => row('Cameras').innerText()).toMatch(/Cameras\s+1\s+7/)
    await expect.poll(() => row('Sites').innerText()).toMatch(/Sites\s+1\s+4/)
    await page.getByRole('meter', { name: 'Cameras: 1 of 7 used' }).waitFor()
    await page.getByRole('list', { name: 'Licensed features' }).getByText('multi-site').waitFor()
    await page.getByText('Valid', { exact: true }).waitFor()
    await screenshot(page, 'admin-license')
    await expectAccessible(page)
    expect(errors).toEqual([expect.stringMatching(/^http 422: PUT .*\/api\/v1\/license$/)])
    await context.close()
  })

  it('fits a phone: no sideways scrolling on the administration pages', async () => {
    const { page, context, errors } = await openConsole(suite.browser, { width: 390, height: 844 })
    await signIn(page, t.url, ADMIN, '/admin/users')
    const pages: [string, (p: Page) => ReturnType<Page['getByRole']>][] = [
      ['/admin/users', (p) => p.getByRole('link', { name: 'gate-viewer', exact: true })],
      [`/admin/users/${viewerId}`, (p) => p.getByRole('table', { name: 'Role bindings' })],
      ['/admin/users/roles', (p) => p.getByRole('list', { name: 'Permissions of viewer' })],
      ['/admin/audit', (p) => p.getByRole('table', { name: 'Audit records' })],
      ['/admin/license', (p) => p.getByRole('table', { name: 'Usage against limits' })],
    ]
    for (const [path, loaded] of pages) {
      await page.goto(`${t.url}${path}`)
      await loaded(page).waitFor()
      await expectNoHorizontalScroll(page)
    }
    await page.goto(`${t.url}/admin/audit?action=user.create`)
    await page.getByRole('table', { name: 'Audit records' }).waitFor()
    await expectNoHorizontalScroll(page)
    await screenshot(page, 'admin-audit-phone')
    expect(errors).toEqual([])
    await context.close()
  })
})
