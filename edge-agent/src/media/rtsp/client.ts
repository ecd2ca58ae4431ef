import dgram from 'node:dgram'
import { EventEmitter } from 'node:events'
import net from 'node:net'
import { cleanText } from '@ts-vms/shared'
import { AacDepacketizer, aacParams } from '../codec/aac.ts'
import type { AccessUnit, AudioFormat, AudioFrame } from '../codec/access-unit.ts'
import { Depacketizer, type PayloadFormat } from '../codec/depacketizer.ts'
import { H264 } from '../codec/h264.ts'
import { H265 } from '../codec/h265.ts'
import { parseSenderReports } from '../rtp/rtcp.ts'
import { parseRtp } from '../rtp/rtp.ts'
import { type ClockStatus, Timeline } from '../rtp/timeline.ts'
import { h264ParameterSets, h265ParameterSets, parseSdp, type Sdp } from '../sdp/sdp.ts'
import { Authenticator, parseChallenges } from './auth.ts'
import { parsePublic, parseSession, parseTransport, type SessionHeader } from './headers.ts'
import { formatRequest, type RtspResponse, RtspStreamParser } from './message.ts'
import { parseRtspUrl, resolveControl } from './url.ts'

/**
 * One RTSP session pulling one camera stream (RFC 2326): OPTIONS, DESCRIBE (answering Basic or
 * Digest challenges, following redirects), SETUP of the video track over TCP-interleaved or UDP,
 * PLAY, keepalives within the session timeout, TEARDOWN. Emits `frame` for every access unit and
 * `close` (with the reason) exactly once when the session ends for any cause.
 *
 * Credentials are kept apart from the URL and never appear in errors or logs.
 */
export interface RtspClientOptions {
  url: string
  username?: string
  password?: string
  transport?: 'tcp' | 'udp'
  /** Also set up the camera's AAC audio track, if it has one (default: true). */
  audio?: boolean
  requestTimeoutMs?: number
  /**
   * No progress for this long ends the session: no complete video frame, however many packets
   * arrive (a camera sending endless fragments of one frame is as stuck as a silent one).
   */
  dataTimeoutMs?: number
  userAgent?: string
}

export interface StreamInfo {
  codec: 'h264' | 'h265'
  /** The stream's audio, when the camera sends AAC and the client was asked to take it. */
  audio?: AudioFormat
  parameterSets: Buffer[]
  clockRate: number
  /** The SETUP URL of the track (credentials never included). */
  trackUrl: string
  transport: 'tcp' | 'udp'
  sdp: Sdp
  /** The video timeline's view of the camera's clock (drift, timestamp jumps), read for health. */
  clock?: { readonly status: ClockStatus }
}

/** Most characters of an error's message: it holds text from the camera, and travels in events. */
export const MAX_ERROR_LENGTH = 500

/**
 * A failure of the session. Its message may hold text from the camera (a reason phrase, a parse
 * error quoting a line): bounded and stripped of control characters here, where it is made.
 */
export class RtspError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(cleanText(message, { maxLength: MAX_ERROR_LENGTH }))
    this.name = 'RtspError'
  }
}

/**
 * Bytes the agent may have queued for the camera: requests and answers are small, so a backlog
 * this size means the camera no longer reads (a flood of its requests would queue our answers).
 */
export const MAX_WRITE_BACKLOG = 1024 * 1024

export interface RtspClientEvents {
  /** Every video RTP packet as it arrives, before parsing (for relays and latency measurement). */
  packet: [Buffer]
  frame: [AccessUnit]
  close: [Error | undefined]
  audio: [AudioFrame]
}

/** The audio track of a session, when there is one. */
interface AudioTrack {
  channel: number
  timeline: Timeline
  depacketizer: AacDepacketizer
  format: AudioFormat
}

export class RtspClient extends EventEmitter<RtspClientEvents> {
  private socket: net.Socket | undefined
  private readonly parser = new RtspStreamParser()
  private cseq = 0
  private readonly pending = new Map<
    number,
    { resolve: (r: RtspResponse) => void; reject: (e: Error) => void }
  >()
  private auth: Authenticator | undefined
  private session: SessionHeader | undefined
  private keepalive: NodeJS.Timeout | undefined
  private dataWatch: NodeJS.Timeout | undefined
  /** When the last complete video frame came out (the stall timeout counts progress, not packets). */
  private lastProgress = Date.now()
  private udp: dgram.Socket[] = []
  private channel = 0
  private depacketizer: Depacketizer | undefined
  private timeline: Timeline | undefined
  private audio: AudioTrack | undefined
  private closed = false
  private methods = new Set<string>()
  private readonly target: ReturnType<typeof parseRtspUrl>
  private readonly username: string | undefined
  private readonly password: string | undefined
  /** Bytes of media received (for bitrate). */
  bytes = 0
  frames = 0
  info: StreamInfo | undefined

