import type { AddressInfo } from 'node:net'
import { SMTPServer } from 'smtp-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTenantWithAdmin, startTestHub, type TestHub, USER_PASSWORD } from '../helpers/test-hub.ts'

const NEW_PASSWORD = 'Brass-Meadow-Kettle-2048'

function tokenFromLog(t: TestHub, to: string): string {
  const mails = t.logs.entries().filter((e) => e.mailTo === to)
  const text = mails.at(-1)?.mailText as string | undefined
  const token = text?.match(/[0-9a-f-]{36}\.[A-Za-z0-9_-]{43}/)?.[0]
  if (!token) throw new Error(`no reset mail for ${to} in the log`)
  return token
}

describe('password reset without SMTP', () => {
  let t: TestHub
  let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
  let userId: string

  beforeAll(async () => {
    // lee asks more than the default five times an hour across these tests.
    t = await startTestHub({ VMS_PASSWORD_RESET_PER_HOUR: 20 })
    acme = await createTenantWithAdmin(t, 'acme')
    userId = (
      await t.request('POST', '/api/v1/users', {
        token: acme.token,
        body: { username: 'lee', password: USER_PASSWORD, email: 'lee@acme.example' },
      })
    ).body.id
  })
  afterAll(async () => {
    await t?.close()
  })

  it('answers 202 with the same body whether or not the account exists', async () => {
    const cases = [
      { tenant: 'acme', email: 'lee@acme.example' },
      { tenant: 'acme', email: 'nobody@acme.example' },
      { tenant: 'no-such-tenant', email: 'lee@acme.example' },
    ]
    const bodies = new Set<string>()
    for (const body of cases) {
      const res = await t.request('POST', '/api/v1/auth/password-reset', { body })
      expect(res.status).toBe(202)
      bodies.add(JSON.stringify(res.body))
    }
    expect(bodies.size).toBe(1)
    expect(
      (await t.request('POST', '/api/v1/auth/password-reset', { body: { tenant: 'acme' } })).status,
    ).toBe(400)
  })

  it('logs the token at warn for the operator, and the token works exactly once', async () => {
    const session = await t.login('acme', 'lee', USER_PASSWORD)
    // The first test's request for lee mails in the background too: wait for it, then ask.
    const mails = () => t.logs.entries().filter((e) => e.mailTo === 'lee@acme.example').length
    await expect.poll(mails).toBe(1)
    await t.request('POST', '/api/v1/auth/password-reset', {
      body: { tenant: 'acme', email: 'LEE@acme.example' },
    })
    await expect.poll(mails).toBe(2)
    const entry = t.logs.entries().find((e) => e.mailTo === 'lee@acme.example')
    expect(entry?.level).toBe(40)
    const token = tokenFromLog(t, 'lee@acme.example')
    const stored = await t.db.adminQuery('select token_hash from password_reset_tokens where user_id = $1', [
      userId,
    ])
    expect(stored.rows).toHaveLength(2)
    for (const row of stored.rows) expect(row.token_hash).not.toContain(token.split('.')[1])

    const weak = await t.request('POST', '/api/v1/auth/password-reset/confirm', {
      body: { token, password: 'password1234' },
    })
    expect(weak.status).toBe(422)
    const ok = await t.request('POST', '/api/v1/auth/password-reset/confirm', {
      body: { token, password: NEW_PASSWORD },
    })
    expect(ok.status).toBe(204)
    const again = await t.request('POST', '/api/v1/auth/password-reset/confirm', {
      body: { token, password: 'Yet-Another-Phrase-777' },
    })
    expect(again.status).toBe(410)
    expect(again.body.error.code).toBe('token_used')
    // Every earlier session is over; the new password works, the old one does not.
    expect((await t.request('GET', '/api/v1/me', { token: session.accessToken })).status).toBe(401)
    expect(
      (await t.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: session.refreshToken } }))
        .status,
    ).toBe(401)
    await t.login('acme', 'lee', NEW_PASSWORD)
    expect(
      (
        await t.request('POST', '/api/v1/auth/login', {
          body: { tenant: 'acme', username: 'lee', password: USER_PASSWORD },
        })
      ).status,
    ).toBe(401)
  })

  it('expires tokens; a new request keeps the earlier link, using one ends the others', async () => {
    const mails = () => t.logs.entries().filter((e) => e.mailTo === 'lee@acme.example').length
    const before = mails()
    await t.request('POST', '/api/v1/auth/password-reset', {
      body: { tenant: 'acme', email: 'lee@acme.example' },
    })
    await expect.poll(mails).toBe(before + 1)
    const first = tokenFromLog(t, 'lee@acme.example')
    await t.request('POST', '/api/v1/auth/password-reset', {
      body: { tenant: 'acme', email: 'lee@acme.example' },
    })
    await expect.poll(mails).toBe(before + 2)
    const second = tokenFromLog(t, 'lee@acme.example')
    // The second request did not cancel the first link (a stranger's request must not cancel the
    // owner's); using the first ends the second.
    const earlier = await t.request('POST', '/api/v1/auth/password-reset/confirm', {
      body: { token: first, password: 'Copper-Lantern-Meadow-31' },
    })
    expect(earlier.status).toBe(204)
    const ended = await t.request('POST', '/api/v1/auth/password-reset/confirm', {
      body: { token: second, password: NEW_PASSWORD },
    })
    expect(ended.status).toBe(400)
    await t.request('POST', '/api/v1/auth/password-reset', {
      body: { tenant: 'acme', email: 'lee@acme.example' },
    })
    await expect.poll(mails).toBe(before + 3)
    const third = tokenFromLog(t, 'lee@acme.example')
    await t.db.adminQuery(
      `update password_reset_tokens set expires_at = now() - interval '1 second' where user_id = $1`,
      [userId],
    )
    const expired = await t.request('POST', '/api/v1/auth/password-reset/confirm', {
      body: { token: third, password: NEW_PASSWORD },
    })
    expect(expired.status).toBe(410)
    expect(expired.body.error.code).toBe('token_expired')
    for (const token of ['garbage', `${userId}.${'x'.repeat(43)}`]) {
      expect(
        (
          await t.request('POST', '/api/v1/auth/password-reset/confirm', {
            body: { token, password: NEW_PASSWORD },
          })
        ).status,
      ).toBe(400)
    }
  })

  it('ignores disabled accounts', async () => {
    await t.request('PATCH', `/api/v1/users/${userId}`, { token: acme.token, body: { disabled: true } })
    const before = t.logs.entries().filter((e) => e.mailTo === 'lee@acme.example').length
    const res = await t.request('POST', '/api/v1/auth/password-reset', {
      body: { tenant: 'acme', email: 'lee@acme.example' },
    })
    expect(res.status).toBe(202)
    await t.hub.context.auth.idle()
    expect(t.logs.entries().filter((e) => e.mailTo === 'lee@acme.example').length).toBe(before)
  })
})

