import { randomBytes } from 'node:crypto'
import dgram from 'node:dgram'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildSenderReport } from '../../edge-agent/src/media/rtp/rtcp.ts'
import { buildRtp } from '../../edge-agent/src/media/rtp/rtp.ts'
import { verifyDigest } from '../../edge-agent/src/media/rtsp/auth.ts'
import { parseTransport } from '../../edge-agent/src/media/rtsp/headers.ts'
import { RtspStreamParser } from '../../edge-agent/src/media/rtsp/message.ts'
import { type AudioClip, type Clip, loadAdtsClip, loadClip } from './clip.ts'
import { gopClip, gopFrames } from './gop-clip.ts'
import { packetizeAac, packetizeNal } from './packetize.ts'

/**
 * The camera simulator: an RTSP server (RFC 2326) that plays looping clips as live cameras over
 * TCP-interleaved or UDP transport, with optional Digest authentication, any number of clients,
 * and fault injection for tests (drop connections, stall, send garbage, refuse new connections).
 * A stream may also carry AAC audio (trackID=1), which a client sets up on the same session.
 */
const CLIPS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'clips')

export interface SimStreamOptions {
  name: string
  codec?: 'h264' | 'h265'
  auth?: { username: string; password: string; qop?: boolean }
  /** An Annex B clip with access-unit delimiters (see clips/README.md) instead of the bundled one. */
  clipFile?: string
  /** The bundled 320x180 H.264 clip, as a camera's sub-stream sends (the main clip is 640x360). */
  sub?: boolean
  /** The clip's frame rate (the bundled clips are 15 fps). */
  fps?: number
  /**
   * Seconds between keyframes, as a camera's GOP setting (the bundled clips: 1). Another value
   * plays the same pattern encoded by ffmpeg at that interval (`gop-clip.ts`); not with `clipFile`.
   */
  gopSeconds?: number
  /** An AAC audio track (trackID=1, 16 kHz mono, RFC 3640 AAC-hbr) looping with the video. */
  audio?: boolean
}

export type Fault = 'drop' | 'stall' | 'garbage' | 'refuse'

type Transport =
  | { kind: 'tcp'; channel: number }
  | { kind: 'udp'; host: string; rtpPort: number; rtcpPort: number }

/** The audio track of a session: its own transport, SSRC, sequence and sender-report counts. */
interface AudioTrack {
  transport: Transport
  sequence: number
  ssrc: number
  packets: number
  octets: number
  lastSr: number
}

interface Session {
  id: string
  socket: net.Socket
  stream: SimStream
  /** The video track's. */
  transport?: Transport
  audio?: AudioTrack
  playing: boolean
  sequence: number
  ssrc: number
  packets: number
  octets: number
  lastSr: number
}

/** A session on its first SETUP (video or audio), with random sequence start and SSRC. */
function newSession(socket: net.Socket, stream: SimStream): Session {
  return {
    id: randomBytes(6).toString('hex'),
    socket,
    stream,
    playing: false,
    sequence: randomBytes(2).readUInt16BE(0),
    ssrc: randomBytes(4).readUInt32BE(0),
    packets: 0,
    octets: 0,
    lastSr: 0,
  }
}

class SimStream {
  readonly clip: Clip
  readonly audio: AudioClip | undefined
  private index = 0
  private rtpTime = randomBytes(4).readUInt32BE(0)
  private timer: NodeJS.Timeout | undefined
  private audioTimer: NodeJS.Timeout | undefined
  /** The media clock both tracks follow: video ticks so far, and when the last one was. */
  private ticks = 0
  private lastTickAt = 0
  private readonly audioBase = randomBytes(4).readUInt32BE(0)
  /** Audio frames due so far (sent, or skipped while stalled). */
  private audioCount = 0
  readonly sessions = new Set<Session>()
  stalledUntil = 0
  refusingUntil = 0
  /** What the stream played (to whichever sessions were playing): frames, keyframes, the last keyframe's time. */
  readonly sent = { frames: 0, keyframes: 0, lastKeyframeAt: 0 }

