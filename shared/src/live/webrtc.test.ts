import { afterEach, describe, expect, it } from 'vitest'
import { Connection } from 'werift'
import { LiveFanout } from './fanout.ts'
import { h264PayloadNalTypes, packetizeH264AccessUnit } from './h264-rtp.ts'
import { stunServerOf } from './no-default-stun.ts'
import { ReceivingPeer, SendingPeer } from './webrtc.ts'

const SPS = Buffer.from('6764001facd9405005bb011000000300100000030320f1831960', 'hex')
const PPS = Buffer.from('68ebe3cb22c0', 'hex')
const slice = (type: number, size: number) => {
  const b = Buffer.alloc(size, 0x5a)
  b[0] = 0x60 | type
  return b
}

const options = { iceServers: [], additionalHostAddresses: ['127.0.0.1'], gatherTimeoutMs: 2000 }

describe('ICE without a configured STUN server', () => {
  it('asks no one: werift would otherwise ask stun.l.google.com', async () => {
    const none = new Connection(true, {})
    expect(stunServerOf(none)).toBeUndefined()
    const configured = new Connection(true, { stunServer: ['stun.example.net', 3478] })
    expect(stunServerOf(configured)).toEqual(['stun.example.net', 3478])
    await none.close()
    await configured.close()
  })
})

describe('WebRTC peers (werift, loopback)', () => {
  const cleanup: (() => Promise<void> | void)[] = []
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c()
  })

  it('carries H.264 from a sending peer to a receiving peer, starting on a keyframe', async () => {
    const source = new LiveFanout()
    // A generous reorder window: the test shows the mechanism, not a timing (CI machines are slow).
    const upstream = new LiveFanout(undefined, undefined, { maxWaitMs: 3000, maxHeld: 4096 })
    // The source is already running when the upstream is made: its GOP is cached.
    let ts = 0
    let n = 0
    const tick = () => {
      const key = n % 25 === 0
      const nalus = key ? [SPS, PPS, slice(5, 4000)] : [slice(1, 900)]
      for (const p of packetizeH264AccessUnit(nalus)) source.push({ ...p, timestamp: ts })
      ts = (ts + 3600) >>> 0
      n++
    }
    for (let i = 0; i < 10; i++) tick()
    const timer = setInterval(tick, 40)
    cleanup.push(() => clearInterval(timer))

    const receiver = await ReceivingPeer.offer(upstream, options)
    cleanup.push(() => receiver.close())
    expect(receiver.offerSdp).toContain('a=candidate:')
    const sender = await SendingPeer.answer(receiver.offerSdp, source, 'high', options)
    cleanup.push(() => sender.close())
    // The answer names only the chosen H.264 payload type, the camera's High profile.
    expect(sender.answerSdp).toMatch(/a=fmtp:\d+ .*profile-level-id=64001f/)
    expect(sender.answerSdp.match(/a=rtpmap:\d+ H264/g)).toHaveLength(1)
    // The offerer opens DTLS (a browser at once; werift as client would first wait 100 ms).
    expect(sender.answerSdp).toMatch(/^a=setup:passive\r?$/m)
    expect(sender.answerSdp).not.toMatch(/a=setup:active/)
    await receiver.accept(sender.answerSdp)
    expect(receiver.profile).toBe('high')

    const deadline = Date.now() + 15_000
    while (upstream.receivedPackets < 60 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect(upstream.receivedPackets).toBeGreaterThanOrEqual(60)
    expect(upstream.lostPackets).toBe(0)
    const gop = upstream.gop()
    expect(gop[0]?.keyframe).toBe(true)
    expect(h264PayloadNalTypes(gop[0]?.packets[0]?.payload as Buffer)).toEqual([7])
    const stats = await sender.stats()
    expect(stats.state).toBe('connected')
    expect(stats.sentFrames).toBeGreaterThan(10)

    // A PLI is answered from the cache: the GOP goes out again (the camera is never asked).
    const pliDeadline = Date.now() + 10_000
    while ((await sender.stats()).replays < 1 && Date.now() < pliDeadline) {
      receiver.requestKeyframe()
      await new Promise((r) => setTimeout(r, 300))
    }
    expect(await sender.stats()).toMatchObject({ replays: 1, pliReceived: expect.any(Number) })

    // A packet lost on the way is NACKed by the receiver, retransmitted from the sender's
    // history and put back in order: no loss reaches the fanout, no viewer waits for a keyframe.
    const transport = (
      sender as unknown as {
        transceiver: { sender: { dtlsTransport: { sendRtp: (...a: unknown[]) => Promise<number> } } }
      }
    ).transceiver.sender.dtlsTransport
    const original = transport.sendRtp.bind(transport)
    let dropped = 0
    transport.sendRtp = async (...args: unknown[]) => {
      if (dropped < 1 && (await sender.stats()).retransmitted === 0) {
        dropped++
        return 0
      }
      return original(...args)
    }
    const nackDeadline = Date.now() + 10_000
    while ((await sender.stats()).retransmitted < 1 && Date.now() < nackDeadline)
      await new Promise((r) => setTimeout(r, 50))
    transport.sendRtp = original
    expect(dropped).toBe(1)
    expect((await sender.stats()).retransmitted).toBeGreaterThanOrEqual(1)
    const received = upstream.receivedPackets
    await new Promise((r) => setTimeout(r, 500))
    expect(upstream.receivedPackets).toBeGreaterThan(received)
    expect(upstream.lostPackets).toBe(0)

    let closedWith: string | undefined
    sender.onClose = (reason) => {
      closedWith = reason
    }
    await sender.close()
    expect(closedWith).toBe('closed')
    expect(source.viewerCount).toBe(0)
  }, 30_000)
})
