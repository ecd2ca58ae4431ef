import { createHash, randomUUID } from 'node:crypto'
import type { DownRequest } from '@ts-vms/shared'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Enrolled, enrollAgentAt } from '../helpers/enrollment.ts'
import { type Answer, connectFakeAgent, type FakeAgent } from '../helpers/fake-agent.ts'
import { createTenantWithAdmin, startTestHub, type TestHub, userWithRole } from '../helpers/test-hub.ts'

/**
 * The events API for edge analytics (issue 13): filters, one event, its snapshot (hub cache, or
 * fetched from the agent that saw it) and clip (an export), and a camera's activity buckets. A fake
 * agent answers the hub's requests over MQTT and uploads exports over HTTP, as the real one does.
 */
let t: TestHub
let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
let north: Enrolled
let agent: FakeAgent
const ids: Record<string, string> = {}
const tokens: Record<string, string> = {}
/** Event row ids by name. */
const ev: Record<string, string> = {}

/** What the fake agent answers to `analytics.snapshot`, by object id. */
const snapshots = new Map<string, Buffer | 'unknown'>()
const CLIP = Buffer.from('fake mp4 bytes of a clip')

/** A tiny JPEG-looking payload (SOI marker first, EOI last): the hub checks the marker only. */
const jpeg = (tag: string) =>
  Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from(tag), Buffer.from([0xff, 0xd9])])

const enroll = (siteId: string) => enrollAgentAt(t, siteId, acme.token)

async function camera(name: string, siteId: string, agentId: string): Promise<string> {
  const res = await t.request('POST', '/api/v1/cameras', {
    token: acme.token,
    body: { name, siteId, agentId, streams: [{ role: 'main', url: `rtsp://10.0.0.1/${name}` }] },
  })
  expect(res.status, res.text).toBe(201)
  return res.body.id
}

let seq = 0
async function insertEvent(
  name: string,
  cameraId: string | null,
  type: string,
  time: string,
  data: Record<string, unknown>,
  objectId: string | null = null,
  siteId = ids.North,
) {
  const { rows } = await t.db.adminQuery(
    `insert into events (tenant_id, agent_id, site_id, camera_id, seq, type, time, data, object_id)
     values ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9) returning id`,
    [acme.tenantId, north.agentId, siteId, cameraId, ++seq, type, time, JSON.stringify(data), objectId],
  )
  ev[name] = String(rows[0]?.id)
}

const objectData = (label: string, over: Record<string, unknown> = {}) => ({
  label,
  score: 0.8,
  startTime: '2026-11-20T10:00:05.000Z',
  endTime: '2026-11-20T10:00:35.000Z',
  zones: [],
  box: [0.1, 0.2, 0.3, 0.6],
  stationary: false,
  loitering: false,
  hasSnapshot: true,
  ...over,
})

/** The fake agent: answers snapshots from `snapshots` and exports by uploading CLIP. */
async function answer(r: DownRequest): Promise<Answer | undefined> {
  if (r.op === 'analytics.snapshot') {
    const s = snapshots.get(r.eventId)
    if (!s || s === 'unknown')
      return { ok: false, error: { status: 404, code: 'snapshot_unknown', message: 'none' } }
    return {
      ok: true,
      result: { contentType: 'image/jpeg', base64: s.toString('base64'), width: 640, height: 360 },
    }
  }
  if (r.op === 'recordings.export') {
    const meta = {
      sha256: createHash('sha256').update(CLIP).digest('hex'),
      bytes: CLIP.length,
      start: r.from,
      end: r.to,
      frames: 10,
      codec: 'avc1.640028',
      width: 640,
      height: 360,
      segments: 1,
    }
    await fetch(t.url + r.uploadPath, {
      method: 'PUT',
      headers: {
        authorization: `Basic ${Buffer.from(`${north.agentId}:${north.secret}`).toString('base64')}`,
        'content-type': 'video/mp4',
        'x-vms-export': JSON.stringify(meta),
      },
      body: CLIP,
    })
  }
  return undefined
}

const setAgentStatus = (status: 'online' | 'offline') =>
  t.db.adminQuery('update agents set status = $1 where id = $2', [status, north.agentId])

