import { randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { DurableAuditLog } from '../../src/audit/durable-audit-log.ts'
import { AuditPartitions } from '../../src/audit/partitions.ts'
import { AuditSpool, type SpooledRecord } from '../../src/audit/spool.ts'
import { runAudit } from '../../src/cli/audit.ts'
import type { Database } from '../../src/db/database.ts'
import { createTestDatabase } from '../helpers/test-database.ts'
import { createTenantWithAdmin, startTestHub, type TestHub, USER_PASSWORD } from '../helpers/test-hub.ts'

/**
 * Issue 10, item 1: text a client sends must never stop the database audit trail. Runs against the
 * machine's PostgreSQL with VMS_TEST_DATABASE_URL, else PGlite (which refuses the same JSON).
 */
const cleanups: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
})

const METRICS_TOKEN = 'metrics-token-for-audit-tests'

function spoolFiles(t: TestHub): string[] {
  const dir = path.join(t.dataDir, 'audit-spool')
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.jsonl')) : []
}

async function metric(t: TestHub, name: string): Promise<number | undefined> {
  const res = await t.request('GET', '/metrics', { token: METRICS_TOKEN })
  const line = res.text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
  return line === undefined ? undefined : Number(line.split(' ').at(-1))
}

describe('audit poisoning', () => {
  it('the anonymous login attack (lone surrogate as tenant) is audited in the database, and so is everything after it', async () => {
    const t = await startTestHub({ VMS_METRICS_TOKEN: METRICS_TOKEN })
    cleanups.push(() => t.close())
    const acme = await createTenantWithAdmin(t, 'acme')
    const systemTenantId = t.hub.bootstrap.systemTenantId

    // The exact request of the issue: raw JSON text with the \ud800 escape.
    const attack = await t.request('POST', '/api/v1/auth/login', {
      rawBody: '{"tenant":"\\ud800","username":"x","password":"x"}',
    })
    expect(attack.status).toBe(401)
    expect(t.hub.context.audit.spooling).toBe(false)
    expect(spoolFiles(t)).toEqual([])

    // Later records, of other tenants, reach the database too.
    const later = await t.request('POST', '/api/v1/auth/login', {
      body: { tenant: 'acme', username: 'nobody', password: 'not-the-password' },
    })
    expect(later.status).toBe(401)
    const site = await t.request('POST', '/api/v1/sites', {
      token: acme.token,
      body: { name: 'After the attack' },
    })
    expect(site.status).toBe(201)
    expect(t.hub.context.audit.spooling).toBe(false)
    expect(spoolFiles(t)).toEqual([])

    const failures = await t.db.adminQuery(
      `select tenant_id, details from audit_events where action = 'auth.login.failure' order by id`,
    )
    expect(failures.rows).toEqual(
      expect.arrayContaining([
        { tenant_id: systemTenantId, details: { tenant: '\uFFFD' } },
        { tenant_id: acme.tenantId, details: { tenant: 'acme' } },
      ]),
    )
    const created = await t.db.adminQuery(
      `select details from audit_events where action = 'site.create' and tenant_id = $1`,
      [acme.tenantId],
    )
    expect(created.rows.map((r) => r.details.name)).toContain('After the attack')

    const verdict = await t.request('GET', '/api/v1/audit/verify', { token: await t.adminToken() })
    expect(verdict.body).toMatchObject({ ok: true, quarantined: 0 })
    expect(await metric(t, 'vms_audit_spooled_records')).toBe(0)
  })

  it('refuses a site named with a lone surrogate (400), and audits control characters cleaned', async () => {
    const t = await startTestHub()
    cleanups.push(() => t.close())
    const acme = await createTenantWithAdmin(t, 'acme')
    const surrogate = await t.request('POST', '/api/v1/sites', {
      token: acme.token,
      rawBody: '{"name":"Main \\udc00 Street"}',
    })
    expect(surrogate.status).toBe(400)
    expect(surrogate.body.error.code).toBe('invalid_characters')
    const inKey = await t.request('POST', '/api/v1/sites', {
      token: acme.token,
      rawBody: '{"name":"ok","\\ud83d":1}',
    })
    expect(inKey.status).toBe(400)
    expect(inKey.body.error.code).toBe('invalid_characters')

    const controls = await t.request('POST', '/api/v1/sites', {
      token: acme.token,
      rawBody: '{"name":"Back\\u0001\\u001b[31mOffice\\u009b"}',
    })
    expect(controls.status).toBe(201)
    expect(t.hub.context.audit.spooling).toBe(false)
    const rows = await t.db.adminQuery(
      `select details from audit_events where action = 'site.create' and tenant_id = $1`,
      [acme.tenantId],
    )
    expect(rows.rows.map((r) => r.details.name)).toContain('Back[31mOffice')
    expect(spoolFiles(t)).toEqual([])
  })

  it('replays a poisoned spool left by an earlier version: good records land, bad ones are quarantined, across restarts', async () => {
    const t = await startTestHub({ VMS_METRICS_TOKEN: METRICS_TOKEN })
    cleanups.push(() => t.close())
    const acme = await createTenantWithAdmin(t, 'acme')
    const viewer = await t.request('POST', '/api/v1/users', {
      token: acme.token,
      body: { username: 'acme-viewer', password: USER_PASSWORD },
    })
    expect(viewer.status).toBe(201)
    const systemTenantId = t.hub.bootstrap.systemTenantId
    await t.hub.close()

    // What the previous version wrote: the lone surrogate and the NUL escape as they came.
    const rec = (tenantId: string, action: string, details: Record<string, unknown>): SpooledRecord => ({
      eventId: randomUUID(),
      tenantId,
      time: new Date().toISOString(),
      actorType: 'user',
      actorId: null,
      actorName: 'x',
      action,
      targetType: 'user',
      targetId: null,
      outcome: 'failure',
      reason: 'unknown_tenant',
      clientIp: '198.51.100.7',
      userAgent: null,
      details,
    })
    const records = [
      rec(systemTenantId, 'test.before', { n: 1 }),
      rec(systemTenantId, 'auth.login.failure', { tenant: '\ud800' }),
      rec(acme.tenantId, 'test.poison.nul', { note: 'a\u0000b' }),
      rec(acme.tenantId, 'test.after', { n: 2 }),
    ]
    const spool = new AuditSpool(path.join(t.dataDir, 'audit-spool'))
    spool.append(records)
    spool.close()

    await t.restart()
    expect(await t.hub.context.audit.drain(30_000)).toBe(true)
    expect(spoolFiles(t)).toEqual([])
    const landed = await t.db.adminQuery(
      'select action from audit_events where event_id = any($1::uuid[]) order by id',
      [records.map((r) => r.eventId)],
    )
    expect(landed.rows.map((r) => r.action)).toEqual(['test.before', 'test.after'])

    const sys = await t.adminToken()
    const all = await t.request('GET', '/api/v1/audit/quarantine', { token: sys })
    expect(all.status).toBe(200)
    expect(all.body.total).toBe(2)
    expect(all.body.items.map((i: { eventId: string }) => i.eventId).sort()).toEqual(
      [records[1]?.eventId, records[2]?.eventId].sort(),
    )
    const bad = all.body.items.find((i: { eventId: string }) => i.eventId === records[1]?.eventId)
    // Shown cleaned; the exact stored JSON is kept as evidence.
    expect(bad.record.details).toEqual({ tenant: '\uFFFD' })
    expect(bad.raw).toContain('\\ud800')
    expect(typeof bad.error).toBe('string')

    // Auditors of a tenant see their tenant's quarantined records only; others none at all.
    const acmeToken = (await t.login('acme', 'acme-admin', USER_PASSWORD)).accessToken
    const mine = await t.request('GET', '/api/v1/audit/quarantine', { token: acmeToken })
    expect(mine.body.items.map((i: { eventId: string }) => i.eventId)).toEqual([records[2]?.eventId])
    const viewerToken = (await t.login('acme', 'acme-viewer', USER_PASSWORD)).accessToken
    expect((await t.request('GET', '/api/v1/audit/quarantine', { token: viewerToken })).status).toBe(403)
    expect((await t.request('GET', '/api/v1/audit/quarantine')).status).toBe(401)

    const verdict = await t.request('GET', '/api/v1/audit/verify', { token: sys })
    expect(verdict.body).toMatchObject({ ok: true, quarantined: 2 })
    // The operator's command says the same.
    const cli = await runAudit('verify', {
      VMS_DATABASE_URL: t.db.url,
      VMS_MASTER_KEY: t.config.VMS_MASTER_KEY,
      VMS_DATA_DIR: t.dataDir,
      VMS_LOG_LEVEL: 'error',
    })
    expect(cli).toMatchObject({ ok: true, quarantined: 2 })
    const ready = await t.request('GET', '/readyz')
    expect(ready.status).toBe(200)
    expect(ready.body).toMatchObject({ status: 'ready', checks: { database: 'ok' } })
    expect(ready.body.audit).toEqual({ spooled: 0, quarantined: 2 })
    expect(await metric(t, 'vms_audit_quarantined_records')).toBe(2)
    expect(await metric(t, 'vms_audit_quarantined_records_total')).toBe(2)

    // The quarantine survives a restart, and nothing is quarantined twice.
    await t.restart()
    expect(await t.hub.context.audit.drain(30_000)).toBe(true)
    const again = await t.request('GET', '/api/v1/audit/quarantine', { token: await t.adminToken() })
    expect(again.body.total).toBe(2)
    expect((await t.request('GET', '/readyz')).body.audit).toEqual({ spooled: 0, quarantined: 2 })
    expect(await metric(t, 'vms_audit_quarantined_records')).toBe(2)
  })
})

