import { execFile } from 'node:child_process'
import dgram from 'node:dgram'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AacDepacketizer, aacParams } from '../../edge-agent/src/media/codec/aac.ts'
import { parseSenderReports } from '../../edge-agent/src/media/rtp/rtcp.ts'
import { parseRtp, type RtpPacket } from '../../edge-agent/src/media/rtp/rtp.ts'
import { RtspStreamParser } from '../../edge-agent/src/media/rtsp/message.ts'
import { parseSdp, type SdpMedia } from '../../edge-agent/src/media/sdp/sdp.ts'
import { ffprobePath } from '../../edge-agent/test/helpers/ffprobe.ts'
import { CameraSimulator } from './simulator.ts'

/**
 * The simulator's AAC track: what a raw RTSP client gets on the wire (one session, two tracks,
 * its own SSRC, sequence, 16 kHz clock and sender reports), and what ffmpeg makes of it over TCP
 * and UDP. A client that sets up only the video gets only the video.
 */
const run = promisify(execFile)
const ffmpegPath = ffprobePath?.replace(/ffprobe$/, 'ffmpeg')
const haveFfmpeg = Boolean(ffprobePath && ffmpegPath && existsSync(ffmpegPath))
if (!haveFfmpeg) console.warn('SKIPPING simulator audio checks with ffmpeg: ffmpeg/ffprobe not installed')

let sim: CameraSimulator
let dir: string
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'vms-sim-'))
  sim = await CameraSimulator.start({
    streams: [
      { name: 'av', codec: 'h264', audio: true },
      { name: 'video', codec: 'h264' },
    ],
  })
})
afterAll(async () => {
  await sim?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

interface Received {
  channel: number
  data: Buffer
  at: number
}

/**
 * A minimal RTSP client: DESCRIBE, SETUP of the given tracks (each with its Transport header) on
 * one session, PLAY, then `ms` of whatever arrives interleaved.
 */
async function session(
  name: string,
  tracks: { control: string; transport: string }[],
  ms: number,
): Promise<{ sdp: string; transports: string[]; frames: Received[] }> {
  const socket = net.connect(sim.port, sim.host)
  const parser = new RtspStreamParser()
  const frames: Received[] = []
  const waiting: ((r: { headers: Map<string, string>; body: Buffer; status: number }) => void)[] = []
  socket.on('data', (chunk) => {
    for (const item of parser.push(chunk)) {
      if (item.kind === 'response') waiting.shift()?.(item.response)
      else if (item.kind === 'frame') frames.push({ ...item.frame, at: Date.now() })
    }
  })
  await new Promise((resolve) => socket.once('connect', resolve))
  let cseq = 0
  let id = ''
  const request = (method: string, url: string, headers: Record<string, string> = {}) =>
    new Promise<{ headers: Map<string, string>; body: Buffer; status: number }>((resolve) => {
      waiting.push(resolve)
      const all = { CSeq: String(++cseq), ...(id ? { Session: id } : {}), ...headers }
      socket.write(
        `${method} ${url} RTSP/1.0\r\n${Object.entries(all)
          .map(([k, v]) => `${k}: ${v}\r\n`)
          .join('')}\r\n`,
      )
    })
  try {
    const describe = await request('DESCRIBE', sim.url(name), { Accept: 'application/sdp' })
    const base = describe.headers.get('content-base') as string
    const transports: string[] = []
    if (tracks.length === 0) return { sdp: describe.body.toString('utf8'), transports, frames }
    for (const t of tracks) {
      const r = await request('SETUP', `${base}${t.control}`, { Transport: t.transport })
      expect(r.status).toBe(200)
      id = (r.headers.get('session') ?? '').split(';')[0] as string
      transports.push(r.headers.get('transport') ?? '')
    }
    expect((await request('PLAY', base, { Range: 'npt=0.000-' })).status).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, ms))
    await request('TEARDOWN', base)
    return { sdp: describe.body.toString('utf8'), transports, frames }
  } finally {
    socket.destroy()
  }
}

const ssrcOf = (transport: string) => Number.parseInt(/ssrc=([0-9a-f]+)/i.exec(transport)?.[1] ?? '', 16)

