import {
  type AgentCameraDevice,
  cleanText,
  DEVICE_AUTH,
  DEVICE_UNREACHABLE,
  PTZ_UNSUPPORTED,
  type PtzCommand,
  type PtzPresetsResult,
  type PtzResult,
} from '@ts-vms/shared'
import type { Logger } from 'pino'
import { DahuaClient, type DahuaPtzCode } from './dahua/dahua-client.ts'
import { DeviceError, errorText, failureKind, isDeviceToken, parseProbeAddress } from './device-probe.ts'
import { DeviceHttpError, deviceRequest } from './http/device-http.ts'
import { IsapiClient } from './isapi/isapi-client.ts'
import { OnvifClient, rewriteXAddr } from './onvif/onvif-client.ts'
import { OnvifError } from './onvif/soap.ts'

/**
 * One camera's device, for `camera.snapshot`, `camera.ptz` and `camera.ptz.presets`: the
 * protocol client built from the camera's `device` (and its opened password), kept while that
 * configuration holds (an ONVIF connect costs several round trips).
 *
 * A `move` is a continuous move plus an agent-side timer that sends Stop after `timeoutMs`
 * (ONVIF also gets the Timeout in the request): a lost stop — the operator's browser closed, the
 * hub restarted, a dropped message — can never leave a camera turning. A new move or a stop
 * replaces the timer. PTZ commands to one device run one at a time, in order, so a stop never
 * overtakes the move it ends.
 */
export interface CameraDeviceOptions {
  cameraId: string
  device: AgentCameraDevice
  password: string | undefined
  logger: Logger
  /** Per device request, ms (default 8 s). */
  timeoutMs?: number
}

/** The code of a snapshot asked of a camera without a device API (the caller decodes the stream). */
export const NO_DEVICE_SNAPSHOT = 'no_device_snapshot'

/** Hikvision's special-function presets (auto flip, patrols, day/night…): never picked for a new one. */
const ISAPI_RESERVED_PRESETS = new Set([33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44])
const MAX_NEW_PRESET = 255

/** The lowest preset number in 1..255 not used (nor reserved). */
export function freePreset(used: readonly number[], reserved: ReadonlySet<number> = new Set()): number {
  const taken = new Set(used)
  for (let n = 1; n <= MAX_NEW_PRESET; n++) if (!taken.has(n) && !reserved.has(n)) return n
  throw new DeviceError(409, 'ptz_presets_full', 'the device has no free preset number left')
}

/** A preset number (ISAPI, Dahua), or a 400 when the id is not one. */
export function presetNumber(id: string): number {
  const n = Number(id)
  if (!/^\d{1,4}$/.test(id) || n < 1 || n > 9999)
    throw new DeviceError(400, 'preset_invalid', `preset ${JSON.stringify(id)} is not a preset number`)
  return n
}

/** Dahua speed 1..8 from a velocity's magnitude. */
export const dahuaSpeed = (v: number) => Math.max(1, Math.min(8, Math.round(Math.abs(v) * 8)))

/** Below this a velocity is taken as 0 (a joystick's rest position is never exactly 0). */
const DEAD_ZONE = 0.05

/**
 * Dahua's ptz.cgi has no vector move: a pan/tilt direction code (8 directions, `arg1` the
 * vertical and `arg2` the horizontal speed for diagonals, `arg2` the speed otherwise) and a
 * separate zoom code. Pure: the commands to start.
 */
export function dahuaMoveCodes(
  pan: number,
  tilt: number,
  zoom: number,
): { code: DahuaPtzCode; arg1: number; arg2: number }[] {
  const out: { code: DahuaPtzCode; arg1: number; arg2: number }[] = []
  const p = Math.abs(pan) < DEAD_ZONE ? 0 : Math.sign(pan)
  const t = Math.abs(tilt) < DEAD_ZONE ? 0 : Math.sign(tilt)
  if (p !== 0 && t !== 0) {
    const code = `${p < 0 ? 'Left' : 'Right'}${t > 0 ? 'Up' : 'Down'}` as DahuaPtzCode
    out.push({ code, arg1: dahuaSpeed(tilt), arg2: dahuaSpeed(pan) })
  } else if (p !== 0) out.push({ code: p < 0 ? 'Left' : 'Right', arg1: 0, arg2: dahuaSpeed(pan) })
  else if (t !== 0) out.push({ code: t > 0 ? 'Up' : 'Down', arg1: 0, arg2: dahuaSpeed(tilt) })
  if (Math.abs(zoom) >= DEAD_ZONE)
    out.push({ code: zoom > 0 ? 'ZoomTele' : 'ZoomWide', arg1: 0, arg2: dahuaSpeed(zoom) })
  return out
}

