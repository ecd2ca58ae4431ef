import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  consoleBuilt,
  expectAccessible,
  openConsole,
  screenshot,
  signIn,
} from '../../hub/test/helpers/console-browser.ts'
import { ADMIN_PASSWORD, startTestHub, type TestHub } from '../../hub/test/helpers/test-hub.ts'
import { SimulatedDevices } from '../../scripts/camera-sim/devices.ts'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'
import { chromiumAvailable, launchChromium } from '../../scripts/lib/chromium.ts'
import { freePort } from './helpers/agent-harness.ts'
import { siteWithAgent, type TestSite } from './helpers/site.ts'
import { waitUntil } from './helpers/wait.ts'

/**
 * Devices in the console (issue 14), in Debian's Chromium against a real hub, a real agent, the
 * camera simulator and its simulated devices: an installer finds an ONVIF camera by discovery,
 * types in a Hikvision-like NVR, probes both (a wrong password is said so, then fixed), adds the
 * channels and sees a current still of each; imports a Dahua camera from a CSV file next to a bad
 * row; steers the ONVIF camera from the live single view's PTZ pad and saves, uses and removes a
 * preset; and sees the camera's own motion on the events page. Driven by labels and roles only.
 */
if (!chromiumAvailable)
  console.warn('SKIPPING console device tests: /usr/bin/chromium is missing (Debian: chromium)')

const ADMIN = { tenant: 'system', username: 'admin', password: ADMIN_PASSWORD }
const GATE = { name: 'Gate PTZ', username: 'admin', password: 'Gate-Onvif-7731' }
const NVR = { name: 'Lane NVR', username: 'admin', password: 'Lane-Nvr-4410' }
const YARD = { name: 'Yard Dahua', username: 'admin', password: 'Yard-Dh-9902' }

let t: TestHub
let sim: CameraSimulator
let devices: SimulatedDevices
let site: TestSite
let browser: Browser
let agentName: string

interface CameraView {
  id: string
  name: string
  device: { protocol: string; address: string; channel: string; hasPassword: boolean; events: boolean } | null
  streams: { role: string; url: string; hasPassword: boolean }[]
}
const cameras = async () =>
  (await t.request('GET', '/api/v1/cameras?limit=100', { token: await t.adminToken() })).body
    .items as CameraView[]

beforeAll(async () => {
  if (!chromiumAvailable) return
  await consoleBuilt()
  sim = await CameraSimulator.start({
    streams: [
      { name: 'gate', codec: 'h264' },
      { name: 'gate-sub', codec: 'h264', sub: true },
      { name: 'lane1', codec: 'h264' },
      { name: 'lane2', codec: 'h264' },
      { name: 'yard', codec: 'h264' },
      { name: 'yard-sub', codec: 'h264', sub: true },
    ],
  })
  devices = await SimulatedDevices.start({
    rtspBaseUrl: `rtsp://${sim.host}:${sim.port}`,
    // The NVR's and the Dahua camera's vendor paths (what their probes name) play the simulator's streams.
    simulator: sim,
    heartbeatMs: 1000,
    devices: [
      { kind: 'onvif', ...GATE, streams: { main: 'gate', sub: 'gate-sub' } },
      { kind: 'isapi', ...NVR, channels: 2, streams: [{ main: 'lane1' }, { main: 'lane2' }] },
      { kind: 'dahua', ...YARD, streams: { main: 'yard', sub: 'yard-sub' } },
    ],
  })
  // One PTZ gesture is one audit record however slowly this machine runs the test.
  t = await startTestHub(
    { VMS_MQTT_PORT: await freePort(), VMS_PTZ_AUDIT_SEQUENCE_MS: 3_600_000 },
    { systemLicense: true },
  )
  site = await siteWithAgent(t, {
    VMS_AGENT_RECONNECT_MAX_MS: 1000,
    VMS_AGENT_CAMERA_TIMEOUT_MS: 3000,
    VMS_AGENT_MIN_FREE_BYTES: 0,
  })
  agentName = (await t.request('GET', `/api/v1/agents/${site.agent.agentId}`, { token: site.token })).body
    .name as string
  browser = await launchChromium()
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await site?.agent.stop()
  await t?.close()
  await devices?.close()
  await sim?.close()
})

