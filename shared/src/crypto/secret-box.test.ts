import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { SecretBox, SecretBoxError } from './secret-box.ts'

describe('SecretBox', () => {
  const box = new SecretBox(randomBytes(32))

  it('round-trips a secret bound to its context', () => {
    const sealed = box.seal('camera-password', 'camera:1')
    expect(sealed).not.toContain('camera-password')
    expect(box.open(sealed, 'camera:1').toString()).toBe('camera-password')
  })

  it('refuses another context, another key and a tampered ciphertext', () => {
    const sealed = box.seal('secret', 'ctx')
    expect(() => box.open(sealed, 'other')).toThrow(SecretBoxError)
    expect(() => new SecretBox(randomBytes(32)).open(sealed, 'ctx')).toThrow(SecretBoxError)
    const raw = Buffer.from(sealed, 'base64')
    raw[raw.length - 1] = (raw[raw.length - 1] ?? 0) ^ 1
    expect(() => box.open(raw.toString('base64'), 'ctx')).toThrow(SecretBoxError)
    expect(() => box.open('AA==', 'ctx')).toThrow(SecretBoxError)
  })

  it('uses a fresh nonce every time', () => {
    expect(box.seal('x', 'c')).not.toBe(box.seal('x', 'c'))
  })
})

describe('SecretBox.deriveKey', () => {
  it('derives stable, purpose-bound keys', () => {
    const box = new SecretBox(randomBytes(32))
    const a = box.deriveKey('agent-config:1')
    expect(a).toHaveLength(32)
    expect(box.deriveKey('agent-config:1').equals(a)).toBe(true)
    expect(box.deriveKey('agent-config:2').equals(a)).toBe(false)
    const sealed = new SecretBox(a).seal('pw', 'ctx')
    expect(new SecretBox(box.deriveKey('agent-config:1')).open(sealed, 'ctx').toString()).toBe('pw')
  })
})
