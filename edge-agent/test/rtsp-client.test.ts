import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'
import type { AccessUnit } from '../src/media/codec/access-unit.ts'
import { RtspClient, RtspError } from '../src/media/rtsp/client.ts'
import { startHostileRtspServer } from './helpers/hostile-rtsp-server.ts'

let sim: CameraSimulator
const auth = { username: 'viewer', password: 'Cam-Secret-77' }

beforeAll(async () => {
  sim = await CameraSimulator.start({
    streams: [
      { name: 'plain', codec: 'h264' },
      { name: 'digest', codec: 'h264', auth },
      { name: 'digest-qop', codec: 'h264', auth: { ...auth, qop: true } },
      { name: 'hevc', codec: 'h265' },
      { name: 'with-audio', codec: 'h264', audio: true, auth },
    ],
  })
})
afterAll(async () => {
  await sim?.close()
})

async function frames(client: RtspClient, count: number): Promise<AccessUnit[]> {
  const got: AccessUnit[] = []
  return new Promise((resolve, reject) => {
    client.on('frame', (f) => {
      got.push(f)
      if (got.length === count) resolve(got)
    })
    client.on('close', (err) => reject(err ?? new Error('closed early')))
  })
}

describe('RtspClient against the camera simulator', () => {
  for (const transport of ['tcp', 'udp'] as const) {
    it(`plays H.264 over ${transport.toUpperCase()}, with keyframes carrying parameter sets`, async () => {
      const client = new RtspClient({ url: sim.url('plain'), transport })
      const info = await client.connect()
      expect(info).toMatchObject({ codec: 'h264', transport, clockRate: 90000 })
      expect(info.parameterSets.map((p) => (p[0] as number) & 0x1f)).toEqual([7, 8])
      const got = await frames(client, 40)
      const keyframes = got.filter((f) => f.keyframe)
      expect(keyframes.length).toBeGreaterThanOrEqual(1)
      expect(keyframes[0]?.nalus.slice(0, 2).map((n) => (n[0] as number) & 0x1f)).toEqual([7, 8])
      // 15 fps: consecutive frames 6000 ticks apart.
      expect((got[1]?.timestamp ?? 0) - (got[0]?.timestamp ?? 0)).toBe(6000)
      expect(got.every((f) => !f.damaged)).toBe(true)
      expect(client.lost).toBe(0)
      await client.close()
      expect(sim.sessionCount('plain')).toBe(0)
    })
  }

  for (const transport of ['tcp', 'udp'] as const) {
    it(`takes the camera's AAC audio too over ${transport.toUpperCase()}, on the same wall clock`, async () => {
      const client = new RtspClient({ url: sim.url('with-audio'), transport, ...auth })
      const info = await client.connect()
      expect(info.audio).toMatchObject({
        codec: 'aac',
        codecString: 'mp4a.40.2',
        sampleRate: 16000,
        channels: 1,
      })
      expect(info.audio?.config.toString('hex')).toBe('1408')
      const audio: { timestamp: number; wallMs: number; bytes: number }[] = []
      client.on('audio', (f) =>
        audio.push({ timestamp: f.timestamp, wallMs: f.wallMs, bytes: f.data.length }),
      )
      const video = await frames(client, 30)
      expect(audio.length).toBeGreaterThan(20)
      expect((audio[1]?.timestamp ?? 0) - (audio[0]?.timestamp ?? 0)).toBe(1024)
      expect(audio.every((a) => a.bytes > 0)).toBe(true)
      // Audio and video land on one wall clock: within a frame or two of each other.
      const lastVideo = video.at(-1)?.wallMs ?? 0
      const nearest = Math.min(...audio.map((a) => Math.abs(a.wallMs - lastVideo)))
      expect(nearest).toBeLessThan(150)
      await client.close()
    })
  }

  it('can leave the audio out', async () => {
    const client = new RtspClient({ url: sim.url('with-audio'), audio: false, ...auth })
    const info = await client.connect()
    expect(info.audio).toBeUndefined()
    let audio = 0
    client.on('audio', () => audio++)
    await frames(client, 20)
    expect(audio).toBe(0)
    await client.close()
  })

  it('plays H.265', async () => {
    const client = new RtspClient({ url: sim.url('hevc') })
    const info = await client.connect()
    expect(info.codec).toBe('h265')
    expect(info.parameterSets.map((p) => ((p[0] as number) >> 1) & 0x3f)).toEqual([32, 33, 34])
    const got = await frames(client, 20)
    expect(got.some((f) => f.keyframe)).toBe(true)
    await client.close()
  })

  it('answers Digest challenges (with and without qop), with credentials in the URL or apart', async () => {
    for (const name of ['digest', 'digest-qop']) {
      const inUrl = new RtspClient({ url: sim.url(name, auth) })
      await inUrl.connect()
      await frames(inUrl, 3)
      await inUrl.close()
      const apart = new RtspClient({ url: sim.url(name), ...auth })
      await apart.connect()
      await apart.close()
    }
    const wrong = new RtspClient({ url: sim.url('digest'), username: 'viewer', password: 'nope' })
    const err = await wrong.connect().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RtspError)
    expect((err as RtspError).status).toBe(401)
    expect((err as Error).message).not.toContain('nope')
    const none = new RtspClient({ url: sim.url('digest') })
    await expect(none.connect()).rejects.toThrow(/credentials/)
  })

  it('ends the session with a reason when the camera drops, stalls or sends garbage', async () => {
    const dropped = new RtspClient({ url: sim.url('plain') })
    await dropped.connect()
    const closed = new Promise<Error | undefined>((r) => dropped.once('close', r))
    sim.fault('plain', 'drop')
    expect((await closed)?.message).toMatch(/closed the connection/)

    const stalled = new RtspClient({ url: sim.url('plain'), dataTimeoutMs: 1500 })
    await stalled.connect()
    const stallClosed = new Promise<Error | undefined>((r) => stalled.once('close', r))
    sim.fault('plain', 'stall', 4000)
    expect((await stallClosed)?.message).toMatch(/no media/)

    // Garbage in the stream: the parser resynchronises on the next frame or message and media
    // keeps flowing, or (if the garbage looks like a huge frame) the session ends with a reason;
    // either way nothing throws.
    const noisy = new RtspClient({ url: sim.url('hevc') })
    await noisy.connect()
    await frames(noisy, 2)
    const outcome = new Promise<string>((resolve) => {
      let after = 0
      noisy.on('frame', () => {
        if (++after === 10) resolve('frames')
      })
      noisy.once('close', (err) => resolve(err instanceof RtspError ? 'closed with a reason' : 'closed'))
    })
    sim.fault('hevc', 'garbage')
    expect(['frames', 'closed with a reason']).toContain(await outcome)
    await noisy.close()
  })

  it('fails cleanly on an unknown path and an unreachable camera', async () => {
    await expect(new RtspClient({ url: sim.url('nope') }).connect()).rejects.toThrow(/404/)
    await expect(
      new RtspClient({ url: 'rtsp://127.0.0.1:9/x', requestTimeoutMs: 2000 }).connect(),
    ).rejects.toThrow(/cannot connect/)
  })
})

