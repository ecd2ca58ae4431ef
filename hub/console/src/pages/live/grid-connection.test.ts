import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { GridConnector, type PostGrid } from './grid-connection.ts'

/** A stand-in for the browser's RTCPeerConnection: enough for the connector's bookkeeping. */
class FakePeerConnection {
  static made: FakePeerConnection[] = []
  readonly transceivers: { receiver: { track: { id: string } } }[] = []
  config: RTCConfiguration
  iceGatheringState = 'complete'
  connectionState = 'new'
  closed = false
  remote: string | undefined
  localDescription: { sdp: string } | undefined
  onconnectionstatechange: (() => void) | null = null

  constructor(config: RTCConfiguration) {
    this.config = config
    FakePeerConnection.made.push(this)
  }
  addTransceiver() {
    const t = { receiver: { track: { id: `track-${this.transceivers.length}` } }, setCodecPreferences() {} }
    this.transceivers.push(t)
    return t
  }
  async createOffer() {
    return { type: 'offer', sdp: `v=0 sections=${this.transceivers.length}` }
  }
  async setLocalDescription(d: { sdp: string }) {
    this.localDescription = d
  }
  async setRemoteDescription(d: { sdp: string }) {
    this.remote = d.sdp
  }
  addEventListener() {}
  close() {
    this.closed = true
  }
  set(state: string) {
    this.connectionState = state
    this.onconnectionstatechange?.()
  }
}

const g = globalThis as Record<string, unknown>
beforeEach(() => {
  FakePeerConnection.made = []
  g.RTCPeerConnection = FakePeerConnection
  g.window = globalThis
})
afterEach(() => {
  delete g.RTCPeerConnection
  delete g.window
})

const CAM = (n: number) => `00000000-0000-4000-8000-00000000000${n}`

describe('grid connection', () => {
  it('opens one connection for the tiles that start together; each tile stands and leaves alone', async () => {
    const posts: Parameters<PostGrid>[0][] = []
    const connector = new GridConnector(
      async (body) => {
        posts.push(body)
        return {
          status: 201,
          answer: {
            type: 'answer',
            sdp: 'v=0 answer',
            expiresAt: '2026-11-29T12:00:00Z',
            tiles: body.tiles.map((t, i) =>
              t.cameraId === CAM(2)
                ? {
                    cameraId: t.cameraId,
                    status: 404,
                    error: { code: 'not_found', message: 'camera not found' },
                  }
                : { cameraId: t.cameraId, status: 201, sessionId: `s${i}`, mid: String(i), stream: t.stream },
            ),
          },
        }
      },
      async () => [],
    )
    const joined = await Promise.all([
      connector.join(CAM(1), 'sub'),
      connector.join(CAM(2), 'sub'),
      connector.join(CAM(3), 'main'),
    ])
    expect(posts).toHaveLength(1)
    expect(posts[0]).toMatchObject({
      type: 'offer',
      sdp: 'v=0 sections=3',
      tiles: [
        { cameraId: CAM(1), stream: 'sub' },
        { cameraId: CAM(2), stream: 'sub' },
        { cameraId: CAM(3), stream: 'main' },
      ],
    })
    const pc = FakePeerConnection.made[0] as FakePeerConnection
    expect(FakePeerConnection.made).toHaveLength(1)
    expect(pc.config.bundlePolicy).toBe('max-bundle')
    expect(pc.remote).toBe('v=0 answer')
    const [one, missing, three] = joined
    expect(one?.result).toMatchObject({ status: 201, sessionId: 's0' })
    expect(one?.track).toEqual({ id: 'track-0' })
    expect(three?.track).toEqual({ id: 'track-2' })
    expect(missing?.result).toMatchObject({ status: 404, error: { code: 'not_found' } })

    // The shared connection's state reaches the tiles still on it.
    const seen: string[] = []
    if (one) one.onConnectionState = (s) => seen.push(`one:${s}`)
    if (three) three.onConnectionState = (s) => seen.push(`three:${s}`)
    pc.set('connected')
    expect(seen).toEqual(['one:connected', 'three:connected'])

    // The refused tile left at once; the connection closes when the last playing one leaves.
    one?.release()
    expect(pc.closed).toBe(false)
    pc.set('disconnected')
    expect(seen.at(-1)).toBe('three:disconnected')
    three?.release()
    expect(pc.closed).toBe(true)

    // A tile that starts later gets a connection of its own.
    const late = await connector.join(CAM(4), 'sub')
    expect(posts).toHaveLength(2)
    expect(FakePeerConnection.made).toHaveLength(2)
    expect(late.result.sessionId).toBe('s0')
  })

  it("gives every tile the hub's refusal when the whole offer is refused, and closes", async () => {
    const connector = new GridConnector(
      async () => ({ status: 429, error: { code: 'rate_limited', message: 'too many requests' } }),
      async () => [],
    )
    const [a, b] = await Promise.all([connector.join(CAM(1), 'sub'), connector.join(CAM(2), 'sub')])
    expect(a?.result).toMatchObject({ cameraId: CAM(1), status: 429, error: { code: 'rate_limited' } })
    expect(b?.result).toMatchObject({ cameraId: CAM(2), status: 429 })
    expect(a?.track).toBeUndefined()
    expect(FakePeerConnection.made[0]?.closed).toBe(true)
  })

  it('splits more tiles than the hub takes in one connection', async () => {
    const sizes: number[] = []
    const connector = new GridConnector(
      async (body) => {
        sizes.push(body.tiles.length)
        return { status: 400, error: { code: 'bad_request', message: 'no' } }
      },
      async () => [],
    )
    await Promise.all(Array.from({ length: 20 }, (_, i) => connector.join(CAM(i % 10), 'sub')))
    expect(sizes).toEqual([16, 4])
  })
})
