import {
  type DownAck,
  type DownConfig,
  type DownRequest,
  downTopic,
  type UpKind,
  upTopic,
} from '@ts-vms/shared'
import mqtt, { type MqttClient } from 'mqtt'
import type { Enrolled } from './enrollment.ts'

/**
 * A fake agent over MQTT, as the API tests play one: it connects with an enrolled agent's
 * credentials, collects the hub's acks and configurations, answers `down/request` on `up/response`
 * through a test's handler, and publishes `up/messages` batches waiting for their ack.
 */

/** Resolves with `find()`'s first defined value, polling every 20 ms (throws after `ms`). */
export async function waitFor<T>(find: () => T | undefined, what: string, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const found = find()
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** An MQTT connection as the enrolled agent (its id as client id and user name; the hub's CA if any). */
export function connectAgentClient(e: Enrolled): Promise<MqttClient> {
  return mqtt.connectAsync(e.mqttUrl, {
    clientId: e.agentId,
    username: e.agentId,
    password: e.secret,
    reconnectPeriod: 0,
    ...(e.caCertificate
      ? { ca: e.caCertificate, rejectUnauthorized: true, checkServerIdentity: () => undefined }
      : {}),
  })
}

/** A request's answer on `up/response` (the `v` and `id` are added). */
export type Answer = { ok: true; result: unknown } | { ok: false; error: Record<string, unknown> }

export interface FakeAgentOptions {
  /**
   * Called for each `down/request` (after it is recorded in `requests`); what it returns is
   * published as the answer, nothing if it returns undefined (an export answers by its upload).
   */
  onRequest?: (r: DownRequest) => Answer | undefined | Promise<Answer | undefined>
}

export interface FakeAgent {
  agentId: string
  client: MqttClient
  /** Every `down/ack` received, the greeting first. */
  acks: DownAck[]
  /** Every `down/config` received (the retained one first, if any). */
  configs: DownConfig[]
  /** Every `down/request` received. */
  requests: DownRequest[]
  /** Publishes a batch on `up/messages` and waits for the ack covering `until` (its last seq by default). */
  /** `sentAt`: the agent's clock to claim for the batch (a skewed clock), absent: none sent. */
  publishBatch(messages: Record<string, unknown>[], until?: number, sentAt?: Date): Promise<DownAck>
  close(): Promise<void>
}

/**
 * Connects as the enrolled agent, subscribes to its `down/ack`, `down/config` and `down/request`,
 * says it is online and waits for the hub's greeting (an ack of where it stands, sent once the
 * agent is marked online): so the greeting comes before any batch's ack.
 */
export async function connectFakeAgent(e: Enrolled, options: FakeAgentOptions = {}): Promise<FakeAgent> {
  const client = await connectAgentClient(e)
  const acks: DownAck[] = []
  const configs: DownConfig[] = []
  const requests: DownRequest[] = []
  const topics = {
    ack: downTopic(e.agentId, 'ack'),
    config: downTopic(e.agentId, 'config'),
    request: downTopic(e.agentId, 'request'),
  }
  const publish = async (kind: UpKind, payload: unknown) => {
    await client.publishAsync(upTopic(e.agentId, kind), JSON.stringify(payload), { qos: 1 })
  }
  const answer = async (r: DownRequest) => {
    requests.push(r)
    const answered = await options.onRequest?.(r)
    if (answered) await publish('response', { v: 1, id: r.id, ...answered })
  }
  client.on('message', (topic, payload) => {
    const message = JSON.parse(payload.toString('utf8'))
    if (topic === topics.ack) acks.push(message as DownAck)
    else if (topic === topics.config) configs.push(message as DownConfig)
    else if (topic === topics.request) void answer(message as DownRequest)
  })
  for (const topic of Object.values(topics)) await client.subscribeAsync(topic, { qos: 1 })
  await publish('status', { v: 1, online: true, at: new Date().toISOString() })
  await waitFor(() => acks[0], 'the greeting')
  return {
    agentId: e.agentId,
    client,
    acks,
    configs,
    requests,
    async publishBatch(messages, until, sentAt) {
      const last = until ?? Math.max(...messages.map((m) => Number(m.seq)))
      const from = acks.length
      await publish('messages', { v: 1, ...(sentAt ? { sentAt: sentAt.toISOString() } : {}), messages })
      return waitFor(() => acks.slice(from).find((a) => a.seq >= last), `ack ${last}`)
    },
    close: () => client.endAsync(),
  }
}
