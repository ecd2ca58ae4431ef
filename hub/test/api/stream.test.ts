import { randomUUID } from 'node:crypto'
import net from 'node:net'
import { PROTOCOL_VERSION } from '@ts-vms/shared'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { eventResource } from '../../src/live-updates/update-bus.ts'
import { type EventStream, openEventStream } from '../helpers/event-stream.ts'
import { waitUntil } from '../helpers/raw-clients.ts'
import {
  createTenantWithAdmin,
  startTestHub,
  type TestHub,
  USER_PASSWORD,
  userWithRole,
} from '../helpers/test-hub.ts'

/**
 * `GET /api/v1/stream` on the hub alone: agents enrolled through the API, their heartbeats and
 * events handed to the hub's ingest as if they came over MQTT (the same path; edge-agent's
 * stream.test.ts drives it with a real agent). What each user is told must match what the lists
 * show them. Negative checks are made deterministic by a marker sent after the update in question:
 * one stream's messages arrive in the order they were published, so once a user has the marker,
 * anything published before it that they were meant to see has arrived too.
 */
let t: TestHub
let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
let beta: Awaited<ReturnType<typeof createTenantWithAdmin>>
const ids: Record<string, string> = {}
const tokens: Record<string, string> = {}
const seqs = new Map<string, number>()
/** Every stream a test opened, closed after it (also when it fails). */
const opened = new Set<() => void>()

type Stream = EventStream

/** Opens the stream as the console does and collects its messages; closed after each test. */
async function openStream(token?: string): Promise<Stream> {
  const stream = await openEventStream(`${t.url}/api/v1/stream`, token)
  const close = () => {
    stream.close()
    opened.delete(close)
  }
  opened.add(close)
  return { ...stream, close }
}

async function openAll(): Promise<Record<string, Stream>> {
  const out: Record<string, Stream> = {}
  for (const who of ['admin', 'door', 'north', 'beta']) {
    const s = await openStream(tokens[who])
    expect(s.res.status).toBe(200)
    out[who] = s
  }
  for (const [who, s] of Object.entries(out))
    await waitUntil(() => s.messages.some((m) => m.type === 'hello'), 10_000, `hello (${who})`)
  return out
}

const closeAll = (streams: Record<string, Stream>) => {
  for (const s of Object.values(streams)) s.close()
}

/** Hands a batch to the hub's ingest as the agent's `up/messages` publication would. */
async function deliver(agentId: string, messages: { type: string; body: unknown }[]): Promise<void> {
  const at = new Date().toISOString()
  const batch = messages.map((m) => {
    const seq = (seqs.get(agentId) ?? 0) + 1
    seqs.set(agentId, seq)
    return { seq, at, ...m }
  })
  await t.hub.context.agents.ingest.handle({
    agentId,
    kind: 'messages',
    payload: Buffer.from(JSON.stringify({ v: PROTOCOL_VERSION, messages: batch })),
  })
}

const health = (cameraIds: string[]) => ({
  type: 'health',
  body: {
    uptimeSeconds: 5,
    version: '0.1.0',
    outbox: { depth: 0, bytes: 0, full: false },
    configVersion: 1,
    cameras: cameraIds.map((id) => ({
      id,
      streams: [
        {
          role: 'main',
          state: 'streaming',
          bitrateBps: 1000,
          fps: 25,
          lostPackets: 0,
          reconnects: 0,
          recording: true,
        },
      ],
    })),
  },
})
const event = (type: string, cameraId?: string) => ({
  type: 'event',
  body: { type, ...(cameraId ? { cameraId } : {}), data: { note: type } },
})

/** A marker every acme user here may see (an event on the Door camera), and one for beta. */
function marker(): string {
  const id = randomUUID()
  const publish = (e: { tenantId: string; siteId: string | null; cameraId: string | null }) =>
    t.hub.context.updates.publish({
      type: 'event',
      resource: eventResource(e),
      data: {
        id,
        ...e,
        agentId: null,
        seq: null,
        type: 'test.marker',
        time: new Date().toISOString(),
        receivedAt: new Date().toISOString(),
        data: {},
      },
    })
  publish({ tenantId: acme.tenantId, siteId: ids.North as string, cameraId: ids.Door as string })
  publish({ tenantId: beta.tenantId, siteId: null, cameraId: null })
  return id
}

