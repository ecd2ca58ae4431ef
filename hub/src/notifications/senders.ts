import { randomUUID } from 'node:crypto'
import http from 'node:http'
import https from 'node:https'
import type { LookupFunction } from 'node:net'
import mqtt from 'mqtt'
import type { Mailer } from '../auth/mailer.ts'
import type { ResolvedAddress } from './address-policy.ts'
import { signBody } from './signature.ts'

/**
 * Sending one notification, by channel type. Each send either resolves (delivered) or throws a
 * DeliveryError whose message is safe to store and show (`last_error`): never a secret, a
 * credential or a response body.
 */
export class DeliveryError extends Error {
  override name = 'DeliveryError'
}

/** A node network error as a short safe text ("ECONNREFUSED", "timeout after 10000 ms"). */
export function networkError(err: unknown): string {
  const e = err as NodeJS.ErrnoException
  if (err instanceof DeliveryError) return err.message
  return (e?.code ?? e?.name ?? 'error').toString().slice(0, 80)
}

/** A `lookup` for http.request/net.connect that answers only the address already checked. */
export function pinnedLookup(target: ResolvedAddress): LookupFunction {
  return ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, [{ address: target.address, family: target.family }])
    else callback(null, target.address, target.family)
  }) as unknown as LookupFunction
}

/**
 * POSTs the body to the webhook, connecting to `target` (the address checked for the URL's host),
 * with the signature and the delivery id. 2xx: delivered; anything else, a redirect included
 * (never followed), throws.
 */
export function postWebhook(o: {
  url: URL
  target: ResolvedAddress
  secret: string | undefined
  body: string
  deliveryId: string
  timeoutMs: number
}): Promise<number> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(o.body)),
    'user-agent': 'ts-vms-hub',
    'x-vms-delivery': o.deliveryId,
  }
  if (o.secret) headers['x-vms-signature'] = signBody(o.secret, o.body)
  const client = o.url.protocol === 'https:' ? https : http
  return new Promise<number>((resolve, reject) => {
    let settled = false
    const done = (err: Error | undefined, status?: number) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (err) reject(err)
      else resolve(status ?? 0)
    }
    const req = client.request(
      o.url,
      { method: 'POST', headers, lookup: pinnedLookup(o.target), agent: false },
      (res) => {
        const status = res.statusCode ?? 0
        // What the receiver says is not kept: it could echo anything.
        res.resume()
        res.on('end', () =>
          status >= 200 && status < 300
            ? done(undefined, status)
            : done(new DeliveryError(`the receiver answered HTTP ${status}`)),
        )
        res.on('error', (err) => done(new DeliveryError(`response failed: ${networkError(err)}`)))
      },
    )
    const timer = setTimeout(() => {
      done(new DeliveryError(`no answer within ${o.timeoutMs} ms`))
      req.destroy()
    }, o.timeoutMs)
    req.on('error', (err) => done(new DeliveryError(`connection failed: ${networkError(err)}`)))
    req.end(o.body)
  })
}

/** Publishes the body to `topic` with QoS 1 (PUBACK awaited), on one connection made for it. */
export async function publishMqtt(o: {
  url: URL
  target: ResolvedAddress
  username?: string | undefined
  password?: string | undefined
  topic: string
  body: string
  timeoutMs: number
}): Promise<void> {
  const tls = o.url.protocol === 'mqtts:'
  const port = Number(o.url.port || (tls ? 8883 : 1883))
  // The checked address is dialled; TLS still verifies the certificate for the name in the URL.
  const client = mqtt.connect({
    protocol: tls ? 'mqtts' : 'mqtt',
    host: o.target.address,
    port,
    ...(tls ? { servername: o.url.hostname.replace(/^\[|\]$/g, '') } : {}),
    clientId: `vms-hub-notify-${randomUUID().slice(0, 8)}`,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: o.timeoutMs,
    ...(o.username !== undefined ? { username: o.username } : {}),
    ...(o.password !== undefined ? { password: o.password } : {}),
  })
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      new Promise<void>((resolve, reject) => {
        client.once('connect', () => resolve())
        client.once('error', (err) => reject(new DeliveryError(`broker refused: ${mqttError(err)}`)))
        client.once('close', () => reject(new DeliveryError('the broker closed the connection')))
      }).then(() => client.publishAsync(o.topic, o.body, { qos: 1 })),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new DeliveryError(`no answer within ${o.timeoutMs} ms`)), o.timeoutMs)
      }),
    ])
  } catch (err) {
    throw err instanceof DeliveryError ? err : new DeliveryError(`publish failed: ${mqttError(err)}`)
  } finally {
    clearTimeout(timer)
    client.end(true)
  }
}

/** An MQTT error's code or CONNACK reason, never its message (it may quote the URL). */
function mqttError(err: unknown): string {
  const e = err as { code?: string | number; name?: string }
  return String(e?.code ?? e?.name ?? 'error').slice(0, 80)
}

/** Sends the notification by e-mail through the hub's SMTP (VMS_SMTP_URL). */
export async function sendMail(o: {
  mailer: Mailer
  to: readonly string[]
  subject: string
  text: string
  timeoutMs: number
}): Promise<void> {
  if (!o.mailer.delivers) throw new DeliveryError('no SMTP configured on the hub (VMS_SMTP_URL)')
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      o.mailer.send({ to: o.to.join(', '), subject: o.subject, text: o.text }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new DeliveryError(`no answer within ${o.timeoutMs} ms`)), o.timeoutMs)
      }),
    ])
  } catch (err) {
    if (err instanceof DeliveryError) throw err
    const e = err as { responseCode?: number; code?: string }
    throw new DeliveryError(
      `SMTP failed: ${e.responseCode ? `reply ${e.responseCode}` : networkError(err)}`.slice(0, 200),
    )
  } finally {
    clearTimeout(timer)
  }
}

/** The subject and text of a notification e-mail. */
export function mailFor(payload: Record<string, unknown>): { subject: string; text: string } {
  const event = String(payload.event ?? 'event')
  const alarm = (payload.alarm ?? {}) as Record<string, unknown>
  const what = [alarm.kind, alarm.target].filter((v) => typeof v === 'string').join(' ')
  const subject =
    event === 'test'
      ? 'TS-VMS: test notification'
      : `TS-VMS alarm ${event}${what ? `: ${what}` : ''}`.replace(/[\r\n]+/g, ' ').slice(0, 200)
  return { subject, text: `${subject}\n\n${JSON.stringify(payload, null, 2)}\n` }
}
