import { randomUUID } from 'node:crypto'
import {
  type IceServer,
  LIVE_BUNDLE_FEATURE,
  type LiveBundleResult,
  liveAnswerResult,
  liveBundleResult,
  type StreamRole,
} from '@ts-vms/shared'
import {
  checkOfferSdp,
  type H264Profile,
  LiveFanout,
  MAX_GRID_OFFER_BYTES,
  OfferError,
  type PeerOptions,
  ReceivingPeer,
  SendingPeer,
} from '@ts-vms/shared/live'
import type { Logger } from 'pino'
import { AgentRequestError, type AgentRequests } from '../agents/agent-requests.ts'
import type { AuditLog } from '../audit/audit-log.ts'

/**
 * Live view sessions and the hub's relay. By default the hub takes one WebRTC upstream per camera
 * and stream (a grid's tiles ask for the sub-stream, a single view for the main) from its agent
 * (asked over MQTT; the agent's ICE checks go out to the hub, so the site needs no inbound port)
 * and fans it out to every viewer: ten operators on one camera cost the site's uplink one stream.
 * The upstreams a grid needs from one agent come on one connection (`live.bundle`, a video
 * section per camera: one ICE and DTLS handshake instead of sixteen), each section closed on its
 * own when its camera has no viewers left. A `direct` session instead hands the browser's offer to
 * the agent, for browsers on the site's LAN.
 *
 * A session ends when the viewer closes it or its connection fails, when its access token expires
 * (unless renewed), when a periodic check finds the permission revoked or the camera gone, or
 * when the agent goes offline; every end frees the peer, and the upstream once it has no viewers.
 * Authorisation checks that cannot reach the database keep the session (the token still vouches
 * for the viewer); start and stop are audited through the audit log's disk failover.
 */
export class LiveSessionError extends Error {
  override name = 'LiveSessionError'
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

export type LiveMode = 'relay' | 'direct'
export type LiveStream = StreamRole

export interface LiveCamera {
  id: string
  name: string
  tenantId: string
  siteId: string
  agentId: string
}

export interface LiveViewer {
  userId: string
  /** The viewer's own tenant (a system administrator may watch another tenant's camera). */
  tenantId: string
  username: string
  sessionVersion: number
  clientIp: string | null
  userAgent: string | null
}

/** A connection from an agent carrying one camera's upstream (`live.offer`) or several (`live.bundle`). */
interface UpstreamLink {
  peerId: string
  agentId: string
  peer: ReceivingPeer
  bundle: boolean
  upstreams: Upstream[]
  closed: boolean
}

interface Upstream {
  /** `cameraId/preference`. */
  key: string
  camera: LiveCamera
  /** The stream the agent sends (its fallback when the preferred one is missing or not H.264). */
  stream: LiveStream
  /** What viewers must decode (the camera's H.264 profile, as the agent answered). */
  profile: H264Profile | undefined
  link: UpstreamLink
  /** Its video section on the link. */
  track: number
  fanout: LiveFanout
  sessions: Set<string>
  linger: NodeJS.Timeout | undefined
  closed: boolean
  lastKeyframeRequest: number
}

export interface LiveSession {
  id: string
  camera: LiveCamera
  viewer: LiveViewer
  mode: LiveMode
  /** The stream the viewer asked for, and the one it gets. */
  preference: LiveStream
  stream: LiveStream
  startedAt: number
  expiresAt: number
  peer: SendingPeer | undefined
  /** The session's track on its peer: 0 for a single view, its tile's place in a grid bundle. */
  track: number
  upstream: Upstream | undefined
  /** For a direct session: the agent's connection id. */
  agentPeerId: string | undefined
  expiry: NodeJS.Timeout | undefined
  ended: boolean
}

/** The outcome of checking a session's viewer again: `unknown` when the database is unreachable. */
export type Recheck = 'ok' | 'revoked' | 'unknown'

export interface LiveSessionsOptions {
  requests: AgentRequests
  audit: AuditLog
  logger: Logger
  iceServers: IceServer[]
  hostAddresses: string[]
  portRange: [number, number] | undefined
  upstreamLingerMs: number
  recheckSeconds: number
  maxSessions: number
  requestTimeoutMs: number
  /** Whether the viewer may still watch the camera (permission, account, session, camera). */
  recheck: (session: LiveSession) => Promise<Recheck>
  /**
   * A session ended for another reason than its viewer's request: a grid tile on a shared
   * connection only falls silent, so its viewer is told (the console's update stream).
   */
  onEnded?: (session: LiveSession, reason: string) => void
}

/** The reason a session ends when its viewer asks (nobody needs telling). */
export const VIEWER_CLOSED = 'viewer closed'

/** A session not started yet: its peer, upstream or agent connection are filled in by the start. */
function newSession(
  camera: LiveCamera,
  viewer: LiveViewer,
  mode: LiveMode,
  preference: LiveStream,
  expiresAt: number,
): LiveSession {
  return {
    id: randomUUID(),
    camera,
    viewer,
    mode,
    preference,
    stream: preference,
    startedAt: Date.now(),
    expiresAt,
    peer: undefined,
    track: 0,
    upstream: undefined,
    agentPeerId: undefined,
    expiry: undefined,
    ended: false,
  }
}

/** A viewer that never connects is dropped after this long. */
const CONNECT_TIMEOUT_MS = 30_000
/** Upstream loss: ask the agent for its GOP again at most this often. */
const KEYFRAME_REQUEST_INTERVAL_MS = 1000

export class LiveSessions {
  private readonly sessions = new Map<string, LiveSession>()
  private readonly upstreams = new Map<string, Upstream>()
  private readonly opening = new Map<string, Promise<Upstream>>()
  /** What each agent announced it can do (`up/status` features). */
  private readonly agentFeatures = new Map<string, ReadonlySet<string>>()
  private readonly recheckTimer: NodeJS.Timeout
  private rechecking = false
  private closed = false