/** The host:port of a simulated ISAPI or Dahua device (its HTTP base URL without the scheme). */
const hostPort = (url: string) => new URL(url).host

async function probeWith(page: Page, username: string, password: string) {
  const form = page.getByRole('form', { name: 'Probe devices' })
  await form.getByLabel('Device username').fill(username)
  await form.getByLabel('Device password').fill(password)
  await form.getByRole('button', { name: /^Probe \d+ selected device/ }).click()
  await form.getByRole('button', { name: /^Probe \d+ selected device/ }).waitFor()
}

describe.skipIf(!chromiumAvailable)('console: devices', () => {
  it('adds an ONVIF camera found by discovery and both channels of an NVR typed in, with stills', async () => {
    const { page, errors } = await openConsole(browser)
    await signIn(page, t.url, ADMIN, '/admin/agents')
    await page.getByRole('link', { name: `Add cameras to ${agentName}` }).click()
    await page.getByRole('heading', { name: `Add cameras to ${agentName}`, level: 1 }).waitFor()

    // Discovery by the agent: WS-Discovery unicast to the simulator's responder only.
    const find = page.getByRole('form', { name: 'Find devices' })
    await find.getByLabel('Network scan (ports 554, 80, 8000, 37777)').uncheck()
    await find.getByLabel('Addresses or ranges (optional)').fill(devices.discoveryTarget as string)
    await find.getByRole('button', { name: 'Discover' }).click()
    const gateBox = page.getByRole('checkbox', { name: 'Select 127.0.0.1', exact: true })
    await gateBox.waitFor()
    expect(await gateBox.isChecked()).toBe(true)

    // The NVR, typed in by address (ISAPI is not discovered by WS-Discovery).
    const nvrAddress = hostPort(devices.get(NVR.name).url)
    const manual = page.getByRole('form', { name: 'Add a device by address' })
    await manual.getByLabel('Device address').fill(nvrAddress)
    await manual.getByRole('button', { name: 'Add to the list' }).click()
    await page.getByRole('checkbox', { name: `Select ${nvrAddress}` }).waitFor()

    // One set of credentials for both: right for the camera, wrong for the NVR, which says so.
    await probeWith(page, GATE.username, GATE.password)
    const nvrSection = page.getByRole('region', { name: `Device ${nvrAddress}` })
    await nvrSection.getByRole('alert').filter({ hasText: 'The username or password is wrong' }).waitFor()
    const gateSection = page.getByRole('region', { name: /^Device http:\/\/127\.0\.0\.1/ })
    await gateSection.getByRole('checkbox', { name: /^Add / }).first().waitFor()
    expect(errors.filter((e) => e.includes('/probe'))).toHaveLength(1) // the NVR's 422
    errors.length = 0

    // The NVR again with its own password: the camera's probe stays as it was.
    await gateBox.uncheck()
    await probeWith(page, NVR.username, NVR.password)
    await nvrSection.getByRole('checkbox', { name: /^Add / }).nth(1).waitFor()
    expect(await nvrSection.getByRole('checkbox', { name: /^Add / }).count()).toBe(2)
    await expect.poll(() => gateSection.getByRole('checkbox', { name: /^Add / }).count()).toBeGreaterThan(0)
    await nvrSection
      .getByLabel(/^Camera name for /)
      .first()
      .fill('Lane 1')
    await nvrSection
      .getByLabel(/^Camera name for /)
      .nth(1)
      .fill('Lane 2')
    await gateSection
      .getByLabel(/^Camera name for /)
      .first()
      .fill('Gate')
    // A still of a channel before adding it: the device's own snapshot, through the agent.
    await gateSection
      .getByRole('button', { name: /^Preview / })
      .first()
      .click()
    await gateSection.getByRole('img', { name: /^Preview of / }).waitFor()
    await nvrSection
      .getByRole('button', { name: /^Preview / })
      .nth(1)
      .click()
    await nvrSection.getByRole('img', { name: /^Preview of / }).waitFor()
    await expectAccessible(page)

    await page.getByRole('button', { name: 'Add 3 cameras' }).click()
    await page.getByRole('status').filter({ hasText: '3 of 3 cameras added.' }).waitFor()
    const results = page.getByRole('table', { name: 'Results' })
    await results.scrollIntoViewIfNeeded()
    // Each new camera shows a current still, through the agent.
    for (const name of ['Gate', 'Lane 1', 'Lane 2'])
      await results.getByRole('img', { name: `Still of ${name}` }).waitFor({ timeout: 30_000 })
    await screenshot(page, 'add-cameras')
    expect(errors).toEqual([])

    const all = await cameras()
    const gate = all.find((c) => c.name === 'Gate')
    expect(gate?.device).toMatchObject({ protocol: 'onvif', hasPassword: true, events: true })
    expect(JSON.stringify(all)).not.toContain(GATE.password)
    const lanes = all.filter((c) => c.name.startsWith('Lane '))
    expect(lanes.map((c) => [c.device?.protocol, c.device?.channel]).sort()).toEqual([
      ['isapi', '1'],
      ['isapi', '2'],
    ])
    // The streams the probe found are the NVR's (its vendor paths), and the agent records them.
    const lane2 = lanes.find((c) => c.name === 'Lane 2') as CameraView
    expect(lane2.streams[0]?.url).toMatch(/\/Streaming\/Channels\/201$/)
    await waitUntil(
      () =>
        site.agent.agent?.cameras
          .health()
          .find((c) => c.id === lane2.id)
          ?.streams.some((s) => s.state === 'streaming') === true,
      30_000,
      'Lane 2 streaming on the agent',
    )
    await page.close()
  }, 180_000)

  it('imports cameras from a CSV file, row by row', async () => {
    const { page, errors } = await openConsole(browser)
    await signIn(page, t.url, ADMIN, '/admin/cameras')
    await page.getByText('Import cameras from a CSV file').click()
    const yard = hostPort(devices.get(YARD.name).url)
    const csv = [
      'name,siteId,agentId,address,protocol,channel,username,password,recording,retentionDays',
      `Yard,${site.siteId},${site.agent.agentId},${yard},dahua,1,${YARD.username},${YARD.password},true,7`,
      `Nowhere,${site.siteId},${site.agent.agentId},${yard},carrier-pigeon,,admin,x,true,7`,
    ].join('\n')
    await page
      .getByLabel('CSV file')
      .setInputFiles({ name: 'cameras.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) })
    await page.getByRole('button', { name: 'Import cameras' }).click()
    await page.getByRole('status').filter({ hasText: '1 of 2 cameras added, 1 not.' }).waitFor()
    const results = page.getByRole('table', { name: 'Results' })
    await results.getByRole('row', { name: /Nowhere/ }).waitFor()
    expect(await results.getByRole('row', { name: /Nowhere/ }).innerText()).toMatch(/protocol/i)
    // The page never shows a password, not even the file's.
    expect(await page.content()).not.toContain(YARD.password)
    const imported = (await cameras()).find((c) => c.name === 'Yard')
    expect(imported?.device).toMatchObject({ protocol: 'dahua', channel: '1', hasPassword: true })

    // The camera form shows the device (its password only as "set") and changes it.
    await page.getByRole('button', { name: 'Edit camera Yard' }).click()
    const edit = page.getByRole('form', { name: 'Edit camera Yard' })
    expect(await edit.getByLabel('Device protocol').inputValue()).toBe('dahua')
    expect(await edit.getByLabel('Device address').inputValue()).toBe(yard)
    await edit.getByText('device password set').waitFor()
    expect(await edit.getByLabel('New device password').inputValue()).toBe('')
    await edit.getByLabel("Take in the device's own events").check()
    await edit.getByRole('button', { name: 'Save camera' }).click()
    await page.getByRole('status').filter({ hasText: 'Saved camera Yard.' }).waitFor()
    const saved = (await cameras()).find((c) => c.name === 'Yard')
    expect(saved?.device).toMatchObject({ protocol: 'dahua', events: true, hasPassword: true })
    expect(errors).toEqual([])
    await page.close()
  }, 120_000)

  it('steers the PTZ camera from the live single view and keeps presets', async () => {
    const gate = (await cameras()).find((c) => c.name === 'Gate') as CameraView
    const onvif = devices.get(GATE.name).onvif
    if (!onvif) throw new Error('the gate camera is not ONVIF')
    const { page, errors } = await openConsole(browser)
    await signIn(page, t.url, ADMIN, `/live?camera=${gate.id}`)
    const pad = page.getByRole('region', { name: 'PTZ of Gate' })
    await pad
      .getByText(/No presets yet|Go to/)
      .first()
      .waitFor()

    // A click is a press and a release: a bounded move, then a stop.
    const before = onvif.ptzCalls.length
    await pad.getByRole('button', { name: 'Pan right' }).click()
    await waitUntil(
      () => onvif.ptzCalls.slice(before).some((c) => c.operation === 'Stop'),
      20_000,
      'a stop after the move',
    )
    const ops = onvif.ptzCalls.slice(before).map((c) => c.operation)
    expect(ops[0]).toBe('ContinuousMove')
    expect(onvif.ptzCalls[before]?.body).toMatch(/PanTilt x="0\.5"/)

    await pad.getByLabel('Preset name').fill('Entrance')
    await pad.getByRole('button', { name: 'Save preset' }).click()
    await pad.getByRole('button', { name: 'Go to Entrance' }).waitFor()
    await pad.getByRole('button', { name: 'Go to Entrance' }).click()
    await pad.getByRole('status').filter({ hasText: 'Going to preset Entrance.' }).waitFor()
    expect(onvif.ptzCalls.some((c) => c.operation === 'GotoPreset')).toBe(true)
    await expectAccessible(page)
    await screenshot(page, 'live-ptz')
    await pad.getByRole('button', { name: 'Remove preset Entrance' }).click()
    await pad.getByText('No presets yet.').waitFor()

    // One audit record for the move sequence, one per preset action.
    const audit = await t.request('GET', `/api/v1/audit?action=camera.ptz&limit=50`, {
      token: await t.adminToken(),
    })
    const actions = (audit.body.items as { details: { command: { action: string } } }[]).map(
      (r) => r.details.command.action,
    )
    expect(actions.filter((a) => a === 'move')).toHaveLength(1)
    expect(actions).toEqual(expect.arrayContaining(['set', 'goto', 'remove']))
    expect(errors).toEqual([])
    await page.close()
  }, 120_000)

  it("shows the camera's own motion on the events page", async () => {
    const gate = (await cameras()).find((c) => c.name === 'Gate') as CameraView
    // The agent's pull point is open once the camera is configured with events on.
    await waitUntil(
      () => (devices.get(GATE.name).onvif?.subscriptions.size ?? 0) > 0,
      30_000,
      "the agent's ONVIF subscription",
    )
    await devices.motion(GATE.name, true)
    const token = await t.adminToken()
    const deviceEvents = async () =>
      (await t.request('GET', `/api/v1/events?cameraId=${gate.id}&type=device.motion`, { token })).body
        .items as { data: { state: string; source: string } }[]
    await waitUntil(
      async () => (await deviceEvents()).some((e) => e.data.state === 'start'),
      30_000,
      'motion start',
    )
    await devices.motion(GATE.name, false)
    await waitUntil(
      async () => (await deviceEvents()).some((e) => e.data.state === 'end'),
      30_000,
      'motion end',
    )

    const { page, errors } = await openConsole(browser)
    await signIn(page, t.url, ADMIN, `/events?camera=${gate.id}&type=device.motion`)
    const list = page.getByRole('list', { name: 'Events, newest first' })
    await list.getByText('Device motion').first().waitFor()
    await list.getByText('started').waitFor()
    await list.getByText('ended').waitFor()
    await expect.poll(() => list.getByText(/ONVIF .*channel/).count()).toBeGreaterThan(0)
    await expectAccessible(page)
    expect(errors).toEqual([])
    await page.close()
  }, 120_000)
})
