import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { type LicensePayload, signLicense } from '../../src/license/license-format.ts'

/**
 * A vendor key for tests (one per test process): hubs under test trust it through
 * VMS_LICENSE_PUBLIC_KEYS, and tests issue licenses with it.
 */
export const testVendor = (() => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const dir = mkdtempSync(path.join(tmpdir(), 'vms-test-vendor-'))
  const publicKeyFile = path.join(dir, 'license-public.pem')
  writeFileSync(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }))
  const privateKeyFile = path.join(dir, 'license-private.pem')
  writeFileSync(privateKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
  return { publicKey, privateKey, publicKeyFile, privateKeyFile }
})()

const DAY = 86_400

export function issueTestLicense(
  overrides: Partial<LicensePayload> = {},
  key = testVendor.privateKey,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return signLicense(
    {
      v: 1,
      lid: randomUUID(),
      customer: 'Test Customer',
      iat: now - DAY,
      nbf: now - DAY,
      exp: now + 365 * DAY,
      features: ['multi-site', 'export', 'analytics'],
      limits: { maxCameras: 100, maxAgents: 20, maxSites: 50, maxUsers: 100 },
      ...overrides,
    },
    key,
  )
}