  constructor(private readonly o: LiveSessionsOptions) {
    this.recheckTimer = setInterval(() => void this.recheckAll(), o.recheckSeconds * 1000)
    this.recheckTimer.unref()
  }

  private get peerOptions(): PeerOptions {
    return {
      iceServers: this.o.iceServers,
      additionalHostAddresses: this.o.hostAddresses,
      ...(this.o.portRange ? { portRange: this.o.portRange } : {}),
    }
  }

  async start(input: {
    camera: LiveCamera
    viewer: LiveViewer
    offerSdp: string
    mode: LiveMode
    /** Default `main`. */
    stream?: LiveStream
    expiresAt: number
  }): Promise<{ sessionId: string; sdp: string; expiresAt: number; stream: LiveStream }> {
    this.admit(1, input.offerSdp)
    const session = newSession(
      input.camera,
      input.viewer,
      input.mode,
      input.stream ?? 'main',
      input.expiresAt,
    )
    const sdp =
      input.mode === 'relay'
        ? await this.startRelay(session, input.offerSdp)
        : await this.startDirect(session, input.offerSdp)
    await this.register(session)
    return { sessionId: session.id, sdp, expiresAt: session.expiresAt, stream: session.stream }
  }

  /**
   * Registers a started session and audits its start. A relay session's answer goes back while the
   * record is written (the browser spends that time on ICE and DTLS): its track sends no video until
   * the record is durable, and the session ends if it cannot be. A direct one waits for the record.
   */
  private async register(session: LiveSession): Promise<void> {
    this.sessions.set(session.id, session)
    this.scheduleExpiry(session)
    const audited = this.audit(session, 'camera.live.start', {
      siteId: session.camera.siteId,
      agentId: session.camera.agentId,
      stream: session.stream,
      ...(session.peer && session.peer.trackCount > 1 ? { bundle: session.peer.trackCount } : {}),
    })
    if (!session.peer) return audited
    session.peer.holdUntil(audited, session.track)
    audited.catch((err: unknown) => {
      this.o.logger.error({ err, session: session.id }, 'could not audit a live session: ending it')
      void this.end(session.id, 'could not be audited')
    })
  }

