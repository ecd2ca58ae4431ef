import { randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import {
  type AgentCamera,
  agentCamera,
  CAMERA_SNAPSHOT_MAX_BASE64,
  cameraSnapshotResult,
  type DownRequest,
  deviceDiscoverResult,
  deviceProbeResult,
  downRequest,
  type ProbeProtocol,
  probePasswordContext,
  type UpResponse,
} from '@ts-vms/shared'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { CameraSimulator } from '../../../scripts/camera-sim/simulator.ts'
import { CameraManager } from '../cameras/camera-manager.ts'
import { StreamProbe } from '../cameras/stream-probe.ts'
import { RecordingIndex } from '../recorder/recording-index.ts'
import {
  type DeviceDownRequest,
  DeviceRequests,
  fitSnapshot,
  isDeviceRequest,
  toDiscoveredDevice,
} from './device-requests.ts'
import { DiscoveryTargetError } from './discovery/targets.ts'
import { type TestIsapiDevice, TINY_JPEG } from './isapi/test-isapi-device.ts'
import {
  configBox as box,
  capturingLogger,
  CONFIG_KEY as configKey,
  dahuaDevice,
  deviceCamera,
  onCleanup,
  onvifDevice,
  silentLogger,
  isapiDevice as startIsapi,
  type TestCameraDevice,
  waitFor,
} from './test-fixtures.ts'

const PASSWORD = 'S3cret-device-pw'

/** A noisy picture: its JPEG is far over one message, so it must be scaled down. */
const bigJpeg = () =>
  sharp({
    create: {
      width: 2560,
      height: 1440,
      channels: 3,
      background: { r: 0, g: 0, b: 0 },
      noise: { type: 'gaussian', mean: 128, sigma: 80 },
    },
  })
    .jpeg({ quality: 95 })
    .toBuffer()
const smallJpeg = () =>
  sharp({ create: { width: 320, height: 180, channels: 3, background: { r: 10, g: 120, b: 200 } } })
    .jpeg()
    .toBuffer()

interface Harness {
  requests: DeviceRequests
  responses: Omit<UpResponse, 'v'>[]
  cameras: AgentCamera[]
  logged: () => string
  stills: string[]
}

function harness(
  o: { still?: (cameraId: string) => Promise<Buffer>; discover?: DeviceRequestsDiscover } = {},
): Harness {
  const responses: Omit<UpResponse, 'v'>[] = []
  const cameras: AgentCamera[] = []
  const stills: string[] = []
  const log = capturingLogger()
  const requests = new DeviceRequests({
    logger: log.logger,
    respond: async (r) => {
      responses.push(r)
    },
    configKey,
    camera: (id) => cameras.find((c) => c.id === id),
    streamStill: async (cameraId, opts) => {
      stills.push(`${cameraId}@${opts.maxWidth}`)
      if (!o.still)
        throw Object.assign(new Error('the camera has no main stream'), {
          status: 404,
          code: 'stream_unknown',
        })
      return o.still(cameraId)
    },
    ...(o.discover ? { discover: o.discover } : {}),
  })
  onCleanup(() => requests.close())
  return { requests, responses, cameras, logged: log.text, stills }
}
type DeviceRequestsDiscover = NonNullable<ConstructorParameters<typeof DeviceRequests>[0]['discover']>

/** A request as the hub sends it, parsed by the wire schema (defaults filled in). */
function request(body: Record<string, unknown>, deadlineMs = 20_000): DeviceDownRequest {
  const r = downRequest.parse({
    v: 1,
    id: randomUUID(),
    deadline: new Date(Date.now() + deadlineMs).toISOString(),
    ...body,
  })
  if (!isDeviceRequest(r)) throw new Error('not a device request')
  return r
}

function camera(device: TestCameraDevice | undefined, streams = true): AgentCamera {
  return deviceCamera(device && { username: 'admin', password: PASSWORD, ...device }, {
    name: 'Cam',
    streams: streams ? [{ role: 'main', url: 'rtsp://10.0.0.1/main' }] : [],
    recording: { enabled: false },
  })
}

/**
 * A `device.probe` of `d` as the hub sends it, `password` sealed for this request (or, to be
 * refused, for the request `sealFor`).
 */
function probeRequest(d: TestIsapiDevice, protocol: ProbeProtocol, password = PASSWORD, sealFor?: string) {
  const r = request({ op: 'device.probe', address: new URL(d.url).host, protocol, username: 'admin' })
  return {
    ...r,
    passwordSealed: box.seal(password, probePasswordContext(sealFor ?? r.id)),
  } as DeviceDownRequest
}

async function answer(h: Harness, r: DeviceDownRequest): Promise<Omit<UpResponse, 'v'>> {
  await h.requests.handle(r)
  const response = h.responses.find((x) => x.id === r.id)
  if (!response) throw new Error('no answer')
  return response
}
const ok = (x: Omit<UpResponse, 'v'>) => {
  if (!x.ok) throw new Error(`failed: ${JSON.stringify(x.error)}`)
  return x.result as Record<string, unknown>
}

const isapiDevice = (o: ConstructorParameters<typeof TestIsapiDevice>[0] = {}) =>
  startIsapi({ password: PASSWORD, ...o })

describe('device requests: pure parts', () => {
  it('fits a large JPEG into one message at most 1280 wide, and leaves a small one as it is', async () => {
    const big = await bigJpeg()
    expect(Math.ceil(big.length / 3) * 4).toBeGreaterThan(CAMERA_SNAPSHOT_MAX_BASE64)
    const fitted = await fitSnapshot(big)
    expect(fitted.width).toBeLessThanOrEqual(1280)
    expect(fitted.height).toBe(Math.round(((fitted.width ?? 0) * 1440) / 2560))
    expect(Math.ceil(fitted.jpeg.length / 3) * 4).toBeLessThanOrEqual(CAMERA_SNAPSHOT_MAX_BASE64)
    const small = await smallJpeg()
    expect((await fitSnapshot(small)).jpeg).toBe(small)
    // A small still sharp cannot read goes as it is (cameras' odd markers), without a size...
    const unreadable = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46, 0, 0xff, 0xd9])
    expect(await fitSnapshot(unreadable)).toEqual({ jpeg: unreadable })
    expect(await fitSnapshot(TINY_JPEG)).toEqual({ jpeg: TINY_JPEG, width: 64, height: 36 })
    // ...but it must look like a JPEG, and a large one must decode to be scaled.
    await expect(fitSnapshot(Buffer.from('<html>error</html>'))).rejects.toThrow(/not a JPEG/)
    const bogus = Buffer.concat([Buffer.from([0xff, 0xd8]), Buffer.alloc(300 * 1024, 7)])
    await expect(fitSnapshot(bogus)).rejects.toThrow(/does not decode/)
  })

  it('maps discovery entries to the wire shape: nulls, bounded lists, clean MACs', () => {
    const d = toDiscoveredDevice({
      address: '10.0.0.5',
      port: 0,
      manufacturer: 'Hik\u0000vision',
      mac: 'AA-BB-CC-DD-EE-FF',
      protocols: ['onvif', 'onvif', 'rtsp'],
      openPorts: Array.from({ length: 20 }, (_, i) => i + 1),
      onvifUrl: `http://10.0.0.5/${'x'.repeat(600)}`,
    })
    expect(d).toMatchObject({
      address: '10.0.0.5',
      port: 80,
      manufacturer: 'Hikvision',
      model: null,
      firmware: null,
      mac: 'aa:bb:cc:dd:ee:ff',
      protocols: ['onvif', 'rtsp'],
      onvifUrl: null,
    })
    expect(d?.openPorts).toHaveLength(16)
    expect(deviceDiscoverResult.parse({ devices: [d] })).toBeTruthy()
  })
})

