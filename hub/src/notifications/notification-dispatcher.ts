import type { SecretBox } from '@ts-vms/shared'
import type { Logger } from 'pino'
import type { Mailer } from '../auth/mailer.ts'
import type { Database } from '../db/database.ts'
import { NotificationTargetError } from './address-policy.ts'
import { retryDelayMs } from './backoff.ts'
import { brokerUrl, type ChannelRow, checkTarget, openSecrets, webhookUrl } from './channels.ts'
import { DeliveryError, mailFor, networkError, postWebhook, publishMqtt, sendMail } from './senders.ts'

/**
 * The notification worker (issue 16). Deliveries wait in `notification_deliveries` (inserted with
 * the alarm change they announce); any hub's dispatcher takes the due ones, so several hubs share
 * the work and a restarted hub picks up what was left.
 *
 * A pass claims a batch in a short transaction (`FOR UPDATE SKIP LOCKED`: hubs never take the same
 * row): it counts the attempt and pushes `next_attempt_at` past a lease, then commits. The network
 * calls run with no transaction open; the outcome is written afterwards: delivered, or rescheduled
 * with backoff, or dead after the last attempt. A hub that dies mid-delivery leaves the row to be
 * taken again once the lease expires (at-least-once: receivers deduplicate on X-VMS-Delivery).
 */
export interface NotificationDispatcherOptions {
  db: Database
  box: SecretBox
  mailer: Mailer
  logger: Logger
  maxAttempts: number
  retryBaseMs: number
  /** How often due rows are looked for without a kick (retries come due by themselves). */
  pollMs: number
  /** Every network call's deadline (connect to answer). */
  timeoutMs: number
  allowPrivate: boolean
  batchSize?: number
  metrics?: {
    delivered(type: string): void
    failed(type: string): void
  }
}

/** What alarm code needs: deliver what is due now (after its transaction committed). */
export interface NotificationKicker {
  kick(): void
}

interface ClaimedRow {
  id: string
  tenant_id: string
  channel_id: string
  event: string
  payload: Record<string, unknown>
  attempts: number
  channel_type: ChannelRow['type']
  channel_config: ChannelRow['config']
  channel_secret_sealed: string | null
  channel_enabled: boolean
}

export class NotificationDispatcher implements NotificationKicker {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private again = false
  private closed = false

  constructor(private readonly o: NotificationDispatcherOptions) {}

  /** Starts polling, and delivers what is already due (rows left by a previous run). */
  start(): void {
    if (this.timer || this.closed) return
    this.timer = setInterval(() => this.kick(), this.o.pollMs)
    this.timer.unref()
    this.kick()
  }

  /** Delivers due rows now; a kick during a pass runs another pass after it. */
  kick(): void {
    if (this.closed) return
    if (this.running) {
      this.again = true
      return
    }
    this.running = this.passes().finally(() => {
      this.running = undefined
    })
  }

  /** Resolves once the current pass (and those it asked for) are over: tests, shutdown. */
  async idle(): Promise<void> {
    while (this.running) await this.running
  }

  /** Stops polling and waits for deliveries in flight (their outcome is recorded). */
  async close(): Promise<void> {
    this.closed = true
    clearInterval(this.timer)
    this.timer = undefined
    await this.running
  }

  private async passes(): Promise<void> {
    do {
      this.again = false
      try {
        while (!this.closed && (await this.pass()) > 0) {}
      } catch (err) {
        this.o.logger.warn({ err }, 'notification dispatch pass failed; retrying on the next poll')
      }
    } while (this.again && !this.closed)
  }

  /** One batch: claim, deliver, record. Returns the number claimed. */
  private async pass(): Promise<number> {
    const leaseMs = this.o.timeoutMs * 3 + 30_000
    const rows = await this.o.db.withSystem(async (tx) => {
      const claimed: ClaimedRow[] = await tx.execute(
        `with due as (
           select id from notification_deliveries
            where state = 'pending' and next_attempt_at <= now()
            order by next_attempt_at
            limit ?
            for update skip locked)
         update notification_deliveries d
            set attempts = d.attempts + 1,
                next_attempt_at = now() + ?::double precision * interval '1 millisecond',
                updated_at = now()
           from due, notification_channels c
          where d.id = due.id and c.id = d.channel_id
          returning d.id, d.tenant_id, d.channel_id, d.event, d.payload, d.attempts,
                    c.type as channel_type, c.config as channel_config,
                    c.secret_sealed as channel_secret_sealed, c.enabled as channel_enabled`,
        [this.o.batchSize ?? 20, leaseMs],
      )
      return claimed
    })
    await Promise.all(rows.map((row) => this.deliverOne(row)))
    return rows.length
  }

