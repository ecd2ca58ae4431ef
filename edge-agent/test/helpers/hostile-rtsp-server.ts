import { randomBytes } from 'node:crypto'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Clip, loadClip } from '../../../scripts/camera-sim/clip.ts'
import { packetizeNal } from '../../../scripts/camera-sim/packetize.ts'
import { buildSenderReport } from '../../src/media/rtp/rtcp.ts'
import { buildRtp } from '../../src/media/rtp/rtp.ts'
import { parseTransport } from '../../src/media/rtsp/headers.ts'
import { RtspStreamParser } from '../../src/media/rtsp/message.ts'

/**
 * A hostile RTSP camera for tests: each mode reproduces one way a real (broken or malicious)
 * camera attacked the agent (issue 11). It speaks just enough RTSP over TCP interleaved to get a
 * client to PLAY, and reuses the simulator's clips and packetizer so the media that is valid is
 * the same media the simulator sends.
 *
 * - `huge-status`: OPTIONS is answered `RTSP/1.0 500 ` followed by 60,000 bytes of control characters.
 * - `endless-fua`: a normal session plays a few valid frames, then an FU start followed by endless
 *   middle fragments with one timestamp and no marker, until `byteBudget` bytes of fragments have
 *   gone out (over all connections); then the fragment is ended and the clip plays on from a keyframe.
 * - `timestamp-jump-back`: plays the clip; after `jumpAfterFrames` frames the RTP timestamps jump
 *   back by `jumpBackSeconds` (an hour) and go on from there.
 * - `clock-in-past`: plays the clip with RTCP sender reports whose NTP time is `clockOffsetMs`
 *   (20 years) in the past.
 * - `silent`: accepts connections and never answers.
 * - `huge-content-length`: answers DESCRIBE with `Content-Length: 2000000000` and a trickle of body.
 * - `flapping`: plays for `playMs`, then drops the connection; again on every connection.
 */
export type HostileMode =
  | 'huge-status'
  | 'endless-fua'
  | 'timestamp-jump-back'
  | 'clock-in-past'
  | 'silent'
  | 'huge-content-length'
  | 'flapping'

export const HOSTILE_MODES: readonly HostileMode[] = [
  'huge-status',
  'endless-fua',
  'timestamp-jump-back',
  'clock-in-past',
  'silent',
  'huge-content-length',
  'flapping',
]

export interface HostileRtspServerOptions {
  mode: HostileMode
  codec?: 'h264' | 'h265'
  host?: string
  /** Frames per second of normal play (the bundled clips are 15 fps). */
  fps?: number
  /** RTCP sender reports once a second (default true; `clock-in-past` always sends them). */
  senderReports?: boolean
  /** huge-status: bytes of control characters after `500 ` (default 60,000). */
  statusBytes?: number
  /** endless-fua: valid frames (from the clip's first keyframe) before the endless fragment (default 2). */
  leadFrames?: number
  /**
   * endless-fua: bytes of FU payload to send in all (over every connection) before ending the
   * fragment and playing on. Keeps the test bounded (default 64 MiB).
   */
  byteBudget?: number
  /**
   * endless-fua: when set, each fragmented NAL unit ends after this many bytes and another starts,
   * all with the same timestamp and no marker: an access unit of endless complete NAL units.
   * Unset: one endless NAL unit.
   */
  nalBytes?: number
  /** endless-fua: FU payload bytes per packet (default 1,400). */
  fragmentBytes?: number
  /** endless-fua: at most this many FU bytes a second (default: as fast as the client reads). */
  bytesPerSecond?: number
  /** timestamp-jump-back: frames played before the jump (default 30). */
  jumpAfterFrames?: number
  /** timestamp-jump-back: how far back the timestamps jump (default 3,600 s). */
  jumpBackSeconds?: number
  /** clock-in-past: the camera's clock against the real one (default 20 years back). */
  clockOffsetMs?: number
  /** flapping: how long each connection plays before it is dropped (default 1,500 ms). */
  playMs?: number
}

