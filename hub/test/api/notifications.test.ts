import { createHmac, randomUUID } from 'node:crypto'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import mqtt from 'mqtt'
import { SMTPServer } from 'smtp-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NotificationDispatcher } from '../../src/notifications/notification-dispatcher.ts'
import { enqueueNotifications, type NotificationEvent } from '../../src/notifications/notification-queue.ts'
import { createTenantWithAdmin, startTestHub, type TestHub, userWithRole } from '../helpers/test-hub.ts'

/**
 * Alarm notifications (issue 16): channels (webhook, e-mail, MQTT) with sealed, write-only secrets;
 * the durable queue and its dispatcher (signature, idempotency key, retries, dead letters, restart);
 * the SSRF rule; permissions and tenancy; hostile input. Against real receivers: an HTTP server, an
 * SMTP server (smtp-server) and the machine's Mosquitto.
 */

/** Polls until `check` returns a value (not undefined/false), or fails after `timeoutMs`. */
async function until<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

interface Received {
  path: string
  headers: http.IncomingHttpHeaders
  raw: Buffer
}

/** An HTTP receiver: records every request; answers each path with the status set for it (200). */
async function startReceiver() {
  const received: Received[] = []
  const statusOf = new Map<string, number>()
  const delayOf = new Map<string, number>()
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const path = req.url ?? '/'
      received.push({ path, headers: req.headers, raw: Buffer.concat(chunks) })
      const answer = () => {
        res.statusCode = statusOf.get(path) ?? 200
        res.end('ok')
      }
      const delay = delayOf.get(path)
      if (delay) setTimeout(answer, delay)
      else answer()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  return {
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    received,
    at: (path: string) => received.filter((r) => r.path === path),
    setStatus: (path: string, status: number) => statusOf.set(path, status),
    setDelay: (path: string, ms: number) => delayOf.set(path, ms),
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r())
        server.closeAllConnections()
      }),
  }
}

const SECRET = 'whsec-Plum-Harbor-9931-secret'

const alarmDto = () => ({
  id: randomUUID(),
  kind: 'camera.offline',
  priority: 1,
  target: `camera:${randomUUID()}`,
  state: 'open',
  openedAt: new Date().toISOString(),
  count: 1,
})

async function enqueue(
  t: TestHub,
  tenantId: string,
  channelIds: string[],
  event: NotificationEvent = 'opened',
) {
  const alarm = alarmDto()
  const payload = { event, alarm }
  const n = await t.hub.context.db.withSystem((tx) =>
    enqueueNotifications(tx, { tenantId, channelIds, alarmId: null, event, payload }),
  )
  return { n, payload }
}

async function deliveryIdsOf(t: TestHub, channelId: string): Promise<string[]> {
  const rows = await t.db.adminQuery<{ id: string }>(
    'select id from notification_deliveries where channel_id = $1 order by created_at',
    [channelId],
  )
  return rows.rows.map((r) => r.id)
}