/**
 * A device failure as an answer: wrong credentials and no answer are the installer's to fix
 * (422, the shared codes); a device that refuses the operation as unsupported is 409
 * PTZ_UNSUPPORTED (for PTZ); anything else the device did wrong is 502 with what it said.
 */
export function deviceFailure(err: unknown, what: string, ptz: boolean): DeviceError {
  if (err instanceof DeviceError) return err
  if (ptz && err instanceof OnvifError && err.code === 'not_supported')
    return new DeviceError(409, PTZ_UNSUPPORTED, `the camera cannot do that: ${errorText(err)}`)
  if (
    err instanceof OnvifError &&
    err.code === 'fault' &&
    err.fault?.subcodes.some((s) => s === 'NoToken' || s === 'NoEntity')
  )
    return new DeviceError(404, 'preset_unknown', `the device has no such preset (${errorText(err)})`)
  const kind = failureKind(err)
  if (kind === 'auth')
    return new DeviceError(
      422,
      DEVICE_AUTH,
      `the camera's device refused its credentials (${errorText(err)})`,
    )
  if (kind === 'unreachable')
    return new DeviceError(422, DEVICE_UNREACHABLE, `the camera's device did not answer (${errorText(err)})`)
  return new DeviceError(502, 'device_failed', `the camera's device failed to ${what}: ${errorText(err)}`)
}

type Backend =
  | { kind: 'onvif'; client: OnvifClient }
  | { kind: 'isapi'; client: IsapiClient; channel: number }
  | { kind: 'dahua'; client: DahuaClient; channel: number }
  | { kind: 'none'; why: string }

export class CameraDevice {
  private readonly backend: Backend
  private connected: Promise<void> | undefined
  /** The ONVIF profile PTZ uses when the channel names none (resolved once). */
  private profile: Promise<string> | undefined
  private snapshotUrl: string | undefined
  private stopTimer: NodeJS.Timeout | undefined
  /** Dahua: the codes the last move started (its stop names them). */
  private dahuaMoving: DahuaPtzCode[] = []
  private ptzQueue: Promise<unknown> = Promise.resolve()
  private isapiPtz: Promise<number[]> | undefined
  private dahuaPtz: Promise<boolean> | undefined
  private closed = false

  constructor(private readonly o: CameraDeviceOptions) {
    this.backend = this.build()
  }

  private build(): Backend {
    const d = this.o.device
    const common = {
      username: d.username ?? '',
      password: this.o.password ?? '',
      timeoutMs: this.o.timeoutMs ?? 8000,
    }
    if (d.protocol === 'rtsp')
      return { kind: 'none', why: 'the camera has no device API (a plain RTSP stream)' }
    const target = parseProbeAddress(d.address)
    if (d.protocol === 'onvif')
      return {
        kind: 'onvif',
        client: new OnvifClient({
          url: target.onvifUrl,
          ...common,
          allowPasswordText: d.allowPasswordText === true,
        }),
      }
    const channel = d.channel === '' ? 1 : Number(d.channel)
    if (!Number.isInteger(channel) || channel < 1 || channel > 9999)
      return { kind: 'none', why: `the device channel ${JSON.stringify(d.channel)} is not a channel number` }
    if (d.protocol === 'isapi')
      return { kind: 'isapi', client: new IsapiClient({ baseUrl: target.baseUrl, ...common }), channel }
    return { kind: 'dahua', client: new DahuaClient({ baseUrl: target.baseUrl, ...common }), channel }
  }

  /** Whether the device may have a snapshot of its own (else the caller decodes the stream). */
  get hasSnapshot(): boolean {
    return this.backend.kind !== 'none'
  }

