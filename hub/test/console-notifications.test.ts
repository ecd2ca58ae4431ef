import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Page } from 'playwright-core'
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
import {
  ADMIN_PASSWORD,
  startTestHub,
  type TestHub,
  USER_PASSWORD,
  userWithRole,
} from './helpers/test-hub.ts'

/**
 * The console's Notifications page (issue 16) in Debian's Chromium against a real hub and a real
 * webhook receiver: a channel created with the form, listed, its test message sent (the receiver
 * fails it until it is dead), the dead letter shown and retried once the receiver answers 200,
 * then the channel edited and deleted. Driven by labels and accessible names.
 */

const ADMIN = { tenant: 'system', username: 'admin', password: ADMIN_PASSWORD }
const OPERATOR = { tenant: 'system', username: 'notify-operator', password: USER_PASSWORD }
const SECRET = 'console-Secret-Value-4417'

let t: TestHub
let adminToken: string
let receiverStatus = 500
const received: { delivery: string; status: number }[] = []
let receiver: http.Server
let receiverUrl: string

async function until<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
): Promise<T> {
  const deadline = Date.now() + 20_000
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const suite = consoleSuite(
  'notifications',
  async () => {
    receiver = http.createServer((req, res) => {
      req.resume()
      req.on('end', () => {
        received.push({ delivery: String(req.headers['x-vms-delivery']), status: receiverStatus })
        res.statusCode = receiverStatus
        res.end()
      })
    })
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r))
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/console-hook`
    t = await startTestHub({
      VMS_WEBHOOK_ALLOW_PRIVATE: true,
      VMS_NOTIFY_MAX_ATTEMPTS: 2,
      VMS_NOTIFY_RETRY_BASE_MS: 20,
      VMS_NOTIFY_POLL_MS: 50,
    })
    adminToken = await t.adminToken()
    await userWithRole(t, 'system', adminToken, OPERATOR.username, 'operator', { type: 'tenant' })
  },
  async () => {
    await t?.close()
    await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()))
  },
)

const channels = (page: Page) => page.getByRole('table', { name: 'Notification channels' })
const deadLetters = (page: Page) => page.getByRole('table', { name: 'Dead letters' })
const status = (page: Page, text: string | RegExp) => page.getByRole('status').filter({ hasText: text })

/** Dead deliveries of the tenant, as the API has them. */
async function dead(): Promise<{ id: string; channelName: string }[]> {
  const res = await t.request('GET', '/api/v1/notification-deliveries?state=dead', { token: adminToken })
  return res.body.items
}

describe.skipIf(!chromiumAvailable)('console notifications page in Chromium', () => {
  it('creates a webhook channel, sends a test, shows the dead letter and retries it', async () => {
    const { page, context, errors } = await openConsole(suite.browser)
    await signIn(page, t.url, ADMIN, '/live')
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Notifications' }).click()
    await page.getByRole('heading', { name: 'Notifications', level: 1 }).waitFor()
    expect(new URL(page.url()).pathname).toBe('/admin/notifications')
    await page.getByText('No channels yet.').waitFor()

    // The form shows the fields of the type chosen.
    const form = page.getByRole('form', { name: 'New channel' })
    await form.getByLabel('Type', { exact: true }).selectOption({ label: 'E-mail' })
    await form.getByLabel('Recipients', { exact: true }).waitFor()
    expect(await form.getByLabel('Secret', { exact: true }).count()).toBe(0)
    await form.getByLabel('Type', { exact: true }).selectOption({ label: 'MQTT' })
    await form.getByLabel('Topic', { exact: true }).waitFor()
    await form.getByLabel('Type', { exact: true }).selectOption({ label: 'Webhook' })

    await form.getByLabel('Name', { exact: true }).fill('Front door hook')
    await form.getByLabel('URL', { exact: true }).fill(receiverUrl)
    await form.getByLabel('Secret', { exact: true }).fill(SECRET)
    await form.getByRole('button', { name: 'Create channel' }).click()
    await status(page, 'Created channel Front door hook.').waitFor()
    const row = channels(page).getByRole('row').filter({ hasText: 'Front door hook' })
    await row.waitFor()
    expect(await row.innerText()).toContain('stored')
    expect(await page.content()).not.toContain(SECRET)

    // The test message fails at the receiver (500) until it is dead.
    await page.getByRole('button', { name: 'Send test to Front door hook' }).click()
    await status(page, 'Test message queued for Front door hook.').waitFor()
    const [letter] = await until(async () => {
      const list = await dead()
      return list.length === 1 ? list : undefined
    }, 'the dead letter')
    expect(received.filter((r) => r.delivery === letter?.id)).toHaveLength(2)
    await page.getByRole('button', { name: 'Refresh' }).click()
    const deadRow = deadLetters(page).getByRole('row').filter({ hasText: 'Front door hook' })
    await deadRow.waitFor()
    expect(await deadRow.innerText()).toContain('the receiver answered HTTP 500')
    await expectAccessible(page)
    await screenshot(page, 'notifications')

    // Retried once the receiver answers 200: delivered with the same delivery id.
    receiverStatus = 200
    await deadRow.getByRole('button', { name: /^Retry/ }).click()
    await status(page, 'Retry queued for Front door hook.').waitFor()
    await until(
      () => received.some((r) => r.delivery === letter?.id && r.status === 200),
      'the retried delivery',
    )
    await until(async () => (await dead()).length === 0, 'no dead letters')
    await page.getByRole('button', { name: 'Refresh' }).click()
    await page.getByText('No dead letters.').waitFor()

    // Edited (the secret kept), then deleted behind a confirmation.
    await page.getByRole('button', { name: 'Edit channel Front door hook' }).click()
    const edit = page.getByRole('form', { name: 'Edit channel Front door hook' })
    await edit.getByLabel('Name', { exact: true }).fill('Front gate hook')
    await edit.getByRole('button', { name: 'Save channel' }).click()
    await status(page, 'Saved channel Front gate hook.').waitFor()
    await channels(page).getByRole('row').filter({ hasText: 'Front gate hook' }).waitFor()
    const saved = await t.request('GET', '/api/v1/notification-channels', { token: adminToken })
    expect(saved.body.items[0]).toMatchObject({ name: 'Front gate hook', hasSecret: true })

    await page.getByRole('button', { name: 'Delete channel Front gate hook' }).click()
    const dialog = page.getByRole('dialog', { name: 'Delete channel Front gate hook?' })
    await dialog.getByRole('button', { name: 'Delete channel' }).click()
    await status(page, 'Deleted channel Front gate hook.').waitFor()
    await page.getByText('No channels yet.').waitFor()
    expect(errors).toEqual([])
    await context.close()
  })

  it('fits a phone, and is not offered to an operator', async () => {
    const phone = await openConsole(suite.browser, { width: 390, height: 844 })
    await signIn(phone.page, t.url, ADMIN, '/admin/notifications')
    await phone.page.getByRole('heading', { name: 'Notifications', level: 1 }).waitFor()
    await expectNoHorizontalScroll(phone.page)
    expect(phone.errors).toEqual([])
    await phone.context.close()

    const op = await openConsole(suite.browser)
    await signIn(op.page, t.url, OPERATOR, '/live')
    const links = await op.page.getByRole('navigation', { name: 'Main' }).getByRole('link').allInnerTexts()
    expect(links).not.toContain('Notifications')
    await op.context.close()
  })
})
