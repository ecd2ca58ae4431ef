import { createPublicKey, type KeyObject, sign, verify } from 'node:crypto'

/**
 * Signed export manifests (issue 16): what an exported MP4 is (camera, site, range, SHA-256 and
 * size), who exported it and when, and which hub — signed with one of the hub's Ed25519 export
 * keys so that anyone holding the public keys can check a file offline, long after the export.
 *
 * The signature is over the canonical JSON (keys sorted, no whitespace) of the manifest without
 * `signature`. Pure: no database, no files, no network.
 */
export interface ExportManifest {
  v: 1
  exportId: string
  hubId: string
  tenantId: string
  camera: { id: string; name: string }
  site: { id: string; name: string }
  from: string
  to: string
  sha256: string
  bytes: number
  exportedBy: { userId: string | null; username: string }
  exportedAt: string
  keyId: string
}

export type SignedExportManifest = ExportManifest & { signature: string }

/** A published export key: `publicKey` is the raw 32-byte Ed25519 key, base64url. */
export interface ExportPublicKey {
  keyId: string
  publicKey: string
  createdAt: string
}

type Json = string | number | boolean | null | Json[] | { [key: string]: Json }

/** JSON with object keys sorted (by UTF-16 code units) and no whitespace. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new Error('not a finite number')
    if (value === undefined) throw new Error('undefined is not JSON')
    return JSON.stringify(value)
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  const entries = Object.entries(value as Record<string, Json>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
}

function signedBytes(manifest: Record<string, unknown>): Buffer {
  const { signature: _signature, ...rest } = manifest
  return Buffer.from(canonicalJson(rest), 'utf8')
}

export function signManifest(manifest: ExportManifest, privateKey: KeyObject): SignedExportManifest {
  const signature = sign(null, signedBytes({ ...manifest }), privateKey).toString('base64url')
  return { ...manifest, signature }
}

/** The manifest as the hub hands it out (canonical JSON, signature included). */
export function serializeManifest(manifest: SignedExportManifest): string {
  return canonicalJson(manifest)
}

export function publicKeyFromRaw(publicKey: string): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey }, format: 'jwk' })
}

export function rawPublicKey(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' }) as { x?: string }
  if (!jwk.x) throw new Error('not an Ed25519 key')
  return jwk.x
}

const SIGNATURE = /^[A-Za-z0-9_-]{86}$/
const SHA256 = /^[0-9a-f]{64}$/

/** The keys file (`/.well-known/export-keys.json`): `{ keys: [{ keyId, publicKey, createdAt }] }`. */
export function parseKeysFile(text: string): ExportPublicKey[] {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new Error('the keys file is not JSON')
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys
  if (!Array.isArray(keys)) throw new Error('the keys file has no "keys" list')
  return keys.filter(
    (k): k is ExportPublicKey =>
      typeof k === 'object' && k !== null && typeof k.keyId === 'string' && typeof k.publicKey === 'string',
  )
}

export type ManifestCheck =
  | { ok: true; manifest: SignedExportManifest }
  | { ok: false; reason: string; manifest?: SignedExportManifest }

/** Checks the manifest's form and its signature with the key it names from `keys`. */
export function verifyManifest(text: string, keys: readonly ExportPublicKey[]): ManifestCheck {
  let m: SignedExportManifest
  try {
    m = JSON.parse(text) as SignedExportManifest
  } catch {
    return { ok: false, reason: 'the manifest is not JSON' }
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m))
    return { ok: false, reason: 'the manifest is not an object' }
  if (m.v !== 1) return { ok: false, reason: 'unknown manifest version' }
  if (typeof m.signature !== 'string' || !SIGNATURE.test(m.signature))
    return { ok: false, reason: 'the manifest has no valid signature' }
  const signature = Buffer.from(m.signature, 'base64url')
  // Only the one encoding of the 64 bytes: unused trailing bits must not be able to vary.
  if (signature.length !== 64 || signature.toString('base64url') !== m.signature)
    return { ok: false, reason: 'the manifest has no valid signature' }
  if (typeof m.sha256 !== 'string' || !SHA256.test(m.sha256) || !Number.isSafeInteger(m.bytes))
    return { ok: false, reason: 'the manifest does not describe a file' }
  if (typeof m.keyId !== 'string') return { ok: false, reason: 'the manifest names no key' }
  const key = keys.find((k) => k.keyId === m.keyId)
  if (!key)
    return { ok: false, reason: `signed by key ${m.keyId}, which is not in the keys file`, manifest: m }
  let publicKey: KeyObject
  try {
    publicKey = publicKeyFromRaw(key.publicKey)
  } catch {
    return { ok: false, reason: `key ${m.keyId} in the keys file is not an Ed25519 public key`, manifest: m }
  }
  let valid = false
  try {
    valid = verify(null, signedBytes(m as unknown as Record<string, unknown>), publicKey, signature)
  } catch {
    valid = false
  }
  if (!valid)
    return { ok: false, reason: 'the manifest signature does not verify: it was altered', manifest: m }
  return { ok: true, manifest: m }
}

export type ExportCheck = { ok: true; message: string } | { ok: false; message: string }

/** The whole check: manifest signature, then the file's SHA-256 and size against the manifest. */
export function verifyExport(
  manifestText: string,
  file: { sha256: string; bytes: number },
  keys: readonly ExportPublicKey[],
): ExportCheck {
  const check = verifyManifest(manifestText, keys)
  if (!check.ok) return { ok: false, message: `FAILED: ${check.reason}` }
  const m = check.manifest
  if (file.bytes !== m.bytes)
    return { ok: false, message: `FAILED: the file has ${file.bytes} bytes, the manifest says ${m.bytes}` }
  if (file.sha256 !== m.sha256)
    return { ok: false, message: 'FAILED: the file was altered (its SHA-256 differs from the manifest)' }
  const by = m.exportedBy?.username ?? 'unknown'
  return {
    ok: true,
    message:
      `OK: unaltered; exported by ${by} (${m.exportedBy?.userId ?? 'no user id'}) at ${m.exportedAt}; ` +
      `camera ${m.camera?.name} (${m.camera?.id}), site ${m.site?.name}, ${m.from} to ${m.to}; ` +
      `hub ${m.hubId}; export ${m.exportId}; signed by key ${m.keyId}`,
  }
}