describe('notifications (private targets allowed: the receivers are on 127.0.0.1)', () => {
  let t: TestHub
  let receiver: Awaited<ReturnType<typeof startReceiver>>
  let smtp: SMTPServer
  const mails: { to: string[]; body: string }[] = []
  let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
  let globex: Awaited<ReturnType<typeof createTenantWithAdmin>>
  let operator: { id: string; token: string }

  beforeAll(async () => {
    receiver = await startReceiver()
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      onData(stream, session, callback) {
        let body = ''
        stream.on('data', (chunk: Buffer) => {
          body += chunk.toString()
        })
        stream.on('end', () => {
          mails.push({ to: session.envelope.rcptTo.map((r) => r.address), body })
          callback()
        })
      },
    })
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve))
    t = await startTestHub({
      VMS_WEBHOOK_ALLOW_PRIVATE: true,
      VMS_NOTIFY_MAX_ATTEMPTS: 3,
      VMS_NOTIFY_RETRY_BASE_MS: 20,
      VMS_NOTIFY_POLL_MS: 50,
      VMS_SMTP_URL: `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}`,
    })
    acme = await createTenantWithAdmin(t, 'acme-notify')
    globex = await createTenantWithAdmin(t, 'globex-notify')
    operator = await userWithRole(t, 'acme-notify', acme.token, 'notify-op', 'operator', { type: 'tenant' })
  })
  afterAll(async () => {
    await t?.close()
    await receiver?.close()
    await new Promise<void>((resolve) => (smtp ? smtp.close(() => resolve()) : resolve()))
  })

  const createWebhook = async (name: string, path: string, token = acme.token) => {
    const res = await t.request('POST', '/api/v1/notification-channels', {
      token,
      body: { name, type: 'webhook', url: receiver.url(path), secret: SECRET },
    })
    expect(res.status, res.text).toBe(201)
    return res.body as { id: string; name: string }
  }

  it('delivers a webhook: exactly {event, alarm}, signed over the raw body, with X-VMS-Delivery', async () => {
    const channel = await createWebhook('Ops webhook', '/hook-1')
    const { n, payload } = await enqueue(t, acme.tenantId, [channel.id])
    expect(n).toBe(1)
    t.hub.context.notifications.kick()
    const got = await until(() => receiver.at('/hook-1')[0], 'the webhook')
    const [deliveryId] = await deliveryIdsOf(t, channel.id)
    expect(got.headers['x-vms-delivery']).toBe(deliveryId)
    expect(got.headers['content-type']).toBe('application/json')
    const expected = `sha256=${createHmac('sha256', SECRET).update(got.raw).digest('hex')}`
    expect(got.headers['x-vms-signature']).toBe(expected)
    const body = JSON.parse(got.raw.toString('utf8'))
    expect(Object.keys(body)).toEqual(['event', 'alarm'])
    expect(body).toEqual(payload)

    const delivered = await until(async () => {
      const res = await t.request(
        'GET',
        `/api/v1/notification-deliveries?state=delivered&channelId=${channel.id}`,
        {
          token: acme.token,
        },
      )
      return res.body.items?.length === 1 ? res : undefined
    }, 'the delivery recorded as delivered')
    expect(delivered.body.items[0]).toMatchObject({
      id: deliveryId,
      channelId: channel.id,
      channelName: 'Ops webhook',
      channelType: 'webhook',
      event: 'opened',
      state: 'delivered',
      attempts: 1,
      lastError: null,
    })
    const metric = await t.hub.context.metrics.notificationsDelivered.get()
    expect(metric.values.find((v) => v.labels.type === 'webhook')?.value).toBeGreaterThanOrEqual(1)
  })

  it('survives a restart: queued while the hub was not dispatching, delivered by the next hub', async () => {
    const channel = await createWebhook('Durable webhook', '/hook-durable')
    // A hub that only looks at the queue when started (and is never kicked): nothing goes out.
    await t.restart({ VMS_NOTIFY_POLL_MS: 3_600_000 })
    await (t.hub.context.notifications as NotificationDispatcher).idle()
    const { payload } = await enqueue(t, acme.tenantId, [channel.id])
    const [deliveryId] = await deliveryIdsOf(t, channel.id)
    const before = await t.db.adminQuery(
      'select state, attempts from notification_deliveries where id = $1',
      [deliveryId],
    )
    expect(before.rows[0]).toEqual({ state: 'pending', attempts: 0 })
    expect(receiver.at('/hook-durable')).toHaveLength(0)

    // A new hub on the same database (and master key) takes the pending row on start.
    await t.restart({})
    const got = await until(() => receiver.at('/hook-durable')[0], 'the delivery after the restart')
    expect(JSON.parse(got.raw.toString('utf8'))).toEqual(payload)
    await until(async () => {
      const r = await t.db.adminQuery('select state from notification_deliveries where id = $1', [deliveryId])
      return r.rows[0]?.state === 'delivered'
    }, 'delivered state')
    // At least once, and any duplicate carries the same idempotency key.
    for (const r of receiver.at('/hook-durable')) expect(r.headers['x-vms-delivery']).toBe(deliveryId)
  })

  it('closing the hub waits for a delivery in flight and records its outcome', async () => {
    receiver.setDelay('/hook-slow', 500)
    const channel = await createWebhook('Slow webhook', '/hook-slow')
    await enqueue(t, acme.tenantId, [channel.id])
    t.hub.context.notifications.kick()
    await until(() => receiver.at('/hook-slow')[0], 'the request to arrive')
    // The answer is still 500 ms away: close() must wait for it rather than drop the outcome.
    await t.restart({})
    const r = await t.db.adminQuery(
      'select state, attempts from notification_deliveries where channel_id = $1',
      [channel.id],
    )
    expect(r.rows).toEqual([{ state: 'delivered', attempts: 1 }])
    expect(receiver.at('/hook-slow')).toHaveLength(1)
  })

  it('retries with backoff, then dead letters with last_error; a retry by hand delivers it', async () => {
    receiver.setStatus('/hook-flaky', 500)
    const channel = await createWebhook('Flaky webhook', '/hook-flaky')
    await enqueue(t, acme.tenantId, [channel.id])
    t.hub.context.notifications.kick()
    const dead = await until(async () => {
      const res = await t.request(
        'GET',
        `/api/v1/notification-deliveries?state=dead&channelId=${channel.id}`,
        {
          token: acme.token,
        },
      )
      return res.body.items?.[0]
    }, 'the dead letter')
    expect(dead).toMatchObject({ state: 'dead', attempts: 3, lastError: 'the receiver answered HTTP 500' })
    const attempts = receiver.at('/hook-flaky')
    expect(attempts).toHaveLength(3)
    for (const a of attempts) expect(a.headers['x-vms-delivery']).toBe(dead.id)
    expect(JSON.stringify(dead)).not.toContain(SECRET)

    // Only dead ones are retried; operators may not; other tenants do not see it.
    const notDead = await t.request('POST', `/api/v1/notification-deliveries/${randomUUID()}/retry`, {
      token: acme.token,
    })
    expect(notDead.status).toBe(404)
    expect(
      (await t.request('POST', `/api/v1/notification-deliveries/${dead.id}/retry`, { token: operator.token }))
        .status,
    ).toBe(403)
    expect(
      (await t.request('POST', `/api/v1/notification-deliveries/${dead.id}/retry`, { token: globex.token }))
        .status,
    ).toBe(404)

    receiver.setStatus('/hook-flaky', 200)
    const retried = await t.request('POST', `/api/v1/notification-deliveries/${dead.id}/retry`, {
      token: acme.token,
    })
    expect(retried.status, retried.text).toBe(200)
    expect(retried.body).toMatchObject({ id: dead.id, state: 'pending', attempts: 0 })
    const again = await t.request('POST', `/api/v1/notification-deliveries/${dead.id}/retry`, {
      token: acme.token,
    })
    expect([200, 409]).toContain(again.status) // 409 once it is no longer dead
    await until(async () => {
      const res = await t.request(
        'GET',
        `/api/v1/notification-deliveries?state=delivered&channelId=${channel.id}`,
        {
          token: acme.token,
        },
      )
      return res.body.items?.[0]?.id === dead.id
    }, 'the retried delivery delivered')
    const last = receiver.at('/hook-flaky').at(-1)
    expect(last?.headers['x-vms-delivery']).toBe(dead.id)
    const audit = await t.request('GET', '/api/v1/audit?action=notification-delivery.retry&limit=1', {
      token: acme.token,
    })
    expect(audit.body.items[0]).toMatchObject({
      action: 'notification-delivery.retry',
      target: { type: 'notification-delivery', id: dead.id },
    })
    const failed = await t.hub.context.metrics.notificationsFailed.get()
    expect(failed.values.find((v) => v.labels.type === 'webhook')?.value).toBeGreaterThanOrEqual(3)
  })

  it('never returns secrets; seals them at rest; audits create, update, test and delete', async () => {
    const made = await t.request('POST', '/api/v1/notification-channels', {
      token: acme.token,
      body: { name: 'Sealed', type: 'webhook', url: receiver.url('/sealed'), secret: SECRET },
    })
    expect(made.status, made.text).toBe(201)
    expect(made.body).toMatchObject({ name: 'Sealed', type: 'webhook', hasSecret: true, enabled: true })
    expect(made.body).not.toHaveProperty('secret')
    expect(made.text).not.toContain(SECRET)
    const got = await t.request('GET', `/api/v1/notification-channels/${made.body.id}`, { token: acme.token })
    expect(got.status).toBe(200)
    expect(got.text).not.toContain(SECRET)
    const list = await t.request('GET', '/api/v1/notification-channels', { token: acme.token })
    expect(list.status).toBe(200)
    expect(list.text).not.toContain(SECRET)
    expect(list.body.items.map((c: { name: string }) => c.name)).toContain('Sealed')
    const row = await t.db.adminQuery<{ secret_sealed: string; config: unknown }>(
      'select secret_sealed, config from notification_channels where id = $1',
      [made.body.id],
    )
    expect(row.rows[0]?.secret_sealed).toBeTruthy()
    expect(row.rows[0]?.secret_sealed).not.toContain(SECRET)
    expect(Buffer.from(row.rows[0]?.secret_sealed ?? '', 'base64').toString('latin1')).not.toContain(SECRET)
    expect(JSON.stringify(row.rows[0]?.config)).not.toContain(SECRET)

    // MQTT: the broker's credentials come off the URL, sealed.
    const broker = await t.request('POST', '/api/v1/notification-channels', {
      token: acme.token,
      body: {
        name: 'Broker',
        type: 'mqtt',
        url: 'mqtt://alarm-user:Broker-Pass-77@127.0.0.1:1883',
        topic: 'vms/alarms',
      },
    })
    expect(broker.status, broker.text).toBe(201)
    expect(broker.body).toMatchObject({
      url: 'mqtt://127.0.0.1:1883',
      topic: 'vms/alarms',
      hasCredentials: true,
    })
    expect(broker.text).not.toContain('Broker-Pass-77')
    expect(broker.text).not.toContain('alarm-user')
    const brokerRow = await t.db.adminQuery(
      'select config::text as c, secret_sealed from notification_channels where id = $1',
      [broker.body.id],
    )
    expect(JSON.stringify(brokerRow.rows[0])).not.toContain('Broker-Pass-77')

    // Update: the secret is replaced (write-only), a field of another type refused.
    const patched = await t.request('PATCH', `/api/v1/notification-channels/${made.body.id}`, {
      token: acme.token,
      body: { name: 'Sealed two', secret: 'another-Long-secret-123456' },
    })
    expect(patched.status, patched.text).toBe(200)
    expect(patched.body).toMatchObject({ name: 'Sealed two', hasSecret: true })
    expect(patched.text).not.toContain('another-Long-secret')
    const foreign = await t.request('PATCH', `/api/v1/notification-channels/${made.body.id}`, {
      token: acme.token,
      body: { topic: 'x/y' },
    })
    expect(foreign.status).toBe(400)

    const test = await t.request('POST', `/api/v1/notification-channels/${made.body.id}/test`, {
      token: acme.token,
    })
    expect(test.status, test.text).toBe(202)
    const testHook = await until(() => receiver.at('/sealed')[0], 'the test message')
    expect(JSON.parse(testHook.raw.toString('utf8'))).toEqual({
      event: 'test',
      channel: { id: made.body.id, name: 'Sealed two' },
    })
    expect(testHook.headers['x-vms-delivery']).toBe(test.body.deliveryId)
    // Signed with the new secret.
    expect(testHook.headers['x-vms-signature']).toBe(
      `sha256=${createHmac('sha256', 'another-Long-secret-123456').update(testHook.raw).digest('hex')}`,
    )

    const del = await t.request('DELETE', `/api/v1/notification-channels/${made.body.id}`, {
      token: acme.token,
    })
    expect(del.status).toBe(204)
    expect(
      (await t.request('GET', `/api/v1/notification-channels/${made.body.id}`, { token: acme.token })).status,
    ).toBe(404)
    const audit = await t.request('GET', `/api/v1/audit?target=${made.body.id}&limit=20`, {
      token: acme.token,
    })
    const actions = (audit.body.items ?? []).map((a: { action: string }) => a.action)
    for (const action of ['create', 'update', 'test', 'delete'])
      expect(actions, audit.text).toContain(`notification-channel.${action}`)
    expect(audit.text).not.toContain(SECRET)
    expect(audit.text).not.toContain('another-Long-secret')
    expect(t.logs.text()).not.toContain(SECRET)
    expect(t.logs.text()).not.toContain('Broker-Pass-77')
  })

  it('needs alarm.manage for the tenant (operator: 403); another tenant’s rows are 404', async () => {
    const channel = await createWebhook('Acme private', '/acme-private')
    for (const [method, path, body] of [
      ['GET', '/api/v1/notification-channels', undefined],
      ['POST', '/api/v1/notification-channels', { name: 'x', type: 'email', to: ['a@b.example'] }],
      ['GET', `/api/v1/notification-channels/${channel.id}`, undefined],
      ['PATCH', `/api/v1/notification-channels/${channel.id}`, { name: 'y' }],
      ['DELETE', `/api/v1/notification-channels/${channel.id}`, undefined],
      ['POST', `/api/v1/notification-channels/${channel.id}/test`, undefined],
      ['GET', '/api/v1/notification-deliveries', undefined],
    ] as const) {
      const res = await t.request(method, path, { token: operator.token, ...(body ? { body } : {}) })
      expect(res.status, `${method} ${path}: ${res.text}`).toBe(403)
    }
    for (const [method, path, body] of [
      ['GET', `/api/v1/notification-channels/${channel.id}`, undefined],
      ['PATCH', `/api/v1/notification-channels/${channel.id}`, { name: 'stolen' }],
      ['DELETE', `/api/v1/notification-channels/${channel.id}`, undefined],
      ['POST', `/api/v1/notification-channels/${channel.id}/test`, undefined],
    ] as const) {
      const res = await t.request(method, path, { token: globex.token, ...(body ? { body } : {}) })
      expect(res.status, `${method} ${path}: ${res.text}`).toBe(404)
    }
    const theirs = await t.request('GET', '/api/v1/notification-channels', { token: globex.token })
    expect(theirs.status).toBe(200)
    expect(theirs.body.items).toEqual([])
    const theirDeliveries = await t.request('GET', '/api/v1/notification-deliveries', { token: globex.token })
    expect(theirDeliveries.body.items).toEqual([])
    // enqueueNotifications skips channels of another tenant.
    expect((await enqueue(t, globex.tenantId, [channel.id])).n).toBe(0)
    expect(
      (await t.request('GET', `/api/v1/notification-channels/${channel.id}`, { token: acme.token })).body
        .name,
    ).toBe('Acme private')
  })

  it('refuses hostile input with 400 (never 500) and cleans names', async () => {
    const post = (body: unknown) =>
      t.request('POST', '/api/v1/notification-channels', { token: acme.token, body })
    const hook = { type: 'webhook', url: receiver.url('/h'), secret: SECRET }
    const cleaned = await post({ ...hook, name: '  Night\tshift\u0007 hook ' })
    expect(cleaned.status, cleaned.text).toBe(201)
    expect(cleaned.body.name).toBe('Night shift hook')
    expect((await post({ ...hook, name: 'Night shift hook' })).status).toBe(409)
    const bad: unknown[] = [
      { ...hook, name: 'nul\u0000name' },
      { ...hook, name: 'x'.repeat(100_000) },
      { ...hook, name: '\u0007\u0008' },
      { ...hook, name: 'short secret', secret: 'short' },
      { ...hook, name: 'huge secret', secret: 's'.repeat(10_000) },
      { ...hook, name: 'ftp', url: 'ftp://example.com/' },
      { ...hook, name: 'file', url: 'file:///etc/passwd' },
      { ...hook, name: 'creds', url: 'http://user:pw@example.com/' },
      { ...hook, name: 'not a url', url: 'http//nope' },
      { ...hook, name: 'huge url', url: `http://example.com/${'a'.repeat(100_000)}` },
      { ...hook, name: 'extra', extra: true },
      { name: 'no type', url: receiver.url('/h') },
      { type: 'pager', name: 'unknown type' },
      { type: 'email', name: 'no recipients', to: [] },
      { type: 'email', name: 'bad email', to: ['not-an-email'] },
      { type: 'email', name: 'header injection', to: ['a@b.example\r\nBcc: x@y.example'] },
      { type: 'email', name: 'too many', to: Array.from({ length: 21 }, (_, i) => `u${i}@example.com`) },
      { type: 'email', name: 'dupes', to: ['a@example.com', 'A@example.com'] },
      { type: 'mqtt', name: 'wildcard', url: 'mqtt://127.0.0.1:1883', topic: 'alarms/#' },
      { type: 'mqtt', name: 'plus', url: 'mqtt://127.0.0.1:1883', topic: 'alarms/+/x' },
      { type: 'mqtt', name: 'long topic', url: 'mqtt://127.0.0.1:1883', topic: 't'.repeat(300) },
      { type: 'mqtt', name: 'empty topic', url: 'mqtt://127.0.0.1:1883', topic: '' },
      { type: 'mqtt', name: 'sys topic', url: 'mqtt://127.0.0.1:1883', topic: '$SYS/x' },
      { type: 'mqtt', name: 'http broker', url: 'http://127.0.0.1:1883', topic: 'a' },
      { type: 'mqtt', name: 'broker path', url: 'mqtt://127.0.0.1:1883/x?y', topic: 'a' },
      { type: 'webhook', name: 12, url: receiver.url('/h'), secret: SECRET },
    ]
    for (const body of bad) {
      const res = await post(body)
      expect(res.status, `${JSON.stringify(body).slice(0, 120)} → ${res.text.slice(0, 300)}`).toBe(400)
    }
    const surrogate = await t.request('POST', '/api/v1/notification-channels', {
      token: acme.token,
      rawBody: `{"type":"webhook","name":"lone \\ud800","url":"${receiver.url('/h')}","secret":"${SECRET}"}`,
    })
    expect(surrogate.status).toBe(400)
    // Not an id: no such channel (the API's rule for malformed ids).
    expect(
      (await t.request('GET', '/api/v1/notification-channels/not-a-uuid', { token: acme.token })).status,
    ).toBe(404)
    expect(
      (await t.request('GET', '/api/v1/notification-deliveries?state=lost', { token: acme.token })).status,
    ).toBe(400)
    expect(
      (
        await t.request('PATCH', `/api/v1/notification-channels/${cleaned.body.id}`, {
          token: acme.token,
          body: { name: 'x'.repeat(5000) },
        })
      ).status,
    ).toBe(400)
  })

  it('shares the queue between two hubs on one database: each delivery sent once', async () => {
    const channel = await createWebhook('Shared webhook', '/hook-shared')
    const second = await startTestHub(
      {
        VMS_WEBHOOK_ALLOW_PRIVATE: true,
        VMS_NOTIFY_POLL_MS: 50,
        VMS_MASTER_KEY: t.config.VMS_MASTER_KEY,
      },
      { db: t.db },
    )
    try {
      await t.hub.context.db.withSystem(async (tx) => {
        for (let i = 0; i < 30; i++)
          await enqueueNotifications(tx, {
            tenantId: acme.tenantId,
            channelIds: [channel.id],
            alarmId: null,
            event: 'opened',
            payload: { event: 'opened', alarm: { ...alarmDto(), count: i } },
          })
      })
      t.hub.context.notifications.kick()
      second.hub.context.notifications.kick()
      await until(async () => {
        const r = await t.db.adminQuery<{ n: number }>(
          `select count(*)::int as n from notification_deliveries where channel_id = $1 and state = 'delivered'`,
          [channel.id],
        )
        return r.rows[0]?.n === 30
      }, 'all 30 delivered')
      const ids = receiver.at('/hook-shared').map((r) => r.headers['x-vms-delivery'])
      expect(ids).toHaveLength(30)
      expect(new Set(ids).size).toBe(30)
      expect(new Set(ids)).toEqual(new Set(await deliveryIdsOf(t, channel.id)))
    } finally {
      await second.close()
    }
  })

  it('documents the routes in the OpenAPI document', async () => {
    const res = await t.request('GET', '/api/v1/openapi.json', { token: await t.adminToken() })
    expect(res.status).toBe(200)
    const paths = res.body.paths
    expect(Object.keys(paths['/api/v1/notification-channels']).sort()).toEqual(['get', 'post'])
    expect(Object.keys(paths['/api/v1/notification-channels/{id}']).sort()).toEqual([
      'delete',
      'get',
      'patch',
    ])
    expect(Object.keys(paths['/api/v1/notification-channels/{id}/test'])).toEqual(['post'])
    expect(Object.keys(paths['/api/v1/notification-deliveries'])).toEqual(['get'])
    expect(Object.keys(paths['/api/v1/notification-deliveries/{id}/retry'])).toEqual(['post'])
    expect(res.text).not.toContain(SECRET)
  })

  it('e-mails a notification through the hub’s SMTP', async () => {
    const made = await t.request('POST', '/api/v1/notification-channels', {
      token: acme.token,
      body: { name: 'Ops mail', type: 'email', to: ['ops@acme.example', 'night@acme.example'] },
    })
    expect(made.status, made.text).toBe(201)
    expect(made.body).toMatchObject({
      type: 'email',
      to: ['ops@acme.example', 'night@acme.example'],
      hasSecret: false,
    })
    const { payload } = await enqueue(t, acme.tenantId, [made.body.id], 'acknowledged')
    t.hub.context.notifications.kick()
    const mail = await until(() => mails.find((m) => m.to.includes('ops@acme.example')), 'the mail')
    expect(mail.to.sort()).toEqual(['night@acme.example', 'ops@acme.example'])
    const body = mail.body.replace(/=\r?\n/g, '')
    expect(body).toContain('Subject: TS-VMS alarm acknowledged: camera.offline')
    expect(body).toContain(payload.alarm.id)
  })
})

