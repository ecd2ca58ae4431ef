import { generateKeyPairSync, sign, verify } from 'node:crypto'
import { jwtVerify, SignJWT } from 'jose'
import type { BenchResult } from '../run.ts'
import { opsPerSecond } from './measure.ts'

/**
 * Access-token verification (jose, with algorithm, type, issuer and audience pinned) against a bare
 * Ed25519 signature check of the same bytes: the price of the JWT layer over the cryptography.
 */
export async function benchTokens(): Promise<BenchResult[]> {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const token = await new SignJWT({ tid: '00000000-0000-4000-8000-000000000001', sv: 0 })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' })
    .setIssuer('ts-vms-hub')
    .setAudience('ts-vms-api')
    .setSubject('00000000-0000-4000-8000-000000000002')
    .setJti('j')
    .setIssuedAt()
    .setExpirationTime('15m')
    .sign(privateKey)
  const [h, p] = token.split('.')
  const signingInput = Buffer.from(`${h}.${p}`)
  const signature = sign(null, signingInput, privateKey)
  const options = { algorithms: ['EdDSA'], typ: 'at+jwt', issuer: 'ts-vms-hub', audience: 'ts-vms-api' }
  const subject = await opsPerSecond(() => jwtVerify(token, publicKey, options))
  const reference = await opsPerSecond(() => verify(null, signingInput, publicKey, signature))
  return [
    {
      name: 'tokens',
      subject: { label: 'jwtVerify', opsPerSec: subject },
      reference: { label: 'raw Ed25519 verify', opsPerSec: reference },
      ratio: reference / subject,
    },
  ]
}
