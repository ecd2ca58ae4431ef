import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import type { Logger } from 'pino'
import { type AccessUnit, toAnnexB } from '../media/codec/access-unit.ts'
import { AnnexBReader } from '../media/codec/annexb-reader.ts'
import { H264, h264NalType } from '../media/codec/h264.ts'
import { type Consumer, Producer } from '../media/core/producer.ts'
import type { StreamInfo } from '../media/rtsp/client.ts'

/**
 * H.265 to H.264 for live view, when a camera has no H.264 stream at all (browsers do not decode
 * H.265 over WebRTC). One ffmpeg per camera however many watch it, started with the first viewer
 * and stopped with the last; it gets the camera's access units on stdin (Annex B) and fixed
 * arguments — never a URL or credentials — and writes H.264 on stdout, which becomes a producer
 * the live source subscribes to like any camera stream.
 *
 * The cost is stated, not hidden: libx264 `ultrafast`/`zerolatency` (Constrained Baseline, no
 * B-frames, a keyframe every 2 s at 25 fps), scaled to at most 1280 pixels wide; about two frames
 * of added latency (ffmpeg's raw-stream parser and our reader each wait for the next frame's start)
 * and one CPU core's fraction per camera that the live bench reports. Recording is untouched: it
 * keeps the camera's H.265.
 */
export interface TranscoderOptions {
  ffmpeg: string
  logger: Logger
  /** Widest output picture (wider input is scaled down, keeping the aspect ratio). */
  maxWidth?: number
  /** Keyframe interval in frames. */
  gop?: number
}

const NAL_IDR = 5

export class H265ToH264Transcoder implements Consumer {
  readonly name = 'live-transcode'
  readonly producer = new Producer()
  private proc: ChildProcessWithoutNullStreams | undefined
  private reader = new AnnexBReader()
  private info: StreamInfo | undefined
  private waitKeyframe = true
  private closed = false
  framesIn = 0
  framesOut = 0
  droppedIn = 0
  restarts = 0

  constructor(private readonly o: TranscoderOptions) {}

  start(info: StreamInfo): void {
    this.info = info
    this.restart('the camera stream (re)started')
  }

  frame(au: AccessUnit): void {
    if (this.closed || au.codec !== 'h265') return
    if (!this.proc) this.spawn()
    const proc = this.proc
    if (!proc) return
    if (this.waitKeyframe && !au.keyframe) {
      this.droppedIn++
      return
    }
    this.waitKeyframe = false
    this.framesIn++
    // A stalled encoder must not grow the pipe buffer without bound: drop until the next keyframe.
    if (!proc.stdin.write(toAnnexB(au.nalus)) && proc.stdin.writableLength > 8 * 1024 * 1024) {
      this.waitKeyframe = true
    }
  }

  stop(reason: string): void {
    this.kill()
    this.producer.stopped(reason)
  }

  private restart(reason: string): void {
    this.kill()
    if (this.closed) return
    this.producer.stopped(reason)
    this.spawn()
  }

  private spawn(): void {
    if (this.closed || this.proc) return
    const width = this.o.maxWidth ?? 1280
    const args = [
      '-hide_banner',
      '-loglevel',
      'error',
      '-fflags',
      'nobuffer',
      '-flags',
      'low_delay',
      '-probesize',
      '32',
      '-analyzeduration',
      '0',
      '-f',
      'hevc',
      '-i',
      'pipe:0',
      '-an',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-tune',
      'zerolatency',
      '-profile:v',
      'baseline',
      '-pix_fmt',
      'yuv420p',
      '-g',
      String(this.o.gop ?? 50),
      '-bf',
      '0',
      '-x264-params',
      'aud=1:repeat-headers=1',
      '-vf',
      `scale='min(${width},iw)':-2`,
      '-fps_mode',
      'passthrough',
      '-flush_packets',
      '1',
      '-f',
      'h264',
      'pipe:1',
    ]
    const proc = spawn(this.o.ffmpeg, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    this.proc = proc
    this.reader = new AnnexBReader()
    this.waitKeyframe = true
    let started = false
    proc.stdout.on('data', (chunk: Buffer) => {
      for (const nalus of this.reader.push(chunk)) {
        const keyframe = nalus.some((n) => h264NalType(n) === NAL_IDR)
        if (!started) {
          if (!keyframe) continue
          started = true
          const { audio: _audio, ...info } = this.info as StreamInfo
          this.producer.started({
            ...info,
            codec: 'h264',
            parameterSets: nalus.filter((n) => H264.isParameterSet(n)),
          })
        }
        this.framesOut++
        this.producer.frame({
          codec: 'h264',
          // The encoder's output has no timestamps; its own arrival time keeps the real spacing.
          timestamp: Math.round(performance.now() * 90),
          wallMs: Date.now(),
          nalus,
          keyframe,
          damaged: false,
        })
      }
    })
    let stderr = ''
    proc.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString('utf8')).slice(-2000)
    })
    proc.stdin.on('error', () => {}) // ffmpeg gone: handled on exit
    proc.on('error', (err) => this.o.logger.error({ err }, 'live transcoder failed to start'))
    proc.on('exit', (code, signal) => {
      if (this.proc !== proc) return
      this.proc = undefined
      if (this.closed) return
      this.restarts++
      this.o.logger.warn(
        { code, signal, stderr: stderr.trim().slice(-500) },
        'live transcoder exited; restarting',
      )
      this.producer.stopped('transcoder exited')
      // The next frame starts a new one (at a keyframe).
    })
  }

  private kill(): void {
    const proc = this.proc
    this.proc = undefined
    if (!proc) return
    proc.stdin.end()
    proc.kill('SIGKILL')
  }

  close(): void {
    this.closed = true
    this.kill()
  }
}
