import { describe, expect, it } from 'vitest'
import { checkPassword } from './password-policy.ts'

describe('checkPassword', () => {
  it('accepts a long, uncommon passphrase', () => {
    expect(checkPassword('correct horse battery staple')).toEqual([])
    expect(checkPassword('Xq7#vL2m!pR9zT')).toEqual([])
  })

  it('requires at least 12 characters', () => {
    expect(checkPassword('Xq7#vL2m!pR')).toContain('must be at least 12 characters long')
  })

  it('rejects common passwords and padded common stems', () => {
    for (const weak of [
      'password1234',
      'Password1234!',
      'qwertyuiop12',
      '123456789012',
      'iloveyou2024!!',
      'Administrator',
    ]) {
      expect(checkPassword(weak), weak).toContain('is too common or predictable')
    }
  })

  it('rejects runs and sequences', () => {
    expect(checkPassword('aaaaaaaaaaaa')).toContain('is too common or predictable')
    expect(checkPassword('abcdefghijklmn')).toContain('is too common or predictable')
    expect(checkPassword('abababababab')).toContain('is too common or predictable')
  })

  it('rejects passwords that contain the username', () => {
    expect(checkPassword('my-name-is-alice-42', { username: 'alice' })).toContain(
      'must not contain the username',
    )
  })

  it('bounds the length so hashing cost stays bounded', () => {
    expect(checkPassword('x'.repeat(10) + 'Yz!'.repeat(400))).toContain(
      'must be at most 1024 characters long',
    )
  })
})
