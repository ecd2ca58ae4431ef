import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import type { AccessUnit } from '../src/media/codec/access-unit.ts'
import { parseSenderReports, type SenderReport } from '../src/media/rtp/rtcp.ts'
import { parseRtp } from '../src/media/rtp/rtp.ts'
import { RtspClient } from '../src/media/rtsp/client.ts'
import { RtspStreamParser } from '../src/media/rtsp/message.ts'
import { type HostileRtspServer, startHostileRtspServer } from './helpers/hostile-rtsp-server.ts'

/** The hostile camera does what each mode says (the agent's defences are tested elsewhere). */
let server: HostileRtspServer | undefined
let client: RtspClient | undefined
afterEach(async () => {
  await client?.close()
  await server?.close()
  client = undefined
  server = undefined
})

/**
 * Sends raw requests and collects everything the server answers until `done` says so (given all
 * bytes so far, or each chunk when `chunks` is set).
 */
function raw(
  port: number,
  requests: string[],
  done: (got: Buffer) => boolean,
  chunks = false,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' })
    let got = Buffer.alloc(0)
    socket.on('connect', () => socket.write(requests.join('')))
    socket.on('data', (chunk) => {
      got = chunks ? chunk : Buffer.concat([got, chunk])
      if (done(got)) {
        socket.destroy()
        resolve(got)
      }
    })
    socket.on('error', reject)
    socket.on('close', () => resolve(got))
  })
}

function collect(c: RtspClient, count: number): Promise<AccessUnit[]> {
  const got: AccessUnit[] = []
  return new Promise((resolve, reject) => {
    c.on('frame', (f) => {
      got.push(f)
      if (got.length === count) resolve(got)
    })
    c.once('close', (err) => reject(err ?? new Error('closed early')))
  })
}