  constructor(
    readonly options: SimStreamOptions,
    private readonly send: (s: Session, t: Transport | undefined, rtp: Buffer, rtcp?: Buffer) => void,
  ) {
    const codec = options.codec ?? 'h264'
    this.clip = loadClip(
      options.clipFile ??
        path.join(CLIPS, options.sub && codec === 'h264' ? 'sim-h264-sub.h264' : `sim-${codec}.${codec}`),
      codec,
      options.fps ?? 15,
    )
    this.audio = options.audio ? loadAdtsClip(path.join(CLIPS, 'sim-aac.adts')) : undefined
  }

  start() {
    const started = Date.now()
    this.lastTickAt = started
    if (!this.audio) {
      this.timer = setInterval(() => this.tick(), 1000 / this.clip.fps)
      return
    }
    // With two tracks clients align them through the sender reports, so the media clock must keep
    // to the wall clock. setInterval does not (it runs ~0.7% fast at 15 fps, which moves every
    // report ~7 ms against the previous one); each tick is scheduled against the start instead.
    const next = () => {
      const due = started + ((this.ticks + 1) * 1000) / this.clip.fps
      this.timer = setTimeout(
        () => {
          this.tick()
          next()
        },
        Math.max(0, due - Date.now()),
      )
    }
    next()
    // Audio frames (64 ms at 16 kHz) go out when the media clock reaches them, checked often
    // enough that each leaves within a few milliseconds of its time.
    this.audioTimer = setInterval(() => this.audioTick(), 10)
  }

  stop() {
    if (this.timer) clearTimeout(this.timer)
    if (this.audioTimer) clearInterval(this.audioTimer)
  }

  private tick() {
    const frame = this.clip.frames[this.index] as Clip['frames'][number]
    this.index = (this.index + 1) % this.clip.frames.length
    this.rtpTime = (this.rtpTime + 90000 / this.clip.fps) >>> 0
    this.ticks++
    this.lastTickAt = Date.now()
    if (Date.now() < this.stalledUntil) return
    const now = Date.now()
    this.sent.frames++
    if (frame.keyframe) {
      this.sent.keyframes++
      this.sent.lastKeyframeAt = now
    }
    const payloads = frame.nalus.flatMap((n) => packetizeNal(n, this.clip.codec))
    for (const s of this.sessions) {
      if (!s.playing || !s.transport) continue
      payloads.forEach((payload, i) => {
        const packet = buildRtp({
          payloadType: 96,
          sequence: s.sequence,
          timestamp: this.rtpTime,
          ssrc: s.ssrc,
          marker: i === payloads.length - 1,
          payload,
        })
        s.sequence = (s.sequence + 1) & 0xffff
        s.packets++
        s.octets += payload.length
        this.send(s, s.transport, packet)
      })
      if (now - s.lastSr >= 1000) {
        s.lastSr = now
        this.send(
          s,
          s.transport,
          Buffer.alloc(0),
          buildSenderReport({
            ssrc: s.ssrc,
            ntpMs: now,
            rtpTimestamp: this.rtpTime,
            packetCount: s.packets,
            octetCount: s.octets,
          }),
        )
      }
    }
  }

  /**
   * The media clock in audio samples: video ticks (the video RTP clock advances 90000 / fps per
   * tick), plus the time since the last tick, so audio and video share one timeline and the
   * sender reports of both tracks map it to the same wall clock.
   */
  private audioClock(now: number): number {
    const a = this.audio as AudioClip
    const sinceTick = Math.min(now - this.lastTickAt, 1000 / this.clip.fps)
    return Math.round((this.ticks / this.clip.fps + sinceTick / 1000) * a.sampleRate)
  }