  /**
   * A grid on one connection: the viewer's offer has one video section per tile, in order, and the
   * answer sends each tile's camera on its section (one ICE and one DTLS handshake for the whole
   * grid instead of one per tile). Each tile is a session of its own (audit, renewal, permission
   * checks, ending); a tile that cannot start (its error in its place) gets a silent section. The
   * connection closes when its last session ends; if it fails, every session on it ends.
   */
  async startBundle(input: {
    tiles: ({ camera: LiveCamera; stream: LiveStream } | { error: unknown })[]
    viewer: LiveViewer
    offerSdp: string
    expiresAt: number
  }): Promise<{
    sdp: string
    expiresAt: number
    tiles: ({ sessionId: string; stream: LiveStream; mid: string | undefined } | { error: unknown })[]
  }> {
    this.admit(input.tiles.filter((t) => 'camera' in t).length, input.offerSdp, MAX_GRID_OFFER_BYTES)
    // Every tile's upstream at once (one per camera and stream, shared with other viewers; those
    // missing from one agent come on one connection).
    const wanted = this.upstreamsFor(
      input.tiles.flatMap((t) => ('camera' in t ? [{ camera: t.camera, preference: t.stream }] : [])),
    )
    const upstreams = await Promise.all(
      input.tiles.map(async (t) => {
        if (!('camera' in t)) return { error: t.error }
        try {
          return { upstream: await (wanted.get(`${t.camera.id}/${t.stream}`) as Promise<Upstream>) }
        } catch (error) {
          return { error }
        }
      }),
    )
    const silent = new LiveFanout()
    let peer: SendingPeer
    try {
      peer = await SendingPeer.answerBundle(
        input.offerSdp,
        upstreams.map((u) =>
          'upstream' in u && u.upstream
            ? { fanout: u.upstream.fanout, profile: u.upstream.profile }
            : { fanout: silent, profile: undefined },
        ),
        this.peerOptions,
      )
    } catch (err) {
      for (const u of upstreams) if ('upstream' in u && u.upstream) this.releaseUpstreamIfIdle(u.upstream)
      if (err instanceof OfferError) throw new LiveSessionError(422, 'bad_offer', err.message)
      throw err
    }
    const sessions: LiveSession[] = []
    const tiles = upstreams.map((u, track) => {
      const tile = input.tiles[track]
      if (!('upstream' in u) || !u.upstream || !tile || !('camera' in tile)) {
        peer.detach(track)
        return { error: 'error' in u ? u.error : new Error('no upstream') }
      }
      const session = newSession(tile.camera, input.viewer, 'relay', tile.stream, input.expiresAt)
      session.peer = peer
      session.track = track
      this.joinUpstream(session, u.upstream)
      sessions.push(session)
      return { sessionId: session.id, stream: session.stream, mid: peer.mid(track) }
    })
    if (sessions.length === 0) {
      await peer.close('closed')
    } else {
      peer.onClose = (reason) => {
        for (const s of sessions) void this.end(s.id, `viewer connection ${reason}`)
      }
      peer.expectConnectionWithin(CONNECT_TIMEOUT_MS)
      for (const session of sessions) await this.register(session)
    }
    return { sdp: peer.answerSdp, expiresAt: input.expiresAt, tiles }
  }

  /** Refuses what cannot start: the hub closing, `count` sessions beyond capacity, a malformed offer. */
  private admit(count: number, offerSdp: string, maxOfferBytes?: number): void {
    if (this.closed) throw new LiveSessionError(503, 'shutting_down', 'the hub is shutting down')
    if (this.sessions.size + count > this.o.maxSessions)
      throw new LiveSessionError(
        503,
        'live_capacity',
        `the hub serves at most ${this.o.maxSessions} live sessions`,
      )
    try {
      checkOfferSdp(offerSdp, maxOfferBytes)
    } catch (err) {
      throw new LiveSessionError(400, 'bad_offer', (err as Error).message)
    }
  }

  /** A relayed session takes its stream from the upstream and keeps it from lingering out. */
  private joinUpstream(session: LiveSession, upstream: Upstream): void {
    session.upstream = upstream
    session.stream = upstream.stream
    upstream.sessions.add(session.id)
    clearTimeout(upstream.linger)
  }

