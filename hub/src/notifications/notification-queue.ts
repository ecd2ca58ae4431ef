import { randomUUID } from 'node:crypto'
import type { Tx } from '../db/database.ts'

/** What happened to an alarm, as a notification says it (`test`: a channel's test message). */
export type NotificationEvent = 'opened' | 'acknowledged' | 'closed' | 'reopened' | 'test'

/**
 * Queues one delivery per enabled channel named, in the caller's transaction: the alarm change and
 * its notifications commit together or not at all (issue 16: durable). Channels of another tenant,
 * deleted or disabled ones are skipped. The row's id is the delivery's idempotency key
 * (`X-VMS-Delivery`), the same on every retry. Returns the number queued.
 */
export async function enqueueNotifications(
  tx: Tx,
  n: {
    tenantId: string
    channelIds: readonly string[]
    alarmId: string | null
    event: NotificationEvent
    /** The body delivered: `{ event, alarm }` for alarm changes. */
    payload: Record<string, unknown>
  },
): Promise<number> {
  if (n.channelIds.length === 0) return 0
  const channels: { id: string }[] = await tx.execute(
    'select id from notification_channels where tenant_id = ? and enabled and id in (?)',
    [n.tenantId, [...new Set(n.channelIds)]],
  )
  for (const c of channels)
    await tx.execute(
      `insert into notification_deliveries (id, tenant_id, channel_id, alarm_id, event, payload)
       values (?, ?, ?, ?, ?, ?::jsonb)`,
      [randomUUID(), n.tenantId, c.id, n.alarmId, n.event, JSON.stringify(n.payload)],
    )
  return channels.length
}

/**
 * Queues a channel's test message (`POST /api/v1/notification-channels/{id}/test`), whether or not
 * an alarm rule names the channel. Returns the delivery's id.
 */
export async function enqueueTestNotification(
  tx: Tx,
  channel: { id: string; tenantId: string; name: string },
): Promise<string> {
  const id = randomUUID()
  await tx.execute(
    `insert into notification_deliveries (id, tenant_id, channel_id, alarm_id, event, payload)
     values (?, ?, ?, null, 'test', ?::jsonb)`,
    [
      id,
      channel.tenantId,
      channel.id,
      JSON.stringify({ event: 'test', channel: { id: channel.id, name: channel.name } }),
    ],
  )
  return id
}
