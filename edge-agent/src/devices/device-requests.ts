import { createHash } from 'node:crypto'
import {
  type AgentCamera,
  CAMERA_SNAPSHOT_MAX_BASE64,
  type CameraSnapshotResult,
  cameraSnapshotResult,
  type DeviceDiscoverResult,
  type DiscoveredDeviceInfo,
  type DownRequest,
  deviceDiscoverResult,
  devicePasswordContext,
  deviceProbeResult,
  PTZ_UNSUPPORTED,
  probePasswordContext,
  ptzPresetsResult,
  ptzResult,
  SecretBox,
  type UpResponse,
} from '@ts-vms/shared'
import type { Logger } from 'pino'
import sharp from 'sharp'
import { answerRequest, type ErrorAnswer } from '../link/answer-request.ts'
import { CameraDevice } from './camera-device.ts'
import { DeviceError, deviceText, errorText, normalizeMac, probeDevice } from './device-probe.ts'
import { type DiscoveredDevice, type DiscoverOptions, discoverDetailed } from './discovery/discover.ts'
import { DiscoveryTargetError } from './discovery/targets.ts'

/**
 * The agent's side of the device requests: `device.discover`, `device.probe`, `camera.snapshot`,
 * `camera.ptz`, `camera.ptz.presets`. Each goes through answerRequest (deadline, error mapping);
 * every answer is checked against the shared result schema before it is sent — a device's odd
 * answer becomes a 502 with a message, never a crash and never an answer the hub rejects.
 * Passwords are opened here (the agent's configuration key) and never logged.
 */
type DeviceOp =
  | 'device.discover'
  | 'device.probe'
  | 'device.snapshot'
  | 'camera.snapshot'
  | 'camera.ptz'
  | 'camera.ptz.presets'
export type DeviceDownRequest = Extract<DownRequest, { op: DeviceOp }>

export const DEVICE_OPS: readonly DeviceOp[] = [
  'device.discover',
  'device.probe',
  'device.snapshot',
  'camera.snapshot',
  'camera.ptz',
  'camera.ptz.presets',
]
export const isDeviceRequest = (r: DownRequest): r is DeviceDownRequest =>
  (DEVICE_OPS as readonly string[]).includes(r.op)

export interface DeviceRequestsOptions {
  logger: Logger
  respond: (response: Omit<UpResponse, 'v'>) => Promise<void>
  /** The agent's configuration key (base64): opens the device and probe passwords. */
  configKey: string | undefined
  /** The camera as configured on this agent. */
  camera: (id: string) => AgentCamera | undefined
  /**
   * A still of the camera's stream, decoded (StreamProbe.stillJpeg): the snapshot when the camera
   * has no device picture or its device fails. Throws with `status`/`code` when it cannot.
   */
  streamStill?: (cameraId: string, o: { maxWidth: number; deadline: number }) => Promise<Buffer>
  /** Test hooks. */
  discover?: (o: DiscoverOptions) => ReturnType<typeof discoverDetailed>
  /** Per device request, ms (default 8 s). */
  deviceTimeoutMs?: number
}

/** Time kept back from the hub's deadline for the answer to travel. */
const DEADLINE_MARGIN_MS = 1000
/** The widest snapshot sent when the device's own does not fit as it is. */
export const SNAPSHOT_MAX_WIDTH = 1280
/** Re-encodings tried, in order, until the base64 fits one message. */
const SNAPSHOT_STEPS: readonly { width: number; quality: number }[] = [
  { width: 1280, quality: 80 },
  { width: 1280, quality: 60 },
  { width: 960, quality: 60 },
  { width: 640, quality: 60 },
  { width: 480, quality: 50 },
]

const base64Length = (bytes: number) => Math.ceil(bytes / 3) * 4

/**
 * A JPEG as `camera.snapshot` sends it: as it is when it fits in CAMERA_SNAPSHOT_MAX_BASE64 (it
 * must start like a JPEG; its size is given when sharp can read it — some cameras' stills carry
 * markers sharp refuses while browsers show them), else scaled to at most 1280 pixels wide (then
 * smaller, at lower quality) until it fits, which needs a JPEG sharp decodes.
 */
