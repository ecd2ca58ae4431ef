import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SimulatedDevices } from '../../../scripts/camera-sim/devices.ts'
import { CameraSimulator } from '../../../scripts/camera-sim/simulator.ts'
import { freePort } from '../../test/helpers/agent-harness.ts'
import { writeCredentials } from '../credentials.ts'
import { findFfmpeg } from '../media/ffmpeg.ts'
import { retentionEstimateDays, siteStreamUrl } from './cameras.ts'
import { CSRF_HEADER, SetupWizard } from './server.ts'
import { ensureSetupUiBuilt } from './setup-build.ts'

/**
 * Steps 3 to 5 of the setup wizard's HTTP surface: discovery, probe and preview run here against
 * the camera simulator's devices, with no hub (or before sign-in); adding cameras, their recording
 * and analytics and the summary go through a small stand-in hub as the signed-in installer. No
 * device password is logged or sent back; bad input is a 4xx.
 */
const PIN = '13572468'
const CAM = { name: 'Door', username: 'admin', password: 'Door-Pw-5521' }
const NVR = { name: 'Back NVR', username: 'admin', password: 'Nvr-Pw-7710' }
const logLines: string[] = []
const logger = pino({ level: 'debug' }, { write: (l: string) => void logLines.push(l) })

let sim: CameraSimulator
let devices: SimulatedDevices
let distDir: string
let hub: FakeHub
const dirs: string[] = []
const wizards: SetupWizard[] = []
const ffmpeg = findFfmpeg()

/** The hub's API as far as the wizard uses it; records what it was sent. */
interface FakeHub {
  url: string
  server: Server
  bulk: unknown[]
  patches: { id: string; body: unknown }[]
  agentId: string
  siteId: string
  tenantId: string
}

async function body(req: IncomingMessage): Promise<any> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  const all = Buffer.concat(chunks)
  // The uplink probe's bytes are counted, as the hub does; everything else is JSON.
  if (req.headers['content-type'] === 'application/octet-stream') return { probeBytes: all.length }
  return chunks.length ? JSON.parse(all.toString()) : undefined
}

