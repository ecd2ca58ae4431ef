import { describe, expect, it } from 'vitest'
import type { LicensePayload } from './license-format.ts'
import { entitlement, FREE_TIER, refusal } from './license-status.ts'

const DAY = 86_400_000
const now = Date.UTC(2026, 10, 24)
const license: LicensePayload = {
  v: 1,
  lid: '00000000-0000-4000-8000-000000000001',
  customer: 'ACME',
  iat: now / 1000 - 86_400,
  nbf: now / 1000 - 86_400,
  exp: (now + 100 * DAY) / 1000,
  features: ['multi-site'],
  limits: { maxCameras: 10 },
}

describe('entitlement', () => {
  it('is the free tier without a license', () => {
    const e = entitlement(null, now)
    expect(e).toMatchObject({ status: 'unlicensed', features: [], additionsAllowed: true, limits: FREE_TIER })
    expect(refusal(e, 'cameras', 4)).toMatch(/free tier allows 4 cameras/)
    expect(refusal(e, 'cameras', 3)).toBeUndefined()
  })

  it('follows the license while valid, with a warning in its last 30 days', () => {
    expect(entitlement(license, now)).toMatchObject({
      status: 'valid',
      features: ['multi-site'],
      warnings: [],
    })
    expect(entitlement(license, now + 80 * DAY).warnings[0]).toMatch(/expires in 20 day/)
    expect(refusal(entitlement(license, now), 'cameras', 10)).toMatch(/allows 10 cameras/)
    // No limit named: no limit.
    expect(refusal(entitlement(license, now), 'users', 10_000)).toBeUndefined()
  })

  it('keeps everything for 14 days after expiry, then blocks additions and features only', () => {
    const grace = entitlement(license, now + 105 * DAY)
    expect(grace).toMatchObject({ status: 'grace', additionsAllowed: true, features: ['multi-site'] })
    expect(grace.warnings[0]).toMatch(/grace period until/)
    const expired = entitlement(license, now + 115 * DAY)
    expect(expired).toMatchObject({ status: 'expired', additionsAllowed: false, features: [] })
    expect(refusal(expired, 'users', 0)).toMatch(/expired/)
  })
})
