import { describe, expect, it } from 'vitest'
import type { Principal } from './principal.ts'
import { PrincipalCache, parsePrincipalChange } from './principal-cache.ts'

const T1 = '11111111-1111-4111-8111-111111111111'
const T2 = '22222222-2222-4222-8222-222222222222'
const U1 = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'
const U2 = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'
const U3 = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc'

const principal = (userId: string, tenantId: string): Principal => ({
  userId,
  tenantId,
  username: userId.slice(0, 4),
  sessionVersion: 0,
  disabled: false,
  isSystemAdmin: false,
  grants: [],
})

function cache(now = { t: 0 }) {
  return new PrincipalCache({ maxEntries: 2, maxAgeMs: 1000, now: () => now.t })
}

describe('parsePrincipalChange', () => {
  it('reads a user, a tenant or everything', () => {
    expect(parsePrincipalChange(`${T1}:${U1}`)).toEqual({ scope: 'user', tenantId: T1, userId: U1 })
    expect(parsePrincipalChange(T1.toUpperCase())).toEqual({ scope: 'tenant', tenantId: T1 })
    expect(parsePrincipalChange('*')).toEqual({ scope: 'all' })
  })

  it('reads anything unexpected as everything (dropping all is always safe)', () => {
    for (const odd of [
      '',
      ':',
      `${T1}:`,
      `${T1}:${U1}:x`,
      'nope',
      `${T1}\u0000`,
      '\ud800',
      `${T1}:${U1.slice(1)}`,
    ])
      expect(parsePrincipalChange(odd)).toEqual({ scope: 'all' })
  })
})

describe('PrincipalCache', () => {
  it('serves what it stored until it ages out', () => {
    const now = { t: 0 }
    const c = cache(now)
    c.store(principal(U1, T1), c.begin())
    expect(c.get(U1)?.userId).toBe(U1)
    now.t = 1000
    expect(c.get(U1)).toBeDefined()
    now.t = 1001
    expect(c.get(U1)).toBeUndefined()
  })

  it('drops one user, one tenant or everyone', () => {
    const c = new PrincipalCache({ maxEntries: 10, maxAgeMs: 1000, now: () => 0 })
    c.store(principal(U1, T1), c.begin())
    c.store(principal(U2, T1), c.begin())
    c.store(principal(U3, T2), c.begin())
    c.invalidate({ scope: 'user', tenantId: T1, userId: U1 })
    expect([c.get(U1), c.get(U2), c.get(U3)].map((p) => p?.userId)).toEqual([undefined, U2, U3])
    c.invalidate({ scope: 'tenant', tenantId: T1 })
    expect([c.get(U2), c.get(U3)].map((p) => p?.userId)).toEqual([undefined, U3])
    c.invalidate({ scope: 'all' })
    expect(c.size).toBe(0)
  })

  it('refuses a load that raced a change', () => {
    const c = cache()
    const generation = c.begin()
    // The load read the old row; meanwhile the change was announced.
    c.invalidate({ scope: 'user', tenantId: T2, userId: U2 })
    c.store(principal(U1, T1), generation)
    expect(c.get(U1)).toBeUndefined()
    c.store(principal(U1, T1), c.begin())
    expect(c.get(U1)).toBeDefined()
  })

  it('keeps at most maxEntries, forgetting the least recently stored', () => {
    const c = cache()
    c.store(principal(U1, T1), c.begin())
    c.store(principal(U2, T1), c.begin())
    c.store(principal(U1, T1), c.begin())
    c.store(principal(U3, T1), c.begin())
    expect([c.get(U1), c.get(U2), c.get(U3)].map((p) => p?.userId)).toEqual([U1, undefined, U3])
  })

  it('serves and keeps nothing while suspended', () => {
    const c = cache()
    c.store(principal(U1, T1), c.begin())
    c.suspend()
    expect(c.get(U1)).toBeUndefined()
    c.store(principal(U2, T1), c.begin())
    c.resume()
    expect(c.size).toBe(0)
    c.store(principal(U2, T1), c.begin())
    expect(c.get(U2)).toBeDefined()
  })
})
