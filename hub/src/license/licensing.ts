import type { KeyObject } from 'node:crypto'
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { Database, Tx } from '../db/database.ts'
import { forbidden, unprocessable } from '../errors.ts'
import {
  extractLicense,
  LicenseError,
  type LicensePayload,
  licensePayloadSchema,
  verifyLicenseSignature,
} from './license-format.ts'
import { type Countable, type Entitlement, entitlement, refusal } from './license-status.ts'

/**
 * Licenses as the hub applies them: installation (checked against trusted keys, time and tenant
 * binding), the entitlement in force for a tenant, and the checks that guard additions and
 * licensed features. Everything runs inside the caller's transaction and RLS scope.
 */
export interface LicenseView {
  tenantId: string
  status: Entitlement['status']
  license: {
    id: string
    customer: string
    issuedAt: string
    notBefore: string
    expiresAt: string
    features: string[]
    limits: LicensePayload['limits']
    tenant: string | null
    installedAt: string
  } | null
  effective: { features: string[]; limits: LicensePayload['limits']; additionsAllowed: boolean }
  graceEndsAt: string | null
  usage: Record<Countable, number>
  warnings: string[]
}

export const licenseLimit = (message: string) => forbidden(message, 'LICENSE_LIMIT')
export const licenseFeature = (message: string) => forbidden(message, 'LICENSE_FEATURE')

interface LicenseRow {
  license_id: string
  customer: string
  issued_at: Date
  not_before: Date
  expires_at: Date
  features: string[]
  limits: Record<string, number>
  bound_tenant: string | null
  installed_at: Date
}

const iso = (d: Date | number) => new Date(d).toISOString()

export class Licensing {
  constructor(private readonly trusted: KeyObject[]) {}

  /**
   * The license clock: now, or the latest time any hub has seen if the system clock went back.
   * Moves the stored time forward as a side effect.
   */
  async now(tx: Tx): Promise<number> {
    const wall = new Date()
    const rows: { max_seen: Date }[] = await tx.execute(
      'update license_clock set max_seen = greatest(max_seen, ?::timestamptz) where id = 1 returning max_seen',
      [wall.toISOString()],
    )
    return Math.max(wall.getTime(), rows[0] ? new Date(rows[0].max_seen).getTime() : 0)
  }

  private async current(tx: Tx, tenantId: string): Promise<LicenseRow | undefined> {
    const rows: LicenseRow[] = await tx.execute(
      'select * from licenses where tenant_id = ? order by installed_at desc, id desc limit 1',
      [tenantId],
    )
    return rows[0]
  }

  private payloadOf(row: LicenseRow | undefined): LicensePayload | null {
    if (!row) return null
    return licensePayloadSchema.parse({
      v: 1,
      lid: row.license_id,
      customer: row.customer,
      iat: Math.floor(new Date(row.issued_at).getTime() / 1000),
      nbf: Math.floor(new Date(row.not_before).getTime() / 1000),
      exp: Math.floor(new Date(row.expires_at).getTime() / 1000),
      features: row.features,
      limits: row.limits,
      ...(row.bound_tenant ? { tenant: row.bound_tenant } : {}),
    })
  }

  async entitlement(tx: Tx, tenantId: string): Promise<Entitlement> {
    return entitlement(this.payloadOf(await this.current(tx, tenantId)), await this.now(tx))
  }

  async usage(tx: Tx, tenantId: string): Promise<Record<Countable, number>> {
    const [row]: { cameras: string; sites: string; users: string; agents: string }[] = await tx.execute(
      `select (select count(*) from cameras where tenant_id = ?) as cameras,
              (select count(*) from sites where tenant_id = ?) as sites,
              (select count(*) from users where tenant_id = ? and not disabled) as users,
              (select count(*) from agents where tenant_id = ? and revoked_at is null) as agents`,
      [tenantId, tenantId, tenantId, tenantId],
    )
    return {
      cameras: Number(row?.cameras ?? 0),
      sites: Number(row?.sites ?? 0),
      users: Number(row?.users ?? 0),
      agents: Number(row?.agents ?? 0),
    }
  }