/** Arrival time minus the wall time the sender reports give each packet: both should be ~0. */
function offsetsFromReports(rtp: Received[], rtcp: Received[], clockRate: number): number[] {
  const reports = rtcp.flatMap((f) => parseSenderReports(f.data).map((sr) => ({ ...sr, at: f.at })))
  const out: number[] = []
  for (const f of rtp) {
    const sr = reports.filter((r) => r.at <= f.at).at(-1)
    const p = parseRtp(f.data)
    if (!sr || !p) continue
    const delta = ((p.timestamp - sr.rtpTimestamp) | 0) / clockRate
    out.push(f.at - (sr.ntpMs + delta * 1000))
  }
  return out
}

describe('camera simulator: AAC audio track', () => {
  it('describes the AAC track (RFC 3640 AAC-hbr, 16 kHz mono) only on streams with audio', async () => {
    const { sdp } = await session('av', [], 0)
    const parsed = parseSdp(sdp)
    expect(parsed.media.map((m) => m.type)).toEqual(['video', 'audio'])
    const audio = parsed.media[1] as SdpMedia
    expect(audio.control).toBe('trackID=1')
    expect(sdp).toContain('m=audio 0 RTP/AVP 97\r\n')
    expect(sdp).toContain('a=rtpmap:97 MPEG4-GENERIC/16000/1\r\n')
    expect(aacParams(audio)).toMatchObject({
      sampleRate: 16000,
      channels: 1,
      frameLength: 1024,
      sizeLength: 13,
      codecString: 'mp4a.40.2',
    })
    expect(aacParams(audio)?.config.toString('hex')).toBe('1408')
    const plain = await session('video', [], 0)
    expect(parseSdp(plain.sdp).media.map((m) => m.type)).toEqual(['video'])
  })

  it('sends both tracks over TCP on one session, each with its own SSRC, sequence, clock and reports', async () => {
    const { transports, frames } = await session(
      'av',
      [
        { control: 'trackID=0', transport: 'RTP/AVP/TCP;unicast;interleaved=0-1' },
        { control: 'trackID=1', transport: 'RTP/AVP/TCP;unicast;interleaved=2-3' },
      ],
      3200,
    )
    expect(transports[1]).toMatch(/^RTP\/AVP\/TCP;unicast;interleaved=2-3;ssrc=[0-9a-f]{8}$/)
    const on = (channel: number) => frames.filter((f) => f.channel === channel)
    const video = on(0).map((f) => parseRtp(f.data) as RtpPacket)
    const audio = on(2).map((f) => parseRtp(f.data) as RtpPacket)
    expect(video.length).toBeGreaterThan(40)
    expect(video.every((p) => p.payloadType === 96 && p.ssrc === ssrcOf(transports[0] as string))).toBe(true)
    expect(audio.every((p) => p.payloadType === 97 && p.ssrc === ssrcOf(transports[1] as string))).toBe(true)
    expect(ssrcOf(transports[0] as string)).not.toBe(ssrcOf(transports[1] as string))
    // ~15.6 AUs a second (16000 / 1024), one per packet, in real time (~50 in 3.2 s; loose bounds
    // so a loaded machine's late timers cannot fail it, tight enough to catch a wrong rate).
    expect(audio.length).toBeGreaterThanOrEqual(35)
    expect(audio.length).toBeLessThanOrEqual(65)
    const params = aacParams(parseSdp((await session('av', [], 0)).sdp).media[1] as SdpMedia)
    const d = new AacDepacketizer(params as NonNullable<typeof params>)
    audio.forEach((p, i) => {
      const prev = audio[i - 1]
      if (prev) {
        expect((p.sequence - prev.sequence) & 0xffff).toBe(1)
        // 1024 samples a frame; 1280 where the 10 s loop starts again (156 frames and 256 samples).
        expect([1024, 1280]).toContain((p.timestamp - prev.timestamp) >>> 0)
      }
      expect(p.marker).toBe(true)
      const aus = d.push(p.payload, p.timestamp, p.marker)
      expect(aus !== 'invalid' && aus.length).toBe(1)
    })
    // Sender reports on both RTCP channels; a packet arrives when its report says it was sampled.
    expect(on(3).length).toBeGreaterThanOrEqual(2)
    expect(on(1).length).toBeGreaterThanOrEqual(2)
    for (const offsets of [
      offsetsFromReports(on(2), on(3), 16000),
      offsetsFromReports(on(0), on(1), 90000),
    ]) {
      expect(offsets.length).toBeGreaterThan(20)
      // A wrong report maps by seconds; a busy machine delays packets by tens of milliseconds.
      expect(Math.max(...offsets.map(Math.abs))).toBeLessThan(500)
    }
    expect(frames.every((f) => f.channel <= 3)).toBe(true)
  })

  it('gives a client that sets up only the video nothing but the video', async () => {
    const { frames } = await session(
      'av',
      [{ control: 'trackID=0', transport: 'RTP/AVP/TCP;unicast;interleaved=0-1' }],
      1500,
    )
    expect(frames.length).toBeGreaterThan(20)
    expect(new Set(frames.map((f) => f.channel))).toEqual(new Set([0, 1]))
    expect(frames.filter((f) => f.channel === 0).every((f) => parseRtp(f.data)?.payloadType === 96)).toBe(
      true,
    )
  })

  it('sends the audio track over UDP to its own client ports', async () => {
    const rtp = dgram.createSocket('udp4')
    const rtcp = dgram.createSocket('udp4')
    await new Promise<void>((resolve) => rtp.bind(0, '127.0.0.1', resolve))
    await new Promise<void>((resolve) => rtcp.bind(0, '127.0.0.1', resolve))
    const got: { rtp: Buffer[]; rtcp: Buffer[] } = { rtp: [], rtcp: [] }
    rtp.on('message', (m) => got.rtp.push(m))
    rtcp.on('message', (m) => got.rtcp.push(m))
    try {
      const { frames, transports } = await session(
        'av',
        [
          {
            control: 'trackID=1',
            transport: `RTP/AVP;unicast;client_port=${rtp.address().port}-${rtcp.address().port}`,
          },
        ],
        1500,
      )
      expect(transports[0]).toContain(`client_port=${rtp.address().port}-${rtcp.address().port}`)
      expect(frames).toEqual([]) // nothing interleaved
      expect(got.rtp.length).toBeGreaterThanOrEqual(18)
      expect(got.rtp.every((m) => parseRtp(m)?.payloadType === 97)).toBe(true)
      expect(got.rtcp.flatMap((m) => parseSenderReports(m)).length).toBeGreaterThanOrEqual(1)
    } finally {
      rtp.close()
      rtcp.close()
    }
  })
})

