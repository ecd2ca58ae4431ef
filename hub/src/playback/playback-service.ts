import path from 'node:path'
import {
  type PlaybackCursor,
  type PlaybackPart,
  playbackPart,
  type RecordingSegmentsResult,
  recordingSegmentsResult,
} from '@ts-vms/shared'
import { Counter, Gauge } from 'prom-client'
import { AgentRequestError } from '../agents/agent-requests.ts'
import { cameraResource, visibleCamera } from '../cameras/camera-access.ts'
import { conflict, forbidden, unauthenticated, unavailable } from '../errors.ts'
import { type HubContext, scopeOf } from '../hub-context.ts'
import { can } from '../rbac/authorize.ts'
import { loadPrincipal } from '../rbac/principal.ts'
import { type PlaybackClaims, PlaybackTokenError, PlaybackTokens } from './playback-token.ts'
import { buildPlaylist, type PlaylistSegment } from './playlist.ts'
import { type OpenedSegment, SegmentCache } from './segment-cache.ts'
import { type ExpectedSegment, MAX_INIT_BYTES } from './segment-upload.ts'
import { SessionAudit } from './session-audit.ts'

/**
 * HLS playback through the hub (docs/media.md, "Playback through the hub"): playlists built from
 * the agent's segment index, segments fetched from the agent through the hub→agent request path
 * and its upload, cached on disk, served to players holding a playback token.
 */
export const PLAYBACK_AUDIT_WINDOW_MS = 10 * 60_000
/** How long a segment token's user and camera check is trusted before it is made again. */
const ACCESS_RECHECK_MS = 30_000
const MAX_ACCESS_ENTRIES = 10_000
/** Most pages of `recordings.segments` one playlist may take (24 h of 4 s segments is 11). */
const MAX_PAGES = 40

const MEDIA_NAME = /^(\d{1,15})-(\d{1,15})-(\d{1,7})-(\d{1,3})\.m4s$/
const INIT_NAME = /^(\d{1,15})-(\d{1,15})-([0-9a-f]{32})\.mp4$/

export interface PlaybackCamera {
  id: string
  tenantId: string
  agentId: string
}

/** A media segment's or init section's address within a camera (the last part of its path). */
export function mediaName(file: number, startMs: number, first: number, count: number): string {
  return `${file}-${Math.round(startMs)}-${first}-${count}.m4s`
}
export function initName(file: number, startMs: number, key: string): string {
  return `${file}-${Math.round(startMs)}-${key}.mp4`
}

/** The part a segment address names, or undefined (404) when it names none. */
export function parsePartName(kind: 'init' | 'media', name: string): PlaybackPart | undefined {
  const m = (kind === 'media' ? MEDIA_NAME : INIT_NAME).exec(name)
  if (!m) return undefined
  const parsed = playbackPart.safeParse(
    kind === 'media'
      ? { kind, file: Number(m[1]), startMs: Number(m[2]), first: Number(m[3]), count: Number(m[4]) }
      : { kind, file: Number(m[1]), startMs: Number(m[2]), init: m[3] },
  )
  return parsed.success ? parsed.data : undefined
}

export class PlaybackService {
  readonly tokens: PlaybackTokens
  readonly cache: SegmentCache
  readonly sessions = new SessionAudit({ windowMs: PLAYBACK_AUDIT_WINDOW_MS })
  /** Uploads the hub waits for, by request id: what each must be. */
  private readonly expected = new Map<string, Omit<ExpectedSegment, 'bytes' | 'sha256'>>()
  private readonly access = new Map<string, { camera: PlaybackCamera; atMs: number }>()
  private readonly requests: Counter<'kind' | 'cache'>
  private readonly fetches: Counter<'kind' | 'outcome'>