  /** A JPEG from the device itself. */
  async snapshot(): Promise<Buffer> {
    const b = this.backend
    try {
      if (b.kind === 'none') throw new DeviceError(404, NO_DEVICE_SNAPSHOT, `no device snapshot: ${b.why}`)
      if (b.kind === 'isapi') return await b.client.snapshot(b.channel)
      if (b.kind === 'dahua') return await b.client.snapshot(b.channel)
      return await this.onvifSnapshot(b.client)
    } catch (err) {
      if (b.kind === 'onvif') this.snapshotUrl = undefined
      throw deviceFailure(err, 'take a snapshot', false)
    }
  }

  private async onvifSnapshot(client: OnvifClient): Promise<Buffer> {
    await this.connect(client)
    if (!this.snapshotUrl) {
      const token = await this.onvifProfile(client, false)
      const { uri } = await client.snapshotUri(token)
      // Moved onto the address we reach the device at, as every XAddr is: behind a port forward
      // the camera names its LAN address.
      const url = rewriteXAddr(uri, client.options.url)
      if (!url) throw new DeviceError(502, 'device_failed', 'the device named no HTTP snapshot address')
      this.snapshotUrl = url
    }
    const res = await deviceRequest({
      url: this.snapshotUrl,
      credentials: { username: client.options.username, password: client.options.password },
      timeoutMs: this.o.timeoutMs ?? 8000,
    })
    if (res.status < 200 || res.status >= 300)
      throw new DeviceHttpError('protocol', `the snapshot address answered HTTP ${res.status}`, res.status)
    if (res.body.length < 4 || res.body[0] !== 0xff || res.body[1] !== 0xd8)
      throw new DeviceHttpError('protocol', 'the device answered something that is not a JPEG')
    return res.body
  }

  private connect(client: OnvifClient): Promise<void> {
    this.connected ??= client.connect().then(
      () => undefined,
      (err: unknown) => {
        this.connected = undefined // the next request tries again
        throw err
      },
    )
    return this.connected
  }

  /** The configured profile, else the first with PTZ (for PTZ) or the first. */
  private onvifProfile(client: OnvifClient, forPtz: boolean): Promise<string> {
    const channel = this.o.device.channel
    if (channel !== '') return Promise.resolve(channel)
    const pick = async () => {
      const profiles = await client.knownProfiles()
      const chosen = (forPtz ? profiles.find((p) => p.ptz) : undefined) ?? profiles[0]
      if (!chosen) throw new DeviceError(502, 'device_failed', 'the device has no media profile')
      return chosen.token
    }
    if (!forPtz) return pick()
    this.profile ??= pick().catch((err: unknown) => {
      this.profile = undefined
      throw err
    })
    return this.profile
  }

