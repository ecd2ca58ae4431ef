import { createReadStream, mkdirSync, rmSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { DownRequest, ExportMeta, RecordedRangesResult, UpResponse } from '@ts-vms/shared'
import type { Logger } from 'pino'
import type { Credentials } from '../credentials.ts'
import { answerRequest } from '../link/answer-request.ts'
import { type ExportResult, exportRange, RangeUnavailableError } from '../recorder/export.ts'
import { recordedRanges } from '../recorder/recorded-ranges.ts'
import type { RecordingIndex } from '../recorder/recording-index.ts'

/**
 * The agent's side of playback and export: it answers the hub's `down/request`s from its own
 * recordings. A listing goes back on `up/response`; an export is built into a temporary file and
 * uploaded over HTTPS to the hub (outbound, like everything the agent does), then removed.
 */
const MAX_CONCURRENT_EXPORTS = 2
const iso = (ms: number) => new Date(ms).toISOString()

export interface RecordingRequestsOptions {
  index: RecordingIndex
  credentials: Credentials
  tmpDir: string
  logger: Logger
  respond: (response: Omit<UpResponse, 'v'>) => Promise<void>
}

export class RecordingRequests {
  private running = 0
  private readonly waiting: (() => void)[] = []

  constructor(private readonly o: RecordingRequestsOptions) {
    rmSync(o.tmpDir, { recursive: true, force: true })
    mkdirSync(o.tmpDir, { recursive: true, mode: 0o700 })
  }

  handle(request: Extract<DownRequest, { op: 'recordings.list' | 'recordings.export' }>): Promise<void> {
    return answerRequest(
      request,
      this.o,
      async () => {
        if (request.op === 'recordings.list') return this.list(request)
        await this.export(request)
        return undefined // answered by the upload
      },
      (err) =>
        err instanceof RangeUnavailableError
          ? { status: 404, code: 'range_unavailable', message: err.message }
          : undefined,
    )
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

  private async slot(): Promise<() => void> {
    if (this.running >= MAX_CONCURRENT_EXPORTS) await new Promise<void>((r) => this.waiting.push(r))
    this.running++
    return () => {
      this.running--
      this.waiting.shift()?.()
    }
  }

  private async export(request: Extract<DownRequest, { op: 'recordings.export' }>): Promise<void> {
    const release = await this.slot()
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
    const url = new URL(uploadPath, `${this.o.credentials.hubUrl}/`)
    const auth = Buffer.from(`${this.o.credentials.agentId}:${this.o.credentials.secret}`).toString('base64')
    const transport = url.protocol === 'https:' ? https : http
    await new Promise<void>((resolve, reject) => {
      const req = transport.request(
        url,
        {
          method: 'PUT',
          headers: {
            authorization: `Basic ${auth}`,
            'content-type': 'video/mp4',
            'content-length': String(result.bytes),
            'x-vms-export': JSON.stringify(meta),
          },
          timeout: 60_000,
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
      pipeline(createReadStream(result.file), req).catch(reject)
    })
  }
}
