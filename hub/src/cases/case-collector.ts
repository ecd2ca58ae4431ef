import { randomUUID } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { cleanText, type ExportMeta } from '@ts-vms/shared'
import { AgentRequestError } from '../agents/agent-requests.ts'
import { CameraSchema } from '../db/entities.ts'
import { recordSignedExport } from '../exports/signed-exports.ts'
import type { HubContext } from '../hub-context.ts'
import type { CaseFiles } from './case-files.ts'
import type { ClipRow } from './case-store.ts'

/**
 * Collects a case's clips in the background: each clip is a signed export (the same request,
 * upload check, `exports` row and signed manifest as `GET /cameras/:id/export.mp4`), kept on the
 * hub's disk instead of being streamed to a browser. Clips of one case go one after another, so a
 * case never asks one site for twenty exports at once.
 *
 * Durability: a clip being collected is claimed by this hub process (`collector`) and its
 * `heartbeat_at` is refreshed while the case is in hand. On start the hub fails every clip still
 * claimed by a process that no longer runs (`recover`), and readers fail clips whose heartbeat has
 * gone stale (`sweep`, for a hub that died while others run on). A failed clip can be retried.
 * A late success of a process thought dead still lands: the clip is `ready` with its file — only
 * a retry (a new claim) makes the old collector's result be dropped.
 */
const HEARTBEAT_MS = 15_000
/** A claim with no heartbeat for this long belongs to a process that stopped. */
const STALE_SECONDS = 90
const MAX_ERROR = 1000

export const INTERRUPTED = 'the hub stopped before this clip was collected; retry it'

/** Who collects (the case's creator or whoever retries): the exporter named in each manifest. */
export interface Collector {
  userId: string
  username: string
  clientIp: string | null
  userAgent: string | null
}

interface UploadedExport {
  file: string
  meta: ExportMeta
}

/** Thrown inside the completing transaction when the clip is no longer ours (rolled back). */
class ClipGone extends Error {}

export class CaseCollector {
  /** This process's claim on the clips it collects. */
  readonly instance = randomUUID()
  private readonly running = new Set<Promise<void>>()

  constructor(
    private readonly hub: HubContext,
    readonly files: CaseFiles,
  ) {}

  /** Starts collecting these clips (already claimed by `instance`) of a case; returns at once. */
  collect(tenantId: string, caseId: string, clipIds: readonly string[], by: Collector): void {
    const work = this.run(tenantId, caseId, clipIds, by).catch((err) =>
      this.hub.logger.warn({ err, caseId }, 'case collection stopped'),
    )
    this.running.add(work)
    void work.finally(() => this.running.delete(work))
  }

  /** Resolves when nothing is being collected (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running])
  }

  /** At start: clips claimed by a process that is gone are failed (they can be retried). */
  async recover(): Promise<number> {
    const rows: { id: string }[] = await this.hub.db.withSystem((tx) =>
      tx.execute(
        `update case_clips set state = 'failed', error = ?
         where state = 'collecting' and (collector is null or collector <> ?) returning id`,
        [INTERRUPTED, this.instance],
      ),
    )
    if (rows.length > 0)
      this.hub.logger.warn({ clips: rows.length }, 'failed case clips left by a stopped hub')
    return rows.length
  }

  /** Fails other processes' claims whose heartbeat went stale (a hub that died while this one runs). */
  async sweep(): Promise<void> {
    await this.hub.db.withSystem((tx) =>
      tx.execute(
        `update case_clips set state = 'failed', error = ?
         where state = 'collecting' and collector <> ?
           and heartbeat_at < now() - make_interval(secs => ?)`,
        [INTERRUPTED, this.instance, STALE_SECONDS],
      ),
    )
  }

  private async run(tenantId: string, caseId: string, clipIds: readonly string[], by: Collector) {
    const scope = { tenantId, crossTenant: false }
    const beat = setInterval(() => {
      this.hub.db
        .withTenant(scope, (tx) =>
          tx.execute(
            `update case_clips set heartbeat_at = now()
             where case_id = ? and state = 'collecting' and collector = ?`,
            [caseId, this.instance],
          ),
        )
        .catch(() => {})
    }, HEARTBEAT_MS)
    beat.unref()
    try {
      for (const clipId of clipIds) await this.collectOne(tenantId, caseId, clipId, by)
    } finally {
      clearInterval(beat)
    }
  }

  private async fail(tenantId: string, clipId: string, reason: string): Promise<void> {
    const error = cleanText(reason, { maxLength: MAX_ERROR }).trim() || 'failed'
    await this.hub.db.withTenant({ tenantId, crossTenant: false }, (tx) =>
      tx.execute(
        `update case_clips set state = 'failed', error = ?
         where id = ? and collector = ? and state = 'collecting'`,
        [error, clipId, this.instance],
      ),
    )
  }