  private async startRelay(session: LiveSession, offerSdp: string): Promise<string> {
    const upstream = await this.upstreamFor(session.camera, session.preference)
    let peer: SendingPeer
    try {
      peer = await SendingPeer.answer(offerSdp, upstream.fanout, upstream.profile, this.peerOptions)
    } catch (err) {
      this.releaseUpstreamIfIdle(upstream)
      if (err instanceof OfferError) throw new LiveSessionError(422, 'bad_offer', err.message)
      throw err
    }
    session.peer = peer
    this.joinUpstream(session, upstream)
    peer.onClose = (reason) => void this.end(session.id, `viewer connection ${reason}`)
    peer.expectConnectionWithin(CONNECT_TIMEOUT_MS)
    return peer.answerSdp
  }

  private async startDirect(session: LiveSession, offerSdp: string): Promise<string> {
    const peerId = randomUUID()
    const result = await this.ask(session.camera.agentId, {
      op: 'live.offer',
      cameraId: session.camera.id,
      peerId,
      mode: 'direct',
      stream: session.preference,
      sdp: offerSdp,
      iceServers: this.o.iceServers,
    })
    session.agentPeerId = peerId
    session.stream = result.stream
    return result.sdp
  }

  private async ask(
    agentId: string,
    body: {
      op: 'live.offer'
      cameraId: string
      peerId: string
      mode: 'upstream' | 'direct'
      stream: LiveStream
      sdp: string
      iceServers: IceServer[]
    },
  ) {
    return this.o.requests.callParsed(agentId, this.o.requestTimeoutMs, () => body, liveAnswerResult)
  }

  /**
   * The camera's upstream from its agent for a preferred stream: one per camera and preference,
   * however many viewers ask at once.
   */
  private async upstreamFor(camera: LiveCamera, preference: LiveStream): Promise<Upstream> {
    const key = `${camera.id}/${preference}`
    const open = this.upstreams.get(key)
    if (open && !open.closed) return open
    let pending = this.opening.get(key)
    if (!pending) {
      pending = this.openUpstream(key, camera, preference).finally(() => this.opening.delete(key))
      this.opening.set(key, pending)
    }
    return pending
  }

  /**
   * The upstreams of several cameras (a grid's tiles), by `cameraId/preference`: those open or
   * opening already are shared; the missing ones of an agent that announced `live.bundle` come on
   * one connection, the others each on their own.
   */
  private upstreamsFor(
    wanted: readonly { camera: LiveCamera; preference: LiveStream }[],
  ): Map<string, Promise<Upstream>> {
    const found = new Map<string, Promise<Upstream>>()
    const missing = new Map<string, { key: string; camera: LiveCamera; preference: LiveStream }[]>()
    for (const w of wanted) {
      const key = `${w.camera.id}/${w.preference}`
      if (found.has(key)) continue
      const open = this.upstreams.get(key)
      const pending = open && !open.closed ? Promise.resolve(open) : this.opening.get(key)
      if (pending) {
        found.set(key, pending)
        continue
      }
      if (!this.agentFeatures.get(w.camera.agentId)?.has(LIVE_BUNDLE_FEATURE)) {
        found.set(key, this.upstreamFor(w.camera, w.preference))
        continue
      }
      found.set(key, Promise.resolve() as unknown as Promise<Upstream>) // placeholder, set below
      const group = missing.get(w.camera.agentId) ?? []
      group.push({ key, ...w })
      missing.set(w.camera.agentId, group)
    }
    for (const [agentId, group] of missing) {
      if (group.length === 1) {
        const only = group[0] as (typeof group)[number]
        found.set(only.key, this.upstreamFor(only.camera, only.preference))
        continue
      }
      const bundle = this.openBundle(agentId, group)
      group.forEach((m, i) => {
        const one = bundle.then((results) => {
          const r = results[i]
          if (r === undefined || r instanceof Error) throw r ?? new Error('no upstream')
          return r
        })
        one.catch(() => {})
        const pending = one.finally(() => this.opening.delete(m.key))
        pending.catch(() => {})
        this.opening.set(m.key, pending)
        found.set(m.key, pending)
      })
    }
    return found
  }

