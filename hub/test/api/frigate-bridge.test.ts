import { randomUUID } from 'node:crypto'
import net from 'node:net'
import type { ObjectEventData } from '@ts-vms/shared'
import mqtt, { type MqttClient } from 'mqtt'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AgentRecord } from '../../src/agents/agent-directory.ts'
import {
  FrigateBridge,
  type FrigateEventMessage,
  type ObjectEventInput,
} from '../../src/integrations/frigate-bridge.ts'
import { enrollAgentAt } from '../helpers/enrollment.ts'
import { connectFakeAgent, type FakeAgent, waitFor } from '../helpers/fake-agent.ts'
import { mosquittoAvailable, startMosquitto } from '../helpers/mosquitto.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'
import { createTenantWithAdmin, LogCapture, startTestHub, type TestHub } from '../helpers/test-hub.ts'

/**
 * Frigate compatibility (issue 13): object events republished to an MQTT broker as Frigate's
 * `frigate/events`. Uses the machine's Mosquitto (anonymous, 127.0.0.1:1883) with a topic prefix
 * of this run's own; the hub's own broker carries the agent's traffic as usual.
 */
const BROKER = 'mqtt://127.0.0.1:1883'

let t: TestHub
let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
let agent: FakeAgent
let doorId: string
let seq = 0
const prefix = `vmstest/${randomUUID().slice(0, 8)}`
let subscriber: MqttClient
const received = new Map<string, FrigateEventMessage[]>()

/** Subscribes to `<topicPrefix>/events` on the machine's broker; messages land in `into`. */
async function subscribe(
  topicPrefix: string,
  into: FrigateEventMessage[] | Map<string, FrigateEventMessage[]>,
) {
  const client = await mqtt.connectAsync(BROKER, { reconnectPeriod: 0, clean: true })
  client.on('message', (topic, payload) => {
    if (topic !== `${topicPrefix}/events`) return
    const m = JSON.parse(payload.toString('utf8')) as FrigateEventMessage
    if (Array.isArray(into)) into.push(m)
    else into.set(m.after.id, [...(into.get(m.after.id) ?? []), m])
  })
  await client.subscribeAsync(`${topicPrefix}/events`, { qos: 1 })
  return client
}

const START = '2026-11-30T10:00:00.500Z'
const START_S = Date.parse(START) / 1000

