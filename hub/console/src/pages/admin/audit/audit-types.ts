/** What /api/v1/audit returns (hub/src/http/routes/audit.ts). */
export interface AuditEvent {
  id: string
  eventId: string
  time: string
  tenantId: string
  seq: number
  actor: { type: string; id: string | null; name: string | null }
  action: string
  target: { type: string | null; id: string | null }
  outcome: 'success' | 'failure' | 'denied'
  reason: string | null
  clientIp: string | null
  userAgent: string | null
  details: Record<string, unknown>
  prevHash: string
  hash: string
}

export interface VerifyResult {
  ok: boolean
  checked: number
  firstBadId?: string
  reason?: string
  tenants: number
  quarantined: number
}

export interface QuarantinedRecord {
  eventId: string
  tenantId: string
  time: string
  action: string
  record: Record<string, unknown>
  raw: string
  error: string
  quarantinedAt: string
}

export const KNOWN_ACTIONS = [
  'auth.*',
  'auth.login.success',
  'auth.login.failure',
  'auth.login.lockout',
  'auth.logout',
  'auth.password_reset.request',
  'auth.password_reset.confirm',
  'user.*',
  'user.create',
  'user.update',
  'user.delete',
  'user.password.change',
  'user.password.reset',
  'role.*',
  'role_binding.*',
  'site.*',
  'camera.*',
  'camera.export',
  'camera.playback',
  'camera.test_stream',
  'agent.*',
  'tenant.*',
  'license.install',
  'audit.export',
]

/** An audit record's details as "key: value" lines (nested objects flattened, never raw JSON). */
export function detailLines(details: Record<string, unknown>, prefix = ''): string[] {
  const out: string[] = []
  for (const [k, v] of Object.entries(details)) {
    const key = prefix ? `${prefix}.${k}` : k
    if (v === null || v === undefined) continue
    if (Array.isArray(v)) {
      if (v.every((x) => x === null || typeof x !== 'object')) out.push(`${key}: ${v.join(', ') || '(none)'}`)
      else out.push(...detailLines(Object.fromEntries(v.map((x, i) => [i, x])), key))
    } else if (typeof v === 'object') out.push(...detailLines(v as Record<string, unknown>, key))
    else out.push(`${key}: ${String(v)}`)
  }
  return out
}
