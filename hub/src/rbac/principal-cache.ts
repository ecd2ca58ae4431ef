import type { Principal } from './principal.ts'

/**
 * Principals by user id, so an authenticated request needs no identity queries (issue 17).
 *
 * Correctness comes from invalidation, not from expiry: database triggers announce every change to
 * users, role bindings, roles and cameras' sites (see the principal_changes migration), and the
 * hub feeds each announcement to `invalidate`. `maxAgeMs` only bounds the damage of an
 * announcement lost in a way the hub could not notice.
 *
 * A load races a change when it reads before the change commits and stores after the
 * announcement: `store` therefore takes the generation read by `begin()` before the load, and
 * refuses to store when any invalidation happened since.
 */
export interface PrincipalCacheOptions {
  maxEntries: number
  maxAgeMs: number
  now?: () => number
}

interface Entry {
  principal: Principal
  storedAt: number
}

/** What a change announcement names: one user, one tenant's users, or everyone. */
export type PrincipalChange =
  | { scope: 'user'; tenantId: string; userId: string }
  | { scope: 'tenant'; tenantId: string }
  | { scope: 'all' }

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * Parses a trigger's payload: `<tenant id>:<user id>`, `<tenant id>` or `*`. Anything else (which
 * no trigger sends) is read as "everything changed": dropping the cache is always safe.
 */
export function parsePrincipalChange(payload: string): PrincipalChange {
  const [tenantId, userId, ...rest] = payload.split(':')
  if (rest.length === 0 && tenantId && UUID.test(tenantId)) {
    if (userId === undefined) return { scope: 'tenant', tenantId: tenantId.toLowerCase() }
    if (UUID.test(userId))
      return { scope: 'user', tenantId: tenantId.toLowerCase(), userId: userId.toLowerCase() }
  }
  return { scope: 'all' }
}

export class PrincipalCache {
  private readonly entries = new Map<string, Entry>()
  private generation = 0
  private suspended = false
  private readonly now: () => number

  constructor(private readonly options: PrincipalCacheOptions) {
    this.now = options.now ?? Date.now
  }

  /** The cached principal, if fresh. */
  get(userId: string): Principal | undefined {
    if (this.suspended) return undefined
    const entry = this.entries.get(userId)
    if (!entry) return undefined
    if (this.now() - entry.storedAt > this.options.maxAgeMs) {
      this.entries.delete(userId)
      return undefined
    }
    return entry.principal
  }

  /** The generation to hand to `store` after loading: call it before the load's query. */
  begin(): number {
    return this.generation
  }

  /** Keeps a principal loaded since `begin()` returned `generation`, unless a change came since. */
  store(principal: Principal, generation: number): void {
    if (this.suspended || generation !== this.generation) return
    this.entries.delete(principal.userId)
    this.entries.set(principal.userId, { principal, storedAt: this.now() })
    // Map order is insertion order: the first key is the least recently stored.
    while (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next().value
      if (oldest === undefined) break
      this.entries.delete(oldest)
    }
  }

  invalidate(change: PrincipalChange): void {
    this.generation++
    if (change.scope === 'all') {
      this.entries.clear()
      return
    }
    if (change.scope === 'user') {
      this.entries.delete(change.userId)
      return
    }
    for (const [userId, entry] of this.entries)
      if (entry.principal.tenantId === change.tenantId) this.entries.delete(userId)
  }

  /**
   * While announcements may be missed (the hub's listening connection is down), nothing is served
   * from the cache or kept in it; `resume` starts again from empty.
   */
  suspend(): void {
    this.suspended = true
    this.invalidate({ scope: 'all' })
  }

  resume(): void {
    this.invalidate({ scope: 'all' })
    this.suspended = false
  }

  get size(): number {
    return this.entries.size
  }
}