async function startFakeHub(): Promise<FakeHub> {
  const h = {
    bulk: [] as unknown[],
    patches: [] as { id: string; body: unknown }[],
    agentId: randomUUID(),
    siteId: randomUUID(),
    tenantId: randomUUID(),
  }
  const created: { id: string; name: string }[] = []
  const server = createServer((req, res) => {
    void (async () => {
      const b = await body(req)
      const json = (status: number, v: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(v))
      }
      const url = new URL(req.url ?? '/', 'http://hub')
      const authed = req.headers.authorization === 'Bearer access-1'
      if (url.pathname === '/healthz') return json(200, { ok: true })
      if (url.pathname === '/api/v1/auth/login')
        return json(200, { accessToken: 'access-1', refreshToken: 'refresh-1', expiresIn: 900 })
      if (url.pathname === '/api/v1/auth/logout') return json(204, {})
      if (!authed) return json(401, { error: { message: 'no' } })
      if (url.pathname === '/api/v1/diagnostics/uplink' && req.method === 'POST')
        return json(200, { bytes: b.probeBytes, receiveMs: 1 })
      if (url.pathname === '/api/v1/me')
        return json(200, {
          id: randomUUID(),
          username: 'ivy',
          displayName: null,
          tenantId: h.tenantId,
          tenantSlug: 'system',
          permissions: ['camera.manage'],
          bindings: [{ role: { name: 'installer' }, scope: { type: 'site', id: h.siteId } }],
        })
      if (url.pathname === `/api/v1/sites/${h.siteId}`) return json(200, { id: h.siteId, name: 'Shop' })
      if (url.pathname === '/api/v1/cameras/bulk' && req.method === 'POST') {
        h.bulk.push(b)
        return json(200, {
          results: b.cameras.map((c: { name: string }, i: number) => {
            if (c.name === 'Taken')
              return { row: i + 1, status: 'error', error: { code: 'x', message: 'name taken' } }
            const id = randomUUID()
            created.push({ id, name: c.name })
            return { row: i + 1, status: 'created', cameraId: id }
          }),
        })
      }
      const patch = /^\/api\/v1\/cameras\/([\w-]+)$/.exec(url.pathname)
      if (patch && req.method === 'PATCH') {
        h.patches.push({ id: patch[1] as string, body: b })
        return json(200, { id: patch[1] })
      }
      if (url.pathname === '/api/v1/cameras')
        return json(200, {
          items: created.map((c) => ({
            id: c.id,
            name: c.name,
            recording: { enabled: true, retentionDays: 14 },
            status: {
              agentOnline: true,
              streams: [{ role: 'main', state: 'streaming', bitrateBps: 2_000_000, recording: true }],
            },
          })),
          total: created.length,
        })
      if (url.pathname === `/api/v1/agents/${h.agentId}`)
        return json(200, {
          status: 'online',
          health: {
            disk: { freeBytes: 900e9, totalBytes: 1000e9 },
            recording: { bytes: 100e9, quotaBytes: null },
          },
        })
      json(404, { error: { message: 'not here' } })
    })()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { ...h, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

beforeAll(async () => {
  distDir = (await ensureSetupUiBuilt()).dir
  sim = await CameraSimulator.start({
    streams: [
      { name: 'door', codec: 'h264' },
      { name: 'door-sub', codec: 'h264', sub: true },
      { name: 'back1', codec: 'h264' },
      { name: 'hevc', codec: 'h265' },
      { name: 'locked', codec: 'h264', auth: { username: 'viewer', password: 'Rtsp-Pw-3310' } },
    ],
  })
  devices = await SimulatedDevices.start({
    rtspBaseUrl: `rtsp://${sim.host}:${sim.port}`,
    simulator: sim,
    devices: [
      { kind: 'onvif', ...CAM, streams: { main: 'door', sub: 'door-sub' } },
      { kind: 'isapi', ...NVR, channels: 1, streams: [{ main: 'back1' }] },
    ],
  })
  hub = await startFakeHub()
}, 120_000)

afterAll(async () => {
  await Promise.all(wizards.map((w) => w.close()))
  await devices?.close()
  await sim?.close()
  hub?.server.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

async function start(hubUrl: string | undefined, h: FakeHub = hub) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vms-setup-cam-'))
  dirs.push(dataDir)
  if (hubUrl)
    writeCredentials(dataDir, {
      agentId: h.agentId,
      tenantId: h.tenantId,
      siteId: h.siteId,
      hubUrl,
      mqttUrl: 'mqtt://127.0.0.1:1',
      secret: 's'.repeat(43),
      caFingerprint: null,
      caCertificate: null,
    })
  const w = await SetupWizard.start({
    dataDir,
    host: '127.0.0.1',
    port: 0,
    distDir,
    logger,
    pin: PIN,
    recordingQuotaBytes: 500e9,
  })
  wizards.push(w)
  const base = w.url.replace(/\/$/, '')
  let cookie = ''
  const call = async (method: string, p: string, b?: unknown, extra: Record<string, string> = {}) => {
    const res = await fetch(`${base}${p}`, {
      method,
      headers: {
        ...(method === 'GET' ? {} : { 'content-type': 'application/json', [CSRF_HEADER]: '1' }),
        ...(cookie ? { cookie } : {}),
        ...extra,
      },
      ...(b === undefined ? {} : { body: JSON.stringify(b) }),
    })
    const setCookie = res.headers.get('set-cookie')
    if (setCookie) cookie = setCookie.split(';')[0] ?? ''
    const buf = Buffer.from(await res.arrayBuffer())
    let json: any
    try {
      json = JSON.parse(buf.toString())
    } catch {}
    return { status: res.status, headers: res.headers, buf, text: buf.toString(), json }
  }
  expect((await call('POST', '/api/setup/unlock', { pin: PIN })).status).toBe(204)
  return { w, call }
}

describe('setup wizard: cameras, recording, summary', () => {
  it('discovers, probes and previews locally with no hub at all (before enrolling)', async () => {
    const { call } = await start(undefined)
    const found = await call('POST', '/api/setup/discover', {
      targets: [devices.discoveryTarget as string],
      timeoutMs: 1500,
    })
    expect(found.status).toBe(200)
    expect(found.json.devices.map((d: { address: string }) => d.address)).toContain('127.0.0.1')
    const onvifUrl = devices.get(CAM.name).url

    // Wrong password: a 422 that says so; the password never comes back.
    const wrong = await call('POST', '/api/setup/probe', {
      address: onvifUrl,
      username: 'admin',
      password: 'nope-123',
    })
    expect(wrong.status).toBe(422)
    expect(wrong.json.error.message).toMatch(/username or password is wrong/)
    const probe = await call('POST', '/api/setup/probe', {
      address: onvifUrl,
      username: CAM.username,
      password: CAM.password,
    })
    expect(probe.status).toBe(200)
    expect(probe.json.device.protocol).toBe('onvif')
    const streams = probe.json.channels[0].streams as { role: string; url: string }[]
    expect(streams.map((s) => s.role)).toEqual(['main', 'sub'])
    expect(probe.text).not.toContain(CAM.password)

    // The ISAPI NVR's vendor path plays the simulator's stream.
    const nvr = await call('POST', '/api/setup/probe', {
      address: new URL(devices.get(NVR.name).url).host,
      username: NVR.username,
      password: NVR.password,
    })
    expect(nvr.status).toBe(200)
    expect(nvr.json.device.protocol).toBe('isapi')

    const main = streams.find((s) => s.role === 'main')?.url as string
    const preview = await call('POST', '/api/setup/preview', {
      url: main,
      username: CAM.username,
      password: CAM.password,
    })
    expect(preview.status).toBe(200)
    expect(preview.json).toMatchObject({ codec: 'h264', width: 640, height: 360 })
    expect(preview.json.seconds).toBeLessThanOrEqual(3)
    expect(preview.json.frames).toBeGreaterThan(10)
    if (ffmpeg)
      expect(Buffer.from(preview.json.still, 'base64').subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]))
    expect(preview.json.video).toMatch(/^\/api\/setup\/preview\.mp4\?n=\d+$/)
    expect(preview.text).not.toContain(CAM.password)
    const video = await call('GET', preview.json.video)
    expect(video.status).toBe(200)
    expect(video.headers.get('content-type')).toBe('video/mp4')
    expect(video.buf.length).toBeLessThan(4 * 1024 * 1024)
    expect(video.buf.subarray(4, 8).toString()).toBe('ftyp')
    expect(video.buf.includes(Buffer.from('moof'))).toBe(true)
    const part = await call('GET', preview.json.video, undefined, { range: 'bytes=0-99' })
    expect(part.status).toBe(206)
    expect(part.buf.length).toBe(100)
    expect(part.headers.get('content-range')).toBe(`bytes 0-99/${video.buf.length}`)

    // Adding needs the hub and a signed-in installer.
    const add = await call('POST', '/api/setup/cameras', {
      cameras: [
        {
          name: 'Door',
          protocol: 'onvif',
          address: onvifUrl,
          channel: 'main',
          username: 'a',
          password: 'b',
          streams: [{ role: 'main', url: main }],
        },
      ],
    })
    expect(add.status).toBe(409)
    expect(add.json.error.code).toBe('NOT_ENROLLED')
    expect(logLines.join('\n')).not.toContain(CAM.password)
  }, 60_000)

  it('refuses bad input with a 4xx: public or oversized targets, bad addresses, URLs with credentials', async () => {
    const { call } = await start(undefined)
    const bad: [string, unknown][] = [
      ['/api/setup/discover', { targets: ['8.8.8.8'] }],
      ['/api/setup/discover', { targets: ['10.0.0.0/16'] }],
      ['/api/setup/discover', { targets: ['x'.repeat(65)] }],
      ['/api/setup/discover', { timeoutMs: 3_600_000 }],
      ['/api/setup/discover', { methods: ['scan'] }],
      ['/api/setup/probe', { address: 'http://u:p@10.0.0.5/', username: 'a', password: 'b' }],
      ['/api/setup/probe', { address: '10.0.0.5 /x', username: 'a', password: 'b' }],
      ['/api/setup/probe', { address: '10.0.0.5', username: 'a', password: 'p'.repeat(2000) }],
      ['/api/setup/preview', { url: 'rtsp://u:p@10.0.0.5/x', username: '', password: '' }],
      ['/api/setup/preview', { url: 'http://10.0.0.5/x', username: '', password: '' }],
      ['/api/setup/preview', { url: 'rtsp://10.0.0.5/x' }],
      // Only the site's own network: never a public address (this machine is no proxy).
      ['/api/setup/preview', { url: 'rtsp://8.8.8.8/x', username: '', password: '' }],
      ['/api/setup/preview', { url: 'rtsp://[2001:db8::1]/x', username: '', password: '' }],
      ['/api/setup/recording', { retentionDays: 0, analytics: true }],
      ['/api/setup/cameras', { cameras: [] }],
    ]
    for (const [p, b] of bad) {
      const res = await call('POST', p, b)
      expect(res.status, `${p} ${JSON.stringify(b)}`).toBe(400)
      expect(res.text).not.toContain('u:p@')
    }
    const refused = await call('POST', '/api/setup/preview', {
      url: `rtsp://127.0.0.1:${await freePort()}/x`,
      username: '',
      password: '',
    })
    expect(refused.status).toBe(502)
    expect(refused.json.error.code).toBe('STREAM_UNAVAILABLE')
    expect((await call('GET', '/api/setup/preview.mp4')).status).toBe(404)
    expect((await call('GET', '/api/setup/summary')).status).toBe(409)
  }, 30_000)

  it('adds cameras through the hub as the installer, applies retention and analytics, and sums up', async () => {
    const { call } = await start(hub.url)
    const before = await call('GET', '/api/setup/status')
    const state = (s: any) =>
      Object.fromEntries(s.steps.map((x: { id: string; state: string }) => [x.id, x.state]))
    expect(state(before.json)).toMatchObject({ cameras: 'waiting', recording: 'waiting', finish: 'waiting' })
    expect(
      (await call('POST', '/api/setup/login', { tenant: 'system', username: 'ivy', password: 'pw' })).status,
    ).toBe(200)
    const onvifUrl = devices.get(CAM.name).url
    const main = devices.get(CAM.name).rtspUrl(1) as string
    const camera = (name: string) => ({
      name,
      protocol: 'onvif',
      address: onvifUrl,
      channel: 'main',
      username: CAM.username,
      password: CAM.password,
      streams: [{ role: 'main', url: main }],
    })
    const add = await call('POST', '/api/setup/cameras', { cameras: [camera('Door'), camera('Taken')] })
    expect(add.status).toBe(200)
    expect(add.json.results).toMatchObject([
      { row: 1, name: 'Door', status: 'created' },
      { row: 2, name: 'Taken', status: 'error', error: 'name taken' },
    ])
    expect(add.text).not.toContain(CAM.password)
    expect(hub.bulk[0]).toMatchObject({
      cameras: [
        {
          name: 'Door',
          siteId: hub.siteId,
          agentId: hub.agentId,
          device: {
            protocol: 'onvif',
            address: onvifUrl,
            channel: 'main',
            username: 'admin',
            password: CAM.password,
          },
          streams: [{ role: 'main', url: main, username: 'admin', password: CAM.password }],
          recording: { enabled: true, retentionDays: 30 },
        },
        { name: 'Taken' },
      ],
    })
    expect(state(add.json.status)).toMatchObject({ cameras: 'done', recording: 'current' })
    expect(add.json.status.recording.quotaBytes).toBe(500e9)

    const rec = await call('POST', '/api/setup/recording', { retentionDays: 14, analytics: false })
    expect(rec.status).toBe(200)
    const id = add.json.results[0].cameraId
    expect(hub.patches).toEqual([
      { id, body: { recording: { enabled: true, retentionDays: 14 }, analytics: { enabled: false } } },
    ])
    expect(state(rec.json.status)).toMatchObject({ recording: 'done', finish: 'current' })

    const sum = await call('GET', '/api/setup/summary')
    expect(sum.status).toBe(200)
    expect(sum.json).toMatchObject({
      agentOnline: true,
      cameras: [{ id, name: 'Door', streaming: true, recording: true, bitrateBps: 2_000_000 }],
      disk: { freeBytes: 900e9, recordingBytes: 100e9 },
    })
    // min(900 GB free + 100 GB used, 500 GB quota) at 2 Mbit/s
    expect(sum.json.retentionEstimateDays).toBeCloseTo(500e9 / 250_000 / 86_400, 1)
    expect(Math.abs(sum.json.clockDriftMs)).toBeLessThan(2000)
    expect(sum.json.uplink.roundTripMs).toBeGreaterThanOrEqual(0)
    // The upload speed: the probe's bytes reached the hub whole (how fast is the machine's business).
    expect(sum.json.uplink.uploadKbps).toBeGreaterThan(0)

    // A quota set in step 4 is what the summary's estimate uses from then on.
    const quota = await call('POST', '/api/setup/quota', { quotaBytes: 100e9 })
    expect(quota.status).toBe(200)
    const after = await call('GET', '/api/setup/summary')
    expect(after.json.disk.quotaBytes).toBe(100e9)
    expect(after.json.retentionEstimateDays).toBeCloseTo(100e9 / 250_000 / 86_400, 1)
    expect(logLines.join('\n')).not.toContain(CAM.password)
  }, 30_000)

  it('previews H.265 as a still only, asks for the stream password, and plays one preview at a time', async () => {
    const { call } = await start(undefined)
    const base = `rtsp://${sim.host}:${sim.port}`
    const hevc = await call('POST', '/api/setup/preview', { url: `${base}/hevc`, username: '', password: '' })
    expect(hevc.status).toBe(200)
    expect(hevc.json).toMatchObject({ codec: 'h265', video: null })
    expect(hevc.json.videoNote).toMatch(/H\.265: browsers may not play it/)
    if (ffmpeg) expect(hevc.json.still).toBeTruthy()
    expect((await call('GET', '/api/setup/preview.mp4')).status).toBe(404)

    const wrong = await call('POST', '/api/setup/preview', {
      url: `${base}/locked`,
      username: 'viewer',
      password: 'nope',
    })
    expect(wrong.status).toBe(422)
    expect(wrong.json.error.code).toBe('DEVICE_AUTH')
    // One at a time: a first preview held open by a camera that accepts and never answers, a
    // second refused while it runs (waiting on the connection, not on a clock).
    const sockets: net.Socket[] = []
    const stalled = net.createServer((socket) => sockets.push(socket))
    await new Promise<void>((r) => stalled.listen(0, '127.0.0.1', r))
    const port = (stalled.address() as net.AddressInfo).port
    try {
      const first = call('POST', '/api/setup/preview', {
        url: `rtsp://127.0.0.1:${port}/stalled`,
        username: 'viewer',
        password: 'Rtsp-Pw-3310',
      })
      while (sockets.length === 0) await new Promise((r) => setImmediate(r))
      const b = await call('POST', '/api/setup/preview', { url: `${base}/door`, username: '', password: '' })
      expect(b.status).toBe(409)
      expect(b.json.error.code).toBe('PREVIEW_BUSY')
      // The stalled camera hangs up: the first preview ends with a readable failure, not a 500.
      for (const socket of sockets) socket.destroy()
      const a = await first
      expect(a.status).toBeGreaterThanOrEqual(400)
      expect(a.status).toBeLessThan(600)
      expect(a.status).not.toBe(500)
    } finally {
      stalled.close()
    }
    // And the next one runs.
    const c = await call('POST', '/api/setup/preview', {
      url: `${base}/locked`,
      username: 'viewer',
      password: 'Rtsp-Pw-3310',
    })
    expect(c.status).toBe(200)
    expect(logLines.join('\n')).not.toContain('Rtsp-Pw-3310')
  }, 30_000)

  it('says the hub cannot be reached when it goes away after sign-in (502, not 500)', async () => {
    const gone = await startFakeHub()
    const { call } = await start(gone.url, gone)
    expect(
      (await call('POST', '/api/setup/login', { tenant: 'system', username: 'ivy', password: 'pw' })).status,
    ).toBe(200)
    await new Promise<void>((r) => {
      gone.server.close(() => r())
      gone.server.closeAllConnections()
    })
    const add = await call('POST', '/api/setup/cameras', {
      cameras: [
        {
          name: 'Door',
          protocol: 'onvif',
          address: '10.0.0.5',
          channel: '',
          username: 'admin',
          password: CAM.password,
          streams: [{ role: 'main', url: 'rtsp://10.0.0.5/main' }],
        },
      ],
    })
    expect(add.status).toBe(502)
    expect(add.json.error.code).toBe('HUB_UNREACHABLE')
    expect(add.text).not.toContain(CAM.password)
    expect((await call('GET', '/api/setup/summary')).status).toBe(502)
  }, 30_000)

  it('estimates retention from free and used space, the quota and the bitrates', () => {
    expect(
      retentionEstimateDays({ freeBytes: 0, recordingBytes: 0, quotaBytes: null, bitratesBps: [] }),
    ).toBeNull()
    expect(
      retentionEstimateDays({
        freeBytes: 86_400e6,
        recordingBytes: 0,
        quotaBytes: null,
        bitratesBps: [4e6, 4e6],
      }),
    ).toBe(1)
  })
})

describe("setup wizard: the preview reaches the site's own network only", () => {
  const resolving =
    (answers: Record<string, { address: string; family: number }[]>) => async (host: string) => {
      const found = answers[host]
      if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' })
      return found
    }
  it('keeps private, loopback and link-local addresses, and pins a name to the address it resolved to', async () => {
    const lookup = resolving({
      'cam.shop.lan': [{ address: '192.168.1.20', family: 4 }],
      'mixed.example': [
        { address: '10.0.0.9', family: 4 },
        { address: '93.184.216.34', family: 4 },
      ],
      'v6.lan': [{ address: 'fd00::20', family: 6 }],
    })
    expect(await siteStreamUrl('rtsp://10.1.2.3:554/live', lookup)).toBe('rtsp://10.1.2.3:554/live')
    expect(await siteStreamUrl('rtsp://169.254.7.7/x', lookup)).toBe('rtsp://169.254.7.7/x')
    expect(await siteStreamUrl('rtsp://cam.shop.lan:8554/a?b=1', lookup)).toBe(
      'rtsp://192.168.1.20:8554/a?b=1',
    )
    expect(await siteStreamUrl('rtsp://v6.lan/x', lookup)).toBe('rtsp://[fd00::20]/x')
    for (const url of ['rtsp://8.8.8.8/x', 'rtsp://mixed.example/x', 'rtsp://[2001:db8::1]/x'])
      await expect(siteStreamUrl(url, lookup)).rejects.toMatchObject({
        status: 400,
        code: 'NOT_SITE_ADDRESS',
      })
    await expect(siteStreamUrl('rtsp://nowhere.lan/x', lookup)).rejects.toMatchObject({
      status: 422,
      code: 'DEVICE_UNREACHABLE',
    })
  })
})