export async function fitSnapshot(jpeg: Buffer): Promise<{ jpeg: Buffer; width?: number; height?: number }> {
  if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) throw new Error('the picture is not a JPEG')
  const meta = await sharp(jpeg)
    .metadata()
    .catch(() => undefined)
  const readable = meta?.format === 'jpeg' && meta.width && meta.height ? meta : undefined
  if (base64Length(jpeg.length) <= CAMERA_SNAPSHOT_MAX_BASE64)
    return readable ? { jpeg, width: readable.width, height: readable.height } : { jpeg }
  if (!readable) throw new Error('the picture is too large to send and does not decode to be scaled down')
  for (const step of SNAPSHOT_STEPS) {
    const { data, info } = await sharp(jpeg)
      .rotate() // EXIF orientation applied: the metadata is dropped with the re-encoding
      .resize({ width: step.width, withoutEnlargement: true })
      .jpeg({ quality: step.quality, mozjpeg: false })
      .toBuffer({ resolveWithObject: true })
    if (base64Length(data.length) <= CAMERA_SNAPSHOT_MAX_BASE64)
      return { jpeg: data, width: info.width, height: info.height }
  }
  throw new Error('the picture does not fit in one message even scaled down')
}

/** Discovery's entry as the wire describes it: nulls for what is unknown, every list bounded. */
export function toDiscoveredDevice(d: DiscoveredDevice): DiscoveredDeviceInfo | undefined {
  if (!d.address || d.address.length > 64) return undefined
  const port = Number.isInteger(d.port) && d.port >= 1 && d.port <= 65535 ? d.port : 80
  const protocols = [...new Set(d.protocols)].filter((p) =>
    ['onvif', 'isapi', 'dahua', 'rtsp', 'http'].includes(p),
  )
  const openPorts = [...new Set(d.openPorts)]
    .filter((p) => Number.isInteger(p) && p >= 1 && p <= 65535)
    .slice(0, 16)
  const onvifUrl = d.onvifUrl && d.onvifUrl.length <= 512 ? d.onvifUrl : null
  return {
    address: d.address,
    port,
    manufacturer: deviceText(d.manufacturer),
    model: deviceText(d.model),
    firmware: deviceText(d.firmware),
    serial: deviceText(d.serial),
    mac: normalizeMac(d.mac),
    name: deviceText(d.name),
    protocols: protocols.slice(0, 5),
    onvifUrl,
    ...(openPorts.length > 0 ? { openPorts } : {}),
    hardware: deviceText(d.hardware),
    location: deviceText(d.location),
  }
}

/** A failure with an HTTP-like status and code (ProbeError, StreamUnavailable…) as an answer. */
function statusError(err: unknown): ErrorAnswer | undefined {
  if (err instanceof DeviceError) return { status: err.status, code: err.code, message: err.message }
  if (err instanceof DiscoveryTargetError)
    return { status: 400, code: 'discovery_invalid', message: err.message }
  const e = err as { status?: unknown; code?: unknown; message?: unknown }
  if (err instanceof Error && typeof e.status === 'number' && typeof e.code === 'string')
    return { status: e.status, code: e.code, message: err.message }
  return undefined
}

/** The answer checked against its schema: an answer the hub would reject is our 502, said plainly. */
function checked<T>(
  schema: {
    safeParse(v: unknown): { success: true; data: T } | { success: false; error: { message: string } }
  },
  value: unknown,
  what: string,
): T {
  const r = schema.safeParse(value)
  if (!r.success)
    throw new DeviceError(
      502,
      'device_answer_invalid',
      `the device's ${what} could not be described: ${r.error.message.slice(0, 300)}`,
    )
  return r.data
}

interface CachedDevice {
  fingerprint: string
  device: CameraDevice
}

export class DeviceRequests {
  private readonly box: SecretBox | undefined
  private readonly devices = new Map<string, CachedDevice>()

  constructor(private readonly o: DeviceRequestsOptions) {
    this.box = o.configKey ? new SecretBox(Buffer.from(o.configKey, 'base64')) : undefined
  }

  handle(request: DeviceDownRequest): Promise<void> {
    return answerRequest(request, this.o, () => this.work(request), statusError)
  }

