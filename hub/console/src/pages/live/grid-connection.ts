import type { StreamRole } from '../../api/types.ts'

/**
 * The page's live connections to the hub, shared by its tiles. Tiles that start within a few
 * milliseconds of each other (a grid opening) join one RTCPeerConnection with a video section per
 * tile, offered in one `POST /api/v1/live/grid`: one ICE and one DTLS handshake for the whole grid,
 * where a connection per tile costs sixteen of each (and the browser's six connections per host
 * would queue sixteen offers). Each tile still gets its own live session, succeeds or fails on its
 * own, and leaves on its own; the connection closes when its last tile has left.
 */
export interface GridTileResult {
  cameraId: string
  status: number
  sessionId?: string
  mid?: string
  stream?: StreamRole
  error?: { code: string; message: string }
}

export interface GridAnswer {
  type: 'answer'
  sdp: string
  expiresAt: string
  tiles: GridTileResult[]
}

/** Posts a grid offer; resolves with the hub's answer, or a status and error for the whole offer. */
export type PostGrid = (body: {
  type: 'offer'
  sdp: string
  tiles: { cameraId: string; stream: StreamRole }[]
}) => Promise<{ status: number; answer?: GridAnswer; error?: { code: string; message: string } }>

/** One tile's place on a shared connection. */
export interface GridMember {
  readonly result: GridTileResult
  /** The tile's video (silent until the connection is up and its session sends); none if refused. */
  readonly track: MediaStreamTrack | undefined
  readonly receiver: RTCRtpReceiver | undefined
  connectionState(): RTCPeerConnectionState
  /** Called on every change of the shared connection's state. */
  onConnectionState: (state: RTCPeerConnectionState) => void
  /** The tile leaves; the last to leave closes the connection. */
  release(): void
}

/** How long the first tile waits for others (tiles finish mounting a few ms apart). */
export const JOIN_WINDOW_MS = 15
/** The hub's limit per grid connection. */
export const MAX_TILES = 16

interface Pending {
  cameraId: string
  stream: StreamRole
  resolve: (m: GridMember) => void
  reject: (e: unknown) => void
}

export class GridConnector {
  private queue: Pending[] = []
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly post: PostGrid,
    private readonly iceServers: () => Promise<RTCIceServer[]>,
    private readonly windowMs = JOIN_WINDOW_MS,
  ) {}

  /** Joins the next connection to open; resolves once the hub has answered for this tile. */
  join(cameraId: string, stream: StreamRole): Promise<GridMember> {
    return new Promise((resolve, reject) => {
      this.queue.push({ cameraId, stream, resolve, reject })
      if (this.queue.length >= MAX_TILES) this.flush()
      else if (this.timer === undefined) this.timer = setTimeout(() => this.flush(), this.windowMs)
    })
  }

  private flush(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    const batch = this.queue.splice(0, MAX_TILES)
    if (this.queue.length > 0) this.timer = setTimeout(() => this.flush(), this.windowMs)
    if (batch.length > 0) void this.connect(batch)
  }

  private async connect(batch: Pending[]): Promise<void> {
    let pc: RTCPeerConnection | undefined
    try {
      pc = new RTCPeerConnection({ iceServers: await this.iceServers(), bundlePolicy: 'max-bundle' })
      const connection = pc
      const h264 = h264Codecs()
      const transceivers = batch.map(() => {
        const t = connection.addTransceiver('video', { direction: 'recvonly' })
        // H.264 only (all the hub sends): a grid's offer lists every codec in every section otherwise.
        if (h264 && t.setCodecPreferences) t.setCodecPreferences(h264)
        return t
      })
      await pc.setLocalDescription(await pc.createOffer())
      await gatheringComplete(pc)
      const reply = await this.post({
        type: 'offer',
        sdp: pc.localDescription?.sdp ?? '',
        tiles: batch.map((p) => ({ cameraId: p.cameraId, stream: p.stream })),
      })
      const answer = reply.answer
      if (!answer) {
        pc.close()
        const result = { status: reply.status, ...(reply.error ? { error: reply.error } : {}) }
        for (const p of batch) p.resolve(closedMember({ cameraId: p.cameraId, ...result }))
        return
      }
      await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp })
      const members: SharedMember[] = []
      batch.forEach((p, i) => {
        const transceiver = transceivers[i] as RTCRtpTransceiver
        const result = answer.tiles[i] ?? {
          cameraId: p.cameraId,
          status: 502,
          error: { code: 'bad_gateway', message: 'the hub answered fewer tiles than were offered' },
        }
        members.push(
          new SharedMember(result, transceiver.receiver, connection, () => {
            if (members.every((m) => m.released)) connection.close()
          }),
        )
      })
      // A tile that did not start leaves at once (its section stays silent).
      for (const m of members) if (!m.result.sessionId) m.release()
      pc.onconnectionstatechange = () => {
        for (const m of members) if (!m.released) m.onConnectionState(connection.connectionState)
      }
      batch.forEach((p, i) => {
        p.resolve(members[i] as SharedMember)
      })
    } catch (err) {
      pc?.close()
      for (const p of batch) p.reject(err)
    }
  }
}

class SharedMember implements GridMember {
  released = false
  onConnectionState: (state: RTCPeerConnectionState) => void = () => {}

  constructor(
    readonly result: GridTileResult,
    readonly receiver: RTCRtpReceiver,
    private readonly pc: RTCPeerConnection,
    private readonly left: () => void,
  ) {}

  get track(): MediaStreamTrack {
    return this.receiver.track
  }

  connectionState(): RTCPeerConnectionState {
    return this.pc.connectionState
  }

  release(): void {
    if (this.released) return
    this.released = true
    this.left()
  }
}

/** A tile the hub did not take (the whole offer refused): nothing to play, nothing to release. */
function closedMember(result: GridTileResult): GridMember {
  return {
    result,
    track: undefined,
    receiver: undefined,
    connectionState: () => 'closed',
    onConnectionState: () => {},
    release: () => {},
  }
}

/** The browser's H.264 receive codecs and their retransmission (RTX) entries, if it tells. */
function h264Codecs(): RTCRtpCodec[] | undefined {
  const receiver = (globalThis as { RTCRtpReceiver?: typeof RTCRtpReceiver }).RTCRtpReceiver
  const codecs = receiver?.getCapabilities?.('video')?.codecs ?? []
  const h264 = codecs.filter((c) => c.mimeType.toLowerCase() === 'video/h264')
  const rtx = codecs.filter((c) => c.mimeType.toLowerCase() === 'video/rtx')
  return h264.length > 0 ? [...h264, ...rtx] : undefined
}

export function gatheringComplete(pc: RTCPeerConnection, timeoutMs = 3000): Promise<void> {
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
