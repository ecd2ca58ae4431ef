import { randomUUID } from 'node:crypto'
import type { DownAck } from '@ts-vms/shared'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ObjectEventNotice } from '../../src/agents/ingest.ts'
import { type Enrolled, enrollAgentAt } from '../helpers/enrollment.ts'
import { openEventStream } from '../helpers/event-stream.ts'
import { connectFakeAgent, type FakeAgent, waitFor } from '../helpers/fake-agent.ts'
import { createTenantWithAdmin, startTestHub, type TestHub } from '../helpers/test-hub.ts'

/**
 * Object events and motion activity from an agent (issue 13): one row per tracked object, updated
 * in place in order and exactly once; motion seconds summed per 10 s bucket; nothing attributed to
 * a camera of another site. A fake agent publishes `up/messages` over MQTT as a real one does.
 */
let t: TestHub
let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
const ids: Record<string, string> = {}
let north: Enrolled
let agent: FakeAgent
const notices: ObjectEventNotice[] = []
let seq = 0

const enroll = (siteId: string) => enrollAgentAt(t, siteId, acme.token)

async function camera(name: string, siteId: string, agentId: string): Promise<string> {
  const res = await t.request('POST', '/api/v1/cameras', {
    token: acme.token,
    body: { name, siteId, agentId, streams: [{ role: 'main', url: `rtsp://10.0.0.1/${name}` }] },
  })
  expect(res.status, res.text).toBe(201)
  return res.body.id
}

/** Publishes a batch as the agent and waits for the ack covering `until` (its last seq by default). */
const publish = (messages: Record<string, unknown>[], until?: number): Promise<DownAck> =>
  agent.publishBatch(messages, until)

const at = () => new Date().toISOString()
const START = '2026-11-30T10:00:00.000Z'

function objectData(eventId: string, kind: 'new' | 'update' | 'end', over: Record<string, unknown> = {}) {
  return {
    eventId,
    kind,
    reason: [kind === 'new' ? 'threshold' : kind === 'end' ? 'gone' : 'zone'],
    label: 'person',
    score: 0.8,
    startTime: START,
    endTime: null,
    zones: [],
    box: [0.1, 0.2, 0.3, 0.6],
    stationary: false,
    loitering: false,
    hasSnapshot: false,
    ...over,
  }
}

const objectMessage = (data: Record<string, unknown>, cameraId: string | undefined = ids.Door) => ({
  seq: ++seq,
  type: 'event',
  at: at(),
  body: { type: 'object', ...(cameraId ? { cameraId } : {}), data },
})

async function objectRows(eventId: string) {
  return (
    await t.db.adminQuery('select id, seq, type, time, camera_id, data from events where object_id = $1', [
      eventId,
    ])
  ).rows as { id: string; seq: string; type: string; time: Date; camera_id: string | null; data: any }[]
}

beforeAll(async () => {
  t = await startTestHub()
  acme = await createTenantWithAdmin(t, 'acme')
  for (const name of ['North', 'South'])
    ids[name] = (await t.request('POST', '/api/v1/sites', { token: acme.token, body: { name } })).body.id
  north = await enroll(ids.North as string)
  const south = await enroll(ids.South as string)
  ids.Door = await camera('Door', ids.North as string, north.agentId)
  ids.Far = await camera('Far', ids.South as string, south.agentId)
  // What the Frigate bridge will hang on (not wired in tests): recorded to check the calls.
  const deps = (t.hub.context.agents.ingest as unknown as { deps: { onObjectEvent?: unknown } }).deps
  deps.onObjectEvent = (e: ObjectEventNotice) => notices.push(e)
  // Online first (the helper waits for the greeting), so the greeting comes before any batch's ack.
  agent = await connectFakeAgent(north)
}, 60_000)

afterAll(async () => {
  await agent?.close()
  await t?.close()
})

