import { type DownRequest, devicePasswordContext, probePasswordContext, SecretBox } from '@ts-vms/shared'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PTZ_SEQUENCE_MS, PtzSequences } from '../../src/http/routes/camera-ptz.ts'
import { type Enrolled, enrollAgentAt } from '../helpers/enrollment.ts'
import { type Answer, connectFakeAgent, type FakeAgent, waitFor } from '../helpers/fake-agent.ts'
import { issueTestLicense } from '../helpers/licenses.ts'
import { createTenantWithAdmin, startTestHub, type TestHub, userWithRole } from '../helpers/test-hub.ts'

/**
 * Devices through the agent (issue 14): discovery, a probe with the installer's credentials (sealed
 * for the agent, never stored, logged, audited or returned), cameras bound to a device (streams
 * filled in by a probe), the bulk import (JSON and CSV, rows independent, NVRs expanded per
 * channel), a camera's current still and PTZ. A fake agent answers `down/request` over MQTT as a
 * real one does.
 */
const RIGHT = 'Device-Secret-Right-91'
const WRONG = 'Device-Secret-Wrong-17'
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0xff, 0xd9])

let t: TestHub
let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
let north: Enrolled
let south: Enrolled
const ids: Record<string, string> = {}
let agent: FakeAgent
/** Probe passwords as the agent opened them, by request id. */
const opened = new Map<string, string | null>()
let agentBox: SecretBox

const NVR = '10.0.0.50'
const UNREACHABLE = '10.0.0.66'

function channel(ch: string, host: string, name: string, ptz = false) {
  return {
    channel: ch,
    name,
    streams: [
      {
        role: 'main',
        url: `rtsp://${host}:554/Streaming/Channels/${ch}01`,
        codec: 'h264',
        width: 1920,
        height: 1080,
        fps: 25,
      },
      {
        role: 'sub',
        url: `rtsp://${host}:554/Streaming/Channels/${ch}02`,
        codec: 'h264',
        width: 640,
        height: 360,
        fps: 15,
      },
    ],
    snapshot: true,
    ptz,
  }
}

const deviceInfo = (address: string, extra: Record<string, unknown> = {}) => ({
  address,
  port: 80,
  manufacturer: 'Hikvision',
  model: 'DS-2CD2143G2',
  firmware: 'V5.7.3',
  serial: `SN-${address}`,
  mac: '44:19:b6:00:00:01',
  name: `Camera ${address}`,
  protocols: ['onvif', 'isapi', 'rtsp'],
  onvifUrl: `http://${address}/onvif/device_service`,
  ...extra,
})

/** The fake agent's answer to one request. */
function answerOf(r: DownRequest): Answer {
  const fail = (status: number, code: string, message: string) => ({
    ok: false as const,
    error: { status, code, message },
  })
  switch (r.op) {
    case 'device.discover':
      return {
        ok: true,
        result: { devices: [deviceInfo('10.0.0.21'), deviceInfo('10.0.0.99', { manufacturer: null })] },
      }
    case 'device.probe': {
      let password: string | null = null
      if (r.passwordSealed)
        password = agentBox.open(r.passwordSealed, probePasswordContext(r.id)).toString('utf8')
      opened.set(r.id, password)
      const host = r.address.replace(/:\d+$/, '')
      if (host === UNREACHABLE) return fail(422, 'DEVICE_UNREACHABLE', 'no answer from the device')
      if (password !== RIGHT) return fail(422, 'DEVICE_AUTH', 'the device refused the credentials')
      const protocol = r.protocol === 'auto' ? 'isapi' : r.protocol
      const channels =
        host === NVR
          ? [channel('1', host, 'Gate'), channel('2', host, 'Yard'), channel('3', host, '')]
          : [channel('1', host, 'Camera 01', true)]
      return { ok: true, result: { device: { ...deviceInfo(host), protocol }, channels } }
    }
    case 'device.snapshot': {
      const password = r.passwordSealed
        ? agentBox.open(r.passwordSealed, probePasswordContext(r.id)).toString('utf8')
        : null
      opened.set(r.id, password)
      if (password !== RIGHT) return fail(422, 'DEVICE_AUTH', 'the device refused the credentials')
      if (r.channel === 'none') return fail(404, 'no_device_snapshot', 'the device has no snapshot')
      return {
        ok: true,
        result: { contentType: 'image/jpeg', base64: JPEG.toString('base64'), source: 'device' },
      }
    }
    case 'camera.snapshot':
      if (r.cameraId === ids.Dark) return fail(503, 'no_video', 'the camera sent no picture in time')
      return {
        ok: true,
        result: { contentType: 'image/jpeg', base64: JPEG.toString('base64'), source: 'device' },
      }
    case 'camera.ptz':
      if (r.cameraId === ids.FixedDevice) return fail(409, 'PTZ_UNSUPPORTED', 'the device has no PTZ')
      return { ok: true, result: r.command.action === 'set' ? { preset: '7' } : {} }
    case 'camera.ptz.presets':
      return { ok: true, result: { presets: [{ preset: '1', name: 'Gate' }] } }
    default:
      return fail(404, 'unknown_op', 'not played by this test')
  }
}

const enroll = (siteId: string) => enrollAgentAt(t, siteId, acme.token)

let cameraCount = 0
async function plainCamera(host: string, extra: Record<string, unknown> = {}, token = acme.token) {
  cameraCount += 1
  const res = await t.request('POST', '/api/v1/cameras', {
    token,
    body: {
      name: `Plain ${cameraCount}`,
      siteId: ids.North,
      agentId: north.agentId,
      streams: [{ role: 'main', url: `rtsp://${host}:554/stream1` }],
      ...extra,
    },
  })
  expect(res.status, res.text).toBe(201)
  return res.body.id as string
}

