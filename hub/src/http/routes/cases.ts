import { randomUUID } from 'node:crypto'
import { cleanText } from '@ts-vms/shared'
import type { Context } from 'koa'
import { z } from 'zod'
import { cameraResource, visibleCamera } from '../../cameras/camera-access.ts'
import { mayManageCase, mayViewCase } from '../../cases/case-access.ts'
import {
  type CaseRow,
  type ClipRow,
  caseById,
  caseState,
  clipsOf,
  deleteCase,
  insertCase,
  insertNote,
  listCases,
  type NewClip,
  type NoteRow,
  notesOf,
  restartClip,
  setClipNote,
  updateCase,
} from '../../cases/case-store.ts'
import { caseReadme, caseZip, clipEntryBase, slug, type ZipClip } from '../../cases/case-zip.ts'
import { casesOf } from '../../cases/cases.ts'
import type { Tx } from '../../db/database.ts'
import { exportKeysOf } from '../../exports/export-keys.ts'
import { storedManifest } from '../../exports/signed-exports.ts'
import { type HubContext, scopeOf } from '../../hub-context.ts'
import { can } from '../../rbac/authorize.ts'
import type { Principal } from '../../rbac/principal.ts'
import type { Api } from '../api.ts'
import { auditSource } from '../authenticate.ts'
import { badRequest, conflict, forbidden, notFound } from '../errors.ts'
import { idParams, page, paginationQuery } from '../schemas.ts'

/**
 * Cases (issue 16): several clips and notes kept together as evidence and downloaded as one zip
 * with their signed manifests. Each clip is a signed export collected in the background and kept
 * on the hub (hub/src/cases), so a case no longer depends on the site's retention.
 *
 * Made with `evidence.manage` and `camera.export` on each camera; read, annotated and downloaded
 * by its creator or with `evidence.manage` on all its cameras; deleted with the latter. Everything
 * that changes or reads out a case is audited (`case.*`).
 */
/** As the export route (recordings.ts): one export covers at most 24 hours. */
const MAX_CLIP_MS = 24 * 3_600_000
const MAX_CLIPS = 20
const MAX_NAME = 200
const MAX_TEXT = 4000

const isoInstant = z.iso.datetime({ offset: true })

/** Text as typed, made fit to store (see bookmarks.ts): length checked before and after cleaning. */
const cleaned = (max: number, keepLineBreaks: boolean) =>
  z
    .string()
    .max(max, { abort: true })
    .transform((value) => cleanText(value, { maxLength: max, keepLineBreaks }).trim())

const caseName = cleaned(MAX_NAME, false).pipe(z.string().min(1, 'a name is required'))

const clipInput = z
  .object({
    cameraId: z.uuid(),
    from: isoInstant.describe('ISO 8601: where the clip starts'),
    to: isoInstant.describe('ISO 8601: where it ends (after from, at most 24 hours later)'),
    note: cleaned(MAX_TEXT, true).optional(),
  })
  .strict()
  .refine((c) => Date.parse(c.to) > Date.parse(c.from), {
    message: '"to" must be after "from"',
    path: ['to'],
  })
  .refine((c) => Date.parse(c.to) - Date.parse(c.from) <= MAX_CLIP_MS, {
    message: 'a clip covers at most 24 hours',
    path: ['to'],
  })
  .refine((c) => Date.parse(c.from) <= Date.now(), {
    message: 'a clip cannot start in the future',
    path: ['from'],
  })

const caseCreate = z
  .object({
    name: caseName,
    description: cleaned(MAX_TEXT, true).optional(),
    clips: z.array(clipInput).min(1, 'a case needs a clip').max(MAX_CLIPS, `at most ${MAX_CLIPS} clips`),
  })
  .strict()

const caseUpdate = z
  .object({
    name: caseName.optional(),
    description: cleaned(MAX_TEXT, true).optional(),
    clips: z
      .array(z.object({ id: z.uuid(), note: cleaned(MAX_TEXT, true) }).strict())
      .max(MAX_CLIPS)
      .optional()
      .describe("Clips' notes to change"),
  })
  .strict()

const noteCreate = z
  .object({ text: cleaned(MAX_TEXT, true).pipe(z.string().min(1, 'a note needs text')) })
  .strict()

