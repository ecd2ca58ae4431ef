import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { analyticsConfigSchema, COCO_LABELS } from '@ts-vms/shared'
import pino from 'pino'
import { FrameDecoder } from '../../edge-agent/src/analytics/decode/frame-decoder.ts'
import { DetectorPool } from '../../edge-agent/src/analytics/detect/detector-pool.ts'
import type { ModelSpec } from '../../edge-agent/src/analytics/detect/model-catalog.ts'
import { CameraAnalytics, type StageMs } from '../../edge-agent/src/analytics/pipeline/camera-analytics.ts'
import type { Box, Detection, Frame } from '../../edge-agent/src/analytics/types.ts'
import type { AccessUnit } from '../../edge-agent/src/media/codec/access-unit.ts'
import { CameraStream } from '../../edge-agent/src/media/core/camera-stream.ts'
import type { Subscription } from '../../edge-agent/src/media/core/producer.ts'
import { findFfmpeg } from '../../edge-agent/src/media/ffmpeg.ts'
import type { StreamInfo } from '../../edge-agent/src/media/rtsp/client.ts'
import { Recorder } from '../../edge-agent/src/recorder/recorder.ts'
import { RecordingIndex } from '../../edge-agent/src/recorder/recording-index.ts'
import { encodePersonClip } from '../../scripts/lib/person-clip.ts'
import type { BenchResult } from '../run.ts'
import { positive } from './bench-env.ts'

/**
 * Analytics capacity (issue 13): how many cameras — 640x360 sub streams at 5 fps, each with a
 * person walking to and fro the whole time (so the motion gate never spares a frame) — one agent
 * process analyses in real time while it also records every one of them. Goal: at least 16 on the
 * 2-core machine.
 *
 * The bench process is the agent: per camera a CameraStream (RTSP over TCP) feeding a Recorder
 * (60 s segments, one RecordingIndex) and a FrameDecoder (one ffmpeg per camera, 5 fps), its
 * frames into a CameraAnalytics; every camera shares one DetectorPool of YOLOX-Nano sized to the
 * cores, as the agent's AnalyticsManager does: `DetectorPool.open(spec, cores)` as is, so each
 * detector is a WorkerDetector, a worker thread with its own onnxruntime session that letterboxes,
 * runs and decodes off the main thread. Events go nowhere (the agent's outbox is not part of
 * it); snapshots are written to disk as the agent does. The cameras are `record-sim.ts` in a process
 * of its own (its CPU is reported: it shares the machine).
 *
 * For each N (4, 8, 12, 16, 20 by default) after a warm-up, over a window: a camera keeps up when
 * it analysed at least 95 % of 5 fps, the pipeline dropped at most 5 % of the frames it was handed
 * (it drops a frame that arrives while the previous one is analysed), no queue dropped a frame, the
 * decoder skipped none for being behind, the recorder wrote at least 95 % of the wall time and the
 * 95th percentile of a frame's latency (camera frame time to the end of its analysis) stayed under
 * 1 s (no backlog). The search stops at the first N where a camera does not.
 *
 * Reference, in the same run: the same N cameras recorded only (no analytics), so the line shows
 * what analytics adds to recording. CPU per camera at the largest N that kept up, in ms of CPU per
 * second per camera (1000 = a whole core): decode is the ffmpeg processes' CPU (/proc/<pid>/task/<tid>/
 * schedstat, else utime+stime at CLK_TCK: Linux only); motion and tracking are their stages' wall
 * time (`CameraAnalytics.stats().stageMs`: synchronous code on the agent's main thread); inference
 * is the CPU of the detector threads (letterbox, session.run, output decode, all in the workers),
 * from /proc/self/task/<tid> (see `ThreadClock`); the rest of the main thread (recording, RTSP,
 * reading decoded frames, handing frames to the workers) is its CPU less the stages; the process's
 * other threads (V8's GC and compiler, libuv, sharp) are every thread but the main one and the
 * detectors'.
 *   VMS_BENCH_ANALYTICS_CAMERAS (4,8,12,16,20), VMS_BENCH_ANALYTICS_SECONDS (20),
 *   VMS_BENCH_ANALYTICS_WARMUP_SECONDS (5).
 */
