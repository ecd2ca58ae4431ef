import {
  type DownConfig,
  type DownRequest,
  decode,
  downAck,
  downConfig,
  downRequest,
  downTopic,
  MAX_PAYLOAD_BYTES,
  PROTOCOL_VERSION,
  type UpResponse,
  upTopic,
} from '@ts-vms/shared'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import type { Logger } from 'pino'
import type { Credentials } from '../credentials.ts'
import { encodeBatch } from '../outbox/encoding.ts'
import type { Outbox } from '../outbox/outbox.ts'

/**
 * The byte budget after the hub refused a publication as oversize: half the last one, never above
 * what the hub says it takes, and never so small that a batch could not hold one record (the
 * outbox sends its first row whatever the budget, and no row exceeds the hub's limit).
 */
export function smallerBatchBytes(current: number, hubMax: number): number {
  return Math.max(16 * 1024, Math.min(hubMax, Math.floor(current / 2)))
}

export interface HubLinkOptions {
  credentials: Credentials
  outbox: Outbox
  logger: Logger
  version: string
  /** Announced in `up/status`: what the hub may ask beyond the protocol's first release. */
  features?: string[]
  batchMax: number
  maxInflight: number
  ackTimeoutMs: number
  onConfig: (config: DownConfig) => void
  /** A request from the hub (recordings list, export); answered with `respond()`. */
  onRequest?: (request: DownRequest) => void
}

/**
 * The agent's link to the hub: one MQTT session (client id = agent id), outbound only.
 *
 * It streams the outbox up in batches (QoS 1) while keeping at most `maxInflight` messages
 * unacknowledged: backpressure, not memory, when the hub is slow. The hub acknowledges the highest
 * sequence it has committed; the agent deletes up to it. After a reconnect, or when acks stop
 * advancing for `ackTimeoutMs`, it starts again from the last acknowledged message; the hub
 * ignores what it already has, so nothing arrives twice.
 */
export class HubLink {
  private client: MqttClient | undefined
  private sentUpTo = 0
  private lastProgress = Date.now()
  private pumping = false
  private poller: NodeJS.Timeout | undefined
  /** Most bytes per publication; lowered when the hub answers that one was too large. */
  private batchBytes = MAX_PAYLOAD_BYTES
  /** Messages the hub acknowledged without applying them (it said why), since start. */
  rejected = 0
  connected = false

  constructor(private readonly o: HubLinkOptions) {}

  private mqttOptions(): IClientOptions {
    const { credentials: c } = this.o
    const options: IClientOptions = {
      clientId: c.agentId,
      username: c.agentId,
      password: c.secret,
      clean: true,
      keepalive: 30,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      will: {
        topic: upTopic(c.agentId, 'status'),
        payload: Buffer.from(
          JSON.stringify({ v: PROTOCOL_VERSION, online: false, at: new Date().toISOString() }),
        ),
        qos: 1,
        retain: true,
      },
    }
    if (c.mqttUrl.startsWith('mqtts:')) {
      // Pin the broker's certificate: trust exactly it, whatever name the hub is reached by.
      if (!c.caCertificate || !c.caFingerprint)
        throw new Error('mqtts without a pinned certificate: enroll again')
      const fingerprint = c.caFingerprint
      Object.assign(options, {
        ca: c.caCertificate,
        rejectUnauthorized: true,
        checkServerIdentity: (_host: string, cert: { fingerprint256?: string }) =>
          cert.fingerprint256 === fingerprint
            ? undefined
            : new Error('the broker certificate is not the pinned one'),
      })
    }
    return options
  }

  start(): void {
    const { credentials: c, logger } = this.o
    const client = mqtt.connect(c.mqttUrl, this.mqttOptions())
    this.client = client
    client.on('connect', () => {
      this.connected = true
      this.sentUpTo = this.o.outbox.acked()
      this.lastProgress = Date.now()
      logger.info({ broker: c.mqttUrl }, 'connected to the hub')
      client.subscribe(
        [downTopic(c.agentId, 'ack'), downTopic(c.agentId, 'config'), downTopic(c.agentId, 'request')],
        { qos: 1 },
        (err) => {
          if (err) logger.warn({ err: err.message }, 'subscribe failed')
        },
      )
      client.publish(
        upTopic(c.agentId, 'status'),
        JSON.stringify({
          v: PROTOCOL_VERSION,
          online: true,
          version: this.o.version,
          ...(this.o.features?.length ? { features: this.o.features } : {}),
          at: new Date().toISOString(),
        }),
        { qos: 1, retain: true },
      )
      void this.pump()
    })
    client.on('close', () => {
      if (this.connected) logger.warn('disconnected from the hub; buffering in the outbox')
      this.connected = false
    })
    client.on('error', (err) => logger.warn({ err: err.message }, 'hub link error'))
    client.on('message', (topic, payload) => this.onMessage(topic, payload))
    this.poller = setInterval(() => void this.pump(), 200)
    this.poller.unref()
  }