describe('device requests: device.probe and device.discover', () => {
  it('probes with the password sealed for this request, and never logs it', async () => {
    const d = await isapiDevice({ ptzChannels: [1] })
    const h = harness()
    const result = deviceProbeResult.parse(ok(await answer(h, probeRequest(d, 'auto'))))
    expect(result.device.protocol).toBe('isapi')
    expect(result.channels[0]).toMatchObject({ channel: '1', ptz: true, snapshot: true })
    expect(h.logged()).toContain('probed a device')
    expect(h.logged()).not.toContain(PASSWORD)
  })

  it('answers DEVICE_AUTH (422) for a wrong password, and 503 for a password sealed for another request', async () => {
    const d = await isapiDevice()
    const h = harness()
    const wrong = probeRequest(d, 'isapi', 'nope')
    expect(await answer(h, wrong)).toMatchObject({ ok: false, error: { status: 422, code: 'DEVICE_AUTH' } })
    // The right password, but sealed for the other request.
    const moved = probeRequest(d, 'isapi', PASSWORD, wrong.id)
    expect(await answer(h, moved)).toMatchObject({
      ok: false,
      error: { status: 503, code: 'camera_credentials' },
    })
  })

  it('discovers: the result mapped and capped; a bad target is a 400', async () => {
    let asked: unknown
    const h = harness({
      discover: async (o) => {
        asked = o
        if (o.targets?.includes('8.8.8.8')) throw new DiscoveryTargetError('8.8.8.8 is a public address')
        return {
          devices: [
            {
              address: '10.0.0.7',
              port: 80,
              protocols: ['onvif'],
              openPorts: [],
              onvifUrl: 'http://10.0.0.7/onvif/device_service',
              name: 'Door',
            },
          ],
          stats: { elapsedMs: 1 },
        }
      },
    })
    const result = ok(
      await answer(
        h,
        request({ op: 'device.discover', methods: ['onvif'], targets: ['10.0.0.0/24'], timeoutMs: 3000 }),
      ),
    )
    expect(deviceDiscoverResult.parse(result).devices).toEqual([
      {
        address: '10.0.0.7',
        port: 80,
        manufacturer: null,
        model: null,
        firmware: null,
        serial: null,
        mac: null,
        name: 'Door',
        protocols: ['onvif'],
        onvifUrl: 'http://10.0.0.7/onvif/device_service',
        hardware: null,
        location: null,
      },
    ])
    expect(asked).toMatchObject({ methods: ['onvif'], targets: ['10.0.0.0/24'], timeoutMs: 3000 })
    const bad = await answer(
      h,
      request({ op: 'device.discover', methods: ['scan'], targets: ['8.8.8.8'], timeoutMs: 3000 }),
    )
    expect(bad).toMatchObject({ ok: false, error: { status: 400, code: 'discovery_invalid' } })
  })

  it('drops a request past its deadline unanswered', async () => {
    const h = harness()
    await h.requests.handle(request({ op: 'camera.snapshot', cameraId: randomUUID() }, -1000))
    expect(h.responses).toEqual([])
  })
})