/** The machine's Mosquitto (anonymous, 127.0.0.1:1883), shared by other tests: a topic of our own. */
const brokerUp = await new Promise<boolean>((resolve) => {
  const s = net.connect(1883, '127.0.0.1', () => {
    s.end()
    resolve(true)
  })
  s.on('error', () => resolve(false))
})
if (!brokerUp) console.warn('SKIPPING the MQTT notification test: no Mosquitto on 127.0.0.1:1883')

describe.skipIf(!brokerUp)('MQTT notifications', () => {
  let t: TestHub
  let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
  beforeAll(async () => {
    t = await startTestHub({
      VMS_WEBHOOK_ALLOW_PRIVATE: true,
      VMS_NOTIFY_POLL_MS: 50,
      VMS_NOTIFY_RETRY_BASE_MS: 20,
    })
    acme = await createTenantWithAdmin(t, 'acme-mqtt')
  })
  afterAll(async () => {
    await t?.close()
  })

  it('publishes {event, alarm} to the topic with QoS 1', async () => {
    const topic = `vmstest/${randomUUID().slice(0, 8)}/alarms`
    const subscriber = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { reconnectPeriod: 0, clean: true })
    const messages: { topic: string; body: string; qos: number }[] = []
    subscriber.on('message', (tp, payload, packet) =>
      messages.push({ topic: tp, body: payload.toString('utf8'), qos: packet.qos }),
    )
    await subscriber.subscribeAsync(topic, { qos: 1 })
    try {
      const made = await t.request('POST', '/api/v1/notification-channels', {
        token: acme.token,
        body: { name: 'Broker', type: 'mqtt', url: 'mqtt://127.0.0.1:1883', topic },
      })
      expect(made.status, made.text).toBe(201)
      expect(made.body).toMatchObject({ hasCredentials: false })
      const { payload } = await enqueue(t, acme.tenantId, [made.body.id], 'closed')
      t.hub.context.notifications.kick()
      const got = await until(() => messages[0], 'the MQTT message')
      expect(got.topic).toBe(topic)
      expect(got.qos).toBe(1)
      expect(JSON.parse(got.body)).toEqual(payload)
      await until(async () => {
        const r = await t.request(
          'GET',
          `/api/v1/notification-deliveries?state=delivered&channelId=${made.body.id}`,
          {
            token: acme.token,
          },
        )
        return r.body.items?.length === 1
      }, 'delivered')
    } finally {
      await subscriber.endAsync()
    }
  })
})

