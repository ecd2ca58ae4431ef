import { createPrivateKey, generateKeyPairSync, randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import {
  decodeLicense,
  KNOWN_FEATURES,
  type LicenseLimits,
  loadTrustedKeys,
  signLicense,
  verifyLicenseSignature,
} from '../license/license-format.ts'

/**
 * The vendor's license tool.
 *   keygen --out DIR                       a signing key pair (PKCS#8 private, SPKI public)
 *   issue --key PRIVATE.pem --customer NAME --expires DATE [--not-before DATE] [--tenant SLUG]
 *         [--features a,b] [--max-cameras N] [--max-agents N] [--max-sites N] [--max-users N]
 *         [--id UUID]                      prints the license, alone, on stdout
 *   inspect FILE.lic                       shows what a license says and whether a trusted key signed it
 */
export const USAGE = `usage:
  npm run license -- keygen --out DIR
  npm run license -- issue --key PRIVATE.pem --customer NAME --expires DATE [--not-before DATE]
                   [--tenant SLUG] [--features a,b] [--max-cameras N] [--max-agents N]
                   [--max-sites N] [--max-users N] [--id UUID]  > file.lic
  npm run license -- inspect FILE.lic`

export class UsageError extends Error {}

function date(value: string, flag: string): number {
  const ms = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T23:59:59Z` : value)
  if (Number.isNaN(ms)) throw new UsageError(`${flag}: "${value}" is not a date (YYYY-MM-DD or ISO 8601)`)
  return Math.floor(ms / 1000)
}

function count(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value)) throw new UsageError(`${flag}: "${value}" is not a whole number`)
  return Number(value)
}

export async function runLicense(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const [command, ...rest] = argv
  if (command === 'keygen') {
    const { values } = parseArgs({ args: rest, options: { out: { type: 'string' } }, strict: true })
    if (!values.out) throw new UsageError('keygen needs --out DIR')
    const privateFile = path.join(values.out, 'license-private.pem')
    const publicFile = path.join(values.out, 'license-public.pem')
    if (existsSync(privateFile) || existsSync(publicFile)) {
      throw new UsageError(`${values.out} already holds a key pair; refusing to overwrite it`)
    }
    mkdirSync(values.out, { recursive: true, mode: 0o700 })
    const { publicKey, privateKey } = generateKeyPairSync('ed25519')
    writeFileSync(privateFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
      flag: 'wx',
    })
    writeFileSync(publicFile, publicKey.export({ type: 'spki', format: 'pem' }), { flag: 'wx' })
    return `private key: ${privateFile} (keep it offline)\npublic key:  ${publicFile} (give hubs this one: VMS_LICENSE_PUBLIC_KEYS)`
  }
  if (command === 'issue') {
    const { values } = parseArgs({
      args: rest,
      strict: true,
      options: {
        key: { type: 'string' },
        customer: { type: 'string' },
        expires: { type: 'string' },
        'not-before': { type: 'string' },
        tenant: { type: 'string' },
        features: { type: 'string' },
        'max-cameras': { type: 'string' },
        'max-agents': { type: 'string' },
        'max-sites': { type: 'string' },
        'max-users': { type: 'string' },
        id: { type: 'string' },
      },
    })
    if (!values.key || !values.customer || !values.expires) {
      throw new UsageError('issue needs --key, --customer and --expires')
    }
    let privateKey: ReturnType<typeof createPrivateKey>
    try {
      privateKey = createPrivateKey(readFileSync(values.key, 'utf8'))
    } catch (err) {
      throw new UsageError(`--key: cannot read a private key from ${values.key}: ${(err as Error).message}`)
    }
    const now = Math.floor(Date.now() / 1000)
    const limits: LicenseLimits = {}
    const cams = count(values['max-cameras'], '--max-cameras')
    const agents = count(values['max-agents'], '--max-agents')
    const sites = count(values['max-sites'], '--max-sites')
    const users = count(values['max-users'], '--max-users')
    if (cams !== undefined) limits.maxCameras = cams
    if (agents !== undefined) limits.maxAgents = agents
    if (sites !== undefined) limits.maxSites = sites
    if (users !== undefined) limits.maxUsers = users
    const exp = date(values.expires, '--expires')
    const nbf = values['not-before'] ? date(values['not-before'], '--not-before') : now
    if (exp <= nbf) throw new UsageError('--expires must be after --not-before')
    const features = (values.features ?? '')
      .split(',')
      .map((f) => f.trim())
      .filter(Boolean)
    return signLicense(
      {
        v: 1,
        lid: values.id ?? randomUUID(),
        customer: values.customer,
        iat: now,
        nbf,
        exp,
        features,
        limits,
        ...(values.tenant ? { tenant: values.tenant } : {}),
      },
      privateKey,
    )
  }
  if (command === 'inspect') {
    const file = rest[0]
    if (!file) throw new UsageError('inspect needs a license file')
    const text = readFileSync(file, 'utf8')
    const { header, payload } = decodeLicense(text)
    const extra = (env.VMS_LICENSE_PUBLIC_KEYS ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)
    let signature: string
    try {
      await verifyLicenseSignature(text, loadTrustedKeys(extra))
      signature = `valid (key ${String(header.kid)})`
    } catch (err) {
      signature = `NOT TRUSTED: ${(err as Error).message}`
    }
    const p = payload as Record<string, unknown>
    const when = (s: unknown) => (typeof s === 'number' ? new Date(s * 1000).toISOString() : String(s))
    const unknownFeatures = Array.isArray(p.features)
      ? p.features.filter((f) => !(KNOWN_FEATURES as readonly string[]).includes(String(f)))
      : []
    return JSON.stringify(
      {
        signature,
        id: p.lid,
        customer: p.customer,
        tenant: p.tenant ?? null,
        issuedAt: when(p.iat),
        notBefore: when(p.nbf),
        expiresAt: when(p.exp),
        features: p.features,
        limits: p.limits,
        ...(unknownFeatures.length ? { unknownFeatures } : {}),
      },
      null,
      2,
    )
  }
  throw new UsageError(USAGE)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runLicense(process.argv.slice(2))
    .then((out) => {
      process.stdout.write(`${out}\n`)
    })
    .catch((err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`)
      process.exit(err instanceof UsageError ? 2 : 1)
    })
}