  /** Runs PTZ work after the previous command (in order, one at a time). */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.ptzQueue.then(work, work)
    this.ptzQueue = run.catch(() => undefined)
    return run
  }

  ptz(command: PtzCommand): Promise<PtzResult> {
    if (this.backend.kind === 'none')
      return Promise.reject(new DeviceError(409, PTZ_UNSUPPORTED, `no PTZ: ${this.backend.why}`))
    const timer = command.action === 'move' ? this.armStop(command.timeoutMs) : undefined
    if (command.action === 'stop') this.disarmStop()
    return this.serial(async () => {
      try {
        await this.ensurePtz()
        return await this.run(command)
      } catch (err) {
        const failure = deviceFailure(err, `${command.action} (PTZ)`, true)
        // Refused outright (no PTZ, bad preset, wrong password): nothing moves, nothing to stop.
        // A device that did not answer, or answered badly, may have started moving: the timer stays.
        if (
          timer &&
          failure.code !== DEVICE_UNREACHABLE &&
          failure.status !== 502 &&
          this.stopTimer === timer
        )
          this.disarmStop()
        throw failure
      }
    })
  }

  presets(): Promise<PtzPresetsResult> {
    const b = this.backend
    if (b.kind === 'none') return Promise.reject(new DeviceError(409, PTZ_UNSUPPORTED, `no PTZ: ${b.why}`))
    return this.serial(async () => {
      try {
        await this.ensurePtz()
        const list =
          b.kind === 'onvif'
            ? (await b.client.ptz.presets(await this.onvifProfile(b.client, true))).map((p) => ({
                id: p.token,
                name: p.name,
              }))
            : b.kind === 'isapi'
              ? (await b.client.presets(b.channel)).map((p) => ({ id: p.id, name: p.name }))
              : (await b.client.presets(b.channel)).map((p) => ({ id: String(p.id), name: p.name }))
        return {
          presets: list
            .filter((p) => isDeviceToken(p.id))
            .slice(0, 1000)
            .map((p) => ({
              preset: p.id,
              name: cleanText(p.name ?? '', { maxLength: 200 }).trim() || `Preset ${p.id}`,
            })),
        }
      } catch (err) {
        throw deviceFailure(err, 'list presets', true)
      }
    })
  }

  /** Refuses (409) a device or channel without PTZ before anything is sent to it. */
  private async ensurePtz(): Promise<void> {
    const b = this.backend
    if (b.kind === 'onvif') {
      await this.connect(b.client)
      if (!b.client.xaddrs.ptz) throw new DeviceError(409, PTZ_UNSUPPORTED, 'the device has no PTZ service')
      const token = await this.onvifProfile(b.client, true)
      const profile = (await b.client.knownProfiles()).find((p) => p.token === token)
      if (profile && !profile.ptz)
        throw new DeviceError(409, PTZ_UNSUPPORTED, `the camera's profile ${token} has no PTZ configuration`)
    } else if (b.kind === 'isapi') {
      this.isapiPtz ??= b.client.ptzChannels().catch((err: unknown) => {
        this.isapiPtz = undefined
        throw err
      })
      if (!(await this.isapiPtz).includes(b.channel))
        throw new DeviceError(409, PTZ_UNSUPPORTED, `channel ${b.channel} of the device has no PTZ`)
    } else if (b.kind === 'dahua') {
      this.dahuaPtz ??= b.client.ptzSupported(b.channel).catch((err: unknown) => {
        this.dahuaPtz = undefined
        throw err
      })
      if (!(await this.dahuaPtz))
        throw new DeviceError(409, PTZ_UNSUPPORTED, `channel ${b.channel} of the device has no PTZ`)
    }
  }

  private async run(c: PtzCommand): Promise<PtzResult> {
    const b = this.backend
    if (b.kind === 'none') throw new DeviceError(409, PTZ_UNSUPPORTED, `no PTZ: ${b.why}`)
    if (b.kind === 'onvif') {
      const token = await this.onvifProfile(b.client, true)
      const ptz = b.client.ptz
      switch (c.action) {
        case 'move':
          await ptz.continuousMove(token, { pan: c.pan, tilt: c.tilt, zoom: c.zoom }, c.timeoutMs)
          return {}
        case 'stop':
          await ptz.stop(token)
          return {}
        case 'goto':
          await ptz.gotoPreset(token, c.preset)
          return {}
        case 'set': {
          const preset = await ptz.setPreset(token, presetName(c.name), c.preset)
          if (!isDeviceToken(preset))
            throw new DeviceError(502, 'device_failed', 'the device named the preset unreadably')
          return { preset }
        }
        case 'remove':
          await ptz.removePreset(token, c.preset)
          return {}
        case 'home':
          await ptz.gotoHome(token)
          return {}
      }
    }
    // ISAPI and Dahua number their presets alike: one code for goto, set and remove on both.
    if (c.action === 'goto' || c.action === 'set' || c.action === 'remove')
      return b.kind === 'isapi'
        ? numberedPreset(b.client, b.channel, c, ISAPI_RESERVED_PRESETS, async () =>
            (await b.client.presets(b.channel)).map((p) => Number(p.id)),
          )
        : numberedPreset(b.client, b.channel, c, new Set(), async () =>
            (await b.client.presets(b.channel)).map((p) => p.id),
          )
    if (b.kind === 'isapi') {
      const ch = b.channel
      switch (c.action) {
        case 'move':
          await b.client.ptzContinuous(ch, c.pan, c.tilt, c.zoom)
          return {}
        case 'stop':
          await b.client.ptzStop(ch)
          return {}
        case 'home':
          await b.client.gotoHome(ch)
          return {}
      }
    }
    const ch = b.channel
    switch (c.action) {
      case 'move': {
        // A new direction does not end the old one's code on every firmware (a zoom keeps going).
        if (this.dahuaMoving.length > 0) await this.dahuaStop(b.client, ch)
        const codes = dahuaMoveCodes(c.pan, c.tilt, c.zoom)
        for (const m of codes) await b.client.ptz(ch, 'start', m)
        this.dahuaMoving = codes.map((m) => m.code)
        return {}
      }
      case 'stop':
        await this.dahuaStop(b.client, ch)
        return {}
      case 'home': {
        // Dahua's CGI has no "go home" (PositionReset recalibrates the motors: a long full turn,
        // not a home button): preset 1 is the home position by convention.
        const presets = await b.client.presets(ch)
        if (!presets.some((p) => p.id === 1))
          throw new DeviceError(
            409,
            PTZ_UNSUPPORTED,
            'the Dahua device has no home position: save preset 1 as home',
          )
        await b.client.gotoPreset(ch, 1)
        return {}
      }
    }
  }

  /** Dahua stops a move with `action=stop` and the same code; unknown codes: stop both kinds. */
  private async dahuaStop(client: DahuaClient, channel: number): Promise<void> {
    const codes: DahuaPtzCode[] = this.dahuaMoving.length > 0 ? this.dahuaMoving : ['Up', 'ZoomTele']
    for (const code of codes) await client.ptz(channel, 'stop', { code })
    this.dahuaMoving = []
  }

  /** The timer that stops a move after its time, whatever else happens (replacing any earlier). */
  private armStop(ms: number): NodeJS.Timeout {
    this.disarmStop()
    const timer = setTimeout(() => {
      this.stopTimer = undefined
      this.sendStop('the move timed out')
    }, ms)
    timer.unref()
    this.stopTimer = timer
    return timer
  }

  private disarmStop(): void {
    if (this.stopTimer) clearTimeout(this.stopTimer)
    this.stopTimer = undefined
  }

  private sendStop(why: string): void {
    void this.serial(() => this.run({ action: 'stop' })).catch((err: unknown) =>
      this.o.logger.warn({ camera: this.o.cameraId, why, err: errorText(err) }, 'could not stop a PTZ move'),
    )
  }

  /** Whether a move's stop is still to come (for tests and health). */
  get moving(): boolean {
    return this.stopTimer !== undefined
  }

  /** Done with this device (its configuration changed): a pending move is stopped now. */
  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.stopTimer) {
      this.disarmStop()
      this.sendStop('the camera device changed')
    }
  }
}