beforeAll(async () => {
  t = await startTestHub()
  acme = await createTenantWithAdmin(t, 'acme')
  for (const name of ['North', 'South'])
    ids[name] = (await t.request('POST', '/api/v1/sites', { token: acme.token, body: { name } })).body.id
  north = await enroll(ids.North as string)
  ids.Door = await camera('Door', ids.North as string, north.agentId)
  ids.Till = await camera('Till', ids.North as string, north.agentId)
  agent = await connectFakeAgent(north, { onRequest: answer })

  ids.personActive = randomUUID()
  ids.personDone = randomUUID()
  ids.car = randomUUID()
  ids.tillPerson = randomUUID()
  ids.noSnap = randomUUID()
  await insertEvent(
    'personActive',
    ids.Door,
    'object',
    '2026-11-20T10:00:05.000Z',
    objectData('person', { zones: ['entrance', 'till'], endTime: null }),
    ids.personActive,
  )
  await insertEvent(
    'personDone',
    ids.Door,
    'object',
    '2026-11-20T10:01:10.000Z',
    objectData('person', {
      startTime: '2026-11-20T10:01:10.000Z',
      endTime: '2026-11-20T10:01:40.000Z',
      zones: ['till'],
    }),
    ids.personDone,
  )
  await insertEvent(
    'car',
    ids.Door,
    'object',
    '2026-11-20T10:01:20.000Z',
    objectData('car', { startTime: '2026-11-20T10:01:20.000Z', zones: ['entrance'] }),
    ids.car,
  )
  await insertEvent(
    'tillPerson',
    ids.Till,
    'object',
    '2026-11-20T10:00:07.000Z',
    objectData('person', { startTime: '2026-11-20T10:00:07.000Z' }),
    ids.tillPerson,
  )
  await insertEvent(
    'noSnap',
    ids.Door,
    'object',
    '2026-11-20T10:02:00.000Z',
    objectData('dog', { startTime: '2026-11-20T10:02:00.000Z', hasSnapshot: false }),
    ids.noSnap,
  )
  await insertEvent('motion', ids.Door, 'motion', '2026-11-20T10:00:06.000Z', { label: 'person' })

  tokens.doorViewer = (
    await userWithRole(t, 'acme', acme.token, 'door-viewer', 'viewer', { type: 'camera', id: ids.Door })
  ).token
  const role = await t.request('POST', '/api/v1/roles', {
    token: acme.token,
    body: { name: 'exporter', permissions: ['camera.export'] },
  })
  expect(role.status, role.text).toBe(201)
  tokens.doorExporter = (
    await userWithRole(t, 'acme', acme.token, 'door-exporter', 'exporter', { type: 'camera', id: ids.Door })
  ).token
}, 60_000)

afterAll(async () => {
  await agent?.close()
  await t?.close()
})

const list = async (query: string, token = acme.token) => {
  const res = await t.request('GET', `/api/v1/events?${query}`, { token })
  expect(res.status, res.text).toBe(200)
  return res.body.items.map((e: { id: string }) => Object.entries(ev).find(([, id]) => id === e.id)?.[0])
}

describe('GET /api/v1/events filters', () => {
  it('label, zone and active select object events', async () => {
    expect(await list('label=person')).toEqual(['personDone', 'tillPerson', 'personActive'])
    expect(await list(`label=person&cameraId=${ids.Door}`)).toEqual(['personDone', 'personActive'])
    expect(await list('zone=entrance')).toEqual(['car', 'personActive'])
    expect(await list('zone=till&label=person')).toEqual(['personDone', 'personActive'])
    expect(await list('active=true')).toEqual(['personActive'])
    expect(await list('active=false&label=person')).toEqual(['personDone', 'tillPerson'])
    expect(await list('label=horse')).toEqual([])
    // Without filters every event is there, the motion event too.
    // (and the hub's own agent.online, which is not one of ours: undefined here).
    expect((await list('')).filter(Boolean).sort()).toEqual(Object.keys(ev).sort())
  })

  it('keeps to what the caller sees', async () => {
    expect(await list('label=person', tokens.doorViewer)).toEqual(['personDone', 'personActive'])
  })

  it('answers hostile filter values 400, never 500', async () => {
    for (const q of [
      `label=${'x'.repeat(65)}`,
      'label=a%00b',
      'zone=%00',
      'label=',
      'active=yes',
      'label=a&label=b',
      'zone=%ED%A0%80',
    ]) {
      const res = await t.request('GET', `/api/v1/events?${q}`, { token: acme.token })
      // A lone surrogate cannot travel as UTF-8: the decoder makes it U+FFFD, a harmless filter.
      if (q.startsWith('zone=%ED')) expect(res.status, q).toBe(200)
      else expect(res.status, `${q}: ${res.text}`).toBe(400)
    }
  })
})

