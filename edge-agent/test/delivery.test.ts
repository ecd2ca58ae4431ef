import { type ChildProcess, spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { startTestHub, type TestHub } from '../../hub/test/helpers/test-hub.ts'
import { Outbox } from '../src/outbox/outbox.ts'
import { enrolledAgent, freePort, type TestAgent } from './helpers/agent-harness.ts'

/**
 * Store-and-forward, end to end: events pile up in the agent's outbox while the hub is away and
 * all arrive exactly once, in order, when it is back, even if the agent is killed half way.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const N = 10_000
const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
})

function queueEvents(dataDir: string, count: number) {
  const outbox = new Outbox(path.join(dataDir, 'outbox.db'), 1024 ** 3)
  outbox.db.transaction(() => {
    for (let i = 1; i <= count; i++) outbox.append('event', { type: 'test', data: { n: i } })
  })()
  outbox.close()
}

async function delivered(t: TestHub, agentId: string) {
  const r = await t.db.adminQuery<{ n: number; distinct_seq: number }>(
    `select count(*)::int as n, count(distinct seq)::int as distinct_seq from events where agent_id = $1 and type = 'test'`,
    [agentId],
  )
  return r.rows[0] as { n: number; distinct_seq: number }
}

async function expectExactlyOnceInOrder(t: TestHub, agentId: string) {
  const rows = await t.db.adminQuery<{ n: string }>(
    `select data->>'n' as n from events where agent_id = $1 and type = 'test' order by seq`,
    [agentId],
  )
  const ns = rows.rows.map((r) => Number(r.n))
  expect(ns.length).toBe(N)
  expect(ns.every((n, i) => n === i + 1)).toBe(true)
}

describe('store-and-forward through the embedded broker', () => {
  it(`delivers ${N} events made while the hub was down, exactly once and in order`, async () => {
    const t = await startTestHub({ VMS_MQTT_PORT: await freePort() }, { systemLicense: true })
    cleanups.push(() => t.close())
    const a: TestAgent = await enrolledAgent(t)
    cleanups.push(() => a.cleanup())
    const agent = a.start()
    await expect.poll(() => agent.connected, { timeout: 20_000 }).toBe(true)

    await t.hub.close() // hub, broker and all
    await expect.poll(() => agent.connected, { timeout: 20_000 }).toBe(false)
    queueEvents(a.dataDir, N)
    expect(agent.outbox.depth()).toBeGreaterThanOrEqual(N)

    await t.restart()
    await expect
      .poll(async () => (await delivered(t, a.agentId)).n, { timeout: 120_000, interval: 250 })
      .toBe(N)
    await expectExactlyOnceInOrder(t, a.agentId)
    // Everything acknowledged is gone from the agent.
    await expect.poll(() => agent.outbox.depth(), { timeout: 30_000 }).toBeLessThan(5)
    const token = await t.adminToken()
    const events = await t.request('GET', `/api/v1/events?agentId=${a.agentId}&type=test&limit=1`, { token })
    expect(events.body.total).toBe(N)
    expect(events.body.items[0].data).toEqual({ n: N })
  })

  it('delivers exactly once when the agent is killed with SIGKILL half way and restarted', async () => {
    const t = await startTestHub({ VMS_MQTT_PORT: await freePort() }, { systemLicense: true })
    cleanups.push(() => t.close())
    const a = await enrolledAgent(t, { VMS_AGENT_BATCH_MAX: 50, VMS_AGENT_MAX_INFLIGHT: 100 })
    cleanups.push(() => a.cleanup())
    let child: ChildProcess | undefined
    const spawnAgent = () => {
      child = spawn(process.execPath, ['--import', 'tsx', 'edge-agent/src/main.ts'], {
        cwd: root,
        env: { ...process.env, ...a.env },
        stdio: 'ignore',
      })
      return child
    }
    cleanups.push(() => {
      child?.kill('SIGKILL')
    })
    const acked = async () =>
      Number(
        (await t.db.adminQuery('select acked_seq from agents where id = $1', [a.agentId])).rows[0]
          ?.acked_seq ?? 0,
      )

    await t.hub.close()
    // The installer's own command queues the events, while the hub is away.
    const emit = spawn(
      process.execPath,
      ['--import', 'tsx', 'edge-agent/src/main.ts', 'emit-test-events', '--count', String(N)],
      {
        cwd: root,
        env: { ...process.env, ...a.env },
        stdio: 'ignore',
      },
    )
    expect(await new Promise((resolve) => emit.on('exit', resolve))).toBe(0)
    await t.restart()
    spawnAgent()
    await expect.poll(acked, { timeout: 60_000, interval: 20 }).toBeGreaterThan(N * 0.2)
    child?.kill('SIGKILL')
    await new Promise((resolve) => child?.once('exit', resolve))
    const atKill = (await delivered(t, a.agentId)).n
    spawnAgent()
    await expect
      .poll(async () => (await delivered(t, a.agentId)).n, { timeout: 120_000, interval: 250 })
      .toBe(N)
    await expectExactlyOnceInOrder(t, a.agentId)
    console.log(`killed the agent with ${atKill} of ${N} delivered`)
    expect(atKill).toBeGreaterThan(0)
    // The installer's command is itself audited, by the agent, in the tenant's chain.
    const token = await t.adminToken()
    const audit = await t.request('GET', '/api/v1/audit?action=agent.test_events.emit', { token })
    expect(audit.body.items[0]).toMatchObject({
      actor: { type: 'agent', id: a.agentId },
      details: { count: N },
    })
    expect((await t.request('GET', '/api/v1/audit/verify', { token })).body.ok).toBe(true)
  })
})

describe('store-and-forward through network and database cuts', () => {
  it('delivers exactly once when the agent’s link and the hub’s database connection are cut mid-stream', async () => {
    const { startTcpProxy } = await import('../../hub/test/helpers/tcp-proxy.ts')
    const { createTestDatabase } = await import('../../hub/test/helpers/test-database.ts')
    const { readCredentials, writeCredentials } = await import('../src/credentials.ts')
    const db = await createTestDatabase()
    const dbUrl = new URL(db.url)
    const dbProxy = await startTcpProxy(dbUrl.hostname, Number(dbUrl.port))
    dbUrl.port = String(dbProxy.port)
    const t = await startTestHub(
      { VMS_DATABASE_URL: dbUrl.toString(), VMS_AUDIT_DB_TIMEOUT_MS: 1000 },
      { db, systemLicense: true },
    )
    cleanups.push(async () => {
      await t.close()
      await dbProxy.close()
      await db.drop()
    })
    const a = await enrolledAgent(t, { VMS_AGENT_BATCH_MAX: 50, VMS_AGENT_MAX_INFLIGHT: 200 })
    cleanups.push(() => a.cleanup())
    // The agent reaches the broker through a link the test can cut.
    const c = readCredentials(a.dataDir)
    const broker = new URL(c.mqttUrl)
    const link = await startTcpProxy(broker.hostname, Number(broker.port))
    cleanups.push(() => link.close())
    writeCredentials(a.dataDir, { ...c, mqttUrl: `mqtts://127.0.0.1:${link.port}` })
    const agent = a.start()
    await expect.poll(() => agent.connected, { timeout: 20_000 }).toBe(true)
    agent.outbox.db.transaction(() => {
      for (let i = 1; i <= N; i++) agent.outbox.append('event', { type: 'test', data: { n: i } })
    })()
    const acked = async () => agent.outbox.acked()
    await expect.poll(acked, { timeout: 60_000, interval: 20 }).toBeGreaterThan(N * 0.1)
    link.cut() // the site loses its uplink
    await expect.poll(() => agent.connected, { timeout: 20_000 }).toBe(false)
    link.restore()
    await expect.poll(acked, { timeout: 60_000, interval: 20 }).toBeGreaterThan(N * 0.4)
    dbProxy.cut() // the hub loses its database
    const stalled = await acked()
    await new Promise((r) => setTimeout(r, 1500))
    expect(await acked()).toBeLessThanOrEqual(stalled + 200) // nothing new is acknowledged without the database
    dbProxy.restore()
    await expect
      .poll(async () => (await delivered(t, a.agentId)).n, { timeout: 120_000, interval: 250 })
      .toBe(N)
    await expectExactlyOnceInOrder(t, a.agentId)
  })
})
