import type { StreamRole } from '../../api/types.ts'
import { GridConnector, type GridMember, gatheringComplete } from './grid-connection.ts'

/**
 * A reusable live player: one camera in one <video> element over WebRTC, through the hub's live
 * API. Relayed (the default), it joins the page's shared connection (a grid's tiles open together
 * on one RTCPeerConnection, see grid-connection.ts); direct (same LAN as the agent), it offers on a
 * connection of its own. It plays what arrives, renews the session when the page has a fresh
 * access token, notices video that stops (a session the hub ended on a shared connection only
 * falls silent) and closes the session when stopped. State and statistics are reported to the
 * page through callbacks, so the full web UI can reuse it as is.
 */
export type PlayerState = 'idle' | 'connecting' | 'playing' | 'stalled' | 'closed' | 'failed'

export interface PlayerStats {
  /** From start() to the first decoded frame, in milliseconds. */
  firstFrameMs: number | undefined
  /** Of which: gathering ICE candidates for the offer, and the hub's answer (signalling). */
  gatherMs: number | undefined
  answerMs: number | undefined
  framesDecoded: number
  framesDropped: number
  width: number
  height: number
  /** Jitter-buffer delay per frame: the part of latency the browser adds, in milliseconds. */
  jitterBufferMs: number | undefined
  /** Round trip to the hub (ICE), in milliseconds. */
  rttMs: number | undefined
  packetsLost: number
  bitrateKbps: number
}

export interface PlayerOptions {
  /** The current access token (the page refreshes it). */
  token: () => string
  /** Base URL of the hub ('' for the same origin). */
  baseUrl?: string
  mode?: 'relay' | 'direct'
  /** The stream wanted: `sub` for a grid tile, `main` (default) for a single view. */
  stream?: StreamRole
  onState?: (state: PlayerState, detail?: string) => void
  onStats?: (stats: PlayerStats) => void
}

const iceServersByHub = new Map<string, Promise<RTCIceServer[]>>()
/** Players by their live session, for the hub's word that it ended one. */
const bySession = new Map<string, LivePlayer>()

/**
 * The hub ended a live session (the `live` message of the update stream: camera removed,
 * permission revoked, agent gone): its player fails at once and its tile retries, where a tile on
 * a shared connection would otherwise only see its video stop.
 */
export function liveSessionEnded(sessionId: string, reason: string): void {
  bySession.get(sessionId)?.ended(reason)
}
const connectors = new Map<string, GridConnector>()

/** Video that stops for this long shows the tile as stalled, and this long as failed (it retries). */
const STALLED_AFTER_MS = 4000
const FAILED_AFTER_MS = 12_000

export class LivePlayer {
  /** A direct connection of the player's own. */
  private pc: RTCPeerConnection | undefined
  /** Its place on the page's shared relay connection. */
  private member: GridMember | undefined
  private lastFrames = 0
  private lastFrameAt = 0
  private sessionId: string | undefined
  private statsTimer: number | undefined
  private startedAt = 0
  private firstFrameMs: number | undefined
  private gatherMs: number | undefined
  private answerMs: number | undefined
  private lastBytes = 0
  private lastAt = 0
  state: PlayerState = 'idle'
  /** The stream being received, once the hub has answered. */
  stream: StreamRole | undefined

  constructor(
    private readonly video: HTMLVideoElement,
    private readonly o: PlayerOptions,
  ) {}

  private url(path: string): string {
    return `${this.o.baseUrl ?? ''}${path}`
  }

  private setState(state: PlayerState, detail?: string): void {
    this.state = state
    this.o.onState?.(state, detail)
  }

  /**
   * The hub's ICE servers, asked once per page for all players: a 16-tile grid would otherwise
   * spend 16 of the browser's 6 connections per host on the same answer before its offers.
   * A failed answer is not kept (the next player asks again).
   */
  private iceServers(): Promise<RTCIceServer[]> {
    const key = this.o.baseUrl ?? ''
    let pending = iceServersByHub.get(key)
    if (!pending) {
      pending = this.api('GET', '/api/v1/live/config').then(async (res) => {
        if (!res.ok) {
          iceServersByHub.delete(key)
          return []
        }
        return ((await res.json()) as { iceServers: RTCIceServer[] }).iceServers
      })
      pending.catch(() => iceServersByHub.delete(key))
      iceServersByHub.set(key, pending)
    }
    return pending
  }