export interface HostileStats {
  /** Connections accepted, and still open. */
  connections: number
  openConnections: number
  /** Requests received, by method. */
  requests: Record<string, number>
  /** Sessions that reached PLAY. */
  plays: number
  /** Valid frames sent (all connections). */
  framesSent: number
  /** endless-fua: FU payload bytes sent, and whether the budget is spent. */
  fragmentBytesSent: number
  budgetSpent: boolean
  /** timestamp-jump-back: connections whose timestamps jumped. */
  jumps: number
  /** RTCP sender reports sent. */
  senderReports: number
  /** flapping: connections the server dropped. */
  drops: number
}

export interface HostileRtspServer {
  url: string
  port: number
  stats: HostileStats
  close(): Promise<void>
}

const CLIPS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../scripts/camera-sim/clips')
const TWENTY_YEARS_MS = 20 * 365.25 * 24 * 3600 * 1000
const PUBLIC = 'OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER'

/** C0 controls other than CR and LF (which would end the status line), and DEL. */
function controlCharacters(n: number): Buffer {
  const set = [...Array.from({ length: 32 }, (_, i) => i).filter((c) => c !== 0x0a && c !== 0x0d), 0x7f]
  const out = Buffer.alloc(n)
  for (let i = 0; i < n; i++) out[i] = set[i % set.length] as number
  return out
}

interface Connection {
  socket: net.Socket
  sessionId: string
  channel: number
  ssrc: number
  sequence: number
  rtpTime: number
  frameIndex: number
  framesSent: number
  packets: number
  octets: number
  lastSr: number
  jumped: boolean
  timers: NodeJS.Timeout[]
}

