import { type DeviceProbeResult, rtspUrl } from '@ts-vms/shared'
import { CsvError, parse } from 'csv-parse/sync'
import type { Context } from 'koa'
import { z } from 'zod'
import type { HubContext } from '../../hub-context.ts'
import type { Principal } from '../../rbac/principal.ts'
import type { Api } from '../api.ts'
import { auditSource } from '../authenticate.ts'
import { badRequest, describeError, HttpError } from '../errors.ts'
import { type CameraCreateBody, cameraCreate } from '../schemas.ts'
import { createCamera, probeForCamera, pushConfig } from './cameras.ts'

/**
 * Many cameras at once (issue 14): `POST /api/v1/cameras/bulk`, JSON or CSV. Each row is created
 * as `POST /api/v1/cameras` creates one (createCamera: permission, license, names, sealing, audit),
 * and each row stands alone: a bad row is answered as an error and the others go on. An NVR row
 * whose channel is empty becomes one camera per channel, each bound to its channel.
 */

/** Most rows in one import: more is 413 (split the file). */
export const MAX_BULK_ROWS = 500
/** Largest body (bytes): more is 413. */
export const MAX_BULK_BYTES = 1024 * 1024
/** Probes running at once (the agent and the site's network are not to be flooded). */
const PROBE_CONCURRENCY = 4

export const CSV_HEADER = [
  'name',
  'siteId',
  'agentId',
  'address',
  'protocol',
  'channel',
  'username',
  'password',
  'recording',
  'retentionDays',
] as const

const bulkJson = z
  .object({
    cameras: z
      .array(z.unknown())
      .min(1)
      .describe(`Camera bodies as POST /api/v1/cameras takes them; at most ${MAX_BULK_ROWS}`),
  })
  .strict()
const bulkCsv = z
  .string()
  .describe(
    `text/csv with the header ${CSV_HEADER.join(',')}; at most ${MAX_BULK_ROWS} rows and 1 MiB. ` +
      'protocol: onvif, isapi, dahua, auto (or empty: whichever answers), or rtsp with the stream URL as address. ' +
      'recording: true/false (empty: true); retentionDays: empty for 30.',
  )

const bulkResult = z.object({
  results: z.array(
    z.object({
      row: z.number().int().describe('1-based: the camera in the list, or the CSV line after the header'),
      status: z.enum(['created', 'error']),
      cameraId: z.uuid().optional(),
      name: z.string().optional().describe("The camera's name (an NVR row's: with its channel's)"),
      channel: z.string().optional().describe("An NVR row's camera: the device channel it is bound to"),
      error: z.object({ code: z.string(), message: z.string() }).optional(),
    }),
  ),
})
type BulkResult = z.infer<typeof bulkResult>['results'][number]

/** A row refused before anything was created; never names a password (nothing echoes the row). */
class RowError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

interface Row {
  row: number
  body?: CameraCreateBody
  /** CSV `auto` (or empty): probe with every protocol, keep the one that answered. */
  autoProtocol?: boolean
  error?: RowError
}

/** The zod issues of a row as one line: paths and messages, never values. */
const issuesText = (error: z.ZodError) =>
  error.issues
    .slice(0, 5)
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ')

function jsonRow(row: number, value: unknown): Row {
  const parsed = cameraCreate.safeParse(value)
  return parsed.success
    ? { row, body: parsed.data }
    : { row, error: new RowError('bad_request', issuesText(parsed.error)) }
}

const BOOLEAN: Record<string, boolean> = {
  true: true,
  yes: true,
  '1': true,
  false: false,
  no: false,
  '0': false,
}

