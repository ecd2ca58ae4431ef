import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  type RTCRtpTransceiver,
  RtpHeader,
  RtpPacket,
} from 'werift'
import type { FanoutViewer, LiveFanout } from './fanout.ts'
import { type H264Profile, parseProfileLevelId } from './h264-profile.ts'
import { disableDefaultStun } from './no-default-stun.ts'
import { narrowOfferToH264, narrowVideoSections } from './offer.ts'
import { ReplayPacer } from './replay-pacer.ts'
import { enlargeUdpReceiveBuffers } from './udp-receive-buffer.ts'

disableDefaultStun()
enlargeUdpReceiveBuffers()

/**
 * The WebRTC edges of the live path, on werift: a sending peer answers an offer with one
 * sendonly H.264 track fed from a fanout (a browser, or the hub's upstream from an agent), and a
 * receiving peer (the hub's upstream) offers to take a camera's H.264 and feeds its fanout.
 * Offers and answers carry every ICE candidate (no trickle: signalling goes over HTTP and MQTT).
 */
export interface IceServerConfig {
  urls: string
  username?: string
  credential?: string
}

export interface PeerOptions {
  iceServers: IceServerConfig[]
  /** Addresses to announce besides the interfaces' own (e.g. 127.0.0.1 for loopback tests, or a public IP). */
  additionalHostAddresses?: string[]
  /** UDP port range for ICE (a firewall rule names it). */
  portRange?: [number, number]
  /** How long to gather candidates before answering with what is there. */
  gatherTimeoutMs?: number
  /** A connection that stays disconnected this long is closed. */
  disconnectedTimeoutMs?: number
}

export type PeerCloseReason = 'closed' | 'failed' | 'disconnected' | 'not-connected'

const FEEDBACK = [
  { type: 'nack' },
  { type: 'nack', parameter: 'pli' },
  { type: 'ccm', parameter: 'fir' },
  { type: 'goog-remb' },
]

/** H.264 in every profile family a camera may send (packetization-mode 1), for an upstream offer. */
const UPSTREAM_PROFILES = ['42e01f', '42001f', '4d001f', '64001f', '640c1f', 'f4001f', '6e001f', '7a001f']

function h264Codec(profileLevelId?: string): RTCRtpCodecParameters {
  return new RTCRtpCodecParameters({
    mimeType: 'video/H264',
    clockRate: 90000,
    rtcpFeedback: FEEDBACK,
    ...(profileLevelId
      ? { parameters: `level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=${profileLevelId}` }
      : {}),
  })
}

/** Fresh codec objects per connection: werift writes payload types into them. */
function makePeer(o: PeerOptions, video: RTCRtpCodecParameters[]): RTCPeerConnection {
  return new RTCPeerConnection({
    iceServers: o.iceServers,
    // One transport for every video section (a grid's tiles), as browsers do.
    bundlePolicy: 'max-bundle',
    iceUseIpv6: false,
    ...(o.additionalHostAddresses?.length ? { iceAdditionalHostAddresses: o.additionalHostAddresses } : {}),
    ...(o.portRange ? { icePortRange: o.portRange } : {}),
    codecs: { video, audio: [] },
  })
}

/**
 * The answer with `a=setup:passive`: the offerer opens the DTLS handshake. werift as DTLS client
 * waits a fixed 100 ms before its first flight, where a browser sends it as soon as ICE is up
 * (RFC 5763 lets the answerer take either role).
 */
function asDtlsServer(answer: { sdp: string }): { type: 'answer'; sdp: string } {
  return { type: 'answer', sdp: answer.sdp.replace(/^a=setup:active(?=\r?$)/gm, 'a=setup:passive') }
}

async function gathered(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  if (pc.iceGatheringState === 'complete') return
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, timeoutMs)
    const sub = pc.iceGatheringStateChange.subscribe((s) => {
      if (s === 'complete') done()
    })
    function done() {
      clearTimeout(timer)
      sub.unSubscribe()
      resolve()
    }
  })
}

/** Connection lifecycle shared by both kinds of peer: connected, closed once with a reason. */
abstract class Peer {
  protected readonly pc: RTCPeerConnection
  private closed = false
  private disconnectTimer: NodeJS.Timeout | undefined
  private connectTimer: NodeJS.Timeout | undefined
  onConnected: () => void = () => {}
  onClose: (reason: PeerCloseReason) => void = () => {}

