import type Hls from 'hls.js'
import type { Fragment } from 'hls.js'

/**
 * One camera's recording in one <video>, as HLS from the hub (`playback.m3u8`, fMP4 segments
 * fetched by the hub from the agent). The playlist is asked for with the session's bearer token;
 * its segment addresses carry short-lived tokens of their own, so hls.js fetches them plainly.
 * Times are wall-clock times (EXT-X-PROGRAM-DATE-TIME): the player seeks to one, reports the one
 * on screen, and maps across gaps (a seek into a gap lands on the next recorded range).
 * hls.js is loaded when the first player starts, so the rest of the console stays small.
 */
export type PlaybackState = 'idle' | 'loading' | 'playing' | 'paused' | 'no-recording' | 'failed'

export interface PlaybackOptions {
  cameraId: string
  token: () => string
  /** How far on either side of the asked time a playlist reaches (the hub allows up to 24 h). */
  windowMs?: number
  onState?: (state: PlaybackState, detail?: string) => void
  /** The wall-clock time on screen (epoch ms), at least once a second while playing. */
  onTime?: (wallMs: number) => void
}

let hlsModule: Promise<typeof import('hls.js')> | undefined
const loadHls = () => {
  hlsModule ??= import('hls.js')
  return hlsModule
}

export class PlaybackPlayer {
  private hls: Hls | undefined
  private fragments: Fragment[] = []
  private window: { from: number; to: number } | undefined
  private timer: ReturnType<typeof setInterval> | undefined
  private rate = 1
  private wantPlay = true
  private closed = false
  /** Where to go once the playlist is parsed (wall ms). */
  private pendingSeek: number | undefined
  state: PlaybackState = 'idle'

  constructor(
    readonly video: HTMLVideoElement,
    private readonly o: PlaybackOptions,
  ) {
    video.addEventListener('timeupdate', this.tick)
    video.addEventListener('playing', () => this.setState('playing'))
    video.addEventListener('pause', () => {
      if (this.state === 'playing') this.setState('paused')
    })
    this.timer = setInterval(this.tick, 250)
  }

  private setState(s: PlaybackState, detail?: string): void {
    this.state = s
    this.o.onState?.(s, detail)
  }

  private tick = (): void => {
    // Only a frame on screen has a time: nothing is shown before the first one is decoded.
    if (this.video.readyState < 2) return
    const wall = this.wallTime()
    if (wall !== undefined) {
      this.video.dataset.wallClock = new Date(wall).toISOString()
      this.o.onTime?.(wall)
    }
  }

  /** The wall-clock time of the frame on screen (epoch ms). */
  wallTime(): number | undefined {
    const t = this.video.currentTime
    const frag = this.fragments.find((f) => t >= f.start - 0.001 && t < f.start + f.duration + 0.05)
    if (!frag || frag.programDateTime === null) return undefined
    return frag.programDateTime + (t - frag.start) * 1000
  }

  /** The media time for a wall-clock time: inside a segment, or the start of the next one. */
  private mediaTimeOf(wallMs: number): number | undefined {
    for (const f of this.fragments) {
      if (f.programDateTime === null) continue
      const end = f.programDateTime + f.duration * 1000
      if (wallMs < f.programDateTime) return f.start
      if (wallMs < end) return f.start + (wallMs - f.programDateTime) / 1000
    }
    return undefined
  }

  /** Shows the frame at a wall-clock time (epoch ms), loading a new playlist when it is outside. */
  async seek(wallMs: number): Promise<void> {
    if (this.closed) return
    const w = this.window
    const margin = 30_000
    if (!w || wallMs < w.from || wallMs > w.to - margin) {
      await this.load(wallMs)
      return
    }
    const t = this.mediaTimeOf(wallMs)
    if (t === undefined) {
      this.setState('no-recording', 'nothing is recorded at or after this time')
      this.video.pause()
      return
    }
    this.video.currentTime = t
    if (this.wantPlay) void this.video.play().catch(() => {})
  }

  private async load(wallMs: number): Promise<void> {
    const half = (this.o.windowMs ?? 3600_000) / 2
    const now = Date.now()
    const from = Math.min(wallMs - half, now - 60_000)
    const to = Math.min(from + 2 * half, now)
    this.window = { from, to }
    this.pendingSeek = wallMs
    this.setState('loading')
    const { default: HlsCtor } = await loadHls()
    if (this.closed) return
    if (!HlsCtor.isSupported()) {
      this.setState('failed', 'this browser cannot play HLS with Media Source Extensions')
      return
    }
    this.hls?.destroy()
    const token = this.o.token
    const hls = new HlsCtor({
      // Only the playlist needs the session; segment addresses carry their own token.
      xhrSetup: (xhr, url) => {
        if (url.includes('/playback.m3u8')) {
          xhr.open('GET', url, true)
          xhr.setRequestHeader('authorization', `Bearer ${token()}`)
        }
      },
      // Loading starts where the asked time is, once the playlist says where that is.
      autoStartLoad: false,
      maxBufferLength: 30,
      backBufferLength: 60,
      enableWorker: false,
      lowLatencyMode: false,
    })
    this.hls = hls
    hls.on(HlsCtor.Events.LEVEL_LOADED, (_e, data) => {
      this.fragments = data.details.fragments
      if (this.pendingSeek === undefined) return
      const target = this.pendingSeek
      this.pendingSeek = undefined
      const t = this.mediaTimeOf(target)
      if (t === undefined) {
        this.setState('no-recording', 'nothing is recorded at or after this time')
        return
      }
      hls.startLoad(t)
      this.video.currentTime = t
      if (this.wantPlay) void this.video.play().catch(() => {})
    })
    hls.on(HlsCtor.Events.ERROR, (_e, data) => {
      // Kept on the element for whoever diagnoses a stall (tests, support).
      this.video.dataset.lastError = `${data.type}: ${data.details}${data.fatal ? ' (fatal)' : ''}`
      if (!data.fatal) return
      const status = (data.response as { code?: number } | undefined)?.code
      if (status === 401 && this.state !== 'failed') {
        // Segment tokens last minutes: a fresh playlist brings fresh ones.
        const at = this.wallTime() ?? wallMs
        void this.load(at)
        return
      }
      if (status === 404 || status === 400) {
        this.setState('no-recording', 'nothing is recorded in this range')
        return
      }
      this.setState('failed', status ? `the hub answered ${status}` : data.details)
    })
    const url = `/api/v1/cameras/${encodeURIComponent(this.o.cameraId)}/playback.m3u8?from=${encodeURIComponent(
      new Date(from).toISOString(),
    )}&to=${encodeURIComponent(new Date(to).toISOString())}`
    hls.attachMedia(this.video)
    hls.loadSource(url)
    this.video.playbackRate = this.rate
  }

  play(): void {
    this.wantPlay = true
    void this.video.play().catch(() => {})
  }

  pause(): void {
    this.wantPlay = false
    this.video.pause()
  }

  get paused(): boolean {
    return !this.wantPlay
  }

  setRate(rate: number): void {
    this.rate = rate
    this.video.playbackRate = rate
  }

  close(): void {
    this.closed = true
    if (this.timer !== undefined) clearInterval(this.timer)
    this.video.removeEventListener('timeupdate', this.tick)
    this.hls?.destroy()
    this.hls = undefined
    this.video.removeAttribute('data-wall-clock')
  }
}
