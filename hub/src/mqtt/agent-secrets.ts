import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * Agent secrets: 256 random bits, shown once at enrollment. The hub keeps a SHA-256 (the secret's
 * entropy makes a slow hash pointless) and compares in constant time.
 */
export function newAgentSecret(): { secret: string; hash: string } {
  const secret = randomBytes(32).toString('base64url')
  return { secret, hash: hashAgentSecret(secret) }
}

export function hashAgentSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex')
}

export function agentSecretMatches(secret: string | Buffer | undefined, hash: string): boolean {
  if (secret === undefined) return false
  const given = Buffer.from(hashAgentSecret(secret.toString()), 'hex')
  const stored = Buffer.from(hash, 'hex')
  return given.length === stored.length && timingSafeEqual(given, stored)
}
