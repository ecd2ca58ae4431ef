import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runLicense, UsageError } from '../../src/cli/license.ts'
import { issueTestLicense } from '../helpers/licenses.ts'
import { startTestHub, type TestHub, USER_PASSWORD } from '../helpers/test-hub.ts'

const DAY = 86_400
const text = { 'content-type': 'text/plain' }
const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
})

describe('licensing', () => {
  let t: TestHub
  let token: string
  let siteId: string

  beforeAll(async () => {
    t = await startTestHub()
    cleanups.push(() => t.close())
    token = await t.adminToken()
  })

  const install = (license: string) =>
    t.request('PUT', '/api/v1/license', { token, rawBody: license, headers: text })

  it('runs the free tier without a license: 1 site, 4 cameras, 5 users, no features', async () => {
    const status = await t.request('GET', '/api/v1/license', { token })
    expect(status.body).toMatchObject({
      status: 'unlicensed',
      license: null,
      effective: { features: [], limits: { maxCameras: 4, maxAgents: 1, maxSites: 1, maxUsers: 5 } },
      usage: { cameras: 0, sites: 0, users: 1, agents: 0 },
    })
    siteId = (await t.request('POST', '/api/v1/sites', { token, body: { name: 'Store 1' } })).body.id
    for (let i = 1; i <= 4; i++) {
      expect(
        (await t.request('POST', '/api/v1/cameras', { token, body: { name: `Cam ${i}`, siteId } })).status,
      ).toBe(201)
    }
    const fifth = await t.request('POST', '/api/v1/cameras', { token, body: { name: 'Cam 5', siteId } })
    expect(fifth.status).toBe(403)
    expect(fifth.body.error.code).toBe('LICENSE_LIMIT')
    expect(fifth.body.error.message).toMatch(/free tier allows 4 cameras/)
    const second = await t.request('POST', '/api/v1/sites', { token, body: { name: 'Store 2' } })
    expect(second.status).toBe(403)
    expect(second.body.error.code).toBe('LICENSE_FEATURE')
    for (let i = 2; i <= 5; i++) {
      const u = await t.request('POST', '/api/v1/users', {
        token,
        body: { username: `u${i}`, password: USER_PASSWORD },
      })
      expect(u.status).toBe(201)
    }
    const sixth = await t.request('POST', '/api/v1/users', {
      token,
      body: { username: 'u6', password: USER_PASSWORD },
    })
    expect(sixth.body.error.code).toBe('LICENSE_LIMIT')
    // A disabled user takes no seat; re-enabling needs one.
    const disabled = await t.request('POST', '/api/v1/users', {
      token,
      body: { username: 'dormant', password: USER_PASSWORD, disabled: true },
    })
    expect(disabled.status).toBe(201)
    const wake = await t.request('PATCH', `/api/v1/users/${disabled.body.id}`, {
      token,
      body: { disabled: false },
    })
    expect(wake.body.error.code).toBe('LICENSE_LIMIT')
  })

  it('refuses forged, altered, not-yet-valid, expired, foreign-key and other-tenant licenses with 422', async () => {
    const now = Math.floor(Date.now() / 1000)
    const stranger = generateKeyPairSync('ed25519').privateKey
    const good = await issueTestLicense()
    const [h, p, s] = good.split('.')
    const payload = JSON.parse(Buffer.from(p as string, 'base64url').toString())
    const altered = `${h}.${Buffer.from(JSON.stringify({ ...payload, limits: { maxCameras: 100000 } })).toString('base64url')}.${s}`
    const forgedKid = `${h}.${p}.${Buffer.from('x'.repeat(64)).toString('base64url')}`
    const cases: [string, string, RegExp][] = [
      ['foreign key', await issueTestLicense({}, stranger), /not signed by a trusted vendor key/],
      ['altered', altered, /altered or forged/],
      ['bad signature', forgedKid, /altered or forged/],
      ['not yet valid', await issueTestLicense({ nbf: now + 10 * DAY }), /not valid before/],
      ['expired', await issueTestLicense({ nbf: now - 30 * DAY, exp: now - DAY }), /expired on/],
      ['other tenant', await issueTestLicense({ tenant: 'someone-else' }), /for tenant "someone-else"/],
      ['garbage', 'this is not a license', /not a license/],
    ]
    for (const [name, license, message] of cases) {
      const res = await install(license)
      expect(res.status, name).toBe(422)
      expect(res.body.error.message, name).toMatch(message)
    }
    expect((await t.request('GET', '/api/v1/license', { token })).body.status).toBe('unlicensed')
  })

  it('installs a valid license (text/plain or JSON), audits it, and enforces its limits', async () => {
    const res = await install(
      await issueTestLicense({ tenant: 'system', limits: { maxCameras: 6 }, customer: 'ACME Stores' }),
    )
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({
      status: 'valid',
      license: { customer: 'ACME Stores', tenant: 'system', limits: { maxCameras: 6 } },
      usage: { cameras: 4 },
    })
    expect(
      (await t.request('POST', '/api/v1/cameras', { token, body: { name: 'Cam 5', siteId } })).status,
    ).toBe(201)
    expect(
      (await t.request('POST', '/api/v1/cameras', { token, body: { name: 'Cam 6', siteId } })).status,
    ).toBe(201)
    const seventh = await t.request('POST', '/api/v1/cameras', { token, body: { name: 'Cam 7', siteId } })
    expect(seventh.body.error).toMatchObject({
      code: 'LICENSE_LIMIT',
      message: expect.stringMatching(/license allows 6/),
    })
    // Limits the license leaves out are unlimited; its features apply.
    expect(
      (await t.request('POST', '/api/v1/users', { token, body: { username: 'u6', password: USER_PASSWORD } }))
        .status,
    ).toBe(201)
    expect((await t.request('POST', '/api/v1/sites', { token, body: { name: 'Store 2' } })).status).toBe(201)
    const asJson = await t.request('PUT', '/api/v1/license', {
      token,
      body: { license: await issueTestLicense({ limits: { maxCameras: 6 } }) },
    })
    expect(asJson.status).toBe(200)
    const audit = await t.request('GET', '/api/v1/audit?action=license.install', { token })
    expect(audit.body.items[0].details).toMatchObject({
      features: expect.any(Array),
      limits: { maxCameras: 6 },
    })
  })

  it('gives 14 days of grace after expiry, then blocks additions only; turning the clock back revives nothing', async () => {
    const now = Math.floor(Date.now() / 1000)
    expect(
      (await install(await issueTestLicense({ exp: now + 2 * DAY, limits: { maxCameras: 100 } }))).status,
    ).toBe(200)
    // The hub has seen a time 5 days on (as if the clock had been there): the license is in grace.
    await t.db.adminQuery(`update license_clock set max_seen = now() + interval '5 days'`)
    const grace = await t.request('GET', '/api/v1/license', { token })
    expect(grace.body.status).toBe('grace')
    expect(grace.body.warnings[0]).toMatch(/grace period until/)
    expect(
      (await t.request('POST', '/api/v1/cameras', { token, body: { name: 'Cam 7', siteId } })).status,
    ).toBe(201)
    // 20 days on: expired. The wall clock is behind, but the hub remembers the latest time it saw.
    await t.db.adminQuery(`update license_clock set max_seen = now() + interval '20 days'`)
    const expired = await t.request('GET', '/api/v1/license', { token })
    expect(expired.body).toMatchObject({
      status: 'expired',
      effective: { additionsAllowed: false, features: [] },
    })
    const blocked = await t.request('POST', '/api/v1/cameras', { token, body: { name: 'Cam 8', siteId } })
    expect(blocked.body.error).toMatchObject({
      code: 'LICENSE_LIMIT',
      message: expect.stringMatching(/expired/),
    })
    expect(
      (await t.request('POST', '/api/v1/sites', { token, body: { name: 'Store 3' } })).body.error.code,
    ).toBe('LICENSE_LIMIT')
    // Everything that exists keeps working.
    expect((await t.request('GET', '/api/v1/cameras', { token })).body.total).toBe(7)
    expect(
      (await t.request('PATCH', `/api/v1/sites/${siteId}`, { token, body: { name: 'Store One' } })).status,
    ).toBe(200)
    // A renewal ends it (issued for the hub's notion of now).
    const renewal = await issueTestLicense({ nbf: now - DAY, exp: now + 400 * DAY })
    expect((await install(renewal)).body.status).toBe('valid')
    expect(
      (await t.request('POST', '/api/v1/cameras', { token, body: { name: 'Cam 8', siteId } })).status,
    ).toBe(201)
  })

  it('needs license.manage to install, and shows other tenants only to system-admins', async () => {
    const u = await t.request('POST', '/api/v1/users', {
      token,
      body: { username: 'nolicense', password: USER_PASSWORD },
    })
    expect(u.status, u.text).toBe(201)
    const plain = (await t.login('system', 'nolicense', USER_PASSWORD)).accessToken
    const res = await t.request('PUT', '/api/v1/license', {
      token: plain,
      rawBody: await issueTestLicense(),
      headers: text,
    })
    expect(res.status).toBe(403)
    expect((await t.request('GET', '/api/v1/license', { token: plain })).status).toBe(200)
    const other = '00000000-0000-4000-8000-000000000000'
    expect((await t.request('GET', `/api/v1/license?tenantId=${other}`, { token: plain })).status).toBe(403)
    expect((await t.request('GET', `/api/v1/license?tenantId=${other}`, { token })).status).toBe(404)
  })
})

