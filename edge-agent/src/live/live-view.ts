import type { DownRequest, LiveAnswerResult, LiveBundleResult, StreamRole, UpResponse } from '@ts-vms/shared'
import {
  LiveFanout,
  OfferError,
  type PeerCloseReason,
  type PeerOptions,
  SendingPeer,
} from '@ts-vms/shared/live'
import type { Logger } from 'pino'
import { type CameraManager, type StreamLease, StreamUnavailable } from '../cameras/camera-manager.ts'
import { answerRequest } from '../link/answer-request.ts'
import type { Subscription } from '../media/core/producer.ts'
import { LiveSource } from './live-source.ts'
import { H265ToH264Transcoder } from './transcoder.ts'

/**
 * How live view takes a camera stream: from its last keyframe (a picture at once, not after up to
 * a GOP) and never more than a second or two behind (a slow consumer drops to the next keyframe).
 */
const LIVE_SUBSCRIPTION = { queueFrames: 30, fromLastKeyframe: true } as const

/**
 * The agent's side of live view. The hub sends a `live.offer` (its relay's upstream for a camera,
 * or a browser's offer for a direct connection) or a `live.bundle` (its upstream for several
 * cameras on one connection, a video section each); the agent answers from each camera's running
 * session — the recorder's, or one opened on demand — and sends H.264 as it comes, without
 * transcoding. Every connection the agent makes is outbound in ICE terms too: the offerer's
 * candidates are where it sends its checks, so a site behind NAT needs no inbound port.
 */
type LiveRequest = Extract<DownRequest, { op: 'live.offer' | 'live.bundle' | 'live.close' }>

export class LiveError extends Error {
  override name = 'LiveError'
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

export interface LiveViewOptions {
  cameras: CameraManager
  logger: Logger
  respond: (response: Omit<UpResponse, 'v'>) => Promise<void>
  /** Addresses announced besides the interfaces' own (VMS_AGENT_LIVE_HOST_ADDRESSES). */
  hostAddresses: string[]
  portRange: [number, number] | undefined
  maxPeers: number
  /** How long a camera's first keyframe may take when its stream is opened for a viewer. */
  startTimeoutMs: number
  /** A peer that does not connect within this is dropped. */
  connectTimeoutMs: number
  /** ffmpeg, to transcode an H.265-only camera for live view (undefined: refuse such cameras). */
  ffmpeg: string | undefined
  /**
   * Tells the hub (through the outbox) that a direct viewer's connection ended here, or that a
   * bundled upstream's track stopped (its camera went away) while the connection goes on.
   */
  emit: (event: {
    type: 'live.peer.closed'
    cameraId: string
    data: { peerId: string; reason: string; track?: number }
  }) => void
}

interface LiveCamera {
  /** `cameraId/preference`: a grid's sub-stream viewers and a single view's main share nothing. */
  key: string
  cameraId: string
  lease: StreamLease
  source: LiveSource
  /** The live source's subscription: to the camera stream, or to the transcoder's output. */
  subscription: Subscription
  /** For an H.265-only camera: the transcoder and its subscription to the camera stream. */
  transcoder: { t: H265ToH264Transcoder; subscription: Subscription } | undefined
  /** The tracks sending it, as `peerId#track`. */
  viewers: Set<string>
}

/** What one track of a connection sends; `undefined` for a bundle's section that could not start. */
interface LiveTrack {
  cameraId: string
  cameraKey: string
  detached: boolean
}

interface LivePeer {
  peerId: string
  mode: 'upstream' | 'direct'
  peer: SendingPeer
  /** One for `live.offer`, one per video section for `live.bundle`. */
  tracks: (LiveTrack | undefined)[]
  bundle: boolean
  /** The hub asked for the close (it knows already). */
  closedByHub: boolean
}

const viewerKey = (peerId: string, track: number) => `${peerId}#${track}`

function errorAnswer(err: unknown): { status: number; code: string; message: string } | undefined {
  return err instanceof LiveError ? { status: err.status, code: err.code, message: err.message } : undefined
}

export class LiveView {
  private readonly cameras = new Map<string, LiveCamera>()
  private readonly opening = new Map<string, Promise<LiveCamera>>()
  private readonly peers = new Map<string, LivePeer>()
  private stopped = false

  constructor(private readonly o: LiveViewOptions) {}

