import { randomUUID } from 'node:crypto'
import { parseTopic, upTopic } from '@ts-vms/shared'
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt'
import type { Logger } from 'pino'
import type { AgentBus, AgentMessage } from './agent-bus.ts'

/**
 * An external broker (Mosquitto, EMQX) for fleets: each hub instance connects as a client and
 * consumes agent traffic through a shared subscription, so N hubs split the load and a message a
 * dying hub did not acknowledge goes to another. (Exactly-once still holds: see ingest.ts.)
 *
 * Per-agent accounts and ACLs live in the broker. With Mosquitto's dynamic-security plugin the hub
 * manages them itself over `$CONTROL/dynamic-security/v1`: each agent gets a client (username and
 * client id = agent id) and a role that allows publishing only under its own `up/` and subscribing
 * only under its own `down/`; revoking disables the client, which the broker disconnects at once.
 */
const CONTROL = '$CONTROL/dynamic-security/v1'
const HUB_ROLE = 'vms-hub'
/** Agent messages one hub handles at once before it stops reading from the broker. */
const MAX_IN_FLIGHT = 256

interface DynsecResponse {
  command: string
  error?: string
  correlationData?: string
  data?: { client?: { roles?: { rolename: string }[] } }
}

export class ExternalBroker implements AgentBus {
  private handler: (m: AgentMessage) => Promise<void> = async () => {}
  private readonly pending = new Map<string, (r: DynsecResponse) => void>()

  private constructor(
    private readonly client: MqttClient,
    private readonly logger: Logger,
    readonly description: string,
  ) {}

  static async connect(options: {
    url: string
    sharedGroup: string
    logger: Logger
  }): Promise<ExternalBroker> {
    const url = new URL(options.url)
    const client = await mqtt.connectAsync(options.url, {
      clientId: `vms-hub-${randomUUID().slice(0, 8)}`,
      clean: true,
      protocolVersion: 5,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      // Messages are acknowledged to the broker only once handled (see handleMessage below).
      manualConnect: false,
    })
    const self = new ExternalBroker(
      client,
      options.logger,
      `external MQTT broker at ${url.protocol}//${url.host}`,
    )
    client.on('error', (err) => options.logger.warn({ err: err.message }, 'mqtt: broker connection error'))
    // mqtt.js reads the next message only once `done` is called: holding it until each message is
    // committed would handle the whole fleet's messages one at a time (issue 17, fleet bench). So
    // up to MAX_IN_FLIGHT messages are handled at once (ingest keeps each agent's in order: they
    // are handed over in arrival order), and past that the PUBACK waits: backpressure. A message a
    // dying hub took but did not commit is not lost: the agent resends what the hub did not
    // acknowledge (its outbox, `down/ack`), and ingest applies each sequence number once.
    let inFlight = 0
    const held: (() => void)[] = []
    client.handleMessage = (packet: IPublishPacket, done: (err?: Error) => void) => {
      inFlight++
      void self
        .dispatch(packet)
        .catch((err: unknown) => options.logger.error({ err }, 'mqtt: handling a message failed'))
        .finally(() => {
          inFlight--
          held.shift()?.()
        })
      if (inFlight <= MAX_IN_FLIGHT) done()
      else held.push(() => done())
    }
    await client.subscribeAsync(`$CONTROL/dynamic-security/v1/response`, { qos: 1 })
    // Messages and status are shared among hubs (each handled once, by any of them); responses go
    // to every hub, since only the one that asked holds the pending request.
    for (const kind of ['messages', 'status'] as const)
      await client.subscribeAsync(`$share/${options.sharedGroup}/${upTopic('+', kind)}`, { qos: 1 })
    await client.subscribeAsync(upTopic('+', 'response'), { qos: 1 })
    // The live overlay's objects go to every hub too: the one serving the console relays them.
    await client.subscribeAsync(upTopic('+', 'objects'), { qos: 0 })
    await self.ensureHubRole(url.username ? decodeURIComponent(url.username) : undefined)
    options.logger.info({ broker: self.description }, 'connected to the external MQTT broker')
    return self
  }

