import net from 'node:net'
import { performance } from 'node:perf_hooks'
import { type AgentCamera, type CameraProbeHealth, type DeviceProtocol, parseHostPort } from '@ts-vms/shared'
import type { Logger } from 'pino'
import { DeviceHttpError, deviceRequest } from '../devices/http/device-http.ts'
import { OnvifClient } from '../devices/onvif/onvif-client.ts'
import { Authenticator, parseChallenges } from '../media/rtsp/auth.ts'
import { RtspError } from '../media/rtsp/client.ts'
import { formatRequest, type RtspResponse, RtspStreamParser } from '../media/rtsp/message.ts'
import { parseRtspUrl } from '../media/rtsp/url.ts'
import { cameraText } from './camera-manager.ts'

/**
 * Health probes (issue 14): on an interval, each camera whose stream is not streaming is asked
 * RTSP OPTIONS then DESCRIBE (no SETUP, no media: the cheapest question that proves the stream can
 * be opened, credentials included), so the offline state of a camera nobody watches is known
 * before someone needs its footage. A camera that streams needs no probe: its stream is the proof.
 * Each camera's device (ONVIF, ISAPI, Dahua) is asked once per address per round: an NVR's cameras
 * share its address, and so share one probe. Results go to the heartbeat and the metrics; a failed
 * stream probe goes to the camera manager, which raises `camera.offline` / `camera.online`.
 */

/** What one probe found. */
export interface Reach {
  reachable: boolean
  /** Milliseconds to the answer; null when the stream's own session answered for it. */
  latencyMs: number | null
  error?: string
}

/** A camera stream to ask, with the password opened (it never leaves this module). */
export interface RtspProbeTarget {
  url: string
  username?: string
  password?: string
}

/** What the probe needs from the camera manager. */
export interface ProbeCameras {
  /** The cameras configured now. */
  list(): readonly AgentCamera[]
  /** Whether a session of the camera streams now. */
  streaming(cameraId: string): boolean
  /** The stream a probe asks; `error` when this agent cannot open its password. */
  probeTarget(cameraId: string): RtspProbeTarget | { error: string } | undefined
  /** A probe's verdict on the camera's stream (for `camera.offline` / `camera.online`). */
  probed(cameraId: string, reachable: boolean, error?: string): void
}

export type RtspProbe = (target: RtspProbeTarget, timeoutMs: number, signal?: AbortSignal) => Promise<void>
export type DeviceProbe = (
  protocol: DeviceProtocol,
  url: string,
  timeoutMs: number,
  signal?: AbortSignal,
) => Promise<void>

export interface HealthProbeOptions {
  cameras: ProbeCameras
  intervalMs: number
  /** The longest a single probe may take (bounded by the interval). */
  timeoutMs: number
  logger: Logger
  /** Probes running at once (a site of 64 cameras is not asked all in the same instant). */
  concurrency?: number
  /** For tests: the stream and device probes. */
  rtsp?: RtspProbe
  device?: DeviceProbe
}

/**
 * OPTIONS then DESCRIBE on one connection, answering one Basic or Digest challenge; resolves on a
 * 2xx or 3xx DESCRIBE (a redirect is an answer too), rejects with an RtspError otherwise.
 * Credentials never appear in errors.
 */
