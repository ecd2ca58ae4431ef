import type { SecretBox } from '@ts-vms/shared'
import { NotificationTargetError, type ResolvedAddress, resolveTarget } from './address-policy.ts'

/**
 * Notification channels (issue 16): where alarm changes go. What is not secret (the webhook's URL
 * without credentials, the recipients, the broker and topic) is stored as plain JSON in `config`;
 * what is (the webhook's signing secret, the broker's username and password) is sealed with the
 * hub's master key, bound to the channel's id, in `secret_sealed`, and never leaves the hub again.
 */
export type ChannelType = 'webhook' | 'email' | 'mqtt'

export interface ChannelConfig {
  /** webhook, mqtt: the URL, credentials removed. */
  url?: string
  /** email: the recipients. */
  to?: string[]
  /** mqtt: the topic published to. */
  topic?: string
}

export interface ChannelSecrets {
  /** webhook: the HMAC key of X-VMS-Signature. */
  secret?: string
  /** mqtt: the broker's credentials, from the URL as given. */
  username?: string
  password?: string
}

export interface ChannelRow {
  id: string
  tenant_id: string
  name: string
  type: ChannelType
  config: ChannelConfig
  secret_sealed: string | null
  enabled: boolean
  created_at: Date
  updated_at: Date
}

/** The associated data of a channel's sealed secrets: they open only for that channel. */
const secretContext = (channelId: string) => `notification-channel:${channelId}:secrets`

export function sealSecrets(box: SecretBox, channelId: string, secrets: ChannelSecrets): string | null {
  const kept = Object.fromEntries(Object.entries(secrets).filter(([, v]) => typeof v === 'string'))
  return Object.keys(kept).length === 0 ? null : box.seal(JSON.stringify(kept), secretContext(channelId))
}

export function openSecrets(box: SecretBox, row: Pick<ChannelRow, 'id' | 'secret_sealed'>): ChannelSecrets {
  if (!row.secret_sealed) return {}
  return JSON.parse(box.open(row.secret_sealed, secretContext(row.id)).toString('utf8')) as ChannelSecrets
}

/** A webhook URL as stored: http(s) only, no credentials (the secret signs; nothing else is sent). */
export function webhookUrl(text: string): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new NotificationTargetError('the webhook URL is not a valid URL')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new NotificationTargetError('the webhook URL must be http:// or https://')
  if (url.username || url.password)
    throw new NotificationTargetError(
      'the webhook URL must not carry credentials; the secret signs each request',
    )
  if (!url.hostname) throw new NotificationTargetError('the webhook URL has no host')
  url.hash = ''
  return url
}

/** A broker URL split into what is stored in clear (mqtt(s)://host:port) and its credentials. */
export function brokerUrl(text: string): { url: URL; username?: string; password?: string } {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new NotificationTargetError('the broker URL is not a valid URL')
  }
  if (url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:')
    throw new NotificationTargetError('the broker URL must be mqtt:// or mqtts://')
  if (!url.hostname) throw new NotificationTargetError('the broker URL has no host')
  if ((url.pathname && url.pathname !== '/') || url.search || url.hash)
    throw new NotificationTargetError('the broker URL is mqtt(s)://[user:password@]host[:port] only')
  let username: string | undefined
  let password: string | undefined
  try {
    username = url.username ? decodeURIComponent(url.username) : undefined
    password = url.password ? decodeURIComponent(url.password) : undefined
  } catch {
    throw new NotificationTargetError('the broker URL has badly encoded credentials')
  }
  const clean = new URL(`${url.protocol}//${url.host}`)
  return {
    url: clean,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
  }
}

/**
 * Checks that a URL's host is a public address (see address-policy.ts) and returns the address
 * to connect to. Used when a channel is saved and again at every delivery.
 */
export function checkTarget(url: URL, allowPrivate: boolean): Promise<ResolvedAddress> {
  return resolveTarget(url.hostname, { allowPrivate })
}

/** An MQTT topic one publishes to: no wildcards, no NUL, 1..256 characters, not `$`-reserved. */
export function topicProblem(topic: string): string | undefined {
  if (topic.length === 0 || topic.length > 256) return 'a topic has 1 to 256 characters'
  if (/[+#]/.test(topic)) return 'a topic to publish to has no wildcards (+ or #)'
  if (topic.startsWith('$')) return 'topics starting with $ are reserved for the broker'
  if ([...topic].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f))
    return 'a topic has no control characters'
  return undefined
}

const iso = (d: Date | string) => new Date(d).toISOString()

/** The API's view of a channel: never a secret, sealed or not (`hasSecret`, `hasCredentials`). */
export function channelDto(row: ChannelRow) {
  const c = row.config ?? {}
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    type: row.type,
    enabled: row.enabled,
    ...(row.type === 'webhook' ? { url: c.url ?? '', hasSecret: row.secret_sealed !== null } : {}),
    ...(row.type === 'email' ? { to: c.to ?? [], hasSecret: false } : {}),
    ...(row.type === 'mqtt'
      ? {
          url: c.url ?? '',
          topic: c.topic ?? '',
          hasSecret: row.secret_sealed !== null,
          hasCredentials: row.secret_sealed !== null,
        }
      : {}),
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  }
}
export type ChannelDto = ReturnType<typeof channelDto>
