import { hostname } from 'node:os'
import { z } from 'zod'
import { type Credentials, hasCredentials, writeCredentials } from './credentials.ts'
import { hubFetch, normalizePin, probeHubCertificate } from './link/hub-tls.ts'

export const AGENT_VERSION = '0.1.0'

const response = z.object({
  agentId: z.uuid(),
  mqttUrl: z.string(),
  secret: z.string(),
  caFingerprint: z.string().nullable(),
  caCertificate: z.string().nullable().optional(),
  configKey: z.string().optional(),
  siteId: z.uuid(),
  tenantId: z.uuid(),
})

/**
 * Exchanges a one-time code at the hub for credentials and stores them (0600).
 *
 * An https hub's certificate is verified against this machine's CAs; or, with `pinSha256` (its
 * SHA-256 fingerprint: 64 hex digits or colon-separated pairs, any case), accepted only if it is
 * exactly that certificate, whatever the CAs say. The pin is kept with the credentials, and every
 * later HTTPS call of the agent to the hub holds to it (link/hub-tls.ts).
 */
export async function enroll(options: {
  hubUrl: string
  code: string
  dataDir: string
  name?: string
  force?: boolean
  pinSha256?: string
}): Promise<Credentials> {
  const pin = options.pinSha256 ? normalizePin(options.pinSha256) : undefined
  const hubUrl = options.hubUrl.replace(/\/+$/, '')
  if (pin && new URL(hubUrl).protocol !== 'https:') {
    throw new Error(`a certificate pin is for an https hub, and ${hubUrl} is not one`)
  }
  if (hasCredentials(options.dataDir) && !options.force) {
    throw new Error(`${options.dataDir} already holds an enrolled agent (use --force to replace it)`)
  }
  let res: Response
  try {
    res = await hubFetch({ hubPinSha256: pin })(`${hubUrl}/api/v1/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        code: options.code,
        hostname: hostname(),
        version: AGENT_VERSION,
        ...(options.name ? { name: options.name } : {}),
      }),
    })
  } catch (err) {
    if (!pin) await explainUntrusted(hubUrl)
    throw new Error(`cannot reach the hub at ${hubUrl}: ${reason(err)}`)
  }
  const text = await res.text()
  if (res.status !== 201) {
    let message = text
    try {
      message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text
    } catch {}
    throw new Error(`enrollment refused (${res.status}): ${message}`)
  }
  const body = response.parse(JSON.parse(text))
  const credentials: Credentials = {
    agentId: body.agentId,
    tenantId: body.tenantId,
    siteId: body.siteId,
    hubUrl,
    mqttUrl: body.mqttUrl,
    secret: body.secret,
    caFingerprint: body.caFingerprint,
    caCertificate: body.caCertificate ?? null,
    ...(body.configKey ? { configKey: body.configKey } : {}),
    ...(pin ? { hubPinSha256: pin } : {}),
  }
  writeCredentials(options.dataDir, credentials)
  return credentials
}

/** fetch's own error says "fetch failed"; what failed is in its cause. */
function reason(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } }
  if (e.message === 'fetch failed' && e.cause) return e.cause.message ?? e.cause.code ?? e.message
  return e.message
}

/**
 * An https hub that could not be called: when its certificate is one this machine does not trust,
 * says so with its fingerprint (to compare with the hub's and enroll with `--pin`).
 */
async function explainUntrusted(hubUrl: string): Promise<void> {
  if (!hubUrl.startsWith('https:')) return
  const cert = await probeHubCertificate(hubUrl).catch(() => null)
  if (!cert || cert.trusted) return
  throw new Error(
    `the hub's certificate at ${hubUrl} is not trusted by this machine (${cert.error ?? 'untrusted'}): ` +
      `SHA-256 fingerprint ${cert.fingerprint256} (subject ${cert.subject || '-'}, issuer ${cert.issuer || '-'}). ` +
      `If that is the hub's certificate (compare it on the hub), enroll again with --pin ${cert.fingerprint256}`,
  )
}
