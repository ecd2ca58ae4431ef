import path from 'node:path'
import mqtt from 'mqtt'
import { afterAll, describe, expect, it } from 'vitest'
import { mosquittoAvailable, startMosquitto } from '../../hub/test/helpers/mosquitto.ts'
import { createTestDatabase } from '../../hub/test/helpers/test-database.ts'
import { startTestHub, type TestHub } from '../../hub/test/helpers/test-hub.ts'
import { type Credentials, readCredentials } from '../src/credentials.ts'
import { Outbox } from '../src/outbox/outbox.ts'
import { enrolledAgent } from './helpers/agent-harness.ts'

/**
 * The same guarantees with an external broker (a real Mosquitto with dynamic security), which is
 * how fleets scale out: several hubs share the agents' traffic through a shared subscription.
 */
const N = 10_000
const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
})

const connectAs = (c: Credentials) =>
  mqtt.connectAsync(c.mqttUrl, {
    clientId: c.agentId,
    username: c.agentId,
    password: c.secret,
    reconnectPeriod: 0,
  })

async function count(t: TestHub, agentId: string, type = 'test') {
  const r = await t.db.adminQuery(
    `select count(*)::int as n, count(distinct seq)::int as d from events where agent_id = $1 and type = $2`,
    [agentId, type],
  )
  return r.rows[0] as { n: number; d: number }
}

