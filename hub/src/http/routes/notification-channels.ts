import { randomUUID } from 'node:crypto'
import { cleanText } from '@ts-vms/shared'
import type { Context } from 'koa'
import { z } from 'zod'
import type { Tx } from '../../db/database.ts'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import { NotificationTargetError } from '../../notifications/address-policy.ts'
import {
  brokerUrl,
  type ChannelConfig,
  type ChannelRow,
  type ChannelSecrets,
  channelDto,
  checkTarget,
  sealSecrets,
  topicProblem,
  webhookUrl,
} from '../../notifications/channels.ts'
import { enqueueTestNotification } from '../../notifications/notification-queue.ts'
import { can } from '../../rbac/authorize.ts'
import type { Principal } from '../../rbac/principal.ts'
import type { Api } from '../api.ts'
import { auditSource } from '../authenticate.ts'
import { badRequest, conflict, forbidden, notFound } from '../errors.ts'
import { idParams, page, paginationQuery } from '../schemas.ts'

/**
 * Notification channels and their deliveries (issue 16): where alarm changes go (webhook, e-mail,
 * MQTT), the queue of what was sent or is waiting, dead letters and their retry. Everything here
 * needs `alarm.manage` granted for the whole tenant; another tenant's rows do not exist (404, by
 * row-level security). Secrets are write-only: sealed at once, answered as `hasSecret`. Changes
 * are audited (`notification-channel.create|update|delete|test`, `notification-delivery.retry`).
 */
const MAX_NAME = 200
const MAX_URL = 2048

/** Text as typed, made fit to store and show (see bookmarks.ts): control characters removed, trimmed. */
const cleanedName = z
  .string()
  .max(MAX_NAME, { abort: true })
  .transform((value) => cleanText(value, { maxLength: MAX_NAME, keepLineBreaks: false }).trim())
  .pipe(z.string().min(1, 'a name is required'))

const urlText = z.string().trim().min(1).max(MAX_URL, { abort: true })
const secret = z
  .string()
  .min(16, 'a secret has at least 16 characters')
  .max(512, { abort: true })
  .describe('Write-only: the HMAC-SHA256 key of X-VMS-Signature; sealed at once, never returned')
const recipients = z
  .array(z.email().max(320, { abort: true }))
  .min(1, 'at least one recipient')
  .max(20, 'at most 20 recipients')
  .refine((list) => new Set(list.map((a) => a.toLowerCase())).size === list.length, 'each recipient once')
const topic = z
  .string()
  .max(256, { abort: true })
  .superRefine((value, ctx) => {
    const problem = topicProblem(value)
    if (problem) ctx.addIssue({ code: 'custom', message: problem })
  })

const channelCreate = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('webhook'),
      name: cleanedName,
      url: urlText.describe('http:// or https://, public addresses only, no credentials'),
      secret,
      enabled: z.boolean().optional(),
    })
    .strict(),
  z
    .object({ type: z.literal('email'), name: cleanedName, to: recipients, enabled: z.boolean().optional() })
    .strict(),
  z
    .object({
      type: z.literal('mqtt'),
      name: cleanedName,
      url: urlText.describe(
        'mqtt:// or mqtts://[user:password@]host[:port]; credentials sealed, never returned',
      ),
      topic,
      enabled: z.boolean().optional(),
    })
    .strict(),
])

const channelUpdate = z
  .object({
    name: cleanedName.optional(),
    enabled: z.boolean().optional(),
    url: urlText.optional(),
    secret: secret.optional(),
    to: recipients.optional(),
    topic: topic.optional(),
  })
  .strict()