/** A CSV record as a camera body (then checked by the same schema as JSON). */
function csvRow(row: number, fields: string[]): Row {
  if (fields.length !== CSV_HEADER.length)
    return {
      row,
      error: new RowError('bad_request', `expected ${CSV_HEADER.length} fields, got ${fields.length}`),
    }
  const f = Object.fromEntries(CSV_HEADER.map((k, i) => [k, (fields[i] ?? '').trim()])) as Record<
    (typeof CSV_HEADER)[number],
    string
  >
  // The password is taken as typed (spaces may be part of it); every other field is trimmed.
  const password = fields[CSV_HEADER.indexOf('password')] ?? ''
  const enabled = f.recording === '' ? true : BOOLEAN[f.recording.toLowerCase()]
  if (enabled === undefined)
    return { row, error: new RowError('bad_request', 'recording: must be true or false (or empty: true)') }
  if (f.retentionDays !== '' && !/^\d{1,5}$/.test(f.retentionDays))
    return { row, error: new RowError('bad_request', 'retentionDays: must be a whole number of days') }
  const protocol = f.protocol.toLowerCase()
  const credentials = {
    ...(f.username ? { username: f.username } : {}),
    ...(password ? { password } : {}),
  }
  const body: Record<string, unknown> = {
    name: f.name,
    siteId: f.siteId,
    agentId: f.agentId === '' ? null : f.agentId,
    recording: { enabled, retentionDays: f.retentionDays === '' ? 30 : Number(f.retentionDays) },
  }
  const auto = protocol === '' || protocol === 'auto'
  if (protocol === 'rtsp') {
    // A plain stream has no device to probe: its address is the stream's own URL.
    if (!rtspUrl.safeParse(f.address).success)
      return {
        row,
        error: new RowError('bad_request', "address: an rtsp row's address is the stream's rtsp:// URL"),
      }
    body.streams = [{ role: 'main', url: f.address, ...credentials }]
  } else {
    // `auto` passes the schema as onvif; the probe says which protocol the device speaks.
    body.device = {
      protocol: auto ? 'onvif' : protocol,
      address: f.address,
      channel: f.channel,
      ...credentials,
    }
  }
  const parsed = jsonRow(row, body)
  return auto && parsed.body ? { ...parsed, autoProtocol: true } : parsed
}

/** The CSV's records, header checked; 400 for what is no CSV, 413 beyond the row limit. */
function csvRows(text: string): Row[] {
  let records: string[][]
  try {
    records = parse(text, {
      bom: true,
      skip_empty_lines: true,
      relax_column_count: true,
      max_record_size: 64 * 1024,
    }) as string[][]
  } catch (err) {
    // The parser's own message may quote the content (a password): only where and what.
    if (err instanceof CsvError)
      throw badRequest(`the CSV is malformed near line ${err.lines ?? '?'} (${err.code})`)
    throw err
  }
  const [header, ...data] = records
  if (!header || header.map((h) => h.trim().toLowerCase()).join(',') !== CSV_HEADER.join(',').toLowerCase())
    throw new HttpError(
      400,
      'invalid_csv_header',
      `the first line must be the header: ${CSV_HEADER.join(',')}`,
    )
  if (data.length === 0) throw badRequest('the CSV has no rows')
  if (data.length > MAX_BULK_ROWS) throw tooManyRows()
  return data.map((fields, i) => csvRow(i + 1, fields))
}

const tooManyRows = () =>
  new HttpError(413, 'too_many_rows', `at most ${MAX_BULK_ROWS} cameras in one import: split it`)

/** A row's failure as its result says it: the API's code and message, never a stack or a secret. */
function rowFailure(hub: HubContext, row: number, err: unknown, channel?: string, name?: string): BulkResult {
  const known = err instanceof RowError ? new HttpError(400, err.code, err.message) : describeError(err)
  if (!known) hub.logger.error({ err, row }, 'bulk import: a row failed')
  return {
    row,
    status: 'error',
    ...(name !== undefined ? { name } : {}),
    ...(channel !== undefined ? { channel } : {}),
    error: known
      ? { code: known.code, message: known.message }
      : { code: 'internal_error', message: 'internal server error' },
  }
}

