import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { BenchResult } from '../run.ts'
import { positive } from './bench-env.ts'
import type { RecordWorkerResult } from './record-worker.ts'

/**
 * Recording cost: N simulated 1080p H.264 cameras (about 4 Mbit/s, 25 fps, a keyframe every 2 s,
 * no B-frames) recorded concurrently by the agent's recorder (CameraStream + Recorder +
 * RecordingIndex, in a worker process so its CPU time is its own), against ffmpeg recording the
 * same streams from the same simulator (`-c copy -f segment`, one process per stream). Prints CPU
 * time per stream-minute for both over the same steady-state window, then steps N up (1, 2, 4, ...)
 * to find the most streams the recorder holds in real time on this machine: every stream's written
 * media time at least 95 % of the wall time, no frame dropped by the producer queue and no RTP
 * packet lost. The simulator runs in a process of its own; when it is what falls behind, the notes
 * say so.
 *   VMS_BENCH_RECORD_SECONDS (20): the measured window of each run.
 *   VMS_BENCH_RECORD_MAX_STREAMS (32): where the search for real time stops.
 *   FFMPEG_PATH (/usr/bin/ffmpeg); ffprobe is looked for beside it (to count recorded frames).
 */
const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '../..')
const FPS = 25
const CLOCK_TICKS = 100 // USER_HZ, for /proc/<pid>/stat; read from getconf below when possible
const REALTIME = 0.95

function clockTicks(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || CLOCK_TICKS
  } catch {
    return CLOCK_TICKS
  }
}

/**
 * CPU seconds (user + system, all threads) a process has used so far, from /proc: the scheduler's
 * nanosecond run times of its threads, else (no schedstat) the clock-tick counts of its stat line.
 */
function processCpuSeconds(pid: number, ticks: number): number {
  try {
    return readdirSync(`/proc/${pid}/task`).reduce(
      (t, tid) => t + Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e9,
      0,
    )
  } catch {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / ticks // utime, stime (fields 14 and 15)
  }
}

/** A child process speaking JSON lines on stdout. */
class Worker {
  readonly proc: ChildProcessWithoutNullStreams
  private lines: AsyncIterator<string> | undefined
  private stderr = ''

