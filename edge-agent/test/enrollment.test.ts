import { statSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createTenantWithAdmin,
  startTestHub,
  type TestHub,
  USER_PASSWORD,
} from '../../hub/test/helpers/test-hub.ts'
import { credentialsFile, readCredentials } from '../src/credentials.ts'
import { enroll } from '../src/enroll.ts'
import { enrolledAgent, enrollmentCode } from './helpers/agent-harness.ts'

let t: TestHub
const cleanups: (() => Promise<void>)[] = []
beforeAll(async () => {
  t = await startTestHub({ VMS_ENROLL_PER_HOUR_PER_IP: 100 }, { systemLicense: true })
})
afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
  await t?.close()
})

describe('enrollment', () => {
  it('exchanges a one-time code for credentials stored 0600, with the broker pinned', async () => {
    const a = await enrolledAgent(t)
    cleanups.push(() => a.cleanup())
    const c = readCredentials(a.dataDir)
    expect(statSync(credentialsFile(a.dataDir)).mode & 0o777).toBe(0o600)
    expect(c.mqttUrl).toMatch(/^mqtts:\/\/127\.0\.0\.1:\d+$/)
    expect(c.caFingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
    expect(c.secret.length).toBeGreaterThanOrEqual(43)
    const token = await t.adminToken()
    const agent = await t.request('GET', `/api/v1/agents/${c.agentId}`, { token })
    expect(agent.body).toMatchObject({ id: c.agentId, status: 'offline', name: 'test agent' })
    expect(agent.text).not.toContain(c.secret)
    const stored = await t.db.adminQuery('select secret_hash from agents where id = $1', [c.agentId])
    expect(stored.rows[0]?.secret_hash).not.toContain(c.secret)
  })

  it('answers 410 for a used or expired code and 404 for an unknown one', async () => {
    const { code } = await enrollmentCode(t)
    const post = (body: unknown) => t.request('POST', '/api/v1/enroll', { body })
    expect((await post({ code })).status).toBe(201)
    const again = await post({ code })
    expect(again.status).toBe(410)
    expect(again.body.error.code).toBe('code_used')
    // Codes forgive case, spaces and dashes.
    const second = await enrollmentCode(t)
    await t.db.adminQuery(
      `update agent_enrollments set expires_at = now() - interval '1 second' where used_at is null`,
    )
    const expired = await post({ code: second.code.toLowerCase().replace(/-/g, ' ') })
    expect(expired.status).toBe(410)
    expect(expired.body.error.code).toBe('code_expired')
    expect((await post({ code: 'AAAA-BBBB-CCCC-DDDD' })).status).toBe(404)
    expect((await post({ code: 'x' })).status).toBe(400)
    const used = await t.request('GET', '/api/v1/audit?action=agent.enroll', { token: await t.adminToken() })
    expect(used.body.total).toBeGreaterThanOrEqual(2)
  })

  it('needs agent.manage on the site, and hides other tenants’ sites', async () => {
    const acme = await createTenantWithAdmin(t, 'acme')
    const site = await t.request('POST', '/api/v1/sites', { token: acme.token, body: { name: 'Acme HQ' } })
    const user = await t.request('POST', '/api/v1/users', {
      token: acme.token,
      body: { username: 'watcher', password: USER_PASSWORD },
    })
    await t.request('POST', `/api/v1/users/${user.body.id}/role-bindings`, {
      token: acme.token,
      body: { role: 'viewer', scope: { type: 'tenant' } },
    })
    const viewer = (await t.login('acme', 'watcher', USER_PASSWORD)).accessToken
    expect(
      (await t.request('POST', `/api/v1/sites/${site.body.id}/enrollments`, { token: viewer })).status,
    ).toBe(403)
    const { siteId } = await enrollmentCode(t)
    expect(
      (await t.request('POST', `/api/v1/sites/${siteId}/enrollments`, { token: acme.token })).status,
    ).toBe(404)
    const ok = await t.request('POST', `/api/v1/sites/${site.body.id}/enrollments`, { token: acme.token })
    expect(ok.status).toBe(201)
    expect(ok.body.code).toMatch(/^[A-Z2-9]{4}(-[A-Z2-9]{4}){3}$/)
  })

  it('counts agents against the license', async () => {
    const fresh = await startTestHub()
    cleanups.push(() => fresh.close())
    // The free tier allows one agent.
    const first = await enrollmentCode(fresh)
    expect((await fresh.request('POST', '/api/v1/enroll', { body: { code: first.code } })).status).toBe(201)
    const second = await enrollmentCode(fresh)
    const refused = await fresh.request('POST', '/api/v1/enroll', { body: { code: second.code } })
    expect(refused.status).toBe(403)
    expect(refused.body.error.code).toBe('LICENSE_LIMIT')
    const license = await fresh.request('GET', '/api/v1/license', { token: second.token })
    expect(license.body.usage.agents).toBe(1)
  })

  it('refuses to overwrite an enrolled agent unless forced', async () => {
    const a = await enrolledAgent(t)
    cleanups.push(() => a.cleanup())
    const { code } = await enrollmentCode(t)
    await expect(enroll({ hubUrl: t.url, code, dataDir: a.dataDir })).rejects.toThrow(/already holds/)
    await expect(
      enroll({ hubUrl: 'http://127.0.0.1:9', code, dataDir: path.join(a.dataDir, 'x') }),
    ).rejects.toThrow(/cannot reach/)
  })
})