  constructor(private readonly hub: HubContext) {
    const c = hub.config
    this.tokens = new PlaybackTokens(hub.secrets.deriveKey('playback-token:v1'), {
      ttlSeconds: c.VMS_PLAYBACK_TOKEN_SECONDS,
    })
    this.cache = new SegmentCache(
      path.join(c.VMS_DATA_DIR, 'playback-cache'),
      c.VMS_PLAYBACK_CACHE_MB * 1024 ** 2,
    )
    const registers = [hub.metrics.registry]
    this.requests = new Counter({
      name: 'vms_playback_segment_requests_total',
      help: 'Playback segments served, by kind (init, media) and cache (hit, miss, shared: waited for a load in progress)',
      labelNames: ['kind', 'cache'] as const,
      registers,
    })
    this.fetches = new Counter({
      name: 'vms_playback_agent_fetches_total',
      help: 'Playback segments asked of agents (each one upload), by kind and outcome',
      labelNames: ['kind', 'outcome'] as const,
      registers,
    })
    const cache = this.cache
    new Gauge({
      name: 'vms_playback_cache_bytes',
      help: 'Bytes of playback segments in the hub’s disk cache',
      registers,
      collect() {
        this.set(cache.bytes)
      },
    })
  }

  /** The agent's media segments of a camera over [from, to), all pages (AgentRequestError when it fails). */
  async segments(camera: PlaybackCamera, from: Date, to: Date): Promise<RecordingSegmentsResult['files']> {
    const files: RecordingSegmentsResult['files'] = []
    let after: PlaybackCursor | undefined
    for (let page = 0; page < MAX_PAGES; page++) {
      const answer: RecordingSegmentsResult = await this.hub.agents.requests.callParsed(
        camera.agentId,
        this.hub.config.VMS_AGENT_REQUEST_TIMEOUT_MS,
        () => ({
          op: 'recordings.segments',
          cameraId: camera.id,
          from: from.toISOString(),
          to: to.toISOString(),
          targetMs: this.hub.config.VMS_PLAYBACK_SEGMENT_SECONDS * 1000,
          ...(after ? { after } : {}),
        }),
        recordingSegmentsResult,
      )
      files.push(...answer.files)
      after = answer.next
      if (!after) return files
    }
    throw new AgentRequestError(
      502,
      'bad_agent_answer',
      'the agent listed more segments than a playlist may hold',
    )
  }

  /**
   * The playlist of a camera's range. A range reaching past `nowMs` is an EVENT playlist that
   * leaves out the last, still growing, segment of a file being recorded (an EVENT playlist's
   * segments never change once listed); any other is VOD.
   */
  playlist(
    files: RecordingSegmentsResult['files'],
    o: { toMs: number; nowMs: number; token: string },
  ): { text: string; segments: number } {
    const live = o.toMs > o.nowMs
    const q = `?token=${o.token}`
    const segments: PlaylistSegment[] = []
    for (const f of files) {
      const parts = live && f.open ? f.parts.slice(0, -1) : f.parts
      for (const [first, count, startMs, durationMs] of parts)
        segments.push({
          uri: `playback/segments/${mediaName(f.file, f.startMs, first, count)}${q}`,
          initKey: f.init,
          initUri: `playback/init/${initName(f.file, f.startMs, f.init)}${q}`,
          startMs,
          durationMs,
        })
    }
    segments.sort((a, b) => a.startMs - b.startMs)
    return { text: buildPlaylist(segments, { type: live ? 'EVENT' : 'VOD' }), segments: segments.length }
  }

