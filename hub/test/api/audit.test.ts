import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DurableAuditLog } from '../../src/audit/durable-audit-log.ts'
import { AuditPartitions } from '../../src/audit/partitions.ts'
import { pruneAudit } from '../../src/audit/retention.ts'
import { AuditSpool } from '../../src/audit/spool.ts'
import { runAudit } from '../../src/cli/audit.ts'
import { csvCell } from '../../src/http/routes/audit.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'
import { createTestDatabase } from '../helpers/test-database.ts'
import {
  ADMIN_PASSWORD,
  createTenantWithAdmin,
  startTestHub,
  type TestHub,
  USER_PASSWORD,
} from '../helpers/test-hub.ts'

const cleanups: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
})

describe('the audit trail', () => {
  let t: TestHub
  let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
  let sys: string

  beforeAll(async () => {
    t = await startTestHub()
    cleanups.push(() => t.close())
    sys = await t.adminToken()
    acme = await createTenantWithAdmin(t, 'acme')
    await t.request('POST', '/api/v1/auth/login', {
      body: { tenant: 'acme', username: 'acme-admin', password: 'wrong-password!' },
    })
    await t.request('POST', '/api/v1/sites', { token: acme.token, body: { name: 'Main Street' } })
  })

  it('records privileged actions and logins, newest first, scoped to the tenant', async () => {
    const res = await t.request('GET', '/api/v1/audit', { token: acme.token })
    expect(res.status).toBe(200)
    const actions = res.body.items.map((e: any) => e.action)
    expect(actions.slice(0, 3)).toEqual(['site.create', 'auth.login.failure', 'auth.login.success'])
    expect(res.body.items.every((e: any) => e.tenantId === acme.tenantId)).toBe(true)
    const failure = res.body.items.find((e: any) => e.action === 'auth.login.failure')
    expect(failure).toMatchObject({
      outcome: 'failure',
      reason: 'bad_password',
      actor: { type: 'user', name: 'acme-admin' },
      clientIp: '127.0.0.1',
    })
    const ids = res.body.items.map((e: any) => Number(e.id))
    expect([...ids].sort((a, b) => b - a)).toEqual(ids)
    const seqs = res.body.items.map((e: any) => e.seq)
    expect(seqs).toEqual([...seqs].sort((a: number, b: number) => b - a))
    expect(JSON.stringify(res.body)).not.toContain(USER_PASSWORD)
    // The system tenant's chain holds the tenant's creation by the system admin.
    const all = await t.request('GET', '/api/v1/audit?action=tenant.create', { token: sys })
    expect(all.body.items.map((e: any) => e.details.slug)).toContain('acme')
  })

  it('filters by action (exact or prefix), outcome, actor, target and time, and pages', async () => {
    const q = async (query: string) =>
      (await t.request('GET', `/api/v1/audit?${query}`, { token: acme.token })).body
    expect((await q('action=auth.*')).items.every((e: any) => e.action.startsWith('auth.'))).toBe(true)
    expect((await q('action=site.create')).total).toBe(1)
    expect((await q('outcome=failure')).items.map((e: any) => e.action)).toEqual(['auth.login.failure'])
    expect((await q(`actor=${acme.adminId}`)).items.length).toBeGreaterThan(0)
    expect((await q(`target=${acme.adminId}`)).items.map((e: any) => e.action)).toContain(
      'auth.login.success',
    )
    expect((await q('from=2000-01-01T00:00:00Z&to=2000-02-01T00:00:00Z')).total).toBe(0)
    const paged = await q('limit=1&offset=1')
    expect(paged.items).toHaveLength(1)
    expect(paged.total).toBeGreaterThan(2)
    expect((await t.request('GET', '/api/v1/audit?from=yesterday', { token: acme.token })).status).toBe(400)
  })

  it('is readable only with audit.read', async () => {
    await t.request('POST', '/api/v1/users', {
      token: acme.token,
      body: { username: 'clerk', password: USER_PASSWORD },
    })
    const clerk = (await t.login('acme', 'clerk', USER_PASSWORD)).accessToken
    expect((await t.request('GET', '/api/v1/audit', { token: clerk })).status).toBe(403)
    expect((await t.request('GET', '/api/v1/audit/verify', { token: clerk })).status).toBe(403)
    const u = await t.request('POST', '/api/v1/users', {
      token: acme.token,
      body: { username: 'inspector', password: USER_PASSWORD },
    })
    await t.request('POST', `/api/v1/users/${u.body.id}/role-bindings`, {
      token: acme.token,
      body: { role: 'auditor', scope: { type: 'tenant' } },
    })
    const auditor = (await t.login('acme', 'inspector', USER_PASSWORD)).accessToken
    expect((await t.request('GET', '/api/v1/audit', { token: auditor })).status).toBe(200)
  })

  it('exports CSV', async () => {
    const res = await t.request('GET', '/api/v1/audit?action=site.*', {
      token: acme.token,
      headers: { accept: 'text/csv' },
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/)
    const lines = res.text.trim().split('\r\n')
    expect(lines[0]).toBe(
      'id,time,tenant_id,seq,actor_type,actor_id,actor_name,action,target_type,target_id,outcome,reason,client_ip,user_agent,details,prev_hash,hash',
    )
    expect(lines.slice(1).every((l) => l.includes(',site.create,'))).toBe(true)
    expect(lines).toHaveLength(2)
    expect(csvCell('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`)
    expect(csvCell('a,b')).toBe('"a,b"')
    expect(csvCell(null)).toBe('')
  })

  it('verifies, and finds a tampered record', async () => {
    const ok = await t.request('GET', '/api/v1/audit/verify', { token: sys })
    expect(ok.body).toMatchObject({ ok: true })
    expect(ok.body.checked).toBeGreaterThan(5)
    const own = await t.request('GET', '/api/v1/audit/verify', { token: acme.token })
    expect(own.body.ok).toBe(true)
    expect(own.body.checked).toBeLessThan(ok.body.checked)

    const [victim] = (
      await t.db.adminQuery(`select id from audit_events where action = 'site.create' and tenant_id = $1`, [
        acme.tenantId,
      ])
    ).rows as { id: string }[]
    if (!victim) throw new Error('no site.create record')
    await t.db.withAdminClient(async (c) => {
      // Only a superuser can get past the triggers, by switching them off for the session.
      await c.query("set session_replication_role = 'replica'")
      await c.query(`update audit_events set details = '{"name":"Elm Street"}' where id = $1`, [victim.id])
      await c.query("set session_replication_role = 'origin'")
    })
    const bad = await t.request('GET', '/api/v1/audit/verify', { token: acme.token })
    expect(bad.body).toMatchObject({ ok: false, firstBadId: String(victim.id) })
    expect(bad.body.reason).toMatch(/altered/)
    // The operator's command says the same (exit code 1 on the command line).
    const cli = await runAudit('verify', {
      VMS_DATABASE_URL: t.db.url,
      VMS_MASTER_KEY: t.config.VMS_MASTER_KEY,
      VMS_DATA_DIR: t.dataDir,
      VMS_LOG_LEVEL: 'error',
    })
    expect(cli).toMatchObject({ ok: false, firstBadId: String(victim.id) })
  })

  it('refuses UPDATE, DELETE and TRUNCATE, even to the table owner', async () => {
    for (const sql of [
      "update audit_events set action = 'x'",
      'delete from audit_events',
      'truncate audit_events',
      'delete from audit_checkpoints',
    ]) {
      await expect(t.db.adminQuery(sql), sql).rejects.toThrow(/append-only/)
    }
    await t.db.withAdminClient(async (c) => {
      await c.query('begin')
      await c.query('set local role vms_app')
      await expect(c.query('insert into audit_events default values')).rejects.toMatchObject({
        code: '42501',
      })
      await c.query('rollback')
    })
  })
})

describe('audit chains under load', () => {
  it('never fork with several writers on one chain', async () => {
    const db = await createTestDatabase()
    const a = await startTestHub({}, { db })
    const b = await startTestHub({ VMS_MASTER_KEY: a.config.VMS_MASTER_KEY }, { db })
    cleanups.push(async () => {
      await a.close()
      await b.close()
      await db.drop()
    })
    const tenantId = a.hub.bootstrap.systemTenantId
    const writes = []
    for (let i = 0; i < 60; i++) {
      for (const hub of [a, b]) {
        writes.push(
          hub.hub.context.audit.record({
            action: 'test.concurrent',
            outcome: 'success',
            tenantId,
            actor: { type: 'system' },
            details: { i, hub: hub === a ? 'a' : 'b' },
          }),
        )
      }
    }
    await Promise.all(writes)
    const rows = await db.adminQuery(`select seq from audit_events where tenant_id = $1 order by seq`, [
      tenantId,
    ])
    const seqs = rows.rows.map((r) => Number(r.seq))
    expect(seqs).toEqual(seqs.map((_, i) => i + 1))
    const verdict = await a.request('GET', '/api/v1/audit/verify', { token: await a.adminToken() })
    expect(verdict.body.ok).toBe(true)
  })
})

describe('disk failover', () => {
  it('spools while the database is cut off, and replays in order after a restart', async () => {
    const db = await createTestDatabase()
    const target = new URL(db.url)
    const proxy = await startTcpProxy(target.hostname, Number(target.port))
    const viaProxy = new URL(db.url)
    viaProxy.port = String(proxy.port)
    const metricsToken = 'metrics-token-for-failover'
    const t = await startTestHub(
      {
        VMS_DATABASE_URL: viaProxy.toString(),
        VMS_AUDIT_DB_TIMEOUT_MS: 1000,
        VMS_METRICS_TOKEN: metricsToken,
      },
      { db },
    )
    cleanups.push(async () => {
      await proxy.close()
      await db.drop()
    })
    const tenantId = t.hub.bootstrap.systemTenantId
    const record = (i: number) =>
      t.hub.context.audit.record({
        action: 'test.failover',
        outcome: 'success',
        tenantId,
        actor: { type: 'system', name: 'test' },
        details: { i },
      })
    // A stream of records with the database cut in the middle of it.
    const acknowledged: Promise<void>[] = []
    for (let i = 0; i < 20; i++) acknowledged.push(record(i))
    await Promise.all(acknowledged)
    proxy.cut()
    for (let i = 20; i < 60; i++) acknowledged.push(record(i))
    await Promise.all(acknowledged) // every record is acknowledged: committed or fsynced
    expect(t.hub.context.audit.spooling).toBe(true)
    const spoolDir = path.join(t.dataDir, 'audit-spool')
    expect(readdirSync(spoolDir).length).toBeGreaterThan(0)
    const spooled = readdirSync(spoolDir).flatMap((f) => AuditSpool.read(path.join(spoolDir, f)).records)
    expect(spooled.length).toBeGreaterThanOrEqual(40)
    // Spooling shows: in readiness detail and as a gauge to alarm on.
    const ready = await t.request('GET', '/readyz')
    expect(ready.body.audit).toEqual({ spooled: spooled.length, quarantined: 0 })
    const metrics = await t.request('GET', '/metrics', { token: metricsToken })
    expect(metrics.text).toMatch(new RegExp(`^vms_audit_spooled_records\\{[^}]*\\} ${spooled.length}$`, 'm'))

    // Restart the hub while records are still spooled; the database comes back first.
    await t.hub.close()
    proxy.restore()
    await t.restart()
    await expect.poll(() => t.hub.context.audit.spooling, { timeout: 20_000 }).toBe(false)
    expect(readdirSync(spoolDir)).toEqual([])
    expect((await t.request('GET', '/readyz')).body.audit).toEqual({ spooled: 0, quarantined: 0 })
    const rows = await db.adminQuery(
      `select seq, details from audit_events where action = 'test.failover' order by seq`,
    )
    expect(rows.rows.map((r) => r.details.i)).toEqual(Array.from({ length: 60 }, (_, i) => i))
    const verdict = await t.request('GET', '/api/v1/audit/verify', { token: await t.adminToken() })
    expect(verdict.body).toMatchObject({ ok: true })
    await t.close()
  })
})

describe('retention', () => {
  it('drops whole old partitions, anchored by a signed checkpoint, and audits it', async () => {
    const t = await startTestHub()
    cleanups.push(() => t.close())
    const { audit, db, keys, auditPartitions, logger } = t.hub.context
    const tenantId = t.hub.bootstrap.systemTenantId
    const eightYearsAgo = new Date(Date.now() - 8 * 365 * 86_400_000)
    for (let i = 0; i < 5; i++) {
      await audit.record({
        action: 'test.ancient',
        outcome: 'success',
        tenantId,
        actor: { type: 'system' },
        time: new Date(eightYearsAgo.getTime() + i),
      })
    }
    await audit.record({ action: 'test.recent', outcome: 'success', tenantId, actor: { type: 'system' } })
    const before = await auditPartitions.list()
    expect(before.length).toBeGreaterThanOrEqual(2)
    const result = await pruneAudit(
      { db, partitions: auditPartitions, keys, audit, logger },
      new Date(),
      2557,
    )
    expect(result.dropped).toHaveLength(1)
    expect(result.dropped[0]).toMatchObject({ events: 5, tenants: 1 })
    const left = await t.db.adminQuery(
      `select count(*)::int as n from audit_events where action = 'test.ancient'`,
    )
    expect(left.rows[0]?.n).toBe(0)
    const anchors = await t.db.adminQuery(`select kind from audit_checkpoints where kind = 'prune'`)
    expect(anchors.rows).toHaveLength(1)
    const token = await t.adminToken()
    const pruned = await t.request('GET', '/api/v1/audit?action=audit.prune', { token })
    expect(pruned.body.items[0].details).toMatchObject({ events: 5, retentionDays: 2557 })
    const verdict = await t.request('GET', '/api/v1/audit/verify', { token })
    expect(verdict.body).toMatchObject({ ok: true })
  })

  it('finds records cut off the end of a chain (signed checkpoint beyond the tail)', async () => {
    const t = await startTestHub()
    cleanups.push(() => t.close())
    const token = await t.adminToken()
    const tenantId = t.hub.bootstrap.systemTenantId
    for (let i = 0; i < 3; i++) {
      await t.hub.context.audit.record({
        action: 'test.tail',
        outcome: 'success',
        tenantId,
        actor: { type: 'system' },
      })
    }
    const { takeCheckpoints } = await import('../../src/audit/checkpoints.ts')
    await takeCheckpoints(t.hub.context.db, t.hub.context.keys)
    await t.db.withAdminClient(async (c) => {
      await c.query("set session_replication_role = 'replica'")
      const last = await c.query(`select max(seq) as seq from audit_events where tenant_id = $1`, [tenantId])
      await c.query('delete from audit_events where tenant_id = $1 and seq = $2', [
        tenantId,
        last.rows[0].seq,
      ])
      // A careful forger also rolls the head back; the signed checkpoint still knows better.
      await c.query(
        `update audit_chain_heads set seq = seq - 1,
           hash = (select hash from audit_events where tenant_id = $1 and seq = audit_chain_heads.seq - 1)
         where tenant_id = $1`,
        [tenantId],
      )
      await c.query("set session_replication_role = 'origin'")
    })
    const verdict = await t.request('GET', '/api/v1/audit/verify', { token })
    expect(verdict.body.ok).toBe(false)
    expect(verdict.body.reason).toMatch(/checkpoint/)
  })
})

describe('DurableAuditLog on its own', () => {
  it('starts in spool mode when records wait on disk, and keeps acknowledging', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'audit-spool-'))
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }))
    const db = await createTestDatabase()
    const t = await startTestHub({}, { db })
    cleanups.push(async () => {
      await t.close()
      await db.drop()
    })
    const spool = new AuditSpool(dir)
    spool.append([
      {
        eventId: '00000000-0000-4000-8000-0000000000aa',
        tenantId: t.hub.bootstrap.systemTenantId,
        time: new Date().toISOString(),
        actorType: 'system',
        actorId: null,
        actorName: 'left-over',
        action: 'test.leftover',
        targetType: null,
        targetId: null,
        outcome: 'success',
        reason: null,
        clientIp: null,
        userAgent: null,
        details: {},
      },
    ])
    spool.close()
    const log = new DurableAuditLog({
      db: t.hub.context.db,
      spool: new AuditSpool(dir),
      partitions: new AuditPartitions(t.hub.context.db),
      logger: pino({ level: 'silent' }),
      systemTenantId: t.hub.bootstrap.systemTenantId,
      dbTimeoutMs: 2000,
      metrics: { written: () => {}, spooled: () => {}, spooling: () => {} },
    })
    expect(log.spooling).toBe(true)
    await log.record({ action: 'test.after', outcome: 'success', actor: { type: 'system' } })
    expect(await log.drain()).toBe(true)
    await log.close()
    const rows = await db.adminQuery(
      `select action from audit_events where action in ('test.leftover', 'test.after') order by seq`,
    )
    expect(rows.rows.map((r) => r.action)).toEqual(['test.leftover', 'test.after'])
    expect(existsSync(path.join(dir, 'spool.jsonl'))).toBe(false)
    expect(randomBytes).toBeDefined()
    expect(ADMIN_PASSWORD).toBeDefined()
  })
})
