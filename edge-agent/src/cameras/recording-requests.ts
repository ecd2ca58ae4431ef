import { createHash } from 'node:crypto'
import { createReadStream, mkdirSync, rmSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import {
  type DownRequest,
  type ExportMeta,
  PLAYBACK_MAX_PART_FRAGMENTS,
  type RecordedRangesResult,
  type RecordingSegmentsResult,
  type SegmentUploadMeta,
  type UpResponse,
} from '@ts-vms/shared'
import type { Logger } from 'pino'
import type { Credentials } from '../credentials.ts'
import { answerRequest } from '../link/answer-request.ts'
import { hubHttpsAgent } from '../link/hub-tls.ts'
import { type ExportResult, exportRange, RangeUnavailableError } from '../recorder/export.ts'
import { PlaybackSource, PlaybackUnavailableError } from '../recorder/playback.ts'
import { recordedRanges } from '../recorder/recorded-ranges.ts'
import type { RecordingIndex } from '../recorder/recording-index.ts'

/**
 * The agent's side of playback and export: it answers the hub's `down/request`s from its own
 * recordings. A listing goes back on `up/response`; an export is built into a temporary file and
 * uploaded over HTTPS to the hub (outbound, like everything the agent does), then removed.
 * HLS playback (`recordings.segments`, `recordings.segment`, see recorder/playback.ts) lists the
 * range's media segments on `up/response` and uploads one init section or media segment at a time
 * the same way as an export, from memory (a segment is a few seconds of video).
 */
const MAX_CONCURRENT_EXPORTS = 2
const MAX_CONCURRENT_SEGMENTS = 4
const iso = (ms: number) => new Date(ms).toISOString()

export interface RecordingRequestsOptions {
  index: RecordingIndex
  credentials: Credentials
  tmpDir: string
  logger: Logger
  respond: (response: Omit<UpResponse, 'v'>) => Promise<void>
}

type RecordingRequest = Extract<
  DownRequest,
  { op: 'recordings.list' | 'recordings.export' | 'recordings.segments' | 'recordings.segment' }
>

/** At most `max` at once; the rest wait their turn. */
class Slots {
  private running = 0
  private readonly waiting: (() => void)[] = []
  constructor(private readonly max: number) {}

  async take(): Promise<() => void> {
    if (this.running >= this.max) await new Promise<void>((r) => this.waiting.push(r))
    this.running++
    return () => {
      this.running--
      this.waiting.shift()?.()
    }
  }
}

export class RecordingRequests {
  private readonly exports = new Slots(MAX_CONCURRENT_EXPORTS)
  private readonly segments = new Slots(MAX_CONCURRENT_SEGMENTS)
  private readonly playback: PlaybackSource

  constructor(private readonly o: RecordingRequestsOptions) {
    rmSync(o.tmpDir, { recursive: true, force: true })
    mkdirSync(o.tmpDir, { recursive: true, mode: 0o700 })
    this.playback = new PlaybackSource(o.index, { maxPartFragments: PLAYBACK_MAX_PART_FRAGMENTS })
  }

  handle(request: RecordingRequest): Promise<void> {
    return answerRequest(
      request,
      this.o,
      async () => {
        switch (request.op) {
          case 'recordings.list':
            return this.list(request)
          case 'recordings.segments':
            return this.segmentList(request)
          case 'recordings.segment':
            await this.segment(request)
            return undefined // answered by the upload
          default:
            await this.export(request)
            return undefined // answered by the upload
        }
      },
      (err) =>
        err instanceof RangeUnavailableError
          ? { status: 404, code: 'range_unavailable', message: err.message }
          : err instanceof PlaybackUnavailableError
            ? { status: 404, code: 'segment_unavailable', message: err.message }
            : undefined,
    )
  }

  segmentList(
    request: Extract<DownRequest, { op: 'recordings.segments' }>,
  ): Promise<RecordingSegmentsResult> {
    return this.playback.list(
      {
        cameraId: request.cameraId,
        fromMs: Date.parse(request.from),
        toMs: Date.parse(request.to),
        targetMs: request.targetMs,
      },
      request.after,
    )
  }

  private async segment(request: Extract<DownRequest, { op: 'recordings.segment' }>): Promise<void> {
    const release = await this.segments.take()
    try {
      const { part } = request
      const bytes =
        part.kind === 'init'
          ? await this.playback.initSection(request.cameraId, part)
          : await this.playback.mediaSegment(request.cameraId, part)
      const meta: SegmentUploadMeta = {
        kind: part.kind,
        bytes: bytes.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
      }
      await this.put(request.uploadPath, { 'x-vms-segment': JSON.stringify(meta) }, bytes.length, (req) =>
        req.end(bytes),
      )
    } finally {
      release()
    }
  }

  list(request: { cameraId: string; from: string; to: string }): RecordedRangesResult {
    const fromMs = Date.parse(request.from)
    const toMs = Date.parse(request.to)
    const r = recordedRanges(
      this.o.index.segmentsBetween(request.cameraId, fromMs, toMs),
      this.o.index.gapsBetween(request.cameraId, fromMs, toMs),
      { fromMs, toMs },
    )
    return {
      ranges: r.ranges.slice(0, 5000).map((x) => ({
        stream: x.stream === 'sub' ? 'sub' : 'main',
        from: iso(x.fromMs),
        to: iso(x.toMs),
        codec: x.codec,
        width: x.width,
        height: x.height,
        bytes: x.bytes,
        segments: x.segments,
        open: x.open,
      })),
      gaps: r.gaps.slice(0, 5000).map((g) => ({
        stream: g.stream === 'sub' ? 'sub' : 'main',
        from: iso(g.fromMs),
        to: g.toMs === null ? null : iso(g.toMs),
        reason: g.reason.slice(0, 500),
      })),
    }
  }

  private async export(request: Extract<DownRequest, { op: 'recordings.export' }>): Promise<void> {
    const release = await this.exports.take()
    const file = path.join(this.o.tmpDir, `${request.id}.mp4`)
    try {
      const result = await exportRange(
        this.o.index,
        { cameraId: request.cameraId, fromMs: Date.parse(request.from), toMs: Date.parse(request.to) },
        file,
      )
      await this.upload(request.uploadPath, result)
      this.o.logger.info(
        { id: request.id, camera: request.cameraId, bytes: result.bytes, frames: result.frames },
        'export delivered',
      )
    } finally {
      rmSync(file, { force: true })
      release()
    }
  }

  private async upload(uploadPath: string, result: ExportResult): Promise<void> {
    const meta: ExportMeta = {
      sha256: result.sha256,
      bytes: result.bytes,
      start: iso(result.startMs),
      end: iso(result.endMs),
      frames: result.frames,
      codec: result.codec,
      width: result.width,
      height: result.height,
      segments: result.segments,
      ...(result.truncatedAtMs !== undefined ? { truncatedAt: iso(result.truncatedAtMs) } : {}),
    }
    await this.put(uploadPath, { 'x-vms-export': JSON.stringify(meta) }, result.bytes, (req, reject) =>
      pipeline(createReadStream(result.file), req).catch(reject),
    )
  }

  /** PUTs a body to the hub with the agent's credentials; resolves on 204. */
  private async put(
    uploadPath: string,
    headers: Record<string, string>,
    bytes: number,
    send: (req: http.ClientRequest, reject: (err: Error) => void) => void,
  ): Promise<void> {
    const url = new URL(uploadPath, `${this.o.credentials.hubUrl}/`)
    const auth = Buffer.from(`${this.o.credentials.agentId}:${this.o.credentials.secret}`).toString('base64')
    const pinned = url.protocol === 'https:' ? hubHttpsAgent(this.o.credentials) : undefined
    const transport = url.protocol === 'https:' ? https : http
    await new Promise<void>((resolve, reject) => {
      const req = transport.request(
        url,
        {
          method: 'PUT',
          headers: {
            authorization: `Basic ${auth}`,
            'content-type': 'video/mp4',
            'content-length': String(bytes),
            ...headers,
          },
          timeout: 60_000,
          ...(pinned ? { agent: pinned } : {}),
        },
        (res) => {
          let body = ''
          res.setEncoding('utf8')
          res.on('data', (d: string) => {
            if (body.length < 2000) body += d
          })
          res.on('end', () => {
            if (res.statusCode === 204) resolve()
            else reject(new Error(`the hub refused the upload (${res.statusCode}): ${body.slice(0, 300)}`))
          })
        },
      )
      req.on('timeout', () => req.destroy(new Error('upload timed out')))
      req.on('error', reject)
      send(req, reject)
    })
  }
}