  constructor(
    protected readonly o: PeerOptions,
    video: RTCRtpCodecParameters[],
  ) {
    this.pc = makePeer(o, video)
    this.pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected') {
        clearTimeout(this.disconnectTimer)
        clearTimeout(this.connectTimer)
        this.onConnected()
      } else if (state === 'failed') void this.close('failed')
      else if (state === 'closed') void this.close('closed')
      else if (state === 'disconnected') {
        clearTimeout(this.disconnectTimer)
        this.disconnectTimer = setTimeout(
          () => void this.close('disconnected'),
          o.disconnectedTimeoutMs ?? 10_000,
        )
        this.disconnectTimer.unref()
      }
    })
  }

  /** Closes the connection if it is not up within `ms` (a viewer that never connects). */
  expectConnectionWithin(ms: number): void {
    this.connectTimer = setTimeout(() => void this.close('not-connected'), ms)
    this.connectTimer.unref()
  }

  get connectionState(): string {
    return this.pc.connectionState
  }

  get isClosed(): boolean {
    return this.closed
  }

  async close(reason: PeerCloseReason = 'closed'): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.disconnectTimer)
    clearTimeout(this.connectTimer)
    this.released()
    try {
      await this.pc.close()
    } catch {
      // already torn down
    }
    this.onClose(reason)
  }

  protected abstract released(): void
}

export interface SendingStats {
  state: string
  sentPackets: number
  sentBytes: number
  sentFrames: number
  replays: number
  pliReceived: number
  nackReceived: number
  retransmitted: number
  rttMs: number | undefined
}

/** What one video section of a sending peer carries: a fanout's stream of a known profile. */
export interface SendingSource {
  fanout: LiveFanout
  profile: H264Profile | undefined
}

/**
 * A connection's GOP replays go out at most this many bytes per `REPLAY_WINDOW_MS` (about
 * 38 Mbit/s; `replay-pacer.ts`): a grid's sixteen replays at once (some 200 KB in a few
 * milliseconds), or one camera's 10 s GOP (megabytes), overflow a receiver's UDP buffer (Linux's
 * default is 208 KB of kernel memory, about 90 full packets) or a router's queue, and a tile whose
 * keyframe is lost waits for the camera's next one (seconds, on real cameras). The keyframe goes
 * first, so the first picture is not held back; the frames after it follow within milliseconds.
 */
const REPLAY_BURST_BYTES = 48 * 1024
const REPLAY_WINDOW_MS = 10

/** One sendonly H.264 track of a sending peer, fed by one fanout viewer. */
class Output {
  viewer: FanoutViewer | undefined
  payloadType = 0
  ready: Promise<unknown> = Promise.resolve()
  started = false
  detached = false
  /** Set while the viewer replays its GOP: what it sends then is paced. */
  replaying = false

  constructor(
    readonly track: MediaStreamTrack,
    readonly transceiver: RTCRtpTransceiver,
  ) {}
}

/**
 * Answers an offer and sends fanout viewers' packets on sendonly H.264 tracks: one track for a
 * single view, or one per video section of a bundled offer (a grid's tiles on one connection:
 * one ICE and one DTLS handshake for all of them, where a connection per tile costs sixteen).
 */
export class SendingPeer extends Peer {
  private readonly outputs: Output[] = []
  private readonly pacer = new ReplayPacer<Output>(REPLAY_BURST_BYTES, REPLAY_WINDOW_MS)
  answerSdp = ''

