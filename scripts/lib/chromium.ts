import { existsSync } from 'node:fs'
import { type Browser, chromium } from 'playwright-core'

/**
 * Debian's Chromium, headless, driven by playwright-core (no browser download), for browser tests
 * and the live bench. VMS_TEST_CHROMIUM names another binary.
 */
export const CHROMIUM = process.env.VMS_TEST_CHROMIUM ?? '/usr/bin/chromium'
export const chromiumAvailable = existsSync(CHROMIUM)

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}
