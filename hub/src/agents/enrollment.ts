import { createHash, randomBytes } from 'node:crypto'

/**
 * One-time enrollment codes: 16 characters from an alphabet without look-alikes (80 bits),
 * shown in groups of four for typing, stored as a SHA-256.
 */
const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'

export function newEnrollmentCode(): { code: string; hash: string } {
  const bytes = randomBytes(16)
  let raw = ''
  for (const b of bytes) raw += ALPHABET[b % ALPHABET.length]
  const code = raw.match(/.{4}/g)?.join('-') ?? raw
  return { code, hash: hashEnrollmentCode(code) }
}

/** Case, spaces and dashes do not matter when typing a code. */
export function normaliseEnrollmentCode(code: string): string {
  return code.toUpperCase().replace(/[\s-]/g, '')
}

export function hashEnrollmentCode(code: string): string {
  return createHash('sha256').update(normaliseEnrollmentCode(code), 'utf8').digest('hex')
}
