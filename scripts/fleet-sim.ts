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