describe('object events', () => {
  it('new, update and end make one row with the same id and the final data', async () => {
    const eventId = randomUUID()
    const first = objectMessage(objectData(eventId, 'new'))
    await publish([first])
    const [inserted] = await objectRows(eventId)
    expect(inserted?.seq).toBe(String(first.seq))
    expect(new Date(inserted?.time as Date).toISOString()).toBe(START)

    const update = objectMessage(objectData(eventId, 'update', { zones: ['entrance'], score: 0.9 }))
    const end = objectMessage(
      objectData(eventId, 'end', {
        zones: ['entrance'],
        score: 0.9,
        endTime: '2026-11-30T10:00:30.000Z',
        hasSnapshot: true,
      }),
    )
    // Both in one batch: collapsed to the last, one upsert.
    const ack = await publish([update, end])
    expect(ack.rejected).toBeUndefined()
    const rows = await objectRows(eventId)
    expect(rows).toHaveLength(1)
    const row = rows[0] as (typeof rows)[number]
    expect(row.id).toBe(inserted?.id)
    expect(row.seq).toBe(String(end.seq))
    expect(row.type).toBe('object')
    expect(row.camera_id).toBe(ids.Door)
    expect(new Date(row.time).toISOString()).toBe(START)
    expect(row.data).toEqual({
      label: 'person',
      score: 0.9,
      startTime: START,
      endTime: '2026-11-30T10:00:30.000Z',
      zones: ['entrance'],
      box: [0.1, 0.2, 0.3, 0.6],
      stationary: false,
      loitering: false,
      hasSnapshot: true,
    })

    // Every message is told, in order, all naming the one row.
    const mine = notices.filter((n) => n.data.eventId === eventId)
    expect(mine.map((n) => n.kind)).toEqual(['new', 'update', 'end'])
    expect(new Set(mine.map((n) => n.eventRowId))).toEqual(new Set([String(row.id)]))
    expect(mine.every((n) => n.cameraId === ids.Door && n.agent.id === north.agentId)).toBe(true)

    const api = await t.request('GET', `/api/v1/events?type=object&cameraId=${ids.Door}`, {
      token: acme.token,
    })
    expect(api.status, api.text).toBe(200)
    expect(api.body.items.filter((e: { id: string }) => e.id === String(row.id))).toHaveLength(1)
  })

  it('keeps an ended event as it ended, whatever comes for it later', async () => {
    const eventId = randomUUID()
    const ended = objectData(eventId, 'end', { endTime: '2026-11-30T10:00:30.000Z', hasSnapshot: true })
    await publish([objectMessage(objectData(eventId, 'new')), objectMessage(ended)])
    const before = await objectRows(eventId)
    // A restarted agent ending what it believes still open, with what it last saved.
    await publish([objectMessage(objectData(eventId, 'end', { endTime: START }))])
    expect(await objectRows(eventId)).toEqual(before)
  })

  it('a redelivered batch changes nothing', async () => {
    const eventId = randomUUID()
    const batch = [
      objectMessage(objectData(eventId, 'new')),
      objectMessage(objectData(eventId, 'update', { stationary: true })),
    ]
    await publish(batch)
    const before = await objectRows(eventId)
    const told = notices.length
    // The same batch again (the ack was lost), then a new message to know the first was handled.
    await publish(batch, (batch[1] as { seq: number }).seq)
    const later = objectMessage(objectData(randomUUID(), 'new'))
    await publish([later])
    expect(await objectRows(eventId)).toEqual(before)
    expect(notices.slice(told).map((n) => n.data.eventId)).toEqual([later.body.data.eventId])
  })

  it('an invalid object event is rejected and does not block the next', async () => {
    const good = randomUUID()
    const bad = objectMessage({ ...objectData(randomUUID(), 'new'), box: [0, 0, 2, 1] })
    const missing = objectMessage({ kind: 'new' })
    const next = objectMessage(objectData(good, 'new'))
    const ack = await publish([bad, missing, next])
    expect(ack.seq).toBe(next.seq)
    expect(ack.rejected).toEqual([
      { seq: bad.seq, reason: 'invalid_object_event' },
      { seq: missing.seq, reason: 'invalid_object_event' },
    ])
    expect(await objectRows(good)).toHaveLength(1)
    expect(await objectRows(bad.body.data.eventId as string)).toHaveLength(0)
  })

  it('tells the consoles of the inserted row and of every update to it', async () => {
    const stream = await openEventStream(`${t.url}/api/v1/stream`, acme.token)
    try {
      await waitFor(() => stream.messages.find((m) => m.type === 'hello'), 'hello')
      const eventId = randomUUID()
      await publish([objectMessage(objectData(eventId, 'new'))])
      await publish([objectMessage(objectData(eventId, 'end', { endTime: '2026-11-30T10:01:00.000Z' }))])
      const [row] = await objectRows(eventId)
      const told = await waitFor(() => {
        const mine = stream.messages.filter((m) => m.type === 'event' && m.data.id === String(row?.id))
        return mine.length >= 2 ? mine : undefined
      }, 'two event updates')
      expect(told.map((m) => m.data.data.endTime)).toEqual([null, '2026-11-30T10:01:00.000Z'])
      expect(told.every((m) => m.data.type === 'object' && m.data.cameraId === ids.Door)).toBe(true)
    } finally {
      stream.close()
    }
  })

  it("keeps another site's camera unattributed", async () => {
    const eventId = randomUUID()
    await publish([objectMessage(objectData(eventId, 'new'), ids.Far)])
    const [row] = await objectRows(eventId)
    expect(row?.camera_id).toBeNull()
    expect(row?.data.claimedCameraId).toBe(ids.Far)
    expect(notices.find((n) => n.data.eventId === eventId)?.cameraId).toBeNull()
  })
})

