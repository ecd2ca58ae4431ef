import { randomUUID } from 'node:crypto'
import { upTopic } from '@ts-vms/shared'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Enrolled, enrollAgentAt } from '../helpers/enrollment.ts'
import { type EventStream, openEventStream } from '../helpers/event-stream.ts'
import { connectAgentClient } from '../helpers/fake-agent.ts'
import { waitUntil } from '../helpers/raw-clients.ts'
import { createTenantWithAdmin, startTestHub, type TestHub, userWithRole } from '../helpers/test-hub.ts'

/**
 * The live view's overlay (issue 13): an agent's `up/objects` reaches the consoles following its
 * camera, from that camera's agent only, to users who may watch it live; nothing is stored.
 */
let t: TestHub
let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
const ids: Record<string, string> = {}
const agents: Record<string, { enrolled: Enrolled; client: MqttClient }> = {}
const streams: EventStream[] = []

const objects = (cameraId: string, label = 'person') => ({
  v: 1,
  cameraId,
  time: new Date().toISOString(),
  objects: [{ id: randomUUID(), label, score: 0.91, box: [0.1, 0.2, 0.4, 0.9], stationary: false }],
})

async function follow(cameraId: string, token = acme.token): Promise<EventStream> {
  const s = await openEventStream(`${t.url}/api/v1/cameras/${cameraId}/objects`, token)
  streams.push(s)
  return s
}

const until = (check: () => boolean, what: string) => waitUntil(check, 10_000, what)

/** Publishes until the stream has an `objects` message (QoS 0 and the relay's subscription may race). */
async function publishUntilSeen(client: MqttClient, agentId: string, payload: unknown, s: EventStream) {
  const deadline = Date.now() + 10_000
  while (!s.messages.some((m) => m.type === 'objects')) {
    if (Date.now() > deadline) throw new Error('no objects message')
    await client.publishAsync(upTopic(agentId, 'objects'), JSON.stringify(payload), { qos: 0 })
    await new Promise((r) => setTimeout(r, 100))
  }
}

beforeAll(async () => {
  t = await startTestHub()
  acme = await createTenantWithAdmin(t, 'acme')
  for (const name of ['North', 'South'])
    ids[name] = (await t.request('POST', '/api/v1/sites', { token: acme.token, body: { name } })).body.id
  for (const site of ['North', 'South']) {
    const enrolled = await enrollAgentAt(t, ids[site] as string, acme.token)
    agents[site] = { enrolled, client: await connectAgentClient(enrolled) }
    const res = await t.request('POST', '/api/v1/cameras', {
      token: acme.token,
      body: {
        name: `${site} door`,
        siteId: ids[site],
        agentId: enrolled.agentId,
        streams: [{ role: 'main', url: 'rtsp://10.0.0.1/door' }],
      },
    })
    expect(res.status, res.text).toBe(201)
    ids[`${site}Door`] = res.body.id
  }
}, 60_000)

afterAll(async () => {
  for (const s of streams) s.close()
  for (const a of Object.values(agents)) await a.client.endAsync()
  await t?.close()
})

describe('live objects overlay', () => {
  it("relays the camera's agent's objects to a follower, as they were sent", async () => {
    const north = agents.North!
    const s = await follow(ids.NorthDoor as string)
    expect(s.res.status).toBe(200)
    const payload = objects(ids.NorthDoor as string)
    await publishUntilSeen(north.client, north.enrolled.agentId, payload, s)
    const got = s.messages.find((m) => m.type === 'objects')!
    expect(got.data).toEqual({ cameraId: payload.cameraId, time: payload.time, objects: payload.objects })
  })

  it("drops another agent's claims, malformed messages and those for unwatched cameras", async () => {
    const north = agents.North!
    const south = agents.South!
    const s = await follow(ids.NorthDoor as string)
    const before = t.hub.context.liveObjects.dropped
    // South's agent names North's camera: never relayed.
    await south.client.publishAsync(
      upTopic(south.enrolled.agentId, 'objects'),
      JSON.stringify(objects(ids.NorthDoor as string, 'car')),
      { qos: 0 },
    )
    // Malformed: a box outside the picture, and hostile text.
    const bad = objects(ids.NorthDoor as string)
    bad.objects[0]!.box = [0, 0, 2, 1]
    await north.client.publishAsync(upTopic(north.enrolled.agentId, 'objects'), JSON.stringify(bad), {
      qos: 0,
    })
    await north.client.publishAsync(
      upTopic(north.enrolled.agentId, 'objects'),
      '{"v":1,"cameraId":"\u0000"}',
      {
        qos: 0,
      },
    )
    await until(() => t.hub.context.liveObjects.dropped >= before + 3, 'three messages dropped')
    // A good one still goes through afterwards, and nothing before it did.
    await publishUntilSeen(north.client, north.enrolled.agentId, objects(ids.NorthDoor as string), s)
    expect(
      s.messages.filter((m) => m.type === 'objects').every((m) => m.data.objects[0].label === 'person'),
    ).toBe(true)
    expect(t.hub.context.liveObjects.watched(ids.SouthDoor as string)).toBe(false)
    // Once every follower has gone, the camera is not watched: its messages cost no database read.
    for (const open of streams) open.close()
    await until(() => !t.hub.context.liveObjects.watched(ids.NorthDoor as string), 'the camera unfollowed')
  })

  it('needs live view permission on the camera, and the camera visible', async () => {
    const viewer = await userWithRole(t, 'acme', acme.token, 'north-viewer', 'viewer', {
      type: 'site',
      id: ids.North as string,
    })
    const ok = await follow(ids.NorthDoor as string, viewer.token)
    expect(ok.res.status).toBe(200)
    const other = await follow(ids.SouthDoor as string, viewer.token)
    expect(other.res.status).toBe(404)
    const auditor = await userWithRole(t, 'acme', acme.token, 'auditor-1', 'auditor', { type: 'tenant' })
    const denied = await follow(ids.NorthDoor as string, auditor.token)
    expect([403, 404]).toContain(denied.res.status)
    const anonymous = await openEventStream(`${t.url}/api/v1/cameras/${ids.NorthDoor}/objects`)
    streams.push(anonymous)
    expect(anonymous.res.status).toBe(401)
  })
})