describe('GET /api/v1/events/:id', () => {
  it('answers a visible event, 404 otherwise', async () => {
    const one = await t.request('GET', `/api/v1/events/${ev.personActive}`, { token: tokens.doorViewer })
    expect(one.status, one.text).toBe(200)
    expect(one.body).toMatchObject({
      id: ev.personActive,
      type: 'object',
      cameraId: ids.Door,
      data: { label: 'person', endTime: null, zones: ['entrance', 'till'] },
    })
    const other = await t.request('GET', `/api/v1/events/${ev.tillPerson}`, { token: tokens.doorViewer })
    expect(other.status).toBe(404)
    for (const id of ['0', 'abc', '99999999999999999999', '9223372036854775807', '-1'])
      expect((await t.request('GET', `/api/v1/events/${id}`, { token: acme.token })).status, id).toBe(404)
  })
})

describe('GET /api/v1/events/:id/snapshot.jpg', () => {
  const snap = (id: string | undefined, query = '', token = acme.token) =>
    fetch(`${t.url}/api/v1/events/${id}/snapshot.jpg${query}`, {
      headers: { authorization: `Bearer ${token}` },
    })

  it('fetches from the agent once, then serves the cache even with the agent gone', async () => {
    snapshots.set(ids.personDone as string, jpeg('full'))
    const asked = () => agent.requests.filter((r) => r.op === 'analytics.snapshot').length
    const before = asked()
    const first = await snap(ev.personDone, '', tokens.doorViewer)
    expect(first.status).toBe(200)
    expect(first.headers.get('content-type')).toBe('image/jpeg')
    expect(first.headers.get('cache-control')).toBe('private, max-age=3600')
    expect(first.headers.get('x-cache')).toBe('miss')
    expect(Buffer.from(await first.arrayBuffer())).toEqual(jpeg('full'))
    expect(asked()).toBe(before + 1)
    const req = agent.requests.at(-1) as DownRequest & { op: 'analytics.snapshot' }
    expect(req).toMatchObject({ cameraId: ids.Door, eventId: ids.personDone, variant: 'full' })

    await setAgentStatus('offline')
    try {
      const again = await snap(ev.personDone)
      expect(again.status).toBe(200)
      expect(again.headers.get('x-cache')).toBe('hit')
      expect(Buffer.from(await again.arrayBuffer())).toEqual(jpeg('full'))
      expect(asked()).toBe(before + 1)
      // Another variant is not cached: the agent is needed and gone.
      const box = await snap(ev.personDone, '?box=true')
      expect(box.status).toBe(503)
      expect(((await box.json()) as { error: { code: string } }).error.code).toBe('agent_offline')
    } finally {
      await setAgentStatus('online')
    }
  })

  it('serves a snapshot put in the cache directly (variants kept apart)', async () => {
    await t.db.adminQuery(
      `insert into event_snapshots (event_id, variant, tenant_id, jpeg, width, height) values ($1, 'crop', $2, $3, 10, 10)`,
      [ev.car, acme.tenantId, jpeg('crop')],
    )
    const crop = await snap(ev.car, '?crop=true')
    expect(crop.status).toBe(200)
    expect(crop.headers.get('x-cache')).toBe('hit')
    expect(Buffer.from(await crop.arrayBuffer())).toEqual(jpeg('crop'))
  })

  it('audits a view once per user and event in a while, never per thumbnail load', async () => {
    const views = async () =>
      Number(
        (
          await t.db.adminQuery(
            "select count(*)::int as n from audit_events where action = 'camera.snapshot.view' and details->>'eventId' = $1",
            [ev.car],
          )
        ).rows[0]?.n,
      )
    const before = await views()
    for (let i = 0; i < 3; i++) expect((await snap(ev.car, '?crop=true')).status).toBe(200)
    const after = await views()
    expect(after - before).toBeLessThanOrEqual(1) // an earlier test may have viewed it already
    expect(after).toBeGreaterThanOrEqual(1)
    // Another user's view is its own record.
    expect((await snap(ev.car, '?crop=true', tokens.doorViewer)).status).toBe(200)
    expect(await views()).toBe(after + 1)
  })

  it('asks for the box variant and checks the answer is a JPEG', async () => {
    snapshots.set(ids.car as string, Buffer.from('<html>not a jpeg</html>'))
    const bad = await snap(ev.car, '?box=true')
    expect(bad.status).toBe(502)
    expect((agent.requests.at(-1) as { variant?: string }).variant).toBe('box')
    const cached = await t.db.adminQuery('select variant from event_snapshots where event_id = $1', [ev.car])
    expect(cached.rows.map((r) => r.variant)).toEqual(['crop'])
  })

  it('is 404 snapshot_unknown when the agent has none, and for events without one', async () => {
    snapshots.set(ids.personActive as string, 'unknown')
    const unknown = await snap(ev.personActive)
    expect(unknown.status).toBe(404)
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('snapshot_unknown')
    expect((await snap(ev.noSnap)).status).toBe(404)
    expect((await snap(ev.motion)).status).toBe(404)
    expect((await snap('424242')).status).toBe(404)
  })

  it('keeps to visibility and needs live or playback', async () => {
    snapshots.set(ids.tillPerson as string, jpeg('till'))
    expect((await snap(ev.tillPerson, '', tokens.doorViewer)).status).toBe(404)
    expect((await snap(ev.personDone, '', tokens.doorExporter)).status).toBe(403)
  })

  it('refuses box and crop together, and other values', async () => {
    expect((await snap(ev.personDone, '?box=true&crop=true')).status).toBe(400)
    expect((await snap(ev.personDone, '?box=1')).status).toBe(400)
  })
})

