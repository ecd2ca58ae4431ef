import { createHash } from 'node:crypto'
import {
  ANALYTICS_DEFAULTS,
  COCO_LABELS,
  checkModelShape,
  isStorableText,
  MODEL_FORMATS,
  type ModelFormat,
  ModelShapeError,
} from '@ts-vms/shared'
import type { Context } from 'koa'
import { z } from 'zod'
import type { Tx } from '../../db/database.ts'
import type { HubContext } from '../../hub-context.ts'
import { type ModelMetadata, ModelUnreadable, readModelMetadata } from '../../models/model-metadata.ts'
import { can } from '../../rbac/authorize.ts'
import type { Principal } from '../../rbac/principal.ts'
import type { Api } from '../api.ts'
import { auditSource } from '../authenticate.ts'
import { conflict, forbidden, HttpError, notFound } from '../errors.ts'

/**
 * Analytics models (issue 13). A tenant uploads an ONNX detection model once; the hub refuses one
 * that would fail on every agent (it does not load, or its shapes do not fit the format and
 * labels: the same check the agent runs, shared/src/analytics/model-shape.ts), keeps its bytes,
 * and lists the models a camera of an agent names in that agent's desired configuration with
 * their SHA-256. The agent downloads each from `GET /api/v1/agent/models/:id` over its own
 * outbound HTTPS, with its id and secret, and installs it only if the digest matches.
 *
 * `default` is built in: every agent provides it itself (VMS_AGENT_DEFAULT_MODEL); it is listed
 * first and cannot be uploaded or deleted.
 */
export const MAX_MODEL_BYTES = 64 * 1024 * 1024
/** At most this many labels; together they must fit the request line (Node allows 16 KB of headers). */
const MAX_LABELS = 10_000

const modelId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'id must be 1..64 letters, digits, ".", "_" or "-"')
const newModelId = modelId.refine((id) => id !== ANALYTICS_DEFAULTS.model, {
  message: '"default" is the built-in model: choose another id',
})
const modelParams = z.object({ id: modelId })
const tenantQuery = z.object({
  tenantId: z.uuid().optional().describe("A system-admin's choice of tenant (default: their own)"),
})

const labelsQuery = z
  .string()
  .max(MAX_LABELS * 65)
  .transform((text, ctx) => {
    const labels = text.split(',').map((l) => l.trim())
    const problem = labels.find((l) => l.length === 0 || l.length > 64 || !isStorableText(l))
    if (problem !== undefined || labels.length > MAX_LABELS) {
      ctx.addIssue({
        code: 'custom',
        message: `labels are 1..${MAX_LABELS} comma-separated names of 1..64 storable characters`,
      })
      return z.NEVER
    }
    if (new Set(labels).size !== labels.length) {
      ctx.addIssue({ code: 'custom', message: 'a label appears twice' })
      return z.NEVER
    }
    return labels
  })

const createQuery = tenantQuery.extend({
  id: newModelId,
  format: z.enum(MODEL_FORMATS),
  labels: labelsQuery
    .optional()
    .describe("The class names in the model's order, comma-separated; absent: COCO's 80"),
})

const modelDto = z.object({
  id: z.string(),
  format: z.enum(MODEL_FORMATS),
  labels: z.array(z.string()),
  builtIn: z.boolean(),
  sha256: z.string().optional(),
  bytes: z.number().int().optional(),
  createdAt: z.string().optional(),
})

interface ModelRow {
  id: string
  format: ModelFormat
  labels: string[]
  sha256: string
  bytes: number
  created_at: Date | string
}

const BUILT_IN = {
  id: ANALYTICS_DEFAULTS.model,
  format: 'yolox' as const,
  labels: [...COCO_LABELS],
  builtIn: true,
}

const toDto = (r: ModelRow) => ({
  id: r.id,
  format: r.format,
  labels: r.labels,
  builtIn: false,
  sha256: r.sha256,
  bytes: Number(r.bytes),
  createdAt: new Date(r.created_at).toISOString(),
})

/** The labels of a tenant's model, or undefined when it has none by that id (`default`: COCO). */
export async function tenantModelLabels(
  tx: Tx,
  tenantId: string,
  id: string,
): Promise<readonly string[] | undefined> {
  if (id === ANALYTICS_DEFAULTS.model) return COCO_LABELS
  // FOR SHARE: a model being deleted waits for the camera that names it, or the camera sees it gone.
  const rows: { labels: string[] }[] = await tx.execute(
    'select labels from analytics_models where tenant_id = ? and id = ? for share',
    [tenantId, id],
  )
  return rows[0]?.labels
}

/** The tenant a request is about: the caller's, or for a system-admin the one asked for. */
function tenantOf(principal: Principal, asked: string | undefined): string {
  if (asked === undefined || asked === principal.tenantId) return principal.tenantId
  if (!principal.isSystemAdmin) throw notFound('tenant')
  return asked
}

/**
 * The request body, read here rather than by the body parser (which takes JSON and text only):
 * refused with 413 beyond the limit as soon as it is known to be, from its declared length or
 * while it arrives.
 */