  private constructor(o: PeerOptions, tracks: number) {
    super(o, [h264Codec(), new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000 })])
    for (let i = 0; i < tracks; i++) {
      const track = new MediaStreamTrack({ kind: 'video' })
      this.outputs.push(new Output(track, this.pc.addTransceiver(track, { direction: 'sendonly' })))
    }
  }

  /**
   * Answers `offerSdp` for a stream of `profile`, sending `fanout`'s packets once connected.
   * Throws OfferError when the offer cannot carry the camera's H.264.
   */
  static async answer(
    offerSdp: string,
    fanout: LiveFanout,
    profile: H264Profile | undefined,
    o: PeerOptions,
  ): Promise<SendingPeer> {
    const narrowed = narrowOfferToH264(offerSdp, profile)
    return SendingPeer.answerNarrowed(narrowed.sdp, [narrowed.payloadType], [{ fanout, profile }], o)
  }

  /**
   * Answers a bundled offer with one video section per source, in order (`sources[i]` feeds the
   * offer's `i`th video section). Throws OfferError when the offer has another number of video
   * sections or one cannot carry its camera's H.264.
   */
  static async answerBundle(
    offerSdp: string,
    sources: readonly SendingSource[],
    o: PeerOptions,
  ): Promise<SendingPeer> {
    const narrowed = narrowVideoSections(
      offerSdp,
      sources.map((x) => x.profile),
    )
    return SendingPeer.answerNarrowed(narrowed.sdp, narrowed.payloadTypes, sources, o)
  }

  private static async answerNarrowed(
    sdp: string,
    payloadTypes: number[],
    sources: readonly SendingSource[],
    o: PeerOptions,
  ): Promise<SendingPeer> {
    const peer = new SendingPeer(o, sources.length)
    try {
      peer.outputs.forEach((out, i) => {
        out.payloadType = payloadTypes[i] as number
      })
      await peer.pc.setRemoteDescription({ type: 'offer', sdp })
      await peer.pc.setLocalDescription(asDtlsServer(await peer.pc.createAnswer()))
      await gathered(peer.pc, o.gatherTimeoutMs ?? 3000)
      peer.answerSdp = peer.pc.localDescription?.sdp ?? ''
      sources.forEach((source, i) => {
        peer.attach(peer.outputs[i] as Output, source.fanout)
      })
      peer.onConnected = () => {
        for (const out of peer.outputs) peer.startOutput(out)
      }
      return peer
    } catch (err) {
      await peer.close('failed')
      throw err
    }
  }

  /** How many tracks this peer sends (video sections it answered). */
  get trackCount(): number {
    return this.outputs.length
  }

  /** The offer's `mid` of track `index` (how the browser tells its tiles apart). */
  mid(index: number): string | undefined {
    return this.outputs[index]?.transceiver.mid ?? undefined
  }

  private attach(out: Output, fanout: LiveFanout): void {
    const viewer = fanout.addViewer((p) => {
      const write = () =>
        out.track.writeRtp(
          new RtpPacket(
            new RtpHeader({
              payloadType: out.payloadType,
              sequenceNumber: p.sequenceNumber,
              timestamp: p.timestamp,
              marker: p.marker,
            }),
            p.payload,
          ),
        )
      if (out.replaying) this.pacer.replay(out, p.payload.length, write)
      else this.pacer.live(out, p.payload.length, write)
    })
    out.viewer = viewer
    const sender = out.transceiver.sender
    const pictureLoss = () => this.replaying(out, () => viewer.pictureLoss(this.pacer.hasQueued(out)))
    sender.onPictureLossIndication.subscribe(pictureLoss)
    sender.onRtcp.subscribe((packet) => {
      // FIR (RFC 5104): payload-specific feedback, format 4.
      const fb = packet as { type?: number; feedback?: { count?: number } }
      if (fb.type === 206 && fb.feedback?.count === 4) pictureLoss()
    })
    if (this.pc.connectionState === 'connected') this.startOutput(out)
  }

  private startOutput(out: Output): void {
    if (out.started) return
    out.started = true
    void out.ready.then(
      () => {
        if (this.isClosed || out.detached) return
        const viewer = out.viewer
        if (viewer) this.replaying(out, () => viewer.start())
      },
      () => {},
    )
  }

  /** Runs what may replay a track's GOP (its start, a PLI or FIR), pacing what it sends. */
  private replaying(out: Output, run: () => void): void {
    out.replaying = true
    try {
      run()
    } finally {
      out.replaying = false
    }
  }

  /**
   * Sends nothing on track `index` (every track when omitted) until `ready` settles successfully,
   * even once connected: the hub answers while the session's audit record is being written, and
   * lets video flow once it is durable.
   */
  holdUntil(ready: Promise<unknown>, index?: number): void {
    for (const out of index === undefined ? this.outputs : [this.outputs[index]]) {
      if (!out) continue
      out.ready = Promise.all([out.ready, ready])
      out.ready.catch(() => {})
    }
  }

  /**
   * Stops track `index` for good (its session ended) while the others go on; the browser's
   * track stays, silent. Returns how many tracks still send.
   */
  detach(index: number): number {
    const out = this.outputs[index]
    if (out && !out.detached) {
      out.detached = true
      this.pacer.drop(out)
      out.viewer?.close()
      out.track.stop()
    }
    return this.outputs.filter((o) => !o.detached).length
  }

  protected released(): void {
    this.pacer.close()
    for (const out of this.outputs) {
      out.viewer?.close()
      out.track.stop()
    }
  }

  /** Statistics of track `index` (the only one of a single view). */
  async stats(index = 0): Promise<SendingStats> {
    const out = this.outputs[index]
    const v = out?.viewer?.stats
    const report = (out ? [...(await out.transceiver.sender.getStats()).values()] : []) as unknown as Record<
      string,
      unknown
    >[]
    const sent = report.find((r) => r.type === 'outbound-rtp') ?? {}
    const remote = report.find((r) => r.type === 'remote-inbound-rtp') ?? {}
    const rtt = remote.roundTripTime
    return {
      state: this.pc.connectionState,
      sentPackets: v?.sentPackets ?? 0,
      sentBytes: v?.sentBytes ?? 0,
      sentFrames: v?.sentFrames ?? 0,
      replays: v?.replays ?? 0,
      pliReceived: v?.pliReceived ?? 0,
      nackReceived: Number(sent.nackCount ?? 0),
      retransmitted: Number(sent.retransmittedPacketsSent ?? 0),
      rttMs: typeof rtt === 'number' ? Math.round(rtt * 1000) : undefined,
    }
  }
}