const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '../..')
const MODEL = path.resolve(root, '../shared/models/yolox_nano.onnx')
const PERSON = path.resolve(root, '../shared/media/person.png')
const WIDTH = 640
const HEIGHT = 360
const FPS = 5
/** The clip: 20 s (100 frames) of a person walking from the left edge to the right and back. */
const CLIP_FRAMES = 100
const PERSON_HEIGHT = 160
const PERSON_TOP = 150
const BACKGROUND = 120
const GOAL = 16
const REALTIME = 0.95
const MAX_DROPPED = 0.05
const MAX_LATENCY_P95_MS = 1000
const CLOCK = 90_000

function cameraSteps(): number[] {
  const raw = process.env.VMS_BENCH_ANALYTICS_CAMERAS || '4,8,12,16,20'
  const steps = raw.split(',').map((s) => Number(s.trim()))
  if (steps.some((n) => !Number.isInteger(n) || n < 1))
    throw new Error(`VMS_BENCH_ANALYTICS_CAMERAS must list whole numbers, not '${raw}'`)
  return [...new Set(steps)].sort((a, b) => a - b)
}

// ---------------------------------------------------------------------------------------------
// CPU clocks (Linux /proc)

let clockTicks: number | undefined
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      clockTicks = 100
    }
  }
  return clockTicks
}