describe('device requests: device.snapshot (the preview before adding)', () => {
  it("answers a channel's own picture with the password sealed for the request; DEVICE_AUTH when wrong", async () => {
    const d = await isapiDevice()
    const h = harness()
    const preview = (password: string) => {
      const r = request({
        op: 'device.snapshot',
        address: new URL(d.url).host,
        protocol: 'isapi',
        channel: '1',
        username: 'admin',
      })
      return { ...r, passwordSealed: box.seal(password, probePasswordContext(r.id)) } as DeviceDownRequest
    }
    const result = cameraSnapshotResult.parse(ok(await answer(h, preview(PASSWORD))))
    expect(result).toMatchObject({ source: 'device', width: 64, height: 36 })
    expect(Buffer.from(result.base64, 'base64')).toEqual(TINY_JPEG)
    expect(await answer(h, preview('nope'))).toMatchObject({
      ok: false,
      error: { status: 422, code: 'DEVICE_AUTH' },
    })
    expect(h.logged()).not.toContain(PASSWORD)
    // Nothing of the preview stays: no stream was borrowed, no camera cached.
    expect(h.stills).toEqual([])
  })
})

describe('device requests: camera.snapshot', () => {
  it("sends the device's picture scaled to fit (source: device)", async () => {
    const { url } = await onvifDevice({ password: PASSWORD, snapshotJpeg: await bigJpeg() })
    const h = harness()
    const cam = camera({ protocol: 'onvif', address: url })
    h.cameras.push(cam)
    const result = cameraSnapshotResult.parse(
      ok(await answer(h, request({ op: 'camera.snapshot', cameraId: cam.id }))),
    )
    expect(result.source).toBe('device')
    expect(result.width).toBeLessThanOrEqual(1280)
    const meta = await sharp(Buffer.from(result.base64, 'base64')).metadata()
    expect(meta).toMatchObject({ format: 'jpeg', width: result.width, height: result.height })
    expect(h.stills).toEqual([])
  })

  it('decodes the stream when the device fails, or when the camera has no device (source: stream)', async () => {
    const still = await smallJpeg()
    const h = harness({ still: async () => still })
    const broken = camera({ protocol: 'isapi', address: '127.0.0.1:1' })
    const plain = camera(undefined)
    const rtsp = camera({ protocol: 'rtsp', address: '10.0.0.1' })
    h.cameras.push(broken, plain, rtsp)
    for (const cam of [broken, plain, rtsp]) {
      const result = cameraSnapshotResult.parse(
        ok(await answer(h, request({ op: 'camera.snapshot', cameraId: cam.id }))),
      )
      expect(result).toMatchObject({ source: 'stream', width: 320, height: 180 })
      expect(Buffer.from(result.base64, 'base64')).toEqual(still)
    }
    expect(h.stills).toEqual([`${broken.id}@1280`, `${plain.id}@1280`, `${rtsp.id}@1280`])
  })

  it('answers 502 with both reasons when the device and the stream fail; 404 for an unknown camera', async () => {
    const d = await isapiDevice()
    d.answer('/ISAPI/Streaming/channels/101/picture', { contentType: 'image/jpeg', body: 'not a picture' })
    const h = harness()
    const cam = camera({ protocol: 'isapi', address: d.url })
    h.cameras.push(cam)
    const failed = await answer(h, request({ op: 'camera.snapshot', cameraId: cam.id }))
    expect(failed).toMatchObject({ ok: false, error: { status: 502, code: 'snapshot_failed' } })
    expect(failed.ok ? '' : failed.error?.message).toMatch(/not a JPEG.*no main stream/)
    expect(await answer(h, request({ op: 'camera.snapshot', cameraId: randomUUID() }))).toMatchObject({
      ok: false,
      error: { status: 404, code: 'camera_unknown' },
    })
    // No device and no stream: the stream's own answer.
    const bare = camera(undefined)
    h.cameras.push(bare)
    expect(await answer(h, request({ op: 'camera.snapshot', cameraId: bare.id }))).toMatchObject({
      ok: false,
      error: { status: 404, code: 'stream_unknown' },
    })
  })
})

