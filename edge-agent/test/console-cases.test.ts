import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { toLocalInput } from '../../hub/console/src/components/format.ts'
import { parseKeysFile, verifyExport } from '../../hub/src/exports/export-manifest.ts'
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
 * Cases in the console, in Debian's Chromium, with a real agent recording the simulator: a case of
 * one clip made through the form becomes ready, takes a note and downloads as a zip; and the
 * playback export panel offers the export's signed manifest once the MP4 is saved.
 */

const ADMIN = { tenant: 'system', username: 'admin', password: ADMIN_PASSWORD }
let t: TestHub
let a: TestAgent
let sim: CameraSimulator
let cam: string
/** A recorded stretch of the camera (epoch ms). */
let recorded: { from: number; to: number }

/** A download the page starts while `act` runs: its bytes and suggested name. */
async function downloaded(page: Page, act: () => Promise<void>) {
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), act()])
  const file = await download.path()
  return { name: download.suggestedFilename(), bytes: readFileSync(file), file }
}

const suite = consoleSuite(
  'cases',
  async () => {
    sim = await CameraSimulator.start({ streams: [{ name: 'door', codec: 'h264' }] })
    t = await startTestHub({ VMS_MQTT_PORT: await freePort() }, { systemLicense: true })
    const site = await siteWithAgent(t, { VMS_AGENT_MIN_FREE_BYTES: 0, VMS_AGENT_SEGMENT_SECONDS: 2 })
    a = site.agent
    cam = await site.addCamera({ name: 'Back Door', streams: [{ role: 'main', url: sim.url('door') }] })
    await waitUntil(
      () => {
        const segments = a.agent?.index.closedSegmentsOldestFirst(cam) ?? []
        const first = segments[0]
        const last = segments.at(-1)
        if (!first || !last || last.end_ms - first.start_ms < 6_000) return false
        recorded = { from: first.start_ms, to: last.end_ms }
        return true
      },
      60_000,
      '6 s recorded',
    )
  },
  async () => {
    await a?.cleanup()
    await t?.close()
    await sim?.close()
  },
  120_000,
)

/** Whole seconds inside the recording, as a datetime-local input takes them. */
const inside = (offsetMs: number) =>
  toLocalInput(new Date(Math.ceil((recorded.from + offsetMs) / 1000) * 1000).toISOString())

describe.skipIf(!chromiumAvailable)('cases in the console', () => {
  it('creates a case of one clip through the form, sees it ready, adds a note, downloads the zip', async () => {
    const { page, context, errors } = await openConsole(suite.browser)
    await signIn(page, t.url, ADMIN, '/live')
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Cases' }).click()
    await page.getByRole('heading', { name: 'Cases', level: 1 }).waitFor()
    await page.getByRole('button', { name: 'New case' }).click()
    const form = page.getByRole('form', { name: 'New case' })
    await form.getByLabel('Name', { exact: true }).fill('Back door break-in')
    await form.getByLabel('Description', { exact: true }).fill('Seen from the yard')
    await form.getByLabel('Camera', { exact: true }).selectOption(cam)
    await form.getByLabel('From', { exact: true }).fill(inside(1000))
    await form.getByLabel('To', { exact: true }).fill(inside(4000))
    await form.getByLabel('Note', { exact: true }).fill('the door opens')
    // "Add clip" adds a row, which can be removed again.
    await form.getByRole('button', { name: 'Add clip' }).click()
    await form.getByRole('group', { name: 'Clip 2' }).waitFor()
    await form.getByRole('button', { name: 'Remove clip 2' }).click()
    await form.getByRole('button', { name: 'Create case' }).click()

    await page.getByRole('heading', { name: 'Back door break-in' }).waitFor()
    expect(new URL(page.url()).pathname).toMatch(/^\/cases\/[0-9a-f-]{36}$/)
    await expect.poll(() => page.getByTestId('case-state').textContent(), { timeout: 60_000 }).toBe('Ready')
    const clips = page.getByRole('table', { name: 'Clips' })
    await clips.getByText('the door opens').waitFor()
    await clips.getByText('Back Door').waitFor()

    await page.getByLabel('Note text').fill('Police informed, ref 42')
    await page.getByRole('button', { name: 'Add note' }).click()
    await page.getByRole('list', { name: 'Notes' }).getByText('Police informed, ref 42').waitFor()

    const link = page.getByRole('link', { name: 'Download zip' })
    expect(await link.getAttribute('href')).toMatch(/^\/api\/v1\/cases\/[0-9a-f-]{36}\/download\.zip$/)
    const zip = await downloaded(page, () => link.click())
    expect(zip.name).toMatch(/^case-back-door-break-in-[0-9a-f]{8}\.zip$/)
    expect(zip.bytes.subarray(0, 2).toString()).toBe('PK')
    const listing = execFileSync('unzip', ['-l', zip.file], { encoding: 'utf8' })
    expect(listing).toContain('case.json')
    expect(listing).toContain('export-keys.json')
    expect(listing).toMatch(/clips\/01-back-door-.*\.mp4/)
    expect(listing).toMatch(/clips\/01-back-door-.*\.manifest\.json/)
    await page
      .getByRole('status')
      .getByText(/^Downloaded case-back-door-break-in/)
      .waitFor()
    await expectAccessible(page)
    await screenshot(page, 'case')
    expect(errors).toEqual([])
    await context.close()
  })

  it('offers the signed manifest after an export in playback, and it verifies the MP4', async () => {
    const { page, context, errors } = await openConsole(suite.browser)
    const at = new Date(recorded.from + 3000).toISOString()
    await signIn(page, t.url, ADMIN, `/playback/${cam}?t=${at}`)
    const panel = page.getByRole('form', { name: 'Export' })
    await panel.getByLabel('Export from').fill(inside(1000))
    await panel.getByLabel('Export to').fill(inside(4000))
    const mp4 = await downloaded(page, () => panel.getByRole('button', { name: 'Export MP4' }).click())
    await panel
      .getByRole('status')
      .getByText(/^Exported /)
      .waitFor()
    const manifest = await downloaded(page, () =>
      panel.getByRole('button', { name: 'Download manifest' }).click(),
    )
    expect(manifest.name).toMatch(/^export-[0-9a-f-]{36}\.manifest\.json$/)
    const keys = await t.request('GET', '/.well-known/export-keys.json')
    const sha256 = createHash('sha256').update(mp4.bytes).digest('hex')
    expect(
      verifyExport(
        manifest.bytes.toString('utf8'),
        { sha256, bytes: mp4.bytes.length },
        parseKeysFile(keys.text),
      ),
    ).toMatchObject({ ok: true })
    await panel.getByText(/Saved export-/).waitFor()
    expect(errors).toEqual([])
    await context.close()
  })
})
