import { generateKeyPairSync } from 'node:crypto'
import { calculateJwkThumbprint, type JWK, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { ADMIN_PASSWORD, startTestHub, type TestHub, USER_PASSWORD } from '../helpers/test-hub.ts'

let t: TestHub

beforeAll(async () => {
  t = await startTestHub()
})
afterAll(async () => {
  await t?.close()
})

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

function decode(token: string) {
  const [h, p] = token.split('.')
  return {
    header: JSON.parse(Buffer.from(h ?? '', 'base64url').toString()) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(p ?? '', 'base64url').toString()) as Record<string, unknown>,
  }
}

describe('login', () => {
  it('answers the exact token shape', async () => {
    const res = await t.request('POST', '/api/v1/auth/login', {
      body: { tenant: 'system', username: 'admin', password: ADMIN_PASSWORD },
    })
    expect(res.status).toBe(200)
    expect(Object.keys(res.body).sort()).toEqual(['accessToken', 'expiresIn', 'refreshToken', 'tokenType'])
    expect(res.body.tokenType).toBe('Bearer')
    expect(res.body.expiresIn).toBe(900)
    const { header, payload } = decode(res.body.accessToken)
    expect(header).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt' })
    expect(typeof header.kid).toBe('string')
    expect(payload).toMatchObject({
      iss: 'ts-vms-hub',
      aud: 'ts-vms-api',
      tid: t.hub.bootstrap.systemTenantId,
    })
    expect(payload.exp as number).toBe((payload.iat as number) + 900)
    for (const claim of ['sub', 'jti', 'iat', 'exp']) expect(payload[claim]).toBeDefined()
  })

  it('accepts usernames and tenant slugs case-insensitively', async () => {
    await expect(t.login('SYSTEM', 'Admin', ADMIN_PASSWORD)).resolves.toBeDefined()
  })

  it('rejects a wrong password, unknown user and unknown tenant alike', async () => {
    const dummy = vi.spyOn(t.hub.context.hasher, 'verifyDummy')
    const cases = [
      { tenant: 'system', username: 'admin', password: 'wrong-password-123' },
      { tenant: 'system', username: 'nobody', password: ADMIN_PASSWORD },
      { tenant: 'no-such-tenant', username: 'admin', password: ADMIN_PASSWORD },
    ]
    const bodies = []
    for (const body of cases) {
      const res = await t.request('POST', '/api/v1/auth/login', { body })
      expect(res.status).toBe(401)
      bodies.push({ code: res.body.error.code, message: res.body.error.message })
    }
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1)
    // Unknown users cost a real Argon2 verification, like a wrong password does.
    expect(dummy).toHaveBeenCalledTimes(2)
    dummy.mockRestore()
    const failures = t.logs.entries().filter((e) => e.action === 'auth.login.failure')
    expect(failures.map((e) => e.reason)).toEqual(
      expect.arrayContaining(['bad_password', 'unknown_user', 'unknown_tenant']),
    )
  })

  it('validates the body', async () => {
    expect((await t.request('POST', '/api/v1/auth/login', { body: { tenant: 'system' } })).status).toBe(400)
    expect(
      (await t.request('POST', '/api/v1/auth/login', { body: { tenant: 1, username: [], password: {} } }))
        .status,
    ).toBe(400)
    expect((await t.request('POST', '/api/v1/auth/login', { rawBody: '{"tenant":' })).body.error.code).toBe(
      'malformed_json',
    )
  })

  it('upgrades a hash made with older parameters at the next login', async () => {
    const sys = await t.adminToken()
    const user = await t.request('POST', '/api/v1/users', {
      token: sys,
      body: { username: 'rehash', password: USER_PASSWORD },
    })
    expect(user.status).toBe(201)
    const hashOf = async () =>
      (
        await t.db.adminQuery<{ password_hash: string }>('select password_hash from users where id = $1', [
          user.body.id,
        ])
      ).rows[0]?.password_hash
    expect(await hashOf()).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/)
    await t.restart({ VMS_ARGON2_TIME_COST: 3 })
    await t.login('system', 'rehash', USER_PASSWORD)
    expect(await hashOf()).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=3\$/)
    await t.login('system', 'rehash', USER_PASSWORD) // the upgraded hash verifies
    await t.restart()
  })
})

