import type { CameraHealth, healthBody } from '@ts-vms/shared'
import type { Logger } from 'pino'
import type { z } from 'zod'
import type { Database, Tx } from '../db/database.ts'

/**
 * Fleet health storage (issue 17). An agent's latest heartbeat is one row (`agents.last_health`,
 * overwritten); its history is one row per agent per `HEALTH_BUCKET_MINUTES`, upserted by each
 * heartbeat of the bucket: extremes over the bucket for the agent's own figures, and the last
 * sample's compact per-camera figures. So 1,000 agents heartbeating every 10 s write 1,000 small
 * row updates a 10 s, and keep 288 rows per agent per day, whatever their number of cameras.
 */
export const HEALTH_BUCKET_MINUTES = 5
const BUCKET_MS = HEALTH_BUCKET_MINUTES * 60_000

type HealthBody = z.infer<typeof healthBody>

/**
 * One camera in a bucket (its last sample): `[cameraId, streams streaming, fps of the first stream
 * streaming, kbit/s summed over its streams, lost packets, reconnects, reachable (1, 0, null: not
 * probed)]`. Packets and reconnects are the agent's counters since it started (a difference
 * between two buckets is what happened between them). An array, not an object: 16 cameras x 288
 * buckets a day is the bulk of the table.
 */
export type CameraFigures = [string, number, number, number, number, number, 0 | 1 | null]

/** A heartbeat reduced to what its bucket row keeps. */
export interface HealthSample {
  at: Date
  bucketStart: Date
  cameras: number
  streaming: number
  unreachable: number
  outboxDepth: number | null
  outboxAgeSeconds: number | null
  diskFreeBytes: number | null
  diskTotalBytes: number | null
  recordingBytes: number | null
  cameraFigures: CameraFigures[]
}

const isStreaming = (c: CameraHealth) => c.streams.some((s) => s.state === 'streaming')

/** The start of the bucket a time falls in. */
export function bucketStart(at: Date): Date {
  return new Date(Math.floor(at.getTime() / BUCKET_MS) * BUCKET_MS)
}

/**
 * A heartbeat as its history keeps it. `at` is when the hub committed it (the agent's own `at` may
 * be off by its clock's drift, and a bucket is about when the hub knew).
 */
export function healthSample(body: HealthBody, at: Date): HealthSample {
  const cameras = body.cameras ?? []
  const figures = cameras.map((c): CameraFigures => {
    const streaming = c.streams.filter((s) => s.state === 'streaming')
    const kbps = streaming.reduce((sum, s) => sum + s.bitrateBps, 0) / 1000
    return [
      c.id,
      streaming.length,
      Math.round((streaming[0]?.fps ?? 0) * 10) / 10,
      Math.round(kbps),
      c.streams.reduce((sum, s) => sum + s.lostPackets, 0),
      c.streams.reduce((sum, s) => sum + s.reconnects, 0),
      c.probe ? (c.probe.reachable ? 1 : 0) : null,
    ]
  })
  return {
    at,
    bucketStart: bucketStart(at),
    cameras: cameras.length,
    streaming: cameras.filter(isStreaming).length,
    unreachable: cameras.filter((c) => c.probe?.reachable === false).length,
    outboxDepth: body.outbox.depth,
    outboxAgeSeconds: body.outbox.oldestAgeSeconds ?? null,
    diskFreeBytes: body.disk?.freeBytes ?? null,
    diskTotalBytes: body.disk?.totalBytes ?? null,
    recordingBytes: body.recording?.bytes ?? null,
    cameraFigures: figures,
  }
}

/** Adds a heartbeat to its agent's bucket (one upsert, in the batch's transaction). */
export async function recordHealthSample(
  tx: Tx,
  agent: { id: string; tenantId: string },
  s: HealthSample,
): Promise<void> {
  await tx.execute(
    `insert into agent_health_history as h (tenant_id, agent_id, bucket_start, samples, first_at, last_at,
       cameras, streaming_min, streaming_last, unreachable_max, outbox_depth_max, outbox_age_max_seconds,
       disk_free_min, disk_total, recording_bytes, camera_figures)
     values (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb)
     on conflict (agent_id, bucket_start) do update set
       samples = h.samples + 1,
       last_at = greatest(h.last_at, excluded.last_at),
       cameras = excluded.cameras,
       streaming_min = least(h.streaming_min, excluded.streaming_min),
       streaming_last = excluded.streaming_last,
       unreachable_max = greatest(h.unreachable_max, excluded.unreachable_max),
       outbox_depth_max = greatest(h.outbox_depth_max, excluded.outbox_depth_max),
       outbox_age_max_seconds = greatest(h.outbox_age_max_seconds, excluded.outbox_age_max_seconds),
       disk_free_min = least(h.disk_free_min, excluded.disk_free_min),
       disk_total = coalesce(excluded.disk_total, h.disk_total),
       recording_bytes = coalesce(excluded.recording_bytes, h.recording_bytes),
       camera_figures = excluded.camera_figures`,
    [
      agent.tenantId,
      agent.id,
      s.bucketStart,
      s.at,
      s.at,
      s.cameras,
      s.streaming,
      s.streaming,
      s.unreachable,
      s.outboxDepth,
      s.outboxAgeSeconds,
      s.diskFreeBytes,
      s.diskTotalBytes,
      s.recordingBytes,
      JSON.stringify(s.cameraFigures),
    ],
  )
}