/**
 * Offers to receive H.264 (the hub's upstream from an agent) and feeds what arrives to a fanout;
 * `offerBundle` receives several on one connection (a video section per fanout, as a browser's
 * grid does).
 */
export class ReceivingPeer extends Peer {
  private readonly inputs: { transceiver: RTCRtpTransceiver; ssrc: number | undefined }[] = []
  offerSdp = ''
  receivedPackets = 0

  private constructor(o: PeerOptions, fanouts: readonly LiveFanout[]) {
    super(
      o,
      UPSTREAM_PROFILES.map((p) => h264Codec(p)),
    )
    for (const fanout of fanouts) {
      const input = {
        transceiver: this.pc.addTransceiver('video', { direction: 'recvonly' }),
        ssrc: undefined as number | undefined,
      }
      input.transceiver.onTrack.subscribe((track) => {
        track.onReceiveRtp.subscribe((rtp) => {
          input.ssrc = rtp.header.ssrc
          this.receivedPackets++
          fanout.push({
            payload: rtp.payload,
            timestamp: rtp.header.timestamp,
            marker: rtp.header.marker,
            sequenceNumber: rtp.header.sequenceNumber,
          })
        })
      })
      this.inputs.push(input)
    }
  }

  static offer(fanout: LiveFanout, o: PeerOptions): Promise<ReceivingPeer> {
    return ReceivingPeer.offerBundle([fanout], o)
  }

  static async offerBundle(fanouts: readonly LiveFanout[], o: PeerOptions): Promise<ReceivingPeer> {
    const peer = new ReceivingPeer(o, fanouts)
    try {
      await peer.pc.setLocalDescription(await peer.pc.createOffer())
      await gathered(peer.pc, o.gatherTimeoutMs ?? 3000)
      peer.offerSdp = peer.pc.localDescription?.sdp ?? ''
      return peer
    } catch (err) {
      await peer.close('failed')
      throw err
    }
  }

  async accept(answerSdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'answer', sdp: answerSdp })
  }

  /** The profile the sender chose (the camera's): what viewers of this upstream must decode. */
  get profile(): H264Profile | undefined {
    return this.profileOf(0)
  }

  profileOf(index: number): H264Profile | undefined {
    const params = this.inputs[index]?.transceiver.codecs.find(
      (c) => c.mimeType.toLowerCase() === 'video/h264',
    )?.parameters
    const id = /profile-level-id=([0-9a-fA-F]{6})/.exec(params ?? '')?.[1]
    return id ? parseProfileLevelId(id)?.profile : undefined
  }

  /** The `mid` of video section `index` (what a bundled answer is matched by). */
  mid(index: number): string | undefined {
    return this.inputs[index]?.transceiver.mid ?? undefined
  }

  /** Asks the sender to replay its GOP (it answers from its cache; the camera is not asked). */
  requestKeyframe(index = 0): void {
    const input = this.inputs[index]
    if (input?.ssrc !== undefined) void input.transceiver.receiver.sendRtcpPLI(input.ssrc).catch(() => {})
  }

  protected released(): void {}
}