  private async deliverOne(row: ClaimedRow): Promise<void> {
    let error: string | undefined
    try {
      if (!row.channel_enabled) throw new DeliveryError('the channel is disabled')
      await this.send(row)
    } catch (err) {
      error =
        err instanceof DeliveryError || err instanceof NotificationTargetError
          ? err.message
          : `internal error: ${networkError(err)}`
      if (!(err instanceof DeliveryError || err instanceof NotificationTargetError))
        this.o.logger.warn({ err, deliveryId: row.id }, 'notification delivery failed unexpectedly')
    }
    const type = row.channel_type
    if (error === undefined) this.o.metrics?.delivered(type)
    else this.o.metrics?.failed(type)
    const dead = error !== undefined && row.attempts >= this.o.maxAttempts
    try {
      await this.o.db.withSystem((tx) =>
        error === undefined
          ? tx.execute(
              `update notification_deliveries
                  set state = 'delivered', delivered_at = now(), last_error = null, updated_at = now()
                where id = ? and state = 'pending' and attempts = ?`,
              [row.id, row.attempts],
            )
          : tx.execute(
              `update notification_deliveries
                  set state = ?, last_error = ?, updated_at = now(),
                      next_attempt_at = now() + ?::double precision * interval '1 millisecond'
                where id = ? and state = 'pending' and attempts = ?`,
              [
                dead ? 'dead' : 'pending',
                error.slice(0, 500),
                dead ? 0 : retryDelayMs(row.attempts, this.o.retryBaseMs),
                row.id,
                row.attempts,
              ],
            ),
      )
    } catch (err) {
      // The lease brings the row back; it may then be delivered twice (same X-VMS-Delivery).
      this.o.logger.warn({ err, deliveryId: row.id }, 'notification outcome could not be recorded')
    }
    const log = { deliveryId: row.id, channelId: row.channel_id, type, attempt: row.attempts }
    if (error === undefined) this.o.logger.debug(log, 'notification delivered')
    else if (dead) this.o.logger.warn({ ...log, error }, 'notification dead after its last attempt')
    else this.o.logger.info({ ...log, error }, 'notification attempt failed; will retry')
  }

  private async send(row: ClaimedRow): Promise<void> {
    // jsonb sorts keys; the receiver sees `event` first, as queued.
    const { event, ...rest } = row.payload
    const body = JSON.stringify({ event, ...rest })
    const config = row.channel_config ?? {}
    let secrets: ReturnType<typeof openSecrets>
    try {
      secrets = openSecrets(this.o.box, { id: row.channel_id, secret_sealed: row.channel_secret_sealed })
    } catch {
      throw new DeliveryError("the channel's secret does not open with this hub's master key")
    }
    const timeoutMs = this.o.timeoutMs
    switch (row.channel_type) {
      case 'webhook': {
        const url = webhookUrl(config.url ?? '')
        // Checked again now: the name may point elsewhere than when the channel was saved.
        const target = await checkTarget(url, this.o.allowPrivate)
        await postWebhook({ url, target, secret: secrets.secret, body, deliveryId: row.id, timeoutMs })
        return
      }
      case 'mqtt': {
        const { url } = brokerUrl(config.url ?? '')
        const target = await checkTarget(url, this.o.allowPrivate)
        await publishMqtt({
          url,
          target,
          username: secrets.username,
          password: secrets.password,
          topic: config.topic ?? '',
          body,
          timeoutMs,
        })
        return
      }
      case 'email': {
        const mail = mailFor(row.payload)
        await sendMail({ mailer: this.o.mailer, to: config.to ?? [], ...mail, timeoutMs })
        return
      }
      default:
        throw new DeliveryError('unknown channel type')
    }
  }
}