  private onMessage(topic: string, payload: Buffer): void {
    const { credentials: c, logger, outbox } = this.o
    if (topic === downTopic(c.agentId, 'ack')) {
      const ack = decode(downAck, payload)
      if (!ack.ok) return
      const { seq, rejected, resend } = ack.value
      for (const r of rejected ?? [])
        logger.warn(
          { seq: r.seq, reason: r.reason },
          'the hub could not apply an outbox message and skipped it',
        )
      this.rejected += rejected?.length ?? 0
      try {
        if (seq > outbox.acked()) {
          outbox.ack(seq)
          this.lastProgress = Date.now()
        }
      } catch (err) {
        // The data disk is full: the rows stay and are resent; the hub skips them and acks again.
        logger.error({ err: (err as Error).message }, 'could not record an acknowledgement in the outbox')
        return
      }
      if (seq > this.sentUpTo) this.sentUpTo = seq
      if (resend) {
        // The last publication was too large for the hub: send again from where it stands, smaller.
        this.batchBytes = smallerBatchBytes(this.batchBytes, resend.maxBytes)
        this.sentUpTo = Math.max(seq, outbox.acked())
        this.lastProgress = Date.now()
        logger.warn({ maxBytes: this.batchBytes }, 'the hub refused an oversize batch; sending smaller ones')
      }
      void this.pump()
      return
    }
    if (topic === downTopic(c.agentId, 'config')) {
      const config = decode(downConfig, payload)
      if (!config.ok) {
        logger.warn({ reason: config.error }, 'ignored an unreadable configuration')
        return
      }
      this.o.onConfig(config.value)
      return
    }
    if (topic === downTopic(c.agentId, 'request')) {
      const request = decode(downRequest, payload)
      if (!request.ok) {
        logger.warn({ reason: request.error }, 'ignored an unreadable request')
        return
      }
      this.o.onRequest?.(request.value)
    }
  }

  /** Answers a hub request (best effort: the hub times out what never arrives). */
  async respond(response: Omit<UpResponse, 'v'>): Promise<void> {
    const client = this.client
    if (!client || !this.connected) return
    const payload = JSON.stringify({ v: PROTOCOL_VERSION, ...response })
    if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) {
      await this.respond({
        id: response.id,
        ok: false,
        error: {
          status: 502,
          code: 'answer_too_large',
          message: 'the answer is too large: ask for a shorter range',
        },
      })
      return
    }
    try {
      await client.publishAsync(upTopic(this.o.credentials.agentId, 'response'), payload, { qos: 1 })
    } catch (err) {
      this.o.logger.debug({ err: (err as Error).message }, 'could not answer a request')
    }
  }

  /**
   * An ephemeral message (the live overlay's objects): QoS 0, never queued while offline, dropped
   * when the connection is busy — the next frame's replaces it.
   */
  publishEphemeral(kind: 'objects', message: unknown): void {
    const client = this.client
    if (!client || !this.connected) return
    const payload = JSON.stringify(message)
    if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) return
    client.publish(upTopic(this.o.credentials.agentId, kind), payload, { qos: 0 }, (err) => {
      if (err) this.o.logger.debug({ err: err.message }, 'an ephemeral message was not sent')
    })
  }

  /** Sends outbox rows while the window allows. */
  async pump(): Promise<void> {
    if (this.pumping || !this.connected || !this.client) return
    this.pumping = true
    try {
      const { outbox, credentials: c } = this.o
      const acked = outbox.acked()
      if (this.sentUpTo > acked && Date.now() - this.lastProgress > this.o.ackTimeoutMs) {
        // Acks stopped advancing: resend from the last acknowledged message.
        this.sentUpTo = acked
        this.lastProgress = Date.now()
      }
      while (this.connected && this.sentUpTo - outbox.acked() < this.o.maxInflight) {
        // Bounded by the encoded size (envelope and JSON escapes included), as the hub measures it.
        const rows = outbox.read(this.sentUpTo, this.o.batchMax, this.batchBytes)
        if (rows.length === 0) break
        const payload = encodeBatch(rows)
        if (this.sentUpTo === outbox.acked()) this.lastProgress = Date.now()
        await this.client.publishAsync(upTopic(c.agentId, 'messages'), payload, { qos: 1 })
        this.sentUpTo = rows.at(-1)?.seq ?? this.sentUpTo
      }
    } catch (err) {
      this.o.logger.debug({ err: (err as Error).message }, 'publish interrupted; will resend')
    } finally {
      this.pumping = false
    }
  }

  async stop(): Promise<void> {
    if (this.poller) clearInterval(this.poller)
    const client = this.client
    this.client = undefined
    this.connected = false
    if (client) await client.endAsync(true)
  }
}
