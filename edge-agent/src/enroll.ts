import { hostname } from 'node:os'
import { z } from 'zod'
import { type Credentials, hasCredentials, writeCredentials } from './credentials.ts'

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

/** Exchanges a one-time code at the hub for credentials and stores them (0600). */
export async function enroll(options: {
  hubUrl: string
  code: string
  dataDir: string
  name?: string
  force?: boolean
}): Promise<Credentials> {
  if (hasCredentials(options.dataDir) && !options.force) {
    throw new Error(`${options.dataDir} already holds an enrolled agent (use --force to replace it)`)
  }
  const hubUrl = options.hubUrl.replace(/\/+$/, '')
  let res: Response
  try {
    res = await fetch(`${hubUrl}/api/v1/enroll`, {
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
    throw new Error(`cannot reach the hub at ${hubUrl}: ${(err as Error).message}`)
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
  }
  writeCredentials(options.dataDir, credentials)
  return credentials
}