  private async work(r: DeviceDownRequest): Promise<Record<string, unknown>> {
    const deadline = Date.parse(r.deadline) - DEADLINE_MARGIN_MS
    switch (r.op) {
      case 'device.discover':
        return this.discover(r, deadline)
      case 'device.probe': {
        const password = r.passwordSealed
          ? this.open(r.passwordSealed, probePasswordContext(r.id), 'probe')
          : ''
        const result = await probeDevice({
          address: r.address,
          protocol: r.protocol,
          username: r.username ?? '',
          password,
          deadline: Math.min(deadline, Date.now() + 60_000),
        })
        this.o.logger.info(
          { address: r.address, protocol: result.device.protocol, channels: result.channels.length },
          'probed a device',
        )
        return checked(deviceProbeResult, result, 'description')
      }
      case 'device.snapshot':
        return this.previewSnapshot(r, deadline)
      case 'camera.snapshot':
        return this.snapshot(r.cameraId, deadline)
      case 'camera.ptz': {
        const device = this.device(r.cameraId)
        return checked(ptzResult, await device.ptz(r.command), 'PTZ answer')
      }
      case 'camera.ptz.presets': {
        const device = this.device(r.cameraId)
        return checked(ptzPresetsResult, await device.presets(), 'preset list')
      }
    }
  }

  private async discover(
    r: Extract<DeviceDownRequest, { op: 'device.discover' }>,
    deadline: number,
  ): Promise<DeviceDiscoverResult> {
    // The hub waits no longer than its deadline: the methods get what is left of it.
    const timeoutMs = Math.max(100, Math.min(r.timeoutMs, deadline - Date.now()))
    const run = this.o.discover ?? discoverDetailed
    const result = await run({ methods: r.methods, ...(r.targets ? { targets: r.targets } : {}), timeoutMs })
    const devices = result.devices
      .map(toDiscoveredDevice)
      .filter((d): d is DiscoveredDeviceInfo => d !== undefined)
      .slice(0, 2048)
    this.o.logger.info({ methods: r.methods, found: devices.length }, 'discovered devices')
    return checked(deviceDiscoverResult, { devices }, 'discovery list')
  }

  /**
   * A device channel's own picture before it is a camera ("Add cameras" preview): a controller made
   * for this one request, closed after. Its stream is not decoded here: nothing borrows a stream
   * the agent does not run yet, and a device without a snapshot says so.
   */
  private async previewSnapshot(
    r: Extract<DeviceDownRequest, { op: 'device.snapshot' }>,
    deadline: number,
  ): Promise<CameraSnapshotResult> {
    const password = r.passwordSealed ? this.open(r.passwordSealed, probePasswordContext(r.id), 'probe') : ''
    const device = new CameraDevice({
      cameraId: `preview:${r.id}`,
      device: {
        protocol: r.protocol,
        address: r.address,
        channel: r.channel,
        ...(r.username ? { username: r.username } : {}),
        events: false,
      },
      password,
      logger: this.o.logger,
      timeoutMs: Math.max(1000, Math.min(this.o.deviceTimeoutMs ?? 8000, deadline - Date.now())),
    })
    try {
      const jpeg = await withTimeout(
        device.snapshot(),
        Math.max(1000, deadline - Date.now()),
        'the device snapshot',
      )
      return checked(cameraSnapshotResult, answerOf(await fitSnapshot(jpeg), 'device'), 'snapshot')
    } finally {
      device.close()
    }
  }

