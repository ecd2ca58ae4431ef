import { createHmac, randomUUID } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Enrolled, enrollAgentAt } from '../helpers/enrollment.ts'
import { connectFakeAgent, type FakeAgent, waitFor } from '../helpers/fake-agent.ts'
import { camera, heartbeat } from '../helpers/heartbeats.ts'
import { issueTestLicense } from '../helpers/licenses.ts'
import { createTenantWithAdmin, startTestHub, type TestHub, userWithRole } from '../helpers/test-hub.ts'

/**
 * Fleet alarms (issue 16) against the real conditions as the hub sees them: an agent's heartbeats
 * over MQTT (a fake agent speaking the real protocol), its presence, its clock against the hub's,
 * its events, object events, the tenant's license. Evaluation is driven by the test with an
 * explicit clock (`alarms.evaluate(now)`), so no assertion waits on a timer; the webhook receiver
 * checks every delivery's signature.
 */
let t: TestHub
let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
let north: string
let south: string
let enrolled: Enrolled
let agent: FakeAgent
let door: string
let seq = 0
let operator: { id: string; token: string }
let southOperator: { id: string; token: string }
let viewer: { id: string; token: string }
let channelId: string
const SECRET = 'webhook-secret-for-alarms'

interface Delivery {
  body: { event: string; alarm: Record<string, any> }
  raw: string
  signature: string | undefined
  delivery: string | undefined
}
const received: Delivery[] = []
let receiver: http.Server
/** While set, the receiver answers 503 and notes the delivery ids it refused. */
let receiverDown = false
const refused: string[] = []

const now = () => Date.now()
const iso = (ms = now()) => new Date(ms).toISOString()

/** A heartbeat as the agent sends it; each call a new outbox record. */
const health = (over: Record<string, unknown> = {}) => heartbeat(++seq, [camera(door)], over)

const beat = (over: Record<string, unknown> = {}) => agent.publishBatch([health(over)])
const evaluate = (atMs = now()) => t.hub.context.alarms.evaluate(atMs)

async function rule(body: Record<string, unknown>): Promise<string> {
  const res = await t.request('POST', '/api/v1/alarm-rules', {
    token: acme.token,
    body: { priority: 2, channels: [channelId], scope: { type: 'tenant' }, params: {}, ...body },
  })
  expect(res.status, res.text).toBe(201)
  return res.body.id
}

async function alarmsOf(ruleId: string, token = acme.token) {
  const res = await t.request('GET', '/api/v1/alarms?limit=500', { token })
  expect(res.status, res.text).toBe(200)
  return (res.body.items as any[]).filter((a) => a.ruleId === ruleId)
}

const active = async (ruleId: string) => (await alarmsOf(ruleId)).filter((a) => a.state !== 'closed')

