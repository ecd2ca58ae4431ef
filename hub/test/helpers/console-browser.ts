import { mkdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, expect } from 'vitest'
import { chromiumAvailable, launchChromium } from '../../../scripts/lib/chromium.ts'
import { ensureConsoleBuilt } from '../../src/console/console-build.ts'

/**
 * Driving the web console in Chromium the way a person does: by labels, roles and accessible
 * names. Each page opened here records uncaught errors and console errors (a page must have none),
 * can be checked with axe-core, and can save a screenshot for docs/ui/ (documentation, not golden
 * images).
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
export const SCREENSHOTS = path.join(ROOT, 'docs/ui')

/** Builds the console if its sources changed (tests start hubs without the CLI that does it). */
export async function consoleBuilt(): Promise<void> {
  await ensureConsoleBuilt()
}

/**
 * The frame every console browser suite shares, registered as the file's beforeAll and afterAll:
 * a warning when Chromium is missing (the suite's `describe.skipIf(!chromiumAvailable)` skips it),
 * the console built, then `setup` (the hub and whatever else the suite needs), then Chromium
 * launched. Afterwards the browser closes first, then `teardown` (agents, the hub, servers, in the
 * suite's own order). `what` names the suite in the warning.
 */
export function consoleSuite(
  what: string,
  setup: () => Promise<void>,
  teardown: () => Promise<void>,
  timeout = 180_000,
): { readonly browser: Browser } {
  if (!chromiumAvailable)
    console.warn(`SKIPPING console ${what} tests: /usr/bin/chromium is missing (Debian: chromium)`)
  let browser: Browser | undefined
  beforeAll(async () => {
    if (!chromiumAvailable) return
    await consoleBuilt()
    await setup()
    browser = await launchChromium()
  }, timeout)
  afterAll(async () => {
    await browser?.close()
    await teardown()
  })
  return {
    get browser(): Browser {
      if (!browser) throw new Error('Chromium is not running (beforeAll failed or was skipped)')
      return browser
    },
  }
}

export interface ConsolePage {
  page: Page
  context: BrowserContext
  /** Uncaught exceptions and console errors seen so far. */
  errors: string[]
}

export async function openConsole(
  browser: Browser,
  viewport: { width: number; height: number } = { width: 1366, height: 860 },
): Promise<ConsolePage> {
  const context = await browser.newContext({ viewport })
  const page = await context.newPage()
  const errors: string[] = []
  // DEBUG_CONSOLE=1 prints the page's errors and console as they happen (a page that fails to
  // render shows nothing else).
  page.on('pageerror', (e) => {
    errors.push(`pageerror: ${e.message}`)
    if (process.env.DEBUG_CONSOLE) console.error('PAGEERROR', e.message, e.stack)
  })
  page.on('console', (m) => {
    if (process.env.DEBUG_CONSOLE) console.error('CONSOLE', m.type(), m.text())
    // A failed request is reported below with its address, which this message lacks.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource'))
      errors.push(`console: ${m.text()}`)
  })
  page.on('response', (r) => {
    if (r.status() >= 400) errors.push(`http ${r.status()}: ${r.request().method()} ${r.url()}`)
  })
  return { page, context, errors }
}

export async function signIn(
  page: Page,
  baseUrl: string,
  who: { tenant: string; username: string; password: string },
  path = '/',
): Promise<void> {
  await page.goto(`${baseUrl}${path}`)
  await page.getByLabel('Tenant').fill(who.tenant)
  await page.getByLabel('Username').fill(who.username)
  await page.getByLabel('Password').fill(who.password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('navigation', { name: 'Main' }).waitFor()
}

/** The names of the main navigation's links, in order. */
export async function navLinks(page: Page): Promise<string[]> {
  return page.getByRole('navigation', { name: 'Main' }).getByRole('link').allInnerTexts()
}

let axeSource: string | undefined

/** axe-core's serious and critical violations on the page as it is now. */
export async function axeViolations(page: Page): Promise<string[]> {
  axeSource ??= readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')
  // Evaluated through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(axeSource)
  const result = (await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, o: unknown) => Promise<unknown> } }).axe
    return axe.run(document, { resultTypes: ['violations'] })
  })) as { violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)
}

/** Fails on axe-core's serious or critical violations, naming them. */
export async function expectAccessible(page: Page): Promise<void> {
  expect(await axeViolations(page)).toEqual([])
}

/** Fails when the page scrolls sideways (the phone layout must fit its width). */
export async function expectNoHorizontalScroll(page: Page): Promise<void> {
  const { scroll, client } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }))
  expect(scroll, 'page width beyond the viewport').toBeLessThanOrEqual(client)
}

/** Saves a screenshot of the page under docs/ui/ (documentation of what each page looks like). */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true })
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) })
}
