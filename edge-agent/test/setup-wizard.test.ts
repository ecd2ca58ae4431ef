import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectAccessible, openConsole, screenshot } from '../../hub/test/helpers/console-browser.ts'
import { startTestHub, type TestHub, USER_PASSWORD, userWithRole } from '../../hub/test/helpers/test-hub.ts'
import { SimulatedDevices } from '../../scripts/camera-sim/devices.ts'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'
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
 * hub. Then steps 3 to 5 against the camera simulator's devices: discovery by a unicast
 * WS-Discovery target, a probe (a wrong password first), a still and a few seconds of live video,
 * naming and adding the camera (created on the hub as the installer, audited so), retention and
 * analytics, the disk quota (in force at once: the summary's estimate and the agent's next heartbeat
 * carry it), and the summary with the camera streaming. Driven by labels and roles only.
 */
if (!chromiumAvailable)
  console.warn('SKIPPING setup wizard browser test: /usr/bin/chromium is missing (Debian: chromium)')

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const SITE = 'Corner Shop'
const INSTALLER = 'ivy-installer'
const GATE = { name: 'Gate', username: 'admin', password: 'Gate-Onvif-8842' }

let t: TestHub
let browser: Browser
let agent: ChildProcess | undefined
let agentOut = ''
let dataDir: string
let siteId: string
let sim: CameraSimulator
let devices: SimulatedDevices