/** Polls `probe` until `ok` holds (what the hub does after a commit is not awaited by the agent's ack). */
async function until<T>(probe: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 15_000
  for (;;) {
    const value = await probe()
    if (ok(value)) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** Waits for a webhook delivery of this alarm and event (they are delivered at least once). */
const delivered = (alarmId: string, event: string) =>
  waitFor(
    () => received.find((d) => d.body.alarm.id === alarmId && d.body.event === event),
    `${event} delivery of ${alarmId}`,
    15_000,
  )

async function deleteRule(id: string) {
  const res = await t.request('DELETE', `/api/v1/alarm-rules/${id}`, { token: acme.token })
  expect(res.status, res.text).toBe(204)
}

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (receiverDown) {
        refused.push(String(req.headers['x-vms-delivery']))
        res.writeHead(503).end()
        return
      }
      const raw = Buffer.concat(chunks).toString('utf8')
      received.push({
        body: JSON.parse(raw),
        raw,
        signature: req.headers['x-vms-signature'] as string | undefined,
        delivery: req.headers['x-vms-delivery'] as string | undefined,
      })
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r))
  t = await startTestHub({
    VMS_ALARM_EVAL_MS: 600_000,
    VMS_WEBHOOK_ALLOW_PRIVATE: true,
    VMS_NOTIFY_POLL_MS: 50,
    VMS_NOTIFY_RETRY_BASE_MS: 20,
  })
  acme = await createTenantWithAdmin(t, 'acme-alarms')
  const lic = await t.request('PUT', '/api/v1/license', {
    token: acme.token,
    rawBody: await issueTestLicense(),
    headers: { 'content-type': 'text/plain' },
  })
  expect(lic.status, lic.text).toBe(200)
  north = (await t.request('POST', '/api/v1/sites', { token: acme.token, body: { name: 'North' } })).body.id
  south = (await t.request('POST', '/api/v1/sites', { token: acme.token, body: { name: 'South' } })).body.id
  enrolled = await enrollAgentAt(t, north, acme.token, 'north-pc')
  const made = async (name: string, siteId: string, agentId?: string) => {
    const res = await t.request('POST', '/api/v1/cameras', {
      token: acme.token,
      body: {
        name,
        siteId,
        ...(agentId ? { agentId } : {}),
        streams: [{ role: 'main', url: `rtsp://10.0.0.1/${name}` }],
      },
    })
    expect(res.status, res.text).toBe(201)
    return res.body.id as string
  }
  door = await made('Door', north, enrolled.agentId)
  await made('Dock', south) // South has a camera (without an agent: nothing is known of it)
  operator = await userWithRole(t, 'acme-alarms', acme.token, 'alarm-op', 'operator', { type: 'tenant' })
  southOperator = await userWithRole(t, 'acme-alarms', acme.token, 'south-op', 'operator', {
    type: 'site',
    id: south,
  })
  viewer = await userWithRole(t, 'acme-alarms', acme.token, 'alarm-viewer', 'viewer', { type: 'tenant' })
  const channel = await t.request('POST', '/api/v1/notification-channels', {
    token: acme.token,
    body: {
      name: 'SOC webhook',
      type: 'webhook',
      url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alarms`,
      secret: SECRET,
    },
  })
  expect(channel.status, channel.text).toBe(201)
  channelId = channel.body.id
  agent = await connectFakeAgent(enrolled)
  await beat()
}, 60_000)

afterAll(async () => {
  await agent?.close()
  await t?.close()
  await new Promise<void>((r) => receiver?.close(() => r()))
})

describe('alarm rules', () => {
  it('take the exact body, fill defaults, and refuse what is invalid with 400, never 500', async () => {
    const made = await t.request('POST', '/api/v1/alarm-rules', {
      token: acme.token,
      body: {
        name: 'Cameras down',
        kind: 'camera.offline',
        scope: { type: 'site', id: north },
        params: {},
        priority: 1,
        channels: [channelId],
        enabled: true,
      },
    })
    expect(made.status, made.text).toBe(201)
    expect(made.body).toMatchObject({
      name: 'Cameras down',
      kind: 'camera.offline',
      scope: { type: 'site', id: north },
      params: { seconds: 60 },
      priority: 1,
      channels: [channelId],
      enabled: true,
    })
    const bad: [string, Record<string, unknown>][] = [
      ['unknown kind', { kind: 'camera.exploded' }],
      ['priority 4', { priority: 4 }],
      ['negative seconds', { params: { seconds: -1 } }],
      ['unknown parameter', { params: { seconds: 60, colour: 'red' } }],
      ['tenant scope with an id', { scope: { type: 'tenant', id: north } }],
      ['site scope without an id', { scope: { type: 'site' } }],
      ['unknown channel', { channels: [randomUUID()] }],
      ['NUL-only name', { name: '\u0000' }],
      ['huge name', { name: 'x'.repeat(100_000) }],
      ['lone surrogate', { name: 'a\ud800b', params: { seconds: '\ud800' } }],
    ]
    for (const [what, over] of bad) {
      const res = await t.request('POST', '/api/v1/alarm-rules', {
        token: acme.token,
        body: { name: 'Bad', kind: 'camera.offline', scope: { type: 'tenant' }, priority: 2, ...over },
      })
      expect(res.status, `${what}: ${res.text}`).toBe(400)
    }
    const zone = await t.request('POST', '/api/v1/alarm-rules', {
      token: acme.token,
      body: {
        name: 'Zone',
        kind: 'object.zone',
        scope: { type: 'tenant' },
        priority: 2,
        params: { zone: 'x' },
      },
    })
    expect(zone.status).toBe(400)
    expect(JSON.stringify(zone.body.error.details)).toContain('params.label')
    await deleteRule(made.body.id)
  })

  it('are managed only with alarm.manage on their scope, and not seen by other tenants', async () => {
    const id = await rule({ name: 'Agents away', kind: 'agent.offline' })
    const asOperator = await t.request('POST', '/api/v1/alarm-rules', {
      token: operator.token,
      body: { name: 'Mine', kind: 'agent.offline', scope: { type: 'tenant' }, priority: 1 },
    })
    expect(asOperator.status).toBe(403)
    // Handlers read the rules; they cannot change them.
    expect((await t.request('GET', `/api/v1/alarm-rules/${id}`, { token: operator.token })).status).toBe(200)
    const patch = await t.request('PATCH', `/api/v1/alarm-rules/${id}`, {
      token: operator.token,
      body: { priority: 1 },
    })
    expect(patch.status).toBe(403)
    expect((await t.request('GET', `/api/v1/alarm-rules/${id}`, { token: viewer.token })).status).toBe(404)
    const globex = await createTenantWithAdmin(t, 'globex-alarms')
    expect((await t.request('GET', `/api/v1/alarm-rules/${id}`, { token: globex.token })).status).toBe(404)
    const foreign = await t.request('POST', '/api/v1/alarm-rules', {
      token: globex.token,
      body: { name: 'Theirs', kind: 'camera.offline', scope: { type: 'camera', id: door }, priority: 1 },
    })
    expect(foreign.status).toBe(404)
    const list = await t.request('GET', '/api/v1/alarm-rules', { token: globex.token })
    expect(list.body.total).toBe(0)
    const renamed = await t.request('PATCH', `/api/v1/alarm-rules/${id}`, {
      token: acme.token,
      body: { name: 'Agents gone', priority: 3 },
    })
    expect(renamed.status, renamed.text).toBe(200)
    expect(renamed.body).toMatchObject({ name: 'Agents gone', priority: 3, kind: 'agent.offline' })
    const audit = await t.db.adminQuery(`select action from audit_events where target_id = $1 order by seq`, [
      id,
    ])
    expect(audit.rows.map((r) => r.action)).toEqual(['alarm-rule.create', 'alarm-rule.update'])
    await deleteRule(id)
  })
})

describe('alarms', () => {
  it('camera.offline opens after its seconds, notifies signed, is acknowledged, closes when the camera is back, reopens on a flap', async () => {
    const id = await rule({ name: 'Door down', kind: 'camera.offline', priority: 1, params: { seconds: 60 } })
    await beat({
      cameras: [camera(door, {}, { state: 'backoff', error: 'connection refused', recording: false })],
    })
    const t0 = now()
    await evaluate(t0)
    expect(await active(id)).toEqual([]) // held for 60 s first
    await evaluate(t0 + 30_000)
    expect(await active(id)).toEqual([])
    await evaluate(t0 + 61_000)
    const [opened] = await active(id)
    expect(opened).toMatchObject({
      ruleId: id,
      kind: 'camera.offline',
      priority: 1,
      state: 'open',
      siteId: north,
      agentId: enrolled.agentId,
      cameraId: door,
      count: 1,
      acknowledgedBy: null,
      acknowledgedAt: null,
      closedAt: null,
      ruleName: 'Door down',
      cameraName: 'Door',
      siteName: 'North',
    })
    expect(opened.details).toMatchObject({ error: 'connection refused' })
    // Evaluating again while it holds: still one alarm, count unchanged (no flood).
    await evaluate(t0 + 70_000)
    expect(await active(id)).toHaveLength(1)

    const hook = await delivered(opened.id, 'opened')
    const expected = `sha256=${createHmac('sha256', SECRET).update(hook.raw).digest('hex')}`
    expect(hook.signature).toBe(expected)
    expect(hook.delivery).toMatch(/^[0-9a-f-]{36}$/)
    expect(Object.keys(hook.body)).toEqual(['event', 'alarm'])
    expect(hook.body.alarm).toMatchObject({
      id: opened.id,
      kind: 'camera.offline',
      state: 'open',
      cameraId: door,
    })

    // The badge count and the metric.
    const list = await t.request('GET', '/api/v1/alarms?state=open', { token: operator.token })
    expect(list.body.open).toBeGreaterThanOrEqual(1)
    const metrics = await t.request('GET', '/metrics', { token: await t.adminToken() })
    expect(metrics.text).toMatch(/vms_alarms_open\{[^}]*priority="1"[^}]*\} [1-9]/)

    // Acknowledged with a comment by an operator; audited; notified.
    const ack = await t.request('POST', `/api/v1/alarms/${opened.id}/acknowledge`, {
      token: operator.token,
      body: { comment: 'Calling the store\u0007 now' },
    })
    expect(ack.status, ack.text).toBe(200)
    expect(ack.body).toMatchObject({
      state: 'acknowledged',
      acknowledgedBy: operator.id,
      acknowledgedByName: 'alarm-op',
      acknowledgeComment: 'Calling the store now',
    })
    expect(ack.body.acknowledgedAt).toBeTruthy()
    await delivered(opened.id, 'acknowledged')

    // The camera streams again: closed by the hub.
    await beat()
    await evaluate(t0 + 80_000)
    const [closed] = await alarmsOf(id)
    expect(closed).toMatchObject({ id: opened.id, state: 'closed', closedBy: null })
    expect(closed.clearedAt).toBeTruthy()
    await delivered(opened.id, 'closed')

    // Down again within minutes: the same alarm reopens (count 2), not a second one.
    await beat({ cameras: [camera(door, {}, { state: 'backoff', recording: false })] })
    await evaluate(t0 + 90_000)
    await evaluate(t0 + 160_000)
    const again = await alarmsOf(id)
    expect(again).toHaveLength(1)
    expect(again[0]).toMatchObject({ id: opened.id, state: 'open', count: 2, acknowledgedBy: null })
    await delivered(opened.id, 'reopened')

    // Closed by hand with a comment; audited with the user.
    const shut = await t.request('POST', `/api/v1/alarms/${opened.id}/close`, {
      token: operator.token,
      body: { comment: 'Camera replaced' },
    })
    expect(shut.status, shut.text).toBe(200)
    expect(shut.body).toMatchObject({
      state: 'closed',
      closedBy: operator.id,
      closeComment: 'Camera replaced',
    })
    const audit = await t.db.adminQuery(
      `select action, actor_type, actor_id from audit_events where target_type = 'alarm' and target_id = $1 order by seq`,
      [opened.id],
    )
    expect(audit.rows.map((r) => r.action)).toEqual([
      'alarm.open',
      'alarm.acknowledge',
      'alarm.close',
      'alarm.reopen',
      'alarm.close',
    ])
    expect(audit.rows[1]).toMatchObject({ actor_type: 'user', actor_id: operator.id })
    expect(audit.rows[0]).toMatchObject({ actor_type: 'system' })
    // One delivery id per change: redeliveries (at least once) repeat their change's id only.
    const mine = received.filter((d) => d.body.alarm.id === opened.id)
    const changeOf = new Map<string, string>()
    for (const d of mine) {
      const change = `${d.body.event}:${d.body.alarm.count}:${d.body.alarm.state}:${d.body.alarm.lastSeenAt}`
      expect(changeOf.get(d.delivery as string) ?? change).toBe(change)
      changeOf.set(d.delivery as string, change)
    }
    await beat()
    await deleteRule(id)
  })

  it('are seen and handled only with alarm.handle where they are', async () => {
    const id = await rule({ name: 'Disk', kind: 'disk.full', params: { percent: 90 } })
    await beat({ disk: { freeBytes: 20, totalBytes: 1000 } })
    await evaluate()
    const [a] = await active(id)
    expect(a).toMatchObject({ kind: 'disk.full', agentId: enrolled.agentId, siteId: north, cameraId: null })
    expect(a.details).toMatchObject({ usedPercent: 98, reason: 'disk' })
    // A viewer has no alarm.handle; a South operator does not see North's alarms.
    for (const token of [viewer.token, southOperator.token]) {
      const list = await t.request('GET', '/api/v1/alarms', { token })
      expect(list.body.items.find((x: any) => x.id === a.id)).toBeUndefined()
      const ack = await t.request('POST', `/api/v1/alarms/${a.id}/acknowledge`, { token, body: {} })
      expect(ack.status).toBe(404)
    }
    const globex = await createTenantWithAdmin(t, 'globex-alarms-2')
    expect((await t.request('GET', `/api/v1/alarms/${a.id}`, { token: globex.token })).status).toBe(404)
    const hostile = await t.request('POST', `/api/v1/alarms/${a.id}/acknowledge`, {
      token: operator.token,
      body: { comment: 'x'.repeat(100_000) },
    })
    expect(hostile.status).toBe(400)
    expect(
      (await t.request('POST', `/api/v1/alarms/not-a-uuid/close`, { token: operator.token, body: {} }))
        .status,
    ).toBe(404) // not an alarm id: no such route
    // Filters.
    const filtered = await t.request(
      'GET',
      `/api/v1/alarms?state=open,acknowledged&siteId=${north}&priority=2`,
      {
        token: operator.token,
      },
    )
    expect(filtered.body.items.map((x: any) => x.id)).toContain(a.id)
    const other = await t.request('GET', `/api/v1/alarms?siteId=${south}`, { token: operator.token })
    expect(other.body.items.map((x: any) => x.id)).not.toContain(a.id)
    // Evidence locks crowding the recording quota alarm too.
    await beat({ recording: { bytes: 100, quotaBytes: 100, lockedBytes: 95 } })
    await evaluate()
    const [crowded] = await active(id)
    expect(crowded?.details).toMatchObject({
      lockedPercent: 95,
      reason: 'evidence locks fill the recording quota',
    })
    await beat()
    await evaluate()
    expect(await active(id)).toEqual([])
    await deleteRule(id)
  })

  it('agent.offline opens when the agent stopped for its seconds and closes when it is back', async () => {
    const id = await rule({ name: 'Agent away', kind: 'agent.offline', params: { seconds: 120 } })
    await agent.close()
    await until(
      async () =>
        (await t.db.adminQuery('select status from agents where id = $1', [enrolled.agentId])).rows[0]
          ?.status,
      (status) => status === 'offline',
      'the agent offline',
    )
    await evaluate()
    expect(await active(id)).toEqual([]) // away, but not for 120 s yet
    await evaluate(now() + 121_000)
    const [a] = await active(id)
    expect(a).toMatchObject({ kind: 'agent.offline', agentId: enrolled.agentId, state: 'open' })
    await delivered(a.id, 'opened')
    agent = await connectFakeAgent(enrolled)
    await beat()
    await evaluate()
    expect(await active(id)).toEqual([])
    await delivered(a.id, 'closed')
    await deleteRule(id)
  })

  it('clock.drift opens on a skewed agent clock and closes when it is right again', async () => {
    const id = await rule({ name: 'Clock', kind: 'clock.drift', params: { seconds: 2, forSeconds: 0 } })
    await agent.publishBatch([health()], undefined, new Date(now() + 10_000))
    await evaluate()
    const [a] = await active(id)
    expect(a?.kind).toBe('clock.drift')
    expect(a?.details.offsetMs).toBeGreaterThan(9000)
    expect(a?.details.offsetMs).toBeLessThan(11_000)
    await agent.publishBatch([health()], undefined, new Date())
    await evaluate()
    expect(await active(id)).toEqual([])
    // A drift must persist: with forSeconds one skewed batch is pending, not an alarm.
    const held = await rule({
      name: 'Clock held',
      kind: 'clock.drift',
      params: { seconds: 2, forSeconds: 30 },
    })
    await agent.publishBatch([health()], undefined, new Date(now() - 5000))
    const t0 = now()
    await evaluate(t0)
    expect(await active(held)).toEqual([])
    await evaluate(t0 + 31_000)
    expect(await active(held)).toHaveLength(1)
    await agent.publishBatch([health()], undefined, new Date())
    await evaluate(t0 + 32_000)
    expect(await active(held)).toEqual([])
    await deleteRule(id)
    await deleteRule(held)
  })

  it('outbox.backlog, recording.stopped and retention.short follow the heartbeat', async () => {
    const backlog = await rule({ name: 'Backlog', kind: 'outbox.backlog', params: { seconds: 300 } })
    const stopped = await rule({ name: 'Not writing', kind: 'recording.stopped', params: { seconds: 60 } })
    const short = await rule({ name: 'Short', kind: 'retention.short', scope: { type: 'camera', id: door } })
    await beat({
      outbox: { depth: 5000, bytes: 1e6, full: false, oldestAgeSeconds: 900 },
      cameras: [
        camera(
          door,
          { retention: { oldestAt: iso(now() - 2 * 86_400_000), evictedForSpaceAt: iso() } },
          { recording: true, lastWrittenAt: iso(now() - 600_000) },
        ),
      ],
    })
    const t0 = now()
    await evaluate(t0)
    expect((await active(backlog))[0]?.details).toMatchObject({ oldestAgeSeconds: 900, depth: 5000 })
    expect((await active(short))[0]?.details).toMatchObject({ keptDays: 2, retentionDays: 30 })
    expect(await active(stopped)).toEqual([]) // held 60 s
    await evaluate(t0 + 61_000)
    const [s] = await active(stopped)
    expect(s).toMatchObject({ kind: 'recording.stopped', cameraId: door })
    await beat()
    await evaluate(t0 + 62_000)
    expect(await active(backlog)).toEqual([])
    expect(await active(stopped)).toEqual([])
    expect(await active(short)).toEqual([])
    for (const id of [backlog, stopped, short]) await deleteRule(id)
  })

  it('license.expiring opens within its days', async () => {
    const id = await rule({ name: 'Licence', kind: 'license.expiring', params: { days: 14 } })
    await evaluate()
    expect(await active(id)).toEqual([])
    const soon = Math.floor(now() / 1000) + 5 * 86_400
    const lic = await t.request('PUT', '/api/v1/license', {
      token: acme.token,
      rawBody: await issueTestLicense({ exp: soon }),
      headers: { 'content-type': 'text/plain' },
    })
    expect(lic.status, lic.text).toBe(200)
    await evaluate()
    const [a] = await active(id)
    expect(a).toMatchObject({ kind: 'license.expiring', siteId: null, cameraId: null })
    expect(a.details.daysLeft).toBe(5)
    // Only tenant-wide handlers see a tenant's alarm.
    const south = await t.request('GET', '/api/v1/alarms', { token: southOperator.token })
    expect(south.body.items.find((x: any) => x.id === a.id)).toBeUndefined()
    await t.request('PUT', '/api/v1/license', {
      token: acme.token,
      rawBody: await issueTestLicense(),
      headers: { 'content-type': 'text/plain' },
    })
    await evaluate()
    expect(await active(id)).toEqual([])
    await deleteRule(id)
  })

  it('recording.gap counts each gap the agent reports and closes once quiet', async () => {
    const id = await rule({ name: 'Gaps', kind: 'recording.gap', params: { seconds: 10, quietSeconds: 600 } })
    const gap = (ms: number) => ({
      seq: ++seq,
      type: 'event',
      at: iso(),
      body: {
        type: 'recording.gap',
        cameraId: door,
        data: { stream: 'main', from: iso(now() - ms), to: iso(), durationMs: ms, reason: 'stream lost' },
      },
    })
    await agent.publishBatch([gap(3000)]) // shorter than 10 s: nothing
    await agent.publishBatch([gap(30_000)])
    const [a] = await until(
      () => active(id),
      (x) => x.length > 0,
      'the gap alarm',
    )
    expect(a).toMatchObject({ kind: 'recording.gap', cameraId: door, count: 1 })
    await agent.publishBatch([gap(45_000)])
    const [b] = await until(
      () => active(id),
      (x) => x[0]?.count === 2,
      'the second gap',
    )
    expect(b).toMatchObject({ id: a.id, count: 2 })
    await evaluate(now() + 601_000)
    expect(await active(id)).toEqual([])
    await deleteRule(id)
  })

  it('object.zone opens for a person in the stockroom during the night schedule and closes when they leave', async () => {
    await t.request('PATCH', `/api/v1/sites/${north}`, {
      token: acme.token,
      body: { timeZone: 'Europe/Paris' },
    })
    const id = await rule({
      name: 'Stockroom at night',
      kind: 'object.zone',
      priority: 1,
      scope: { type: 'site', id: north },
      params: {
        label: 'person',
        zone: 'stockroom',
        schedule: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '22:00', to: '06:00' }],
      },
    })
    const object = (
      eventId: string,
      kind: string,
      startTime: string,
      over: Record<string, unknown> = {},
    ) => ({
      seq: ++seq,
      type: 'event',
      at: iso(),
      body: {
        type: 'object',
        cameraId: door,
        data: {
          eventId,
          kind,
          reason: ['zone'],
          label: 'person',
          score: 0.9,
          startTime,
          endTime: null,
          zones: ['stockroom'],
          box: [0.1, 0.1, 0.3, 0.5],
          stationary: false,
          loitering: false,
          hasSnapshot: true,
          ...over,
        },
      },
    })
    const poll = (want: (a: any[]) => boolean) => until(() => alarmsOf(id), want, 'the zone alarm')
    // Monday 2026-11-30 14:00 in Paris: outside the window.
    const day = randomUUID()
    await agent.publishBatch([object(day, 'new', '2026-11-30T13:00:00.000Z')])
    // A cat at night in the stockroom: another label.
    const cat = randomUUID()
    await agent.publishBatch([object(cat, 'new', '2026-11-30T22:00:00.000Z', { label: 'cat' })])
    // The schedule is reached: Monday 23:30 in Paris.
    const night = randomUUID()
    await agent.publishBatch([object(night, 'new', '2026-11-30T22:30:00.000Z')])
    const [a] = await poll((x) => x.length > 0)
    expect(a).toMatchObject({ kind: 'object.zone', cameraId: door, siteId: north, count: 1, priority: 1 })
    expect(a.details).toMatchObject({ label: 'person', zone: 'stockroom', eventId: night, hasSnapshot: true })
    expect(await alarmsOf(id)).toHaveLength(1) // neither the day person nor the cat
    // An update of the same person is not a new occurrence; a second person is.
    await agent.publishBatch([object(night, 'update', '2026-11-30T22:30:00.000Z')])
    const second = randomUUID()
    await agent.publishBatch([object(second, 'new', '2026-11-30T22:31:00.000Z')])
    await poll((x) => x[0]?.count === 2)
    expect((await alarmsOf(id))[0]).toMatchObject({ id: a.id, count: 2, state: 'open' })
    // Both leave: the condition clears.
    await agent.publishBatch([
      object(night, 'end', '2026-11-30T22:30:00.000Z', { endTime: '2026-11-30T22:40:00.000Z' }),
    ])
    expect((await poll((x) => x[0]?.details.activeObjects?.length === 1))[0].state).toBe('open')
    await agent.publishBatch([
      object(second, 'end', '2026-11-30T22:31:00.000Z', { endTime: '2026-11-30T22:41:00.000Z' }),
    ])
    const [closed] = await poll((x) => x[0]?.state === 'closed')
    expect(closed).toMatchObject({ id: a.id, state: 'closed' })
    await delivered(a.id, 'opened')
    await delivered(a.id, 'closed')
    await deleteRule(id)
  })

  it('changing what a rule watches closes its alarms; deleting it keeps them as history', async () => {
    const id = await rule({ name: 'Disk again', kind: 'disk.full', params: { percent: 50 } })
    await beat({ disk: { freeBytes: 100, totalBytes: 1000 } })
    await evaluate()
    const [a] = await active(id)
    expect(a).toBeTruthy()
    const patched = await t.request('PATCH', `/api/v1/alarm-rules/${id}`, {
      token: acme.token,
      body: { params: { percent: 95 } },
    })
    expect(patched.status, patched.text).toBe(200)
    expect(patched.body.params).toEqual({ percent: 95 })
    const after = await t.request('GET', `/api/v1/alarms/${a.id}`, { token: acme.token })
    expect(after.body).toMatchObject({ state: 'closed', closeComment: 'the rule changed' })
    await evaluate()
    expect(await active(id)).toEqual([]) // 90 % used is under 95 %
    await deleteRule(id)
    const kept = await t.request('GET', `/api/v1/alarms/${a.id}`, { token: acme.token })
    expect(kept.body).toMatchObject({ id: a.id, ruleId: null, state: 'closed' })
    await beat()
  })
  it('a hub restart between an alarm and its delivery loses nothing; a redelivery repeats its id', async () => {
    // The first retry ten minutes after a failure: the restart comes first.
    await t.restart({ VMS_NOTIFY_RETRY_BASE_MS: 600_000 })
    receiverDown = true
    const id = await rule({ name: 'Licence this year', kind: 'license.expiring', params: { days: 365 } })
    await evaluate()
    const [a] = await active(id)
    expect(a?.kind).toBe('license.expiring')
    const row = await until(
      async () =>
        (
          await t.db.adminQuery(
            'select id, state, attempts from notification_deliveries where alarm_id = $1',
            [a.id],
          )
        ).rows[0],
      (r) => Number(r?.attempts) >= 1,
      'the first, failed attempt',
    )
    if (!row) throw new Error('no delivery')
    expect(row).toMatchObject({ state: 'pending' })
    expect(refused).toContain(row.id)
    await t.restart()
    receiverDown = false
    // Its retry time comes (set here: it is ten minutes away), on the new hub.
    await t.db.adminQuery(`update notification_deliveries set next_attempt_at = now() where id = $1`, [
      row.id,
    ])
    const hook = await delivered(a.id, 'opened')
    expect(hook.delivery).toBe(row.id)
    expect(hook.signature).toBe(`sha256=${createHmac('sha256', SECRET).update(hook.raw).digest('hex')}`)
    await until(
      async () =>
        (await t.db.adminQuery('select state from notification_deliveries where id = $1', [row.id])).rows[0]
          ?.state,
      (state) => state === 'delivered',
      'the delivery recorded',
    )
    await deleteRule(id)
  })
})