/** Runs `work` over `items`, `limit` at a time, each result (or error) at its item's index. */
async function pooled<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>) {
  const out: ({ ok: true; value: R } | { ok: false; error: unknown })[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) {
      try {
        out[i] = { ok: true, value: await work(items[i] as T) }
      } catch (error) {
        out[i] = { ok: false, error }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

type DeviceBody = NonNullable<CameraCreateBody['device']>

/** A row whose device is probed for its streams: a device given, no streams. */
const deviceToProbe = (r: Row): DeviceBody | undefined =>
  r.body?.device && r.body.streams === undefined ? r.body.device : undefined

/** An NVR channel's camera name: the row's name and the channel's (or its number). */
const channelName = (name: string, channel: DeviceProbeResult['channels'][number]) =>
  `${name} ${channel.name.trim() || channel.channel}`.slice(0, 200).trim()

async function importRows(hub: HubContext, ctx: Context, principal: Principal, rows: Row[]) {
  // Probes first, a few at once (each waits on a device); creation after, in row order, so which
  // rows a license limit leaves out does not depend on which probe answered first.
  const probing = rows.flatMap((r) => {
    const device = deviceToProbe(r)
    return r.body && device ? [{ r, body: r.body, device }] : []
  })
  const probes = await pooled(probing, PROBE_CONCURRENCY, ({ r, body, device }) =>
    probeForCamera(hub, principal, body.siteId, body.agentId, {
      ...device,
      protocol: r.autoProtocol ? 'auto' : device.protocol,
    }),
  )
  const probeOf = new Map(probing.map(({ r }, i) => [r, probes[i]]))
  const results: BulkResult[] = []
  const agents = new Set<string>()
  const create = async (
    row: number,
    body: CameraCreateBody,
    probed?: DeviceProbeResult,
    channel?: string,
  ) => {
    try {
      const { camera } = await createCamera(hub, ctx, principal, body, {
        ...(probed ? { probed } : {}),
        publish: false,
      })
      if (camera.agentId) agents.add(camera.agentId)
      results.push({
        row,
        status: 'created',
        cameraId: camera.id,
        name: camera.name,
        ...(channel !== undefined ? { channel } : {}),
      })
    } catch (err) {
      results.push(rowFailure(hub, row, err, channel, body.name))
    }
  }
  for (const r of rows) {
    if (!r.body) {
      results.push(rowFailure(hub, r.row, r.error))
      continue
    }
    const probe = probeOf.get(r)
    if (!probe) {
      await create(r.row, r.body)
      continue
    }
    if (!probe.ok) {
      results.push(rowFailure(hub, r.row, probe.error, undefined, r.body.name))
      continue
    }
    const result = probe.value
    const given = deviceToProbe(r) as DeviceBody
    const device: DeviceBody = { ...given, ...(r.autoProtocol ? { protocol: result.device.protocol } : {}) }
    const body = { ...r.body, device } as CameraCreateBody
    if ((device.channel ?? '') === '' && result.channels.length > 1) {
      // An NVR (or an encoder): a camera per channel, each bound to its channel so its events reach it.
      for (const ch of result.channels)
        await create(
          r.row,
          { ...body, name: channelName(body.name, ch), device: { ...device, channel: ch.channel } },
          result,
          ch.channel,
        )
    } else await create(r.row, body, result)
  }
  await pushConfig(hub, [...agents])
  return results
}

export function registerCameraBulkRoutes(api: Api, hub: HubContext): void {
  api.route({
    method: 'post',
    path: '/api/v1/cameras/bulk',
    tag: 'cameras',
    auth: 'user',
    summary: 'Add many cameras at once, from JSON or CSV; each row stands alone',
    description:
      `JSON \`{ "cameras": [ ...camera bodies... ] }\` or \`text/csv\` with the header \`${CSV_HEADER.join(',')}\`. ` +
      `At most ${MAX_BULK_ROWS} rows and 1 MiB (413 beyond). Each row is created as POST /api/v1/cameras ` +
      'creates one: `camera.manage` on its site, the license limit, a unique name, audited; a bad row is ' +
      'an `error` result and never blocks the others. A device row without streams is probed through ' +
      'the agent; an NVR with `channel` empty becomes one camera per channel (named the row name plus ' +
      "the channel's name or number), each bound to its channel. Passwords are never echoed.",
    body: z.union([bulkJson, bulkCsv]),
    bodyContentTypes: { 'application/json': bulkJson, 'text/csv': bulkCsv },
    responses: {
      200: { description: 'One result per row (per channel for an NVR row)', schema: bulkResult },
      400: { description: 'Not JSON of that shape, malformed CSV, or a wrong CSV header' },
      413: { description: `Over ${MAX_BULK_ROWS} rows or 1 MiB` },
    },
    async handler(ctx, { body, principal }) {
      let rows: Row[]
      if (typeof body === 'string') {
        if (ctx.request.type !== 'text/csv')
          throw new HttpError(
            415,
            'unsupported_media_type',
            'send the cameras as application/json or text/csv',
          )
        if (Buffer.byteLength(body) > MAX_BULK_BYTES)
          throw new HttpError(413, 'payload_too_large', 'the request body is too large (1 MiB at most)')
        rows = csvRows(body)
      } else {
        if (body.cameras.length > MAX_BULK_ROWS) throw tooManyRows()
        rows = body.cameras.map((value, i) => jsonRow(i + 1, value))
      }
      const results = await importRows(hub, ctx, principal, rows)
      const created = results.filter((r) => r.status === 'created').length
      await hub.audit.record({
        action: 'camera.bulk_import',
        outcome: created > 0 ? 'success' : 'failure',
        tenantId: principal.tenantId,
        ...auditSource(ctx, principal),
        details: {
          format: typeof body === 'string' ? 'csv' : 'json',
          rows: rows.length,
          created,
          failed: results.length - created,
        },
      })
      ctx.body = { results }
    },
  })
}
