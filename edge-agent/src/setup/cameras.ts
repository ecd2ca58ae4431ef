import { lookup as dnsLookup } from 'node:dns/promises'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { isIP } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import {
  type DeviceProbeResult,
  deviceAddress,
  deviceChannel,
  parseHostPort,
  probeProtocol,
} from '@ts-vms/shared'
import { z } from 'zod'
import { decodeStill, keyframeAnnexB } from '../cameras/stream-probe.ts'
import { DeviceError, probeDevice } from '../devices/device-probe.ts'
import { toDiscoveredDevice } from '../devices/device-requests.ts'
import { type DiscoverOptions, discoverDetailed } from '../devices/discovery/discover.ts'
import { addressScope, DiscoveryTargetError } from '../devices/discovery/targets.ts'
import type { AccessUnit } from '../media/codec/access-unit.ts'
import { videoFormat } from '../media/codec/sps.ts'
import { RtspClient } from '../media/rtsp/client.ts'
import { SegmentWriter } from '../recorder/segment-writer.ts'
import { ClientError, invalid } from './errors.ts'
import { HubError, type HubSession } from './hub-client.ts'

/**
 * Steps 3 to 5 of the setup wizard.
 *
 * Step 3 runs on this machine, without the hub: device discovery (the agent's own, with the same
 * bounded, private-only target parser as a discovery asked by the hub), a probe of one device
 * (probeDevice, the installer's credentials), and a preview of one stream: about 3 seconds of it
 * pulled by the agent's RTSP client, a still decoded from its first keyframe by ffmpeg, and (H.264)
 * the seconds muxed into a fragmented MP4 by the recorder's own segment writer, held in memory for
 * the page's <video>. Adding the chosen cameras, and steps 4 and 5, go through the hub's API as the
 * signed-in installer (so the hub's audit names them).
 *
 * Device passwords typed in the page come here with each call that needs them, are used for that
 * call only (a probe, a preview, the hub's bulk create), and are never logged, kept or sent back.
 */

/** Longest preview, media time. */
export const PREVIEW_SECONDS = 3
/** Most bytes of media a preview keeps. */
export const PREVIEW_MAX_BYTES = 4 * 1024 * 1024
/** Longest a preview may take, connecting included. */
const PREVIEW_DEADLINE_MS = 12_000
const STILL_WIDTH = 640
/** Most cameras added in one call. */
export const MAX_ADD = 32

const secret = z.string().max(1024)
/** Whitespace-free printable text: no control characters (they end up in request lines and logs). */
const hasControl = (value: string) =>
  [...value].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)
const username = z.string().max(128)

export const discoverBody = z
  .object({
    /** IPv4 hosts, host:port or ranges (private only, /22 at most); none: multicast and this machine's subnets. */
    targets: z.array(z.string().max(64)).max(16).optional(),
    /** Also scan the ports cameras answer on (554, 80, 8000, 37777). */
    scan: z.boolean().optional(),
    timeoutMs: z.number().int().min(500).max(15_000).optional(),
  })
  .strict()

export const probeBody = z
  .object({
    address: deviceAddress,
    protocol: probeProtocol.optional(),
    username,
    password: secret,
  })
  .strict()

