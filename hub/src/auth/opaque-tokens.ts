import { createHash, randomBytes } from 'node:crypto'
import { z } from 'zod'

/**
 * Opaque bearer secrets (refresh tokens, password-reset tokens): `<tenant id>.<256 random bits>`.
 * Only a SHA-256 of the whole string is stored (the secret's entropy makes a slow hash pointless).
 * The tenant id lets the hub look the token up inside that tenant's row-level-security scope, so
 * presenting a token never needs a cross-tenant query.
 */
export interface OpaqueToken {
  token: string
  hash: string
}

export function newOpaqueToken(tenantId: string): OpaqueToken {
  const token = `${tenantId}.${randomBytes(32).toString('base64url')}`
  return { token, hash: hashOpaqueToken(token) }
}

export function hashOpaqueToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

const uuid = z.uuid()

/** The tenant an opaque token claims to belong to, or undefined if it is not one of ours. */
export function opaqueTokenTenant(token: string): string | undefined {
  const dot = token.indexOf('.')
  if (dot <= 0 || token.length > 200) return undefined
  const tenantId = token.slice(0, dot)
  const secret = token.slice(dot + 1)
  if (!/^[A-Za-z0-9_-]{43}$/.test(secret)) return undefined
  return uuid.safeParse(tenantId).success ? tenantId : undefined
}
