import { createPublicKey, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { CompactSign, calculateJwkThumbprint, compactVerify, decodeProtectedHeader, type JWK } from 'jose'
import { z } from 'zod'

/**
 * A license: a compact JWS (EdDSA, Ed25519) over a JSON document, `typ: vms-license`. The vendor
 * signs with a private key kept offline; the hub trusts the public key it ships with
 * (vendor-public-key.pem) plus any named in VMS_LICENSE_PUBLIC_KEYS.
 */
export const LICENSE_TYPE = 'vms-license'

export const KNOWN_FEATURES = ['analytics', 'export', 'multi-site', 'sso'] as const

export const limitsSchema = z
  .object({
    maxCameras: z.number().int().nonnegative().optional(),
    maxAgents: z.number().int().nonnegative().optional(),
    maxSites: z.number().int().nonnegative().optional(),
    maxUsers: z.number().int().nonnegative().optional(),
  })
  .strict()
export type LicenseLimits = z.infer<typeof limitsSchema>

export const licensePayloadSchema = z
  .object({
    v: z.literal(1),
    lid: z.uuid(),
    customer: z.string().min(1).max(200),
    iat: z.number().int(),
    nbf: z.number().int(),
    exp: z.number().int(),
    features: z.array(z.string().regex(/^[a-z0-9][a-z0-9-]{0,40}$/)).max(50),
    limits: limitsSchema,
    tenant: z.string().min(1).max(63).optional(),
  })
  .strict()
export type LicensePayload = z.infer<typeof licensePayloadSchema>

export class LicenseError extends Error {
  override name = 'LicenseError'
}

export async function keyId(key: KeyObject): Promise<string> {
  return calculateJwkThumbprint(key.export({ format: 'jwk' }) as JWK, 'sha256')
}

export function readPublicKey(pem: string, source: string): KeyObject {
  try {
    const key = createPublicKey(pem)
    if (key.asymmetricKeyType !== 'ed25519') throw new Error('not an Ed25519 key')
    return key
  } catch (err) {
    throw new LicenseError(`${source}: not an Ed25519 public key in SPKI PEM (${(err as Error).message})`)
  }
}

/** The keys licenses may be signed with: the shipped vendor key and the operator's extra ones. */
export function loadTrustedKeys(extraPaths: string[]): KeyObject[] {
  const shipped = readFileSync(new URL('./vendor-public-key.pem', import.meta.url), 'utf8')
  const keys = [readPublicKey(shipped, 'vendor-public-key.pem')]
  for (const file of extraPaths) {
    let pem: string
    try {
      pem = readFileSync(file, 'utf8')
    } catch (err) {
      throw new LicenseError(`VMS_LICENSE_PUBLIC_KEYS: cannot read ${file}: ${(err as Error).message}`)
    }
    keys.push(readPublicKey(pem, file))
  }
  return keys
}

export async function signLicense(payload: LicensePayload, privateKey: KeyObject): Promise<string> {
  const checked = licensePayloadSchema.parse(payload)
  const kid = await keyId(createPublicKey(privateKey))
  return new CompactSign(new TextEncoder().encode(JSON.stringify(checked)))
    .setProtectedHeader({ alg: 'EdDSA', typ: LICENSE_TYPE, kid })
    .sign(privateKey)
}

const JWS_LINE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

/**
 * The license token in a license file. Tolerates what tools wrap around it (e.g. the banner
 * `npm run` prints before a redirected `issue`): the one line that is a compact JWS.
 */
export function extractLicense(text: string): string {
  const trimmed = text.trim()
  if (JWS_LINE.test(trimmed)) return trimmed
  const candidates = trimmed
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => JWS_LINE.test(l))
  if (candidates.length !== 1)
    throw new LicenseError('not a license: expected a compact JWS (three dot-separated parts)')
  return candidates[0] as string
}

/** Decodes without verifying (for inspection and error messages). */
export function decodeLicense(text: string): { header: Record<string, unknown>; payload: unknown } {
  const token = extractLicense(text)
  const parts = token.split('.')
  if (parts.length !== 3)
    throw new LicenseError('not a license: expected a compact JWS (three dot-separated parts)')
  try {
    return {
      header: decodeProtectedHeader(token) as Record<string, unknown>,
      payload: JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8')),
    }
  } catch {
    throw new LicenseError('not a license: the parts are not base64url JSON')
  }
}

/**
 * Checks a license's signature against the trusted keys and its form. Time and tenant binding are
 * the caller's to judge (they depend on the hub's clock and the installing tenant).
 */
export async function verifyLicenseSignature(text: string, trusted: KeyObject[]): Promise<LicensePayload> {
  const token = extractLicense(text)
  const { header } = decodeLicense(token)
  if (header.alg !== 'EdDSA') throw new LicenseError(`unsupported signature algorithm ${String(header.alg)}`)
  if (header.typ !== LICENSE_TYPE) throw new LicenseError('not a license (wrong type)')
  const kids = await Promise.all(trusted.map(keyId))
  const index = kids.indexOf(String(header.kid))
  const key = trusted[index]
  if (!key) throw new LicenseError('the license is not signed by a trusted vendor key')
  let payload: Uint8Array
  try {
    payload = (await compactVerify(token, key, { algorithms: ['EdDSA'] })).payload
  } catch {
    throw new LicenseError('the license signature does not verify: it was altered or forged')
  }
  const parsed = licensePayloadSchema.safeParse(JSON.parse(new TextDecoder().decode(payload)))
  if (!parsed.success)
    throw new LicenseError(`the license content is malformed: ${parsed.error.issues[0]?.message}`)
  return parsed.data
}