  /** A new upstream on section `track` of `link`, its keyframe requests going to that section. */
  private newUpstream(
    key: string,
    camera: LiveCamera,
    stream: LiveStream,
    link: UpstreamLink,
    track: number,
    fanout: LiveFanout,
  ): Upstream {
    const upstream: Upstream = {
      key,
      camera,
      stream,
      profile: link.peer.profileOf(track),
      link,
      track,
      fanout,
      sessions: new Set(),
      linger: undefined,
      closed: false,
      lastKeyframeRequest: 0,
    }
    fanout.onInputLost = () => {
      // The agent answers a PLI from its GOP cache (the camera is never asked).
      const now = Date.now()
      if (now - upstream.lastKeyframeRequest < KEYFRAME_REQUEST_INTERVAL_MS) return
      upstream.lastKeyframeRequest = now
      link.peer.requestKeyframe(track)
    }
    link.upstreams.push(upstream)
    this.upstreams.set(key, upstream)
    this.o.logger.info(
      { camera: camera.id, agent: camera.agentId, peer: link.peerId, track, stream },
      'live upstream opened',
    )
    return upstream
  }

  /** Watches a link's connection: when it fails, every upstream on it closes. */
  private watchLink(link: UpstreamLink): void {
    link.peer.onClose = (reason) => void this.linkClosed(link, `upstream connection ${reason}`)
    link.peer.expectConnectionWithin(CONNECT_TIMEOUT_MS)
  }

  private async openUpstream(key: string, camera: LiveCamera, preference: LiveStream): Promise<Upstream> {
    const fanout = new LiveFanout()
    const peer = await ReceivingPeer.offer(fanout, this.peerOptions)
    const link: UpstreamLink = {
      peerId: randomUUID(),
      agentId: camera.agentId,
      peer,
      bundle: false,
      upstreams: [],
      closed: false,
    }
    let stream: LiveStream
    try {
      const answer = await this.ask(camera.agentId, {
        op: 'live.offer',
        cameraId: camera.id,
        peerId: link.peerId,
        mode: 'upstream',
        stream: preference,
        sdp: peer.offerSdp,
        iceServers: this.o.iceServers,
      })
      stream = answer.stream
      await peer.accept(answer.sdp)
    } catch (err) {
      await peer.close('failed')
      throw err
    }
    const upstream = this.newUpstream(key, camera, stream, link, 0, fanout)
    this.watchLink(link)
    return upstream
  }

  /**
   * Several cameras of one agent on one connection: one result per member, in order, an error in
   * place of a camera the agent could not start (its section stays silent).
   */
  private async openBundle(
    agentId: string,
    members: readonly { key: string; camera: LiveCamera; preference: LiveStream }[],
  ): Promise<(Upstream | Error)[]> {
    const fanouts = members.map(() => new LiveFanout())
    const peer = await ReceivingPeer.offerBundle(fanouts, this.peerOptions)
    const link: UpstreamLink = {
      peerId: randomUUID(),
      agentId,
      peer,
      bundle: true,
      upstreams: [],
      closed: false,
    }
    let tracks: LiveBundleResult['tracks']
    try {
      const answer = await this.o.requests.callParsed(
        agentId,
        this.o.requestTimeoutMs,
        () => ({
          op: 'live.bundle',
          peerId: link.peerId,
          tracks: members.map((m) => ({ cameraId: m.camera.id, stream: m.preference })),
          sdp: peer.offerSdp,
          iceServers: this.o.iceServers,
        }),
        liveBundleResult,
      )
      if (answer.tracks.length !== members.length)
        throw new AgentRequestError(502, 'bad_agent_answer', 'the agent answered another number of cameras')
      tracks = answer.tracks
      if (tracks.some((t) => 'stream' in t)) await peer.accept(answer.sdp)
      else await peer.close('closed')
    } catch (err) {
      await peer.close('failed')
      throw err
    }
    const results = members.map((m, i) => {
      const t = tracks[i] as (typeof tracks)[number]
      if ('error' in t) return new AgentRequestError(t.error.status, t.error.code, t.error.message)
      return this.newUpstream(m.key, m.camera, t.stream, link, i, fanouts[i] as LiveFanout)
    })
    if (link.upstreams.length > 0) this.watchLink(link)
    return results
  }

