import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type AccessUnit, toAnnexB } from '../src/media/codec/access-unit.ts'
import { videoFormat } from '../src/media/codec/sps.ts'
import { CameraStream } from '../src/media/core/camera-stream.ts'
import { RtspClient, RtspError } from '../src/media/rtsp/client.ts'
import { Recorder } from '../src/recorder/recorder.ts'
import { RecordingIndex } from '../src/recorder/recording-index.ts'
import { ffprobePath, probe } from './helpers/ffprobe.ts'
import { type GstServer, gstAvailable, startGstServer } from './helpers/gst-rtsp-server.ts'

/**
 * Interop: our RTSP client against an RTSP server we did not write (GStreamer's gst-rtsp-server,
 * encoding a live test pattern with x264 and x265), over TCP-interleaved and UDP, with and without
 * Digest authentication, and a recording from it that ffprobe must decode.
 */
const logger = pino({ level: 'silent' })
const auth = { username: 'gst-viewer', password: 'Gst-Secret-4321' }
const codecs = ['h264', 'h265'] as const
type Codec = (typeof codecs)[number]

/** Parameter-set NAL types in decoding order: SPS, PPS (H.264); VPS, SPS, PPS (H.265). */
const nalType = (codec: Codec, nal: Buffer) =>
  codec === 'h264' ? (nal[0] as number) & 0x1f : ((nal[0] as number) >> 1) & 0x3f
const parameterSetTypes = { h264: [7, 8], h265: [32, 33, 34] }
/** IDR slices (H.264); IRAP pictures: BLA, IDR, CRA (H.265). */
const keyframeTypes = { h264: [5], h265: [16, 17, 18, 19, 20, 21] }
/** Access unit delimiters. */
const audTypes = { h264: 9, h265: 35 }

const servers = new Map<string, GstServer>()
const dirs: string[] = []
const server = (codec: Codec, withAuth: boolean) =>
  servers.get(`${codec}${withAuth ? '-auth' : ''}`) as GstServer

function frames(client: RtspClient, count: number): Promise<AccessUnit[]> {
  const got: AccessUnit[] = []
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`only ${got.length} of ${count} frames within 30 s`)),
      30_000,
    )
    client.on('frame', (f) => {
      got.push(f)
      if (got.length === count) {
        clearTimeout(timer)
        resolve(got)
      }
    })
    client.on('close', (err) => {
      clearTimeout(timer)
      reject(err ?? new Error('closed early'))
    })
  })
}

