import type { StreamRole } from '../../api/types.ts'
import { OfferBatcher, type OfferOutcome } from './offer-batch.ts'

/**
 * A reusable live player: one camera in one <video> element over WebRTC, through the hub's live
 * API. It offers to receive H.264 (ICE gathering complete: the hub takes no trickled candidates)
 * through the page's offer batcher (a grid's tiles share one request), plays what arrives, renews
 * the session when the page has a fresh access token, and closes the session when stopped. State and statistics are reported to the page through callbacks, so the
 * full web UI can reuse it as is.
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
const batchers = new Map<string, OfferBatcher>()

export class LivePlayer {
  private pc: RTCPeerConnection | undefined
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

  /** This hub's offer batcher, shared by every player on the page. */
  private batcher(): OfferBatcher {
    const key = this.o.baseUrl ?? ''
    let b = batchers.get(key)
    if (!b) {
      b = new OfferBatcher(async (offers) => {
        const res = await this.api('POST', '/api/v1/live/offers', {
          offers: offers.map((o) => ({ type: 'offer', ...o })),
        })
        if (res.ok) return ((await res.json()) as { results: OfferOutcome[] }).results
        // The whole batch was refused (signed out, too many requests): each offer says why.
        const problem = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } }
        return offers.map(() => ({ status: res.status, ...(problem.error ? { error: problem.error } : {}) }))
      })
      batchers.set(key, b)
    }
    return b
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
    this.setState('connecting')
    const iceServers = await this.iceServers()
    const pc = new RTCPeerConnection({ iceServers })
    this.pc = pc
    pc.addTransceiver('video', { direction: 'recvonly' })
    pc.ontrack = (e) => {
      this.video.srcObject = e.streams[0] ?? new MediaStream([e.track])
      void this.video.play().catch(() => {})
    }
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc) return
      if (pc.connectionState === 'failed') this.setState('failed', 'the connection failed')
      else if (pc.connectionState === 'disconnected')
        this.setState('stalled', 'the connection is interrupted')
      else if (pc.connectionState === 'connected' && this.state === 'stalled') this.setState('playing')
    }
    await pc.setLocalDescription(await pc.createOffer())
    await gatheringComplete(pc)
    this.gatherMs = Math.round(performance.now() - this.startedAt)
    const outcome = await this.batcher().submit({
      cameraId,
      sdp: pc.localDescription?.sdp ?? '',
      mode: this.o.mode ?? 'relay',
      stream: this.o.stream ?? 'main',
    })
    const answer = outcome.answer
    if (pc !== this.pc) {
      // Stopped while the hub answered: the session it opened is not wanted.
      if (answer) await this.api('DELETE', `/api/v1/live/${answer.sessionId}`).catch(() => {})
      return
    }
    if (!answer) {
      this.close()
      this.setState('failed', outcome.error?.message ?? `the hub answered ${outcome.status}`)
      return
    }
    this.answerMs = Math.round(performance.now() - this.startedAt) - (this.gatherMs ?? 0)
    this.sessionId = answer.sessionId
    this.stream = answer.stream
    await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp })
    this.watchFrames()
    this.statsTimer = window.setInterval(() => void this.collectStats(), 1000)
  }

  /** Marks the first decoded frame (time to first frame) and the playing state. */
  private watchFrames(): void {
    const video = this.video as HTMLVideoElement & {
      requestVideoFrameCallback?: (cb: () => void) => number
    }
    const first = () => {
      if (this.firstFrameMs !== undefined || !this.pc) return
      this.firstFrameMs = Math.round(performance.now() - this.startedAt)
      this.setState('playing')
    }
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(first)
    else video.addEventListener('loadeddata', first, { once: true })
  }

  private async collectStats(): Promise<void> {
    const pc = this.pc
    if (!pc) return
    const report = await pc.getStats()
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
    this.video.srcObject = null
  }

  async stop(): Promise<void> {
    const id = this.sessionId
    this.sessionId = undefined
    this.close()
    if (id) await this.api('DELETE', `/api/v1/live/${id}`).catch(() => {})
    if (this.state !== 'idle') this.setState('closed')
  }
}

function gatheringComplete(pc: RTCPeerConnection, timeoutMs = 3000): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve()
  return new Promise((resolve) => {
    const timer = window.setTimeout(resolve, timeoutMs)
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') {
        window.clearTimeout(timer)
        resolve()
      }
    })
  })
}