async function audits(action: string, target?: string) {
  const res = await t.request(
    'GET',
    `/api/v1/audit?action=${action}${target ? `&target=${target}` : ''}&limit=1000`,
    { token: acme.token },
  )
  expect(res.status, res.text).toBe(200)
  return res.body.items as { actor: { id: string }; outcome: string; details: any; reason?: string }[]
}

const requestsOf = (op: string) => agent.requests.filter((r) => r.op === op)
const lastRequest = (op: string) => requestsOf(op).at(-1) as any

beforeAll(async () => {
  // A sequence window no slow machine can outlast between two requests of one test.
  t = await startTestHub({ VMS_PTZ_AUDIT_SEQUENCE_MS: 3_600_000 })
  acme = await createTenantWithAdmin(t, 'acme')
  for (const name of ['North', 'South'])
    ids[name] = (await t.request('POST', '/api/v1/sites', { token: acme.token, body: { name } })).body.id
  north = await enroll(ids.North as string)
  south = await enroll(ids.South as string)
  agentBox = new SecretBox(Buffer.from(north.configKey, 'base64'))
  agent = await connectFakeAgent(north, { onRequest: answerOf })
}, 60_000)

afterAll(async () => {
  await agent?.close()
  await t?.close()
})

describe('discover', () => {
  it('forwards the request and names the camera already at an address', async () => {
    const existing = await plainCamera('10.0.0.21')
    const body = {
      methods: ['onvif', 'scan'],
      targets: ['10.0.0.0/24', '10.0.1.5', '127.0.0.1:3702'],
      timeoutMs: 5000,
    }
    const res = await t.request('POST', `/api/v1/agents/${north.agentId}/discover`, {
      token: acme.token,
      body,
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body.devices).toHaveLength(2)
    expect(res.body.devices[0]).toMatchObject({
      address: '10.0.0.21',
      cameraId: existing,
      protocols: ['onvif', 'isapi', 'rtsp'],
    })
    expect(res.body.devices[1]).toMatchObject({ address: '10.0.0.99', cameraId: null, manufacturer: null })
    expect(lastRequest('device.discover')).toMatchObject(body)
    const [record] = await audits('device.discover', north.agentId)
    expect(record?.details).toMatchObject({ methods: ['onvif', 'scan'], found: 2, timeoutMs: 5000 })
  })

  it('defaults to multicast and the local subnets (no targets)', async () => {
    const res = await t.request('POST', `/api/v1/agents/${north.agentId}/discover`, {
      token: acme.token,
      body: { methods: ['onvif'], timeoutMs: 1000 },
    })
    expect(res.status, res.text).toBe(200)
    expect(lastRequest('device.discover')).not.toHaveProperty('targets')
  })

  it('refuses bad input (400), an unknown agent (404), an offline one (503) and a viewer (403)', async () => {
    const path = `/api/v1/agents/${north.agentId}/discover`
    for (const body of [
      { methods: ['onvif'], timeoutMs: 60_001 },
      { methods: ['onvif'], timeoutMs: 10 },
      { methods: ['onvif', 'onvif'], timeoutMs: 1000 },
      { methods: [], timeoutMs: 1000 },
      { methods: ['onvif'], targets: ['10.0.0.1; rm -rf /'], timeoutMs: 1000 },
      { methods: ['onvif'], targets: ['10.0.0.1\u0000'], timeoutMs: 1000 },
      { methods: ['onvif'], timeoutMs: 1000, extra: true },
    ]) {
      const res = await t.request('POST', path, { token: acme.token, body })
      expect(res.status, `${JSON.stringify(body)}: ${res.text}`).toBe(400)
    }
    const surrogate = await t.request('POST', path, {
      token: acme.token,
      rawBody: '{"methods":["onvif"],"targets":["\\ud800"],"timeoutMs":1000}',
    })
    expect(surrogate.status).toBe(400)
    const unknown = await t.request('POST', '/api/v1/agents/00000000-0000-4000-8000-000000000000/discover', {
      token: acme.token,
      body: { methods: ['onvif'], timeoutMs: 1000 },
    })
    expect(unknown.status).toBe(404)
    const offline = await t.request('POST', `/api/v1/agents/${south.agentId}/discover`, {
      token: acme.token,
      body: { methods: ['onvif'], timeoutMs: 1000 },
    })
    expect(offline.status, offline.text).toBe(503)
    const viewer = await userWithRole(t, 'acme', acme.token, 'disc-viewer', 'viewer', {
      type: 'site',
      id: ids.North as string,
    })
    const forbidden = await t.request('POST', path, {
      token: viewer.token,
      body: { methods: ['onvif'], timeoutMs: 1000 },
    })
    expect(forbidden.status).toBe(403)
  })
})

describe('probe', () => {
  const path = () => `/api/v1/agents/${north.agentId}/probe`

  it('answers the device and its channels; the password arrives sealed for this request only', async () => {
    const existing = await plainCamera('10.0.0.22')
    const res = await t.request('POST', path(), {
      token: acme.token,
      body: { address: '10.0.0.22', username: 'admin', password: RIGHT, protocol: 'auto' },
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body.device).toMatchObject({ address: '10.0.0.22', protocol: 'isapi', cameraId: existing })
    expect(res.body.channels).toEqual([channel('1', '10.0.0.22', 'Camera 01', true)])
    expect(res.text).not.toContain(RIGHT)
    const r = lastRequest('device.probe')
    expect(r).toMatchObject({ address: '10.0.0.22', protocol: 'auto', username: 'admin' })
    expect(JSON.stringify(r)).not.toContain(RIGHT)
    expect(opened.get(r.id)).toBe(RIGHT)
    // Bound to its request: the same ciphertext opens under no other request's context.
    expect(() =>
      agentBox.open(r.passwordSealed, probePasswordContext('00000000-0000-4000-8000-000000000000')),
    ).toThrow()
  })

  it('says DEVICE_AUTH and DEVICE_UNREACHABLE as 422, audits them, and never stores or logs the password', async () => {
    const auth = await t.request('POST', path(), {
      token: acme.token,
      body: { address: '10.0.0.23:8080', username: 'admin', password: WRONG, protocol: 'isapi' },
    })
    expect(auth.status, auth.text).toBe(422)
    expect(auth.body.error.code).toBe('DEVICE_AUTH')
    const away = await t.request('POST', path(), {
      token: acme.token,
      body: { address: UNREACHABLE, username: 'admin', password: RIGHT },
    })
    expect(away.status, away.text).toBe(422)
    expect(away.body.error.code).toBe('DEVICE_UNREACHABLE')
    expect(lastRequest('device.probe').protocol).toBe('auto')

    const records = await audits('device.probe', north.agentId)
    expect(records.map((r) => r.outcome)).toEqual(expect.arrayContaining(['success', 'failure']))
    expect(records.find((r) => r.details.code === 'DEVICE_AUTH')?.details).toMatchObject({
      address: '10.0.0.23:8080',
      username: 'admin',
      withPassword: true,
    })
    const trail = JSON.stringify(records)
    expect(trail).not.toContain(RIGHT)
    expect(trail).not.toContain(WRONG)
    expect(t.logs.text()).not.toContain(RIGHT)
    expect(t.logs.text()).not.toContain(WRONG)
  })

  it("previews a channel's still before it is added, with the password sealed for that request, audited", async () => {
    const preview = (body: Record<string, unknown>, token = acme.token) =>
      fetch(`${t.url}/api/v1/agents/${north.agentId}/probe/snapshot`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    const body = { address: '10.0.0.31', protocol: 'isapi', channel: '2', username: 'admin', password: RIGHT }
    const res = await preview(body)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('image/jpeg')
    expect(Buffer.from(await res.arrayBuffer())).toEqual(JPEG)
    const r = lastRequest('device.snapshot')
    expect(r).toMatchObject({ address: '10.0.0.31', protocol: 'isapi', channel: '2', username: 'admin' })
    expect(JSON.stringify(r)).not.toContain(RIGHT)
    expect(opened.get(r.id)).toBe(RIGHT)

    const wrong = await preview({ ...body, password: WRONG })
    expect(wrong.status).toBe(422)
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe('DEVICE_AUTH')
    expect((await preview({ ...body, channel: 'none' })).status).toBe(404)
    // Bad input is the hub's to refuse; the agent is not asked.
    for (const bad of [
      { ...body, protocol: 'rtsp' },
      { ...body, channel: 'a b' },
      { ...body, address: 'admin:pw@10.0.0.31' },
      { ...body, extra: true },
    ])
      expect((await preview(bad)).status).toBe(400)
    // camera.manage on the agent's site: a viewer may not.
    const viewer = await userWithRole(t, 'acme', acme.token, 'preview-viewer', 'viewer', {
      type: 'site',
      id: ids.North as string,
    })
    expect((await preview(body, viewer.token)).status).toBe(403)

    const records = await audits('device.snapshot', north.agentId)
    expect(records.map((x) => x.outcome).sort()).toEqual(['failure', 'failure', 'success'])
    expect(JSON.stringify(records)).not.toContain(RIGHT)
    expect(JSON.stringify(records)).not.toContain(WRONG)
  })

  it('refuses addresses with credentials, whitespace or control characters, and unknown protocols (400)', async () => {
    for (const address of [
      'admin:pw@10.0.0.1',
      'http://admin:pw@10.0.0.1/onvif/device_service',
      ' 10.0.0.1',
      '10.0.0.1 ',
      '10.0.0.1:99999',
      '10.0.0.1\n',
      '',
      'rtsp://10.0.0.1/stream',
    ]) {
      const res = await t.request('POST', path(), { token: acme.token, body: { address } })
      expect(res.status, `${JSON.stringify(address)}: ${res.text}`).toBe(400)
    }
    const protocol = await t.request('POST', path(), {
      token: acme.token,
      body: { address: '10.0.0.1', protocol: 'sip' },
    })
    expect(protocol.status).toBe(400)
    const control = await t.request('POST', path(), {
      token: acme.token,
      body: { address: '10.0.0.1', username: 'admin\r\nX: y' },
    })
    expect(control.status).toBe(400)
  })
})

describe('a camera with a device', () => {
  it('fills the streams in from a probe, seals the password and never returns it', async () => {
    const res = await t.request('POST', '/api/v1/cameras', {
      token: acme.token,
      body: {
        name: 'Probed',
        siteId: ids.North,
        agentId: north.agentId,
        device: { protocol: 'isapi', address: '10.0.0.30', username: 'admin', password: RIGHT, events: true },
      },
    })
    expect(res.status, res.text).toBe(201)
    ids.Probed = res.body.id
    expect(res.body.device).toEqual({
      protocol: 'isapi',
      address: '10.0.0.30',
      channel: '',
      username: 'admin',
      hasPassword: true,
      events: true,
      allowPasswordText: false,
    })
    expect(res.body.streams).toEqual([
      {
        role: 'main',
        url: 'rtsp://10.0.0.30:554/Streaming/Channels/101',
        username: 'admin',
        hasPassword: true,
        transport: 'tcp',
      },
      {
        role: 'sub',
        url: 'rtsp://10.0.0.30:554/Streaming/Channels/102',
        username: 'admin',
        hasPassword: true,
        transport: 'tcp',
      },
    ])
    expect(res.text).not.toContain(RIGHT)
    expect(lastRequest('device.probe')).toMatchObject({ address: '10.0.0.30', protocol: 'isapi' })

    const one = await t.request('GET', `/api/v1/cameras/${res.body.id}`, { token: acme.token })
    expect(one.body.device.hasPassword).toBe(true)
    expect(one.text).not.toContain(RIGHT)
    const { rows } = await t.db.adminQuery('select device from cameras where id = $1', [res.body.id])
    const stored = (rows[0] as { device: Record<string, unknown> }).device
    expect(stored.passwordSealed).toEqual(expect.any(String))
    expect(JSON.stringify(stored)).not.toContain(RIGHT)
    const [created] = await audits('camera.create', res.body.id)
    expect(created?.details.device).toMatchObject({ protocol: 'isapi', hasPassword: true })
    expect(JSON.stringify(created)).not.toContain(RIGHT)

    // The agent's configuration: the device password resealed under its key, for this camera.
    const config = await waitFor(
      () => agent.configs.findLast((c) => c.config.cameras.some((cam) => cam.id === res.body.id))?.config,
      'the configuration with the camera',
    )
    const cam = config.cameras.find((c) => c.id === res.body.id)
    expect(cam?.device).toMatchObject({ protocol: 'isapi', address: '10.0.0.30', channel: '', events: true })
    expect(
      agentBox
        .open(cam?.device?.passwordSealed as string, devicePasswordContext(res.body.id))
        .toString('utf8'),
    ).toBe(RIGHT)
    // ... and not in what users read of the configuration.
    const api = await t.request('GET', `/api/v1/agents/${north.agentId}/config`, { token: acme.token })
    const shown = api.body.config.cameras.find((c: { id: string }) => c.id === res.body.id)
    expect(shown.device).toBeDefined()
    expect(shown.device).not.toHaveProperty('passwordSealed')
    // PasswordText is off unless asked for, and then left out of the agent's copy.
    expect(one.body.device.allowPasswordText).toBe(false)
    expect(cam?.device).not.toHaveProperty('allowPasswordText')
  })

  it('allows ONVIF PasswordText only when the camera says so, and sends it to the agent then', async () => {
    const res = await t.request('POST', '/api/v1/cameras', {
      token: acme.token,
      body: {
        name: 'Old firmware',
        siteId: ids.North,
        agentId: north.agentId,
        streams: [{ role: 'main', url: 'rtsp://10.0.0.44:554/live' }],
        device: { protocol: 'onvif', address: '10.0.0.44', allowPasswordText: true, password: RIGHT },
      },
    })
    expect(res.status, res.text).toBe(201)
    expect(res.body.device).toMatchObject({ protocol: 'onvif', allowPasswordText: true, hasPassword: true })
    const config = await waitFor(
      () => agent.configs.findLast((c) => c.config.cameras.some((cam) => cam.id === res.body.id))?.config,
      'the configuration with the camera',
    )
    expect(config.cameras.find((c) => c.id === res.body.id)?.device?.allowPasswordText).toBe(true)
    // Kept by a PATCH that does not name it; turned off by one that does.
    const kept = await t.request('PATCH', `/api/v1/cameras/${res.body.id}`, {
      token: acme.token,
      body: { device: { protocol: 'onvif', address: '10.0.0.44', events: true } },
    })
    expect(kept.status, kept.text).toBe(200)
    expect(kept.body.device).toMatchObject({ allowPasswordText: true, events: true, hasPassword: true })
    const off = await t.request('PATCH', `/api/v1/cameras/${res.body.id}`, {
      token: acme.token,
      body: { device: { protocol: 'onvif', address: '10.0.0.44', allowPasswordText: false } },
    })
    expect(off.body.device.allowPasswordText).toBe(false)
    const bad = await t.request('POST', '/api/v1/cameras', {
      token: acme.token,
      body: {
        name: 'Bad flag',
        siteId: ids.North,
        streams: [{ role: 'main', url: 'rtsp://10.0.0.45:554/live' }],
        device: { protocol: 'onvif', address: '10.0.0.45', allowPasswordText: 'yes' },
      },
    })
    expect(bad.status).toBe(400)
  })

  it('answers a probe failure, an NVR without a channel and an unknown channel as 422, creating nothing', async () => {
    const create = (name: string, device: Record<string, unknown>) =>
      t.request('POST', '/api/v1/cameras', {
        token: acme.token,
        body: { name, siteId: ids.North, agentId: north.agentId, device },
      })
    const wrong = await create('Wrong', {
      protocol: 'isapi',
      address: '10.0.0.31',
      username: 'admin',
      password: WRONG,
    })
    expect(wrong.status).toBe(422)
    expect(wrong.body.error.code).toBe('DEVICE_AUTH')
    const nvr = await create('Nvr', { protocol: 'isapi', address: NVR, username: 'admin', password: RIGHT })
    expect(nvr.status).toBe(422)
    expect(nvr.body.error.code).toBe('channel_required')
    const unknown = await create('Unknown', {
      protocol: 'isapi',
      address: NVR,
      channel: '9',
      username: 'admin',
      password: RIGHT,
    })
    expect(unknown.status).toBe(422)
    expect(unknown.body.error.code).toBe('channel_unknown')
    const bound = await create('Nvr Yard', {
      protocol: 'isapi',
      address: NVR,
      channel: '2',
      username: 'admin',
      password: RIGHT,
    })
    expect(bound.status, bound.text).toBe(201)
    expect(bound.body.streams[0].url).toBe(`rtsp://${NVR}:554/Streaming/Channels/201`)
    const rtsp = await t.request('POST', '/api/v1/cameras', {
      token: acme.token,
      body: {
        name: 'Rtsp',
        siteId: ids.North,
        agentId: north.agentId,
        device: { protocol: 'rtsp', address: '10.0.0.32' },
      },
    })
    expect(rtsp.status).toBe(422)
    expect(rtsp.body.error.code).toBe('streams_required')
    const { rows } = await t.db.adminQuery(
      "select count(*)::int as n from cameras where name in ('Wrong', 'Nvr', 'Unknown', 'Rtsp')",
    )
    expect(rows[0]).toEqual({ n: 0 })
  })

  it('keeps the device password on an unchanged address, and wants it again for a new one', async () => {
    const keep = await t.request('PATCH', `/api/v1/cameras/${ids.Probed}`, {
      token: acme.token,
      body: { device: { protocol: 'isapi', address: '10.0.0.30', channel: '1' } },
    })
    expect(keep.status, keep.text).toBe(200)
    expect(keep.body.device).toMatchObject({
      channel: '1',
      hasPassword: true,
      username: 'admin',
      events: true,
    })
    const moved = await t.request('PATCH', `/api/v1/cameras/${ids.Probed}`, {
      token: acme.token,
      body: { device: { protocol: 'isapi', address: '10.0.0.33' } },
    })
    expect(moved.status).toBe(422)
    expect(moved.body.error.code).toBe('password_required')
    const cleared = await t.request('PATCH', `/api/v1/cameras/${ids.Probed}`, {
      token: acme.token,
      body: { device: { protocol: 'isapi', address: '10.0.0.33', password: null } },
    })
    expect(cleared.status, cleared.text).toBe(200)
    expect(cleared.body.device.hasPassword).toBe(false)
    const removed = await t.request('PATCH', `/api/v1/cameras/${ids.Probed}`, {
      token: acme.token,
      body: { device: null },
    })
    expect(removed.status).toBe(200)
    expect(removed.body.device).toBeNull()
  })
})

describe('a device password and its agent', () => {
  it('is wanted again when the camera moves to another agent, as stream passwords are', async () => {
    const created = await t.request('POST', '/api/v1/cameras', {
      token: acme.token,
      body: {
        name: 'Mover',
        siteId: ids.North,
        agentId: north.agentId,
        streams: [{ role: 'main', url: 'rtsp://10.0.0.40/s' }],
        device: { protocol: 'onvif', address: 'http://10.0.0.99/onvif/device_service', password: RIGHT },
      },
    })
    expect(created.status, created.text).toBe(201)
    // Discovery now names it for its device's host.
    const found = await t.request('POST', `/api/v1/agents/${north.agentId}/discover`, {
      token: acme.token,
      body: { methods: ['onvif'], timeoutMs: 1000 },
    })
    expect(found.body.devices[1]).toMatchObject({ address: '10.0.0.99', cameraId: created.body.id })

    const other = await enroll(ids.North as string)
    const moved = await t.request('PATCH', `/api/v1/cameras/${created.body.id}`, {
      token: acme.token,
      body: { agentId: other.agentId },
    })
    expect(moved.status).toBe(422)
    expect(moved.body.error.code).toBe('password_required')
    const again = await t.request('PATCH', `/api/v1/cameras/${created.body.id}`, {
      token: acme.token,
      body: {
        agentId: other.agentId,
        device: { protocol: 'onvif', address: 'http://10.0.0.99/onvif/device_service', password: RIGHT },
      },
    })
    expect(again.status, again.text).toBe(200)
    expect(again.body.device.hasPassword).toBe(true)
    const [update] = await audits('camera.update', created.body.id)
    expect(update?.details).toMatchObject({ devicePasswordChanged: true })
    expect(JSON.stringify(update)).not.toContain(RIGHT)
  })
})

describe('bulk import', () => {
  it('creates the good JSON rows, answers the bad ones, and expands an NVR per channel', async () => {
    const res = await t.request('POST', '/api/v1/cameras/bulk', {
      token: acme.token,
      body: {
        cameras: [
          {
            name: 'Bulk plain',
            siteId: ids.North,
            streams: [{ role: 'main', url: 'rtsp://10.0.1.1/s', password: RIGHT }],
          },
          { name: 'Bulk no site' },
          {
            name: 'Lobby NVR',
            siteId: ids.North,
            agentId: north.agentId,
            device: { protocol: 'isapi', address: NVR, username: 'admin', password: RIGHT, events: true },
          },
          { name: 'Bulk plain', siteId: ids.North },
          {
            name: 'Bulk wrong',
            siteId: ids.North,
            agentId: north.agentId,
            device: { protocol: 'isapi', address: '10.0.1.2', password: WRONG },
          },
          'not an object',
        ],
      },
    })
    expect(res.status, res.text).toBe(200)
    expect(res.text).not.toContain(RIGHT)
    expect(res.text).not.toContain(WRONG)
    const results = res.body.results as {
      row: number
      status: string
      cameraId?: string
      channel?: string
      error?: { code: string }
    }[]
    expect(results.map((r) => [r.row, r.status, r.channel ?? null, r.error?.code ?? null])).toEqual([
      [1, 'created', null, null],
      [2, 'error', null, 'bad_request'],
      [3, 'created', '1', null],
      [3, 'created', '2', null],
      [3, 'created', '3', null],
      [4, 'error', null, 'already_exists'],
      [5, 'error', null, 'DEVICE_AUTH'],
      [6, 'error', null, 'bad_request'],
    ])
    expect(results.filter((r: any) => r.row === 3).map((r: any) => r.name)).toEqual([
      'Lobby NVR Gate',
      'Lobby NVR Yard',
      'Lobby NVR 3',
    ])
    const nvrCameras = await Promise.all(
      results
        .filter((r) => r.row === 3)
        .map((r) => t.request('GET', `/api/v1/cameras/${r.cameraId}`, { token: acme.token })),
    )
    expect(nvrCameras.map((c) => [c.body.name, c.body.device.channel, c.body.device.events])).toEqual([
      ['Lobby NVR Gate', '1', true],
      ['Lobby NVR Yard', '2', true],
      ['Lobby NVR 3', '3', true],
    ])
    expect(nvrCameras[1]?.body.streams[1].url).toBe(`rtsp://${NVR}:554/Streaming/Channels/202`)
    // One probe of the NVR served its three cameras.
    const [summary] = await audits('camera.bulk_import')
    expect(summary?.details).toMatchObject({ format: 'json', rows: 6, created: 4, failed: 4 })
    expect(t.logs.text()).not.toContain(RIGHT)
  })

  const header = 'name,siteId,agentId,address,protocol,channel,username,password,recording,retentionDays'
  const csv = (body: string, token = acme.token) =>
    t.request('POST', '/api/v1/cameras/bulk', {
      token,
      rawBody: body,
      headers: { 'content-type': 'text/csv' },
    })

  it('takes CSV: rows stand alone, each with its own permission', async () => {
    const manager = await userWithRole(t, 'acme', acme.token, 'csv-manager', 'site-manager', {
      type: 'site',
      id: ids.North as string,
    })
    // Sees the South site, but may not manage its cameras.
    const binding = await t.request('POST', `/api/v1/users/${manager.id}/role-bindings`, {
      token: acme.token,
      body: { role: 'viewer', scope: { type: 'site', id: ids.South } },
    })
    expect(binding.status, binding.text).toBe(201)
    const token = manager.token
    const lines = [
      header,
      `Csv gate,${ids.North},${north.agentId},10.0.2.1,isapi,1,admin,${RIGHT},true,14`,
      `Csv auto,${ids.North},${north.agentId},10.0.2.2,,,admin,"${RIGHT}",,`,
      `Csv rtsp,${ids.North},,rtsp://10.0.2.3:554/live,rtsp,,viewer,${RIGHT},false,`,
      `Csv south,${ids.South},,rtsp://10.0.2.4:554/live,rtsp,,,,,`,
      `Csv bad protocol,${ids.North},,10.0.2.5,sip,,,,,`,
      `Csv short,${ids.North}`,
      `Csv bad days,${ids.North},,rtsp://10.0.2.6/live,rtsp,,,,true,many`,
      `Csv creds,${ids.North},${north.agentId},admin:pw@10.0.2.7,onvif,,,,,`,
    ]
    const res = await csv(`${lines.join('\r\n')}\r\n`, token)
    expect(res.status, res.text).toBe(200)
    expect(res.text).not.toContain(RIGHT)
    const results = res.body.results as {
      row: number
      status: string
      cameraId?: string
      error?: { code: string; message: string }
    }[]
    expect(results.map((r) => [r.row, r.status, r.error?.code ?? null])).toEqual([
      [1, 'created', null],
      [2, 'created', null],
      [3, 'created', null],
      [4, 'error', 'forbidden'],
      [5, 'error', 'bad_request'],
      [6, 'error', 'bad_request'],
      [7, 'error', 'bad_request'],
      [8, 'error', 'bad_request'],
    ])
    expect(results[5]?.error?.message).toMatch(/expected 10 fields/)
    const gate = await t.request('GET', `/api/v1/cameras/${results[0]?.cameraId}`, { token })
    expect(gate.body).toMatchObject({
      name: 'Csv gate',
      recording: { enabled: true, retentionDays: 14 },
      device: { protocol: 'isapi', channel: '1', username: 'admin', hasPassword: true },
    })
    const auto = await t.request('GET', `/api/v1/cameras/${results[1]?.cameraId}`, { token })
    expect(auto.body.device.protocol).toBe('isapi')
    expect(
      requestsOf('device.probe').some((r: any) => r.address === '10.0.2.2' && r.protocol === 'auto'),
    ).toBe(true)
    const rtsp = await t.request('GET', `/api/v1/cameras/${results[2]?.cameraId}`, { token })
    expect(rtsp.body).toMatchObject({
      device: null,
      recording: { enabled: false, retentionDays: 30 },
      streams: [{ role: 'main', url: 'rtsp://10.0.2.3:554/live', username: 'viewer', hasPassword: true }],
    })
  })

  it('refuses what is no import: wrong header, broken quotes, NUL, too many rows, other types', async () => {
    const wrongHeader = await csv(`name,site,agent\nA,B,C\n`)
    expect(wrongHeader.status).toBe(400)
    expect(wrongHeader.body.error.code).toBe('invalid_csv_header')
    const quotes = await csv(`${header}\nA,${ids.North},,10.0.0.1,onvif,,admin,"${RIGHT}"x,,\n`)
    expect(quotes.status, quotes.text).toBe(400)
    expect(quotes.text).not.toContain(RIGHT)
    const nul = await csv(`${header}\nA\u0000,${ids.North},,10.0.0.1,onvif,,,,,\n`)
    expect(nul.status).toBe(400)
    const many = await csv(
      `${header}\n${Array.from({ length: 501 }, (_, i) => `C${i},${ids.North},,rtsp://10.9.0.1/${i},rtsp,,,,,`).join('\n')}\n`,
    )
    expect(many.status).toBe(413)
    const manyJson = await t.request('POST', '/api/v1/cameras/bulk', {
      token: acme.token,
      body: { cameras: Array.from({ length: 501 }, () => ({})) },
    })
    expect(manyJson.status).toBe(413)
    const huge = await csv(`${header}\n${'x'.repeat(1024 * 1024 + 10)}\n`)
    expect(huge.status).toBe(413)
    const empty = await csv(`${header}\n`)
    expect(empty.status).toBe(400)
    const plain = await t.request('POST', '/api/v1/cameras/bulk', {
      token: acme.token,
      rawBody: header,
      headers: { 'content-type': 'text/plain' },
    })
    expect(plain.status).toBe(415)
    const { rows } = await t.db.adminQuery("select count(*)::int as n from cameras where name ~ '^C[0-9]+$'")
    expect(rows[0]).toEqual({ n: 0 })
  })

  it('applies the license limit per row', async () => {
    const tiny = await createTenantWithAdmin(t, 'tiny')
    const license = await t.request('PUT', `/api/v1/license?tenantId=${tiny.tenantId}`, {
      token: await t.adminToken(),
      rawBody: await issueTestLicense({
        tenant: 'tiny',
        limits: { maxCameras: 2, maxAgents: 20, maxSites: 50, maxUsers: 100 },
      }),
      headers: { 'content-type': 'text/plain' },
    })
    expect(license.status, license.text).toBe(200)
    const site = await t.request('POST', '/api/v1/sites', { token: tiny.token, body: { name: 'Tiny' } })
    const cameras = [1, 2, 3].map((i) => ({
      name: `Tiny ${i}`,
      siteId: site.body.id,
      streams: [{ role: 'main', url: `rtsp://10.3.0.${i}/s` }],
    }))
    const res = await t.request('POST', '/api/v1/cameras/bulk', { token: tiny.token, body: { cameras } })
    expect(res.status, res.text).toBe(200)
    expect(res.body.results.map((r: any) => r.error?.code ?? r.status)).toEqual([
      'created',
      'created',
      'LICENSE_LIMIT',
    ])
  })
})

describe('snapshot', () => {
  it("serves the agent's JPEG, audited once per user and camera", async () => {
    const id = await plainCamera('10.0.4.1')
    const res = await fetch(`${t.url}/api/v1/cameras/${id}/snapshot.jpg`, {
      headers: { authorization: `Bearer ${acme.token}` },
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('image/jpeg')
    expect(res.headers.get('x-snapshot-source')).toBe('device')
    expect(Buffer.from(await res.arrayBuffer())).toEqual(JPEG)
    expect(lastRequest('camera.snapshot')).toMatchObject({ cameraId: id })
    await t.request('GET', `/api/v1/cameras/${id}/snapshot.jpg`, { token: acme.token })
    expect(await audits('camera.snapshot', id)).toHaveLength(1)
  })

  it('answers 404 for an unknown camera, 403 without camera.live, 503 offline or without a picture', async () => {
    const unknown = await t.request(
      'GET',
      '/api/v1/cameras/00000000-0000-4000-8000-000000000000/snapshot.jpg',
      {
        token: acme.token,
      },
    )
    expect(unknown.status).toBe(404)
    const role = await t.request('POST', '/api/v1/roles', {
      token: acme.token,
      body: { name: 'playback-only', permissions: ['camera.playback'] },
    })
    expect(role.status, role.text).toBe(201)
    const reviewer = await userWithRole(t, 'acme', acme.token, 'reviewer', 'playback-only', {
      type: 'site',
      id: ids.North as string,
    })
    const id = await plainCamera('10.0.4.2')
    const forbidden = await t.request('GET', `/api/v1/cameras/${id}/snapshot.jpg`, { token: reviewer.token })
    expect(forbidden.status).toBe(403)
    const far = await t.request('POST', '/api/v1/cameras', {
      token: acme.token,
      body: {
        name: 'Far',
        siteId: ids.South,
        agentId: south.agentId,
        streams: [{ role: 'main', url: 'rtsp://10.0.4.3/s' }],
      },
    })
    const offline = await t.request('GET', `/api/v1/cameras/${far.body.id}/snapshot.jpg`, {
      token: acme.token,
    })
    expect(offline.status).toBe(503)
    expect(offline.body.error.code).toBe('agent_offline')
    ids.Dark = await plainCamera('10.0.4.4')
    const dark = await t.request('GET', `/api/v1/cameras/${ids.Dark}/snapshot.jpg`, { token: acme.token })
    expect(dark.status).toBe(503)
    expect(dark.body.error.code).toBe('no_video')
  })
})

describe('ptz', () => {
  let ptzCamera: string
  let plain: string

  beforeAll(async () => {
    ptzCamera = await plainCamera('10.0.5.1', {
      device: { protocol: 'onvif', address: 'http://10.0.5.1/onvif/device_service' },
    })
    ids.FixedDevice = await plainCamera('10.0.5.2', { device: { protocol: 'isapi', address: '10.0.5.2' } })
    plain = await plainCamera('10.0.5.3')
  })

  const ptz = (id: string, body: unknown, token = acme.token) =>
    t.request('POST', `/api/v1/cameras/${id}/ptz`, { token, body })

  it('forwards each action with the validated command', async () => {
    const cases: [Record<string, unknown>, Record<string, unknown>][] = [
      [
        { action: 'move', pan: 0.5 },
        { action: 'move', pan: 0.5, tilt: 0, zoom: 0, timeoutMs: 1000 },
      ],
      [
        { action: 'move', pan: -1, tilt: 1, zoom: 0.2, timeoutMs: 5000 },
        { action: 'move', pan: -1, tilt: 1, zoom: 0.2, timeoutMs: 5000 },
      ],
      [{ action: 'stop', pan: 0.3 }, { action: 'stop' }],
      [
        { action: 'goto', preset: '1' },
        { action: 'goto', preset: '1' },
      ],
      [
        { action: 'set', name: 'Gate' },
        { action: 'set', name: 'Gate' },
      ],
      [
        { action: 'remove', preset: '1' },
        { action: 'remove', preset: '1' },
      ],
      [{ action: 'home' }, { action: 'home' }],
    ]
    for (const [body, command] of cases) {
      const res = await ptz(ptzCamera, body)
      expect(res.status, res.text).toBe(200)
      expect(res.body).toEqual(body.action === 'set' ? { preset: '7' } : {})
      expect(lastRequest('camera.ptz')).toMatchObject({ cameraId: ptzCamera })
      expect(lastRequest('camera.ptz').command).toEqual(command)
    }
  })

  it('refuses bad commands (400), cameras without PTZ (409) and users without camera.ptz (403)', async () => {
    for (const body of [
      { action: 'move', pan: 2 },
      { action: 'move', timeoutMs: 5001 },
      { action: 'move', timeoutMs: 0 },
      { action: 'goto' },
      { action: 'goto', preset: 'a b' },
      { action: 'spin' },
      {},
    ]) {
      const res = await ptz(ptzCamera, body)
      expect(res.status, `${JSON.stringify(body)}: ${res.text}`).toBe(400)
    }
    const before = requestsOf('camera.ptz').length
    const none = await ptz(plain, { action: 'home' })
    expect(none.status).toBe(409)
    expect(none.body.error.code).toBe('PTZ_UNSUPPORTED')
    const presets = await t.request('GET', `/api/v1/cameras/${plain}/ptz/presets`, { token: acme.token })
    expect(presets.status).toBe(409)
    expect(presets.body.error.code).toBe('PTZ_UNSUPPORTED')
    expect(requestsOf('camera.ptz').length).toBe(before)
    const agentSays = await ptz(ids.FixedDevice as string, { action: 'home' })
    expect(agentSays.status).toBe(409)
    expect(agentSays.body.error.code).toBe('PTZ_UNSUPPORTED')
    const viewer = await userWithRole(t, 'acme', acme.token, 'ptz-viewer', 'viewer', {
      type: 'site',
      id: ids.North as string,
    })
    expect((await ptz(ptzCamera, { action: 'home' }, viewer.token)).status).toBe(403)
    const viewerPresets = await t.request('GET', `/api/v1/cameras/${ptzCamera}/ptz/presets`, {
      token: viewer.token,
    })
    expect(viewerPresets.status).toBe(403)
  })

  it('lists the presets', async () => {
    const res = await t.request('GET', `/api/v1/cameras/${ptzCamera}/ptz/presets`, { token: acme.token })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toEqual({ presets: [{ preset: '1', name: 'Gate' }] })
  })

  it('audits a quick move-stop-move sequence once, and each goto', async () => {
    const operator = await userWithRole(t, 'acme', acme.token, 'ptz-operator', 'operator', {
      type: 'site',
      id: ids.North as string,
    })
    for (const body of [
      { action: 'move', pan: 0.2 },
      { action: 'stop' },
      { action: 'move', tilt: -0.4 },
      { action: 'stop' },
    ])
      expect((await ptz(ptzCamera, body, operator.token)).status).toBe(200)
    const mine = async () => (await audits('camera.ptz', ptzCamera)).filter((r) => r.actor.id === operator.id)
    const moves = await mine()
    expect(moves).toHaveLength(1)
    expect(moves[0]?.details.command).toMatchObject({ action: 'move', pan: 0.2 })
    expect((await ptz(ptzCamera, { action: 'goto', preset: '1' }, operator.token)).status).toBe(200)
    expect((await ptz(ptzCamera, { action: 'goto', preset: '1' }, operator.token)).status).toBe(200)
    expect((await mine()).map((r) => r.details.command.action)).toEqual(['goto', 'goto', 'move'])
  })
})

describe('ptz audit sequences', () => {
  it('continue with each move, and a stop ends none (a clock passed in, no waiting)', () => {
    const seq = new PtzSequences()
    const at = (ms: number) => 1_000_000 + ms
    expect(seq.starts('u/c', 'move', at(0))).toBe(true)
    expect(seq.starts('u/c', 'stop', at(200))).toBe(false)
    expect(seq.starts('u/c', 'move', at(PTZ_SEQUENCE_MS - 1))).toBe(false)
    // Measured from the latest move, so a long steady session stays one record.
    expect(seq.starts('u/c', 'move', at(2 * PTZ_SEQUENCE_MS - 2))).toBe(false)
    expect(seq.starts('u/c', 'stop', at(3 * PTZ_SEQUENCE_MS))).toBe(true)
    expect(seq.starts('u/c', 'move', at(3 * PTZ_SEQUENCE_MS + 1))).toBe(true)
    // Another user, or another camera, is another sequence.
    expect(seq.starts('v/c', 'move', at(3 * PTZ_SEQUENCE_MS + 2))).toBe(true)
    expect(seq.starts('u/d', 'move', at(3 * PTZ_SEQUENCE_MS + 3))).toBe(true)
  })

  it('forget the oldest beyond their bound', () => {
    const seq = new PtzSequences(undefined, 2)
    seq.starts('a', 'move', 0)
    seq.starts('b', 'move', 1)
    seq.starts('c', 'move', 2)
    expect(seq.starts('a', 'move', 3)).toBe(true)
    expect(seq.starts('c', 'move', 4)).toBe(false)
  })
})

describe('the API document', () => {
  it('describes the device routes, and the bulk import as JSON or CSV', async () => {
    const res = await t.request('GET', '/api/v1/openapi.json', { token: acme.token })
    expect(res.status, res.text.slice(0, 200)).toBe(200)
    const paths = res.body.paths
    expect(paths['/api/v1/agents/{id}/discover'].post.responses['200']).toBeDefined()
    expect(paths['/api/v1/agents/{id}/probe'].post.description).toMatch(/DEVICE_AUTH/)
    expect(Object.keys(paths['/api/v1/cameras/bulk'].post.requestBody.content)).toEqual([
      'application/json',
      'text/csv',
    ])
    expect(paths['/api/v1/cameras/{id}/snapshot.jpg'].get.responses['200'].description).toBeDefined()
    expect(paths['/api/v1/cameras/{id}/ptz'].post.description).toMatch(/PTZ_UNSUPPORTED/)
    expect(paths['/api/v1/cameras/{id}/ptz/presets'].get).toBeDefined()
  })
})
