import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { Connection, RTCPeerConnection, RTCRtpCodecParameters, UdpTransport } from 'werift'
import { LiveFanout } from './fanout.ts'
import { h264PayloadNalTypes, packetizeH264AccessUnit } from './h264-rtp.ts'
import { stunServerOf } from './no-default-stun.ts'
import { receiveBufferOf, UDP_RECEIVE_BUFFER_BYTES } from './udp-receive-buffer.ts'
import { ReceivingPeer, SendingPeer } from './webrtc.ts'

const SPS = Buffer.from('6764001facd9405005bb011000000300100000030320f1831960', 'hex')
const PPS = Buffer.from('68ebe3cb22c0', 'hex')
const slice = (type: number, size: number) => {
  const b = Buffer.alloc(size, 0x5a)
  b[0] = 0x60 | type
  return b
}

const options = { iceServers: [], additionalHostAddresses: ['127.0.0.1'], gatherTimeoutMs: 2000 }

/** Waits for a condition (15 s at most), saying what was awaited when it never comes. */
async function until(what: () => boolean | Promise<boolean>, label: string | (() => string)): Promise<void> {
  const deadline = Date.now() + 15_000
  while (!(await what())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${typeof label === 'string' ? label : label()}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

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

describe("werift's UDP sockets", () => {
  it('ask for a 4 MB receive buffer, granted up to the system maximum', async () => {
    let rmemMax: number
    try {
      rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim())
    } catch {
      console.warn('SKIPPING the receive buffer check: no /proc/sys/net/core/rmem_max (not Linux)')
      return
    }
    const transport = await UdpTransport.init('udp4')
    try {
      // Linux grants twice the request (bookkeeping overhead), capped at rmem_max.
      expect(receiveBufferOf(transport)).toBe(Math.min(UDP_RECEIVE_BUFFER_BYTES, rmemMax) * 2)
    } finally {
      await transport.close()
    }
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
        outputs: {
          transceiver: { sender: { dtlsTransport: { sendRtp: (...a: unknown[]) => Promise<number> } } }
        }[]
      }
    ).outputs[0]?.transceiver.sender.dtlsTransport as { sendRtp: (...a: unknown[]) => Promise<number> }
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
  it('sends nothing before what it is held on (the audit record) is done, then starts', async () => {
    const source = new LiveFanout()
    let ts = 0
    let n = 0
    const tick = () => {
      const nalus = n % 25 === 0 ? [SPS, PPS, slice(5, 2000)] : [slice(1, 500)]
      for (const p of packetizeH264AccessUnit(nalus)) source.push({ ...p, timestamp: ts })
      ts = (ts + 3600) >>> 0
      n++
    }
    tick()
    const timer = setInterval(tick, 40)
    cleanup.push(() => clearInterval(timer))
    const upstream = new LiveFanout(undefined, undefined, { maxWaitMs: 3000, maxHeld: 4096 })
    const receiver = await ReceivingPeer.offer(upstream, options)
    cleanup.push(() => receiver.close())
    const sender = await SendingPeer.answer(receiver.offerSdp, source, undefined, options)
    cleanup.push(() => sender.close())
    let release: () => void = () => {}
    sender.holdUntil(new Promise<void>((r) => (release = r)))
    await receiver.accept(sender.answerSdp)

    await until(() => sender.connectionState === 'connected', 'connected')
    const framesAtConnect = n
    await until(() => n >= framesAtConnect + 10, 'ten more frames from the source')
    expect((await sender.stats()).sentPackets).toBe(0)
    expect(upstream.receivedPackets).toBe(0)

    release()
    await until(() => upstream.receivedPackets > 0, 'video after the release')
    expect((await sender.stats()).sentPackets).toBeGreaterThan(0)
  }, 30_000)
  it('sends a grid on one connection: a track per video section, each from its own source', async () => {
    // Three cameras, told apart by the filler byte of their slices.
    const fillers = [0x51, 0x52, 0x53]
    const sources = fillers.map(() => new LiveFanout())
    let ts = 0
    let n = 0
    const tick = () => {
      sources.forEach((source, i) => {
        const body = (type: number, size: number) => {
          const b = Buffer.alloc(size, fillers[i])
          b[0] = 0x60 | type
          return b
        }
        // Keyframes of 30 KB: three GOP replays (some 100 KB) exceed one burst of the connection's
        // replay budget, so the second and third start in later windows.
        const nalus = n % 15 === 0 ? [SPS, PPS, body(5, 30_000)] : [body(1, 300)]
        for (const p of packetizeH264AccessUnit(nalus)) source.push({ ...p, timestamp: ts })
      })
      ts = (ts + 6000) >>> 0
      n++
    }
    tick()
    const timer = setInterval(tick, 40)
    cleanup.push(() => clearInterval(timer))

    // The browser's side: one connection, three recvonly video sections, bundled.
    const viewer = new RTCPeerConnection({
      bundlePolicy: 'max-bundle',
      iceAdditionalHostAddresses: ['127.0.0.1'],
      codecs: {
        video: [
          new RTCRtpCodecParameters({
            mimeType: 'video/H264',
            clockRate: 90000,
            rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
            parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
          }),
        ],
        audio: [],
      },
    })
    cleanup.push(() => viewer.close())
    const received = fillers.map(() => 0)
    const firstNal: number[] = []
    const wrong: string[] = []
    const transceivers = fillers.map(() => viewer.addTransceiver('video', { direction: 'recvonly' }))
    transceivers.forEach((t, i) => {
      t.onTrack.subscribe((track) => {
        track.onReceiveRtp.subscribe((rtp) => {
          // A slice's filler byte says which camera it came from (a slice or a fragment of one).
          const nalType = (rtp.payload[0] ?? 0) & 0x1f
          const last = rtp.payload[rtp.payload.length - 1]
          if ([1, 5, 28].includes(nalType) && last !== fillers[i]) wrong.push(`section ${i} got ${last}`)
          if (received[i] === 0) firstNal[i] = nalType
          received[i] = (received[i] ?? 0) + 1
        })
      })
    })
    await viewer.setLocalDescription(await viewer.createOffer())
    await new Promise<void>((resolve) => {
      if (viewer.iceGatheringState === 'complete') resolve()
      else viewer.iceGatheringStateChange.subscribe((st) => st === 'complete' && resolve())
    })
    const offer = viewer.localDescription?.sdp ?? ''

    // The wrong number of sections is refused before anything is set up.
    await expect(
      SendingPeer.answerBundle(
        offer,
        sources.slice(0, 2).map((fanout) => ({ fanout, profile: undefined })),
        options,
      ),
    ).rejects.toThrow(/3 video sections where 2/)

    const sender = await SendingPeer.answerBundle(
      offer,
      sources.map((fanout) => ({ fanout, profile: undefined })),
      options,
    )
    cleanup.push(() => sender.close())
    expect(sender.trackCount).toBe(3)
    expect(sender.answerSdp.match(/^m=video /gm)).toHaveLength(3)
    expect(sender.answerSdp).toMatch(/^a=group:BUNDLE 0 1 2\r?$/m)
    expect([0, 1, 2].map((i) => sender.mid(i))).toEqual(transceivers.map((t) => t.mid))
    await viewer.setRemoteDescription({ type: 'answer', sdp: sender.answerSdp })

    await until(
      () => received.every((r) => r >= 20),
      () => `every section receives its camera (${received.join(',')})`,
    )
    expect(wrong).toEqual([])
    // Every section started on its GOP's keyframe (SPS first, alone or aggregated), paced or not.
    expect(firstNal.map((t) => [7, 24].includes(t))).toEqual([true, true, true])
    // One transport carries them all.
    expect(new Set(viewer.getTransceivers().map((t) => t.dtlsTransport)).size).toBe(1)

    // The middle tile's session ends: its track falls silent, the others go on.
    expect(sender.detach(1)).toBe(2)
    const afterDetach = [...received]
    await until(() => (received[0] ?? 0) > (afterDetach[0] ?? 0) + 20, 'the first section goes on')
    await until(() => (received[2] ?? 0) > (afterDetach[2] ?? 0) + 20, 'the third section goes on')
    // At most what was already on the way when it was detached.
    expect((received[1] ?? 0) - (afterDetach[1] ?? 0)).toBeLessThan(5)
    expect(sources[1]?.viewerCount).toBe(0)
    expect((await sender.stats(0)).sentPackets).toBeGreaterThan(0)
    expect(sender.detach(0)).toBe(1)
    expect(sender.detach(2)).toBe(0)
  }, 30_000)
})