describe('DurableAuditLog with a record the database will not take', () => {
  it('sets the record aside after repeated failures and writes the ones behind it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'audit-quarantine-'))
    const db = await createTestDatabase()
    const t = await startTestHub({}, { db })
    cleanups.push(async () => {
      await t.close()
      await db.drop()
      rmSync(dir, { recursive: true, force: true })
    })
    const real = t.hub.context.db
    const unwritable = randomUUID()
    // A test double: every statement that carries the unwritable record's id fails, with an error
    // that names no SQLSTATE (so only repetition, with the database answering, convicts it).
    const wrapTx = (tx: object) =>
      new Proxy(tx, {
        get(target, prop) {
          const value = Reflect.get(target, prop)
          if (prop === 'execute') {
            return (sql: string, params?: unknown[]) => {
              if (params?.includes(unwritable)) return Promise.reject(new Error('the storage engine refuses'))
              return (value as (s: string, p?: unknown[]) => Promise<unknown>).call(target, sql, params)
            }
          }
          return typeof value === 'function' ? value.bind(target) : value
        },
      })
    const double = new Proxy(real, {
      get(target, prop) {
        if (prop === 'withSystem')
          return <T>(work: (tx: never) => Promise<T>) => target.withSystem((tx) => work(wrapTx(tx) as never))
        const value = Reflect.get(target, prop)
        return typeof value === 'function' ? value.bind(target) : value
      },
    }) as Database
    const counts = { written: 0, spooled: 0, quarantined: 0 }
    const log = new DurableAuditLog({
      db: double,
      spool: new AuditSpool(path.join(dir, 'audit-spool')),
      partitions: new AuditPartitions(real),
      logger: pino({ level: 'silent' }),
      systemTenantId: t.hub.bootstrap.systemTenantId,
      dbTimeoutMs: 5000,
      metrics: {
        written: (n) => (counts.written += n),
        spooled: (n) => (counts.spooled += n),
        spooling: () => {},
        quarantined: (n) => (counts.quarantined += n),
      },
    })
    const event = (action: string, eventId?: string) =>
      log.record({ action, outcome: 'success', actor: { type: 'system' }, ...(eventId ? { eventId } : {}) })
    await Promise.all([event('test.a'), event('test.x', unwritable), event('test.b'), event('test.c')])
    expect(await log.drain(30_000)).toBe(true)
    expect(log.spooling).toBe(false)
    expect(log.quarantine.count()).toBe(1)
    expect(log.quarantine.list().map((q) => q.record.eventId)).toEqual([unwritable])
    expect(counts.quarantined).toBe(1)
    await log.close()
    const rows = await db.adminQuery(
      `select action from audit_events where action in ('test.a', 'test.x', 'test.b', 'test.c') order by seq`,
    )
    expect(rows.rows.map((r) => r.action)).toEqual(['test.a', 'test.b', 'test.c'])
  })
})