export async function startHostileRtspServer(options: HostileRtspServerOptions): Promise<HostileRtspServer> {
  const o = {
    codec: 'h264' as const,
    host: '127.0.0.1',
    fps: 15,
    senderReports: true,
    statusBytes: 60_000,
    leadFrames: 2,
    byteBudget: 64 * 1024 * 1024,
    fragmentBytes: 1400,
    jumpAfterFrames: 30,
    jumpBackSeconds: 3600,
    clockOffsetMs: -TWENTY_YEARS_MS,
    playMs: 1500,
    ...options,
  }
  const clip = loadClip(path.join(CLIPS, `sim-${o.codec}.${o.codec}`), o.codec, o.fps)
  const stats: HostileStats = {
    connections: 0,
    openConnections: 0,
    requests: {},
    plays: 0,
    framesSent: 0,
    fragmentBytesSent: 0,
    budgetSpent: false,
    jumps: 0,
    senderReports: 0,
    drops: 0,
  }
  const connections = new Set<Connection>()
  const tick = 90000 / o.fps

  /** One interleaved frame; false when the socket's buffer is full (wait for 'drain'). */
  const interleaved = (c: Connection, channel: number, data: Buffer): boolean => {
    const head = Buffer.from([0x24, channel, 0, 0])
    head.writeUInt16BE(data.length, 2)
    return c.socket.write(Buffer.concat([head, data]))
  }

  const sendRtp = (c: Connection, payload: Buffer, marker: boolean): boolean => {
    const packet = buildRtp({
      payloadType: 96,
      sequence: c.sequence,
      timestamp: c.rtpTime,
      ssrc: c.ssrc,
      marker,
      payload,
    })
    c.sequence = (c.sequence + 1) & 0xffff
    c.packets++
    c.octets += payload.length
    return interleaved(c, c.channel, packet)
  }

  const senderReport = (c: Connection, force = false) => {
    const now = Date.now()
    const wanted = o.senderReports || o.mode === 'clock-in-past'
    if (!wanted || (!force && now - c.lastSr < 1000)) return
    c.lastSr = now
    stats.senderReports++
    interleaved(
      c,
      c.channel + 1,
      buildSenderReport({
        ssrc: c.ssrc,
        ntpMs: o.mode === 'clock-in-past' ? now + o.clockOffsetMs : now,
        rtpTimestamp: c.rtpTime,
        packetCount: c.packets,
        octetCount: c.octets,
      }),
    )
  }

  /** The next clip frame, at the next timestamp; false when the socket is backed up. */
  const sendFrame = (c: Connection): boolean => {
    const frame = clip.frames[c.frameIndex] as Clip['frames'][number]
    c.frameIndex = (c.frameIndex + 1) % clip.frames.length
    c.rtpTime = (c.rtpTime + tick) >>> 0
    if (o.mode === 'timestamp-jump-back' && !c.jumped && c.framesSent === o.jumpAfterFrames) {
      c.jumped = true
      stats.jumps++
      c.rtpTime = (c.rtpTime - o.jumpBackSeconds * 90000) >>> 0
    }
    const payloads = frame.nalus.flatMap((n) => packetizeNal(n, clip.codec))
    let ok = true
    payloads.forEach((p, i) => {
      ok = sendRtp(c, p, i === payloads.length - 1) && ok
    })
    c.framesSent++
    stats.framesSent++
    senderReport(c)
    return ok
  }

  /** Real-time play at the clip's rate; drops frames rather than queueing when the client lags. */
  const play = (c: Connection) => {
    const timer = setInterval(() => {
      if (c.socket.destroyed) return clearInterval(timer)
      if (c.socket.writableLength > 4 * 1024 * 1024) return
      sendFrame(c)
    }, 1000 / o.fps)
    c.timers.push(timer)
  }

  /** An FU start, middles and (when a NAL ends) end fragment, in the codec's payload format. */
  const fragment = (start: boolean, end: boolean, body: Buffer): Buffer => {
    const flags = (start ? 0x80 : 0) | (end ? 0x40 : 0)
    if (clip.codec === 'h264') return Buffer.concat([Buffer.from([0x60 | 28, flags | 1]), body])
    // H.265 FU (type 49), NAL type 1 (TRAIL_R), layer 0, TID 1.
    return Buffer.concat([Buffer.from([49 << 1, 1, flags | 1]), body])
  }

  const endlessFua = (c: Connection) => {
    // A keyframe or two, sent as fast as the socket takes them.
    c.frameIndex = 0
    for (let i = 0; i < o.leadFrames; i++) sendFrame(c)
    if (stats.budgetSpent) return play(c)
    c.rtpTime = (c.rtpTime + tick) >>> 0
    const body = randomBytes(o.fragmentBytes)
    let inNal = 0
    let first = true
    // Paced in slices of a twentieth of a second when a rate is set.
    const slice = o.bytesPerSecond ? Math.max(1, Math.floor(o.bytesPerSecond / 20)) : Number.POSITIVE_INFINITY
    const pump = () => {
      let sent = 0
      // Corked batches: one write call per batch rather than per packet, so the camera (in the
      // test's own process) is not what limits the rate.
      c.socket.cork()
      let batch = 0
      const flush = () => {
        c.socket.uncork()
        batch = 0
      }
      while (!c.socket.destroyed) {
        if (sent >= slice) {
          flush()
          c.timers.push(setTimeout(pump, 50))
          return
        }
        if (stats.fragmentBytesSent >= o.byteBudget) {
          stats.budgetSpent = true
          // End the fragment (a client that kept it would now hold it all) and play on from a keyframe.
          sendRtp(c, fragment(false, true, body.subarray(0, 16)), false)
          flush()
          c.frameIndex = 0
          return play(c)
        }
        const endNal = o.nalBytes !== undefined && inNal + body.length >= o.nalBytes
        sendRtp(c, fragment(first, endNal, body), false)
        first = endNal
        inNal = endNal ? 0 : inNal + body.length
        stats.fragmentBytesSent += body.length
        sent += body.length
        if (++batch >= 64) {
          flush()
          if (c.socket.writableLength > 1024 * 1024) {
            c.socket.once('drain', pump)
            return
          }
          c.socket.cork()
        }
      }
      flush()
    }
    pump()
  }

  const reply = (
    socket: net.Socket,
    cseq: string,
    status: string,
    headers: Record<string, string> = {},
    body = '',
  ) => {
    let text = `RTSP/1.0 ${status}\r\nCSeq: ${cseq}\r\nServer: TS-VMS hostile camera\r\n`
    for (const [k, v] of Object.entries(headers)) text += `${k}: ${v}\r\n`
    if (body) text += `Content-Length: ${Buffer.byteLength(body)}\r\n`
    socket.write(`${text}\r\n${body}`)
  }

  const sdp = (): string => {
    const ps = clip.parameterSets.map((p) => p.toString('base64'))
    const fmtp =
      clip.codec === 'h264'
        ? `packetization-mode=1;profile-level-id=${(clip.parameterSets[0] as Buffer).subarray(1, 4).toString('hex')};sprop-parameter-sets=${ps.join(',')}`
        : `sprop-vps=${ps[0]};sprop-sps=${ps[1]};sprop-pps=${ps[2]}`
    return [
      'v=0',
      `o=- ${Date.now()} 1 IN IP4 ${o.host}`,
      `s=TS-VMS hostile camera (${o.mode})`,
      't=0 0',
      'a=control:*',
      'm=video 0 RTP/AVP 96',
      'c=IN IP4 0.0.0.0',
      `a=rtpmap:96 ${clip.codec === 'h264' ? 'H264' : 'H265'}/90000`,
      `a=fmtp:96 ${fmtp}`,
      'a=control:trackID=0',
      '',
    ].join('\r\n')
  }

  const handle = (c: Connection, method: string, headers: Map<string, string>) => {
    const cseq = headers.get('cseq') ?? '0'
    const socket = c.socket
    switch (method) {
      case 'OPTIONS':
      case 'GET_PARAMETER':
        if (o.mode === 'huge-status' && method === 'OPTIONS') {
          socket.write(
            Buffer.concat([
              Buffer.from('RTSP/1.0 500 ', 'latin1'),
              controlCharacters(o.statusBytes),
              Buffer.from(`\r\nCSeq: ${cseq}\r\n\r\n`, 'latin1'),
            ]),
          )
          return
        }
        return reply(socket, cseq, '200 OK', { Public: PUBLIC })
      case 'DESCRIBE':
        if (o.mode === 'huge-content-length') {
          socket.write(
            `RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nContent-Type: application/sdp\r\nContent-Length: 2000000000\r\n\r\n${sdp()}`,
          )
          return
        }
        return reply(socket, cseq, '200 OK', { 'Content-Type': 'application/sdp' }, sdp())
      case 'SETUP': {
        const t = parseTransport(headers.get('transport'))
        if (t?.protocol !== 'tcp') return reply(socket, cseq, '461 Unsupported Transport')
        c.channel = t.interleaved?.[0] ?? 0
        return reply(socket, cseq, '200 OK', {
          Transport: `RTP/AVP/TCP;unicast;interleaved=${c.channel}-${c.channel + 1}`,
          Session: `${c.sessionId};timeout=60`,
        })
      }
      case 'PLAY':
        reply(socket, cseq, '200 OK', { Session: c.sessionId, Range: 'npt=0.000-' })
        stats.plays++
        if (o.mode === 'endless-fua') return endlessFua(c)
        senderReport(c, true)
        play(c)
        if (o.mode === 'flapping') {
          c.timers.push(
            setTimeout(() => {
              stats.drops++
              socket.destroy()
            }, o.playMs),
          )
        }
        return
      case 'TEARDOWN':
        for (const t of c.timers) clearInterval(t)
        return reply(socket, cseq, '200 OK')
      default:
        return reply(socket, cseq, '405 Method Not Allowed')
    }
  }

  const server = net.createServer((socket) => {
    stats.connections++
    stats.openConnections++
    const c: Connection = {
      socket,
      sessionId: randomBytes(6).toString('hex'),
      channel: 0,
      ssrc: randomBytes(4).readUInt32BE(0),
      sequence: randomBytes(2).readUInt16BE(0),
      rtpTime: randomBytes(4).readUInt32BE(0),
      frameIndex: 0,
      framesSent: 0,
      packets: 0,
      octets: 0,
      lastSr: 0,
      jumped: false,
      timers: [],
    }
    connections.add(c)
    const parser = new RtspStreamParser()
    socket.on('data', (chunk) => {
      if (o.mode === 'silent') return
      let items: ReturnType<RtspStreamParser['push']>
      try {
        items = parser.push(chunk)
      } catch {
        socket.destroy()
        return
      }
      for (const item of items) {
        if (item.kind !== 'request') continue
        stats.requests[item.method] = (stats.requests[item.method] ?? 0) + 1
        handle(c, item.method, item.headers)
      }
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      stats.openConnections--
      for (const t of c.timers) clearInterval(t)
      connections.delete(c)
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, o.host, resolve)
  })
  const port = (server.address() as net.AddressInfo).port
  return {
    url: `rtsp://${o.host}:${port}/hostile`,
    port,
    stats,
    async close() {
      for (const c of connections) {
        for (const t of c.timers) clearInterval(t)
        c.socket.destroy()
      }
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
