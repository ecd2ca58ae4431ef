import { createHash, generateKeyPairSync } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  canonicalJson,
  type ExportManifest,
  type ExportPublicKey,
  rawPublicKey,
  serializeManifest,
  signManifest,
  verifyExport,
} from './export-manifest.ts'

const { publicKey, privateKey } = generateKeyPairSync('ed25519')
const keys: ExportPublicKey[] = [
  { keyId: 'k1', publicKey: rawPublicKey(publicKey), createdAt: '2026-01-01T00:00:00.000Z' },
]

const digest = (b: Buffer) => ({ sha256: createHash('sha256').update(b).digest('hex'), bytes: b.length })

function manifestFor(file: Buffer, overrides: Partial<ExportManifest> = {}): ExportManifest {
  return {
    v: 1,
    exportId: '7d1f3c1e-4c8e-4f0a-9a52-0d1c2b3a4f5e',
    hubId: '0b9f8e7d-6c5b-4a39-8271-605f4e3d2c1b',
    tenantId: 'a1b2c3d4-e5f6-4789-8abc-def012345678',
    camera: { id: 'c1', name: 'Entrée "nord"' },
    site: { id: 's1', name: 'Store 1' },
    from: '2026-11-29T10:00:00.000Z',
    to: '2026-11-29T10:05:00.000Z',
    ...digest(file),
    exportedBy: { userId: 'u1', username: 'alice' },
    exportedAt: '2026-11-29T10:06:00.000Z',
    keyId: 'k1',
    ...overrides,
  }
}

describe('export manifests', () => {
  it('canonical JSON sorts keys at every level and has no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: null, y: 'x' }], c: true } })).toBe(
      '{"a":{"c":true,"d":[1,{"y":"x","z":null}]},"b":1}',
    )
  })

  it('verifies an unaltered file and says who exported it', () => {
    const file = Buffer.from('an mp4, as far as this test cares')
    const text = serializeManifest(signManifest(manifestFor(file), privateKey))
    const r = verifyExport(text, digest(file), keys)
    expect(r).toEqual({
      ok: true,
      message: expect.stringMatching(/^OK: unaltered; exported by alice \(u1\)/),
    })
    // Re-serialised differently (pretty-printed, keys reordered): the same manifest, still valid.
    const pretty = JSON.stringify(JSON.parse(text), null, 2)
    expect(verifyExport(pretty, digest(file), keys).ok).toBe(true)
  })

  it('fails on any flipped bit in the file or in the manifest, and with a wrong key', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 256 }),
        fc.string({ maxLength: 20 }),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        fc.boolean(),
        (bytes, name, at, bit, inFile) => {
          const file = Buffer.from(bytes)
          const text = serializeManifest(
            signManifest(manifestFor(file, { camera: { id: 'c1', name } }), privateKey),
          )
          expect(verifyExport(text, digest(file), keys).ok).toBe(true)
          if (inFile) {
            const altered = Buffer.from(file)
            const i = at % altered.length
            altered[i] = (altered[i] as number) ^ (1 << bit)
            expect(verifyExport(text, digest(altered), keys).ok).toBe(false)
          } else {
            const altered = Buffer.from(text, 'utf8')
            const i = at % altered.length
            altered[i] = (altered[i] as number) ^ (1 << bit)
            const r = verifyExport(altered.toString('utf8'), digest(file), keys)
            expect(r.ok).toBe(false)
            expect(r.message).toMatch(/^FAILED: /)
          }
        },
      ),
      { numRuns: 500 },
    )
  })

  it('fails with a key that did not sign, or a key id not in the keys file', () => {
    const file = Buffer.from('x')
    const text = serializeManifest(signManifest(manifestFor(file), privateKey))
    const other = rawPublicKey(generateKeyPairSync('ed25519').publicKey)
    expect(verifyExport(text, digest(file), [{ ...(keys[0] as ExportPublicKey), publicKey: other }])).toEqual(
      {
        ok: false,
        message: expect.stringMatching(/signature does not verify/),
      },
    )
    expect(verifyExport(text, digest(file), []).message).toMatch(/not in the keys file/)
  })
})
