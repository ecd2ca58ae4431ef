/**
 * What the hub's notification API says (issue 16): channels (where alarm changes go) and their
 * deliveries (the durable queue, dead letters included). Secrets are write-only: a channel says
 * `hasSecret`, never the secret.
 */
export type NotificationChannelType = 'webhook' | 'email' | 'mqtt'

export const CHANNEL_TYPE_NAMES: Record<NotificationChannelType, string> = {
  webhook: 'Webhook',
  email: 'E-mail',
  mqtt: 'MQTT',
}

export interface NotificationChannel {
  id: string
  tenantId: string
  name: string
  type: NotificationChannelType
  enabled: boolean
  /** webhook, mqtt: the URL without credentials. */
  url?: string
  /** email: the recipients. */
  to?: string[]
  /** mqtt: the topic published to. */
  topic?: string
  hasSecret: boolean
  hasCredentials?: boolean
  createdAt: string
  updatedAt: string
}

/** A channel as created: the secret (webhook) or credentials in the URL (mqtt) are write-only. */
export type NotificationChannelCreate =
  | { type: 'webhook'; name: string; url: string; secret: string; enabled?: boolean }
  | { type: 'email'; name: string; to: string[]; enabled?: boolean }
  | { type: 'mqtt'; name: string; url: string; topic: string; enabled?: boolean }

/** A change: absent fields are kept (the secret too). */
export interface NotificationChannelUpdate {
  name?: string
  enabled?: boolean
  url?: string
  secret?: string
  to?: string[]
  topic?: string
}

export type NotificationDeliveryState = 'pending' | 'delivered' | 'dead'

export interface NotificationDelivery {
  /** Also the X-VMS-Delivery header the receiver sees, the same on every retry. */
  id: string
  tenantId: string
  channelId: string
  channelName: string
  channelType: NotificationChannelType
  alarmId: string | null
  event: 'opened' | 'acknowledged' | 'closed' | 'reopened' | 'test'
  state: NotificationDeliveryState
  attempts: number
  nextAttemptAt: string
  lastError: string | null
  createdAt: string
  deliveredAt: string | null
  updatedAt: string
}
