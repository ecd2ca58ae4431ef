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
import { type Clip, loadClip } from './clip.ts'
import { packetizeNal } from './packetize.ts'

/**
 * The camera simulator: an RTSP server (RFC 2326) that plays looping clips as live cameras over
 * TCP-interleaved or UDP transport, with optional Digest authentication, any number of clients,
 * and fault injection for tests (drop connections, stall, send garbage, refuse new connections).
 */
const CLIPS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'clips')

export interface SimStreamOptions {
  name: string
  codec?: 'h264' | 'h265'
  auth?: { username: string; password: string; qop?: boolean }
  /** An Annex B clip with access-unit delimiters (see clips/README.md) instead of the bundled one. */
  clipFile?: string
  /** The clip's frame rate (the bundled clips are 15 fps). */
  fps?: number
}

export type Fault = 'drop' | 'stall' | 'garbage' | 'refuse'

interface Session {
  id: string
  socket: net.Socket
  stream: SimStream
  transport?:
    | { kind: 'tcp'; channel: number }
    | { kind: 'udp'; host: string; rtpPort: number; rtcpPort: number }
  playing: boolean
  sequence: number
  ssrc: number
  packets: number
  octets: number
  lastSr: number
}

class SimStream {
  readonly clip: Clip
  private index = 0
  private rtpTime = randomBytes(4).readUInt32BE(0)
  private timer: NodeJS.Timeout | undefined
  readonly sessions = new Set<Session>()
  stalledUntil = 0
  refusingUntil = 0

  constructor(
    readonly options: SimStreamOptions,
    private readonly send: (s: Session, rtp: Buffer, rtcp?: Buffer) => void,
  ) {
    const codec = options.codec ?? 'h264'
    this.clip = loadClip(
      options.clipFile ?? path.join(CLIPS, `sim-${codec}.${codec}`),
      codec,
      options.fps ?? 15,
    )
  }

  start() {
    this.timer = setInterval(() => this.tick(), 1000 / this.clip.fps)
  }

  stop() {
    if (this.timer) clearInterval(this.timer)
  }

  private tick() {
    const frame = this.clip.frames[this.index] as Clip['frames'][number]
    this.index = (this.index + 1) % this.clip.frames.length
    this.rtpTime = (this.rtpTime + 90000 / this.clip.fps) >>> 0
    if (Date.now() < this.stalledUntil) return
    const now = Date.now()
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
        this.send(s, packet)
      })
      if (now - s.lastSr >= 1000) {
        s.lastSr = now
        this.send(
          s,
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
      '',
    ].join('\r\n')
  }
}

export class CameraSimulator {
  private readonly streams = new Map<string, SimStream>()
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
    for (const s of options.streams) {
      const stream = new SimStream(s, (session, rtp, rtcp) => sim?.deliver(session, rtp, rtcp))
      sim.streams.set(s.name, stream)
      stream.start()
    }
    return sim
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

  sessionCount(name: string): number {
    return this.streams.get(name)?.sessions.size ?? 0
  }

  private deliver(s: Session, rtp: Buffer, rtcp?: Buffer) {
    const t = s.transport
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
    let name = ''
    try {
      name = new URL(url).pathname.split('/').filter(Boolean)[0] ?? ''
    } catch {}
    const stream = this.streams.get(name) ?? session?.stream
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
          { 'Content-Type': 'application/sdp', 'Content-Base': `rtsp://${this.host}:${this.port}/${name}/` },
          stream.sdp(this.host),
        )
        return session
      case 'SETUP': {
        const transport = parseTransport(headers.get('transport'))
        const s: Session = session ?? {
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

  async close(): Promise<void> {
    for (const s of this.streams.values()) s.stop()
    for (const c of this.connections) c.destroy()
    this.udp.close()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}
