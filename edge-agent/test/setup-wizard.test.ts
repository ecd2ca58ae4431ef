import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectAccessible, openConsole, screenshot } from '../../hub/test/helpers/console-browser.ts'
import { startTestHub, type TestHub, USER_PASSWORD, userWithRole } from '../../hub/test/helpers/test-hub.ts'
import { chromiumAvailable, launchChromium } from '../../scripts/lib/chromium.ts'
import { credentialsFile } from '../src/credentials.ts'
import { ensureSetupUiBuilt } from '../src/setup/setup-build.ts'
import { freePort } from './helpers/agent-harness.ts'
import { waitUntil } from './helpers/wait.ts'

/**
 * The agent's setup wizard in Debian's Chromium, against a real hub and a real agent process
 * (`npm run agent`'s entry, not enrolled yet): it opens the wizard and waits. The installer opens
 * it, types the PIN from the setup-pin file (a wrong one first, refused readably), enrolls with a
 * code made on the hub, signs in with their own account (the `installer` role at the site) and
 * sees who they are, their site and the next step; the agent proper starts and shows online on the
 * hub. Driven by labels and roles only.
 */
if (!chromiumAvailable)
  console.warn('SKIPPING setup wizard browser test: /usr/bin/chromium is missing (Debian: chromium)')

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const SITE = 'Corner Shop'
const INSTALLER = 'ivy-installer'

let t: TestHub
let browser: Browser
let agent: ChildProcess | undefined
let agentOut = ''
let dataDir: string
let siteId: string

beforeAll(async () => {
  if (!chromiumAvailable) return
  await ensureSetupUiBuilt()
  t = await startTestHub({ VMS_MQTT_PORT: await freePort() }, { systemLicense: true })
  browser = await launchChromium()
}, 180_000)

afterAll(async () => {
  await browser?.close()
  if (agent && agent.exitCode === null && agent.signalCode === null) {
    const exited = new Promise((resolve) => agent?.once('exit', resolve))
    agent.kill('SIGTERM')
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))])
    if (agent.exitCode === null && agent.signalCode === null) agent.kill('SIGKILL')
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true })
  await t?.close()
})

/** Starts `npm run agent` (its entry, through tsx) on an empty data dir; resolves the wizard's address. */
async function startAgent(): Promise<string> {
  dataDir = mkdtempSync(path.join(tmpdir(), 'vms-agent-setup-'))
  agent = spawn(process.execPath, ['--import', 'tsx', 'edge-agent/src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      VMS_AGENT_DATA_DIR: dataDir,
      VMS_AGENT_SETUP_PORT: '0',
      VMS_AGENT_LOG_LEVEL: 'info',
      VMS_AGENT_MIN_FREE_BYTES: '0',
      VMS_AGENT_ACK_TIMEOUT_MS: '1000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  agent.stdout?.on('data', (c: Buffer) => {
    agentOut = (agentOut + c.toString()).slice(-200_000)
  })
  agent.stderr?.on('data', (c: Buffer) => {
    agentOut = (agentOut + c.toString()).slice(-200_000)
  })
  await waitUntil(
    () => {
      if (agent?.exitCode !== null) throw new Error(`the agent exited (${agent?.exitCode}):\n${agentOut}`)
      return /Setup wizard: http:\/\/127\.0\.0\.1:\d+\//.test(agentOut)
    },
    90_000,
    'the setup wizard to start',
  )
  return /Setup wizard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(agentOut)?.[1] as string
}

