import type { CameraProbeHealth, StreamRole } from '@ts-vms/shared'
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client'

/**
 * The agent's Prometheus metrics (issue 14), computed when scraped from what the agent already
 * keeps for its heartbeat: nothing is counted twice, and a camera removed from the configuration
 * leaves the metrics at the next scrape. Its own registry: tests run several agents in one process.
 */

/** One stream of a camera as the camera manager reports it. */
export interface StreamSample {
  role: StreamRole
  state: string
  bitrateBps: number
  fps: number
  droppedFrames?: number
  reconnects: number
}

export interface CameraSample {
  id: string
  name: string
  streams: readonly StreamSample[]
  probe?: CameraProbeHealth
}

export interface DiskSample {
  /** `data` (outbox, settings) or `recordings` (segments); the same disk may appear twice. */
  disk: 'data' | 'recordings'
  freeBytes: number
  totalBytes: number
}

/** Where the metrics come from, read at each scrape. */
export interface MetricsSource {
  cameras(): readonly CameraSample[]
  disks(): Promise<readonly DiskSample[]>
  outbox(): { depth: number; bytes: number }
}

const STREAM_LABELS = ['camera_id', 'camera_name', 'stream'] as const
const CAMERA_LABELS = ['camera_id', 'camera_name'] as const

type StreamLabels = Record<(typeof STREAM_LABELS)[number], string>

/** A stream's labels; the camera name is free text, which the exposition format escapes. */
export const streamLabels = (c: CameraSample, s: StreamSample): StreamLabels => ({
  camera_id: c.id,
  camera_name: c.name,
  stream: s.role,
})

export class AgentMetrics {
  readonly registry = new Registry()

  constructor(source: MetricsSource) {
    this.registry.setDefaultLabels({ service: 'ts-vms-agent' })
    collectDefaultMetrics({ register: this.registry, prefix: 'vms_agent_' })
    const registers = [this.registry]
    const perStream = (
      set: (g: Gauge<(typeof STREAM_LABELS)[number]>, c: CameraSample, s: StreamSample) => void,
    ) =>
      function (this: Gauge<(typeof STREAM_LABELS)[number]>) {
        this.reset() // cameras and streams that went away leave no stale series
        for (const c of source.cameras()) for (const s of c.streams) set(this, c, s)
      }
    // Counters are read from the streams' own counts (which restart with a stream: Prometheus
    // takes a drop as a counter reset), so they are set rather than incremented.
    const streamCounter = (name: string, help: string, value: (s: StreamSample) => number) =>
      new Counter({
        name,
        help,
        labelNames: STREAM_LABELS,
        registers,
        collect() {
          this.reset()
          for (const c of source.cameras()) for (const s of c.streams) this.inc(streamLabels(c, s), value(s))
        },
      })

    new Gauge({
      name: 'vms_agent_stream_up',
      help: '1 while the camera stream is streaming, else 0',
      labelNames: STREAM_LABELS,
      registers,
      collect: perStream((g, c, s) => g.set(streamLabels(c, s), s.state === 'streaming' ? 1 : 0)),
    })
    new Gauge({
      name: 'vms_agent_stream_bitrate_bits_per_second',
      help: 'Bitrate of the camera stream over the last seconds',
      labelNames: STREAM_LABELS,
      registers,
      collect: perStream((g, c, s) => g.set(streamLabels(c, s), s.bitrateBps)),
    })
    new Gauge({
      name: 'vms_agent_stream_fps',
      help: 'Frames per second of the camera stream over the last seconds',
      labelNames: STREAM_LABELS,
      registers,
      collect: perStream((g, c, s) => g.set(streamLabels(c, s), s.fps)),
    })
    streamCounter(
      'vms_agent_stream_dropped_frames_total',
      'Frames of the camera stream dropped (oversized, or waiting for the next keyframe after one)',
      (s) => s.droppedFrames ?? 0,
    )
    streamCounter(
      'vms_agent_stream_reconnects_total',
      'Reconnections of the camera stream',
      (s) => s.reconnects,
    )
    new Gauge({
      name: 'vms_agent_camera_probe_latency_seconds',
      help: 'Latency of the last health probe of the camera (RTSP OPTIONS and DESCRIBE); absent while its stream streams',
      labelNames: CAMERA_LABELS,
      registers,
      collect() {
        this.reset()
        for (const c of source.cameras())
          if (c.probe?.latencyMs != null)
            this.set({ camera_id: c.id, camera_name: c.name }, c.probe.latencyMs / 1000)
      },
    })
    new Gauge({
      name: 'vms_agent_camera_reachable',
      help: '1 when the last health probe reached the camera (or its stream streams), else 0',
      labelNames: CAMERA_LABELS,
      registers,
      collect() {
        this.reset()
        for (const c of source.cameras())
          if (c.probe) this.set({ camera_id: c.id, camera_name: c.name }, c.probe.reachable ? 1 : 0)
      },
    })
    const disk = (name: string, help: string, value: (d: DiskSample) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['disk'] as const,
        registers,
        async collect() {
          this.reset()
          for (const d of await source.disks()) this.set({ disk: d.disk }, value(d))
        },
      })
    disk(
      'vms_agent_disk_free_bytes',
      'Free bytes on the disk (data: outbox; recordings: segments)',
      (d) => d.freeBytes,
    )
    disk('vms_agent_disk_total_bytes', 'Size of the disk in bytes', (d) => d.totalBytes)
    new Gauge({
      name: 'vms_agent_outbox_depth',
      help: 'Records in the outbox waiting for the hub to acknowledge them',
      registers,
      collect() {
        this.set(source.outbox().depth)
      },
    })
    new Gauge({
      name: 'vms_agent_outbox_bytes',
      help: 'Bytes of the records in the outbox',
      registers,
      collect() {
        this.set(source.outbox().bytes)
      },
    })
  }

  /** The exposition text (Prometheus format 0.0.4). */
  metrics(): Promise<string> {
    return this.registry.metrics()
  }

  get contentType(): string {
    return this.registry.contentType
  }
}