  handle(request: LiveRequest): Promise<void> {
    return answerRequest(
      request,
      this.o,
      async () => ({
        ...(request.op === 'live.offer'
          ? await this.offer(request)
          : request.op === 'live.bundle'
            ? await this.bundle(request)
            : await this.close(request.peerId, request.track)),
      }),
      errorAnswer,
    )
  }

  async offer(request: Extract<LiveRequest, { op: 'live.offer' }>): Promise<LiveAnswerResult> {
    this.admit(request.peerId, 1)
    const cam = await this.openCamera(
      request.cameraId,
      request.stream ?? 'main',
      this.startBudget(request.deadline),
    )
    let peer: SendingPeer
    try {
      peer = await SendingPeer.answer(request.sdp, cam.source.fanout, cam.source.profile, {
        ...this.peerOptions,
        iceServers: request.iceServers,
      })
    } catch (err) {
      this.releaseIfIdle(cam)
      if (err instanceof OfferError) throw new LiveError(422, 'bad_offer', err.message)
      throw err
    }
    this.register({ peerId: request.peerId, mode: request.mode, peer, bundle: false }, [cam])
    return { sdp: peer.answerSdp, stream: cam.lease.role, transcoded: cam.transcoder !== undefined }
  }

  /**
   * Several cameras on one connection, a video section each: every camera is opened at once, and
   * one that cannot start gets a silent section and its error in its place.
   */
  async bundle(request: Extract<LiveRequest, { op: 'live.bundle' }>): Promise<LiveBundleResult> {
    this.admit(request.peerId, request.tracks.length)
    const budget = this.startBudget(request.deadline)
    const opened = await Promise.all(
      request.tracks.map((t) =>
        this.openCamera(t.cameraId, t.stream, budget).then(
          (cam) => ({ cam }),
          (error: unknown) => ({ error }),
        ),
      ),
    )
    const cams = opened.map((o) => ('cam' in o ? o.cam : undefined))
    const silent = new LiveFanout()
    let peer: SendingPeer
    try {
      peer = await SendingPeer.answerBundle(
        request.sdp,
        cams.map((cam) =>
          cam
            ? { fanout: cam.source.fanout, profile: cam.source.profile }
            : { fanout: silent, profile: undefined },
        ),
        { ...this.peerOptions, iceServers: request.iceServers },
      )
    } catch (err) {
      for (const cam of cams) if (cam) this.releaseIfIdle(cam)
      if (err instanceof OfferError) throw new LiveError(422, 'bad_offer', err.message)
      throw err
    }
    cams.forEach((cam, i) => {
      if (!cam) peer.detach(i)
    })
    const tracks = opened.map((o) => {
      if ('cam' in o) return { stream: o.cam.lease.role, transcoded: o.cam.transcoder !== undefined }
      const known = errorAnswer(o.error)
      if (!known) this.o.logger.error({ err: o.error }, 'a bundled live camera failed')
      return {
        error: known ?? { status: 502, code: 'agent_failed', message: 'the agent could not open the camera' },
      }
    })
    if (cams.some((c) => c))
      this.register({ peerId: request.peerId, mode: 'upstream', peer, bundle: true }, cams)
    else await peer.close('closed')
    return { sdp: peer.answerSdp, tracks }
  }

  /** Refuses a connection the agent cannot take: stopping, a reused id, `tracks` beyond capacity. */
  private admit(peerId: string, tracks: number): void {
    if (this.stopped) throw new LiveError(503, 'agent_stopping', 'the agent is stopping')
    if (this.peers.has(peerId)) throw new LiveError(409, 'peer_exists', 'that connection already exists')
    if (this.trackCount + tracks > this.o.maxPeers)
      throw new LiveError(
        503,
        'live_capacity',
        `the agent serves at most ${this.o.maxPeers} live connections`,
      )
  }

  /** How long a camera may take to start: the agent's limit, within the hub's deadline. */
  private startBudget(deadline: string): number {
    return Math.max(1000, Math.min(this.o.startTimeoutMs, Date.parse(deadline) - Date.now() - 1000))
  }

  private get peerOptions(): PeerOptions {
    return {
      iceServers: [],
      additionalHostAddresses: this.o.hostAddresses,
      ...(this.o.portRange ? { portRange: this.o.portRange } : {}),
    }
  }