async function untilMarker(streams: Record<string, Stream>, id: string): Promise<void> {
  for (const [who, s] of Object.entries(streams))
    await waitUntil(
      () => s.messages.some((m) => m.type === 'event' && m.data.id === id),
      10_000,
      `the marker (${who})`,
    )
}

beforeAll(async () => {
  // Rechecked every second, so a disabled user's stream ends promptly.
  t = await startTestHub({ VMS_LIVE_RECHECK_SECONDS: 1 })
  acme = await createTenantWithAdmin(t, 'acme-stream')
  beta = await createTenantWithAdmin(t, 'beta-stream')
  const token = acme.token
  for (const name of ['North', 'South']) {
    const res = await t.request('POST', '/api/v1/sites', { token, body: { name } })
    expect(res.status, res.text).toBe(201)
    ids[name] = res.body.id
  }
  for (const [agent, site] of [
    ['northAgent', 'North'],
    ['southAgent', 'South'],
  ] as const) {
    const code = await t.request('POST', `/api/v1/sites/${ids[site]}/enrollments`, { token })
    expect(code.status, code.text).toBe(201)
    const res = await t.request('POST', '/api/v1/enroll', { body: { code: code.body.code, name: agent } })
    expect(res.status, res.text).toBe(201)
    ids[agent] = res.body.agentId
  }
  for (const [name, site, agent] of [
    ['Door', 'North', 'northAgent'],
    ['Till', 'North', 'northAgent'],
    ['Gate', 'South', 'southAgent'],
  ] as const) {
    const res = await t.request('POST', '/api/v1/cameras', {
      token,
      body: {
        name,
        siteId: ids[site],
        agentId: ids[agent],
        streams: [{ role: 'main', url: `rtsp://10.0.0.1/${name}` }],
      },
    })
    expect(res.status, res.text).toBe(201)
    ids[name] = res.body.id
  }
  tokens.admin = token
  tokens.beta = beta.token
  tokens.door = (
    await userWithRole(t, 'acme-stream', token, 'door-viewer', 'viewer', { type: 'camera', id: ids.Door })
  ).token
  tokens.north = (
    await userWithRole(t, 'acme-stream', token, 'north-viewer', 'viewer', { type: 'site', id: ids.North })
  ).token
})
afterEach(() => {
  for (const close of [...opened]) close()
})
afterAll(async () => {
  await t?.close()
})