describe('GET /api/v1/events/:id/clip.mp4', () => {
  it('exports 5 s either side of the event, audited as an export', async () => {
    const res = await fetch(`${t.url}/api/v1/events/${ev.personDone}/clip.mp4`, {
      headers: { authorization: `Bearer ${tokens.doorExporter}` },
    })
    expect(res.status, await res.clone().text()).toBe(200)
    expect(res.headers.get('content-type')).toBe('video/mp4')
    expect(Buffer.from(await res.arrayBuffer())).toEqual(CLIP)
    const req = agent.requests.filter((r) => r.op === 'recordings.export').at(-1) as DownRequest & {
      op: 'recordings.export'
    }
    expect(req).toMatchObject({
      cameraId: ids.Door,
      from: '2026-11-20T10:01:05.000Z',
      to: '2026-11-20T10:01:45.000Z',
    })
    const exportId = res.headers.get('x-export-id')
    expect(exportId).toBeTruthy()
    const deadline = Date.now() + 10_000
    let details: Record<string, unknown> | undefined
    while (!details && Date.now() < deadline) {
      const { rows } = await t.db.adminQuery(
        "select details from audit_events where action = 'camera.export' and details->>'exportId' = $1",
        [exportId],
      )
      details = rows[0]?.details
      if (!details) await new Promise((r) => setTimeout(r, 50))
    }
    expect(details).toMatchObject({ eventId: ev.personDone, op: 'event.clip' })
  })

  it('caps an active event at 10 minutes, and needs camera.export', async () => {
    const viewer = await t.request('GET', `/api/v1/events/${ev.personActive}/clip.mp4`, {
      token: tokens.doorViewer,
    })
    expect(viewer.status).toBe(403)
    const res = await fetch(`${t.url}/api/v1/events/${ev.personActive}/clip.mp4`, {
      headers: { authorization: `Bearer ${acme.token}` },
    })
    expect(res.status).toBe(200)
    await res.arrayBuffer()
    const req = agent.requests.filter((r) => r.op === 'recordings.export').at(-1) as DownRequest & {
      op: 'recordings.export'
    }
    expect(req.from).toBe('2026-11-20T10:00:00.000Z')
    expect(req.to).toBe('2026-11-20T10:10:00.000Z')
    expect(
      (await t.request('GET', `/api/v1/events/${ev.motion}/clip.mp4`, { token: acme.token })).status,
    ).toBe(404)
    expect(
      (await t.request('GET', `/api/v1/events/${ev.tillPerson}/clip.mp4`, { token: tokens.doorExporter }))
        .status,
    ).toBe(404)
  })
})

