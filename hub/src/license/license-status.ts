import type { LicenseLimits, LicensePayload } from './license-format.ts'

/**
 * What a tenant may do under its license at a given time. Pure: the caller supplies the license
 * and a clock that never runs backwards (see license-clock.ts).
 *
 * - no license: the free tier;
 * - valid: the license's features and limits;
 * - grace (the 14 days after expiry): still everything, with warnings;
 * - expired (after the grace): nothing may be added and licensed features stop; what exists keeps
 *   running (recording and viewing are never switched off by licensing).
 */
export const FREE_TIER: Required<LicenseLimits> = { maxCameras: 4, maxAgents: 1, maxSites: 1, maxUsers: 5 }
export const GRACE_DAYS = 14

export type LicenseStatus = 'unlicensed' | 'valid' | 'grace' | 'expired'

export interface Entitlement {
  status: LicenseStatus
  features: string[]
  limits: LicenseLimits
  /** False once the grace period is over: nothing may be added. */
  additionsAllowed: boolean
  graceEndsAt?: Date
  warnings: string[]
}

export function entitlement(license: LicensePayload | null, nowMs: number): Entitlement {
  if (!license) {
    return {
      status: 'unlicensed',
      features: [],
      limits: { ...FREE_TIER },
      additionsAllowed: true,
      warnings: [],
    }
  }
  const expiresMs = license.exp * 1000
  const graceEndsMs = expiresMs + GRACE_DAYS * 86_400_000
  if (nowMs < expiresMs) {
    const daysLeft = Math.ceil((expiresMs - nowMs) / 86_400_000)
    return {
      status: 'valid',
      features: [...license.features],
      limits: { ...license.limits },
      additionsAllowed: true,
      warnings: daysLeft <= 30 ? [`the license expires in ${daysLeft} day(s)`] : [],
    }
  }
  const expired = new Date(expiresMs).toISOString().slice(0, 10)
  if (nowMs < graceEndsMs) {
    return {
      status: 'grace',
      features: [...license.features],
      limits: { ...license.limits },
      additionsAllowed: true,
      graceEndsAt: new Date(graceEndsMs),
      warnings: [
        `the license expired on ${expired}; grace period until ${new Date(graceEndsMs).toISOString().slice(0, 10)}: install a renewal`,
      ],
    }
  }
  return {
    status: 'expired',
    features: [],
    limits: { ...license.limits },
    additionsAllowed: false,
    graceEndsAt: new Date(graceEndsMs),
    warnings: [
      `the license expired on ${expired} and its grace period is over: nothing can be added until a renewal is installed (recording and viewing continue)`,
    ],
  }
}

export type Countable = 'cameras' | 'agents' | 'sites' | 'users'

export const LIMIT_OF: Record<Countable, keyof LicenseLimits> = {
  cameras: 'maxCameras',
  agents: 'maxAgents',
  sites: 'maxSites',
  users: 'maxUsers',
}

/** Why adding `adding` more of a kind is refused, or undefined if it is allowed. */
export function refusal(e: Entitlement, kind: Countable, current: number, adding = 1): string | undefined {
  if (!e.additionsAllowed) return `the license has expired: no ${kind} can be added`
  const limit = e.limits[LIMIT_OF[kind]]
  if (limit !== undefined && current + adding > limit) {
    const noun = limit === 1 ? kind.replace(/s$/, '') : kind
    return `the ${e.status === 'unlicensed' ? 'free tier' : 'license'} allows ${limit} ${noun}; ${current} exist`
  }
  return undefined
}