  /**
   * Who may fetch a segment with these claims: the user still exists, is enabled, has not ended
   * their sessions, may play back the camera, and the camera has an agent. Checked against the
   * database at most every 30 s per user and camera.
   */
  async authorize(claims: PlaybackClaims): Promise<PlaybackCamera> {
    const key = `${claims.userId}:${claims.cameraId}:${claims.sessionVersion}`
    const cached = this.access.get(key)
    if (cached && Date.now() - cached.atMs < ACCESS_RECHECK_MS) return cached.camera
    const principal = await this.hub.db.withTenant({ tenantId: claims.tenantId }, (tx) =>
      loadPrincipal(tx, claims.userId, this.hub.systemTenantId),
    )
    if (!principal || principal.tenantId !== claims.tenantId)
      throw unauthenticated('the user no longer exists', 'invalid_token')
    if (principal.disabled) throw unauthenticated('the account is disabled', 'invalid_token')
    if (principal.sessionVersion !== claims.sessionVersion)
      throw unauthenticated('the session has ended', 'invalid_token')
    const camera = await this.hub.db.withTenant(scopeOf(principal), async (tx) => {
      const c = await visibleCamera(tx, principal, claims.cameraId)
      if (!can(principal, 'camera.playback', cameraResource(c))) throw forbidden()
      if (!c.agentId) throw conflict('this camera is not assigned to an agent', 'camera_unassigned')
      return { id: c.id, tenantId: c.tenantId, agentId: c.agentId }
    })
    this.access.delete(key)
    this.access.set(key, { camera, atMs: Date.now() })
    for (const k of this.access.keys()) {
      if (this.access.size <= MAX_ACCESS_ENTRIES) break
      this.access.delete(k)
    }
    return camera
  }

  /** Verifies a segment token for this camera; 401 when missing, forged or expired, 403 for another camera. */
  verifyToken(token: string | undefined, cameraId: string): PlaybackClaims {
    if (!token)
      throw unauthenticated(
        'a playback token is required (segment addresses from the playlist carry one)',
        'invalid_token',
      )
    try {
      return this.tokens.verify(token, cameraId)
    } catch (err) {
      if (!(err instanceof PlaybackTokenError)) throw err
      if (err.reason === 'wrong_camera') throw forbidden(err.message, 'wrong_camera')
      throw unauthenticated(err.message, err.reason === 'expired' ? 'token_expired' : 'invalid_token')
    }
  }

  /**
   * Opens a segment: from the cache, or fetched once from the camera's agent (AgentRequestError
   * when that fails; 503 `agent_offline` when the agent is not connected).
   */
  async open(camera: PlaybackCamera, part: PlaybackPart): Promise<OpenedSegment> {
    const key =
      part.kind === 'init'
        ? `init:${camera.id}:${part.init}`
        : `media:${camera.id}:${mediaName(part.file, part.startMs, part.first, part.count)}`
    const opened = await this.cache.open(key, () => this.fetch(camera, part))
    this.requests.inc({ kind: part.kind, cache: opened.source })
    return opened
  }

  private async fetch(camera: PlaybackCamera, part: PlaybackPart): Promise<string> {
    const rows: { status: string }[] = await this.hub.db.withTenant({ tenantId: camera.tenantId }, (tx) =>
      tx.execute('select status from agents where id = ?', [camera.agentId]),
    )
    if (rows[0]?.status !== 'online')
      throw unavailable(
        "the camera's agent is not connected to the hub; its video is available when it returns",
        'agent_offline',
      )
    let requestId = ''
    try {
      const file = await this.hub.agents.requests.call<string>(
        camera.agentId,
        this.hub.config.VMS_PLAYBACK_SEGMENT_TIMEOUT_MS,
        (id) => {
          requestId = id
          this.expected.set(id, { kind: part.kind, ...(part.kind === 'init' ? { initKey: part.init } : {}) })
          return {
            op: 'recordings.segment',
            cameraId: camera.id,
            part,
            uploadPath: `/api/v1/agent/uploads/${id}`,
          }
        },
      )
      this.fetches.inc({ kind: part.kind, outcome: 'ok' })
      return file
    } catch (err) {
      this.fetches.inc({ kind: part.kind, outcome: 'error' })
      throw err
    } finally {
      this.expected.delete(requestId)
    }
  }

  /** What an upload for this request must be, if the hub is waiting for one. */
  expectedUpload(requestId: string): Omit<ExpectedSegment, 'bytes' | 'sha256'> | undefined {
    return this.expected.get(requestId)
  }

  /** Largest upload accepted for a kind. */
  maxBytes(kind: 'init' | 'media'): number {
    return kind === 'init' ? MAX_INIT_BYTES : this.hub.config.VMS_PLAYBACK_MAX_SEGMENT_BYTES
  }
}