/** An rtsp:// URL without credentials in it, to a host the shared address rules accept. */
const rtspUrl = z
  .string()
  .min(1)
  .max(2048)
  .refine((value) => {
    if (!/^rtsp:\/\//i.test(value) || /\s/.test(value) || hasControl(value)) return false
    try {
      const u = new URL(value)
      return u.username === '' && u.password === '' && parseHostPort(u.host) !== undefined
    } catch {
      return false
    }
  }, 'must be an rtsp:// URL without credentials')

export const previewBody = z.object({ url: rtspUrl, username, password: secret }).strict()

const cameraName = z
  .string()
  .trim()
  .min(1, 'Give every camera a name.')
  .max(100)
  .refine((v) => !hasControl(v), 'must not hold control characters')

export const addBody = z
  .object({
    cameras: z
      .array(
        z
          .object({
            name: cameraName,
            protocol: z.enum(['onvif', 'isapi', 'dahua']),
            address: deviceAddress,
            channel: deviceChannel,
            username,
            password: secret,
            streams: z
              .array(z.object({ role: z.enum(['main', 'sub']), url: rtspUrl }).strict())
              .min(1)
              .max(2),
          })
          .strict(),
      )
      .min(1, 'Choose at least one camera.')
      .max(MAX_ADD),
  })
  .strict()

export const recordingBody = z
  .object({
    retentionDays: z.number().int().min(1).max(3650),
    analytics: z.boolean(),
  })
  .strict()

/** Bounds of the disk quota step 4 sets: 1 GB to 1 PB (decimal units, as the page shows them). */
export const QUOTA_MIN_BYTES = 1e9
export const QUOTA_MAX_BYTES = 1e15

export const quotaBody = z
  .object({
    /** Bytes all recordings may take; null: no quota (the free-space floor only). */
    quotaBytes: z
      .number()
      .min(QUOTA_MIN_BYTES, 'The disk quota must be at least 1 GB.')
      .max(QUOTA_MAX_BYTES, 'The disk quota must be at most 1,000,000 GB.')
      .refine(Number.isInteger, 'The disk quota must be a whole number of bytes.')
      .nullable(),
  })
  .strict()

export function parsed<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body)
  if (!r.success) throw invalid(r.error)
  return r.data
}

/** Local discovery: the agent's own, validated like one the hub asks for. */
export async function discoverHere(
  body: z.infer<typeof discoverBody>,
  run: (o: DiscoverOptions) => ReturnType<typeof discoverDetailed> = discoverDetailed,
) {
  const targets = body.targets?.map((t) => t.trim()).filter((t) => t !== '')
  try {
    const result = await run({
      methods: body.scan ? ['onvif', 'scan'] : ['onvif'],
      ...(targets?.length ? { targets } : {}),
      timeoutMs: body.timeoutMs ?? 3000,
    })
    return {
      devices: result.devices
        .map(toDiscoveredDevice)
        .filter((d) => d !== undefined)
        .slice(0, 512),
      elapsedMs: result.stats.elapsedMs,
    }
  } catch (err) {
    if (err instanceof DiscoveryTargetError) throw new ClientError(400, 'BAD_TARGET', err.message)
    throw err
  }
}

/** One device probed from here (its channels and their streams, URLs without credentials). */
export async function probeHere(body: z.infer<typeof probeBody>): Promise<DeviceProbeResult> {
  try {
    return await probeDevice({
      address: body.address,
      protocol: body.protocol ?? 'auto',
      username: body.username,
      password: body.password,
      deadline: Date.now() + 20_000,
    })
  } catch (err) {
    if (err instanceof DeviceError) {
      const messages: Record<string, string> = {
        DEVICE_AUTH: 'The username or password is wrong for this device',
        DEVICE_UNREACHABLE: 'The device does not answer',
        DEVICE_PROTOCOL: 'The device does not answer as a camera the agent knows',
      }
      const lead = messages[err.code]
      throw new ClientError(
        err.status >= 500 ? 502 : err.status,
        err.code,
        lead ? `${lead}: ${err.message}.` : err.message,
      )
    }
    throw err
  }
}

export interface Preview {
  codec: 'h264' | 'h265'
  width: number | null
  height: number | null
  frames: number
  seconds: number
  bytes: number
  /** A JPEG decoded from the first keyframe, base64. */
  still: string | null
  stillError?: string
  /** The seconds as a fragmented MP4 (H.264 only). */
  mp4: Buffer | null
  videoNote?: string
}

/**
 * About PREVIEW_SECONDS of a stream from its first keyframe (at most PREVIEW_MAX_BYTES), a still
 * decoded from that keyframe and, for H.264, the frames muxed into a fragmented MP4 the way the
 * recorder writes its segments (through a private temporary file, read back and removed).
 */