export const notificationChannel = z
  .object({
    id: z.uuid(),
    tenantId: z.uuid(),
    name: z.string(),
    type: z.enum(['webhook', 'email', 'mqtt']),
    enabled: z.boolean(),
    url: z.string().optional().describe('webhook, mqtt: the URL without credentials'),
    to: z.array(z.string()).optional(),
    topic: z.string().optional(),
    hasSecret: z.boolean().describe('A secret (webhook) or credentials (mqtt) are stored, sealed'),
    hasCredentials: z.boolean().optional(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: 'NotificationChannel' })

export const notificationDelivery = z
  .object({
    id: z.uuid().describe('Also the X-VMS-Delivery header: the same on every retry'),
    tenantId: z.uuid(),
    channelId: z.uuid(),
    channelName: z.string(),
    channelType: z.enum(['webhook', 'email', 'mqtt']),
    alarmId: z.uuid().nullable(),
    event: z.enum(['opened', 'acknowledged', 'closed', 'reopened', 'test']),
    state: z.enum(['pending', 'delivered', 'dead']),
    attempts: z.number().int(),
    nextAttemptAt: z.iso.datetime(),
    lastError: z.string().nullable(),
    createdAt: z.iso.datetime(),
    deliveredAt: z.iso.datetime().nullable(),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: 'NotificationDelivery' })

const deliveryQuery = paginationQuery.extend({
  state: z.enum(['pending', 'delivered', 'dead']).optional(),
  channelId: z.uuid().optional(),
})

interface DeliveryRow {
  id: string
  tenant_id: string
  channel_id: string
  channel_name: string
  channel_type: ChannelRow['type']
  alarm_id: string | null
  event: z.infer<typeof notificationDelivery>['event']
  state: z.infer<typeof notificationDelivery>['state']
  attempts: number
  next_attempt_at: Date
  last_error: string | null
  created_at: Date
  delivered_at: Date | null
  updated_at: Date
}

const iso = (d: Date | string) => new Date(d).toISOString()

const deliveryDto = (r: DeliveryRow) => ({
  id: r.id,
  tenantId: r.tenant_id,
  channelId: r.channel_id,
  channelName: r.channel_name,
  channelType: r.channel_type,
  alarmId: r.alarm_id,
  event: r.event,
  state: r.state,
  attempts: r.attempts,
  nextAttemptAt: iso(r.next_attempt_at),
  lastError: r.last_error,
  createdAt: iso(r.created_at),
  deliveredAt: r.delivered_at ? iso(r.delivered_at) : null,
  updatedAt: iso(r.updated_at),
})

const DELIVERY_SELECT = `select d.id, d.tenant_id, d.channel_id, c.name as channel_name, c.type as channel_type,
    d.alarm_id, d.event, d.state, d.attempts, d.next_attempt_at, d.last_error, d.created_at,
    d.delivered_at, d.updated_at
  from notification_deliveries d join notification_channels c on c.id = d.channel_id`

async function channelById(tx: Tx, id: string): Promise<ChannelRow | undefined> {
  const rows: ChannelRow[] = await tx.execute('select * from notification_channels where id = ?', [id])
  return rows[0]
}

async function deliveryById(tx: Tx, id: string): Promise<DeliveryRow | undefined> {
  const rows: DeliveryRow[] = await tx.execute(`${DELIVERY_SELECT} where d.id = ?`, [id])
  return rows[0]
}

/** What the audit record says about a channel: never a secret or a URL's credentials. */
const channelDetails = (r: ChannelRow) => ({
  name: r.name,
  type: r.type,
  enabled: r.enabled,
  ...(r.config.url ? { url: r.config.url } : {}),
  ...(r.config.to ? { recipients: r.config.to.length } : {}),
  ...(r.config.topic ? { topic: r.config.topic } : {}),
})

export function registerNotificationRoutes(api: Api, hub: HubContext): void {
  const allowPrivate = hub.config.VMS_WEBHOOK_ALLOW_PRIVATE
  const mayManage = (p: Principal, tenantId: string) => can(p, 'alarm.manage', { type: 'tenant', tenantId })
  /** The caller must manage alarms for their tenant (a system admin anywhere). */
  const requireManage = (p: Principal) => {
    if (!mayManage(p, p.tenantId)) throw forbidden('managing notifications needs alarm.manage for the tenant')
  }
  /** A URL's host must be public (unless VMS_WEBHOOK_ALLOW_PRIVATE): 400 otherwise. */
  const checked = async <T>(work: () => T | Promise<T>): Promise<T> => {
    try {
      return await work()
    } catch (err) {
      if (err instanceof NotificationTargetError) throw badRequest(err.message)
      throw err
    }
  }
  const audit = (
    ctx: Context,
    p: Principal,
    action: string,
    r: ChannelRow,
    more: Record<string, unknown> = {},
  ) =>
    hub.audit.record({
      action,
      outcome: 'success',
      tenantId: r.tenant_id,
      target: { type: 'notification-channel', id: r.id },
      ...auditSource(ctx, p),
      details: { ...channelDetails(r), ...more },
    })

  api.route({
    method: 'get',
    path: '/api/v1/notification-channels',
    tag: 'alarms',
    auth: 'user',
    summary: 'Notification channels of the tenant (needs alarm.manage for the tenant)',
    query: paginationQuery,
    responses: {
      200: { description: 'Channels, by name', schema: page(notificationChannel) },
      403: { description: 'No alarm.manage for the tenant' },
    },
    async handler(ctx, { query, principal }) {
      requireManage(principal)
      ctx.body = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const counted: { n: number }[] = await tx.execute(
          'select count(*)::int as n from notification_channels',
        )
        const rows: ChannelRow[] = await tx.execute(
          'select * from notification_channels order by lower(name), id limit ? offset ?',
          [query.limit, query.offset],
        )
        return { items: rows.map(channelDto), total: counted[0]?.n ?? 0 }
      })
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/notification-channels',
    tag: 'alarms',
    auth: 'user',
    summary: 'Create a notification channel: webhook, email or mqtt (needs alarm.manage for the tenant)',
    description:
      'Webhook and broker hosts must resolve to public addresses (loopback, private, link-local, CGNAT, ULA, multicast and the like are refused with 400) unless the hub runs with VMS_WEBHOOK_ALLOW_PRIVATE=true. Secrets are write-only.',
    body: channelCreate,
    responses: {
      201: { description: 'The channel', schema: notificationChannel },
      400: { description: 'Invalid, or a target that is not a public address' },
      403: { description: 'No alarm.manage for the tenant' },
      409: { description: 'A channel of that name exists' },
    },
    async handler(ctx, { body, principal }) {
      requireManage(principal)
      const id = randomUUID()
      let config: ChannelConfig
      let secrets: ChannelSecrets = {}
      if (body.type === 'webhook') {
        const url = await checked(async () => {
          const u = webhookUrl(body.url)
          await checkTarget(u, allowPrivate)
          return u
        })
        config = { url: url.toString() }
        secrets = { secret: body.secret }
      } else if (body.type === 'mqtt') {
        const broker = await checked(async () => {
          const b = brokerUrl(body.url)
          await checkTarget(b.url, allowPrivate)
          return b
        })
        config = { url: broker.url.toString().replace(/\/$/, ''), topic: body.topic }
        secrets = {
          ...(broker.username !== undefined ? { username: broker.username } : {}),
          ...(broker.password !== undefined ? { password: broker.password } : {}),
        }
      } else config = { to: body.to }
      const row = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        await tx.execute(
          `insert into notification_channels (id, tenant_id, name, type, config, secret_sealed, enabled)
           values (?, ?, ?, ?, ?::jsonb, ?, ?)`,
          [
            id,
            principal.tenantId,
            body.name,
            body.type,
            JSON.stringify(config),
            sealSecrets(hub.secrets, id, secrets),
            body.enabled ?? true,
          ],
        )
        const made = await channelById(tx, id)
        if (!made) throw notFound('notification channel')
        return made
      })
      await audit(ctx, principal, 'notification-channel.create', row)
      ctx.status = 201
      ctx.body = channelDto(row)
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/notification-channels/:id',
    tag: 'alarms',
    auth: 'user',
    summary: 'One notification channel',
    params: idParams,
    responses: {
      200: { description: 'The channel', schema: notificationChannel },
      403: { description: 'No alarm.manage for the tenant' },
      404: { description: 'No such channel (or of another tenant)' },
    },
    async handler(ctx, { params, principal }) {
      requireManage(principal)
      ctx.body = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const row = await channelById(tx, params.id)
        if (!row || !mayManage(principal, row.tenant_id)) throw notFound('notification channel')
        return channelDto(row)
      })
    },
  })

  api.route({
    method: 'patch',
    path: '/api/v1/notification-channels/:id',
    tag: 'alarms',
    auth: 'user',
    summary: 'Change a notification channel (its type stays; absent secret: kept)',
    description:
      "Fields of another type are refused. An MQTT URL without credentials keeps the stored ones only for the same broker (host and port); a webhook's secret is kept unless a new one is given.",
    params: idParams,
    body: channelUpdate,
    responses: {
      200: { description: 'The channel', schema: notificationChannel },
      400: { description: 'Invalid, or a target that is not a public address' },
      403: { description: 'No alarm.manage for the tenant' },
      404: { description: 'No such channel (or of another tenant)' },
      409: { description: 'A channel of that name exists' },
    },
    async handler(ctx, { params, body, principal }) {
      requireManage(principal)
      const scope = scopeOf(principal)
      const before = await hub.db.withTenant(scope, (tx) => channelById(tx, params.id))
      if (!before || !mayManage(principal, before.tenant_id)) throw notFound('notification channel')
      const allowed: Record<ChannelRow['type'], string[]> = {
        webhook: ['url', 'secret'],
        email: ['to'],
        mqtt: ['url', 'topic'],
      }
      const foreign = (['url', 'secret', 'to', 'topic'] as const).filter(
        (k) => body[k] !== undefined && !allowed[before.type].includes(k),
      )
      if (foreign.length > 0) throw badRequest(`a ${before.type} channel has no ${foreign.join(', ')}`)
      const config: ChannelConfig = { ...before.config }
      let secrets: ChannelSecrets | undefined
      if (before.type === 'webhook') {
        if (body.url !== undefined) {
          const url = await checked(async () => {
            const u = webhookUrl(body.url as string)
            await checkTarget(u, allowPrivate)
            return u
          })
          config.url = url.toString()
        }
        if (body.secret !== undefined) secrets = { secret: body.secret }
      } else if (before.type === 'mqtt') {
        if (body.url !== undefined) {
          const broker = await checked(async () => {
            const b = brokerUrl(body.url as string)
            await checkTarget(b.url, allowPrivate)
            return b
          })
          const clean = broker.url.toString().replace(/\/$/, '')
          if (broker.username !== undefined || broker.password !== undefined)
            secrets = {
              ...(broker.username !== undefined ? { username: broker.username } : {}),
              ...(broker.password !== undefined ? { password: broker.password } : {}),
            }
          // Stored credentials never follow the channel to another broker.
          else if (clean !== before.config.url) secrets = {}
          config.url = clean
        }
        if (body.topic !== undefined) config.topic = body.topic
      } else if (body.to !== undefined) config.to = body.to
      const row = await hub.db.withTenant(scope, async (tx) => {
        const sets = ['config = ?::jsonb', 'updated_at = now()']
        const args: unknown[] = [JSON.stringify(config)]
        if (body.name !== undefined) {
          sets.push('name = ?')
          args.push(body.name)
        }
        if (body.enabled !== undefined) {
          sets.push('enabled = ?')
          args.push(body.enabled)
        }
        if (secrets !== undefined) {
          sets.push('secret_sealed = ?')
          args.push(sealSecrets(hub.secrets, before.id, secrets))
        }
        await tx.execute(`update notification_channels set ${sets.join(', ')} where id = ?`, [
          ...args,
          before.id,
        ])
        const after = await channelById(tx, before.id)
        if (!after) throw notFound('notification channel')
        return after
      })
      await audit(ctx, principal, 'notification-channel.update', row, {
        changed: Object.keys(body).filter((k) => k !== 'secret' || secrets !== undefined),
      })
      ctx.body = channelDto(row)
    },
  })

  api.route({
    method: 'delete',
    path: '/api/v1/notification-channels/:id',
    tag: 'alarms',
    auth: 'user',
    summary: 'Delete a notification channel (its queued and past deliveries go with it)',
    params: idParams,
    responses: {
      204: { description: 'Deleted' },
      403: { description: 'No alarm.manage for the tenant' },
      404: { description: 'No such channel (or of another tenant)' },
    },
    async handler(ctx, { params, principal }) {
      requireManage(principal)
      const row = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const found = await channelById(tx, params.id)
        if (!found || !mayManage(principal, found.tenant_id)) throw notFound('notification channel')
        await tx.execute('delete from notification_channels where id = ?', [found.id])
        // Rules naming the channel forget it (alarm_rules.channels is an array, not a reference).
        await tx.execute(
          'update alarm_rules set channels = array_remove(channels, ?::uuid) where tenant_id = ? and ? = any(channels)',
          [found.id, found.tenant_id, found.id],
        )
        return found
      })
      await audit(ctx, principal, 'notification-channel.delete', row)
      ctx.status = 204
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/notification-channels/:id/test',
    tag: 'alarms',
    auth: 'user',
    summary: 'Queue a test message on a channel: `{ "event": "test", "channel": { id, name } }`',
    params: idParams,
    responses: {
      202: {
        description: 'Queued; its outcome shows in the deliveries',
        schema: z.object({ deliveryId: z.uuid() }),
      },
      403: { description: 'No alarm.manage for the tenant' },
      404: { description: 'No such channel (or of another tenant)' },
      409: { description: 'The channel is disabled' },
    },
    async handler(ctx, { params, principal }) {
      requireManage(principal)
      const { row, deliveryId } = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const found = await channelById(tx, params.id)
        if (!found || !mayManage(principal, found.tenant_id)) throw notFound('notification channel')
        if (!found.enabled)
          throw conflict('the channel is disabled; enable it to test it', 'channel_disabled')
        const queued = await enqueueTestNotification(tx, {
          id: found.id,
          tenantId: found.tenant_id,
          name: found.name,
        })
        return { row: found, deliveryId: queued }
      })
      hub.notifications.kick()
      await audit(ctx, principal, 'notification-channel.test', row, { deliveryId })
      ctx.status = 202
      ctx.body = { deliveryId }
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/notification-deliveries',
    tag: 'alarms',
    auth: 'user',
    summary: 'Notification deliveries, newest first: pending, delivered and dead letters',
    query: deliveryQuery,
    responses: {
      200: { description: 'Deliveries', schema: page(notificationDelivery) },
      403: { description: 'No alarm.manage for the tenant' },
    },
    async handler(ctx, { query, principal }) {
      requireManage(principal)
      ctx.body = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const where = ['true']
        const args: unknown[] = []
        if (query.state) {
          where.push('d.state = ?')
          args.push(query.state)
        }
        if (query.channelId) {
          where.push('d.channel_id = ?')
          args.push(query.channelId)
        }
        const filter = where.join(' and ')
        const counted: { n: number }[] = await tx.execute(
          `select count(*)::int as n from notification_deliveries d where ${filter}`,
          args,
        )
        const rows: DeliveryRow[] = await tx.execute(
          `${DELIVERY_SELECT} where ${filter} order by d.created_at desc, d.id limit ? offset ?`,
          [...args, query.limit, query.offset],
        )
        return { items: rows.map(deliveryDto), total: counted[0]?.n ?? 0 }
      })
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/notification-deliveries/:id/retry',
    tag: 'alarms',
    auth: 'user',
    summary: 'Retry a dead delivery: pending again, attempts from zero, same X-VMS-Delivery',
    params: idParams,
    responses: {
      200: { description: 'The delivery, pending', schema: notificationDelivery },
      403: { description: 'No alarm.manage for the tenant' },
      404: { description: 'No such delivery (or of another tenant)' },
      409: { description: 'The delivery is not dead' },
    },
    async handler(ctx, { params, principal }) {
      requireManage(principal)
      const row = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const found = await deliveryById(tx, params.id)
        if (!found || !mayManage(principal, found.tenant_id)) throw notFound('notification delivery')
        const changed: { id: string }[] = await tx.execute(
          `update notification_deliveries
              set state = 'pending', attempts = 0, next_attempt_at = now(), updated_at = now()
            where id = ? and state = 'dead' returning id`,
          [found.id],
        )
        if (changed.length === 0)
          throw conflict(`the delivery is ${found.state}; only dead ones are retried`, 'not_dead')
        const after = await deliveryById(tx, found.id)
        if (!after) throw notFound('notification delivery')
        return after
      })
      hub.notifications.kick()
      await hub.audit.record({
        action: 'notification-delivery.retry',
        outcome: 'success',
        tenantId: row.tenant_id,
        target: { type: 'notification-delivery', id: row.id },
        ...auditSource(ctx, principal),
        details: { channelId: row.channel_id, channelName: row.channel_name, event: row.event },
      })
      ctx.body = deliveryDto(row)
    },
  })
}