  /** Keeps an answered connection and the cameras it sends (`undefined`: a silent section). */
  private register(entry: Omit<LivePeer, 'tracks' | 'closedByHub'>, cams: (LiveCamera | undefined)[]): void {
    const full: LivePeer = {
      ...entry,
      tracks: cams.map((cam) =>
        cam ? { cameraId: cam.cameraId, cameraKey: cam.key, detached: false } : undefined,
      ),
      closedByHub: false,
    }
    this.peers.set(full.peerId, full)
    cams.forEach((cam, i) => {
      cam?.viewers.add(viewerKey(full.peerId, i))
    })
    full.peer.onClose = (reason) => this.peerClosed(full, reason)
    full.peer.expectConnectionWithin(this.o.connectTimeoutMs)
    this.o.logger.info(
      {
        cameras: cams.map((c) => c?.cameraId ?? null),
        peer: full.peerId,
        mode: full.mode,
        streams: cams.map((c) => c?.lease.role ?? null),
      },
      'live connection answered',
    )
  }

  /** Closes a connection, or one track of a bundled one (the last closes the connection). */
  async close(peerId: string, track?: number): Promise<{ closed: boolean }> {
    const entry = this.peers.get(peerId)
    if (!entry) return { closed: false }
    if (track !== undefined && entry.bundle) {
      const t = entry.tracks[track]
      if (!t || t.detached) return { closed: false }
      if (this.dropTrack(entry, track) > 0) return { closed: true }
    }
    entry.closedByHub = true
    await entry.peer.close('closed')
    return { closed: true }
  }

  /** Stops one track of a connection and lets its camera go; returns how many tracks still send. */
  private dropTrack(entry: LivePeer, index: number): number {
    const t = entry.tracks[index]
    if (t && !t.detached) {
      t.detached = true
      const cam = this.cameras.get(t.cameraKey)
      cam?.viewers.delete(viewerKey(entry.peerId, index))
      if (cam) this.releaseIfIdle(cam)
    }
    return entry.peer.detach(index)
  }

  private peerClosed(entry: LivePeer, reason: PeerCloseReason): void {
    this.peers.delete(entry.peerId)
    entry.tracks.forEach((t, i) => {
      if (!t || t.detached) return
      t.detached = true
      const cam = this.cameras.get(t.cameraKey)
      cam?.viewers.delete(viewerKey(entry.peerId, i))
      if (cam) this.releaseIfIdle(cam)
    })
    const cameraId = entry.tracks.find((t) => t)?.cameraId
    this.o.logger.info({ camera: cameraId, peer: entry.peerId, reason }, 'live connection closed')
    // The hub sees its own upstream fail; a direct viewer's end is only seen here.
    if (entry.mode === 'direct' && !entry.closedByHub && !this.stopped && cameraId)
      this.o.emit({
        type: 'live.peer.closed',
        cameraId,
        data: { peerId: entry.peerId, reason: `viewer connection ${reason}` },
      })
  }

  /**
   * Ends what a camera's viewers receive: a connection of its own closes (the hub sees that); a
   * bundled track stops and the hub is told, since its connection goes on for the other cameras.
   */
  private async endViewers(cam: LiveCamera, reason: string): Promise<void> {
    for (const key of [...cam.viewers]) {
      const [peerId, index] = key.split('#') as [string, string]
      const entry = this.peers.get(peerId)
      if (!entry) continue
      if (!entry.bundle || entry.tracks.filter((t) => t && !t.detached).length === 1) {
        await entry.peer.close('closed')
        continue
      }
      this.dropTrack(entry, Number(index))
      if (!this.stopped)
        this.o.emit({
          type: 'live.peer.closed',
          cameraId: cam.cameraId,
          data: { peerId, track: Number(index), reason },
        })
    }
  }

  private releaseIfIdle(cam: LiveCamera): void {
    if (cam.viewers.size > 0 || this.cameras.get(cam.key) !== cam) return
    this.cameras.delete(cam.key)
    this.unbind(cam)
  }

  private unbind(cam: LiveCamera): void {
    if (cam.transcoder) {
      cam.lease.source.producer.unsubscribe(cam.transcoder.subscription)
      cam.transcoder.t.producer.unsubscribe(cam.subscription)
      cam.transcoder.t.close()
    } else {
      cam.lease.source.producer.unsubscribe(cam.subscription)
    }
    cam.lease.release()
  }