/** An IPv6 address the site's own network may hold: loopback, link-local, unique local. */
const siteIpv6 = (a: string) => {
  const v = a.toLowerCase()
  return v === '::1' || /^fe[89ab][0-9a-f]:/.test(v) || /^f[cd][0-9a-f]{2}:/.test(v)
}

/**
 * The preview's URL with its host resolved once to an address on the site's own network
 * (private, loopback, link-local or CGNAT, as discovery allows): the wizard must not become a way
 * to make this machine fetch from the internet, or from a name that resolves elsewhere later
 * (the connection goes to the address checked here, not to the name again).
 */
export async function siteStreamUrl(
  url: string,
  lookup: (host: string) => Promise<{ address: string; family: number }[]> = (host) =>
    dnsLookup(host, { all: true }),
): Promise<string> {
  const u = new URL(url)
  const host = u.hostname.replace(/^\[|\]$/g, '')
  const refuse = () =>
    new ClientError(
      400,
      'NOT_SITE_ADDRESS',
      "The preview reaches cameras on the site's own network only (private, loopback or link-local addresses).",
    )
  let addresses: { address: string; family: number }[]
  if (isIP(host)) addresses = [{ address: host, family: isIP(host) }]
  else {
    try {
      addresses = await lookup(host)
    } catch {
      throw new ClientError(
        422,
        'DEVICE_UNREACHABLE',
        `The camera's name ${JSON.stringify(host)} does not resolve.`,
      )
    }
  }
  const ok = (a: { address: string; family: number }) =>
    a.family === 4 ? addressScope(a.address) !== 'public' : siteIpv6(a.address)
  if (addresses.length === 0 || !addresses.every(ok)) throw refuse()
  const first = addresses[0] as { address: string; family: number }
  u.hostname = first.family === 6 ? `[${first.address}]` : first.address
  return u.toString()
}

export async function previewStream(
  body: z.infer<typeof previewBody>,
  ffmpeg: string | undefined,
): Promise<Preview> {
  const url = await siteStreamUrl(body.url)
  const client = new RtspClient({
    url,
    username: body.username,
    password: body.password,
    transport: 'tcp',
    audio: false,
    requestTimeoutMs: 5000,
    dataTimeoutMs: 5000,
  })
  const frames: AccessUnit[] = []
  let bytes = 0
  let done: () => void = () => {}
  const finished = new Promise<void>((resolve) => {
    done = resolve
  })
  let closeError: Error | undefined
  client.on('frame', (au) => {
    if (frames.length === 0 && !au.keyframe) return
    const first = frames[0]
    const size = au.nalus.reduce((n, b) => n + b.length, 0)
    if (
      first &&
      (au.timestamp - first.timestamp >= PREVIEW_SECONDS * 90_000 || bytes + size > PREVIEW_MAX_BYTES)
    )
      return done()
    frames.push(au)
    bytes += size
  })
  client.on('close', (err) => {
    closeError = err
    done()
  })
  // The whole preview, connecting included, ends by the deadline: closing ends a pending connect too.
  const timer = setTimeout(() => {
    done()
    void client.close().catch(() => {})
  }, PREVIEW_DEADLINE_MS)
  let info: Awaited<ReturnType<RtspClient['connect']>>
  try {
    try {
      info = await client.connect()
    } catch (err) {
      const e = err as { status?: number; message?: string }
      if (e.status === 401)
        throw new ClientError(422, 'DEVICE_AUTH', 'The stream refused the username or password.')
      throw new ClientError(
        502,
        'STREAM_UNAVAILABLE',
        `The stream cannot be played: ${e.message ?? 'no answer'}.`,
      )
    }
    await finished
  } finally {
    clearTimeout(timer)
    await client.close().catch(() => {})
  }
  const first = frames[0]
  if (!first)
    throw new ClientError(
      502,
      'STREAM_UNAVAILABLE',
      `The stream sent no whole keyframe within ${PREVIEW_DEADLINE_MS / 1000} s${closeError ? ` (${closeError.message})` : ''}.`,
    )
  const codec = info.codec
  const format = videoFormat(codec, [...info.parameterSets, ...first.nalus])
  let still: string | null = null
  let stillError: string | undefined
  if (!ffmpeg)
    stillError = 'This machine has no ffmpeg to decode a still (install ffmpeg, or set FFMPEG_PATH).'
  else {
    const out = await decodeStill(
      ffmpeg,
      codec,
      keyframeAnnexB(codec, info.parameterSets, first.nalus),
      8000,
      4,
      STILL_WIDTH,
    )
    if ('jpeg' in out) still = out.jpeg.toString('base64')
    else stillError = out.error.slice(0, 300)
  }
  let mp4: Buffer | null = null
  let videoNote: string | undefined
  if (codec !== 'h264')
    videoNote = 'The stream is H.265: browsers may not play it, so only the still is shown here.'
  else if (!format) videoNote = "The stream's parameter sets could not be read: no video preview."
  else mp4 = await muxFragmented(format, info.parameterSets, frames)
  const last = frames.at(-1) ?? first
  return {
    codec,
    width: format?.width ?? null,
    height: format?.height ?? null,
    frames: frames.length,
    seconds: Math.round(((last.timestamp - first.timestamp) / 90_000) * 10) / 10,
    bytes,
    still,
    ...(stillError ? { stillError } : {}),
    mp4,
    ...(videoNote ? { videoNote } : {}),
  }
}

