/**
 * A fleet simulator: N lightweight agents over real MQTT, each speaking the agent protocol
 * (enrollment, batches of sequenced events, acks, resend on ack timeout) without the SQLite outbox,
 * to load a hub the way a fleet would. Used by `npm run bench -- ingest`; also runnable:
 *
 *   tsx scripts/fleet-sim.ts --hub http://127.0.0.1:8080 --token <access token> --site <site id>
 *                            [--agents 10] [--events 10000] [--batch 500]
 */
import { parseArgs } from 'node:util'
import mqtt, { type IClientOptions } from 'mqtt'
import { downTopic, upTopic } from '../shared/src/index.ts'

export interface SimCredentials {
  agentId: string
  mqttUrl: string
  secret: string
  caCertificate: string | null
}

/** Enrolls one simulated agent into a site through the hub's API. */
export async function enrollSimAgent(
  hubUrl: string,
  token: string,
  siteId: string,
  name: string,
): Promise<SimCredentials> {
  const code = await fetch(`${hubUrl}/api/v1/sites/${siteId}/enrollments`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  })
  if (code.status !== 201) throw new Error(`enrollment code: ${code.status} ${await code.text()}`)
  const { code: value } = (await code.json()) as { code: string }
  const res = await fetch(`${hubUrl}/api/v1/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code: value, name, version: 'fleet-sim' }),
  })
  if (res.status !== 201) throw new Error(`enroll: ${res.status} ${await res.text()}`)
  return (await res.json()) as SimCredentials
}

/** The agent protocol's client side options for simulated credentials. */
export function simOptions(c: SimCredentials): IClientOptions {
  const options: IClientOptions = {
    clientId: c.agentId,
    username: c.agentId,
    password: c.secret,
    reconnectPeriod: 500,
  }
  if (c.caCertificate)
    Object.assign(options, {
      ca: c.caCertificate,
      rejectUnauthorized: true,
      checkServerIdentity: () => undefined,
    })
  return options
}

export function eventBatch(fromSeq: number, count: number, at = new Date().toISOString()): string {
  const messages = []
  for (let i = 0; i < count; i++) {
    messages.push({ seq: fromSeq + i, type: 'event', at, body: { type: 'sim', data: { n: fromSeq + i } } })
  }
  return JSON.stringify({ v: 1, messages })
}

/** Sends `events` events in batches, keeping `window` batches in flight; resolves when all are acked. */
export async function runSimAgent(c: SimCredentials, events: number, batch = 500, window = 4): Promise<void> {
  const client = await mqtt.connectAsync(c.mqttUrl, simOptions(c))
  let acked = 0
  let sent = 0
  let lastProgress = Date.now()
  await new Promise<void>((resolve, reject) => {
    const pump = () => {
      if (Date.now() - lastProgress > 3000 && sent > acked) sent = acked // resend what was not acknowledged
      while (sent < events && sent - acked < batch * window) {
        const n = Math.min(batch, events - sent)
        client.publish(upTopic(c.agentId, 'messages'), eventBatch(sent + 1, n), { qos: 1 })
        sent += n
      }
    }
    client.on('message', (_topic, payload) => {
      const seq = (JSON.parse(payload.toString()) as { seq: number }).seq
      if (seq > acked) {
        acked = seq
        lastProgress = Date.now()
      }
      if (acked >= events) resolve()
      else pump()
    })
    const timer = setInterval(pump, 500)
    client.subscribe(downTopic(c.agentId, 'ack'), { qos: 1 }, (err) => {
      if (err) reject(err)
      else pump()
    })
    const done = () => clearInterval(timer)
    client.once('end', done)
  })
  await client.endAsync(true)
}

/**
 * A heartbeat's body as an agent with `cameras` cameras sends it (the schema the hub validates):
 * two streams each, live, analytics, device and probe reports, so the hub stores and the alarm
 * engine reads what a real fleet's would weigh.
 */
export function healthBodyOf(cameraIds: readonly string[], uptimeSeconds: number, at: string) {
  return {
    uptimeSeconds,
    version: 'fleet-sim',
    hostname: 'fleet-sim',
    disk: { freeBytes: 400e9, totalBytes: 1000e9 },
    outbox: { depth: 0, bytes: 0, full: false, quarantined: 0, rejected: 0, oldestAgeSeconds: 0 },
    configVersion: 1,
    recording: { bytes: 550e9, quotaBytes: 800e9, lockedBytes: 0, locks: 0 },
    cameras: cameraIds.map((id, i) => ({
      id,
      streams: (['main', 'sub'] as const).map((role) => ({
        role,
        state: 'streaming' as const,
        codec: 'h264' as const,
        bitrateBps: role === 'main' ? 4_000_000 + i : 512_000 + i,
        fps: role === 'main' ? 25 : 10,
        lostPackets: i,
        oversizedFrames: 0,
        droppedFrames: 0,
        reconnects: 0,
        recording: role === 'main',
        timestampJumps: 0,
        lastWrittenAt: at,
      })),
      live: { connections: 0, stream: 'sub' as const, transcoded: false },
      analytics: {
        state: 'running' as const,
        fps: 5,
        inferenceMsP50: 12.5,
        skippedByMotion: 0.8,
        stream: 'sub' as const,
        model: 'yolo-sim',
        framesDropped: 0,
        activeObjects: 0,
      },
      device: { events: 'connected' as const, lastEventAt: at },
      probe: { reachable: true, latencyMs: null, at },
      retention: { oldestAt: '2026-01-01T00:00:00.000Z' },
    })),
  }
}

export interface FleetAgentOptions {
  /** Cameras in each heartbeat. */
  cameras: number
  heartbeatMs: number
  eventsPerSecond: number
  /** How often the agent publishes what its outbox holds (events accumulate in between). */
  batchMs: number
  durationMs: number
  /** Stops the agent early (the bench's deadline). */
  signal?: AbortSignal
}

export interface FleetAgentResult {
  /** Each heartbeat from its making (its `at`) to the acknowledgement that covers it, ms. */
  heartbeatLagMs: number[]
  /** The same for the last event of each interval. */
  eventLagMs: number[]
  events: number
  heartbeats: number
  /** Times the agent started again from the last acknowledged message (acks stopped advancing). */
  resent: number
}

/** The edge agent's defaults (edge-agent/src/config.ts): messages in flight, ack timeout, batch size. */
const MAX_INFLIGHT = 2000
const ACK_TIMEOUT_MS = 5000
const BATCH_MAX = 500

/** Connects, a few times over on a hub too busy to answer at once (a thousand agents at a time). */
async function connectWithRetries(c: SimCredentials, tries = 5) {
  for (let i = 1; ; i++) {
    try {
      return await mqtt.connectAsync(c.mqttUrl, { ...simOptions(c), connectTimeout: 30_000 })
    } catch (err) {
      if (i >= tries) throw err
      await new Promise((r) => setTimeout(r, 1000 * i))
    }
  }
}

/**
 * A steady agent sending like the edge agent's link (edge-agent/src/link/hub-link.ts): what it
 * makes goes to an outbox (events every `batchMs`, a heartbeat every `heartbeatMs`); the outbox
 * is published in batches of at most 500 while fewer than 2,000 messages wait for their
 * acknowledgement, and when acknowledgements stop advancing for 5 s it starts again from the last
 * acknowledged message. A slow hub thus gets fewer, larger batches, as from real agents. Each
 * heartbeat is timed from its making to the acknowledgement covering it, which the hub sends
 * after the commit: heartbeat-to-committed, outbox wait included.
 */
export async function runFleetAgent(c: SimCredentials, o: FleetAgentOptions): Promise<FleetAgentResult> {
  const client = await connectWithRetries(c)
  // A reset connection is reconnected by the client (and what was not acknowledged is resent).
  client.on('error', () => {})
  const cameraIds = Array.from({ length: o.cameras }, () => crypto.randomUUID())
  const result: FleetAgentResult = { heartbeatLagMs: [], eventLagMs: [], events: 0, heartbeats: 0, resent: 0 }
  const started = Date.now()
  const outbox = new Map<number, unknown>()
  // Messages to time: seq -> when made, whether a heartbeat.
  const timed = new Map<number, { at: number; health: boolean }>()
  let seq = 0
  let sentUpTo = 0
  let acked = 0
  let lastProgress = Date.now()
  let nextHeartbeat = started + Math.random() * o.heartbeatMs
  let eventDebt = 0
  const pump = () => {
    if (sentUpTo > acked && Date.now() - lastProgress > ACK_TIMEOUT_MS) {
      sentUpTo = acked
      lastProgress = Date.now()
      result.resent++
    }
    while (sentUpTo < seq && sentUpTo - acked < MAX_INFLIGHT) {
      const messages: unknown[] = []
      for (let s = sentUpTo + 1; s <= seq && messages.length < BATCH_MAX; s++) messages.push(outbox.get(s))
      if (sentUpTo === acked) lastProgress = Date.now()
      sentUpTo += messages.length
      client.publish(
        upTopic(c.agentId, 'messages'),
        JSON.stringify({ v: 1, sentAt: new Date().toISOString(), messages }),
        { qos: 1 },
      )
    }
  }
  client.on('message', (_topic, payload) => {
    const ack = (JSON.parse(payload.toString()) as { seq: number }).seq
    if (ack <= acked) return
    for (let s = acked + 1; s <= ack; s++) outbox.delete(s)
    acked = ack
    if (sentUpTo < acked) sentUpTo = acked
    lastProgress = Date.now()
    const now = Date.now()
    for (const [s, t] of timed) {
      if (s > ack) break
      ;(t.health ? result.heartbeatLagMs : result.eventLagMs).push(now - t.at)
      timed.delete(s)
    }
    pump()
  })
  await client.subscribeAsync(downTopic(c.agentId, 'ack'), { qos: 1 })
  const make = () => {
    const now = Date.now()
    const at = new Date(now).toISOString()
    eventDebt += (o.eventsPerSecond * o.batchMs) / 1000
    let made = false
    for (; eventDebt >= 1; eventDebt--) {
      seq++
      outbox.set(seq, {
        seq,
        type: 'event',
        at,
        body: { type: 'sim', cameraId: cameraIds[seq % cameraIds.length], data: { n: seq } },
      })
      result.events++
      made = true
    }
    if (made) timed.set(seq, { at: now, health: false })
    if (now >= nextHeartbeat) {
      nextHeartbeat += o.heartbeatMs
      seq++
      outbox.set(seq, {
        seq,
        type: 'health',
        at,
        body: healthBodyOf(cameraIds, Math.round((now - started) / 1000), at),
      })
      timed.set(seq, { at: now, health: true })
      result.heartbeats++
    }
  }
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (Date.now() - started >= o.durationMs || o.signal?.aborted) {
        clearInterval(timer)
        resolve()
        return
      }
      make()
      pump()
    }, o.batchMs)
  })
  // The last acknowledgements, briefly.
  const until = Date.now() + 5000
  while (acked < seq && Date.now() < until) await new Promise((r) => setTimeout(r, 100))
  await client.endAsync(true)
  return result
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    strict: true,
    options: {
      hub: { type: 'string' },
      token: { type: 'string' },
      site: { type: 'string' },
      agents: { type: 'string', default: '10' },
      events: { type: 'string', default: '10000' },
      batch: { type: 'string', default: '500' },
    },
  })
  if (!values.hub || !values.token || !values.site) {
    console.error(
      'usage: tsx scripts/fleet-sim.ts --hub URL --token TOKEN --site SITE [--agents N] [--events M]',
    )
    process.exit(2)
  }
  const agents = Number(values.agents)
  const events = Number(values.events)
  const creds = []
  for (let i = 0; i < agents; i++)
    creds.push(await enrollSimAgent(values.hub, values.token, values.site, `sim-${i}`))
  const started = performance.now()
  await Promise.all(creds.map((c) => runSimAgent(c, events, Number(values.batch))))
  const seconds = (performance.now() - started) / 1000
  console.log(
    `${agents} agents x ${events} events committed in ${seconds.toFixed(1)} s: ${((agents * events) / seconds).toFixed(0)} events/s`,
  )
}