/**
 * goto, set and remove on a device that numbers its presets per channel. ISAPI and Dahua do the
 * same there (the number checked; `set` without one takes the lowest free number, never a
 * `reserved` one, among the `used` ones the device lists), so it is written once and cannot drift
 * between them. Dahua's CGI saves no preset name (its client takes none: the device names it
 * itself, `Preset3`); ISAPI stores the name given.
 */
async function numberedPreset(
  client: Pick<IsapiClient, 'gotoPreset' | 'setPreset' | 'removePreset'>,
  channel: number,
  c: Extract<PtzCommand, { action: 'goto' | 'set' | 'remove' }>,
  reserved: ReadonlySet<number>,
  used: () => Promise<number[]>,
): Promise<PtzResult> {
  switch (c.action) {
    case 'goto':
      await client.gotoPreset(channel, presetNumber(c.preset))
      return {}
    case 'set': {
      const n = c.preset !== undefined ? presetNumber(c.preset) : freePreset(await used(), reserved)
      await client.setPreset(channel, n, presetName(c.name))
      return { preset: String(n) }
    }
    case 'remove':
      await client.removePreset(channel, presetNumber(c.preset))
      return {}
  }
}

/** A preset name a user typed, as a device may store it. */
function presetName(name: string | undefined): string | undefined {
  if (name === undefined) return undefined
  return cleanText(name, { maxLength: 64 }).trim() || undefined
}