  constructor(private readonly o: RtspClientOptions) {
    super()
    this.target = parseRtspUrl(o.url)
    this.username = o.username ?? this.target.username
    this.password = o.password ?? this.target.password
  }

  get lost(): number {
    return this.timeline?.lost ?? 0
  }

  /** Access units that outgrew the reassembly limits (see `reassemblyLimits`). */
  get oversizedAccessUnits(): number {
    return this.depacketizer?.oversizedAccessUnits ?? 0
  }

  /** Access units dropped for that: the oversized ones and those up to the next keyframe. */
  get droppedAccessUnits(): number {
    return this.depacketizer?.droppedAccessUnits ?? 0
  }

  /** Writes to the camera, unless it has stopped reading: then the session ends. */
  private write(data: string | Buffer): void {
    const socket = this.socket
    if (!socket || socket.destroyed) return
    if (socket.writableLength > MAX_WRITE_BACKLOG) {
      this.end(new RtspError('the camera does not read what the agent sends'))
      return
    }
    socket.write(data)
  }

  private connectSocket(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port })
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new RtspError(`no connection to ${host}:${port} within ${this.timeoutMs} ms`))
      }, this.timeoutMs)
      socket.once('connect', () => {
        clearTimeout(timer)
        socket.setNoDelay(true)
        resolve()
      })
      socket.once('error', (err) => {
        clearTimeout(timer)
        reject(new RtspError(`cannot connect to ${host}:${port}: ${err.message}`))
      })
      socket.on('data', (chunk) => this.onData(chunk))
      socket.on('close', () => this.end(new RtspError('the camera closed the connection')))
      socket.on('error', () => {})
      this.socket = socket
    })
  }

  private get timeoutMs() {
    return this.o.requestTimeoutMs ?? 10_000
  }

  private onData(chunk: Buffer): void {
    let items: ReturnType<RtspStreamParser['push']>
    try {
      items = this.parser.push(chunk)
    } catch (err) {
      this.end(new RtspError(`unreadable data from the camera: ${(err as Error).message}`))
      return
    }
    for (const item of items) {
      if (item.kind === 'response') {
        const cseq = Number(item.response.headers.get('cseq'))
        const waiter = this.pending.get(cseq)
        if (waiter) {
          this.pending.delete(cseq)
          waiter.resolve(item.response)
        }
      } else if (item.kind === 'frame') {
        const ch = item.frame.channel
        if (ch === this.channel) this.onRtp(item.frame.data)
        else if (ch === this.channel + 1) this.onRtcp(item.frame.data)
        else if (this.audio && ch === this.audio.channel) this.onAudioRtp(item.frame.data)
        else if (this.audio && ch === this.audio.channel + 1) this.onAudioRtcp(item.frame.data)
      } else if (item.kind === 'request') {
        // Servers may ping us (GET_PARAMETER, OPTIONS): answer so they keep the session.
        const cseq = /^\d{1,10}$/.test(item.headers.get('cseq') ?? '') ? item.headers.get('cseq') : '0'
        this.write(`RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\n\r\n`)
        if (this.closed) return
      }
    }
  }

  private onRtp(data: Buffer): void {
    if (this.listenerCount('packet') > 0) this.emit('packet', data)
    this.bytes += data.length
    const packet = parseRtp(data)
    if (!packet || !this.depacketizer) return
    for (const au of this.depacketizer.push(packet, Date.now())) {
      this.frames++
      this.lastProgress = Date.now()
      this.emit('frame', au)
    }
  }

  private onRtcp(data: Buffer): void {
    for (const sr of parseSenderReports(data)) this.timeline?.senderReport(sr.rtpTimestamp, sr.ntpMs)
  }

  private onAudioRtp(data: Buffer): void {
    const a = this.audio
    // Audio alone is not progress: the recorder and viewers wait for video.
    this.bytes += data.length
    const packet = parseRtp(data)
    if (!packet || !a) return
    const lost = a.timeline.sequence(packet.sequence)
    const ts = a.timeline.unwrapTimestamp(packet.timestamp)
    const frames = a.depacketizer.push(packet.payload, ts, packet.marker, lost > 0)
    if (frames === 'invalid') return
    const now = Date.now()
    for (const f of frames)
      this.emit('audio', {
        codec: 'aac',
        timestamp: f.timestamp,
        wallMs: a.timeline.wallClock(f.timestamp, now),
        data: f.data,
      })
  }

  private onAudioRtcp(data: Buffer): void {
    for (const sr of parseSenderReports(data)) this.audio?.timeline.senderReport(sr.rtpTimestamp, sr.ntpMs)
  }

  private request(method: string, url: string, headers: Record<string, string> = {}): Promise<RtspResponse> {
    const socket = this.socket
    if (!socket || this.closed) return Promise.reject(new RtspError('the session is closed'))
    const cseq = ++this.cseq
    const all: Record<string, string> = {
      CSeq: String(cseq),
      'User-Agent': this.o.userAgent ?? 'TS-VMS edge agent',
      ...(this.session ? { Session: this.session.id } : {}),
      ...headers,
    }
    if (this.auth) all.Authorization = this.auth.authorization(method, url)
    return new Promise<RtspResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(cseq)
        reject(new RtspError(`${method}: no answer within ${this.timeoutMs} ms`))
      }, this.timeoutMs)
      this.pending.set(cseq, {
        resolve: (r) => {
          clearTimeout(timer)
          resolve(r)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      })
      this.write(formatRequest(method, url, all))
    })
  }

  /** Sends a request; answers one authentication challenge; throws on any other failure. */
  private async call(
    method: string,
    url: string,
    headers: Record<string, string> = {},
  ): Promise<RtspResponse> {
    let response = await this.request(method, url, headers)
    if (response.status === 401) {
      const challenge = parseChallenges(response.headers.get('www-authenticate'))[0]
      if (!challenge) throw new RtspError(`${method}: 401 without a usable challenge`, 401)
      if (this.username === undefined)
        throw new RtspError('the camera wants credentials and none are configured', 401)
      const first = !this.auth
      this.auth = new Authenticator(challenge, this.username, this.password ?? '')
      if (!first && !challenge.stale) throw new RtspError('the camera refused the credentials', 401)
      response = await this.request(method, url, headers)
      if (response.status === 401) throw new RtspError('the camera refused the credentials', 401)
    }
    if (response.status < 200 || response.status >= 400) {
      throw new RtspError(`${method}: ${response.status} ${response.reason}`, response.status)
    }
    return response
  }

  /** Opens the session and starts the media; resolves with what the stream is. */
  async connect(): Promise<StreamInfo> {
    let url = this.target.url
    let host = this.target.host
    let port = this.target.port
    let describe: RtspResponse | undefined
    for (let redirects = 0; redirects < 4 && !describe; redirects++) {
      await this.connectSocket(host, port)
      try {
        const options = await this.call('OPTIONS', url)
        this.methods = parsePublic(options.headers.get('public'))
        const r = await this.call('DESCRIBE', url, { Accept: 'application/sdp' })
        if (r.status >= 300 && r.status < 400) {
          const location = r.headers.get('location')
          if (!location) throw new RtspError(`DESCRIBE: ${r.status} without a Location`, r.status)
          const next = parseRtspUrl(location)
          url = next.url
          host = next.host
          port = next.port
          this.detachSocket()
          continue
        }
        describe = r
      } catch (err) {
        this.end(err as Error)
        throw err
      }
    }
    if (!describe) {
      const err = new RtspError('too many redirects')
      this.end(err)
      throw err
    }
    try {
      const sdp = parseSdp(describe.body.toString('utf8'))
      const media = sdp.media.find((m) => m.type === 'video' && (m.codec === 'H264' || m.codec === 'H265'))
      if (!media) throw new RtspError('the camera offers no H.264 or H.265 video')
      const codec = media.codec === 'H265' ? 'h265' : 'h264'
      const base = describe.headers.get('content-base') ?? describe.headers.get('content-location') ?? url
      const trackUrl = resolveControl(base, media.control)
      const sessionUrl = sdp.control && sdp.control !== '*' ? resolveControl(base, sdp.control) : base
      const transport = this.o.transport ?? 'tcp'
      let transportHeader = 'RTP/AVP/TCP;unicast;interleaved=0-1'
      if (transport === 'udp') {
        const [rtpPort, rtcpPort] = await this.bindUdp(
          (m) => this.onRtp(m),
          (m) => this.onRtcp(m),
        )
        transportHeader = `RTP/AVP;unicast;client_port=${rtpPort}-${rtcpPort}`
      }
      const setup = await this.call('SETUP', trackUrl, { Transport: transportHeader })
      this.session = parseSession(setup.headers.get('session'))
      if (!this.session) throw new RtspError('SETUP: no session in the answer')
      const t = parseTransport(setup.headers.get('transport'))
      if (transport === 'tcp') this.channel = t?.interleaved?.[0] ?? 0
      const audioFormat = this.o.audio === false ? undefined : await this.setupAudio(sdp, base, transport)
      const parameterSets = codec === 'h264' ? h264ParameterSets(media) : h265ParameterSets(media)
      const format: PayloadFormat = codec === 'h264' ? H264 : H265
      this.timeline = new Timeline(media.clockRate ?? 90000)
      this.depacketizer = new Depacketizer(format, this.timeline, parameterSets)
      await this.call('PLAY', sessionUrl, { Range: 'npt=0.000-' })
      this.startTimers()
      this.info = {
        codec,
        parameterSets,
        clockRate: media.clockRate ?? 90000,
        trackUrl,
        transport,
        sdp,
        ...(audioFormat ? { audio: audioFormat } : {}),
        clock: this.timeline,
      }
      return this.info
    } catch (err) {
      this.end(err as Error)
      throw err
    }
  }

  /**
   * SETUP of the camera's AAC track in the same session, if it has one. Audio is a bonus: a camera
   * that refuses it still streams video, without audio.
   */
  private async setupAudio(
    sdp: Sdp,
    base: string,
    transport: 'tcp' | 'udp',
  ): Promise<AudioFormat | undefined> {
    const media = sdp.media.find((m) => m.type === 'audio' && aacParams(m))
    const params = media ? aacParams(media) : undefined
    if (!media || !params) return undefined
    let header = `RTP/AVP/TCP;unicast;interleaved=${this.channel + 2}-${this.channel + 3}`
    if (transport === 'udp') {
      const [rtpPort, rtcpPort] = await this.bindUdp(
        (m) => this.onAudioRtp(m),
        (m) => this.onAudioRtcp(m),
      )
      header = `RTP/AVP;unicast;client_port=${rtpPort}-${rtcpPort}`
    }
    let answer: RtspResponse
    try {
      answer = await this.call('SETUP', resolveControl(base, media.control), { Transport: header })
    } catch {
      return undefined
    }
    const t = parseTransport(answer.headers.get('transport'))
    const format: AudioFormat = {
      codec: 'aac',
      codecString: params.codecString,
      sampleRate: params.sampleRate,
      channels: params.channels,
      frameLength: params.frameLength,
      config: params.config,
    }
    this.audio = {
      channel: transport === 'tcp' ? (t?.interleaved?.[0] ?? this.channel + 2) : -1,
      timeline: new Timeline(media.clockRate ?? params.sampleRate),
      depacketizer: new AacDepacketizer(params),
      format,
    }
    return format
  }

  private async bindUdp(onRtp: (m: Buffer) => void, onRtcp: (m: Buffer) => void): Promise<[number, number]> {
    // RTP on an even port, RTCP on the next one (RFC 3550 §11).
    for (let attempt = 0; attempt < 20; attempt++) {
      const rtp = dgram.createSocket('udp4')
      await new Promise<void>((resolve) => rtp.bind(0, resolve))
      const port = rtp.address().port
      if (port % 2 !== 0) {
        rtp.close()
        continue
      }
      const rtcp = dgram.createSocket('udp4')
      const ok = await new Promise<boolean>((resolve) => {
        rtcp.once('error', () => resolve(false))
        rtcp.bind(port + 1, () => resolve(true))
      })
      if (!ok) {
        rtp.close()
        continue
      }
      rtp.on('message', onRtp)
      rtcp.on('message', onRtcp)
      this.udp.push(rtp, rtcp)
      return [port, port + 1]
    }
    throw new RtspError('no free UDP port pair')
  }

  private startTimers(): void {
    const timeout = this.session?.timeout ?? 60
    const method = this.methods.has('GET_PARAMETER') ? 'GET_PARAMETER' : 'OPTIONS'
    const url = this.target.url
    this.keepalive = setInterval(
      () => {
        this.request(method, url).catch(() => {})
      },
      Math.max(1000, (timeout * 1000) / 2),
    )
    this.keepalive.unref()
    this.lastProgress = Date.now()
    const dataTimeout = this.o.dataTimeoutMs ?? 10_000
    this.dataWatch = setInterval(
      () => {
        if (Date.now() - this.lastProgress > dataTimeout)
          this.end(new RtspError(`no media for ${dataTimeout} ms (no complete video frame)`))
      },
      Math.min(1000, dataTimeout / 2),
    )
    this.dataWatch.unref()
  }

  private detachSocket(): void {
    const s = this.socket
    this.socket = undefined
    s?.removeAllListeners('close')
    s?.destroy()
  }

  private end(reason: Error | undefined): void {
    if (this.closed) return
    this.closed = true
    if (this.keepalive) clearInterval(this.keepalive)
    if (this.dataWatch) clearInterval(this.dataWatch)
    for (const p of this.pending.values()) p.reject(reason ?? new RtspError('closed'))
    this.pending.clear()
    this.socket?.destroy()
    for (const u of this.udp) {
      try {
        u.close()
      } catch {}
    }
    this.emit('close', reason)
  }

  /** TEARDOWN (best effort), then closes. */
  async close(): Promise<void> {
    if (this.closed) return
    if (this.session && this.socket && !this.socket.destroyed) {
      await Promise.race([
        this.request('TEARDOWN', this.target.url).catch(() => {}),
        new Promise((r) => setTimeout(r, 1000)),
      ])
    }
    this.end(undefined)
  }
}