describe('access tokens', () => {
  it('authenticate requests, and every forgery or expiry is 401', async () => {
    const { accessToken } = await t.login('system', 'admin', ADMIN_PASSWORD)
    const ok = await t.request('GET', '/api/v1/me', { token: accessToken })
    expect(ok.status).toBe(200)
    const { header, payload } = decode(accessToken)
    const [h, p, s] = accessToken.split('.')
    const jwks = (await t.request('GET', '/.well-known/jwks.json')).body as { keys: JWK[] }
    const hubKey = jwks.keys.find((k) => k.kid === header.kid)
    expect(hubKey).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' })
    expect(hubKey).not.toHaveProperty('d')

    const forgeries: Record<string, string> = {}
    // alg: none
    forgeries.none = `${b64({ alg: 'none', typ: 'at+jwt', kid: header.kid })}.${p}.`
    // HS256 keyed with the public key (the classic algorithm-confusion attack)
    forgeries.hs256 = await new SignJWT(payload)
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: header.kid as string })
      .sign(Buffer.from(hubKey?.x ?? '', 'base64url'))
    forgeries.hs256jwkText = await new SignJWT(payload)
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: header.kid as string })
      .sign(new TextEncoder().encode(JSON.stringify(hubKey)))
    // a key of our own, under its own kid and under the hub's kid
    const foreign = generateKeyPairSync('ed25519')
    const foreignKid = await calculateJwkThumbprint(foreign.publicKey.export({ format: 'jwk' }) as JWK)
    forgeries.foreignKid = await new SignJWT(payload)
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: foreignKid })
      .sign(foreign.privateKey)
    forgeries.foreignKeyHubKid = await new SignJWT(payload)
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: header.kid as string })
      .sign(foreign.privateKey)
    // a changed payload under the original signature
    forgeries.changedPayload = `${h}.${b64({ ...payload, sub: '00000000-0000-4000-8000-000000000000' })}.${s}`
    forgeries.changedTenant = `${h}.${b64({ ...payload, tid: '00000000-0000-4000-8000-000000000000' })}.${s}`
    forgeries.truncated = `${h}.${p}`
    forgeries.garbage = 'not-a-token'
    // signed by the hub's real key, but expired / for another audience / issuer / type
    const { kid, privateKey } = await t.hub.context.keys.signingKey()
    const sign = (claims: Record<string, unknown>, typ = 'at+jwt') =>
      new SignJWT({ ...payload, ...claims }).setProtectedHeader({ alg: 'EdDSA', typ, kid }).sign(privateKey)
    const now = Math.floor(Date.now() / 1000)
    forgeries.expired = await sign({ iat: now - 3600, exp: now - 1800 })
    forgeries.wrongAudience = await sign({ aud: 'someone-else' })
    forgeries.wrongIssuer = await sign({ iss: 'https://evil.example' })
    forgeries.wrongType = await sign({}, 'JWT')
    forgeries.missingTenant = await sign({ tid: undefined })

    for (const [name, token] of Object.entries(forgeries)) {
      const res = await t.request('GET', '/api/v1/me', { token })
      expect(res.status, name).toBe(401)
      expect(res.body.error.code, name).toMatch(/invalid_token|unauthorized/)
    }
    // ... while the genuine token still works.
    expect((await t.request('GET', '/api/v1/me', { token: accessToken })).status).toBe(200)
  })

  it('401s without a token or with a malformed Authorization header', async () => {
    expect((await t.request('GET', '/api/v1/me')).status).toBe(401)
    expect(
      (await t.request('GET', '/api/v1/me', { headers: { authorization: 'Basic YWRtaW46eA==' } })).status,
    ).toBe(401)
    const res = await t.request('GET', '/api/v1/sites')
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/)
  })

  it('keep verifying across a signing-key rotation until they expire', async () => {
    const before = await t.login('system', 'admin', ADMIN_PASSWORD)
    const oldKid = decode(before.accessToken).header.kid
    const newKid = await t.hub.context.keys.rotate()
    expect(newKid).not.toBe(oldKid)
    const after = await t.login('system', 'admin', ADMIN_PASSWORD)
    expect(decode(after.accessToken).header.kid).toBe(newKid)
    expect((await t.request('GET', '/api/v1/me', { token: before.accessToken })).status).toBe(200)
    expect((await t.request('GET', '/api/v1/me', { token: after.accessToken })).status).toBe(200)
    const kids = ((await t.request('GET', '/.well-known/jwks.json')).body as { keys: JWK[] }).keys.map(
      (k) => k.kid,
    )
    expect(kids).toEqual(expect.arrayContaining([oldKid, newKid]))
  })

  it('stores signing keys sealed by the master key, never in the clear', async () => {
    const rows = await t.db.adminQuery<{ private_key_sealed: string; public_jwk: JWK }>(
      'select private_key_sealed, public_jwk from signing_keys',
    )
    expect(rows.rows.length).toBeGreaterThan(0)
    for (const row of rows.rows) {
      expect(row.public_jwk).not.toHaveProperty('d')
      expect(row.private_key_sealed).not.toMatch(/BEGIN|PRIVATE/)
      expect(Buffer.from(row.private_key_sealed, 'base64')[0]).toBe(1)
    }
  })
})