  private async collectOne(tenantId: string, caseId: string, clipId: string, by: Collector) {
    const scope = { tenantId, crossTenant: false }
    const found = await this.hub.db.withTenant(scope, async (tx) => {
      const clips: ClipRow[] = await tx.execute(
        `select * from case_clips where id = ? and case_id = ? and state = 'collecting' and collector = ?`,
        [clipId, caseId, this.instance],
      )
      const clip = clips[0]
      if (!clip) return undefined
      const camera = await tx.findOne(CameraSchema, { id: clip.camera_id })
      const agents: { status: string }[] = camera?.agentId
        ? await tx.execute('select status from agents where id = ?', [camera.agentId])
        : []
      return { clip, camera, online: agents[0]?.status === 'online' }
    })
    if (!found) return // deleted, or claimed by a retry elsewhere
    const { clip, camera, online } = found
    if (!camera) return this.fail(tenantId, clipId, 'the camera no longer exists')
    if (!camera.agentId) return this.fail(tenantId, clipId, 'the camera is not assigned to an agent')
    if (!online) return this.fail(tenantId, clipId, 'agent offline')
    const agentId = camera.agentId

    let exportId = ''
    let uploaded: UploadedExport
    try {
      uploaded = await this.hub.agents.requests.call<UploadedExport>(
        agentId,
        this.hub.config.VMS_EXPORT_TIMEOUT_MS,
        (id) => {
          exportId = id
          return {
            op: 'recordings.export',
            cameraId: camera.id,
            from: new Date(clip.from).toISOString(),
            to: new Date(clip.to).toISOString(),
            uploadPath: `/api/v1/agent/uploads/${id}`,
          }
        },
      )
    } catch (err) {
      const reason =
        err instanceof AgentRequestError
          ? err.code === 'agent_offline'
            ? 'agent offline'
            : err.code === 'shutting_down'
              ? INTERRUPTED
              : `the agent could not export it: ${err.message}`
          : `the export failed: ${(err as Error).message}`
      return this.fail(tenantId, clipId, reason)
    }
    const { meta } = uploaded
    let kept: string
    try {
      kept = await this.files.keep(uploaded.file, caseId, clipId)
    } catch (err) {
      this.hub.logger.error({ err, caseId, clipId }, 'could not keep a case clip')
      return this.fail(tenantId, clipId, `the hub could not store the clip: ${(err as Error).message}`)
    }
    try {
      await this.hub.db.withTenant(scope, async (tx) => {
        await recordSignedExport(this.hub, tx, {
          exportId,
          camera,
          agentId,
          requested: { from: clip.from, to: clip.to },
          meta,
          exportedBy: { userId: by.userId, username: by.username },
        })
        // Ours still (not deleted, not claimed by a retry): otherwise roll the export back.
        const done: { id: string }[] = await tx.execute(
          `update case_clips set state = 'ready', error = null, export_id = ?, sha256 = ?, bytes = ?,
             start_at = ?, end_at = ?, camera_name = ?, collected_by = ?, collected_at = now()
           where id = ? and collector = ? returning id`,
          [
            exportId,
            meta.sha256,
            meta.bytes,
            new Date(meta.start),
            new Date(meta.end),
            camera.name,
            by.userId,
            clipId,
            this.instance,
          ],
        )
        if (done.length === 0) throw new ClipGone()
      })
    } catch (err) {
      await rm(kept, { force: true })
      if (err instanceof ClipGone) {
        await this.dropIfCaseGone(tenantId, caseId)
        return
      }
      this.hub.logger.error({ err, caseId, clipId }, 'could not record a case clip')
      return this.fail(tenantId, clipId, 'the hub could not record the clip')
    }
    await this.hub.audit.record({
      action: 'camera.export',
      outcome: 'success',
      tenantId: camera.tenantId,
      target: { type: 'camera', id: camera.id },
      actor: { type: 'user', id: by.userId, name: by.username },
      clientIp: by.clientIp,
      userAgent: by.userAgent,
      details: {
        name: camera.name,
        siteId: camera.siteId,
        agentId,
        caseId,
        clipId,
        exportId,
        from: new Date(clip.from).toISOString(),
        to: new Date(clip.to).toISOString(),
        start: meta.start,
        end: meta.end,
        sha256: meta.sha256,
        bytes: meta.bytes,
      },
    })
  }

  /** A case deleted while a clip was on its way: its directory (recreated by `keep`) goes too. */
  private async dropIfCaseGone(tenantId: string, caseId: string): Promise<void> {
    const rows: { id: string }[] = await this.hub.db.withTenant({ tenantId, crossTenant: false }, (tx) =>
      tx.execute('select id from cases where id = ?', [caseId]),
    )
    if (rows.length === 0) await this.files.removeCase(caseId)
  }
}