describe('the hostile RTSP server', () => {
  it('huge-status: answers OPTIONS with 500 and 60,000 bytes of control characters', async () => {
    server = await startHostileRtspServer({ mode: 'huge-status' })
    const reply = await raw(server.port, ['OPTIONS rtsp://x/ RTSP/1.0\r\nCSeq: 1\r\n\r\n'], (b) =>
      b.includes('\r\n\r\n', 13),
    )
    expect(reply.subarray(0, 13).toString('latin1')).toBe('RTSP/1.0 500 ')
    const statusLine = reply.subarray(13, reply.indexOf('\r\n'))
    expect(statusLine.length).toBe(60_000)
    expect(statusLine.every((b) => b < 0x20 || b === 0x7f)).toBe(true)
    expect(reply.toString('latin1')).toContain('CSeq: 1\r\n')
  })

  it('silent: accepts and never answers', async () => {
    server = await startHostileRtspServer({ mode: 'silent' })
    client = new RtspClient({ url: server.url, requestTimeoutMs: 300 })
    await expect(client.connect()).rejects.toThrow(/OPTIONS: no answer/)
    expect(server.stats.connections).toBe(1)
    expect(server.stats.requests).toEqual({})
  })

  it('huge-content-length: answers DESCRIBE with Content-Length: 2000000000', async () => {
    server = await startHostileRtspServer({ mode: 'huge-content-length' })
    const reply = await raw(
      server.port,
      [
        'OPTIONS rtsp://x/ RTSP/1.0\r\nCSeq: 1\r\n\r\n',
        'DESCRIBE rtsp://x/ RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\n\r\n',
      ],
      (b) => b.includes('v=0'),
    )
    expect(reply.toString('latin1')).toMatch(/CSeq: 2\r\n[\s\S]*Content-Length: 2000000000\r\n\r\nv=0/)
  })

  it('endless-fua: a valid start, then one FU start and endless middles (same timestamp, no marker) up to the budget, then play on', async () => {
    const budget = 512 * 1024
    server = await startHostileRtspServer({ mode: 'endless-fua', byteBudget: budget, leadFrames: 2 })
    client = new RtspClient({ url: server.url })
    const packets: { fu: number; ts: number; marker: boolean; bytes: number }[] = []
    client.on('packet', (data) => {
      const p = parseRtp(data)
      if (p)
        packets.push({ fu: p.payload[1] ?? 0, ts: p.timestamp, marker: p.marker, bytes: p.payload.length })
    })
    // Listening before PLAY: the lead frames come in the same read as its answer.
    const leading = collect(client, 2)
    await client.connect()
    const lead = await leading
    expect(lead[0]?.keyframe).toBe(true)
    await expect.poll(() => server?.stats.budgetSpent, { timeout: 20_000 }).toBe(true)
    // The fragments: after the lead frames' last marker, one start (0x80) and only middles.
    const afterLead = packets.findIndex(
      (p, i) => p.marker && packets.slice(0, i + 1).filter((q) => q.marker).length === 2,
    )
    const fu = packets.slice(afterLead + 1, afterLead + 1 + Math.floor(budget / 1400))
    expect(fu[0]?.fu).toBe(0x81)
    expect(fu.slice(1).every((p) => p.fu === 0x01 && !p.marker && p.ts === fu[0]?.ts)).toBe(true)
    expect(server.stats.fragmentBytesSent).toBeGreaterThanOrEqual(budget)
    // Then the clip again from a keyframe.
    await expect.poll(() => server?.stats.framesSent, { timeout: 10_000 }).toBeGreaterThan(5)
  })

  it('endless-fua with nalBytes: complete NAL units, one timestamp, no marker', async () => {
    server = await startHostileRtspServer({
      mode: 'endless-fua',
      byteBudget: 64 * 1024,
      nalBytes: 14_000,
      leadFrames: 1,
    })
    client = new RtspClient({ url: server.url })
    const flags: number[] = []
    client.on('packet', (data) => {
      const p = parseRtp(data)
      if (p && (p.payload[0] ?? 0) === 0x7c && !p.marker) flags.push(p.payload[1] ?? 0)
    })
    await client.connect()
    await expect.poll(() => server?.stats.budgetSpent, { timeout: 20_000 }).toBe(true)
    await expect.poll(() => flags.filter((f) => f === 0x41).length, { timeout: 5000 }).toBeGreaterThan(1)
    expect(flags.filter((f) => f === 0x81).length).toBeGreaterThan(1)
  })

  it('timestamp-jump-back: after N frames the timestamps go back an hour and continue', async () => {
    server = await startHostileRtspServer({ mode: 'timestamp-jump-back', jumpAfterFrames: 5, fps: 30 })
    client = new RtspClient({ url: server.url })
    // The RTP timestamps as sent (one per frame: its last packet), not what the agent makes of them.
    const stamps: number[] = []
    client.on('packet', (data) => {
      const p = parseRtp(data)
      if (p?.marker) stamps.push(p.timestamp)
    })
    await client.connect()
    await expect.poll(() => stamps.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(10)
    const steps = stamps.slice(1, 10).map((t, i) => (t - (stamps[i] as number)) | 0)
    expect(steps.filter((s) => s === 3000)).toHaveLength(8)
    expect(steps).toContain(3000 - 3600 * 90000)
    expect(server.stats.jumps).toBe(1)
  })

  it('clock-in-past: sender reports put the camera 20 years in the past', async () => {
    server = await startHostileRtspServer({ mode: 'clock-in-past' })
    // Read the reports themselves (channel 1), not what the agent's timeline makes of them.
    const parser = new RtspStreamParser()
    const reports: SenderReport[] = []
    await raw(
      server.port,
      [
        'SETUP rtsp://x/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n',
        'PLAY rtsp://x/ RTSP/1.0\r\nCSeq: 2\r\n\r\n',
      ],
      (chunk) => {
        for (const item of parser.push(chunk)) {
          if (item.kind === 'frame' && item.frame.channel === 1)
            reports.push(...parseSenderReports(item.frame.data))
        }
        return reports.length >= 1
      },
      true,
    )
    const years = (Date.now() - (reports[0] as SenderReport).ntpMs) / (365.25 * 24 * 3600 * 1000)
    expect(years).toBeGreaterThan(19.9)
    expect(years).toBeLessThan(20.1)
    expect(server.stats.senderReports).toBeGreaterThanOrEqual(1)
  })

  it('flapping: plays, drops the connection, and again on the next one', async () => {
    server = await startHostileRtspServer({ mode: 'flapping', playMs: 300 })
    for (let i = 0; i < 2; i++) {
      const c = new RtspClient({ url: server.url })
      const closed = new Promise<Error | undefined>((r) => c.once('close', r))
      const collecting = collect(c, 2)
      await c.connect()
      await collecting
      expect((await closed)?.message).toMatch(/closed the connection/)
    }
    expect(server.stats.drops).toBe(2)
    expect(server.stats.plays).toBe(2)
    await expect.poll(() => server?.stats.openConnections).toBe(0)
  })
})