describe('live update stream (hub)', () => {
  it('needs a valid bearer token; opens with hello and the server time, as text/event-stream', async () => {
    for (const token of [undefined, 'not-a-token']) {
      const res = await fetch(`${t.url}/api/v1/stream`, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
      })
      expect(res.status).toBe(401)
      const body = (await res.json()) as { error: { code: string; requestId: string } }
      expect(body.error.code).toMatch(/unauthorized|invalid_token/)
      expect(body.error.requestId).toBeTruthy()
    }
    const before = Date.now()
    const s = await openStream(tokens.north)
    expect(s.res.status).toBe(200)
    expect(s.res.headers.get('content-type')).toContain('text/event-stream')
    expect(s.res.headers.get('cache-control')).toBe('no-store')
    await waitUntil(() => s.messages.length > 0, 10_000, 'the first message')
    expect(s.messages[0]?.type).toBe('hello')
    const time = Date.parse(s.messages[0]?.data.time)
    expect(time).toBeGreaterThanOrEqual(before - 1000)
    expect(time).toBeLessThanOrEqual(Date.now() + 1000)
    s.close()
  })

  it("pushes new events to exactly the users whose events list shows them, never another tenant's", async () => {
    const streams = await openAll()
    // Door's event, Gate's (another site), and one from South's agent claiming Door (kept, but
    // not Door's: its site's, shown to no one who sees only Door or only North).
    // And one of North's agent about no camera: North's, not Door's.
    await deliver(ids.northAgent as string, [event('test.door', ids.Door), event('test.site')])
    await deliver(ids.southAgent as string, [event('test.gate', ids.Gate), event('test.claim', ids.Door)])
    await untilMarker(streams, marker())

    const received = (who: string) =>
      (streams[who] as Stream).messages
        .filter((m) => m.type === 'event' && m.data.type !== 'test.marker')
        .map((m) => m.data)
    expect(received('admin').map((e) => e.type)).toEqual([
      'test.door',
      'test.site',
      'test.gate',
      'test.claim',
    ])
    expect(received('door').map((e) => e.type)).toEqual(['test.door'])
    expect(received('north').map((e) => e.type)).toEqual(['test.door', 'test.site'])
    expect(received('beta')).toEqual([])
    const claim = received('admin').find((e) => e.type === 'test.claim')
    expect(claim).toMatchObject({ cameraId: null, siteId: ids.South, data: { claimedCameraId: ids.Door } })

    // The same events, the same fields, as the events list gives each of them.
    for (const who of ['admin', 'door', 'north', 'beta']) {
      const list = await t.request('GET', '/api/v1/events?type=test.door', { token: tokens[who] })
      const others = await t.request('GET', '/api/v1/events?limit=500', { token: tokens[who] })
      const listed = new Set(others.body.items.map((e: { id: string }) => e.id))
      for (const e of received(who)) expect(listed.has(e.id), `${who} lists ${e.type}`).toBe(true)
      // ...and nothing of these that the stream did not give them.
      const mine = new Set(received(who).map((e) => e.id))
      for (const e of others.body.items.filter((e: { type: string }) => e.type.startsWith('test.')))
        expect(mine.has(e.id), `${who} streamed ${e.type}`).toBe(true)
      if (who !== 'beta') expect(received(who)).toContainEqual(list.body.items[0])
    }
    closeAll(streams)
  })

  it("pushes a camera's state only from its own agent, and an agent's only to those who see its site", async () => {
    const streams = await openAll()
    // North's agent reports its cameras and, falsely, South's Gate; then South's agent its own.
    await deliver(ids.northAgent as string, [health([ids.Door, ids.Till, ids.Gate] as string[])])
    await deliver(ids.southAgent as string, [health([ids.Gate] as string[])])
    await untilMarker(streams, marker())

    const cameras = (who: string) =>
      (streams[who] as Stream).messages.filter((m) => m.type === 'camera').map((m) => m.data)
    const agents = (who: string) =>
      (streams[who] as Stream).messages.filter((m) => m.type === 'agent').map((m) => m.data.id)
    expect(cameras('admin').map((c) => [c.id, c.siteId])).toEqual([
      [ids.Door, ids.North],
      [ids.Till, ids.North],
      [ids.Gate, ids.South],
    ])
    expect(cameras('admin')[0]?.streams[0]).toMatchObject({ role: 'main', state: 'streaming' })
    expect(cameras('door').map((c) => c.id)).toEqual([ids.Door])
    expect(cameras('north').map((c) => c.id)).toEqual([ids.Door, ids.Till])
    expect(cameras('beta')).toEqual([])
    expect(agents('admin')).toEqual([ids.northAgent, ids.southAgent])
    // A camera binding shows the camera's site and its agent (as GET /api/v1/agents does).
    expect(agents('door')).toEqual([ids.northAgent])
    expect(agents('north')).toEqual([ids.northAgent])
    expect(agents('beta')).toEqual([])
    for (const who of ['door', 'north']) {
      const list = await t.request('GET', '/api/v1/agents', { token: tokens[who] })
      expect(list.body.items.map((a: { id: string }) => a.id)).toEqual([ids.northAgent])
    }
    closeAll(streams)
  })

  it("pushes administrators' changes to cameras and agents to those who see them", async () => {
    const streams = await openAll()
    const token = tokens.admin as string
    const added = await t.request('POST', '/api/v1/cameras', {
      token,
      body: { name: 'Back door', siteId: ids.North, agentId: ids.northAgent },
    })
    expect(added.status, added.text).toBe(201)
    const back = added.body.id as string
    expect(
      (await t.request('PATCH', `/api/v1/cameras/${back}`, { token, body: { name: 'Rear' } })).status,
    ).toBe(200)
    expect((await t.request('DELETE', `/api/v1/cameras/${back}`, { token })).status).toBe(204)
    const renamed = await t.request('PATCH', `/api/v1/agents/${ids.southAgent}`, {
      token,
      body: { name: 'South PC' },
    })
    expect(renamed.status, renamed.text).toBe(200)
    await untilMarker(streams, marker())

    const changes = (who: string) =>
      (streams[who] as Stream).messages
        .filter((m) => m.data.change !== undefined)
        .map((m) => [m.type, m.data.change, m.data.id])
    expect(changes('admin')).toEqual([
      ['camera', 'camera.create', back],
      ['camera', 'camera.update', back],
      ['camera', 'camera.delete', back],
      ['agent', 'agent.update', ids.southAgent],
    ])
    // The North viewer sees the North camera come and go, not the South agent; the Door viewer
    // (one camera) sees neither; another tenant nothing.
    expect(changes('north')).toEqual(changes('admin').slice(0, 3))
    expect(changes('door')).toEqual([])
    expect(changes('beta')).toEqual([])
    closeAll(streams)
  })

  it('lets go of a stream when its client goes away', async () => {
    const bus = t.hub.context.updates
    await waitUntil(() => bus.subscribers === 0, 10_000, 'earlier streams to close')
    const s = await openStream(tokens.door)
    await waitUntil(() => s.messages.some((m) => m.type === 'hello'), 10_000, 'hello')
    expect(bus.subscribers).toBe(1)
    s.close()
    await waitUntil(() => bus.subscribers === 0, 10_000, 'the stream to be let go')
  })

  it('bounds the streams one user may hold (429), not those of another user', async () => {
    const open: Stream[] = []
    for (let i = 0; i < 10; i++) {
      const s = await openStream(tokens.north)
      expect(s.res.status).toBe(200)
      open.push(s)
    }
    const over = await openStream(tokens.north)
    expect(over.res.status).toBe(429)
    const other = await openStream(tokens.door)
    expect(other.res.status).toBe(200)
    other.close()
    for (const s of open) s.close()
    await waitUntil(() => t.hub.context.updates.subscribers === 0, 10_000, 'the streams to close')
    const again = await openStream(tokens.north)
    expect(again.res.status).toBe(200)
    again.close()
  })

  it('cuts off a reader that stops reading instead of buffering for it', async () => {
    const bus = t.hub.context.updates
    await waitUntil(() => bus.subscribers === 0, 10_000, 'earlier streams to close')
    const { hostname, port } = new URL(t.url)
    const socket = net.connect(Number(port), hostname)
    socket.on('error', () => {})
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
    socket.write(
      `GET /api/v1/stream HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${tokens.admin}\r\n\r\n`,
    )
    // Reads the response head, then nothing more.
    await new Promise<void>((resolve) => socket.once('data', () => resolve()))
    socket.pause()
    expect(bus.subscribers).toBe(1)

    // 256 KB events until the hub lets the reader go: far fewer than 512 (128 MB) once the kernel's
    // buffers are full.
    const big = 'x'.repeat(256 * 1024)
    for (let i = 0; i < 512 && bus.subscribers > 0; i++) {
      bus.publish({
        type: 'event',
        resource: { type: 'tenant', tenantId: acme.tenantId },
        data: {
          id: String(i),
          tenantId: acme.tenantId,
          agentId: null,
          siteId: null,
          cameraId: null,
          seq: null,
          type: 'test.big',
          time: new Date().toISOString(),
          receivedAt: new Date().toISOString(),
          data: { big },
        },
      })
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(bus.subscribers).toBe(0)
    expect(t.logs.text()).toContain('live update stream cut off')
    // The connection is dropped, not ended politely behind what waits for the reader: once read,
    // it closes without the chunked body's last chunk.
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
    socket.resume()
    await closed
    expect(Buffer.concat(chunks).subarray(-7).toString('latin1')).not.toBe('\r\n0\r\n\r\n')
  })

  it('ends the stream of a user who is disabled or whose sessions are ended', async () => {
    const leavers = []
    for (const name of ['leaver-1', 'leaver-2']) {
      const u = await userWithRole(t, 'acme-stream', tokens.admin as string, name, 'viewer', {
        type: 'site',
        id: ids.North as string,
      })
      const s = await openStream(u.token)
      await waitUntil(() => s.messages.some((m) => m.type === 'hello'), 10_000, `hello (${name})`)
      leavers.push({ ...u, s })
    }
    const [disabled, reset] = leavers as [(typeof leavers)[0], (typeof leavers)[0]]
    const patch = (id: string, body: unknown) =>
      t.request('PATCH', `/api/v1/users/${id}`, { token: tokens.admin, body })
    expect((await patch(disabled.id, { disabled: true })).status).toBe(200)
    // An administrator sets a new password: every session of the user ends.
    expect((await patch(reset.id, { password: `${USER_PASSWORD}-new` })).status).toBe(200)
    await waitUntil(() => disabled.s.ended(), 20_000, "the disabled user's stream to end")
    await waitUntil(() => reset.s.ended(), 20_000, 'the signed-out stream to end')
    const stillOn = await openStream(tokens.north)
    expect(stillOn.res.status).toBe(200)
  })
})
