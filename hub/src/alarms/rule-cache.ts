import type { AlarmKind, AlarmRule } from './alarm-rule.ts'

/**
 * The enabled alarm rules per tenant and kind, kept in memory, for the occurrences (an object
 * event or a `recording.gap` reaches the engine for every such event of the fleet: one query each
 * would be thousands a second). Filled by each evaluation pass (which reads every enabled rule
 * anyway) and on a miss; forgotten for a tenant when this hub changes one of its rules; and never
 * trusted for longer than `ttlMs`. A rule changed through another hub of the same database is
 * seen at the next pass of this one (VMS_ALARM_EVAL_MS), or after `ttlMs` at most.
 */
export class AlarmRuleCache {
  private readonly byTenant = new Map<string, { at: number; rules: readonly AlarmRule[] }>()
  /** When a pass last read every tenant's rules: a tenant it did not see then had none. */
  private snapshotAt: number | undefined
  /** Tenants invalidated since that pass (the snapshot no longer speaks for them). */
  private readonly forgotten = new Set<string>()
  /** Bumped by each invalidation: a load that started before it must not fill the cache after it. */
  private generation = 0

  constructor(
    private readonly load: (tenantId: string) => Promise<AlarmRule[]>,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The tenant's enabled rules of a kind. */
  async enabled(tenantId: string, kind: AlarmKind): Promise<AlarmRule[]> {
    const cached = this.byTenant.get(tenantId)
    if (cached && this.now() - cached.at < this.ttlMs) return cached.rules.filter((r) => r.kind === kind)
    if (
      !cached &&
      this.snapshotAt !== undefined &&
      this.now() - this.snapshotAt < this.ttlMs &&
      !this.forgotten.has(tenantId)
    )
      return []
    const generation = this.generation
    const at = this.now()
    const rules = await this.load(tenantId)
    if (generation === this.generation) this.byTenant.set(tenantId, { at, rules })
    return rules.filter((r) => r.kind === kind)
  }

  /**
   * Every enabled rule as a pass just read them: replaces what is cached, tenants without rules
   * included. `startedAt`: when the read began (an invalidation since wins).
   */
  fill(rules: readonly AlarmRule[], startedAt: number, generation: number): void {
    if (generation !== this.generation) return
    const grouped = new Map<string, AlarmRule[]>()
    for (const r of rules) grouped.set(r.tenantId, [...(grouped.get(r.tenantId) ?? []), r])
    this.byTenant.clear()
    this.forgotten.clear()
    this.snapshotAt = startedAt
    for (const [tenantId, list] of grouped) this.byTenant.set(tenantId, { at: startedAt, rules: list })
  }

  /** Pass this to `fill` with the rules read after calling it. */
  currentGeneration(): number {
    return this.generation
  }

  /** A rule of the tenant was created, changed or deleted (on this hub). */
  invalidate(tenantId: string): void {
    this.generation++
    this.byTenant.delete(tenantId)
    this.forgotten.add(tenantId)
  }
}