describe('device requests: camera.ptz, end to end through handle()', () => {
  it('steers an ISAPI camera, lists presets, and stops a move by itself', async () => {
    const d = await isapiDevice({ ptzChannels: [1] })
    const h = harness()
    const cam = camera({ protocol: 'isapi', address: d.url, channel: '1' })
    h.cameras.push(cam)
    const ptz = (command: Record<string, unknown>) =>
      answer(h, request({ op: 'camera.ptz', cameraId: cam.id, command }))
    expect(ok(await ptz({ action: 'set', name: 'Gate' }))).toEqual({ preset: '1' })
    expect(ok(await answer(h, request({ op: 'camera.ptz.presets', cameraId: cam.id })))).toEqual({
      presets: [{ preset: '1', name: 'Gate' }],
    })
    // The wire default: a move without timeoutMs lasts PTZ_DEFAULT_MOVE_MS; here a short one.
    expect(ok(await ptz({ action: 'move', pan: 1, timeoutMs: 20 }))).toEqual({})
    const continuous = () => d.requests.filter((r) => r.url.endsWith('/continuous'))
    await waitFor(() => continuous().length >= 2, 'the move and its stop')
    expect(continuous().map((r) => /<pan>(-?\d+)<\/pan>/.exec(r.body)?.[1])).toEqual(['100', '0'])
    expect(h.logged()).not.toContain(PASSWORD)
  })

  it('answers 409 PTZ_UNSUPPORTED for a camera without a device, an RTSP one, a fixed camera', async () => {
    const fixed = await isapiDevice()
    const h = harness()
    const cams = [
      camera(undefined),
      camera({ protocol: 'rtsp', address: '10.0.0.1' }),
      camera({ protocol: 'isapi', address: fixed.url }),
    ]
    h.cameras.push(...cams)
    for (const cam of cams) {
      expect(
        await answer(h, request({ op: 'camera.ptz', cameraId: cam.id, command: { action: 'home' } })),
      ).toMatchObject({
        ok: false,
        error: { status: 409, code: 'PTZ_UNSUPPORTED' },
      })
    }
    expect(await answer(h, request({ op: 'camera.ptz.presets', cameraId: randomUUID() }))).toMatchObject({
      ok: false,
      error: { status: 404, code: 'camera_unknown' },
    })
  })

  it('rebuilds the client when the camera’s device changes', async () => {
    const first = await isapiDevice({ ptzChannels: [1] })
    const second = await dahuaDevice({ password: PASSWORD, ptz: true })
    const h = harness()
    const cam = camera({ protocol: 'isapi', address: first.url })
    h.cameras.push(cam)
    ok(await answer(h, request({ op: 'camera.ptz', cameraId: cam.id, command: { action: 'home' } })))
    expect(first.requests.at(-1)?.url).toBe('/ISAPI/PTZCtrl/channels/1/homeposition/goto')
    // The same camera, now bound to a Dahua device.
    h.cameras[0] = {
      ...cam,
      device: {
        ...(cam.device as NonNullable<AgentCamera['device']>),
        protocol: 'dahua',
        address: second.url,
      },
    }
    ok(
      await answer(
        h,
        request({ op: 'camera.ptz', cameraId: cam.id, command: { action: 'set', preset: '1' } }),
      ),
    )
    expect(second.requests.at(-1)?.url).toContain('code=SetPreset')
  })

  it('answers DEVICE_AUTH when the device refuses the camera’s password', async () => {
    const d = await isapiDevice({ password: 'other', ptzChannels: [1] })
    const h = harness()
    const cam = camera({ protocol: 'isapi', address: d.url })
    h.cameras.push(cam)
    const r: DownRequest = request({ op: 'camera.ptz', cameraId: cam.id, command: { action: 'stop' } })
    expect(await answer(h, r as DeviceDownRequest)).toMatchObject({
      ok: false,
      error: { status: 422, code: 'DEVICE_AUTH' },
    })
  })
})