describe('refresh tokens', () => {
  it('rotate on every use', async () => {
    const first = await t.login('system', 'admin', ADMIN_PASSWORD)
    const res = await t.request('POST', '/api/v1/auth/refresh', {
      body: { refreshToken: first.refreshToken },
    })
    expect(res.status).toBe(200)
    expect(res.body.refreshToken).not.toBe(first.refreshToken)
    expect(res.body.tokenType).toBe('Bearer')
    expect((await t.request('GET', '/api/v1/me', { token: res.body.accessToken })).status).toBe(200)
    const stored = await t.db.adminQuery('select token_hash from refresh_tokens')
    expect(stored.rows.map((r) => r.token_hash)).not.toContain(first.refreshToken)
  })

  it('revoke the whole family when a rotated token is presented again', async () => {
    const login = await t.login('system', 'admin', ADMIN_PASSWORD)
    const r1 = login.refreshToken
    const r2 = (await t.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: r1 } })).body
      .refreshToken
    const r3 = (await t.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: r2 } })).body
      .refreshToken
    const reuse = await t.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: r1 } })
    expect(reuse.status).toBe(401)
    expect(reuse.body.error.code).toBe('invalid_refresh_token')
    // The newest descendant dies with it: the thief and the victim both have to log in again.
    expect((await t.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: r3 } })).status).toBe(401)
    const events = t.logs.entries().filter((e) => e.action === 'auth.refresh.reuse')
    expect(events.length).toBeGreaterThan(0)
    expect(JSON.stringify(events)).not.toContain(r1.split('.')[1])
    // Other logins (families) are untouched.
    const other = await t.login('system', 'admin', ADMIN_PASSWORD)
    expect(
      (await t.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: other.refreshToken } }))
        .status,
    ).toBe(200)
  })

  it('are revoked by logout (the whole family)', async () => {
    const login = await t.login('system', 'admin', ADMIN_PASSWORD)
    const r2 = (
      await t.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: login.refreshToken } })
    ).body.refreshToken
    const out = await t.request('POST', '/api/v1/auth/logout', { body: { refreshToken: r2 } })
    expect(out.status).toBe(204)
    expect((await t.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: r2 } })).status).toBe(401)
    // Logging out with an unknown token is not an error (and reveals nothing).
    const unknown = await t.request('POST', '/api/v1/auth/logout', {
      body: { refreshToken: `${t.hub.bootstrap.systemTenantId}.${'A'.repeat(43)}` },
    })
    expect(unknown.status).toBe(204)
  })

  it('reject garbage, foreign-tenant and expired tokens', async () => {
    for (const refreshToken of ['x', 'a.b', `00000000-0000-4000-8000-000000000000.${'A'.repeat(43)}`]) {
      expect((await t.request('POST', '/api/v1/auth/refresh', { body: { refreshToken } })).status).toBe(401)
    }
    const login = await t.login('system', 'admin', ADMIN_PASSWORD)
    await t.db.adminQuery(
      "update refresh_tokens set expires_at = now() - interval '1 second' where used_at is null",
    )
    expect(
      (await t.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: login.refreshToken } }))
        .status,
    ).toBe(401)
  })
})