export function rtspDescribe(o: RtspProbeTarget, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  let target: ReturnType<typeof parseRtspUrl>
  try {
    target = parseRtspUrl(o.url)
  } catch (err) {
    return Promise.reject(new RtspError(`the stream URL does not read: ${(err as Error).message}`))
  }
  const username = o.username ?? target.username
  const password = o.password ?? target.password
  return new Promise<void>((resolve, reject) => {
    const socket = net.connect({ host: target.host, port: target.port })
    const parser = new RtspStreamParser()
    let cseq = 0
    let waiting: ((r: RtspResponse) => void) | undefined
    let auth: Authenticator | undefined
    let done = false
    const finish = (err?: Error) => {
      if (done) return
      done = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', cancel)
      socket.destroy()
      if (err) reject(err)
      else resolve()
    }
    const timer = setTimeout(() => finish(new RtspError(`no answer within ${timeoutMs} ms`)), timeoutMs)
    const cancel = () => finish(new RtspError('the probe was cancelled'))
    if (signal?.aborted) cancel()
    signal?.addEventListener('abort', cancel)
    socket.on('error', (err) =>
      finish(new RtspError(`cannot connect to ${target.host}:${target.port}: ${err.message}`)),
    )
    socket.on('close', () => finish(new RtspError('the camera closed the connection')))
    socket.on('data', (chunk) => {
      let items: ReturnType<RtspStreamParser['push']>
      try {
        items = parser.push(chunk)
      } catch (err) {
        finish(new RtspError(`unreadable answer from the camera: ${(err as Error).message}`))
        return
      }
      for (const item of items) {
        if (item.kind !== 'response' || Number(item.response.headers.get('cseq')) !== cseq) continue
        const w = waiting
        waiting = undefined
        w?.(item.response)
      }
    })
    const ask = (method: string, headers: Record<string, string>) =>
      new Promise<RtspResponse>((answered) => {
        cseq++
        waiting = answered
        const all: Record<string, string> = {
          CSeq: String(cseq),
          'User-Agent': 'TS-VMS edge agent (health probe)',
          ...headers,
        }
        if (auth) all.Authorization = auth.authorization(method, target.url)
        socket.write(formatRequest(method, target.url, all))
      })
    const call = async (method: string, headers: Record<string, string> = {}) => {
      let r = await ask(method, headers)
      if (r.status === 401 && !auth) {
        const challenge = parseChallenges(r.headers.get('www-authenticate'))[0]
        if (!challenge) throw new RtspError(`${method}: 401 without a usable challenge`, 401)
        if (username === undefined)
          throw new RtspError('the camera wants credentials and none are configured', 401)
        auth = new Authenticator(challenge, username, password ?? '')
        r = await ask(method, headers)
      }
      if (r.status === 401) throw new RtspError('the camera refused the credentials', 401)
      if (r.status < 200 || r.status >= 400)
        throw new RtspError(`${method}: ${r.status} ${r.reason}`, r.status)
    }
    socket.once('connect', () => {
      call('OPTIONS')
        .then(() => call('DESCRIBE', { Accept: 'application/sdp' }))
        .then(
          () => finish(),
          (err: Error) => finish(err),
        )
    })
  })
}

/**
 * Where a device's HTTP endpoint is asked: the ONVIF device service (GetSystemDateAndTime, which
 * ONVIF keeps open without credentials), or the root of an ISAPI or Dahua device. `key` is the
 * same for every camera of one device (an NVR's channels), so they share one probe. Undefined for
 * a plain RTSP camera (no device API) or an address that does not read.
 */
export function deviceProbeUrl(device: {
  protocol: DeviceProtocol
  address: string
}): { key: string; url: string } | undefined {
  if (device.protocol === 'rtsp') return undefined
  let origin: string
  let path = device.protocol === 'onvif' ? '/onvif/device_service' : '/'
  if (/^https?:\/\//i.test(device.address)) {
    let u: URL
    try {
      u = new URL(device.address)
    } catch {
      return undefined
    }
    origin = u.origin
    // An ONVIF address from discovery names the device service itself.
    if (device.protocol === 'onvif' && u.pathname !== '/' && u.pathname !== '')
      path = `${u.pathname}${u.search}`
  } else {
    const hp = parseHostPort(device.address)
    if (!hp) return undefined
    origin = `http://${hp.host}${hp.port ? `:${hp.port}` : ''}`
  }
  const url = `${origin}${path}`
  return { key: `${device.protocol} ${url.toLowerCase()}`, url }
}

/** Whether a device error means the device did not answer at all (any answer proves it is there). */
const silent = (code: string | undefined) => code === 'unreachable' || code === 'timeout'

/**
 * Asks a device's endpoint without credentials: any HTTP answer (a 401, a SOAP fault, a 404) proves
 * it is up; only no connection or no answer in time fails.
 */
export async function httpDeviceProbe(
  protocol: DeviceProtocol,
  url: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  if (protocol === 'onvif') {
    // The ONVIF client takes no signal: its own timeout bounds it.
    try {
      await new OnvifClient({ url, username: '', password: '', timeoutMs }).measureClock()
    } catch (err) {
      if (silent((err as { code?: string }).code)) throw err
    }
    return
  }
  try {
    // The socket timeout is per inactivity: the signal bounds the whole request.
    const bound = AbortSignal.timeout(timeoutMs)
    await deviceRequest({
      url,
      timeoutMs,
      maxBytes: 64 * 1024,
      signal: signal ? AbortSignal.any([bound, signal]) : bound,
    })
  } catch (err) {
    if (!(err instanceof DeviceHttpError) || silent(err.code)) throw err
  }
}