async function readModelBody(ctx: Context): Promise<Buffer> {
  if (ctx.request.type !== 'application/octet-stream')
    throw new HttpError(415, 'unsupported_media_type', 'send the model as application/octet-stream')
  const tooLarge = () => {
    // The rest of the body is never read: the connection cannot be reused.
    ctx.set('Connection', 'close')
    return new HttpError(413, 'payload_too_large', `a model is at most ${MAX_MODEL_BYTES} bytes`)
  }
  const declared = ctx.request.length
  if (declared !== undefined && declared > MAX_MODEL_BYTES) throw tooLarge()
  const chunks: Buffer[] = []
  let received = 0
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    received += chunk.length
    if (received > MAX_MODEL_BYTES) throw tooLarge()
    chunks.push(chunk)
  }
  return Buffer.concat(chunks, received)
}

/**
 * Reads the model's interface in a child process (an uploaded file is untrusted and onnxruntime
 * parses it in native code: see models/model-metadata.ts) and checks its shapes.
 */
async function validateModel(bytes: Buffer, format: ModelFormat, labels: readonly string[]): Promise<void> {
  let metadata: ModelMetadata
  try {
    metadata = await readModelMetadata(bytes)
  } catch (err) {
    if (err instanceof ModelUnreadable) throw new HttpError(400, 'model_unreadable', err.message)
    throw err
  }
  try {
    checkModelShape(metadata, format, labels.length)
  } catch (err) {
    if (err instanceof ModelShapeError) throw new HttpError(400, 'model_shape', err.message)
    throw err
  }
}