describe('SSRF: private targets refused (VMS_WEBHOOK_ALLOW_PRIVATE unset)', () => {
  let t: TestHub
  let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
  beforeAll(async () => {
    t = await startTestHub({ VMS_NOTIFY_POLL_MS: 50, VMS_NOTIFY_MAX_ATTEMPTS: 1 })
    acme = await createTenantWithAdmin(t, 'acme-ssrf')
  })
  afterAll(async () => {
    await t?.close()
  })

  it.each([
    'http://127.0.0.1/',
    'http://127.1/',
    'http://[::1]/',
    'http://169.254.169.254/latest/meta-data/',
    'http://10.0.0.1/',
    'http://192.168.1.10:8080/hook',
    'http://100.64.0.1/',
    'http://0.0.0.0/',
    'http://[::]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[::ffff:a9fe:a9fe]/',
    'http://[fd00::1]/',
    'http://[fe80::1]/',
    'http://224.0.0.1/',
    'http://localhost/',
    'http://localhost.:8080/',
    'https://2130706433/',
  ])('refuses a webhook to %s with 400', async (url) => {
    const res = await t.request('POST', '/api/v1/notification-channels', {
      token: acme.token,
      body: { name: `hook ${url}`, type: 'webhook', url, secret: SECRET },
    })
    expect(res.status, res.text).toBe(400)
    expect(res.body.error.message).toMatch(/public addresses only|does not resolve/)
  })

  it('refuses a private MQTT broker, and a private URL on update', async () => {
    const mq = await t.request('POST', '/api/v1/notification-channels', {
      token: acme.token,
      body: { name: 'local broker', type: 'mqtt', url: 'mqtt://127.0.0.1:1883', topic: 'a/b' },
    })
    expect(mq.status, mq.text).toBe(400)
    const mail = await t.request('POST', '/api/v1/notification-channels', {
      token: acme.token,
      body: { name: 'mail', type: 'email', to: ['ops@acme.example'] },
    })
    expect(mail.status).toBe(201)
    // A public literal address is accepted (nothing is contacted when saving); moving it inside is not.
    const hook = await t.request('POST', '/api/v1/notification-channels', {
      token: acme.token,
      body: {
        name: 'public hook',
        type: 'webhook',
        url: 'https://93.184.216.34/hook',
        secret: SECRET,
        enabled: false,
      },
    })
    expect(hook.status, hook.text).toBe(201)
    const moved = await t.request('PATCH', `/api/v1/notification-channels/${hook.body.id}`, {
      token: acme.token,
      body: { url: 'http://[::ffff:10.0.0.1]/hook' },
    })
    expect(moved.status, moved.text).toBe(400)
    expect(
      (await t.request('GET', `/api/v1/notification-channels/${hook.body.id}`, { token: acme.token })).body
        .url,
    ).toBe('https://93.184.216.34/hook')
  })

  it('checks again at delivery time: a stored private target is never contacted', async () => {
    const receiver = await startReceiver()
    try {
      // As if the name had resolved publicly when saved and to loopback now (DNS rebinding).
      const id = randomUUID()
      await t.db.adminQuery(
        `insert into notification_channels (id, tenant_id, name, type, config) values ($1, $2, 'rebound', 'webhook', $3::jsonb)`,
        [id, acme.tenantId, JSON.stringify({ url: receiver.url('/rebound') })],
      )
      await enqueue(t, acme.tenantId, [id])
      t.hub.context.notifications.kick()
      const dead = await until(async () => {
        const res = await t.request('GET', `/api/v1/notification-deliveries?state=dead&channelId=${id}`, {
          token: acme.token,
        })
        return res.body.items?.[0]
      }, 'the refused delivery')
      expect(dead.lastError).toMatch(/public addresses only/)
      expect(receiver.received).toHaveLength(0)
    } finally {
      await receiver.close()
    }
  })
})
