import type { Context } from 'koa'
import { z } from 'zod'
import type { HubContext } from '../../hub-context.ts'
import type { Api } from '../api.ts'
import { HttpError } from '../errors.ts'

/**
 * What a site's installer measures against the hub (the agent's setup wizard, step 5): how fast
 * the site's uplink carries bytes to the hub. Live view relayed through the hub, exports and
 * playback all travel that way, so a store PC behind a slow ADSL uplink should be known at
 * installation, not on the first incident.
 */

/** The largest probe body: enough to measure a few Mbit/s over a second or two, small enough to be no burden. */
export const MAX_UPLINK_PROBE_BYTES = 4 * 1024 * 1024

/** What a request body the app would otherwise refuse (415) may be: an uplink probe. */
export const isUplinkProbe = (method: string, path: string, type: string) =>
  method === 'POST' && path === '/api/v1/diagnostics/uplink' && type === 'application/octet-stream'

/** Reads and drops the body, counting it: 413 beyond the limit, as soon as it is known to be. */
async function drain(ctx: Context): Promise<{ bytes: number; ms: number }> {
  if (ctx.request.type !== 'application/octet-stream')
    throw new HttpError(415, 'unsupported_media_type', 'send the probe as application/octet-stream')
  const tooLarge = () => {
    ctx.set('Connection', 'close')
    return new HttpError(
      413,
      'payload_too_large',
      `an uplink probe is at most ${MAX_UPLINK_PROBE_BYTES} bytes`,
    )
  }
  const declared = ctx.request.length
  if (declared !== undefined && declared > MAX_UPLINK_PROBE_BYTES) throw tooLarge()
  let bytes = 0
  let first: number | undefined
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    first ??= performance.now()
    bytes += chunk.length
    if (bytes > MAX_UPLINK_PROBE_BYTES) throw tooLarge()
  }
  return { bytes, ms: first === undefined ? 0 : Math.round(performance.now() - first) }
}

export function registerDiagnosticRoutes(api: Api, _hub: HubContext): void {
  api.route({
    method: 'post',
    path: '/api/v1/diagnostics/uplink',
    tag: 'system',
    auth: 'user',
    summary: 'Measure the uplink to the hub: the body is read, counted and dropped',
    description:
      `The body (\`application/octet-stream\`, at most ${MAX_UPLINK_PROBE_BYTES} bytes) is counted and ` +
      'discarded; the answer says how many bytes arrived and how long they took from the first. The ' +
      "sender divides what it sent by the time to the answer. Any signed-in user; the API's per-user " +
      'rate limit applies. Nothing is stored or audited.',
    body: z.unknown().meta({ type: 'string', format: 'binary', description: 'Any bytes' }),
    bodyContentType: 'application/octet-stream',
    responses: {
      200: {
        description: 'What arrived',
        schema: z.object({ bytes: z.number().int(), receiveMs: z.number().int() }),
      },
      413: { description: 'More than the limit' },
      415: { description: 'Not application/octet-stream' },
    },
    async handler(ctx) {
      const { bytes, ms } = await drain(ctx)
      ctx.body = { bytes, receiveMs: ms }
    },
  })
}
