import { createHmac, timingSafeEqual } from 'node:crypto'

/**
 * Playback tokens: what lets a player fetch a playlist's segments without an Authorization header
 * (hls.js, or a browser's native HLS, fetches them as plain URLs). One is minted with every
 * playlist, bound to the camera and the user (and the user's session version), and lasts at most
 * ten minutes.
 *
 * Format: base64url(payload | mac) with payload = version (1) | camera (16) | user (16) |
 * tenant (16) | session version (u32) | expiry (u32, Unix seconds), and mac the first 16 bytes of
 * HMAC-SHA256 over the payload, under a key derived from the hub's master key (HKDF, purpose
 * `playback-token:v1`). 98 characters: a 24-hour playlist repeats it in thousands of segment
 * addresses, where a 400-character JWT would more than double the playlist. Every hub sharing the
 * master key (they must, for camera passwords) verifies every other's tokens.
 *
 * Verification is the MAC first (a tampered token is invalid whatever it claims), then the expiry
 * (401 either way), then the camera (a valid token for another camera is 403).
 */
export const PLAYBACK_TOKEN_KEY_PURPOSE = 'playback-token:v1'
/** The longest a playback token may live. */
export const MAX_PLAYBACK_TOKEN_SECONDS = 600

const VERSION = 1
const PAYLOAD_BYTES = 1 + 16 * 3 + 4 + 4
const MAC_BYTES = 16
const TOKEN_BYTES = PAYLOAD_BYTES + MAC_BYTES
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export interface PlaybackClaims {
  cameraId: string
  userId: string
  tenantId: string
  sessionVersion: number
  /** Expiry, Unix seconds. */
  exp: number
}

export class PlaybackTokenError extends Error {
  override name = 'PlaybackTokenError'
  constructor(
    readonly reason: 'invalid' | 'expired' | 'wrong_camera',
    message: string,
  ) {
    super(message)
  }
}

const uuidBytes = (id: string) => {
  const lower = id.toLowerCase()
  if (!UUID.test(lower)) throw new TypeError(`not a UUID: ${id}`)
  return Buffer.from(lower.replace(/-/g, ''), 'hex')
}
const uuidText = (b: Buffer) => {
  const h = b.toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

export class PlaybackTokens {
  private readonly now: () => number

  constructor(
    private readonly key: Buffer,
    readonly options: { ttlSeconds: number; now?: () => number },
  ) {
    if (key.length < 32) throw new TypeError('the playback-token key must be at least 32 bytes')
    if (!(options.ttlSeconds > 0 && options.ttlSeconds <= MAX_PLAYBACK_TOKEN_SECONDS))
      throw new RangeError(`a playback token lives 1 to ${MAX_PLAYBACK_TOKEN_SECONDS} seconds`)
    this.now = options.now ?? Date.now
  }

  private mac(payload: Buffer): Buffer {
    return createHmac('sha256', this.key).update(payload).digest().subarray(0, MAC_BYTES)
  }

  /** A token for this user and camera, valid for the configured lifetime from now. */
  sign(subject: Omit<PlaybackClaims, 'exp'>): { token: string; exp: number } {
    const exp = Math.floor(this.now() / 1000) + this.options.ttlSeconds
    const payload = Buffer.alloc(PAYLOAD_BYTES)
    payload[0] = VERSION
    uuidBytes(subject.cameraId).copy(payload, 1)
    uuidBytes(subject.userId).copy(payload, 17)
    uuidBytes(subject.tenantId).copy(payload, 33)
    payload.writeUInt32BE(subject.sessionVersion >>> 0, 49)
    payload.writeUInt32BE(exp, 53)
    return { token: Buffer.concat([payload, this.mac(payload)]).toString('base64url'), exp }
  }

  /** The token's claims if it is genuine, unexpired and for `cameraId`; else PlaybackTokenError. */
  verify(token: string, cameraId: string): PlaybackClaims {
    if (token.length > 200 || !/^[A-Za-z0-9_-]+$/.test(token))
      throw new PlaybackTokenError('invalid', 'malformed playback token')
    const raw = Buffer.from(token, 'base64url')
    if (raw.length !== TOKEN_BYTES || raw[0] !== VERSION)
      throw new PlaybackTokenError('invalid', 'malformed playback token')
    const payload = raw.subarray(0, PAYLOAD_BYTES)
    if (!timingSafeEqual(raw.subarray(PAYLOAD_BYTES), this.mac(payload)))
      throw new PlaybackTokenError('invalid', 'the playback token is not genuine')
    const claims: PlaybackClaims = {
      cameraId: uuidText(payload.subarray(1, 17)),
      userId: uuidText(payload.subarray(17, 33)),
      tenantId: uuidText(payload.subarray(33, 49)),
      sessionVersion: payload.readUInt32BE(49),
      exp: payload.readUInt32BE(53),
    }
    if (claims.exp * 1000 <= this.now())
      throw new PlaybackTokenError('expired', 'the playback token has expired')
    if (claims.cameraId !== cameraId.toLowerCase())
      throw new PlaybackTokenError('wrong_camera', 'this playback token is for another camera')
    return claims
  }
}