const clipParams = z.object({ id: z.uuid(), clipId: z.uuid() })

const caseClip = z
  .object({
    id: z.uuid(),
    position: z.number().int(),
    cameraId: z.uuid(),
    cameraName: z.string(),
    siteId: z.uuid(),
    from: z.iso.datetime(),
    to: z.iso.datetime(),
    note: z.string(),
    state: z.enum(['collecting', 'ready', 'failed']),
    error: z.string().nullable(),
    exportId: z.uuid().nullable(),
    start: z.iso.datetime().nullable().describe('The footage actually in the file'),
    end: z.iso.datetime().nullable(),
    sha256: z.string().nullable(),
    bytes: z.number().int().nullable(),
  })
  .meta({ id: 'CaseClip' })

const caseNote = z
  .object({
    id: z.uuid(),
    text: z.string(),
    createdBy: z.uuid().nullable(),
    createdByName: z.string(),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'CaseNote' })

export const caseSchema = z
  .object({
    id: z.uuid(),
    tenantId: z.uuid(),
    name: z.string(),
    description: z.string(),
    state: z.enum(['collecting', 'ready', 'failed']),
    createdBy: z.uuid().nullable(),
    createdByName: z.string(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    clips: z.array(caseClip),
    notes: z.array(caseNote).optional(),
  })
  .meta({ id: 'Case' })

const iso = (d: Date | string) => new Date(d).toISOString()
const isoOrNull = (d: Date | string | null) => (d === null ? null : iso(d))

const clipDto = (c: ClipRow) => ({
  id: c.id,
  position: c.position,
  cameraId: c.camera_id,
  cameraName: c.camera_name,
  siteId: c.site_id,
  from: iso(c.from),
  to: iso(c.to),
  note: c.note,
  state: c.state,
  error: c.error,
  exportId: c.export_id,
  start: isoOrNull(c.start_at),
  end: isoOrNull(c.end_at),
  sha256: c.sha256,
  bytes: c.bytes === null ? null : Number(c.bytes),
})

const noteDto = (n: NoteRow) => ({
  id: n.id,
  text: n.text,
  createdBy: n.created_by,
  createdByName: n.created_by_name,
  createdAt: iso(n.created_at),
})

const caseDto = (c: CaseRow, clips: ClipRow[], notes?: NoteRow[]) => ({
  id: c.id,
  tenantId: c.tenant_id,
  name: c.name,
  description: c.description,
  state: caseState(clips),
  createdBy: c.created_by,
  createdByName: c.created_by_name,
  createdAt: iso(c.created_at),
  updatedAt: iso(c.updated_at),
  clips: clips.map(clipDto),
  ...(notes ? { notes: notes.map(noteDto) } : {}),
})

interface Loaded {
  c: CaseRow
  clips: ClipRow[]
}

/** The case as the caller may see it: 404 for another tenant's, or one they may not read. */
async function readableCase(tx: Tx, p: Principal, id: string): Promise<Loaded> {
  const c = await caseById(tx, id)
  if (!c) throw notFound('case')
  const clips = await clipsOf(tx, [c.id])
  if (!mayViewCase(p, c, clips)) throw notFound('case')
  return { c, clips }
}

export function registerCaseRoutes(api: Api, hub: HubContext): void {
  const cases = casesOf(hub)
  // Clips a previous run of this hub left half-collected are failed now (they can be retried).
  cases.collector.recover().catch((err) => hub.logger.warn({ err }, 'could not recover case clips'))

  const audit = (
    ctx: Context,
    p: Principal,
    action: string,
    c: Pick<CaseRow, 'id' | 'tenant_id' | 'name'>,
    details: Record<string, unknown> = {},
  ) =>
    hub.audit.record({
      action,
      outcome: 'success',
      tenantId: c.tenant_id,
      target: { type: 'case', id: c.id },
      ...auditSource(ctx, p),
      details: { name: c.name, ...details },
    })

  const collector = (ctx: Context, p: Principal) => {
    const source = auditSource(ctx, p)
    return {
      userId: p.userId,
      username: p.username,
      clientIp: source.clientIp,
      userAgent: source.userAgent,
    }
  }

  api.route({
    method: 'post',
    path: '/api/v1/cases',
    tag: 'cases',
    auth: 'user',
    summary: 'Open a case: clips collected as signed exports and kept on the hub, with notes',
    description:
      `1 to ${MAX_CLIPS} clips of at most 24 hours each. Needs evidence.manage and camera.export on every ` +
      'camera. Answers 202 at once with the case `collecting`; each clip becomes `ready` (kept on the hub, ' +
      'whatever the site keeps) or `failed` with a reason (e.g. `agent offline`), which can be retried.',
    body: caseCreate,
    responses: {
      202: { description: 'The case, its clips being collected', schema: caseSchema },
      403: { description: 'A camera is visible but may not be exported or put in a case' },
      404: { description: 'A camera does not exist or is not visible to the caller' },
    },
    async handler(ctx, { body, principal }) {
      const id = randomUUID()
      const made = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const clips: NewClip[] = []
        let tenantId: string | undefined
        for (const clip of body.clips) {
          const camera = await visibleCamera(tx, principal, clip.cameraId)
          const resource = cameraResource(camera)
          if (!can(principal, 'camera.export', resource) || !can(principal, 'evidence.manage', resource))
            throw forbidden('a case needs evidence.manage and camera.export on each of its cameras')
          if (tenantId !== undefined && camera.tenantId !== tenantId)
            throw badRequest("a case holds one tenant's cameras")
          tenantId = camera.tenantId
          clips.push({
            id: randomUUID(),
            cameraId: camera.id,
            cameraName: camera.name,
            siteId: camera.siteId,
            from: new Date(clip.from),
            to: new Date(clip.to),
            note: clip.note ?? '',
          })
        }
        await insertCase(tx, {
          id,
          tenantId: tenantId as string,
          name: body.name,
          description: body.description ?? '',
          createdBy: principal.userId,
          createdByName: principal.username,
          collector: cases.collector.instance,
          clips,
        })
        const c = await caseById(tx, id)
        if (!c) throw notFound('case')
        return { c, clips: await clipsOf(tx, [id]) }
      })
      await audit(ctx, principal, 'case.create', made.c, {
        clips: made.clips.map((c) => ({
          id: c.id,
          cameraId: c.camera_id,
          siteId: c.site_id,
          from: iso(c.from),
          to: iso(c.to),
        })),
      })
      cases.collector.collect(
        made.c.tenant_id,
        id,
        made.clips.map((c) => c.id),
        collector(ctx, principal),
      )
      ctx.status = 202
      ctx.set('Location', `/api/v1/cases/${id}`)
      ctx.body = caseDto(made.c, made.clips, [])
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/cases',
    tag: 'cases',
    auth: 'user',
    summary: 'Cases the caller may read (their own, and those of cameras they manage evidence for)',
    description: 'Newest first, with their clips (no notes).',
    query: paginationQuery,
    responses: { 200: { description: 'Cases', schema: page(caseSchema) } },
    async handler(ctx, { query, principal }) {
      await cases.collector.sweep()
      ctx.body = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const all = await listCases(tx)
        const clips = await clipsOf(
          tx,
          all.map((c) => c.id),
        )
        const byCase = new Map<string, ClipRow[]>()
        for (const clip of clips) byCase.set(clip.case_id, [...(byCase.get(clip.case_id) ?? []), clip])
        const visible = all.filter((c) => mayViewCase(principal, c, byCase.get(c.id) ?? []))
        return {
          items: visible
            .slice(query.offset, query.offset + query.limit)
            .map((c) => caseDto(c, byCase.get(c.id) ?? [])),
          total: visible.length,
        }
      })
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/cases/:id',
    tag: 'cases',
    auth: 'user',
    summary: 'One case: its clips (state, SHA-256, size, export) and its notes',
    params: idParams,
    responses: {
      200: { description: 'The case', schema: caseSchema },
      404: { description: 'No such case, or not readable by the caller' },
    },
    async handler(ctx, { params, principal }) {
      await cases.collector.sweep()
      ctx.body = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const { c, clips } = await readableCase(tx, principal, params.id)
        return caseDto(c, clips, await notesOf(tx, c.id))
      })
    },
  })

  api.route({
    method: 'patch',
    path: '/api/v1/cases/:id',
    tag: 'cases',
    auth: 'user',
    summary: "Rename a case, change its description or its clips' notes",
    params: idParams,
    body: caseUpdate,
    responses: {
      200: { description: 'The case', schema: caseSchema },
      400: { description: 'A clip that is not in this case' },
      404: { description: 'No such case, or not readable by the caller' },
    },
    async handler(ctx, { params, body, principal }) {
      const result = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const { c } = await readableCase(tx, principal, params.id)
        await updateCase(tx, c.id, { name: body.name, description: body.description })
        for (const clip of body.clips ?? [])
          if (!(await setClipNote(tx, c.id, clip.id, clip.note)))
            throw badRequest(`clip ${clip.id} is not in this case`)
        const updated = (await caseById(tx, c.id)) as CaseRow
        return { before: c, updated, clips: await clipsOf(tx, [c.id]), notes: await notesOf(tx, c.id) }
      })
      await audit(ctx, principal, 'case.update', result.updated, {
        ...(body.name !== undefined ? { previousName: result.before.name } : {}),
        changed: Object.keys(body).filter((k) => body[k as keyof typeof body] !== undefined),
        ...(body.clips ? { clipNotes: body.clips.map((c) => c.id) } : {}),
      })
      ctx.body = caseDto(result.updated, result.clips, result.notes)
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/cases/:id/notes',
    tag: 'cases',
    auth: 'user',
    summary: 'Add a note to a case (timestamped, signed with the user)',
    params: idParams,
    body: noteCreate,
    responses: {
      201: { description: 'The note', schema: caseNote },
      404: { description: 'No such case, or not readable by the caller' },
    },
    async handler(ctx, { params, body, principal }) {
      const { c, note } = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const { c } = await readableCase(tx, principal, params.id)
        const note = await insertNote(tx, {
          id: randomUUID(),
          tenant_id: c.tenant_id,
          case_id: c.id,
          text: body.text,
          created_by: principal.userId,
          created_by_name: principal.username,
        })
        return { c, note }
      })
      await audit(ctx, principal, 'case.note', c, { noteId: note.id, text: note.text })
      ctx.status = 201
      ctx.body = noteDto(note)
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/cases/:id/clips/:clipId/retry',
    tag: 'cases',
    auth: 'user',
    summary: 'Collect a failed clip again (needs camera.export on its camera)',
    params: clipParams,
    responses: {
      202: { description: 'The case, the clip being collected', schema: caseSchema },
      403: { description: 'The camera may not be exported by the caller' },
      404: { description: 'No such case or clip, or not readable by the caller' },
      409: { description: 'The clip has not failed' },
    },
    async handler(ctx, { params, principal }) {
      const result = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const { c, clips } = await readableCase(tx, principal, params.id)
        const clip = clips.find((x) => x.id === params.clipId)
        if (!clip) throw notFound('clip')
        const camera = await visibleCamera(tx, principal, clip.camera_id)
        if (!can(principal, 'camera.export', cameraResource(camera))) throw forbidden()
        if (!(await restartClip(tx, c.id, clip.id, cases.collector.instance)))
          throw conflict('only a failed clip can be retried', 'clip_not_failed')
        return { c, clips: await clipsOf(tx, [c.id]), notes: await notesOf(tx, c.id) }
      })
      await audit(ctx, principal, 'case.update', result.c, { retry: params.clipId })
      cases.collector.collect(result.c.tenant_id, result.c.id, [params.clipId], collector(ctx, principal))
      ctx.status = 202
      ctx.body = caseDto(result.c, result.clips, result.notes)
    },
  })

  api.route({
    method: 'delete',
    path: '/api/v1/cases/:id',
    tag: 'cases',
    auth: 'user',
    summary: 'Delete a case and its files (evidence.manage on all its cameras)',
    params: idParams,
    responses: {
      204: { description: 'Deleted, files removed' },
      403: { description: 'Readable (its creator) but evidence.manage is missing on a camera' },
      404: { description: 'No such case, or not readable by the caller' },
    },
    async handler(ctx, { params, principal }) {
      const { c, clips } = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const found = await readableCase(tx, principal, params.id)
        if (!mayManageCase(principal, found.c, found.clips))
          throw forbidden('deleting a case needs evidence.manage on each of its cameras')
        await deleteCase(tx, found.c.id)
        return found
      })
      // Files after the rows: a failure here leaves files without a case, never a case without files
      // (the case is gone either way: the caller is told it is, and the hub's log says what is left).
      await cases.files
        .removeCase(c.id)
        .catch((err: unknown) =>
          hub.logger.warn({ err, caseId: c.id }, "could not remove a deleted case's files"),
        )
      await audit(ctx, principal, 'case.delete', c, {
        clips: clips.map((x) => ({
          id: x.id,
          cameraId: x.camera_id,
          exportId: x.export_id,
          sha256: x.sha256,
        })),
      })
      ctx.status = 204
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/cases/:id/download.zip',
    tag: 'cases',
    auth: 'user',
    summary: 'The case as one zip: clips with signed manifests, export keys, case.json and a README',
    description:
      'Streamed (ZIP64 when large). Ready clips only; the others are listed in case.json with their state. ' +
      'Check a clip with `npm run -s hub -- verify-export CLIP.mp4 CLIP.manifest.json --keys export-keys.json`.',
    params: idParams,
    responses: {
      200: { description: 'The zip', contentType: 'application/zip' },
      404: { description: 'No such case, or not readable by the caller' },
      409: { description: 'No clip is ready yet' },
    },
    async handler(ctx, { params, principal }) {
      const { c, clips, notes, manifests } = await hub.db.withTenant(scopeOf(principal), async (tx) => {
        const { c, clips } = await readableCase(tx, principal, params.id)
        const manifests = new Map<string, string>()
        for (const clip of clips)
          if (clip.state === 'ready' && clip.export_id) {
            const text = await storedManifest(tx, clip.export_id)
            if (text) manifests.set(clip.id, text)
          }
        return { c, clips, notes: await notesOf(tx, c.id), manifests }
      })
      const ready = clips.filter((x) => x.state === 'ready' && manifests.has(x.id))
      if (ready.length === 0) throw conflict('no clip of this case is ready yet', 'case_not_ready')
      const [keys, hubId] = await Promise.all([exportKeysOf(hub).publicKeys(), exportKeysOf(hub).hubId()])
      const files = new Map(
        ready.map((x) => [x.id, clipEntryBase(x.position + 1, x.camera_name, iso(x.from))] as const),
      )
      const zipClips: ZipClip[] = ready.map((x) => ({
        n: x.position + 1,
        cameraName: x.camera_name,
        from: iso(x.from),
        path: cases.files.clipFile(c.id, x.id),
        bytes: Number(x.bytes),
        manifest: manifests.get(x.id) as string,
      }))
      const generatedAt = new Date().toISOString()
      const caseJson = {
        v: 1,
        hubId,
        generatedAt,
        generatedBy: { userId: principal.userId, username: principal.username },
        case: {
          id: c.id,
          tenantId: c.tenant_id,
          name: c.name,
          description: c.description,
          state: caseState(clips),
          createdBy: { userId: c.created_by, username: c.created_by_name },
          createdAt: iso(c.created_at),
          updatedAt: iso(c.updated_at),
        },
        clips: clips.map((x) => ({
          ...clipDto(x),
          n: x.position + 1,
          file: files.has(x.id) ? `${files.get(x.id)}.mp4` : null,
          manifest: files.has(x.id) ? `${files.get(x.id)}.manifest.json` : null,
        })),
        notes: notes.map(noteDto),
      }
      await audit(ctx, principal, 'case.download', c, {
        clips: ready.map((x) => ({ id: x.id, exportId: x.export_id, sha256: x.sha256 })),
      })
      ctx.status = 200
      ctx.type = 'application/zip'
      ctx.set('Content-Disposition', `attachment; filename="case-${slug(c.name)}-${c.id.slice(0, 8)}.zip"`)
      ctx.body = caseZip({
        clips: zipClips,
        caseJson: `${JSON.stringify(caseJson, null, 2)}\n`,
        keysJson: JSON.stringify(keys),
        readme: caseReadme(
          c,
          [...files.values()].map((f) => `${f}.mp4`),
        ),
      })
    },
  })
}