describe.skipIf(!gstAvailable)('interop with GStreamer gst-rtsp-server', () => {
  beforeAll(async () => {
    await Promise.all([
      ...codecs.flatMap((codec) =>
        [false, true].map(async (withAuth) => {
          const s = await startGstServer({ codec, ...(withAuth ? { auth } : {}) })
          servers.set(`${codec}${withAuth ? '-auth' : ''}`, s)
        }),
      ),
      startGstServer({ codec: 'h264', auth, sessionTimeout: 2 }).then((s) => servers.set('keepalive', s)),
    ])
  })
  afterAll(async () => {
    await Promise.all([...servers.values()].map((s) => s.close()))
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  const cases = [
    { codec: 'h264', transport: 'tcp', withAuth: false },
    { codec: 'h264', transport: 'udp', withAuth: true },
    { codec: 'h265', transport: 'tcp', withAuth: true },
    { codec: 'h265', transport: 'udp', withAuth: false },
  ] as const
  for (const { codec, transport, withAuth } of cases) {
    it(`plays ${codec.toUpperCase()} over ${transport.toUpperCase()}${withAuth ? ' with Digest auth' : ''}`, async () => {
      const s = server(codec, withAuth)
      const client = new RtspClient({ url: s.url(), transport, ...(withAuth ? auth : {}) })
      const info = await client.connect()
      try {
        expect(info).toMatchObject({ codec, transport, clockRate: 90000 })
        // The SDP's parameter sets, and our SPS parser reads x264's and x265's.
        expect(info.parameterSets.map((p) => nalType(codec, p))).toEqual(parameterSetTypes[codec])
        expect(videoFormat(codec, info.parameterSets)).toMatchObject({ codec, width: 640, height: 360 })
        // Three seconds at 15 fps; keyframes at most 15 frames apart.
        const got = await frames(client, 45)
        const keyframes = got.filter((f) => f.keyframe)
        expect(keyframes.length).toBeGreaterThanOrEqual(2)
        // Every keyframe carries all its parameter sets ahead of its first slice (after an access
        // unit delimiter: x264enc emits AUDs, and an AUD must come first).
        for (const k of keyframes) {
          const types = k.nalus.map((n) => nalType(codec, n))
          const firstSlice = types.findIndex((t) => keyframeTypes[codec].includes(t))
          expect(firstSlice).toBeGreaterThan(0)
          for (const t of parameterSetTypes[codec]) expect(types.slice(0, firstSlice)).toContain(t)
          if (types.includes(audTypes[codec])) expect(types[0]).toBe(audTypes[codec])
        }
        expect(got.every((f) => f.codec === codec)).toBe(true)
        for (let i = 1; i < got.length; i++) {
          expect(got[i]?.timestamp).toBeGreaterThan(got[i - 1]?.timestamp ?? 0)
        }
        // 15 fps in 90 kHz ticks: 6000 ticks a frame (the median, so a frame lost over UDP is no matter).
        const deltas = got.slice(1).map((f, i) => f.timestamp - (got[i]?.timestamp ?? 0))
        const median = deltas.sort((a, b) => a - b)[Math.floor(deltas.length / 2)] ?? 0
        expect(Math.abs(median - 6000)).toBeLessThanOrEqual(1)
        if (transport === 'tcp') {
          expect(got.every((f) => !f.damaged)).toBe(true)
          expect(client.lost).toBe(0)
        }
        if (client.lost > 0)
          console.warn(`${codec} over ${transport}: ${client.lost} packets lost, no decode check`)
        else if (ffprobePath) {
          // The frames, from the first keyframe, as an elementary stream that must decode fully.
          const dir = mkdtempSync(path.join(tmpdir(), 'vms-gst-'))
          dirs.push(dir)
          const file = path.join(dir, `stream.${codec === 'h264' ? 'h264' : 'hevc'}`)
          const fromKey = got.slice(got.findIndex((f) => f.keyframe))
          writeFileSync(file, Buffer.concat(fromKey.map((f) => toAnnexB(f.nalus))))
          expect(probe(file)).toMatchObject({
            codec: codec === 'h264' ? 'h264' : 'hevc',
            width: 640,
            height: 360,
            frames: fromKey.length,
          })
        }
      } finally {
        await client.close()
      }
    })
  }

  it('fails with a 401 RtspError on a wrong password or none, without leaking the password', async () => {
    const s = server('h264', true)
    const wrong = new RtspClient({ url: s.url(), username: auth.username, password: 'Wrong-Pass-999' })
    const err = await wrong.connect().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RtspError)
    expect((err as RtspError).status).toBe(401)
    expect((err as Error).message).not.toContain('Wrong-Pass-999')
    const none = new RtspClient({ url: s.url() })
    const err2 = await none.connect().catch((e: unknown) => e)
    expect(err2).toBeInstanceOf(RtspError)
    expect((err2 as RtspError).status).toBe(401)
    // The right credentials in the URL work on the same server.
    const right = new RtspClient({ url: s.url(undefined, auth) })
    await right.connect()
    await frames(right, 3)
    await right.close()
  })

  it('keeps a UDP session alive past a short session timeout with authenticated keepalives', async () => {
    // The server expires a session 2 s (+ its 5 s grace) after the last request; over UDP only our
    // keepalives (GET_PARAMETER, Digest-authenticated) can keep it: ten seconds of frames need them.
    const client = new RtspClient({ url: servers.get('keepalive')?.url() ?? '', transport: 'udp', ...auth })
    const info = await client.connect()
    try {
      expect(info.transport).toBe('udp')
      const got = await frames(client, 150)
      expect(got.filter((f) => f.keyframe).length).toBeGreaterThanOrEqual(2)
    } finally {
      await client.close()
    }
  })

  it.skipIf(!ffprobePath)(
    'records H.265 over UDP with Digest auth into 2-second segments that ffprobe decodes fully',
    async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'vms-gst-rec-'))
      dirs.push(dir)
      const index = new RecordingIndex(path.join(dir, 'index.db'))
      const stream = new CameraStream(
        'gst-h265',
        { url: server('h265', true).url(), ...auth, transport: 'udp' },
        logger,
      )
      const recorder = new Recorder({
        cameraId: 'gst-cam',
        stream: 'main',
        dir,
        index,
        segmentSeconds: 2,
        logger,
      })
      const sub = stream.producer.subscribe(recorder)
      stream.start()
      try {
        await expect
          .poll(() => index.closedSegmentsOldestFirst('gst-cam').length, { timeout: 30_000 })
          .toBeGreaterThanOrEqual(3)
      } finally {
        await stream.stop()
        await sub.idle()
      }
      expect(stream.stats().codec).toBe('h265')
      const segments = index.closedSegmentsOldestFirst('gst-cam')
      expect(segments.length).toBeGreaterThanOrEqual(3)
      for (const s of segments) {
        const p = probe(s.path)
        expect(p).toMatchObject({ codec: 'hevc', width: 640, height: 360, frames: s.frames })
        expect(s.frames).toBeGreaterThan(0)
        // The index's time range (from GStreamer's RTCP sender reports) matches the media.
        expect(Math.abs(p.duration * 1000 - (s.end_ms - s.start_ms))).toBeLessThan(1000 / 15 + 1)
      }
      // 4:2:0 Main profile, as x265 encodes the server's I420 source.
      expect(segments[0]?.codec_string).toMatch(/^hvc1\.1\.6\.L\d+/)
      index.close()
    },
  )
})