  constructor(command: string, args: string[]) {
    this.proc = spawn(command, args, { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] })
    this.proc.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000)
    })
  }

  static tsx(script: string, args: string[]): Worker {
    return new Worker(process.execPath, ['--import', 'tsx', path.join(here, script), ...args])
  }

  async next<T>(timeoutMs: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${timeoutMs} ms: ${this.stderr}`)),
        timeoutMs,
      )
    })
    try {
      this.lines ??= createInterface({ input: this.proc.stdout })[Symbol.asyncIterator]()
      const line = await Promise.race([this.lines.next(), timeout])
      if (line.done) throw new Error(`the worker exited: ${this.stderr}`)
      return JSON.parse(line.value) as T
    } finally {
      clearTimeout(timer)
    }
  }

  send(line: string): void {
    if (this.proc.stdin.writable) this.proc.stdin.write(`${line}\n`)
  }

  /** Waits for the exit; ends the process (by its id) if it does not go within `ms`. */
  async exit(ms = 10_000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return
    const exited = new Promise<void>((r) => this.proc.once('exit', () => r()))
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), ms)
    await exited
    clearTimeout(timer)
  }
}

interface SimReport {
  cpuSeconds: number
  seconds: number
  elu: number
  lagP99Ms: number
}

/** The simulator in its own process, serving `streams` copies of the clip. */
async function startSim(clip: string, streams: number) {
  const sim = Worker.tsx('record-sim.ts', [clip, String(FPS), String(streams)])
  const { urls } = await sim.next<{ urls: string[] }>(30_000)
  return {
    urls,
    mark: () => sim.send('mark'),
    report: () => {
      sim.send('report')
      return sim.next<SimReport>(10_000)
    },
    close: async () => {
      sim.proc.stdin.end()
      await sim.exit()
    },
  }
}

/** Frames in a recorded file, counted by ffprobe (undefined without ffprobe). */
function probeFrames(ffprobe: string | undefined, file: string): number | undefined {
  if (!ffprobe) return undefined
  try {
    const out = execFileSync(
      ffprobe,
      [
        '-v',
        'error',
        '-count_packets',
        '-select_streams',
        'v:0',
        '-show_entries',
        'stream=nb_read_packets',
        '-of',
        'csv=p=0',
        file,
      ],
      { encoding: 'utf8' },
    )
    return Number(out.trim()) || 0
  } catch {
    return 0
  }
}

interface Run {
  streams: number
  wallSeconds: number
  cpuSeconds: number
  /** CPU seconds per stream-minute of the window. */
  cpuPerStreamMinute: number
  frames: number
  /** Frames ffprobe finds in the files (undefined without ffprobe). */
  probedFrames: number | undefined
  bytes: number
  files: number
  /** Worst stream: written (and received) media time over wall time in the window. */
  worstWritten: number
  worstReceived: number
  dropped: number
  lost: number
  realtime: boolean
  sim: SimReport
  /** Event-loop utilisation of the recorder (undefined for ffmpeg). */
  elu?: number
  error?: string
}

async function recordOurs(
  clip: string,
  n: number,
  seconds: number,
  ffprobe: string | undefined,
): Promise<Run> {
  const sim = await startSim(clip, n)
  const dir = mkdtempSync(path.join(tmpdir(), 'vms-bench-record-'))
  const worker = Worker.tsx('record-worker.ts', [dir, String(seconds), ...sim.urls])
  try {
    // The worker announces its window (then its end), or reports at once when it could not record.
    let r = await worker.next<RecordWorkerResult | { event: 'window' }>(60_000)
    let simReport: SimReport = { cpuSeconds: 0, seconds: 0, elu: 0, lagP99Ms: 0 }
    if (r.event === 'window') {
      sim.mark()
      await worker.next<{ event: 'end' }>(seconds * 1000 + 30_000)
      simReport = await sim.report()
      r = await worker.next<RecordWorkerResult>(60_000)
    }
    if (r.event !== 'result') throw new Error('record: the worker answered out of order')
    const files = r.streams.flatMap((s) => s.files)
    const probed = ffprobe ? files.reduce((t, f) => t + (probeFrames(ffprobe, f) ?? 0), 0) : undefined
    const wall = r.wallSeconds || 1
    const worstWritten = Math.min(...r.streams.map((s) => s.writtenSeconds / wall))
    const worstReceived = Math.min(...r.streams.map((s) => s.receivedSeconds / wall))
    const dropped = r.streams.reduce((t, s) => t + s.dropped, 0)
    const lost = r.streams.reduce((t, s) => t + s.lostPackets, 0)
    const frames = r.streams.reduce((t, s) => t + s.frames, 0)
    const bytes = r.streams.reduce((t, s) => t + s.diskBytes, 0)
    return {
      streams: n,
      wallSeconds: r.wallSeconds,
      cpuSeconds: r.cpuSeconds,
      cpuPerStreamMinute: r.cpuSeconds / ((n * wall) / 60),
      frames,
      probedFrames: probed,
      bytes,
      files: files.length,
      worstWritten,
      worstReceived,
      dropped,
      lost,
      realtime:
        !r.error &&
        frames > 0 &&
        bytes > 0 &&
        (probed === undefined || probed > 0) &&
        worstWritten >= REALTIME &&
        dropped === 0 &&
        lost === 0,
      sim: simReport,
      elu: r.elu,
      ...(r.error ? { error: r.error } : {}),
    }
  } finally {
    if (worker.proc.exitCode === null) worker.proc.kill('SIGTERM')
    await worker.exit()
    await sim.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function recordFfmpeg(
  ffmpeg: string,
  clip: string,
  n: number,
  seconds: number,
  ffprobe: string | undefined,
): Promise<Run> {
  const ticks = clockTicks()
  const sim = await startSim(clip, n)
  const dir = mkdtempSync(path.join(tmpdir(), 'vms-bench-record-ffmpeg-'))
  const procs = sim.urls.map((url, i) => {
    const out = path.join(dir, `cam${i}`)
    mkdirSync(out)
    // The command under comparison, plus `-progress` (a few lines every half second) to see it record.
    const w = new Worker(ffmpeg, [
      '-hide_banner',
      '-nostats',
      '-loglevel',
      'error',
      '-progress',
      'pipe:1',
      '-rtsp_transport',
      'tcp',
      '-i',
      url,
      '-c',
      'copy',
      '-f',
      'segment',
      '-segment_time',
      '60',
      '-reset_timestamps',
      '1',
      path.join(out, 'out%03d.mp4'),
    ])
    const p = { w, out, frames: 0, outTimeUs: 0 }
    createInterface({ input: w.proc.stdout }).on('line', (line) => {
      const [k, v] = line.split('=')
      if (k === 'frame') p.frames = Number(v)
      else if (k === 'out_time_us') p.outTimeUs = Number(v) || 0
    })
    return p
  })
  try {
    const deadline = Date.now() + 60_000
    while (procs.some((p) => p.frames === 0) && Date.now() < deadline) {
      if (procs.some((p) => p.w.proc.exitCode !== null)) break
      await new Promise((r) => setTimeout(r, 50))
    }
    if (procs.some((p) => p.frames === 0)) throw new Error(`ffmpeg did not start recording every stream`)
    const cpu0 = procs.reduce((t, p) => t + processCpuSeconds(p.w.proc.pid as number, ticks), 0)
    const media0 = procs.map((p) => p.outTimeUs)
    const t0 = performance.now()
    sim.mark()
    await new Promise((r) => setTimeout(r, seconds * 1000))
    const cpuSeconds = procs.reduce((t, p) => t + processCpuSeconds(p.w.proc.pid as number, ticks), 0) - cpu0
    const wallSeconds = (performance.now() - t0) / 1000
    const simReport = await sim.report()
    // `-progress` reports every half second, so this is coarse; it is informative only.
    const worstWritten = Math.min(
      ...procs.map((p, i) => (p.outTimeUs - (media0[i] ?? 0)) / 1e6 / wallSeconds),
    )
    for (const p of procs) p.w.send('q')
    await Promise.all(procs.map((p) => p.w.exit(15_000)))
    const files = procs.flatMap((p) => readdirSync(p.out).map((f) => path.join(p.out, f)))
    const bytes = files.reduce((t, f) => t + statSync(f).size, 0)
    const frames = procs.reduce((t, p) => t + p.frames, 0)
    const probed = ffprobe ? files.reduce((t, f) => t + (probeFrames(ffprobe, f) ?? 0), 0) : undefined
    console.error(
      `record: ffmpeg N=${n}: wrote ${pct(worstWritten)} of wall time (worst stream, from -progress); ` +
        `ffmpeg ${cpuSeconds.toFixed(1)} CPU s, simulator ${simReport.cpuSeconds.toFixed(1)} CPU s ` +
        `(event loop ${pct(simReport.elu)} busy) over ${wallSeconds.toFixed(0)} s`,
    )
    return {
      streams: n,
      wallSeconds,
      cpuSeconds,
      cpuPerStreamMinute: cpuSeconds / ((n * wallSeconds) / 60),
      frames,
      probedFrames: probed,
      bytes,
      files: files.length,
      worstWritten,
      worstReceived: worstWritten,
      dropped: 0,
      lost: 0,
      realtime: frames > 0 && bytes > 0 && (probed === undefined || probed > 0),
      sim: simReport,
    }
  } finally {
    for (const p of procs) if (p.w.proc.exitCode === null) p.w.proc.kill('SIGKILL')
    await Promise.all(procs.map((p) => p.w.exit()))
    await sim.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** A ~10 s 1080p25 H.264 clip like an IP camera's main stream, with access-unit delimiters. */
function makeClip(ffmpeg: string, dir: string): { file: string; bitrate: number } {
  const file = path.join(dir, 'sim-1080p.h264')
  execFileSync(
    ffmpeg,
    [
      ...['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc2=size=1920x1080:rate=${FPS}`],
      ...['-t', '10', '-c:v', 'libx264', '-profile:v', 'main', '-preset', 'veryfast', '-bf', '0'],
      ...['-g', String(2 * FPS), '-keyint_min', String(2 * FPS), '-sc_threshold', '0'],
      ...['-b:v', '4M', '-maxrate', '4M', '-bufsize', '8M', '-pix_fmt', 'yuv420p'],
      ...['-x264-params', 'aud=1', '-f', 'h264', file],
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  )
  return { file, bitrate: (statSync(file).size * 8) / 10 }
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`
const pct = (x: number) => `${(x * 100).toFixed(0)} %`

function describe(r: Run): string {
  const frames = r.probedFrames === undefined ? `${r.frames} frames` : `${r.probedFrames} frames (ffprobe)`
  return `${frames}, ${mb(r.bytes)} in ${r.files} files`
}

export async function benchRecord(): Promise<BenchResult[]> {
  const seconds = positive('VMS_BENCH_RECORD_SECONDS', 20)
  const maxStreams = Math.floor(positive('VMS_BENCH_RECORD_MAX_STREAMS', 32))
  const ffmpeg = process.env.FFMPEG_PATH ?? '/usr/bin/ffmpeg'
  if (!existsSync(ffmpeg)) throw new Error(`record: needs ffmpeg (FFMPEG_PATH, else ${ffmpeg})`)
  const probeCandidate = path.join(path.dirname(ffmpeg), 'ffprobe')
  const ffprobe = existsSync(probeCandidate) ? probeCandidate : undefined
  const ratioStreams = Math.min(4, maxStreams)

  const tmp = mkdtempSync(path.join(tmpdir(), 'vms-bench-clip-'))
  try {
    const clip = makeClip(ffmpeg, tmp)
    const ours = await recordOurs(clip.file, ratioStreams, seconds, ffprobe)
    const reference = await recordFfmpeg(ffmpeg, clip.file, ratioStreams, seconds, ffprobe)
    for (const [who, r] of [
      ['recorder', ours],
      ['ffmpeg', reference],
    ] as const)
      if (r.bytes === 0 || r.frames === 0 || r.probedFrames === 0 || r.error)
        throw new Error(`record: ${who} recorded nothing at N=${r.streams}${r.error ? `: ${r.error}` : ''}`)

    // The largest N that holds real time: 1, 2, 4, ... up to the maximum.
    const steps: number[] = []
    for (let n = 1; n < maxStreams; n *= 2) steps.push(n)
    steps.push(maxStreams)
    let best: Run | undefined
    let failed: Run | undefined
    for (const n of steps) {
      const run = n === ratioStreams ? ours : await recordOurs(clip.file, n, seconds, ffprobe)
      console.error(
        `record: N=${n}: ${run.realtime ? 'real time' : 'NOT real time'}; written ${pct(run.worstWritten)} and ` +
          `received ${pct(run.worstReceived)} of wall time (worst stream), ${run.dropped} frames dropped, ` +
          `${run.lost} packets lost; recorder ${run.cpuSeconds.toFixed(1)} CPU s (event loop ${pct(run.elu ?? 0)} busy), ` +
          `simulator ${run.sim.cpuSeconds.toFixed(1)} CPU s (event loop ${pct(run.sim.elu)} busy, timer lag p99 ` +
          `${run.sim.lagP99Ms.toFixed(0)} ms) over ${run.wallSeconds.toFixed(0)} s; ` +
          describe(run),
      )
      if (!run.realtime) {
        failed = run
        break
      }
      best = run
    }

    let limit = `real time up to N=${best?.streams ?? 0}`
    if (best)
      limit += ` (recorder ${best.cpuPerStreamMinute.toFixed(2)} CPU s per stream-minute, ${describe(best)})`
    if (!failed) limit += ' and no further tried (VMS_BENCH_RECORD_MAX_STREAMS)'
    else {
      const why: string[] = []
      if (failed.error) why.push(failed.error)
      if (failed.worstWritten < REALTIME) why.push(`a stream wrote ${pct(failed.worstWritten)} of wall time`)
      if (failed.dropped > 0) why.push(`${failed.dropped} frames dropped by the producer queue`)
      if (failed.lost > 0) why.push(`${failed.lost} RTP packets lost`)
      // The simulator is behind when its own event loop is saturated or its frame timer fires late;
      // frames that arrive late while it keeps up were read late by the recorder's process.
      const simBusy = failed.sim.elu > 0.8 || failed.sim.lagP99Ms > 1000 / FPS
      if (simBusy)
        why.push(
          `the simulator could not keep up (event loop ${pct(failed.sim.elu)} busy, timer lag p99 ` +
            `${failed.sim.lagP99Ms.toFixed(0)} ms): the limit found is the test rig's`,
        )
      else if (failed.worstReceived < REALTIME) {
        const cpuShare = failed.cpuSeconds / (failed.wallSeconds || 1)
        why.push(
          `frames reached the recorder late too (received ${pct(failed.worstReceived)} of wall time) while the ` +
            `simulator kept up (event loop ${pct(failed.sim.elu)} busy, timer lag p99 ${failed.sim.lagP99Ms.toFixed(0)} ms)` +
            ((failed.elu ?? 0) > cpuShare + 0.05
              ? `; the recorder's event loop was busy ${pct(failed.elu ?? 0)} of the time on ${pct(cpuShare)} of a ` +
                'core of CPU: the rest is waiting in synchronous I/O (fsync of each fragment and index commit)'
              : ''),
        )
      }
      const cores = (failed.cpuSeconds + failed.sim.cpuSeconds) / (failed.wallSeconds || 1)
      why.push(`recorder + simulator used ${cores.toFixed(1)} of ${cpus().length} cores`)
      limit += `; not at N=${failed.streams}: ${why.join(', ')}`
    }

    return [
      {
        name: 'record',
        subject: {
          label: `TS-VMS recorder, ${ratioStreams} x 1080p25 (stream-seconds per CPU-second)`,
          opsPerSec: 60 / ours.cpuPerStreamMinute,
        },
        reference: {
          label: 'ffmpeg -c copy -f segment (stream-seconds per CPU-second)',
          opsPerSec: 60 / reference.cpuPerStreamMinute,
        },
        ratio: ours.cpuPerStreamMinute / reference.cpuPerStreamMinute,
        goals: [
          {
            text: "CPU per stream-minute <= ffmpeg -c copy's",
            met: ours.cpuPerStreamMinute <= reference.cpuPerStreamMinute,
          },
        ],
        notes:
          `CPU per stream-minute at N=${ratioStreams}: recorder ${ours.cpuPerStreamMinute.toFixed(2)} s, ` +
          `ffmpeg ${reference.cpuPerStreamMinute.toFixed(2)} s; recorded: recorder ${describe(ours)}, ` +
          `ffmpeg ${describe(reference)}; ${limit}; clip ${(clip.bitrate / 1e6).toFixed(1)} Mbit/s, ` +
          `${seconds} s windows, ${cpus().length} cores`,
      },
    ]
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}