describe('activity', () => {
  const activity = (cameraId: string, buckets: { start: string; motionSeconds: number }[]) => ({
    seq: ++seq,
    type: 'activity',
    at: at(),
    body: { cameraId, bucketSeconds: 10, buckets },
  })
  const stored = async (cameraId: string) =>
    (
      await t.db.adminQuery(
        'select bucket_start, motion_seconds from camera_activity where camera_id = $1 order by bucket_start',
        [cameraId],
      )
    ).rows.map((r) => [new Date(r.bucket_start).toISOString(), r.motion_seconds])

  it('sums motion seconds per bucket, within a batch and across batches, at most 10', async () => {
    await publish([
      activity(ids.Door as string, [
        { start: '2026-11-30T10:00:00.000Z', motionSeconds: 2.5 },
        { start: '2026-11-30T10:00:10.000Z', motionSeconds: 4 },
      ]),
      activity(ids.Door as string, [{ start: '2026-11-30T10:00:10.000Z', motionSeconds: 1 }]),
    ])
    await publish([
      activity(ids.Door as string, [
        { start: '2026-11-30T10:00:00.000Z', motionSeconds: 3 },
        { start: '2026-11-30T10:00:20.000Z', motionSeconds: 9 },
      ]),
    ])
    await publish([activity(ids.Door as string, [{ start: '2026-11-30T10:00:20.000Z', motionSeconds: 9 }])])
    expect(await stored(ids.Door as string)).toEqual([
      ['2026-11-30T10:00:00.000Z', 5.5],
      ['2026-11-30T10:00:10.000Z', 5],
      ['2026-11-30T10:00:20.000Z', 10],
    ])
  })

  it("never attributes activity to another site's camera", async () => {
    const ack = await publish([
      activity(ids.Far as string, [{ start: '2026-11-30T10:00:00.000Z', motionSeconds: 5 }]),
    ])
    expect(ack.rejected).toBeUndefined()
    expect(await stored(ids.Far as string)).toEqual([])
  })
})