describe.skipIf(!mosquittoAvailable)('with Mosquitto as the broker', () => {
  it(`delivers ${N} events made while the hub was down exactly once, and isolates agents`, {
    timeout: 180_000,
  }, async () => {
    const broker = await startMosquitto()
    cleanups.push(() => broker.stop())
    const t = await startTestHub({ VMS_MQTT_URL: broker.hubUrl }, { systemLicense: true })
    cleanups.push(() => t.close())
    const a = await enrolledAgent(t)
    const b = await enrolledAgent(t)
    cleanups.push(() => a.cleanup())
    cleanups.push(() => b.cleanup())
    expect(readCredentials(a.dataDir).mqttUrl).toBe(`mqtt://127.0.0.1:${broker.port}`)
    const agent = a.start()
    await expect.poll(() => agent.connected, { timeout: 20_000 }).toBe(true)
    const token = await t.adminToken()
    await expect
      .poll(async () => (await t.request('GET', `/api/v1/agents/${a.agentId}`, { token })).body.status, {
        timeout: 20_000,
      })
      .toBe('online')

    await t.hub.close()
    const outbox = new Outbox(path.join(a.dataDir, 'outbox.db'), 1024 ** 3)
    outbox.db.transaction(() => {
      for (let i = 1; i <= N; i++) outbox.append('event', { type: 'test', data: { n: i } })
    })()
    outbox.close()
    await t.restart()
    await expect.poll(async () => (await count(t, a.agentId)).n, { timeout: 120_000, interval: 250 }).toBe(N)
    expect((await count(t, a.agentId)).d).toBe(N)

    // Isolation is the broker's: B's credentials open nothing of A's.
    const cb = readCredentials(b.dataDir)
    const client = await connectAs(cb)
    cleanups.push(() => client.endAsync(true))
    await expect(client.subscribeAsync(`vms/v1/agents/${a.agentId}/down/#`, { qos: 1 })).rejects.toThrow()
    const forged = {
      v: 1,
      messages: [{ seq: 1, type: 'event', at: new Date().toISOString(), body: { type: 'forged' } }],
    }
    await client
      .publishAsync(`vms/v1/agents/${a.agentId}/up/messages`, JSON.stringify(forged), { qos: 1 })
      .catch(() => {})
    // Garbage on its own topic is refused by the hub and counted; valid traffic still flows.
    await client
      .publishAsync(`vms/v1/agents/${cb.agentId}/up/messages`, 'not json', { qos: 1 })
      .catch(() => {})
    const valid = {
      v: 1,
      messages: [{ seq: 1, type: 'event', at: new Date().toISOString(), body: { type: 'probe' } }],
    }
    await client.publishAsync(`vms/v1/agents/${cb.agentId}/up/messages`, JSON.stringify(valid), { qos: 1 })
    await expect.poll(async () => (await count(t, cb.agentId, 'probe')).n, { timeout: 20_000 }).toBe(1)
    expect((await count(t, a.agentId, 'forged')).n).toBe(0)
    const metrics = await t.hub.context.metrics.registry.getSingleMetricAsString('vms_mqtt_rejected_total')
    expect(metrics).toMatch(/reason="malformed"[^\n]* 1/)

    // Revoking disables the broker account: cut off at once, no way back.
    expect((await t.request('DELETE', `/api/v1/agents/${a.agentId}`, { token })).status).toBe(204)
    await expect.poll(() => agent.connected, { timeout: 10_000 }).toBe(false)
    await expect(connectAs(readCredentials(a.dataDir))).rejects.toThrow()
  })

  // Two hubs on one database: PGlite is a single session, so this needs a real PostgreSQL.
  it.skipIf(!process.env.VMS_TEST_DATABASE_URL)(
    'splits agent traffic between two hubs, and losing one loses nothing',
    { timeout: 180_000 },
    async () => {
      // A broker of its own: hubs of another deployment in the same shared group would take a share.
      const broker = await startMosquitto()
      cleanups.push(() => broker.stop())
      const db = await createTestDatabase()
      const one = await startTestHub({ VMS_MQTT_URL: broker.hubUrl }, { db, systemLicense: true })
      const two = await startTestHub(
        { VMS_MQTT_URL: broker.hubUrl, VMS_MASTER_KEY: one.config.VMS_MASTER_KEY },
        { db },
      )
      cleanups.push(async () => {
        await two.close()
        await db.drop()
      })
      const a = await enrolledAgent(one, { VMS_AGENT_BATCH_MAX: 50, VMS_AGENT_MAX_INFLIGHT: 200 })
      cleanups.push(() => a.cleanup())
      const agent = a.start()
      await expect.poll(() => agent.connected, { timeout: 20_000 }).toBe(true)
      // A question to the agent gets its answer on whichever hub asked, though the hubs share
      // the agents' other traffic.
      const token = await one.adminToken()
      const view = await one.request('GET', `/api/v1/agents/${a.agentId}`, { token })
      const cam = await one.request('POST', '/api/v1/cameras', {
        token,
        body: { name: 'Quiet', siteId: view.body.siteId, agentId: a.agentId },
      })
      expect(cam.status, cam.text).toBe(201)
      await expect
        .poll(async () => (await one.request('GET', `/api/v1/agents/${a.agentId}`, { token })).body.status, {
          timeout: 20_000,
        })
        .toBe('online')
      const range = `from=${new Date(Date.now() - 60_000).toISOString()}&to=${new Date().toISOString()}`
      for (const hub of [one, two, one, two]) {
        const list = await hub.request('GET', `/api/v1/cameras/${cam.body.id}/recordings?${range}`, { token })
        expect(list.status, list.text).toBe(200)
        expect(list.body).toMatchObject({ ranges: [], gaps: [] })
      }
      agent.outbox.db.transaction(() => {
        for (let i = 1; i <= N; i++) agent.outbox.append('event', { type: 'test', data: { n: i } })
      })()
      await expect
        .poll(async () => (await count(one, a.agentId)).n, { timeout: 60_000, interval: 20 })
        .toBeGreaterThan(N * 0.2)
      await one.close() // one hub dies in the middle of the stream
      await expect
        .poll(async () => (await count(two, a.agentId)).n, { timeout: 120_000, interval: 250 })
        .toBe(N)
      expect((await count(two, a.agentId)).d).toBe(N)
      const handled =
        await two.hub.context.metrics.registry.getSingleMetricAsString('vms_mqtt_messages_total')
      expect(handled).toMatch(/kind="messages"/)
    },
  )
})