  /** The camera's live source for a preference, opened once however many ask at the same time. */
  private async openCamera(cameraId: string, preference: StreamRole, timeoutMs: number): Promise<LiveCamera> {
    const key = `${cameraId}/${preference}`
    const open = this.cameras.get(key)
    if (open) return open
    let pending = this.opening.get(key)
    if (!pending) {
      pending = this.bind(key, cameraId, preference, timeoutMs).finally(() => this.opening.delete(key))
      this.opening.set(key, pending)
    }
    return pending
  }

  /**
   * Picks the stream to show: the preferred one when it is H.264, else the other when it is.
   * Browsers do not decode H.265 over WebRTC, so a camera with nothing in H.264 is transcoded once
   * (its sub-stream if it has one: fewer pixels), or refused with the reason when the agent has no
   * ffmpeg.
   */
  private async bind(
    key: string,
    cameraId: string,
    preference: StreamRole,
    timeoutMs: number,
  ): Promise<LiveCamera> {
    const camera = this.o.cameras.camera(cameraId)
    if (!camera) throw new LiveError(404, 'camera_unknown', 'this agent has no such camera')
    const started = Date.now()
    const order: StreamRole[] = preference === 'sub' ? ['sub', 'main'] : ['main', 'sub']
    const roles = order.filter((r) => camera.streams.some((s) => s.role === r))
    let lastCodec: string | undefined
    const h265Roles: StreamRole[] = []
    for (const role of roles) {
      const attempt = await this.tryStream(
        key,
        cameraId,
        role,
        Math.max(500, timeoutMs - (Date.now() - started)),
      )
      if ('camera' in attempt) {
        this.cameras.set(key, attempt.camera)
        return attempt.camera
      }
      lastCodec = attempt.codec ?? lastCodec
      if (attempt.codec === 'h265') h265Roles.push(role)
      if (!attempt.codec) {
        throw new LiveError(
          503,
          'camera_unavailable',
          `the camera's ${role} stream sent no video within ${Math.round(timeoutMs / 1000)} s`,
        )
      }
    }
    const role = h265Roles.includes('sub') ? 'sub' : h265Roles[0]
    if (role && this.o.ffmpeg) {
      const cam = await this.transcoded(
        key,
        cameraId,
        role,
        Math.max(1000, timeoutMs - (Date.now() - started)) + 5000,
      )
      this.cameras.set(key, cam)
      return cam
    }
    throw new LiveError(
      422,
      'codec_unsupported',
      `the camera sends ${lastCodec === 'h265' ? 'H.265' : (lastCodec ?? 'no video')}; live view needs an H.264 stream (set the camera's sub-stream to H.264, or give the agent ffmpeg to transcode)`,
    )
  }

  /** An H.265 stream through the transcoder, for a camera with no H.264 stream. */
  private async transcoded(
    key: string,
    cameraId: string,
    role: StreamRole,
    timeoutMs: number,
  ): Promise<LiveCamera> {
    const lease = this.o.cameras.acquireStream(cameraId, role)
    const t = new H265ToH264Transcoder({ ffmpeg: this.o.ffmpeg as string, logger: this.o.logger })
    const transcoderSub = lease.source.producer.subscribe(t, LIVE_SUBSCRIPTION)
    const source = new LiveSource()
    const subscription = t.producer.subscribe(source, LIVE_SUBSCRIPTION)
    const cam: LiveCamera = {
      key,
      cameraId,
      lease,
      source,
      subscription,
      transcoder: { t, subscription: transcoderSub },
      viewers: new Set(),
    }
    if (!(await source.whenReady(timeoutMs)) || source.codec !== 'h264') {
      this.unbind(cam)
      throw new LiveError(503, 'transcoder_failed', 'the live transcoder produced no H.264 in time')
    }
    this.o.logger.info({ camera: cameraId, stream: role }, 'live view transcodes H.265 to H.264')
    return cam
  }