describe('GET /api/v1/cameras/:id/activity', () => {
  beforeAll(async () => {
    for (const [start, seconds] of [
      ['2026-11-20T10:00:00.000Z', 2],
      ['2026-11-20T10:00:10.000Z', 3.5],
      ['2026-11-20T10:01:50.000Z', 10],
    ] as const)
      await t.db.adminQuery(
        'insert into camera_activity (tenant_id, camera_id, bucket_start, motion_seconds) values ($1, $2, $3, $4)',
        [acme.tenantId, ids.Door, start, seconds],
      )
  })
  const activity = (id: string | undefined, query: string, token = acme.token) =>
    t.request('GET', `/api/v1/cameras/${id}/activity?${query}`, { token })

  it('gives every bucket in order: motion summed, objects started in it by label', async () => {
    const res = await activity(
      ids.Door,
      'from=2026-11-20T10:00:00Z&to=2026-11-20T10:03:00Z',
      tokens.doorViewer,
    )
    expect(res.status, res.text).toBe(200)
    expect(res.body).toEqual({
      buckets: [
        { start: '2026-11-20T10:00:00.000Z', motionSeconds: 5.5, objects: { person: 1 } },
        { start: '2026-11-20T10:01:00.000Z', motionSeconds: 10, objects: { person: 1, car: 1 } },
        { start: '2026-11-20T10:02:00.000Z', motionSeconds: 0, objects: { dog: 1 } },
      ],
    })
    const fine = await activity(
      ids.Door,
      'from=2026-11-20T10:00:00Z&to=2026-11-20T10:00:30Z&bucketSeconds=10',
    )
    expect(fine.body.buckets).toEqual([
      { start: '2026-11-20T10:00:00.000Z', motionSeconds: 2, objects: { person: 1 } },
      { start: '2026-11-20T10:00:10.000Z', motionSeconds: 3.5, objects: {} },
      { start: '2026-11-20T10:00:20.000Z', motionSeconds: 0, objects: {} },
    ])
  })

  it('is 404 for a camera the caller does not see', async () => {
    const res = await activity(
      ids.Till,
      'from=2026-11-20T10:00:00Z&to=2026-11-20T10:03:00Z',
      tokens.doorViewer,
    )
    expect(res.status).toBe(404)
    expect((await activity(randomUUID(), 'from=2026-11-20T10:00:00Z&to=2026-11-20T10:03:00Z')).status).toBe(
      404,
    )
  })

  it('answers bad ranges and bucket sizes 400', async () => {
    for (const q of [
      'from=2026-11-20T10:00:00Z&to=2026-11-20T10:00:00Z',
      'from=2026-11-20T10:00:00Z&to=2026-11-20T09:00:00Z',
      'from=2026-11-20T10:00:00Z&to=2026-11-28T10:00:01Z&bucketSeconds=86400',
      'from=2026-11-20T10:00:00Z&to=2026-11-21T10:00:00Z&bucketSeconds=15',
      'from=2026-11-20T10:00:00Z&to=2026-11-21T10:00:00Z&bucketSeconds=0',
      'from=2026-11-20T10:00:00Z&to=2026-11-21T10:00:00Z&bucketSeconds=90000',
      'from=2026-11-20T10:00:00Z&to=2026-11-21T10:00:00Z&bucketSeconds=abc',
      // 1440 buckets is fine, 2880 is not.
      'from=2026-11-20T10:00:00Z&to=2026-11-22T10:00:00Z&bucketSeconds=60',
      'from=yesterday&to=2026-11-21T10:00:00Z',
      'to=2026-11-21T10:00:00Z',
    ]) {
      const res = await activity(ids.Door, q)
      expect(res.status, `${q}: ${res.text}`).toBe(400)
    }
    const ok = await activity(ids.Door, 'from=2026-11-20T10:00:00Z&to=2026-11-21T10:00:00Z&bucketSeconds=60')
    expect(ok.status).toBe(200)
    expect(ok.body.buckets).toHaveLength(1440)
  })
})

describe('OpenAPI', () => {
  it('documents the new routes', async () => {
    const res = await t.request('GET', '/api/v1/openapi.json', { token: acme.token })
    expect(res.status).toBe(200)
    for (const path of [
      '/api/v1/events',
      '/api/v1/events/{id}',
      '/api/v1/events/{id}/snapshot.jpg',
      '/api/v1/events/{id}/clip.mp4',
      '/api/v1/cameras/{id}/activity',
    ])
      expect(res.body.paths[path]?.get?.responses?.['200'], path).toBeDefined()
  })
})