function objectData(
  eventId: string,
  kind: 'new' | 'update' | 'end',
  over: Partial<ObjectEventData> = {},
): ObjectEventData {
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

/** Publishes object events as the agent and waits for the hub's ack (committed, then bridged). */
async function publishAsAgent(datas: ObjectEventData[], cameraId: string): Promise<void> {
  const messages = datas.map((data) => ({
    seq: ++seq,
    type: 'event',
    at: new Date().toISOString(),
    body: { type: 'object', cameraId, data },
  }))
  await agent.publishBatch(messages, seq)
}

beforeAll(async () => {
  subscriber = await subscribe(prefix, received)
  t = await startTestHub({ VMS_FRIGATE_MQTT_URL: BROKER, VMS_FRIGATE_TOPIC_PREFIX: prefix })
  acme = await createTenantWithAdmin(t, 'acme')
  const site = await t.request('POST', '/api/v1/sites', { token: acme.token, body: { name: 'North' } })
  expect(site.status, site.text).toBe(201)
  const enrolled = await enrollAgentAt(t, site.body.id, acme.token)
  const cam = await t.request('POST', '/api/v1/cameras', {
    token: acme.token,
    body: {
      name: 'Front Door #1',
      siteId: site.body.id,
      agentId: enrolled.agentId,
      streams: [{ role: 'main', url: 'rtsp://10.0.0.1/door' }],
    },
  })
  expect(cam.status, cam.text).toBe(201)
  doorId = cam.body.id
  agent = await connectFakeAgent(enrolled)
}, 60_000)

afterAll(async () => {
  await agent?.close()
  await subscriber?.endAsync()
  await t?.close()
})

describe('Frigate bridge through the hub (VMS_FRIGATE_MQTT_URL)', () => {
  it('publishes new, update and end to <prefix>/events in Frigate’s shape, before = previous after', async () => {
    const eventId = randomUUID()
    const before = Date.now() / 1000
    await publishAsAgent([objectData(eventId, 'new', { zones: ['yard'] })], doorId)
    await publishAsAgent(
      [objectData(eventId, 'update', { zones: ['yard', 'driveway'], score: 0.91, hasSnapshot: true })],
      doorId,
    )
    await publishAsAgent(
      [
        objectData(eventId, 'end', {
          zones: ['yard', 'driveway'],
          score: 0.91,
          hasSnapshot: true,
          endTime: '2026-11-30T10:00:09.000Z',
        }),
      ],
      doorId,
    )
    const msgs = await waitFor(() => {
      const got = received.get(eventId)
      return got && got.length >= 3 ? got : undefined
    }, 'three frigate/events messages')
    expect(msgs.map((m) => m.type)).toEqual(['new', 'update', 'end'])
    const [created, updated, ended] = msgs as [FrigateEventMessage, FrigateEventMessage, FrigateEventMessage]

    expect(created.after).toMatchObject({
      id: eventId,
      camera: 'front_door_1',
      label: 'person',
      sub_label: null,
      score: 0.8,
      top_score: 0.8,
      false_positive: false,
      start_time: START_S,
      end_time: null,
      box: [0.1, 0.2, 0.3, 0.6],
      current_zones: ['yard'],
      entered_zones: ['yard'],
      has_snapshot: false,
      stationary: false,
    })
    expect(created.after.frame_time).toBeGreaterThanOrEqual(before - 1)
    expect(created.before).toEqual(created.after)

    expect(updated.before).toEqual(created.after)
    expect(updated.after).toMatchObject({
      id: eventId,
      score: 0.91,
      top_score: 0.91,
      current_zones: ['yard', 'driveway'],
      entered_zones: ['yard', 'driveway'],
      has_snapshot: true,
      end_time: null,
    })

    expect(ended.before).toEqual(updated.after)
    expect(ended.after).toMatchObject({
      id: eventId,
      end_time: START_S + 8.5,
      frame_time: START_S + 8.5,
      current_zones: [],
      entered_zones: ['yard', 'driveway'],
    })
  })

  it('logs where it publishes without the broker’s credentials', () => {
    expect(t.logs.text()).toContain('frigate bridge: publishing object events')
  })
})

/** An event as ingest hands it over, for a camera of the test tenant. */
function input(data: ObjectEventData, cameraId: string | null = doorId): ObjectEventInput {
  const agentRecord: AgentRecord = {
    id: agent.agentId,
    tenantId: acme.tenantId,
    siteId: randomUUID(),
    name: 'agent',
    secretHash: '',
    disabled: false,
    revoked: false,
    heartbeatSeconds: 30,
  }
  return { agent: agentRecord, eventRowId: '1', cameraId, kind: data.kind, data }
}

async function closedPort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as net.AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

describe('FrigateBridge', () => {
  it('reads camera names from the database, cached until the TTL runs out', async () => {
    const own = `vmstest/${randomUUID().slice(0, 8)}`
    const got: FrigateEventMessage[] = []
    const sub = await subscribe(own, got)
    const bridge = new FrigateBridge({
      url: BROKER,
      topicPrefix: own,
      logger: pino({ level: 'silent' }),
      db: t.hub.context.db,
      cameraTtlMs: 300,
    })
    try {
      bridge.start()
      const id = randomUUID()
      bridge.publishObjectEvent(input(objectData(id, 'new')))
      await waitFor(() => got[0], 'the first message')
      await t.db.adminQuery(`update cameras set name = 'Back Yard' where id = $1`, [doorId])
      bridge.publishObjectEvent(input(objectData(id, 'update')))
      await waitFor(() => got[1], 'the second message')
      await new Promise((r) => setTimeout(r, 350))
      bridge.publishObjectEvent(input(objectData(id, 'update')))
      // A camera the agent did not name (or not of its site): `unknown`.
      bridge.publishObjectEvent(input(objectData(randomUUID(), 'new'), null))
      // A camera that does not exist (deleted): a name from its id.
      const ghost = randomUUID()
      bridge.publishObjectEvent(input(objectData(randomUUID(), 'new'), ghost))
      await waitFor(() => got[4], 'five messages')
      await waitFor(() => (bridge.stats.published === 5 ? true : undefined), 'the acknowledgements')
      expect(got.map((m) => m.after.camera)).toEqual([
        'front_door_1',
        'front_door_1',
        'back_yard',
        'unknown',
        `camera_${ghost.replace(/-/g, '').slice(0, 8)}`,
      ])
      expect(bridge.stats).toMatchObject({ received: 5, published: 5, dropped: 0, failed: 0 })
    } finally {
      await t.db.adminQuery(`update cameras set name = 'Front Door #1' where id = $1`, [doorId])
      await bridge.close()
      await sub.endAsync()
    }
  })

  it('with the broker unreachable: never throws, keeps at most maxQueue (oldest dropped), never logs the password', async () => {
    const logs = new LogCapture()
    const port = await closedPort()
    const bridge = new FrigateBridge({
      url: `mqtt://frigate-user:Sup3r-S3cret-pw@127.0.0.1:${port}`,
      logger: pino({ level: 'trace' }, logs),
      db: t.hub.context.db,
      maxQueue: 5,
      reconnectMinMs: 50,
      reconnectMaxMs: 200,
    })
    bridge.start()
    const started = Date.now()
    for (let i = 0; i < 12; i++)
      expect(() => bridge.publishObjectEvent(input(objectData(randomUUID(), 'new')))).not.toThrow()
    expect(Date.now() - started).toBeLessThan(200)
    expect(bridge.queued).toBe(5)
    expect(bridge.stats).toMatchObject({ received: 12, dropped: 7, published: 0 })
    // A few reconnection attempts.
    await new Promise((r) => setTimeout(r, 600))
    expect(bridge.connected).toBe(false)
    const closing = Date.now()
    await bridge.close()
    expect(Date.now() - closing).toBeLessThan(3000)
    const text = logs.text()
    expect(text).toContain('queue full')
    expect(text).toContain('broker unavailable')
    expect(text).toContain(`mqtt://127.0.0.1:${port}`)
    expect(text).not.toContain('Sup3r-S3cret-pw')
    expect(text).not.toContain('frigate-user:')
  })

  it('holds events while the broker is away and delivers them, in order, once it is back', async () => {
    const own = `vmstest/${randomUUID().slice(0, 8)}`
    const got: FrigateEventMessage[] = []
    const sub = await subscribe(own, got)
    const proxy = await startTcpProxy('127.0.0.1', 1883)
    const logs = new LogCapture()
    const bridge = new FrigateBridge({
      url: `mqtt://someone:An0ther-pw@127.0.0.1:${proxy.port}`,
      topicPrefix: own,
      logger: pino({ level: 'debug' }, logs),
      db: t.hub.context.db,
      reconnectMinMs: 50,
      reconnectMaxMs: 200,
    })
    try {
      bridge.start()
      await waitFor(() => (bridge.connected ? true : undefined), 'the bridge to connect')
      const id = randomUUID()
      bridge.publishObjectEvent(input(objectData(id, 'new', { zones: ['a'] })))
      await waitFor(() => got[0], 'the first message')
      await waitFor(() => (bridge.stats.published === 1 ? true : undefined), 'the first acknowledgement')
      proxy.cut()
      await waitFor(() => (bridge.connected ? undefined : true), 'the bridge to notice')
      bridge.publishObjectEvent(input(objectData(id, 'update', { zones: ['a', 'b'] })))
      bridge.publishObjectEvent(input(objectData(id, 'update', { zones: ['a', 'b', 'c'] })))
      bridge.publishObjectEvent(
        input(objectData(id, 'end', { zones: ['a', 'b', 'c'], endTime: '2026-11-30T10:00:05.500Z' })),
      )
      await new Promise((r) => setTimeout(r, 300))
      expect(got).toHaveLength(1)
      expect(bridge.queued).toBe(3)
      proxy.restore()
      await waitFor(() => got[3], 'the held messages')
      expect(got.map((m) => m.type)).toEqual(['new', 'update', 'update', 'end'])
      expect(got.map((m) => m.after.entered_zones.length)).toEqual([1, 2, 3, 3])
      expect(got[1]?.before).toEqual(got[0]?.after)
      expect(got[3]?.before).toEqual(got[2]?.after)
      expect(got[3]?.after.end_time).toBe(START_S + 5)
      // The broker may deliver to the subscriber before its PUBACK reaches the bridge.
      await waitFor(() => (bridge.stats.published === 4 ? true : undefined), 'the acknowledgements')
      expect(bridge.stats).toMatchObject({ received: 4, published: 4, dropped: 0 })
      expect(logs.text()).not.toContain('An0ther-pw')
    } finally {
      await bridge.close()
      await proxy.close()
      await sub.endAsync()
    }
  })
})

describe.skipIf(!mosquittoAvailable)('FrigateBridge with a broker that wants a password', () => {
  it('authenticates with the URL’s credentials (percent-decoded) and logs neither them nor the URL', async () => {
    const broker = await startMosquitto()
    try {
      const good = new URL(broker.hubUrl)
      const password = decodeURIComponent(good.password)
      const logs = new LogCapture()
      const ok = new FrigateBridge({ url: broker.hubUrl, logger: pino({ level: 'trace' }, logs) })
      ok.start()
      await waitFor(() => (ok.connected ? true : undefined), 'the bridge to authenticate')
      await ok.close()

      const bad = new URL(broker.hubUrl)
      bad.password = encodeURIComponent('Wrong-Passw0rd-xyz')
      const refused = new FrigateBridge({
        url: bad.toString(),
        logger: pino({ level: 'trace' }, logs),
        reconnectMinMs: 50,
        reconnectMaxMs: 100,
      })
      refused.start()
      await waitFor(
        () => (logs.text().includes('broker unavailable') ? true : undefined),
        'the refusal to be logged',
      )
      expect(refused.connected).toBe(false)
      expect(() => refused.publishObjectEvent(input(objectData(randomUUID(), 'new')))).not.toThrow()
      await refused.close()
      const text = logs.text()
      expect(text).toContain(`mqtt://127.0.0.1:${broker.port}`)
      expect(text).not.toContain(password)
      expect(text).not.toContain(good.password)
      expect(text).not.toContain('Wrong-Passw0rd-xyz')
    } finally {
      await broker.stop()
    }
  })
})