/** CPU ms of one thread: the scheduler's ns run time, else utime + stime in clock ticks. */
function taskCpuMs(dir: string): number {
  try {
    return Number(readFileSync(`${dir}/schedstat`, 'utf8').split(' ')[0]) / 1e6
  } catch {
    const stat = readFileSync(`${dir}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond()
  }
}

/** CPU ms a process has used so far, all its threads; undefined once it is gone. */
function processCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    return readdirSync(`/proc/${pid}/task`).reduce((t, tid) => t + taskCpuMs(`/proc/${pid}/task/${tid}`), 0)
  } catch {
    return undefined
  }
}

/** ms a thread has waited, runnable, for a core (schedstat's second field; 0 without it). */
function taskWaitMs(dir: string): number {
  try {
    return Number(readFileSync(`${dir}/schedstat`, 'utf8').split(' ')[1]) / 1e6 || 0
  } catch {
    return 0
  }
}

/** CPU and wait ms of each of this process's threads so far, by tid. */
function threadTimes(): Map<string, { cpuMs: number; waitMs: number }> {
  const times = new Map<string, { cpuMs: number; waitMs: number }>()
  for (const tid of readdirSync('/proc/self/task')) {
    const dir = `/proc/self/task/${tid}`
    try {
      times.set(tid, { cpuMs: taskCpuMs(dir), waitMs: taskWaitMs(dir) })
    } catch {
      // the thread ended
    }
  }
  return times
}

interface ThreadsWindow {
  /** The main thread (its tid is the pid): JavaScript, recording, RTSP, the pipeline's stages. */
  mainCpuMs: number
  mainWaitMs: number
  /** The detectors' worker threads: letterbox, session.run and output decode. */
  detectorCpuMs: number
  detectorWaitMs: number
  /** Every other thread of the process (V8's GC and compiler, libuv, sharp). */
  otherCpuMs: number
}

/**
 * Which of this process's threads are the detectors'. Node names every thread `node` (a Worker's
 * too, whatever its `name`), so the detector threads are told apart by when they appear: the
 * threads that start while the pool opens its first worker and while it opens the others. Each
 * WorkerDetector brings its worker's thread (where the inference runs) and a thread or two that
 * stay idle (tsx's loader hooks); all are counted as the detectors'. A thread that ends between
 * two samples loses its CPU since the first (process.cpuUsage() still has it).
 */
class ThreadClock {
  readonly detectors = new Set<string>()
  private readonly known = new Set(readdirSync('/proc/self/task'))

  /** Takes the threads started since the last call as the detectors'; returns how many. */
  claimNew(): number {
    let n = 0
    for (const tid of readdirSync('/proc/self/task')) {
      if (this.known.has(tid)) continue
      this.known.add(tid)
      this.detectors.add(tid)
      n++
    }
    return n
  }

  sample(): Map<string, { cpuMs: number; waitMs: number }> {
    return threadTimes()
  }

  /** The CPU (and wait) between two samples, by kind of thread. */
  window(
    before: Map<string, { cpuMs: number; waitMs: number }>,
    after: Map<string, { cpuMs: number; waitMs: number }>,
  ): ThreadsWindow {
    const w: ThreadsWindow = {
      mainCpuMs: 0,
      mainWaitMs: 0,
      detectorCpuMs: 0,
      detectorWaitMs: 0,
      otherCpuMs: 0,
    }
    for (const [tid, a] of after) {
      const b = before.get(tid) ?? { cpuMs: 0, waitMs: 0 }
      const cpu = a.cpuMs - b.cpuMs
      const wait = a.waitMs - b.waitMs
      if (tid === String(process.pid)) {
        w.mainCpuMs += cpu
        w.mainWaitMs += wait
      } else if (this.detectors.has(tid)) {
        w.detectorCpuMs += cpu
        w.detectorWaitMs += wait
      } else w.otherCpuMs += cpu
    }
    return w
  }
}

/**
 * Opens the pool as the agent does and grows it to its size at once (calls on a grey frame while
 * every detector is busy make it open the next), noting the threads each opening starts. The
 * agent's pool grows the same way in the first seconds of several cameras, before any window.
 */
async function openPool(
  spec: ModelSpec,
  size: number,
): Promise<{ pool: DetectorPool; threads: ThreadClock }> {
  // libuv's pool starts its threads on first use: before the clock, so they are not the detectors'.
  await stat(root)
  const threads = new ThreadClock()
  const pool = await DetectorPool.open(spec, size)
  threads.claimNew()
  const frame: Frame = {
    width: WIDTH,
    height: HEIGHT,
    time: 0,
    data: Buffer.alloc((WIDTH * HEIGHT * 3) / 2, 128),
  }
  const region: Box = { x1: 0, y1: 0, x2: HEIGHT, y2: HEIGHT }
  const deadline = performance.now() + 60_000
  while (pool.loaded < size && performance.now() < deadline) {
    const before = pool.loaded
    await Promise.all(Array.from({ length: pool.loaded + 1 }, () => pool.detect(frame, region, 0.3)))
    if (pool.loaded > before) threads.claimNew()
  }
  threads.claimNew()
  return { pool, threads }
}

/** What CameraAnalytics sees of the pool, counting the calls. */
interface CountedDetector {
  readonly inputSize: { width: number; height: number }
  calls: number
  detect(frame: Frame, region: Box, minScore: number): Promise<Detection[]>
}

function countCalls(pool: DetectorPool): CountedDetector {
  const counted: CountedDetector = {
    inputSize: pool.inputSize,
    calls: 0,
    detect(frame, region, minScore) {
      counted.calls++
      return pool.detect(frame, region, minScore)
    },
  }
  return counted
}

// ---------------------------------------------------------------------------------------------
// The clip

/** Encodes the clip (Annex B H.264 with AUDs, a keyframe a second, no B-frames), as a sub stream. */
async function makeWalkingClip(ffmpeg: string, file: string): Promise<{ personWidth: number }> {
  const half = CLIP_FRAMES / 2
  const { photoWidth } = await encodePersonClip({
    file,
    ffmpeg,
    photo: PERSON,
    photoHeight: PERSON_HEIGHT,
    width: WIDTH,
    height: HEIGHT,
    fps: FPS,
    frames: CLIP_FRAMES,
    top: PERSON_TOP,
    background: BACKGROUND,
    bitrateKbps: 300,
    // To the right over the first half, back over the second: the loop joins without a jump.
    left: (i, photoWidth) =>
      Math.round((i < half ? i / half : (CLIP_FRAMES - i) / half) * (WIDTH - photoWidth)),
  })
  return { personWidth: photoWidth }
}

// ---------------------------------------------------------------------------------------------
// The simulator (bench/suites/record-sim.ts, in its own process)

interface SimReport {
  cpuSeconds: number
  seconds: number
  elu: number
  lagP99Ms: number
}

class Sim {
  private readonly lines: AsyncIterator<string>
  private stderr = ''
  private constructor(
    readonly proc: ChildProcessWithoutNullStreams,
    readonly urls: string[],
    lines: AsyncIterator<string>,
  ) {
    this.lines = lines
  }

  static async start(clip: string, streams: number): Promise<Sim> {
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(here, 'record-sim.ts'), clip, String(FPS), String(streams)],
      { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] },
    )
    let stderr = ''
    proc.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000)
    })
    const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]()
    const first = await withTimeout(lines.next(), 30_000, () => `the simulator did not start: ${stderr}`)
    if (first.done) throw new Error(`the simulator exited: ${stderr}`)
    const sim = new Sim(proc, (JSON.parse(first.value) as { urls: string[] }).urls, lines)
    sim.stderr = stderr
    return sim
  }

  mark(): void {
    this.proc.stdin.write('mark\n')
  }

  async report(): Promise<SimReport> {
    this.proc.stdin.write('report\n')
    const line = await withTimeout(
      this.lines.next(),
      10_000,
      () => `the simulator did not report: ${this.stderr}`,
    )
    if (line.done) throw new Error('the simulator exited')
    return JSON.parse(line.value) as SimReport
  }

  async close(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return
    const exited = new Promise<void>((r) => this.proc.once('exit', () => r()))
    this.proc.stdin.end()
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(what())), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

// ---------------------------------------------------------------------------------------------
// One run: N cameras recorded (and analysed)

interface Camera {
  id: string
  stream: CameraStream
  recorder: Recorder
  recorderSub: Subscription
  decoder?: FrameDecoder
  decoderSub?: Subscription
  pipeline?: CameraAnalytics
  busy: boolean
  received: number
  written: number
  latencies: number[]
}

interface CameraMark {
  received: number
  written: number
  queueDropped: number
  frames: number
  pipelineDropped: number
  stageMs: StageMs
  decoderKept: number
  decoderSkipped: number
  decoderPid: number | undefined
  decoderCpuMs: number | undefined
}

interface CameraWindow {
  id: string
  analysedFps: number
  /** Share of the frames handed to the pipeline that it dropped. */
  droppedShare: number
  queueDropped: number
  decoderSkipped: number
  writtenShare: number
  latencyP95Ms: number
  stageMs: StageMs
  decodeCpuMs: number | undefined
  keptUp: boolean
  why: string[]
}

interface Run {
  cameras: number
  analytics: boolean
  seconds: number
  perCamera: CameraWindow[]
  processCpuMs: number
  mainThreadCpuMs: number
  /** Time the main thread was runnable but waited for a core (taken by other processes). */
  mainThreadWaitMs: number
  /** CPU ms of the detectors' worker threads: the inference (letterbox, run, decode). */
  detectorThreadsCpuMs: number
  /** Time the detector threads were runnable but waited for a core, summed over them. */
  detectorThreadsWaitMs: number
  /** CPU ms of the process's other threads (GC, compiler, libuv, sharp). */
  otherThreadsCpuMs: number
  inferenceCalls: number
  elu: number
  sim: SimReport
  keptUp: boolean
  detectors: number
  error?: string
}

const ZERO_STAGES: StageMs = { motion: 0, regions: 0, inference: 0, tracking: 0, snapshot: 0 }

function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

async function runCameras(o: {
  clip: string
  cameras: number
  analytics: boolean
  ffmpeg: string
  pool: DetectorPool
  threads: ThreadClock
  detector: CountedDetector
  warmupSeconds: number
  seconds: number
}): Promise<Run> {
  const logger = pino({ level: 'silent' })
  const config = analyticsConfigSchema(COCO_LABELS).parse({ enabled: true, fps: FPS })
  const sim = await Sim.start(o.clip, o.cameras)
  const dir = mkdtempSync(path.join(tmpdir(), 'vms-bench-analytics-'))
  const snapshots = path.join(dir, 'snapshots')
  mkdirSync(snapshots)
  const index = new RecordingIndex(path.join(dir, 'index.db'))
  let measuring = false
  const cams: Camera[] = sim.urls.map((url, i) => {
    const id = `cam${i}`
    const stream = new CameraStream(id, { url, transport: 'tcp' }, logger)
    const recorder = new Recorder({ cameraId: id, stream: 'sub', dir, index, segmentSeconds: 60, logger })
    const cam = {
      id,
      stream,
      recorder,
      busy: false,
      received: -1,
      written: -1,
      latencies: [],
    } as unknown as Camera
    const produce = stream.producer.frame.bind(stream.producer)
    stream.producer.frame = (au: AccessUnit) => {
      cam.received = au.timestamp
      produce(au)
    }
    cam.recorderSub = stream.producer.subscribe({
      name: 'recorder',
      start: (info: StreamInfo) => recorder.start(info),
      frame: async (au: AccessUnit) => {
        const before = recorder.frames
        await recorder.frame(au)
        if (recorder.frames > before) cam.written = au.timestamp
      },
      stop: (reason: string) => recorder.stop(reason),
    })
    if (o.analytics) {
      const onFrame = (frame: Frame) => {
        cam.pipeline ??= new CameraAnalytics({
          cameraId: id,
          config,
          width: frame.width,
          height: frame.height,
          detector: o.detector,
          // As the agent: the JPEG written to disk beside the recordings (synchronously).
          saveSnapshot: async (eventId, jpeg) =>
            writeFileSync(path.join(snapshots, `${id}-${eventId}.jpg`), jpeg),
          emit: () => undefined,
        })
        if (cam.busy) {
          void cam.pipeline.process(frame) // dropped (and counted) by the pipeline
          return
        }
        cam.busy = true
        void cam.pipeline.process(frame).then(() => {
          cam.busy = false
          if (measuring) cam.latencies.push(Date.now() - frame.time)
        })
      }
      cam.decoder = new FrameDecoder({ ffmpeg: o.ffmpeg, logger, fps: FPS, onFrame })
      cam.decoderSub = stream.producer.subscribe(cam.decoder, { queueFrames: 60 })
    }
    stream.start()
    return cam
  })

  const markCamera = (c: Camera): CameraMark => {
    const stats = c.pipeline?.stats()
    const decoder = c.decoder?.stats
    const pid = c.decoder?.pid
    return {
      received: c.received,
      written: c.written,
      queueDropped: c.recorderSub.dropped + (c.decoderSub?.dropped ?? 0),
      frames: stats?.frames ?? 0,
      pipelineDropped: stats?.framesDropped ?? 0,
      stageMs: stats?.stageMs ?? ZERO_STAGES,
      decoderKept: decoder?.framesKept ?? 0,
      decoderSkipped: decoder?.framesSkipped ?? 0,
      decoderPid: pid,
      decoderCpuMs: processCpuMs(pid),
    }
  }

  let error: string | undefined
  try {
    const ready = () =>
      cams.every((c) => c.written >= 0 && (!o.analytics || (c.pipeline?.stats().frames ?? 0) > 0))
    const deadline = performance.now() + 60_000
    while (!ready() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    if (!ready())
      throw new Error(`not every camera ${o.analytics ? 'recorded and analysed' : 'recorded'} within 60 s`)
    await new Promise((r) => setTimeout(r, o.warmupSeconds * 1000))

    const before = cams.map(markCamera)
    const cpu0 = process.cpuUsage()
    const threads0 = o.threads.sample()
    const calls0 = o.detector.calls
    const loaded0 = o.pool.loaded
    const elu0 = performance.eventLoopUtilization()
    sim.mark()
    measuring = true
    const t0 = performance.now()
    await new Promise((r) => setTimeout(r, o.seconds * 1000))
    const after = cams.map(markCamera)
    const wall = (performance.now() - t0) / 1000
    measuring = false
    const cpu = process.cpuUsage(cpu0)
    const threads = o.threads.window(threads0, o.threads.sample())
    const calls = o.detector.calls - calls0
    // A detector whose thread died was replaced by one whose threads the clock does not know.
    if (o.pool.loaded !== loaded0) throw new Error('the detector pool changed during the window')
    const elu = performance.eventLoopUtilization(elu0).utilization
    const simReport = await sim.report()

    const perCamera = cams.map((c, i): CameraWindow => {
      const b = before[i]!
      const a = after[i]!
      const frames = a.frames - b.frames
      const handed = a.decoderKept - b.decoderKept
      const dropped = a.pipelineDropped - b.pipelineDropped
      const stageMs = Object.fromEntries(
        Object.keys(ZERO_STAGES).map((k) => [
          k,
          a.stageMs[k as keyof StageMs] - b.stageMs[k as keyof StageMs],
        ]),
      ) as unknown as StageMs
      const decodeCpuMs =
        a.decoderPid === b.decoderPid && a.decoderCpuMs !== undefined && b.decoderCpuMs !== undefined
          ? a.decoderCpuMs - b.decoderCpuMs
          : undefined
      const w: CameraWindow = {
        id: c.id,
        analysedFps: frames / wall,
        droppedShare: handed > 0 ? dropped / handed : 0,
        queueDropped: a.queueDropped - b.queueDropped,
        decoderSkipped: a.decoderSkipped - b.decoderSkipped,
        writtenShare: (a.written - b.written) / CLOCK / wall,
        latencyP95Ms: quantile(c.latencies, 0.95),
        stageMs,
        decodeCpuMs,
        keptUp: true,
        why: [],
      }
      if (o.analytics) {
        if (w.analysedFps < REALTIME * FPS) w.why.push(`analysed ${w.analysedFps.toFixed(2)} fps`)
        if (w.droppedShare > MAX_DROPPED) w.why.push(`dropped ${pct(w.droppedShare)} of its frames`)
        if (w.decoderSkipped > 0) w.why.push(`the decoder skipped ${w.decoderSkipped} frames`)
        if (w.latencyP95Ms > MAX_LATENCY_P95_MS) w.why.push(`latency p95 ${w.latencyP95Ms.toFixed(0)} ms`)
      }
      if (w.queueDropped > 0) w.why.push(`queues dropped ${w.queueDropped} frames`)
      if (w.writtenShare < REALTIME) w.why.push(`recorded ${pct(w.writtenShare)} of wall time`)
      w.keptUp = w.why.length === 0
      return w
    })
    return {
      cameras: o.cameras,
      analytics: o.analytics,
      seconds: wall,
      perCamera,
      processCpuMs: (cpu.user + cpu.system) / 1000,
      mainThreadCpuMs: threads.mainCpuMs,
      mainThreadWaitMs: threads.mainWaitMs,
      detectorThreadsCpuMs: threads.detectorCpuMs,
      detectorThreadsWaitMs: threads.detectorWaitMs,
      otherThreadsCpuMs: threads.otherCpuMs,
      inferenceCalls: calls,
      elu,
      sim: simReport,
      keptUp: perCamera.every((w) => w.keptUp),
      detectors: o.pool.loaded,
    }
  } catch (err) {
    error = (err as Error).message
    return {
      cameras: o.cameras,
      analytics: o.analytics,
      seconds: 0,
      perCamera: [],
      processCpuMs: 0,
      mainThreadCpuMs: 0,
      mainThreadWaitMs: 0,
      detectorThreadsCpuMs: 0,
      detectorThreadsWaitMs: 0,
      otherThreadsCpuMs: 0,
      inferenceCalls: 0,
      elu: 0,
      sim: { cpuSeconds: 0, seconds: 0, elu: 0, lagP99Ms: 0 },
      keptUp: false,
      detectors: o.pool.loaded,
      error,
    }
  } finally {
    measuring = false
    for (const c of cams) {
      await c.stream.stop()
      await c.recorderSub.idle()
      await c.decoderSub?.idle()
      await c.decoder?.close()
      await c.pipeline?.close()
    }
    index.close()
    await sim.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------------------------------------

const pct = (x: number) => `${(x * 100).toFixed(0)} %`
const sum = (values: readonly number[]) => values.reduce((t, v) => t + v, 0)

/** ms of CPU per second per camera. */
function perCameraRate(totalMs: number, run: Run): number {
  return totalMs / run.seconds / run.cameras
}

function describeRun(run: Run): string {
  if (run.error) return `N=${run.cameras}: failed: ${run.error}`
  const worst = (f: (w: CameraWindow) => number, max = false) =>
    (max ? Math.max : Math.min)(...run.perCamera.map(f))
  const failing = run.perCamera.filter((w) => !w.keptUp)
  const parts = [
    `N=${run.cameras}${run.analytics ? '' : ' recorded only'}: ${run.keptUp ? 'kept up' : `${failing.length} of ${run.cameras} cameras fell behind`}`,
  ]
  if (run.analytics)
    parts.push(
      `analysed ${worst((w) => w.analysedFps).toFixed(2)} fps (worst camera), dropped up to ${pct(worst((w) => w.droppedShare, true))}, ` +
        `latency p95 up to ${worst((w) => w.latencyP95Ms, true).toFixed(0)} ms, ${run.inferenceCalls} detector calls ` +
        `(${(run.inferenceCalls / run.seconds / run.cameras).toFixed(2)} per camera-second, ${run.detectors} sessions)`,
    )
  parts.push(
    `recorded ${pct(worst((w) => w.writtenShare))} of wall time (worst camera); agent process ${(run.processCpuMs / run.seconds / 10).toFixed(0)} % of a core ` +
      `(main thread ran ${(run.mainThreadCpuMs / run.seconds / 10).toFixed(0)} % and waited for a core ` +
      `${(run.mainThreadWaitMs / run.seconds / 10).toFixed(0)} % of the time, event loop ${pct(run.elu)} busy; ` +
      `detector threads ran ${(run.detectorThreadsCpuMs / run.seconds / 10).toFixed(0)} % and waited for a core ` +
      `${(run.detectorThreadsWaitMs / run.seconds / 10).toFixed(0)} %, summed over ${run.detectors} sessions; ` +
      `other threads ${(run.otherThreadsCpuMs / run.seconds / 10).toFixed(0)} %); simulator ${((run.sim.cpuSeconds / (run.sim.seconds || 1)) * 100).toFixed(0)} % of a core over ${run.seconds.toFixed(0)} s`,
  )
  if (failing.length > 0) {
    parts.push(`first behind: ${failing[0]!.id} (${failing[0]!.why.join(', ')})`)
    // Inference runs in the detector threads, one call at a time each: detectors that ran or
    // waited for a core nearly all the time are the limit. Everything else but decoding runs on the
    // main thread: a busy event loop is. Busy but not running: waiting for a core (other processes
    // had them) or blocked (synchronous I/O: the recorder's fsyncs, the index's commits).
    const detectorRan = run.detectorThreadsCpuMs / run.seconds / 1000 / run.detectors
    const detectorWaited = run.detectorThreadsWaitMs / run.seconds / 1000 / run.detectors
    if (detectorRan + detectorWaited > 0.9)
      parts.push(
        `the detector threads are the limit (each ran ${pct(detectorRan)} and waited for a core ${pct(detectorWaited)} ` +
          'of the time)',
      )
    const ran = run.mainThreadCpuMs / run.seconds / 1000
    const waited = run.mainThreadWaitMs / run.seconds / 1000
    if (run.elu > 0.9)
      parts.push(
        `the agent's main thread is the limit (event loop ${pct(run.elu)} busy: ran ${pct(ran)}, waited for a core ` +
          `${pct(waited)}, blocked about ${pct(Math.max(0, run.elu - ran - waited))} of the time)`,
      )
  }
  return `analytics-capacity: ${parts.join('; ')}`
}

export async function benchAnalyticsCapacity(): Promise<BenchResult[]> {
  const ffmpeg = findFfmpeg()
  if (!ffmpeg) {
    console.warn('analytics-capacity skipped: ffmpeg is not installed')
    return []
  }
  const seconds = positive('VMS_BENCH_ANALYTICS_SECONDS', 20)
  const warmupSeconds = positive('VMS_BENCH_ANALYTICS_WARMUP_SECONDS', 5)
  const steps = cameraSteps()
  const cores = availableParallelism()
  const load0 = loadavg()
  const spec: ModelSpec = { id: 'bench', file: MODEL, format: 'yolox', labels: COCO_LABELS }
  // The product's pool as the agent opens it: worker-thread detectors, one per core at most.
  const { pool, threads } = await openPool(spec, cores)
  const detector = countCalls(pool)
  const tmp = mkdtempSync(path.join(tmpdir(), 'vms-bench-analytics-clip-'))
  try {
    const clip = path.join(tmp, 'walking-640x360-5fps.h264')
    const { personWidth } = await makeWalkingClip(ffmpeg, clip)

    const common = { clip, ffmpeg, pool, threads, detector, warmupSeconds, seconds }
    const analyse = async (n: number) => {
      const run = await runCameras({ ...common, cameras: n, analytics: true })
      console.error(describeRun(run))
      return run
    }
    let best: Run | undefined
    let failed: Run | undefined
    for (const n of steps) {
      const run = await analyse(n)
      if (!run.keptUp) {
        failed = run
        break
      }
      best = run
    }
    // Between the last N that kept up and the first that did not, halve the gap (one run each).
    while (failed && failed.cameras - (best?.cameras ?? 0) > 1) {
      const run = await analyse(Math.floor(((best?.cameras ?? 0) + failed.cameras) / 2))
      if (run.keptUp) best = run
      else failed = run
    }
    // The reference: the same cameras recorded only, in the same run.
    const referenceCameras = best?.cameras ?? steps[0]!
    const reference = await runCameras({ ...common, cameras: referenceCameras, analytics: false })
    console.error(describeRun(reference))
    const load1 = loadavg()

    const shown = best ?? failed
    const count = best?.cameras ?? 0
    let split = 'no N kept up: no split'
    let referenceText = ''
    if (shown && !shown.error) {
      const stages = (k: keyof StageMs) => perCameraRate(sum(shown.perCamera.map((w) => w.stageMs[k])), shown)
      const decodes = shown.perCamera.map((w) => w.decodeCpuMs)
      const decode = decodes.every((d) => d !== undefined)
        ? `${perCameraRate(sum(decodes as number[]), shown).toFixed(1)}`
        : 'n/a (an ffmpeg restarted)'
      const inference = perCameraRate(shown.detectorThreadsCpuMs, shown)
      const pipelineMs = sum(
        shown.perCamera.map(
          (w) => w.stageMs.motion + w.stageMs.regions + w.stageMs.tracking + w.stageMs.snapshot,
        ),
      )
      // The main thread's CPU beyond the stages measured (recording, RTSP, reading the decoded
      // frames, handing them to the detector threads); the process's other threads (V8's GC and
      // compiler, libuv, sharp) apart.
      const main = perCameraRate(shown.mainThreadCpuMs, shown)
      const rest = perCameraRate(shown.mainThreadCpuMs - pipelineMs, shown)
      const otherThreads = perCameraRate(shown.otherThreadsCpuMs, shown)
      const all =
        perCameraRate(shown.processCpuMs, shown) +
        (decodes.every((d) => d !== undefined) ? perCameraRate(sum(decodes as number[]), shown) : 0)
      split =
        `CPU per camera${best ? '' : ` at N=${shown.cameras} (which fell behind)`} in ms per second (1000 = one core): ` +
        `decode ${decode} (ffmpeg), motion ${stages('motion').toFixed(1)}, inference ${inference.toFixed(1)} ` +
        `(detector threads, ${(shown.detectorThreadsCpuMs / (shown.inferenceCalls || 1)).toFixed(1)} ms a call; ` +
        `${stages('inference').toFixed(0)} ms/s awaited, turns included), tracking ${stages('tracking').toFixed(2)} ` +
        `(regions ${stages('regions').toFixed(2)}, snapshots ${stages('snapshot').toFixed(2)}), ` +
        `rest of the main thread (recording, RTSP, reading frames, handing them to the detectors) ${rest.toFixed(1)}, ` +
        `the process's other threads (GC, libuv, sharp) ${otherThreads.toFixed(1)}; ` +
        // The main thread is one core at most; the detector threads one core each; all of it
        // (ffmpeg too) shares the machine's cores.
        `the agent's main thread used ${main.toFixed(0)} ms/s per camera (a whole idle core would hold about ` +
        `${Math.floor(1000 / main)} cameras), the detector threads ${inference.toFixed(0)} (${shown.detectors} idle cores ` +
        `about ${Math.floor((shown.detectors * 1000) / inference)}), all of it with ffmpeg ${all.toFixed(0)} ` +
        `(${cores} idle cores about ${Math.floor((cores * 1000) / all)}) ` +
        '(each detector is a worker thread with its own onnxruntime session: letterbox, session.run and decode run ' +
        'off the main thread, so each session is a core)'
      if (!reference.error)
        referenceText =
          `; reference, the same ${reference.cameras} cameras recorded only: agent process ` +
          `${perCameraRate(reference.processCpuMs, reference).toFixed(1)} ms/s per camera vs ` +
          `${perCameraRate(shown.processCpuMs, shown).toFixed(1)} recorded and analysed ` +
          `(${(shown.processCpuMs / (reference.processCpuMs * (shown.cameras / reference.cameras) || 1)).toFixed(1)}x)`
    }
    let limit = ''
    if (failed)
      limit = `; not at N=${failed.cameras}: ${failed.error ?? failed.perCamera.filter((w) => !w.keptUp).length + ' cameras fell behind (' + (failed.perCamera.find((w) => !w.keptUp)?.why.join(', ') ?? '') + ')'}`
    else limit = `; no more tried (VMS_BENCH_ANALYTICS_CAMERAS)`
    const line =
      `analytics-capacity: ${count} cameras (${WIDTH}x${HEIGHT}, ${FPS} fps, a ${personWidth}x${PERSON_HEIGHT} person walking to and fro in each) ` +
      `analysed in real time while recorded, in one agent process with ${pool.loaded} detector sessions on ${cores} cores` +
      `${limit}; ${split}${referenceText}; simulator in its own process, ${seconds} s windows after ${warmupSeconds} s, ` +
      `load average ${load0[0]!.toFixed(1)} before, ${load1[0]!.toFixed(1)} after`
    return [
      {
        name: 'analytics-capacity',
        subject: { label: 'cameras analysed in real time while recorded', opsPerSec: count },
        reference: { label: 'goal', opsPerSec: GOAL },
        ratio: count / GOAL,
        line,
        goals: [{ text: `>= ${GOAL} cameras`, met: count >= GOAL }],
      },
    ]
  } finally {
    await pool.close()
    rmSync(tmp, { recursive: true, force: true })
  }
}
