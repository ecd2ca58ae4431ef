import { X509Certificate } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { PIN_PATTERN } from './link/hub-tls.ts'

/**
 * What enrollment gave the agent, kept in its data dir with mode 0600: its id and secret, where
 * the broker is, the broker certificate it pins (and the hub's, when pinned), and the key to its configuration's secrets.
 */
export const credentialsSchema = z.object({
  agentId: z.uuid(),
  tenantId: z.uuid(),
  siteId: z.uuid(),
  hubUrl: z.url(),
  mqttUrl: z.string().regex(/^mqtts?:\/\//),
  secret: z.string().min(32),
  caFingerprint: z.string().nullable(),
  caCertificate: z.string().nullable(),
  /** Opens the camera passwords in the configuration (base64, 32 bytes). Absent: enrolled before cameras. */
  configKey: z
    .string()
    .regex(/^[A-Za-z0-9+/]{43}=$/)
    .optional(),
  /**
   * The SHA-256 of the hub's HTTPS certificate, when enrolled with `--pin` (a hub whose certificate
   * this machine's CAs do not vouch for): every HTTPS call to the hub accepts exactly that
   * certificate (link/hub-tls.ts). Absent or null: the certificate is verified as usual.
   */
  hubPinSha256: z.string().regex(PIN_PATTERN).nullable().optional(),
})
export type Credentials = z.infer<typeof credentialsSchema>

export const credentialsFile = (dataDir: string) => path.join(dataDir, 'credentials.json')

export function hasCredentials(dataDir: string): boolean {
  return existsSync(credentialsFile(dataDir))
}

export function readCredentials(dataDir: string): Credentials {
  const file = credentialsFile(dataDir)
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new Error(
      `${file}: not readable (${(err as Error).message}); enroll first: npm run agent -- enroll`,
    )
  }
  const parsed = credentialsSchema.safeParse(raw)
  if (!parsed.success) throw new Error(`${file}: damaged (${parsed.error.issues[0]?.message}); enroll again`)
  return parsed.data
}

export function writeCredentials(dataDir: string, credentials: Credentials): void {
  if (credentials.caCertificate && credentials.caFingerprint) {
    const actual = new X509Certificate(credentials.caCertificate).fingerprint256
    if (actual !== credentials.caFingerprint) {
      throw new Error('the broker certificate does not match its fingerprint: refusing to trust it')
    }
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const file = credentialsFile(dataDir)
  const tmp = `${file}.tmp`
  writeFileSync(tmp, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 })
  renameSync(tmp, file)
}
