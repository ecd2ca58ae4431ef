import { randomBytes, randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { PlaybackTokenError, PlaybackTokens } from './playback-token.ts'

const key = randomBytes(32)
const subject = { cameraId: randomUUID(), userId: randomUUID(), tenantId: randomUUID(), sessionVersion: 3 }
const reason = (f: () => unknown) => {
  try {
    f()
  } catch (err) {
    return err instanceof PlaybackTokenError ? err.reason : `other: ${(err as Error).message}`
  }
  return 'accepted'
}

describe('playback tokens', () => {
  it('round-trips the claims, bound to the camera, short enough to repeat in every address', () => {
    let now = 1_800_000_000_000
    const tokens = new PlaybackTokens(key, { ttlSeconds: 600, now: () => now })
    const { token, exp } = tokens.sign(subject)
    expect(token).toMatch(/^[A-Za-z0-9_-]{98}$/)
    expect(exp).toBe(1_800_000_600)
    expect(tokens.verify(token, subject.cameraId)).toEqual({ ...subject, exp })
    expect(tokens.verify(token, subject.cameraId.toUpperCase()).userId).toBe(subject.userId)
    expect(reason(() => tokens.verify(token, randomUUID()))).toBe('wrong_camera')
    now += 599_999
    expect(reason(() => tokens.verify(token, subject.cameraId))).toBe('accepted')
    now += 1
    expect(reason(() => tokens.verify(token, subject.cameraId))).toBe('expired')
  })

  it('refuses tampered, truncated and foreign tokens as invalid, before looking at expiry or camera', () => {
    const tokens = new PlaybackTokens(key, { ttlSeconds: 60 })
    const { token } = tokens.sign(subject)
    for (let i = 0; i < token.length; i += 7) {
      const c = token[i] === 'A' ? 'B' : 'A'
      const tampered = token.slice(0, i) + c + token.slice(i + 1)
      expect(
        reason(() => tokens.verify(tampered, subject.cameraId)),
        `at ${i}`,
      ).toBe('invalid')
      expect(reason(() => tokens.verify(tampered, randomUUID()))).toBe('invalid')
    }
    expect(reason(() => tokens.verify(token.slice(0, -2), subject.cameraId))).toBe('invalid')
    expect(reason(() => tokens.verify(`${token}AA`, subject.cameraId))).toBe('invalid')
    expect(reason(() => tokens.verify('', subject.cameraId))).toBe('invalid')
    expect(reason(() => tokens.verify('not a token!', subject.cameraId))).toBe('invalid')
    const other = new PlaybackTokens(randomBytes(32), { ttlSeconds: 60 })
    expect(reason(() => other.verify(token, subject.cameraId))).toBe('invalid')
  })

  it('lives at most ten minutes', () => {
    expect(() => new PlaybackTokens(key, { ttlSeconds: 601 })).toThrow(RangeError)
    expect(() => new PlaybackTokens(Buffer.alloc(16), { ttlSeconds: 60 })).toThrow(TypeError)
  })
})