  private async tryStream(
    key: string,
    cameraId: string,
    role: StreamRole,
    timeoutMs: number,
  ): Promise<{ camera: LiveCamera } | { codec: string | undefined }> {
    let lease: StreamLease
    try {
      lease = this.o.cameras.acquireStream(cameraId, role)
    } catch (err) {
      if (err instanceof StreamUnavailable) throw new LiveError(err.status, err.code, err.message)
      throw err
    }
    const source = new LiveSource()
    const subscription = lease.source.producer.subscribe(source, LIVE_SUBSCRIPTION)
    const ready = await source.whenReady(timeoutMs)
    if (ready && source.codec === 'h264') {
      return {
        camera: { key, cameraId, lease, source, subscription, transcoder: undefined, viewers: new Set() },
      }
    }
    lease.source.producer.unsubscribe(subscription)
    lease.release()
    return { codec: ready ? source.codec : undefined }
  }

  /**
   * After a configuration change: viewers of a removed camera are closed; a camera whose stream
   * was reconnected (new settings) is moved to the new session, and its viewers resume at the
   * next keyframe on the same connection.
   */
  async camerasChanged(): Promise<void> {
    for (const cam of [...this.cameras.values()]) {
      if (!this.o.cameras.camera(cam.cameraId)) {
        await this.endViewers(cam, 'camera removed')
        continue
      }
      if (this.o.cameras.isCurrent(cam.lease, cam.cameraId)) continue
      this.unbind(cam)
      try {
        const lease = this.o.cameras.acquireStream(cam.cameraId, cam.lease.role)
        cam.lease = lease
        if (cam.transcoder) {
          const t = new H265ToH264Transcoder({ ffmpeg: this.o.ffmpeg as string, logger: this.o.logger })
          cam.transcoder = { t, subscription: lease.source.producer.subscribe(t, LIVE_SUBSCRIPTION) }
          cam.subscription = t.producer.subscribe(cam.source, LIVE_SUBSCRIPTION)
        } else {
          cam.subscription = lease.source.producer.subscribe(cam.source, LIVE_SUBSCRIPTION)
        }
      } catch (err) {
        this.o.logger.warn({ err, camera: cam.cameraId }, 'live view lost its stream')
        await this.endViewers(cam, 'camera stream lost')
      }
    }
  }

  /** Per track of each connection, for health and tests. */
  async stats() {
    return Promise.all(
      [...this.peers.values()].flatMap((p) =>
        p.tracks.flatMap((t, track) =>
          t && !t.detached
            ? [
                (async () => ({
                  peerId: p.peerId,
                  track,
                  cameraId: t.cameraId,
                  mode: p.mode,
                  ...(await p.peer.stats(track)),
                }))(),
              ]
            : [],
        ),
      ),
    )
  }

  /**
   * Per camera being watched, for the heartbeat: its connections over both streams, and the stream
   * most of them see.
   */
  health(): Map<string, { connections: number; stream: StreamRole; transcoded: boolean }> {
    const byCamera = new Map<string, { connections: number; stream: StreamRole; transcoded: boolean }>()
    const busiest = new Map<string, number>()
    for (const c of this.cameras.values()) {
      const seen = byCamera.get(c.cameraId)
      const total = (seen?.connections ?? 0) + c.viewers.size
      const leads = c.viewers.size > (busiest.get(c.cameraId) ?? -1)
      if (leads) busiest.set(c.cameraId, c.viewers.size)
      byCamera.set(c.cameraId, {
        connections: total,
        stream: leads || !seen ? c.lease.role : seen.stream,
        transcoded: (seen?.transcoded ?? false) || c.transcoder !== undefined,
      })
    }
    return byCamera
  }

  /** Whether anyone (the hub's relay or a direct viewer) watches the camera live now. */
  isWatched(cameraId: string): boolean {
    for (const c of this.cameras.values()) if (c.cameraId === cameraId && c.viewers.size > 0) return true
    return false
  }

  get peerCount(): number {
    return this.peers.size
  }

  /** Tracks sending, over every connection (what `maxPeers` limits: each is a stream to send). */
  get trackCount(): number {
    let n = 0
    for (const p of this.peers.values()) n += p.tracks.filter((t) => t && !t.detached).length
    return n
  }

  get cameraCount(): number {
    return this.cameras.size
  }

  async stop(): Promise<void> {
    this.stopped = true
    for (const p of [...this.peers.values()]) await p.peer.close('closed')
    for (const cam of [...this.cameras.values()]) {
      this.cameras.delete(cam.key)
      this.unbind(cam)
    }
  }
}