  private audioTick() {
    const a = this.audio as AudioClip
    const now = Date.now()
    const clock = this.audioClock(now)
    // The audio loops with the video: loop k starts with video frame 0 of loop k (sent on tick
    // k * frames + 1). The bundled 10 s clip holds 156.25 frames of 1024 samples, so each loop sends
    // the 156 whole ones and leaves a 16 ms gap rather than overlapping the next loop.
    const loopSamples = Math.round((this.clip.frames.length / this.clip.fps) * a.sampleRate)
    const perLoop = Math.max(1, Math.min(a.frames.length, Math.floor(loopSamples / a.frameLength)))
    const start = Math.round(a.sampleRate / this.clip.fps)
    const stalled = now < this.stalledUntil
    for (;;) {
      const loop = Math.floor(this.audioCount / perLoop)
      const index = this.audioCount % perLoop
      const at = start + loop * loopSamples + index * a.frameLength
      if (at > clock) break
      this.audioCount++
      if (stalled) continue
      const payloads = packetizeAac(a.frames[index] as Buffer)
      for (const s of this.sessions) {
        if (!s.playing || !s.audio) continue
        const track = s.audio
        for (const { payload, marker } of payloads) {
          const packet = buildRtp({
            payloadType: 97,
            sequence: track.sequence,
            timestamp: (this.audioBase + at) >>> 0,
            ssrc: track.ssrc,
            marker,
            payload,
          })
          track.sequence = (track.sequence + 1) & 0xffff
          track.packets++
          track.octets += payload.length
          this.send(s, track.transport, packet)
        }
      }
    }
    if (stalled) return
    for (const s of this.sessions) {
      if (!s.playing || !s.audio || now - s.audio.lastSr < 1000) continue
      s.audio.lastSr = now
      this.send(
        s,
        s.audio.transport,
        Buffer.alloc(0),
        buildSenderReport({
          ssrc: s.audio.ssrc,
          ntpMs: now,
          rtpTimestamp: (this.audioBase + clock) >>> 0,
          packetCount: s.audio.packets,
          octetCount: s.audio.octets,
        }),
      )
    }
  }

  sdp(host: string): string {
    const ps = this.clip.parameterSets.map((p) => p.toString('base64'))
    const fmtp =
      this.clip.codec === 'h264'
        ? `packetization-mode=1;profile-level-id=${(this.clip.parameterSets[0] as Buffer).subarray(1, 4).toString('hex')};sprop-parameter-sets=${ps.join(',')}`
        : `sprop-vps=${ps[0]};sprop-sps=${ps[1]};sprop-pps=${ps[2]}`
    return [
      'v=0',
      `o=- ${Date.now()} 1 IN IP4 ${host}`,
      `s=TS-VMS camera simulator (${this.options.name})`,
      't=0 0',
      'a=control:*',
      'a=range:npt=0-',
      'm=video 0 RTP/AVP 96',
      'c=IN IP4 0.0.0.0',
      `a=rtpmap:96 ${this.clip.codec === 'h264' ? 'H264' : 'H265'}/90000`,
      `a=fmtp:96 ${fmtp}`,
      `a=framerate:${this.clip.fps}`,
      'a=control:trackID=0',
      ...(this.audio ? this.audioSdp(this.audio) : []),
      '',
    ].join('\r\n')
  }

  private audioSdp(a: AudioClip): string[] {
    return [
      'm=audio 0 RTP/AVP 97',
      'c=IN IP4 0.0.0.0',
      `a=rtpmap:97 MPEG4-GENERIC/${a.sampleRate}/${a.channels}`,
      // As Hikvision and Axis cameras write it, spaces after the semicolons included.
      `a=fmtp:97 streamtype=5; profile-level-id=15; mode=AAC-hbr; sizelength=13; indexlength=3; indexdeltalength=3; config=${a.config.toString('hex')}`,
      'a=control:trackID=1',
    ]
  }
}

export class CameraSimulator {
  private readonly streams = new Map<string, SimStream>()
  /** Other paths (with their query) for streams: the URLs real devices name (`alias`). */
  private readonly aliases = new Map<string, string>()
  private readonly connections = new Set<net.Socket>()
  private readonly udp: dgram.Socket
  private readonly nonce = randomBytes(12).toString('hex')