describe.skipIf(!existsSync('/usr/bin/ffmpeg'))('device requests: a still decoded from a real stream', () => {
  it('camera.snapshot of a camera without a device: a keyframe of the simulator stream, via StreamProbe', async () => {
    const sim = await CameraSimulator.start({ streams: [{ name: 'door', codec: 'h264' }] })
    onCleanup(() => sim.close())
    const dir = mkdtempSync(path.join(tmpdir(), 'vms-device-requests-'))
    const index = new RecordingIndex(path.join(dir, 'index.db'))
    const logger = silentLogger
    const cameras = new CameraManager({
      index,
      recordingsDir: dir,
      configKey,
      segmentSeconds: 2,
      quotaBytes: undefined,
      minFreeBytes: 0,
      retentionIntervalSeconds: 3600,
      reconnectMaxMs: 1000,
      cameraTimeoutMs: 5000,
      logger,
      emit: () => {},
      liveStreams: 'on-demand',
      onDemandLingerMs: 50,
    })
    onCleanup(async () => {
      await cameras.stop()
      index.close()
      rmSync(dir, { recursive: true, force: true })
    })
    const cam = agentCamera.parse({
      id: randomUUID(),
      name: 'Door',
      streams: [{ role: 'main', url: sim.url('door') }],
      recording: { enabled: false },
    })
    await cameras.apply([cam])
    const probe = new StreamProbe({ cameras, logger, respond: async () => {}, ffmpeg: '/usr/bin/ffmpeg' })
    const responses: Omit<UpResponse, 'v'>[] = []
    const requests = new DeviceRequests({
      logger,
      respond: async (r) => {
        responses.push(r)
      },
      configKey,
      camera: (id) => (id === cam.id ? cam : undefined),
      streamStill: (cameraId, o) => probe.stillJpeg(cameraId, { ...o, role: 'main' }),
    })
    const r = request({ op: 'camera.snapshot', cameraId: cam.id }, 30_000)
    await requests.handle(r)
    const result = cameraSnapshotResult.parse(ok(responses[0] as Omit<UpResponse, 'v'>))
    expect(result.source).toBe('stream')
    const meta = await sharp(Buffer.from(result.base64, 'base64')).metadata()
    expect(meta.format).toBe('jpeg')
    expect(meta.width).toBeLessThanOrEqual(1280)
    expect(meta.width).toBe(result.width)
    // The stream was borrowed on demand and given back.
    await waitFor(() => cameras.onDemandStreams.length === 0, 'the stream given back', 10_000)
  }, 60_000)
})