describe.skipIf(!chromiumAvailable)('agent setup wizard', () => {
  it('enrolls a new agent and signs the installer in to the hub; the agent comes online', async () => {
    const admin = await t.adminToken()
    const site = await t.request('POST', '/api/v1/sites', { token: admin, body: { name: SITE } })
    expect(site.status).toBe(201)
    siteId = site.body.id
    await userWithRole(t, 'system', admin, INSTALLER, 'installer', { type: 'site', id: siteId })
    // A viewer at the same site may not set it up.
    await userWithRole(t, 'system', admin, 'val-viewer', 'viewer', { type: 'site', id: siteId })
    const code = await t.request('POST', `/api/v1/sites/${siteId}/enrollments`, { token: admin })
    expect(code.status).toBe(201)

    const url = await startAgent()
    // Not enrolled: the agent waits for the wizard, and says so.
    expect(agentOut).toContain('waiting for enrollment in the setup wizard')
    const pinPath = path.join(dataDir, 'setup-pin')
    expect(statSync(pinPath).mode & 0o777).toBe(0o600)
    const pin = readFileSync(pinPath, 'utf8').trim()
    expect(agentOut).toContain(`Setup PIN:    ${pin}`)

    const { page, context, errors } = await openConsole(browser)
    await page.goto(url)
    await page.getByRole('heading', { name: 'Set up this agent', level: 1 }).waitFor()

    // A wrong PIN is refused, readably.
    const wrong = pin === '00000000' ? '11111111' : '00000000'
    await page.getByLabel('Setup PIN').fill(wrong)
    await page.getByRole('button', { name: 'Unlock' }).click()
    await page
      .getByRole('alert')
      .filter({ hasText: /That is not the setup PIN\. .* \(4 tries left this minute\)/ })
      .waitFor()
    expect(errors).toEqual([`http 401: POST ${url}api/setup/unlock`])
    errors.length = 0
    await expectAccessible(page)

    await page.getByLabel('Setup PIN').fill(pin)
    await page.getByRole('button', { name: 'Unlock' }).click()
    const steps = page.getByRole('navigation', { name: 'Setup steps' })
    await steps.waitFor()
    expect(await steps.getByRole('listitem').allInnerTexts()).toEqual([
      'Connect to the hub (to do now)',
      'Sign in (waiting)',
      'Add cameras (later)',
      'Storage and recording (later)',
      'Check and finish (later)',
    ])

    // Step 1: the hub's address and the code made on the hub.
    const enrollForm = page.getByRole('form', { name: 'Enroll at the hub' })
    await enrollForm.getByLabel('Hub address').fill(t.url)
    await enrollForm.getByLabel('Enrollment code').fill(code.body.code)
    await enrollForm.getByRole('button', { name: 'Enroll' }).click()
    const signIn = page.getByRole('form', { name: 'Sign in to the hub' })
    await signIn.waitFor()
    const credentials = JSON.parse(readFileSync(path.join(dataDir, 'credentials.json'), 'utf8'))
    expect(credentials.siteId).toBe(siteId)
    expect(statSync(credentialsFile(dataDir)).mode & 0o777).toBe(0o600)
    const step1 = page.getByRole('region', { name: '1. Connect to the hub' })
    await expect(step1.innerText()).resolves.toContain(credentials.agentId)
    await expect(step1.innerText()).resolves.toContain(credentials.caFingerprint)

    // Step 2: an account without the installer role at the site is refused, readably.
    await signIn.getByLabel('Tenant').fill('system')
    await signIn.getByLabel('Username').fill('val-viewer')
    await signIn.getByLabel('Password').fill(USER_PASSWORD)
    await signIn.getByRole('button', { name: 'Sign in' }).click()
    await signIn
      .getByRole('alert')
      .filter({ hasText: "This account may not set up this agent's site: it needs the installer role" })
      .waitFor()
    expect(errors).toEqual([`http 403: POST ${url}api/setup/login`])
    errors.length = 0

    // The installer's own account.
    await signIn.getByLabel('Tenant').fill('system')
    await signIn.getByLabel('Username').fill(INSTALLER)
    await signIn.getByLabel('Password').fill(USER_PASSWORD)
    await signIn.getByRole('button', { name: 'Sign in' }).click()
    const summary = page.getByRole('region', { name: 'Setup summary' })
    await expect
      .poll(() => summary.innerText())
      .toContain(`Signed in as ${INSTALLER} · tenant system · site ${SITE}`)
    const step2 = page.getByRole('region', { name: '2. Sign in' })
    await expect(step2.innerText()).resolves.toMatch(/Roles here\s+installer/)
    // The next step is laid out and says where to do it meanwhile.
    const next = page.getByRole('region', { name: '3. Add cameras' })
    await expect(next.innerText()).resolves.toContain('Find the cameras on this network')
    expect(await steps.getByRole('listitem').allInnerTexts()).toEqual([
      'Connect to the hub (done)',
      'Sign in (done)',
      'Add cameras (later)',
      'Storage and recording (later)',
      'Check and finish (later)',
    ])
    expect(errors).toEqual([])
    await expectAccessible(page)
    await screenshot(page, 'setup-wizard')
    // No password or token in the page beyond what was typed (the field is cleared).
    expect(await page.content()).not.toContain(USER_PASSWORD)

    // The agent proper started once enrolled: it shows online on the hub.
    await waitUntil(
      async () =>
        (await t.request('GET', `/api/v1/agents/${credentials.agentId}`, { token: admin })).body.status ===
        'online',
      60_000,
      'the agent online on the hub',
    )
    // The wizard kept the installer's hub session in memory only.
    for (const f of ['credentials.json', 'setup-state.json'])
      expect(readFileSync(path.join(dataDir, f), 'utf8')).not.toMatch(/accessToken|refreshToken|eyJ/)
    expect(agentOut).not.toContain(USER_PASSWORD)
    expect(agentOut).not.toMatch(/eyJ[\w-]+\.eyJ/) // no JWT in the log
    await context.close()
  }, 180_000)
})