  /** An upstream's end: its sessions end, and its section (or its whole connection) is let go. */
  private async upstreamClosed(upstream: Upstream, reason: string): Promise<void> {
    if (upstream.closed) return
    upstream.closed = true
    clearTimeout(upstream.linger)
    if (this.upstreams.get(upstream.key) === upstream) this.upstreams.delete(upstream.key)
    const link = upstream.link
    this.o.logger.info(
      { camera: upstream.camera.id, peer: link.peerId, track: upstream.track, reason },
      'live upstream closed',
    )
    for (const id of [...upstream.sessions]) await this.end(id, reason)
    if (link.closed) return
    if (link.upstreams.some((u) => !u.closed)) {
      // The connection goes on for the link's other cameras: only this section stops.
      this.tellAgentClosed(link.agentId, link.peerId, upstream.track)
      return
    }
    link.closed = true
    await link.peer.close('closed')
    this.tellAgentClosed(link.agentId, link.peerId)
  }

  /** A link's connection ended (failed, or closed by the agent): every upstream on it ends. */
  private async linkClosed(link: UpstreamLink, reason: string): Promise<void> {
    if (link.closed) return
    link.closed = true
    for (const u of link.upstreams) await this.upstreamClosed(u, reason)
    this.tellAgentClosed(link.agentId, link.peerId)
  }

  /** Records what an agent announced it can do (its `up/status`). */
  setAgentFeatures(agentId: string, features: readonly string[]): void {
    this.agentFeatures.set(agentId, new Set(features))
  }

  private releaseUpstreamIfIdle(upstream: Upstream): void {
    if (upstream.sessions.size > 0 || upstream.closed) return
    clearTimeout(upstream.linger)
    if (this.o.upstreamLingerMs === 0) {
      void this.upstreamClosed(upstream, 'no viewers')
      return
    }
    upstream.linger = setTimeout(() => {
      if (upstream.sessions.size === 0) void this.upstreamClosed(upstream, 'no viewers')
    }, this.o.upstreamLingerMs)
    upstream.linger.unref()
  }

  private tellAgentClosed(agentId: string, peerId: string, track?: number): void {
    this.o.requests
      .call(agentId, 10_000, () => ({ op: 'live.close', peerId, ...(track === undefined ? {} : { track }) }))
      .catch((err: unknown) => {
        if (!(err instanceof AgentRequestError))
          this.o.logger.warn({ err, agentId }, 'could not close a live peer')
      })
  }

  private scheduleExpiry(session: LiveSession): void {
    clearTimeout(session.expiry)
    // Timers beyond 2^31 ms overflow; sessions are renewed long before that anyway.
    const ms = Math.min(Math.max(0, session.expiresAt - Date.now()), 2 ** 31 - 1)
    session.expiry = setTimeout(() => void this.end(session.id, 'access token expired'), ms)
    session.expiry.unref()
  }

  /** An audit record of a session's start or stop: who watched which camera, how. */
  private audit(s: LiveSession, action: string, details: Record<string, unknown>): Promise<void> {
    return this.o.audit.record({
      action,
      outcome: 'success',
      tenantId: s.camera.tenantId,
      actor: { type: 'user', id: s.viewer.userId, name: s.viewer.username },
      target: { type: 'camera', id: s.camera.id },
      clientIp: s.viewer.clientIp,
      userAgent: s.viewer.userAgent,
      details: {
        sessionId: s.id,
        camera: s.camera.name,
        viewer: s.viewer.username,
        mode: s.mode,
        ...details,
      },
    })
  }

  get(id: string): LiveSession | undefined {
    return this.sessions.get(id)
  }

  /** Extends a session to a newer token's expiry. */
  renew(id: string, expiresAt: number): number {
    const s = this.sessions.get(id)
    if (!s) throw new LiveSessionError(404, 'not_found', 'no such live session')
    if (expiresAt > s.expiresAt) {
      s.expiresAt = expiresAt
      this.scheduleExpiry(s)
    }
    return s.expiresAt
  }