  /** This hub's grid connector, shared by every player on the page. */
  private connector(): GridConnector {
    const key = this.o.baseUrl ?? ''
    let c = connectors.get(key)
    if (!c) {
      c = new GridConnector(
        async (body) => {
          const res = await this.api('POST', '/api/v1/live/grid', body)
          if (res.ok) return { status: res.status, answer: await res.json() }
          // The whole offer was refused (signed out, too many requests): each tile says why.
          const problem = (await res.json().catch(() => ({}))) as {
            error?: { code: string; message: string }
          }
          return { status: res.status, ...(problem.error ? { error: problem.error } : {}) }
        },
        () => this.iceServers(),
      )
      connectors.set(key, c)
    }
    return c
  }

  private async api(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(this.url(path), {
      method,
      headers: {
        authorization: `Bearer ${this.o.token()}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
  }

  async play(cameraId: string): Promise<void> {
    await this.stop()
    this.startedAt = performance.now()
    this.firstFrameMs = undefined
    this.lastFrames = 0
    this.lastFrameAt = performance.now()
    this.setState('connecting')
    if ((this.o.mode ?? 'relay') === 'direct') return this.playDirect(cameraId)
    const attempt = this.startedAt
    const member = await this.connector().join(cameraId, this.o.stream ?? 'main')
    if (attempt !== this.startedAt || this.state === 'closed') {
      // Stopped (or restarted) while the hub answered: the session it opened is not wanted.
      member.release()
      if (member.result.sessionId)
        await this.api('DELETE', `/api/v1/live/${member.result.sessionId}`).catch(() => {})
      return
    }
    const { result } = member
    if (!result.sessionId || !member.track) {
      member.release()
      this.setState('failed', result.error?.message ?? `the hub answered ${result.status}`)
      return
    }
    this.member = member
    this.answerMs = Math.round(performance.now() - this.startedAt)
    this.sessionId = result.sessionId
    bySession.set(result.sessionId, this)
    this.stream = result.stream
    this.video.srcObject = new MediaStream([member.track])
    void this.video.play().catch(() => {})
    member.onConnectionState = (state) => this.connectionChanged(state)
    this.watchFrames()
    this.statsTimer = window.setInterval(() => void this.collectStats(), 1000)
  }

  private connectionChanged(state: RTCPeerConnectionState): void {
    if (state === 'failed' || state === 'closed') {
      this.close()
      this.setState('failed', 'the connection failed')
    } else if (state === 'disconnected') this.setState('stalled', 'the connection is interrupted')
    else if (state === 'connected' && this.state === 'stalled') this.setState('playing')
  }

  /** A connection of its own, straight to the agent (its offer through the single-camera API). */
  private async playDirect(cameraId: string): Promise<void> {
    const iceServers = await this.iceServers()
    const pc = new RTCPeerConnection({ iceServers })
    this.pc = pc
    pc.addTransceiver('video', { direction: 'recvonly' })
    pc.ontrack = (e) => {
      this.video.srcObject = e.streams[0] ?? new MediaStream([e.track])
      void this.video.play().catch(() => {})
    }
    pc.onconnectionstatechange = () => {
      if (pc === this.pc) this.connectionChanged(pc.connectionState)
    }
    await pc.setLocalDescription(await pc.createOffer())
    await gatheringComplete(pc)
    this.gatherMs = Math.round(performance.now() - this.startedAt)
    const res = await this.api('POST', `/api/v1/cameras/${cameraId}/live`, {
      type: 'offer',
      sdp: pc.localDescription?.sdp ?? '',
      mode: 'direct',
      stream: this.o.stream ?? 'main',
    })
    const body = (await res.json().catch(() => ({}))) as {
      sdp?: string
      sessionId?: string
      stream?: StreamRole
      error?: { message: string }
    }
    if (pc !== this.pc) {
      if (res.ok && body.sessionId) await this.api('DELETE', `/api/v1/live/${body.sessionId}`).catch(() => {})
      return
    }
    if (!res.ok || !body.sdp || !body.sessionId) {
      this.close()
      this.setState('failed', body.error?.message ?? `the hub answered ${res.status}`)
      return
    }
    this.answerMs = Math.round(performance.now() - this.startedAt) - (this.gatherMs ?? 0)
    this.sessionId = body.sessionId
    bySession.set(body.sessionId, this)
    this.stream = body.stream
    await pc.setRemoteDescription({ type: 'answer', sdp: body.sdp })
    this.watchFrames()
    this.statsTimer = window.setInterval(() => void this.collectStats(), 1000)
  }

  /** Marks the first decoded frame (time to first frame) and the playing state. */
  private watchFrames(): void {
    const video = this.video as HTMLVideoElement & {
      requestVideoFrameCallback?: (cb: () => void) => number
    }
    const first = () => {
      if (this.firstFrameMs !== undefined || (!this.pc && !this.member)) return
      this.firstFrameMs = Math.round(performance.now() - this.startedAt)
      this.setState('playing')
    }
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(first)
    else video.addEventListener('loadeddata', first, { once: true })
  }

  private async collectStats(): Promise<void> {
    const source = this.member?.receiver ?? this.pc
    if (!source) return
    const report = await source.getStats()
    let inbound: Record<string, number> | undefined
    let pair: Record<string, number> | undefined
    report.forEach((s: Record<string, unknown>) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') inbound = s as Record<string, number>
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded')
        pair = s as Record<string, number>
    })
    const now = performance.now()
    const bytes = inbound?.bytesReceived ?? 0
    const bitrateKbps = this.lastAt ? Math.round(((bytes - this.lastBytes) * 8) / (now - this.lastAt)) : 0
    this.lastBytes = bytes
    this.lastAt = now
    this.checkStall(inbound?.framesDecoded ?? 0, now)
    const emitted = inbound?.jitterBufferEmittedCount ?? 0
    this.o.onStats?.({
      firstFrameMs: this.firstFrameMs,
      gatherMs: this.gatherMs,
      answerMs: this.answerMs,
      framesDecoded: inbound?.framesDecoded ?? 0,
      framesDropped: inbound?.framesDropped ?? 0,
      width: this.video.videoWidth,
      height: this.video.videoHeight,
      jitterBufferMs: emitted ? Math.round(((inbound?.jitterBufferDelay ?? 0) / emitted) * 1000) : undefined,
      rttMs:
        pair?.currentRoundTripTime !== undefined ? Math.round(pair.currentRoundTripTime * 1000) : undefined,
      packetsLost: inbound?.packetsLost ?? 0,
      bitrateKbps,
    })
  }

  /**
   * Video that stops: stalled after a few seconds, failed (the tile retries) after more. On a shared
   * connection a session the hub ended (camera gone, permission revoked) only falls silent.
   */
  private checkStall(framesDecoded: number, now: number): void {
    if (framesDecoded !== this.lastFrames) {
      this.lastFrames = framesDecoded
      this.lastFrameAt = now
      if (this.state === 'stalled' && this.firstFrameMs !== undefined) this.setState('playing')
      return
    }
    const silentMs = now - this.lastFrameAt
    if (silentMs >= FAILED_AFTER_MS) {
      const id = this.sessionId
      this.sessionId = undefined
      if (id) bySession.delete(id)
      this.close()
      if (id) void this.api('DELETE', `/api/v1/live/${id}`).catch(() => {})
      this.setState('failed', 'no video from the camera')
    } else if (silentMs >= STALLED_AFTER_MS && this.state === 'playing')
      this.setState('stalled', 'no video for a few seconds')
  }

  /** The hub ended this player's session: nothing more will come on it. */
  ended(reason: string): void {
    if (this.sessionId) bySession.delete(this.sessionId)
    this.sessionId = undefined
    this.close()
    this.setState('failed', reason)
  }

  /** Extends the session to the (fresh) token's expiry; call after refreshing the token. */
  async renew(): Promise<void> {
    if (!this.sessionId) return
    const res = await this.api('POST', `/api/v1/live/${this.sessionId}/renew`)
    if (res.status === 404) this.setState('closed', 'the session has ended')
  }

  /** Relay through the hub (default) or connect to the agent directly (same LAN); for the next play(). */
  setMode(mode: 'relay' | 'direct'): void {
    this.o.mode = mode
  }

  get session(): string | undefined {
    return this.sessionId
  }

  private close(): void {
    if (this.statsTimer !== undefined) window.clearInterval(this.statsTimer)
    this.statsTimer = undefined
    this.pc?.close()
    this.pc = undefined
    this.member?.release()
    this.member = undefined
    this.video.srcObject = null
  }

  async stop(): Promise<void> {
    const id = this.sessionId
    this.sessionId = undefined
    if (id) bySession.delete(id)
    this.close()
    if (id) await this.api('DELETE', `/api/v1/live/${id}`).catch(() => {})
    if (this.state !== 'idle') this.setState('closed')
  }
}