  private constructor(
    private readonly server: net.Server,
    readonly host: string,
    readonly port: number,
    udp: dgram.Socket,
  ) {
    this.udp = udp
  }

  static async start(options: {
    host?: string
    port?: number
    streams: SimStreamOptions[]
  }): Promise<CameraSimulator> {
    const host = options.host ?? '127.0.0.1'
    const udp = dgram.createSocket('udp4')
    await new Promise<void>((resolve) => udp.bind(0, host, resolve))
    let sim: CameraSimulator | undefined
    const server = net.createServer((socket) => sim?.accept(socket))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(options.port ?? 0, host, resolve)
    })
    sim = new CameraSimulator(server, host, (server.address() as net.AddressInfo).port, udp)
    for (const given of options.streams) {
      const s =
        // The bundled clips have a keyframe every 15 frames.
        given.gopSeconds !== undefined &&
        gopFrames(given.fps ?? 15, given.gopSeconds) !== 15 &&
        !given.clipFile
          ? {
              ...given,
              clipFile: await gopClip({
                codec: given.codec ?? 'h264',
                sub: given.sub === true,
                fps: given.fps ?? 15,
                gopSeconds: given.gopSeconds,
              }),
            }
          : given
      const stream = new SimStream(s, (session, t, rtp, rtcp) => sim?.deliver(session, t, rtp, rtcp))
      sim.streams.set(s.name, stream)
      stream.start()
    }
    return sim
  }

  /**
   * Serves a stream under another path too, as a vendor names it (`/Streaming/Channels/101`,
   * `/cam/realmonitor?channel=1&subtype=0`): a request whose path and query start with it (then
   * end, or go on with `/` as a track's URL does) gets that stream. False when the path is taken.
   */
  alias(path: string, stream: string): boolean {
    if (!this.streams.has(stream)) throw new Error(`no stream named ${stream}`)
    const existing = this.aliases.get(path)
    if (existing !== undefined) return existing === stream
    this.aliases.set(path, stream)
    return true
  }

  /** The stream an aliased URL names, the longest alias first. */
  private aliased(url: string): SimStream | undefined {
    let rest: string
    try {
      const u = new URL(url)
      rest = u.pathname + u.search
    } catch {
      return undefined
    }
    let best: string | undefined
    for (const path of this.aliases.keys()) {
      if (!rest.startsWith(path)) continue
      const next = rest.charAt(path.length)
      if ((next === '' || next === '/') && (best === undefined || path.length > best.length)) best = path
    }
    return best === undefined ? undefined : this.streams.get(this.aliases.get(best) as string)
  }

  url(name: string, credentials?: { username: string; password: string }): string {
    const auth = credentials
      ? `${encodeURIComponent(credentials.username)}:${encodeURIComponent(credentials.password)}@`
      : ''
    return `rtsp://${auth}${this.host}:${this.port}/${name}`
  }

  /** Injects a fault into a stream's sessions (for `ms` milliseconds where it lasts). */
  fault(name: string, fault: Fault, ms = 5000): void {
    const stream = this.streams.get(name)
    if (!stream) throw new Error(`no stream ${name}`)
    if (fault === 'stall') stream.stalledUntil = Date.now() + ms
    if (fault === 'refuse') stream.refusingUntil = Date.now() + ms
    for (const s of stream.sessions) {
      if (fault === 'drop') s.socket.destroy()
      if (fault === 'garbage') s.socket.write(randomBytes(512))
    }
  }

  /** Frames and keyframes a stream has sent so far (what a test proves a viewer's first frame against). */
  sent(name: string): { frames: number; keyframes: number; lastKeyframeAt: number } {
    const stream = this.streams.get(name)
    if (!stream) throw new Error(`no stream ${name}`)
    return { ...stream.sent }
  }

  sessionCount(name: string): number {
    return this.streams.get(name)?.sessions.size ?? 0
  }

  private deliver(s: Session, t: Transport | undefined, rtp: Buffer, rtcp?: Buffer) {
    if (!t || s.socket.destroyed) return
    if (t.kind === 'tcp') {
      // Interleaved: drop rather than queue without bound when the client cannot keep up.
      if (s.socket.writableLength > 4 * 1024 * 1024) return
      const frame = (channel: number, data: Buffer) => {
        const head = Buffer.from([0x24, channel, 0, 0])
        head.writeUInt16BE(data.length, 2)
        s.socket.write(Buffer.concat([head, data]))
      }
      if (rtp.length > 0) frame(t.channel, rtp)
      if (rtcp) frame(t.channel + 1, rtcp)
    } else {
      if (rtp.length > 0) this.udp.send(rtp, t.rtpPort, t.host)
      if (rtcp) this.udp.send(rtcp, t.rtcpPort, t.host)
    }
  }

  private accept(socket: net.Socket) {
    this.connections.add(socket)
    const parser = new RtspStreamParser()
    let session: Session | undefined
    socket.on('data', (chunk) => {
      let items: ReturnType<RtspStreamParser['push']>
      try {
        items = parser.push(chunk)
      } catch {
        socket.destroy()
        return
      }
      for (const item of items) {
        if (item.kind !== 'request') continue
        session = this.handle(socket, session, item.method, item.url, item.headers)
      }
    })
    const cleanup = () => {
      this.connections.delete(socket)
      if (session) session.stream.sessions.delete(session)
    }
    socket.on('close', cleanup)
    socket.on('error', cleanup)
  }

  private reply(
    socket: net.Socket,
    cseq: string,
    status: string,
    headers: Record<string, string> = {},
    body = '',
  ) {
    let text = `RTSP/1.0 ${status}\r\nCSeq: ${cseq}\r\nServer: TS-VMS camera simulator\r\n`
    for (const [k, v] of Object.entries(headers)) text += `${k}: ${v}\r\n`
    if (body) text += `Content-Length: ${Buffer.byteLength(body)}\r\n`
    socket.write(`${text}\r\n${body}`)
  }

  private handle(
    socket: net.Socket,
    session: Session | undefined,
    method: string,
    url: string,
    headers: Map<string, string>,
  ): Session | undefined {
    const cseq = headers.get('cseq') ?? '0'
    let segments: string[] = []
    try {
      segments = new URL(url).pathname.split('/').filter(Boolean)
    } catch {}
    const name = segments[0] ?? ''
    const stream = this.streams.get(name) ?? this.aliased(url) ?? session?.stream
    if (method === 'OPTIONS' && !stream) {
      this.reply(socket, cseq, '200 OK', {
        Public: 'OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER',
      })
      return session
    }
    if (!stream) {
      this.reply(socket, cseq, '404 Not Found')
      return session
    }
    if (Date.now() < stream.refusingUntil) {
      socket.destroy()
      return session
    }
    const auth = stream.options.auth
    if (
      auth &&
      !verifyDigest(headers.get('authorization'), method, {
        realm: 'TS-VMS Simulator',
        nonce: this.nonce,
        username: auth.username,
        password: auth.password,
      })
    ) {
      this.reply(socket, cseq, '401 Unauthorized', {
        'WWW-Authenticate': `Digest realm="TS-VMS Simulator", nonce="${this.nonce}"${auth.qop ? ', qop="auth"' : ''}`,
      })
      return session
    }
    switch (method) {
      case 'OPTIONS':
      case 'GET_PARAMETER':
        this.reply(socket, cseq, '200 OK', {
          Public: 'OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER',
          ...(session ? { Session: `${session.id};timeout=60` } : {}),
        })
        return session
      case 'DESCRIBE':
        this.reply(
          socket,
          cseq,
          '200 OK',
          {
            'Content-Type': 'application/sdp',
            'Content-Base': `rtsp://${this.host}:${this.port}/${stream.options.name}/`,
          },
          stream.sdp(this.host),
        )
        return session
      case 'SETUP': {
        const transport = parseTransport(headers.get('transport'))
        // Any other track URL sets up the video, as before audio existed.
        if (stream.audio && segments.length > 1 && segments.at(-1) === 'trackID=1') {
          return this.setupAudio(socket, session, stream, cseq, transport)
        }
        const s = session ?? newSession(socket, stream)
        if (transport?.protocol === 'udp' && transport.clientPort) {
          s.transport = {
            kind: 'udp',
            host: socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1',
            rtpPort: transport.clientPort[0],
            rtcpPort: transport.clientPort[1],
          }
          const port = this.udp.address().port
          this.reply(socket, cseq, '200 OK', {
            Transport: `RTP/AVP;unicast;client_port=${transport.clientPort[0]}-${transport.clientPort[1]};server_port=${port}-${port};ssrc=${s.ssrc.toString(16).padStart(8, '0')}`,
            Session: `${s.id};timeout=60`,
          })
        } else {
          const channel = transport?.interleaved?.[0] ?? 0
          s.transport = { kind: 'tcp', channel }
          this.reply(socket, cseq, '200 OK', {
            Transport: `RTP/AVP/TCP;unicast;interleaved=${channel}-${channel + 1};ssrc=${s.ssrc.toString(16).padStart(8, '0')}`,
            Session: `${s.id};timeout=60`,
          })
        }
        stream.sessions.add(s)
        return s
      }
      case 'PLAY':
        if (!session) {
          this.reply(socket, cseq, '454 Session Not Found')
          return session
        }
        session.playing = true
        this.reply(socket, cseq, '200 OK', { Session: session.id, Range: 'npt=0.000-' })
        return session
      case 'TEARDOWN':
        if (session) stream.sessions.delete(session)
        this.reply(socket, cseq, '200 OK')
        return undefined
      default:
        this.reply(socket, cseq, '405 Method Not Allowed')
        return session
    }
  }

  /** SETUP of the audio track: on the session of the connection if there is one (its Session header). */
  private setupAudio(
    socket: net.Socket,
    session: Session | undefined,
    stream: SimStream,
    cseq: string,
    transport: ReturnType<typeof parseTransport>,
  ): Session {
    const s = session ?? newSession(socket, stream)
    const ssrc = s.audio?.ssrc ?? randomBytes(4).readUInt32BE(0)
    const ssrcHex = ssrc.toString(16).padStart(8, '0')
    let t: Transport
    let reply: string
    if (transport?.protocol === 'udp' && transport.clientPort) {
      t = {
        kind: 'udp',
        host: socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1',
        rtpPort: transport.clientPort[0],
        rtcpPort: transport.clientPort[1],
      }
      const port = this.udp.address().port
      reply = `RTP/AVP;unicast;client_port=${t.rtpPort}-${t.rtcpPort};server_port=${port}-${port};ssrc=${ssrcHex}`
    } else {
      // Channels 2-3 unless the client picks: 0-1 are the video's by convention.
      const channel = transport?.interleaved?.[0] ?? 2
      t = { kind: 'tcp', channel }
      reply = `RTP/AVP/TCP;unicast;interleaved=${channel}-${channel + 1};ssrc=${ssrcHex}`
    }
    s.audio = s.audio
      ? { ...s.audio, transport: t }
      : {
          transport: t,
          ssrc,
          sequence: randomBytes(2).readUInt16BE(0),
          packets: 0,
          octets: 0,
          lastSr: 0,
        }
    this.reply(socket, cseq, '200 OK', { Transport: reply, Session: `${s.id};timeout=60` })
    stream.sessions.add(s)
    return s
  }

  async close(): Promise<void> {
    for (const s of this.streams.values()) s.stop()
    for (const c of this.connections) c.destroy()
    this.udp.close()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}