  /**
   * The device's own picture when it has one, else (or when it fails) a keyframe of the stream
   * decoded; both fitted to one message.
   */
  private async snapshot(cameraId: string, deadline: number): Promise<CameraSnapshotResult> {
    const camera = this.o.camera(cameraId)
    if (!camera) throw new DeviceError(404, 'camera_unknown', 'this agent has no such camera')
    let deviceError: string | undefined
    if (camera.device && camera.device.protocol !== 'rtsp') {
      try {
        const device = this.device(cameraId)
        // At most half of what is left: the stream still needs its time when the device fails.
        const budget = Math.max(1000, (deadline - Date.now()) / 2)
        const fitted = await fitSnapshot(await withTimeout(device.snapshot(), budget, 'the device snapshot'))
        return checked(cameraSnapshotResult, answerOf(fitted, 'device'), 'snapshot')
      } catch (err) {
        deviceError = errorText(err)
        this.o.logger.warn(
          { camera: cameraId, err: deviceError },
          'device snapshot failed; decoding the stream',
        )
      }
    }
    if (!this.o.streamStill || camera.streams.length === 0)
      throw new DeviceError(
        deviceError ? 502 : 404,
        deviceError ? 'snapshot_failed' : 'snapshot_unavailable',
        deviceError
          ? `the device's snapshot failed (${deviceError}) and the camera has no stream to decode`
          : 'the camera has neither a device snapshot nor a stream',
      )
    try {
      const still = await this.o.streamStill(cameraId, { maxWidth: SNAPSHOT_MAX_WIDTH, deadline })
      const fitted = await fitSnapshot(still)
      return checked(cameraSnapshotResult, answerOf(fitted, 'stream'), 'snapshot')
    } catch (err) {
      if (!deviceError) throw err
      throw new DeviceError(
        502,
        'snapshot_failed',
        `no snapshot: the device's failed (${deviceError}), and the stream's too (${errorText(err)})`,
      )
    }
  }

  /**
   * The camera's device controller, kept while its configuration (and password) stay the same;
   * rebuilt when they change — the old one stops a move it has running.
   */
  private device(cameraId: string): CameraDevice {
    const camera = this.o.camera(cameraId)
    if (!camera) throw new DeviceError(404, 'camera_unknown', 'this agent has no such camera')
    const config = camera.device
    if (!config || config.protocol === 'rtsp') {
      this.drop(cameraId)
      throw new DeviceError(409, PTZ_UNSUPPORTED, 'the camera has no device to steer (a plain RTSP stream)')
    }
    const password = config.passwordSealed
      ? this.open(config.passwordSealed, devicePasswordContext(camera.id), 'camera')
      : undefined
    const fingerprint = createHash('sha256')
      .update(
        JSON.stringify([
          config.protocol,
          config.address,
          config.channel,
          config.username ?? '',
          password ?? '',
          config.allowPasswordText === true,
        ]),
      )
      .digest('hex')
    // Cameras removed from the configuration let go of their device (and stop a running move).
    for (const id of [...this.devices.keys()]) if (id !== cameraId && !this.o.camera(id)) this.drop(id)
    const cached = this.devices.get(cameraId)
    if (cached?.fingerprint === fingerprint) return cached.device
    cached?.device.close()
    const device = new CameraDevice({
      cameraId,
      device: config,
      password,
      logger: this.o.logger,
      ...(this.o.deviceTimeoutMs ? { timeoutMs: this.o.deviceTimeoutMs } : {}),
    })
    this.devices.set(cameraId, { fingerprint, device })
    return device
  }

  private drop(cameraId: string): void {
    this.devices.get(cameraId)?.device.close()
    this.devices.delete(cameraId)
  }

  /** Stops pending moves (the agent is stopping). */
  close(): void {
    for (const id of [...this.devices.keys()]) this.drop(id)
  }

  private open(sealed: string, context: string, what: 'probe' | 'camera'): string {
    if (!this.box)
      throw new DeviceError(
        503,
        'agent_key_missing',
        'this agent has no configuration key to open passwords: enroll it again',
      )
    try {
      return this.box.open(sealed, context).toString('utf8')
    } catch {
      throw new DeviceError(
        503,
        'camera_credentials',
        what === 'probe'
          ? 'the probe password does not open with this agent key (sealed for another agent or request)'
          : "the camera's device password does not open with this agent key: enroll the agent again",
      )
    }
  }
}

/** The work's result, or a timeout error after `ms` (the work itself runs on to its own timeout). */
function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${Math.round(ms / 1000)} s`)), ms)
  })
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer))
}

function answerOf(f: { jpeg: Buffer; width?: number; height?: number }, source: 'device' | 'stream') {
  const size = (n: number | undefined) => n !== undefined && Number.isInteger(n) && n >= 1 && n <= 16_384
  return {
    contentType: 'image/jpeg' as const,
    base64: f.jpeg.toString('base64'),
    source,
    ...(size(f.width) && size(f.height) ? { width: f.width, height: f.height } : {}),
  }
}