beforeAll(async () => {
  if (!chromiumAvailable) return
  await ensureSetupUiBuilt()
  sim = await CameraSimulator.start({
    streams: [
      { name: 'gate', codec: 'h264' },
      { name: 'gate-sub', codec: 'h264', sub: true },
    ],
  })
  devices = await SimulatedDevices.start({
    rtspBaseUrl: `rtsp://${sim.host}:${sim.port}`,
    simulator: sim,
    devices: [{ kind: 'onvif', ...GATE, streams: { main: 'gate', sub: 'gate-sub' } }],
  })
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
  await devices?.close()
  await sim?.close()
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
    // Not enrolled: the agent waits for the wizard, and says so (its log line may follow the
    // banner on another stream: waited for, not expected in the same chunk).
    await waitUntil(
      () => agentOut.includes('waiting for enrollment in the setup wizard'),
      30_000,
      'the agent to say it waits for enrollment',
    )
    const pinPath = path.join(dataDir, 'setup-pin')
    expect(statSync(pinPath).mode & 0o777).toBe(0o600)
    const pin = readFileSync(pinPath, 'utf8').trim()
    await waitUntil(() => agentOut.includes(`Setup PIN:    ${pin}`), 30_000, 'the PIN printed')

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
      'Add cameras (waiting)',
      'Storage and recording (waiting)',
      'Check and finish (waiting)',
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
    expect(await steps.getByRole('listitem').allInnerTexts()).toEqual([
      'Connect to the hub (done)',
      'Sign in (done)',
      'Add cameras (to do now)',
      'Storage and recording (waiting)',
      'Check and finish (waiting)',
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

    // Step 3: discovery by the agent, unicast WS-Discovery to the simulator's responder only.
    const cams = page.getByRole('region', { name: '3. Add cameras' })
    const find = cams.getByRole('form', { name: 'Find cameras' })
    await find.getByLabel('Addresses or ranges (optional)').fill(devices.discoveryTarget as string)
    await find.getByRole('button', { name: 'Discover' }).click()
    await cams.getByRole('button', { name: 'Use 127.0.0.1' }).click()
    const probeForm = cams.getByRole('form', { name: 'Probe a device' })
    expect(await probeForm.getByLabel('Device address').inputValue()).toBe(devices.get(GATE.name).url)
    // A wrong password is said so, readably.
    await probeForm.getByLabel('Device username').fill(GATE.username)
    await probeForm.getByLabel('Device password').fill('not-the-password')
    await probeForm.getByRole('button', { name: 'Probe' }).click()
    await probeForm.getByRole('alert').filter({ hasText: 'The username or password is wrong' }).waitFor()
    expect(errors).toEqual([`http 422: POST ${url}api/setup/probe`])
    errors.length = 0
    await probeForm.getByLabel('Device password').fill(GATE.password)
    await probeForm.getByRole('button', { name: 'Probe' }).click()
    const channels = cams.getByRole('region', { name: 'Channels found' })
    await channels.waitFor()
    await channels.getByRole('button', { name: /^Preview / }).click()
    // A still decoded from a keyframe, and a few seconds of video that play.
    const still = channels.getByRole('img', { name: /^Still of / })
    await still.waitFor()
    await expect
      .poll(() => still.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth), {
        timeout: 20_000,
      })
      .toBeGreaterThan(0)
    const video = channels.locator('video')
    await expect
      .poll(() => video.evaluate((v: HTMLVideoElement) => v.readyState >= 2 || v.currentTime > 0), {
        timeout: 20_000,
      })
      .toBe(true)
    await channels.getByLabel(/^Camera name for /).fill('Gate camera')
    await expectAccessible(page)
    await video.scrollIntoViewIfNeeded()
    await screenshot(page, 'setup-wizard-cameras')
    await channels.getByRole('button', { name: 'Add 1 camera' }).click()
    await cams.getByRole('list', { name: 'Cameras added' }).getByText('Gate camera').waitFor()
    expect(await page.content()).not.toContain(GATE.password)

    // Step 4: retention and analytics off, through the hub as the installer.
    const rec = page.getByRole('region', { name: '4. Storage and recording' })
    await expect(rec.innerText()).resolves.toContain('VMS_AGENT_RECORDING_QUOTA_BYTES')
    const recForm = rec.getByRole('form', { name: 'Recording defaults' })
    await recForm.getByLabel('Keep recordings for (days)').fill('14')
    await recForm.getByLabel('Run analytics (object detection) on the new cameras').uncheck()
    await recForm.getByRole('button', { name: 'Save recording settings' }).click()
    await rec
      .getByRole('list', { name: 'Recording settings applied' })
      .getByText('Gate camera: saved')
      .waitFor()
    // The disk quota: a setting of this machine, saved in its local settings file and in force at
    // once in the running agent (no restart).
    const quotaForm = rec.getByRole('form', { name: 'Disk quota' })
    const quotaField = quotaForm.getByLabel('Disk quota for recordings (GB)')
    expect(await quotaField.inputValue()).toBe('')
    await quotaField.fill('2')
    await quotaForm.getByRole('button', { name: 'Save quota' }).click()
    await quotaForm.getByRole('status').filter({ hasText: 'Quota 2.0 GB saved: in force now.' }).waitFor()
    await expect(rec.innerText()).resolves.toMatch(/Disk quota for recordings\s+2\.0 GB/)
    const settingsFile = path.join(dataDir, 'agent-settings.json')
    expect(JSON.parse(readFileSync(settingsFile, 'utf8'))).toEqual({ VMS_AGENT_RECORDING_QUOTA_BYTES: 2e9 })
    expect(statSync(settingsFile).mode & 0o777).toBe(0o600)

    // Step 5: the summary, the camera streaming (the agent's health through the hub).
    const check = page.getByRole('region', { name: '5. Check and finish' })
    const table = check.getByRole('table', { name: 'Cameras streaming' })
    await expect
      .poll(() => table.innerText().catch(() => ''), { timeout: 90_000, interval: 1000 })
      .toMatch(/Gate camera\s+streaming/)
    // The bitrate is measured over the heartbeats that follow the stream's start.
    await expect
      .poll(() => check.innerText(), { timeout: 90_000, interval: 1000 })
      .toMatch(/Retention the disk gives\s+about [\d.]+ days at the measured bitrates/)
    const facts = await check.innerText()
    expect(facts).toMatch(/Gate camera\s+streaming, recording\s+[\d.]+ (k|M)bit\/s\s+14 days/)
    // The new quota in the disk line and in the retention estimate (2 GB at the measured bitrate).
    expect(facts).toMatch(/recordings hold [\d.]+ \w?B, quota 2\.0 GB/)
    const rate = /streaming, recording\s+([\d.]+) (k|M)bit\/s/.exec(facts)
    const bps = Number(rate?.[1]) * (rate?.[2] === 'M' ? 1e6 : 1e3)
    const days = Number(/about ([\d.]+) days at the measured bitrates/.exec(facts)?.[1])
    const capped = 2e9 / (bps / 8) / 86_400
    expect(days).toBeGreaterThan(capped / 2)
    expect(days).toBeLessThan(capped * 2)
    expect(facts).toMatch(/Clock against the hub\s+in step/)
    expect(facts).toMatch(/Uplink to the hub\s+\d+ ms round trip, [\d.]+ (kbit|Mbit)\/s up/)
    expect(await steps.getByRole('listitem').allInnerTexts()).toEqual([
      'Connect to the hub (done)',
      'Sign in (done)',
      'Add cameras (done)',
      'Storage and recording (done)',
      'Check and finish (to do now)',
    ])
    expect(errors).toEqual([])
    await expectAccessible(page)
    await check.scrollIntoViewIfNeeded()
    await screenshot(page, 'setup-wizard-summary')

    // On the hub: the camera, bound to this agent and site, with what steps 3 and 4 set, created
    // by the installer.
    const list = await t.request('GET', `/api/v1/cameras?siteId=${siteId}`, { token: admin })
    const cam = list.body.items.find((c: { name: string }) => c.name === 'Gate camera')
    expect(cam).toMatchObject({
      agentId: credentials.agentId,
      siteId,
      recording: { enabled: true, retentionDays: 14 },
      device: { protocol: 'onvif', hasPassword: true },
    })
    expect(cam.analytics?.enabled ?? false).toBe(false)
    // The agent's next heartbeat reports the quota the wizard set (applied without a restart).
    await expect
      .poll(
        async () =>
          (await t.request('GET', `/api/v1/agents/${credentials.agentId}`, { token: admin })).body.health
            ?.recording?.quotaBytes,
        { timeout: 60_000, interval: 500 },
      )
      .toBe(2e9)
    await waitUntil(
      () => agentOut.includes('recording disk quota changed'),
      30_000,
      'the quota change logged',
    )
    const audit = await t.request('GET', '/api/v1/audit?action=camera.create&limit=10', { token: admin })
    const created = audit.body.items.find((e: { target?: { id?: string } }) => e.target?.id === cam.id)
    expect(created?.actor.name).toBe(INSTALLER)
    expect(agentOut).not.toContain(GATE.password)
    await context.close()
  }, 300_000)
})
