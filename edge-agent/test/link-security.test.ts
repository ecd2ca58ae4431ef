import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestHub, type TestHub } from '../../hub/test/helpers/test-hub.ts'
import { type Credentials, readCredentials } from '../src/credentials.ts'
import { enrolledAgent, type TestAgent } from './helpers/agent-harness.ts'

/** The broker keeps agents apart, refuses garbage without dropping the link, and cuts off revoked agents. */
let t: TestHub
let a: TestAgent
let b: TestAgent
const cleanups: (() => Promise<void> | void)[] = []

beforeAll(async () => {
  t = await startTestHub({}, { systemLicense: true })
  a = await enrolledAgent(t)
  b = await enrolledAgent(t)
})
afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
  await a?.cleanup()
  await b?.cleanup()
  await t?.close()
})

function connectAs(c: Credentials): Promise<MqttClient> {
  const options: IClientOptions = {
    clientId: c.agentId,
    username: c.agentId,
    password: c.secret,
    reconnectPeriod: 0,
  }
  // The pinned broker certificate, as the agent uses it.
  Object.assign(options, {
    ca: c.caCertificate,
    rejectUnauthorized: true,
    checkServerIdentity: () => undefined,
  })
  return mqtt.connectAsync(c.mqttUrl, options)
}

async function metric(name: string, label: string): Promise<number> {
  const text = await t.hub.context.metrics.registry.getSingleMetricAsString(name)
  const line = text.split('\n').find((l) => l.includes(label) && !l.startsWith('#'))
  return line ? Number(line.trim().split(' ').at(-1)) : 0
}

describe('the embedded broker', () => {
  it("keeps agent A out of agent B's topics", async () => {
    const ca = readCredentials(a.dataDir)
    const cb = readCredentials(b.dataDir)
    const client = await connectAs(ca)
    cleanups.push(() => client.endAsync(true))
    for (const topic of [`vms/v1/agents/${cb.agentId}/down/#`, 'vms/v1/agents/+/down/ack', '#']) {
      // Refused in the SUBACK (0x80), and the connection stays up.
      await expect(client.subscribeAsync(topic, { qos: 1 }), topic).rejects.toThrow(/Subscribe error/)
      expect(client.connected).toBe(true)
    }
    await expect(
      client.subscribeAsync(`vms/v1/agents/${ca.agentId}/down/ack`, { qos: 1 }),
    ).resolves.toBeDefined()
    const before = await metric('vms_mqtt_rejected_total', 'reason="acl"')
    const forged = {
      v: 1,
      messages: [{ seq: 1, type: 'event', at: new Date().toISOString(), body: { type: 'forged' } }],
    }
    // aedes refuses the publication (and drops the connection of a client that tries).
    await client
      .publishAsync(`vms/v1/agents/${cb.agentId}/up/messages`, JSON.stringify(forged), { qos: 0 })
      .catch(() => {})
    await expect.poll(() => metric('vms_mqtt_rejected_total', 'reason="acl"')).toBeGreaterThan(before)
    const forgedRows = await t.db.adminQuery(`select count(*)::int as n from events where type = 'forged'`)
    expect(forgedRows.rows[0]?.n).toBe(0)
    // Wrong secret, or another agent's id with one's own secret: refused at connect.
    await expect(connectAs({ ...ca, secret: 'x'.repeat(43) })).rejects.toThrow()
    await expect(connectAs({ ...cb, secret: ca.secret })).rejects.toThrow()
  })

  it('rejects and counts a garbage payload while the connection and valid traffic carry on', async () => {
    const cb = readCredentials(b.dataDir)
    const client = await connectAs(cb)
    cleanups.push(() => client.endAsync(true))
    await client.subscribeAsync(`vms/v1/agents/${cb.agentId}/down/ack`, { qos: 1 })
    // Every ack, in order: the hub also answers on connect and for the oversize publication (send
    // smaller), at moments of its own.
    const acks: { seq: number; resend?: { reason: string } }[] = []
    client.on('message', (topic, payload) => {
      if (topic === `vms/v1/agents/${cb.agentId}/down/ack`) acks.push(JSON.parse(payload.toString()))
    })
    const malformed = await metric('vms_mqtt_rejected_total', 'reason="malformed"')
    const invalid = await metric('vms_mqtt_rejected_total', 'reason="invalid"')
    const oversize = await metric('vms_mqtt_rejected_total', 'reason="oversize"')
    const up = `vms/v1/agents/${cb.agentId}/up/messages`
    await client.publishAsync(up, '{"v":1,"messages":[{"seq":', { qos: 1 })
    await client.publishAsync(up, JSON.stringify({ v: 1, messages: [{ seq: -1, type: 'event' }] }), {
      qos: 1,
    })
    await client.publishAsync(up, Buffer.alloc(300 * 1024, 0x20), { qos: 1 })
    await expect.poll(() => metric('vms_mqtt_rejected_total', 'reason="malformed"')).toBe(malformed + 1)
    await expect.poll(() => metric('vms_mqtt_rejected_total', 'reason="invalid"')).toBe(invalid + 1)
    await expect.poll(() => metric('vms_mqtt_rejected_total', 'reason="oversize"')).toBe(oversize + 1)
    expect(client.connected).toBe(true)
    await expect.poll(() => acks.some((a) => a.resend?.reason === 'oversize')).toBe(true)
    const valid = {
      v: 1,
      messages: [{ seq: 1, type: 'event', at: new Date().toISOString(), body: { type: 'probe' } }],
    }
    await client.publishAsync(up, JSON.stringify(valid), { qos: 1 })
    await expect.poll(() => acks.at(-1)).toEqual({ v: 1, seq: 1 })
    const rows = await t.db.adminQuery(
      `select count(*)::int as n from events where agent_id = $1 and type = 'probe'`,
      [cb.agentId],
    )
    expect(rows.rows[0]?.n).toBe(1)
  })

  it('cuts a disabled agent off at once, lets it back when re-enabled, and never again once revoked', async () => {
    const agent = a.start()
    await expect.poll(() => agent.connected, { timeout: 20_000 }).toBe(true)
    const token = await t.adminToken()
    await expect
      .poll(async () => (await t.request('GET', `/api/v1/agents/${a.agentId}`, { token })).body.status, {
        timeout: 20_000,
      })
      .toBe('online')
    const disabled = await t.request('PATCH', `/api/v1/agents/${a.agentId}`, {
      token,
      body: { disabled: true },
    })
    expect(disabled.body.status).toBe('disabled')
    await expect.poll(() => agent.connected, { timeout: 10_000 }).toBe(false)
    await expect(connectAs(readCredentials(a.dataDir))).rejects.toThrow()
    await t.request('PATCH', `/api/v1/agents/${a.agentId}`, { token, body: { disabled: false } })
    await expect.poll(() => agent.connected, { timeout: 20_000 }).toBe(true)

    expect((await t.request('DELETE', `/api/v1/agents/${a.agentId}`, { token })).status).toBe(204)
    await expect.poll(() => agent.connected, { timeout: 10_000 }).toBe(false)
    await expect(connectAs(readCredentials(a.dataDir))).rejects.toThrow()
    const view = await t.request('GET', `/api/v1/agents/${a.agentId}`, { token })
    expect(view.body).toMatchObject({ status: 'revoked' })
    const audit = await t.request('GET', `/api/v1/audit?target=${a.agentId}`, { token })
    const actions = audit.body.items.map((e: { action: string }) => e.action)
    expect(actions).toEqual(
      expect.arrayContaining(['agent.revoke', 'agent.update', 'agent.offline', 'agent.online']),
    )
    await a.stop()
  })
})