  private async dispatch(packet: IPublishPacket): Promise<void> {
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload)
    if (packet.topic === `${CONTROL}/response`) {
      try {
        const { responses } = JSON.parse(payload.toString()) as { responses: DynsecResponse[] }
        for (const r of responses) {
          const waiter = r.correlationData ? this.pending.get(r.correlationData) : undefined
          if (waiter && r.correlationData) {
            this.pending.delete(r.correlationData)
            waiter(r)
          }
        }
      } catch (err) {
        this.logger.warn({ err }, 'mqtt: unreadable dynamic-security response')
      }
      return
    }
    const topic = parseTopic(packet.topic)
    if (topic?.direction !== 'up') return
    this.logger.trace({ topic: packet.topic, bytes: payload.length }, 'mqtt: message')
    await this.handler({ agentId: topic.agentId, kind: topic.kind, payload, receivedAt: Date.now() })
  }

  /** Sends a dynamic-security command and waits for its answer. */
  private async control(command: Record<string, unknown>, tolerate: RegExp[] = []): Promise<DynsecResponse> {
    const correlationData = randomUUID()
    const answer = new Promise<DynsecResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(correlationData)
        reject(
          new Error(`the broker did not answer ${String(command.command)} (is dynamic security enabled?)`),
        )
      }, 5000)
      this.pending.set(correlationData, (r) => {
        clearTimeout(timer)
        resolve(r)
      })
    })
    await this.client.publishAsync(CONTROL, JSON.stringify({ commands: [{ ...command, correlationData }] }), {
      qos: 1,
    })
    const r = await answer
    if (r.error && !tolerate.some((t) => t.test(r.error ?? ''))) {
      throw new Error(`broker refused ${String(command.command)}: ${r.error}`)
    }
    return r
  }

  /**
   * The hub's own account may publish to every agent's down branch. Giving it the role makes the
   * broker disconnect it (dynamic security re-applies ACLs that way); the client reconnects and
   * re-subscribes by itself, so the hub waits for that.
   */
  private async ensureHubRole(username: string | undefined): Promise<void> {
    await this.control(
      {
        command: 'createRole',
        rolename: HUB_ROLE,
        acls: [{ acltype: 'publishClientSend', topic: 'vms/v1/agents/+/down/#', priority: 0, allow: true }],
      },
      [/already exists/i],
    )
    if (!username) return
    const info = await this.control({ command: 'getClient', username })
    if (info.data?.client?.roles?.some((r) => r.rolename === HUB_ROLE)) return
    const reconnected = new Promise<void>((resolve) => this.client.once('connect', () => resolve()))
    await this.client.publishAsync(
      CONTROL,
      JSON.stringify({ commands: [{ command: 'addClientRole', username, rolename: HUB_ROLE }] }),
      { qos: 1 },
    )
    await Promise.race([reconnected, new Promise((r) => setTimeout(r, 10_000))])
  }

  onMessage(handler: (message: AgentMessage) => Promise<void>): void {
    this.handler = handler
  }

  onPresence(): void {
    // The broker's view reaches the hub through the agents' status messages and last wills.
  }

  /**
   * Queues a QoS 1 publication without waiting for the broker's PUBACK: publications happen while an
   * incoming message is being handled, and the client reads the PUBACK only after that handling is
   * done. Acks and configuration are idempotent and re-sent, so a lost one costs a retry, no more.
   */
  async publish(topic: string, payload: string, options: { retain?: boolean } = {}): Promise<void> {
    this.client.publish(topic, payload, { qos: 1, retain: options.retain ?? false }, (err) => {
      if (err) this.logger.warn({ err: err.message, topic }, 'mqtt: publication failed')
    })
  }

  async admit(agentId: string, secret: string): Promise<void> {
    const rolename = `vms-agent-${agentId}`
    await this.control(
      {
        command: 'createRole',
        rolename,
        acls: [
          { acltype: 'publishClientSend', topic: `vms/v1/agents/${agentId}/up/#`, priority: 0, allow: true },
          { acltype: 'subscribePattern', topic: `vms/v1/agents/${agentId}/down/#`, priority: 0, allow: true },
          {
            acltype: 'publishClientReceive',
            topic: `vms/v1/agents/${agentId}/down/#`,
            priority: 0,
            allow: true,
          },
        ],
      },
      [/already exists/i],
    )
    await this.control({
      command: 'createClient',
      username: agentId,
      password: secret,
      clientid: agentId,
      roles: [{ rolename, priority: 0 }],
    })
  }

  async expel(agentId: string): Promise<void> {
    await this.control({ command: 'disableClient', username: agentId }, [/not found/i])
  }

  async readmit(agentId: string): Promise<void> {
    await this.control({ command: 'enableClient', username: agentId }, [/not found/i])
  }

  async close(): Promise<void> {
    this.handler = async () => {}
    await this.client.endAsync(true)
  }
}