async function muxFragmented(
  format: NonNullable<ReturnType<typeof videoFormat>>,
  parameterSets: Buffer[],
  frames: AccessUnit[],
): Promise<Buffer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'vms-setup-preview-'))
  try {
    const file = path.join(dir, 'preview.mp4')
    const [first, ...rest] = frames as [AccessUnit, ...AccessUnit[]]
    // The first keyframe carries its parameter sets in band, whatever the camera sent.
    const missing = parameterSets.filter((p) => !first.nalus.some((n) => n.equals(p)))
    const key = { ...first, nalus: [...missing, ...first.nalus] }
    const writer = new SegmentWriter(file, format, key, () => {})
    try {
      await writer.start()
      for (const au of [key, ...rest]) await writer.write(au)
      await writer.close()
    } catch (err) {
      writer.abandon()
      throw err
    }
    return readFileSync(file)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The hub's answer as JSON, or a ClientError that says what the hub said. */
export async function hubJson(
  hub: HubSession,
  method: string,
  p: string,
  body?: unknown,
): Promise<{ json: unknown; res: Response }> {
  let res: Response
  try {
    res = await hub.request(method, p, body)
  } catch (err) {
    if (err instanceof HubError && err.status === 0)
      throw new ClientError(502, 'HUB_UNREACHABLE', `The hub cannot be reached: ${err.message}.`)
    if (err instanceof HubError) throw new ClientError(401, 'HUB_SIGNED_OUT', err.message)
    throw err
  }
  const text = await res.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  if (res.status >= 400) {
    const m = (json as { error?: { message?: unknown } } | undefined)?.error?.message
    const message = typeof m === 'string' ? m.slice(0, 500) : `the hub answered ${res.status}`
    if (res.status === 401)
      throw new ClientError(401, 'HUB_SIGNED_OUT', 'The hub session ended: sign in again.')
    throw new ClientError(res.status >= 500 ? 502 : res.status, 'HUB_REFUSED', `The hub says: ${message}`)
  }
  return { json, res }
}

export interface CreatedCamera {
  id: string
  name: string
}

/** Step 3's end: the chosen cameras created through the hub's bulk API as the installer. */
export async function addCameras(
  hub: HubSession,
  agent: { agentId: string; siteId: string },
  body: z.infer<typeof addBody>,
  retentionDays: number,
) {
  const { json } = await hubJson(hub, 'POST', '/api/v1/cameras/bulk', {
    cameras: body.cameras.map((c) => ({
      name: c.name,
      siteId: agent.siteId,
      agentId: agent.agentId,
      device: {
        protocol: c.protocol,
        address: c.address,
        channel: c.channel,
        username: c.username,
        password: c.password,
        events: true,
      },
      streams: c.streams.map((s) => ({
        role: s.role,
        url: s.url,
        username: c.username,
        password: c.password,
      })),
      recording: { enabled: true, retentionDays },
    })),
  })
  const results = (json as { results?: unknown }).results
  if (!Array.isArray(results))
    throw new ClientError(502, 'HUB_ANSWER', "The hub's answer was not understood.")
  return results.map(
    (r: { row?: number; status?: string; cameraId?: string; error?: { message?: string } }) => {
      const row = Number(r.row)
      const name = body.cameras[row - 1]?.name ?? ''
      return r.status === 'created' && typeof r.cameraId === 'string'
        ? { row, name, status: 'created' as const, cameraId: r.cameraId }
        : {
            row,
            name,
            status: 'error' as const,
            error: String(r.error?.message ?? 'not created').slice(0, 500),
          }
    },
  )
}

/** Step 4: retention and analytics on each camera added here, through the hub as the installer. */
export async function applyRecording(
  hub: HubSession,
  cameras: readonly CreatedCamera[],
  body: z.infer<typeof recordingBody>,
) {
  const results: { id: string; name: string; ok: boolean; error?: string }[] = []
  for (const c of cameras) {
    try {
      await hubJson(hub, 'PATCH', `/api/v1/cameras/${encodeURIComponent(c.id)}`, {
        recording: { enabled: true, retentionDays: body.retentionDays },
        analytics: { enabled: body.analytics },
      })
      results.push({ id: c.id, name: c.name, ok: true })
    } catch (err) {
      if (err instanceof ClientError && (err.code === 'HUB_UNREACHABLE' || err.code === 'HUB_SIGNED_OUT'))
        throw err
      results.push({ id: c.id, name: c.name, ok: false, error: (err as Error).message })
    }
  }
  return results
}

interface StreamH {
  role: string
  state: string
  bitrateBps: number
  recording: boolean
  error?: string
}
interface AgentView {
  status?: string
  health?: {
    disk?: { freeBytes: number; totalBytes: number }
    recording?: { bytes: number; quotaBytes: number | null }
    cameras?: { id: string; streams: StreamH[] }[]
  } | null
}
interface CameraView {
  id: string
  name: string
  recording?: { enabled?: boolean; retentionDays?: number }
  status?: { agentOnline?: boolean; streams?: StreamH[] } | null
}

/**
 * Days of recording the disk holds at the measured bitrates: the space recording may use (the
 * free space plus what recordings already hold, capped by the quota) over the bytes a day of every
 * stream being recorded takes. Null when nothing is measured yet.
 */
export function retentionEstimateDays(o: {
  freeBytes: number
  recordingBytes: number
  quotaBytes: number | null
  bitratesBps: number[]
}): number | null {
  const bps = o.bitratesBps.reduce((a, b) => a + b, 0)
  if (!(bps > 0)) return null
  const space = o.freeBytes + o.recordingBytes
  const usable = o.quotaBytes ? Math.min(space, o.quotaBytes) : space
  return Math.round((usable / (bps / 8) / 86_400) * 10) / 10
}

/** Bytes sent to the hub to measure the uplink: a second or two on a slow store line. */
export const UPLINK_PROBE_BYTES = 512 * 1024

/**
 * The uplink's speed to the hub, kbit/s: bytes the hub counts and drops
 * (`POST /api/v1/diagnostics/uplink`), over the time they took less one round trip. Null when the
 * hub does not answer it (an older hub) or the measure makes no sense.
 */
async function uplinkKbps(hub: HubSession, roundTripMs: number): Promise<number | null> {
  const bytes = new Uint8Array(UPLINK_PROBE_BYTES)
  try {
    const started = performance.now()
    const res = await hub.request('POST', '/api/v1/diagnostics/uplink', bytes)
    const ms = performance.now() - started - roundTripMs
    if (!res.ok) {
      await res.body?.cancel()
      return null
    }
    const answer = (await res.json()) as { bytes?: unknown }
    if (answer.bytes !== bytes.length) return null
    return Math.round((bytes.length * 8) / Math.max(ms, 1))
  } catch {
    return null
  }
}

/** Step 5: the cameras streaming, the disk and the retention it gives, the clock, the uplink. */
export async function summary(
  hub: HubSession,
  agent: { agentId: string; siteId: string },
  localQuotaBytes: number | null,
  /** The local quota is the one in force (the agent runs in this process): it wins over the hub's last report. */
  o: { preferLocal?: boolean } = {},
) {
  const t0 = Date.now()
  const { json: agentJson, res } = await hubJson(
    hub,
    'GET',
    `/api/v1/agents/${encodeURIComponent(agent.agentId)}`,
  )
  const t1 = Date.now()
  const hubDate = Date.parse(res.headers.get('date') ?? '')
  const { json: camerasJson } = await hubJson(
    hub,
    'GET',
    `/api/v1/cameras?siteId=${encodeURIComponent(agent.siteId)}&limit=100`,
  )
  // Uplink: a few round trips to the hub, the median kept.
  const rtts: number[] = []
  for (let i = 0; i < 3; i++) {
    const s = performance.now()
    try {
      await hubJson(hub, 'GET', '/api/v1/me')
      rtts.push(performance.now() - s)
    } catch {}
  }
  rtts.sort((a, b) => a - b)
  const roundTripMs = rtts.length ? (rtts[Math.floor(rtts.length / 2)] as number) : undefined
  const uploadKbps = roundTripMs === undefined ? null : await uplinkKbps(hub, roundTripMs)
  const a = agentJson as AgentView
  const health = a.health ?? null
  const items = ((camerasJson as { items?: CameraView[] }).items ?? []).filter(Boolean)
  const healthOf = new Map((health?.cameras ?? []).map((c) => [c.id, c.streams]))
  const cameras = items.map((c) => {
    const streams = c.status?.streams ?? healthOf.get(c.id) ?? []
    return {
      id: c.id,
      name: c.name,
      streaming: streams.some((s) => s.state === 'streaming'),
      recording: streams.some((s) => s.recording),
      bitrateBps: streams.filter((s) => s.recording).reduce((n, s) => n + (s.bitrateBps || 0), 0),
      retentionDays: c.recording?.retentionDays ?? null,
      error: streams.find((s) => s.error)?.error ?? null,
    }
  })
  const disk = health?.disk ?? null
  const recordingBytes = health?.recording?.bytes ?? 0
  const quotaBytes = o.preferLocal ? localQuotaBytes : (health?.recording?.quotaBytes ?? localQuotaBytes)
  return {
    agentOnline: a.status === 'online',
    cameras,
    disk: disk
      ? { freeBytes: disk.freeBytes, totalBytes: disk.totalBytes, recordingBytes, quotaBytes }
      : null,
    retentionEstimateDays: disk
      ? retentionEstimateDays({
          freeBytes: disk.freeBytes,
          recordingBytes,
          quotaBytes,
          bitratesBps: cameras.map((c) => c.bitrateBps),
        })
      : null,
    // The hub's Date header has whole seconds: the drift is known to about a second.
    clockDriftMs: Number.isFinite(hubDate) ? Math.round((t0 + t1) / 2 - hubDate - 500) : null,
    uplink: roundTripMs === undefined ? null : { roundTripMs: Math.round(roundTripMs), uploadKbps },
  }
}
