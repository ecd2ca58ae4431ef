/**
 * The record benchmark's subject, in its own process so that its CPU time is its own: records RTSP
 * URLs concurrently exactly as the agent does (CameraStream, Recorder with 60 s segments, one
 * RecordingIndex), over TCP-interleaved transport.
 *   node --import tsx bench/suites/record-worker.ts DIR SECONDS URL...
 * Once every stream has written its first frame it prints `{"event":"window"}`, measures SECONDS
 * of steady recording, prints `{"event":"end"}`, stops (closing the segments) and prints the
 * RecordWorkerResult as one JSON line.
 */
import { statSync } from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import pino from 'pino'
import type { AccessUnit } from '../../edge-agent/src/media/codec/access-unit.ts'
import { CameraStream } from '../../edge-agent/src/media/core/camera-stream.ts'
import type { Subscription } from '../../edge-agent/src/media/core/producer.ts'
import type { StreamInfo } from '../../edge-agent/src/media/rtsp/client.ts'
import { Recorder } from '../../edge-agent/src/recorder/recorder.ts'
import { RecordingIndex } from '../../edge-agent/src/recorder/recording-index.ts'

export interface RecordWorkerStream {
  id: string
  /** Media time written by the recorder during the window, in seconds. */
  writtenSeconds: number
  /** Media time received from the camera during the window, in seconds. */
  receivedSeconds: number
  /** Frames the producer queue dropped during the window (the recorder fell behind). */
  dropped: number
  /** RTP packets lost during the window. */
  lostPackets: number
  /** Totals over the whole run (from the first keyframe to the stop). */
  frames: number
  segments: number
  indexBytes: number
  diskBytes: number
  indexMediaSeconds: number
  files: string[]
}

export interface RecordWorkerResult {
  event: 'result'
  error?: string
  wallSeconds: number
  cpuSeconds: number
  /** Event-loop utilisation during the window (1 = the thread never idled). */
  elu: number
  streams: RecordWorkerStream[]
}

const CLOCK = 90_000
const [dir, secondsArg, ...urls] = process.argv.slice(2)
if (!dir || !secondsArg || urls.length === 0) {
  console.error('usage: record-worker.ts DIR SECONDS URL...')
  process.exit(2)
}
const seconds = Number(secondsArg)
const emit = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`)
const logger = pino({ level: 'silent' })
const index = new RecordingIndex(path.join(dir, 'index.db'))

const streams = urls.map((url, i) => {
  const id = `cam${i}`
  const stream = new CameraStream(id, { url, transport: 'tcp' }, logger)
  const recorder = new Recorder({ cameraId: id, stream: 'main', dir, index, segmentSeconds: 60, logger })
  const s = { id, stream, recorder, received: -1, written: -1, sub: undefined as Subscription | undefined }
  // Watch what arrives (before the queue) and what the recorder wrote (after it), by timestamp.
  const produce = stream.producer.frame.bind(stream.producer)
  stream.producer.frame = (au: AccessUnit) => {
    s.received = au.timestamp
    produce(au)
  }
  s.sub = stream.producer.subscribe({
    name: 'recorder',
    start: (info: StreamInfo) => recorder.start(info),
    frame: async (au: AccessUnit) => {
      const before = recorder.frames
      await recorder.frame(au)
      if (recorder.frames > before) s.written = au.timestamp
    },
    stop: (reason: string) => recorder.stop(reason),
  })
  stream.start()
  return s
})

const snapshot = () =>
  streams.map((s) => ({
    received: s.received,
    written: s.written,
    dropped: s.sub?.dropped ?? 0,
    lost: s.stream.stats().lostPackets,
  }))

let error: string | undefined
const deadline = performance.now() + 30_000
while (streams.some((s) => s.written < 0) && performance.now() < deadline)
  await new Promise((r) => setTimeout(r, 20))
if (streams.some((s) => s.written < 0))
  error = `${streams.filter((s) => s.written < 0).length} stream(s) wrote nothing within 30 s`

let wallSeconds = 0
let cpuSeconds = 0
let elu = 0
let window: { dropped: number; lost: number; receivedSeconds: number; writtenSeconds: number }[] = []
if (!error) {
  emit({ event: 'window' })
  const before = snapshot()
  const cpu0 = process.cpuUsage()
  const elu0 = performance.eventLoopUtilization()
  const t0 = performance.now()
  await new Promise((r) => setTimeout(r, seconds * 1000))
  const after = snapshot()
  const cpu = process.cpuUsage(cpu0)
  cpuSeconds = (cpu.user + cpu.system) / 1e6
  elu = performance.eventLoopUtilization(elu0).utilization
  wallSeconds = (performance.now() - t0) / 1000
  emit({ event: 'end' })
  window = after.map((a, i) => {
    const b = before[i] as (typeof before)[number]
    return {
      dropped: a.dropped - b.dropped,
      lost: a.lost - b.lost,
      receivedSeconds: (a.received - b.received) / CLOCK,
      writtenSeconds: (a.written - b.written) / CLOCK,
    }
  })
}

for (const s of streams) {
  await s.stream.stop()
  await s.sub?.idle()
}
const result: RecordWorkerResult = {
  event: 'result',
  ...(error ? { error } : {}),
  wallSeconds,
  cpuSeconds,
  elu,
  streams: streams.map((s, i) => {
    const segments = index.segmentsBetween(s.id, 0, Number.MAX_SAFE_INTEGER)
    const w = window[i]
    return {
      id: s.id,
      writtenSeconds: w?.writtenSeconds ?? 0,
      receivedSeconds: w?.receivedSeconds ?? 0,
      dropped: w?.dropped ?? 0,
      lostPackets: w?.lost ?? 0,
      frames: s.recorder.frames,
      segments: segments.length,
      indexBytes: segments.reduce((n, g) => n + g.bytes, 0),
      diskBytes: segments.reduce((n, g) => n + (statSync(g.path, { throwIfNoEntry: false })?.size ?? 0), 0),
      indexMediaSeconds: segments.reduce((n, g) => n + (g.end_ms - g.start_ms) / 1000, 0),
      files: segments.map((g) => g.path),
    }
  }),
}
index.close()
process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0))