describe('npm run license', () => {
  it('generates keys, issues a license a hub trusting the key accepts, and inspects it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vms-vendor-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const out = await runLicense(['keygen', '--out', dir])
    expect(out).toMatch(/license-private\.pem/)
    expect(readFileSync(path.join(dir, 'license-private.pem'), 'utf8')).toMatch(/BEGIN PRIVATE KEY/)
    expect(readFileSync(path.join(dir, 'license-public.pem'), 'utf8')).toMatch(/BEGIN PUBLIC KEY/)
    await expect(runLicense(['keygen', '--out', dir])).rejects.toThrow(/refusing to overwrite/)

    const license = await runLicense([
      'issue',
      '--key',
      path.join(dir, 'license-private.pem'),
      '--tenant',
      'system',
      '--customer',
      'Vendor Test',
      '--expires',
      '2099-12-31',
      '--features',
      'multi-site,export',
      '--max-cameras',
      '12',
      '--max-users',
      '30',
    ])
    expect(license).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)
    const file = path.join(dir, 'system.lic')
    // What `npm run license -- issue ... > file.lic` writes, npm's banner included.
    writeFileSync(file, `\n> ts-vms@0.1.0 license\n> tsx hub/src/cli/license.ts issue ...\n\n${license}\n`)
    const inspected = JSON.parse(
      await runLicense(['inspect', file], { VMS_LICENSE_PUBLIC_KEYS: path.join(dir, 'license-public.pem') }),
    )
    expect(inspected).toMatchObject({
      signature: expect.stringMatching(/^valid/),
      customer: 'Vendor Test',
      tenant: 'system',
      expiresAt: '2099-12-31T23:59:59.000Z',
      features: ['multi-site', 'export'],
      limits: { maxCameras: 12, maxUsers: 30 },
    })
    expect(JSON.parse(await runLicense(['inspect', file], {})).signature).toMatch(/NOT TRUSTED/)

    const t = await startTestHub({ VMS_LICENSE_PUBLIC_KEYS: path.join(dir, 'license-public.pem') })
    cleanups.push(() => t.close())
    const token = await t.adminToken()
    const res = await t.request('PUT', '/api/v1/license', {
      token,
      rawBody: readFileSync(file, 'utf8'),
      headers: text,
    })
    expect(res.status).toBe(200)
    expect(res.body.license).toMatchObject({ customer: 'Vendor Test', limits: { maxCameras: 12 } })

    await expect(runLicense(['issue', '--key', path.join(dir, 'license-private.pem')])).rejects.toThrow(
      UsageError,
    )
    await expect(
      runLicense([
        'issue',
        '--key',
        path.join(dir, 'license-private.pem'),
        '--customer',
        'x',
        '--expires',
        'soon',
      ]),
    ).rejects.toThrow(/not a date/)
    await expect(runLicense(['frobnicate'])).rejects.toThrow(/usage/)
  })

  it('stops a hub that names an unreadable vendor key', async () => {
    await expect(startTestHub({ VMS_LICENSE_PUBLIC_KEYS: '/nonexistent/key.pem' })).rejects.toThrow(
      /VMS_LICENSE_PUBLIC_KEYS/,
    )
  })
})