/** Times a probe: reachable with its latency, or unreachable with why. */
export async function measure(probe: () => Promise<void>): Promise<Reach> {
  const started = performance.now()
  try {
    await probe()
    return { reachable: true, latencyMs: Math.round((performance.now() - started) * 10) / 10 }
  } catch (err) {
    return { reachable: false, latencyMs: null, error: cameraText((err as Error)?.message) }
  }
}

/** Runs tasks with at most `limit` at once. */
export async function inBatches(tasks: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < tasks.length) {
      const task = tasks[next++] as () => Promise<void>
      await task()
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker))
}

export class HealthProbe {
  private readonly results = new Map<string, CameraProbeHealth>()
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private stopped = false
  /** Cancels the probes in flight when the agent stops (a silent camera would hold it for the timeout). */
  private readonly abort = new AbortController()
  private readonly rtsp: RtspProbe
  private readonly device: DeviceProbe

  constructor(private readonly o: HealthProbeOptions) {
    this.rtsp = o.rtsp ?? rtspDescribe
    this.device = o.device ?? httpDeviceProbe
  }

  /** A round now (the state of cameras nobody watches is known from the start), then every interval. */
  start(): void {
    if (this.timer || this.stopped) return
    void this.round()
    this.timer = setInterval(() => void this.round(), this.o.intervalMs)
    this.timer.unref()
  }

  /** One round over all cameras; a round still running is joined, never run twice at once. */
  round(): Promise<void> {
    if (this.stopped) return Promise.resolve()
    this.running ??= this.probeAll()
      .catch((err: unknown) => this.o.logger.warn({ err }, 'a health probe round failed'))
      .finally(() => {
        this.running = undefined
      })
    return this.running
  }

  /** The last probe of a camera, for the heartbeat and the metrics. */
  health(cameraId: string): CameraProbeHealth | undefined {
    return this.results.get(cameraId)
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearInterval(this.timer)
    this.abort.abort()
    await this.running
  }

  private get timeoutMs(): number {
    return Math.max(100, Math.min(this.o.timeoutMs, this.o.intervalMs))
  }

  private async probeAll(): Promise<void> {
    const cameras = this.o.cameras.list()
    // One probe per device address this round, whatever the number of cameras behind it.
    const devices = new Map<string, Promise<Reach>>()
    await inBatches(
      cameras.map((c) => () => this.probeCamera(c, devices)),
      this.o.concurrency ?? 8,
    )
    const ids = new Set(this.o.cameras.list().map((c) => c.id))
    for (const id of this.results.keys()) if (!ids.has(id)) this.results.delete(id)
  }

  private async probeCamera(camera: AgentCamera, devices: Map<string, Promise<Reach>>): Promise<void> {
    const target = camera.device ? deviceProbeUrl(camera.device) : undefined
    let device: Promise<Reach> | undefined
    if (target && camera.device) {
      const protocol = camera.device.protocol
      device = devices.get(target.key)
      if (!device) {
        device = measure(() => this.device(protocol, target.url, this.timeoutMs, this.abort.signal))
        devices.set(target.key, device)
      }
    }
    const stream = await this.probeStream(camera.id)
    const d = await device
    if (this.stopped || !this.o.cameras.list().some((c) => c.id === camera.id)) return
    const { verdict, ...reach } = stream
    this.results.set(camera.id, {
      ...reach,
      at: new Date().toISOString(),
      ...(d ? { device: d } : {}),
    })
    if (verdict) this.o.cameras.probed(camera.id, reach.reachable, reach.error)
  }

  /**
   * The stream's state; `verdict` false when nothing was learnt about the camera itself (a password
   * this agent cannot open is the agent's problem, not the camera's: no event for it).
   */
  private async probeStream(cameraId: string): Promise<Reach & { verdict: boolean }> {
    // A stream that flows is the best probe there is; asking the camera again would only add load.
    if (this.o.cameras.streaming(cameraId)) return { reachable: true, latencyMs: null, verdict: true }
    const target = this.o.cameras.probeTarget(cameraId)
    if (!target)
      return { reachable: false, latencyMs: null, error: 'the camera has no stream', verdict: false }
    if ('error' in target) return { reachable: false, latencyMs: null, error: target.error, verdict: false }
    return { ...(await measure(() => this.rtsp(target, this.timeoutMs, this.abort.signal))), verdict: true }
  }
}