describe('password reset over SMTP', () => {
  const received: { to: string; body: string }[] = []
  let smtp: SMTPServer
  let t: TestHub

  beforeAll(async () => {
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      onData(stream, session, callback) {
        let body = ''
        stream.on('data', (chunk: Buffer) => {
          body += chunk.toString()
        })
        stream.on('end', () => {
          received.push({ to: session.envelope.rcptTo.map((r) => r.address).join(','), body })
          callback()
        })
      },
    })
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve))
    const port = (smtp.server.address() as AddressInfo).port
    t = await startTestHub({
      VMS_SMTP_URL: `smtp://127.0.0.1:${port}`,
      VMS_PUBLIC_URL: 'https://vms.example.com',
    })
  })
  afterAll(async () => {
    await t?.close()
    await new Promise<void>((resolve) => smtp.close(() => resolve()))
  })

  it('mails a link with the token, and does not log it', async () => {
    const acme = await createTenantWithAdmin(t, 'acme')
    await t.request('POST', '/api/v1/users', {
      token: acme.token,
      body: { username: 'max', password: USER_PASSWORD, email: 'max@acme.example' },
    })
    const res = await t.request('POST', '/api/v1/auth/password-reset', {
      body: { tenant: 'acme', email: 'max@acme.example' },
    })
    expect(res.status).toBe(202)
    await expect.poll(() => received.length).toBe(1)
    expect(received[0]?.to).toBe('max@acme.example')
    // The mail body is quoted-printable: undo soft line breaks and =XX escapes.
    const body = (received[0]?.body ?? '')
      .replace(/=\r?\n/g, '')
      .replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))
    expect(body).toContain('https://vms.example.com/reset-password#token=')
    const token = decodeURIComponent(body.match(/#token=(\S+)/)?.[1] ?? '')
    expect(t.logs.text()).not.toContain(token.split('.')[1])
    const ok = await t.request('POST', '/api/v1/auth/password-reset/confirm', {
      body: { token, password: NEW_PASSWORD },
    })
    expect(ok.status).toBe(204)
    await t.login('acme', 'max', NEW_PASSWORD)
  })
})