/** A bucket as the API shows it. */
export interface HealthBucket {
  bucketStart: string
  samples: number
  firstAt: string
  lastAt: string
  cameras: number
  streamingMin: number
  streamingLast: number
  unreachableMax: number
  outboxDepthMax: number | null
  outboxAgeMaxSeconds: number | null
  diskFreeMinBytes: number | null
  diskTotalBytes: number | null
  recordingBytes: number | null
  cameraFigures: {
    cameraId: string
    streaming: number
    fps: number
    kbps: number
    lostPackets: number
    reconnects: number
    reachable: boolean | null
  }[]
}

interface BucketRow {
  bucket_start: Date
  samples: number
  first_at: Date
  last_at: Date
  cameras: number
  streaming_min: number
  streaming_last: number
  unreachable_max: number
  outbox_depth_max: string | null
  outbox_age_max_seconds: number | null
  disk_free_min: string | null
  disk_total: string | null
  recording_bytes: string | null
  camera_figures: CameraFigures[]
}

const num = (v: string | number | null) => (v === null ? null : Number(v))

/** Most buckets one read returns (a week of 5-minute buckets). */
export const MAX_HEALTH_BUCKETS = 7 * 24 * (60 / HEALTH_BUCKET_MINUTES)

/** An agent's buckets from `from` (inclusive) to `to` (exclusive), oldest first. */
export async function readHealthHistory(
  tx: Tx,
  agentId: string,
  from: Date,
  to: Date,
): Promise<HealthBucket[]> {
  const rows: BucketRow[] = await tx.execute(
    `select bucket_start, samples, first_at, last_at, cameras, streaming_min, streaming_last, unreachable_max,
            outbox_depth_max, outbox_age_max_seconds, disk_free_min, disk_total, recording_bytes, camera_figures
       from agent_health_history
      where agent_id = ? and bucket_start >= ? and bucket_start < ?
      order by bucket_start limit ${MAX_HEALTH_BUCKETS}`,
    [agentId, bucketStart(from), to],
  )
  return rows.map((r) => ({
    bucketStart: new Date(r.bucket_start).toISOString(),
    samples: r.samples,
    firstAt: new Date(r.first_at).toISOString(),
    lastAt: new Date(r.last_at).toISOString(),
    cameras: r.cameras,
    streamingMin: r.streaming_min,
    streamingLast: r.streaming_last,
    unreachableMax: r.unreachable_max,
    outboxDepthMax: num(r.outbox_depth_max),
    outboxAgeMaxSeconds: r.outbox_age_max_seconds,
    diskFreeMinBytes: num(r.disk_free_min),
    diskTotalBytes: num(r.disk_total),
    recordingBytes: num(r.recording_bytes),
    cameraFigures: r.camera_figures.map(
      ([cameraId, streaming, fps, kbps, lostPackets, reconnects, reachable]) => ({
        cameraId,
        streaming,
        fps,
        kbps,
        lostPackets,
        reconnects,
        reachable: reachable === null ? null : reachable === 1,
      }),
    ),
  }))
}

/** Deletes buckets older than `days` (every tenant's; the system role). Returns the rows removed. */
export async function purgeHealthHistory(db: Database, now: Date, days: number): Promise<number> {
  const cutoff = new Date(now.getTime() - days * 86_400_000)
  return db.withSystem(async (tx) => {
    const rows: { n: number }[] = await tx.execute(
      `with gone as (delete from agent_health_history where bucket_start < ? returning 1)
       select count(*)::int as n from gone`,
      [cutoff],
    )
    return rows[0]?.n ?? 0
  })
}

/** Retention of the health history: shortly after start, then hourly. */
export function startHealthHistoryRetention(o: { db: Database; logger: Logger; days: number }): {
  stop(): Promise<void>
} {
  let running: Promise<unknown> = Promise.resolve()
  const prune = () => {
    running = running
      .then(async () => {
        const n = await purgeHealthHistory(o.db, new Date(), o.days)
        if (n > 0) o.logger.info({ removed: n, days: o.days }, 'health history pruned')
      })
      .catch((err: unknown) => o.logger.warn({ err }, 'health history retention failed'))
  }
  const timers = [setInterval(prune, 3600_000), setTimeout(prune, 30_000)]
  for (const t of timers) t.unref()
  return {
    async stop() {
      for (const t of timers) clearTimeout(t)
      await running
    },
  }
}