  /** Ends a session and frees what it held; returns whether there was one. */
  async end(id: string, reason: string): Promise<boolean> {
    const s = this.sessions.get(id)
    if (!s || s.ended) {
      // A relay peer that fails before its session is registered has nothing to record.
      return false
    }
    s.ended = true
    this.sessions.delete(id)
    clearTimeout(s.expiry)
    // A grid bundle's connection stays for its other tiles; the last one closes it.
    if (s.peer && s.peer.detach(s.track) === 0) await s.peer.close('closed')
    if (s.upstream) {
      s.upstream.sessions.delete(id)
      this.releaseUpstreamIfIdle(s.upstream)
    }
    if (s.agentPeerId) this.tellAgentClosed(s.camera.agentId, s.agentPeerId)
    this.o.logger.info({ session: id, camera: s.camera.id, reason }, 'live session ended')
    if (reason !== VIEWER_CLOSED) this.o.onEnded?.(s, reason)
    await this.audit(s, 'camera.live.stop', { reason, durationMs: Date.now() - s.startedAt }).catch(
      (err: unknown) =>
        this.o.logger.error({ err, session: id }, 'could not audit the end of a live session'),
    )
    return true
  }

  /**
   * The agent reports that a direct viewer's connection ended on its side, or (with `track`) that
   * one section of a bundled upstream stopped (its camera went away) while the others go on.
   */
  async endByAgentPeer(agentId: string, peerId: string, reason: string, track?: number): Promise<boolean> {
    if (track !== undefined) {
      const up = [...this.upstreams.values()].find(
        (u) => u.link.peerId === peerId && u.link.agentId === agentId && u.track === track,
      )
      if (!up) return false
      await this.upstreamClosed(up, reason)
      return true
    }
    const s = [...this.sessions.values()].find(
      (x) => x.agentPeerId === peerId && x.camera.agentId === agentId,
    )
    if (!s) return false
    s.agentPeerId = undefined // gone already: nothing to close on the agent
    return this.end(s.id, reason)
  }

  async endWhere(match: (s: LiveSession) => boolean, reason: string): Promise<number> {
    const ids = [...this.sessions.values()].filter(match).map((s) => s.id)
    for (const id of ids) await this.end(id, reason)
    return ids.length
  }

  endForCamera(cameraId: string, reason: string): Promise<number> {
    return this.endWhere((s) => s.camera.id === cameraId, reason)
  }

  async endForAgent(agentId: string, reason: string): Promise<number> {
    const n = await this.endWhere((s) => s.camera.agentId === agentId, reason)
    for (const up of [...this.upstreams.values()])
      if (up.camera.agentId === agentId) await this.upstreamClosed(up, reason)
    return n
  }

  /** Checks every session's viewer again; revoked ones end, unknown ones (database away) go on. */
  async recheckAll(): Promise<void> {
    if (this.rechecking) return
    this.rechecking = true
    try {
      for (const s of [...this.sessions.values()]) {
        if (s.ended) continue
        let outcome: Recheck
        try {
          outcome = await this.o.recheck(s)
        } catch (err) {
          this.o.logger.warn({ err, session: s.id }, 'live permission check failed; the session goes on')
          outcome = 'unknown'
        }
        if (outcome === 'revoked') await this.end(s.id, 'permission revoked')
      }
    } finally {
      this.rechecking = false
    }
  }

  /** Per session, for the API and tests. */
  async stats(id: string) {
    const s = this.sessions.get(id)
    if (!s) return undefined
    return {
      sessionId: s.id,
      cameraId: s.camera.id,
      mode: s.mode,
      stream: s.stream,
      startedAt: new Date(s.startedAt).toISOString(),
      expiresAt: new Date(s.expiresAt).toISOString(),
      connection: s.peer ? await s.peer.stats(s.track) : undefined,
      upstream: s.upstream
        ? {
            state: s.upstream.link.peer.connectionState,
            receivedPackets: s.upstream.fanout.receivedPackets,
            lostPackets: s.upstream.fanout.lostPackets,
            viewers: s.upstream.sessions.size,
          }
        : undefined,
    }
  }

  /** Sessions on this hub that `visible` admits, newest first. */
  list(visible: (s: LiveSession) => boolean): LiveSession[] {
    return [...this.sessions.values()].filter(visible).sort((a, b) => b.startedAt - a.startedAt)
  }

  get sessionCount(): number {
    return this.sessions.size
  }

  get upstreamCount(): number {
    return this.upstreams.size
  }

  async close(): Promise<void> {
    this.closed = true
    clearInterval(this.recheckTimer)
    for (const id of [...this.sessions.keys()]) await this.end(id, 'hub shutting down')
    for (const up of [...this.upstreams.values()]) await this.upstreamClosed(up, 'hub shutting down')
  }
}