describe.skipIf(!haveFfmpeg)('camera simulator: AAC audio track through ffmpeg', () => {
  for (const transport of ['tcp', 'udp'] as const) {
    it(`ffprobe sees H.264 video and AAC audio (16 kHz, mono) over ${transport.toUpperCase()}`, async () => {
      const { stdout } = await run(
        ffprobePath as string,
        [
          '-v',
          'error',
          '-rtsp_transport',
          transport,
          '-show_entries',
          'stream=codec_type,codec_name,sample_rate,channels',
          '-of',
          'json',
          sim.url('av'),
        ],
        { timeout: 30_000 },
      )
      const streams = (JSON.parse(stdout) as { streams: Record<string, unknown>[] }).streams
      expect(streams).toHaveLength(2)
      expect(streams).toContainEqual(expect.objectContaining({ codec_type: 'video', codec_name: 'h264' }))
      expect(streams).toContainEqual(
        expect.objectContaining({
          codec_type: 'audio',
          codec_name: 'aac',
          sample_rate: '16000',
          channels: 1,
        }),
      )
    })

    it(`ffmpeg records ~15.6 AAC frames a second over ${transport.toUpperCase()} that decode without errors`, async () => {
      const out = path.join(dir, `av-${transport}.mkv`)
      await run(
        ffmpegPath as string,
        [
          '-v',
          'error',
          '-y',
          '-rtsp_transport',
          transport,
          '-i',
          sim.url('av'),
          '-t',
          '4',
          '-c',
          'copy',
          out,
        ],
        { timeout: 60_000 },
      )
      const { stdout } = await run(
        ffprobePath as string,
        [
          '-v',
          'error',
          '-count_packets',
          '-show_entries',
          'stream=codec_type,nb_read_packets',
          '-of',
          'json',
          out,
        ],
        { timeout: 30_000 },
      )
      const streams = (JSON.parse(stdout) as { streams: { codec_type: string; nb_read_packets: string }[] })
        .streams
      const count = (type: string) => Number(streams.find((s) => s.codec_type === type)?.nb_read_packets)
      // 4 s: 62.5 audio frames; the video starts at its first keyframe (up to a second in).
      expect(count('audio')).toBeGreaterThanOrEqual(58)
      expect(count('audio')).toBeLessThanOrEqual(66)
      expect(count('video')).toBeGreaterThanOrEqual(40)
      const decode = await run(ffmpegPath as string, ['-v', 'error', '-i', out, '-f', 'null', '-'], {
        timeout: 60_000,
      })
      expect(decode.stderr.trim()).toBe('')
    })
  }
})