  async view(tx: Tx, tenantId: string): Promise<LicenseView> {
    const row = await this.current(tx, tenantId)
    const e = entitlement(this.payloadOf(row), await this.now(tx))
    return {
      tenantId,
      status: e.status,
      license: row
        ? {
            id: row.license_id,
            customer: row.customer,
            issuedAt: iso(row.issued_at),
            notBefore: iso(row.not_before),
            expiresAt: iso(row.expires_at),
            features: row.features,
            limits: row.limits,
            tenant: row.bound_tenant,
            installedAt: iso(row.installed_at),
          }
        : null,
      effective: { features: e.features, limits: e.limits, additionsAllowed: e.additionsAllowed },
      graceEndsAt: e.graceEndsAt ? iso(e.graceEndsAt) : null,
      usage: await this.usage(tx, tenantId),
      warnings: e.warnings,
    }
  }

  /** Verifies and installs a license for a tenant; 422 with the reason when it is refused. */
  async install(
    tx: Tx,
    tenant: { id: string; slug: string },
    text: string,
    installedBy: string,
  ): Promise<LicensePayload> {
    let payload: LicensePayload
    try {
      payload = await verifyLicenseSignature(text, this.trusted)
    } catch (err) {
      if (err instanceof LicenseError) throw unprocessable(err.message, 'license_invalid')
      throw err
    }
    const now = await this.now(tx)
    if (payload.nbf * 1000 > now) {
      throw unprocessable(
        `the license is not valid before ${iso(payload.nbf * 1000)}`,
        'license_not_yet_valid',
      )
    }
    if (payload.exp * 1000 <= now) {
      throw unprocessable(`the license expired on ${iso(payload.exp * 1000)}`, 'license_expired')
    }
    if (payload.tenant && payload.tenant !== tenant.slug) {
      throw unprocessable(
        `the license is for tenant "${payload.tenant}", not "${tenant.slug}"`,
        'license_wrong_tenant',
      )
    }
    await tx.execute(
      `insert into licenses (id, tenant_id, license_id, customer, issued_at, not_before, expires_at, features,
         limits, bound_tenant, text, installed_by)
       values (?, ?, ?, ?, ?, ?, ?, ?::text[], ?::jsonb, ?, ?, ?)`,
      [
        randomUUID(),
        tenant.id,
        payload.lid,
        payload.customer,
        iso(payload.iat * 1000),
        iso(payload.nbf * 1000),
        iso(payload.exp * 1000),
        `{${payload.features.join(',')}}`,
        JSON.stringify(payload.limits),
        payload.tenant ?? null,
        extractLicense(text),
        installedBy,
      ],
    )
    return payload
  }

  /**
   * Periodic upkeep: moves the license clock forward even when nobody adds anything (so a clock
   * set back later is noticed), and logs each tenant's license warnings (expiring, grace, expired).
   */
  async tick(db: Database, logger: Logger): Promise<void> {
    const rows: (LicenseRow & { tenant_id: string; slug: string })[] = await db.withSystem(async (tx) => {
      await this.now(tx)
      return tx.execute(
        `select distinct on (l.tenant_id) l.*, t.slug from licenses l join tenants t on t.id = l.tenant_id
          order by l.tenant_id, l.installed_at desc, l.id desc`,
      )
    })
    const now = await db.withSystem((tx) => this.now(tx))
    for (const row of rows) {
      const e = entitlement(this.payloadOf(row), now)
      for (const warning of e.warnings)
        logger.warn({ tenant: row.slug, status: e.status }, `license: ${warning}`)
    }
  }

  /** 403 LICENSE_LIMIT unless `adding` more of `kind` fit. Take the tenant lock first. */
  async assertCanAdd(tx: Tx, tenantId: string, kind: Countable, adding = 1): Promise<void> {
    const e = await this.entitlement(tx, tenantId)
    const reason = refusal(e, kind, (await this.usage(tx, tenantId))[kind], adding)
    if (reason) throw licenseLimit(reason)
  }

  /** 403 LICENSE_FEATURE unless the tenant's license includes the feature now. */
  async assertFeature(tx: Tx, tenantId: string, feature: string): Promise<void> {
    const e = await this.entitlement(tx, tenantId)
    if (!e.features.includes(feature)) {
      throw licenseFeature(
        e.status === 'expired'
          ? `the license has expired: "${feature}" is no longer available`
          : `"${feature}" is not licensed for this tenant`,
      )
    }
  }
}