export function registerModelRoutes(api: Api, hub: HubContext): void {
  const audit = async (
    ctx: Context,
    principal: Principal,
    action: string,
    tenantId: string,
    id: string,
    details: Record<string, unknown>,
  ) => {
    await hub.audit.record({
      action,
      outcome: 'success',
      tenantId,
      target: { type: 'model', id },
      ...auditSource(ctx, principal),
      details,
    })
  }

  api.route({
    method: 'post',
    path: '/api/v1/models',
    tag: 'analytics',
    auth: 'user',
    summary: "Upload an ONNX detection model for the tenant's cameras",
    description:
      `The body is the ONNX file (\`application/octet-stream\`, at most ${MAX_MODEL_BYTES} bytes). ` +
      'Query: `id` (the name cameras use in `analytics.model`), `format` (yolox or yolov8) and `labels` ' +
      "(the class names in the model's order, comma-separated; absent: COCO's 80). The hub loads the " +
      'model and checks its input and output shapes against the format and labels (400 `model_unreadable` ' +
      'or `model_shape`). Needs `camera.manage` on the tenant. Agents download it when a camera of theirs ' +
      'names it, checking its SHA-256.',
    query: createQuery,
    // For the document only: the handler reads the body itself (readModelBody).
    body: z.unknown().meta({ type: 'string', format: 'binary', description: 'The ONNX file' }),
    bodyContentType: 'application/octet-stream',
    responses: {
      201: { description: 'Stored', schema: modelDto },
      409: { description: 'The tenant has a model with this id' },
      413: { description: 'The model is larger than the limit' },
    },
    async handler(ctx, { query, principal }) {
      const tenantId = tenantOf(principal, query.tenantId)
      if (!can(principal, 'camera.manage', { type: 'tenant', tenantId })) throw forbidden()
      const bytes = await readModelBody(ctx)
      if (bytes.length === 0)
        throw new HttpError(400, 'model_unreadable', 'the body is empty: send the ONNX file')
      const labels = query.labels ?? [...COCO_LABELS]
      // Refused before the costly load when the id is taken (the insert below still decides).
      const taken = await hub.db.withTenant({ tenantId, crossTenant: principal.isSystemAdmin }, (tx) =>
        tx.execute('select 1 from analytics_models where tenant_id = ? and id = ?', [tenantId, query.id]),
      )
      if (taken.length > 0) throw conflict(`the tenant already has a model "${query.id}"`, 'model_exists')
      await validateModel(bytes, query.format, labels)
      const sha256 = createHash('sha256').update(bytes).digest('hex')
      const [row] = (await hub.db.withTenant({ tenantId, crossTenant: principal.isSystemAdmin }, (tx) =>
        tx.execute(
          `insert into analytics_models (tenant_id, id, format, labels, sha256, bytes, data, created_by)
           values (?, ?, ?, ?::jsonb, ?, ?, ?, ?)
           on conflict do nothing
           returning id, format, labels, sha256, bytes, created_at`,
          [
            tenantId,
            query.id,
            query.format,
            JSON.stringify(labels),
            sha256,
            bytes.length,
            bytes,
            principal.userId,
          ],
        ),
      )) as ModelRow[]
      if (!row) throw conflict(`the tenant already has a model "${query.id}"`, 'model_exists')
      await audit(ctx, principal, 'model.create', tenantId, row.id, {
        format: row.format,
        sha256,
        bytes: bytes.length,
        labels: labels.length,
      })
      ctx.status = 201
      ctx.body = toDto(row)
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/models',
    tag: 'analytics',
    auth: 'user',
    summary: "The tenant's analytics models, the built-in `default` first",
    query: tenantQuery,
    responses: {
      200: { description: 'Models (without their bytes)', schema: z.object({ items: z.array(modelDto) }) },
    },
    async handler(ctx, { query, principal }) {
      const tenantId = tenantOf(principal, query.tenantId)
      const rows = (await hub.db.withTenant({ tenantId, crossTenant: principal.isSystemAdmin }, (tx) =>
        tx.execute(
          `select id, format, labels, sha256, bytes, created_at from analytics_models
           where tenant_id = ? order by id`,
          [tenantId],
        ),
      )) as ModelRow[]
      ctx.body = { items: [BUILT_IN, ...rows.map(toDto)] }
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/models/:id',
    tag: 'analytics',
    auth: 'user',
    summary: 'One analytics model (without its bytes)',
    params: modelParams,
    query: tenantQuery,
    responses: { 200: { description: 'The model', schema: modelDto } },
    async handler(ctx, { params, query, principal }) {
      const tenantId = tenantOf(principal, query.tenantId)
      if (params.id === ANALYTICS_DEFAULTS.model) {
        ctx.body = BUILT_IN
        return
      }
      const [row] = (await hub.db.withTenant({ tenantId, crossTenant: principal.isSystemAdmin }, (tx) =>
        tx.execute(
          `select id, format, labels, sha256, bytes, created_at from analytics_models
           where tenant_id = ? and id = ?`,
          [tenantId, params.id],
        ),
      )) as ModelRow[]
      if (!row) throw notFound('model')
      ctx.body = toDto(row)
    },
  })

  api.route({
    method: 'delete',
    path: '/api/v1/models/:id',
    tag: 'analytics',
    auth: 'user',
    summary: 'Delete an analytics model no camera names',
    description: 'Needs `camera.manage` on the tenant. Refused (409 `model_in_use`) while a camera names it.',
    params: modelParams,
    query: tenantQuery,
    responses: { 204: { description: 'Deleted' } },
    async handler(ctx, { params, query, principal }) {
      const tenantId = tenantOf(principal, query.tenantId)
      if (!can(principal, 'camera.manage', { type: 'tenant', tenantId })) throw forbidden()
      if (params.id === ANALYTICS_DEFAULTS.model)
        throw conflict('"default" is the built-in model: it cannot be deleted', 'built_in_model')
      const row = await hub.db.withTenant({ tenantId, crossTenant: principal.isSystemAdmin }, async (tx) => {
        // FOR UPDATE: a camera naming the model meanwhile either commits first (and is seen
        // below) or waits and then finds the model gone (tenantModelLabels).
        const [found] = (await tx.execute(
          `select id, format, sha256, bytes from analytics_models where tenant_id = ? and id = ? for update`,
          [tenantId, params.id],
        )) as Pick<ModelRow, 'id' | 'format' | 'sha256' | 'bytes'>[]
        if (!found) throw notFound('model')
        const users: { name: string }[] = await tx.execute(
          `select name from cameras where tenant_id = ? and analytics->>'model' = ? order by name limit 10`,
          [tenantId, params.id],
        )
        if (users.length > 0)
          throw conflict(
            `cameras use this model (${users.map((u) => JSON.stringify(u.name)).join(', ')}): give them another model first`,
            'model_in_use',
          )
        await tx.execute('delete from analytics_models where tenant_id = ? and id = ?', [tenantId, params.id])
        return found
      })
      await audit(ctx, principal, 'model.delete', tenantId, row.id, {
        format: row.format,
        sha256: row.sha256,
        bytes: Number(row.bytes),
      })
      ctx.status = 204
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/agent/models/:id',
    tag: 'agents',
    auth: 'agent',
    summary: 'An agent downloads a model one of its cameras names',
    description:
      'The ONNX bytes, with `x-vms-sha256` (the agent installs the model only if they match). Only a model of ' +
      "the agent's tenant that one of its cameras names; any other id is 404.",
    params: modelParams,
    responses: {
      200: { description: 'The model', schema: z.string(), contentType: 'application/octet-stream' },
    },
    async handler(ctx, { params, agent }) {
      if (!agent) throw notFound('model')
      const [row] = (await hub.db.withTenant({ tenantId: agent.tenantId }, (tx) =>
        tx.execute(
          `select m.sha256, m.data from analytics_models m
           where m.tenant_id = ? and m.id = ?
             and exists (select 1 from cameras c
                         where c.tenant_id = m.tenant_id and c.agent_id = ? and c.analytics->>'model' = m.id)`,
          [agent.tenantId, params.id, agent.id],
        ),
      )) as { sha256: string; data: Buffer }[]
      if (!row) throw notFound('model')
      ctx.status = 200
      ctx.type = 'application/octet-stream'
      ctx.length = row.data.length
      ctx.set('x-vms-sha256', row.sha256)
      ctx.body = row.data
    },
  })
}

/** What a request body the app would otherwise refuse (415) may be: a model upload. */
export const isModelUpload = (method: string, path: string, type: string) =>
  method === 'POST' && path === '/api/v1/models' && type === 'application/octet-stream'