describe('RtspClient against hostile cameras (issue 11)', () => {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for control characters is the point
  const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

  it('keeps the error of a 60,000-byte status line of control characters short and clean', async () => {
    const server = await startHostileRtspServer({ mode: 'huge-status' })
    try {
      const err = await new RtspClient({ url: server.url }).connect().catch((e: unknown) => e)
      expect(err).toBeInstanceOf(RtspError)
      expect((err as RtspError).status).toBe(500)
      expect((err as Error).message).toMatch(/^OPTIONS: 500/)
      expect((err as Error).message.length).toBeLessThanOrEqual(500)
      expect((err as Error).message).not.toMatch(CONTROL)
    } finally {
      await server.close()
    }
  })

  it('refuses a 2 GB Content-Length at once instead of waiting for the body', async () => {
    const server = await startHostileRtspServer({ mode: 'huge-content-length' })
    try {
      await expect(new RtspClient({ url: server.url }).connect()).rejects.toThrow(/too large/)
      await expect.poll(() => server.stats.openConnections).toBe(0)
    } finally {
      await server.close()
    }
  })

  it('counts an endless fragment as a stall: packets that complete no frame are not progress', async () => {
    // 2 MB/s of fragments for at most 64 MiB (32 s): the session must end long before that.
    const server = await startHostileRtspServer({
      mode: 'endless-fua',
      bytesPerSecond: 2 * 1024 * 1024,
      byteBudget: 64 * 1024 * 1024,
    })
    try {
      const client = new RtspClient({ url: server.url, dataTimeoutMs: 1500 })
      const closed = new Promise<Error | undefined>((r) => client.once('close', r))
      await client.connect()
      const reason = await closed
      expect(reason?.message).toMatch(/no media/)
      expect(server.stats.budgetSpent).toBe(false)
      expect(client.oversizedAccessUnits).toBeLessThanOrEqual(1)
    } finally {
      await server.close()
    }
  })

  it('drops an access unit past its limit, counts it, and resumes at the next keyframe', async () => {
    const server = await startHostileRtspServer({ mode: 'endless-fua', byteBudget: 8 * 1024 * 1024 })
    try {
      const client = new RtspClient({ url: server.url })
      const got: AccessUnit[] = []
      client.on('frame', (f) => got.push(f))
      await client.connect()
      await expect.poll(() => server.stats.budgetSpent, { timeout: 20_000 }).toBe(true)
      const before = got.length
      await expect.poll(() => got.length, { timeout: 10_000 }).toBeGreaterThan(before + 5)
      // The first frame after the drop is a keyframe; nothing of the endless unit came out.
      expect(got[before]?.keyframe).toBe(true)
      expect(got.every((f) => f.nalus.reduce((n, x) => n + x.length, 0) < 2 * 1024 * 1024)).toBe(true)
      expect(client.oversizedAccessUnits).toBe(1)
      expect(client.droppedAccessUnits).toBeGreaterThanOrEqual(1)
      await client.close()
    } finally {
      await server.close()
    }
  })

  it('ends the session when the camera stops reading what the agent sends', async () => {
    // A camera that floods the agent with requests and never reads the answers.
    const server = net.createServer((socket) => {
      socket.pause()
      socket.on('error', () => {})
      const flood = () => {
        while (!socket.destroyed && socket.write('GET_PARAMETER * RTSP/1.0\r\nCSeq: 1\r\n\r\n'));
        if (!socket.destroyed) socket.once('drain', flood)
      }
      flood()
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as net.AddressInfo).port
    try {
      const client = new RtspClient({ url: `rtsp://127.0.0.1:${port}/x`, requestTimeoutMs: 60_000 })
      const err = await client.connect().catch((e: unknown) => e)
      expect((err as Error).message).toMatch(/does not read/)
    } finally {
      server.close()
    }
  })
})
