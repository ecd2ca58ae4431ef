import type { ExportMeta } from '@ts-vms/shared'
import type { Tx } from '../db/database.ts'
import type { HubContext } from '../hub-context.ts'
import { exportKeysOf } from './export-keys.ts'
import {
  type ExportManifest,
  type SignedExportManifest,
  serializeManifest,
  signManifest,
} from './export-manifest.ts'

/** What the hub knows of an export when it signs it (the row just recorded in `exports`). */
export interface ExportToSign {
  exportId: string
  tenantId: string
  camera: { id: string; name: string }
  siteId: string
  /** The footage in the file: its actual start and end. */
  from: Date | string
  to: Date | string
  sha256: string
  bytes: number
  exportedBy: { userId: string | null; username: string }
  exportedAt: Date | string
}

/**
 * Signs an export's manifest with the hub's export key and stores it in `export_signatures`, in
 * the caller's transaction (the one that recorded the export). Returns the signed manifest.
 */
export async function signAndStoreExport(
  hub: HubContext,
  tx: Tx,
  e: ExportToSign,
): Promise<SignedExportManifest> {
  const keys = exportKeysOf(hub)
  const [{ keyId, privateKey }, hubId] = await Promise.all([keys.signingKey(), keys.hubId()])
  const sites: { name: string }[] = await tx.execute('select name from sites where id = ?', [e.siteId])
  const manifest: ExportManifest = {
    v: 1,
    exportId: e.exportId,
    hubId,
    tenantId: e.tenantId,
    camera: { id: e.camera.id, name: e.camera.name },
    site: { id: e.siteId, name: sites[0]?.name ?? '' },
    from: new Date(e.from).toISOString(),
    to: new Date(e.to).toISOString(),
    sha256: e.sha256,
    bytes: e.bytes,
    exportedBy: e.exportedBy,
    exportedAt: new Date(e.exportedAt).toISOString(),
    keyId,
  }
  const signed = signManifest(manifest, privateKey)
  await tx.execute(
    'insert into export_signatures (export_id, tenant_id, key_id, manifest) values (?, ?, ?, ?)',
    [e.exportId, e.tenantId, keyId, serializeManifest(signed)],
  )
  return signed
}

/** The stored signed manifest (canonical JSON) of an export, if it was signed. */
export async function storedManifest(tx: Tx, exportId: string): Promise<string | undefined> {
  const rows: { manifest: string }[] = await tx.execute(
    'select manifest from export_signatures where export_id = ?',
    [exportId],
  )
  return rows[0]?.manifest
}

/**
 * Records an export the agent delivered (`exports`: the range asked for, what the file holds) and
 * signs its manifest, in the caller's transaction: no export without its manifest. Returns the
 * row as stored. The export route and case collection both go through here.
 */
export async function recordSignedExport<Row extends { created_at: Date }>(
  hub: HubContext,
  tx: Tx,
  e: {
    exportId: string
    camera: { id: string; name: string; tenantId: string; siteId: string }
    agentId: string
    /** The range asked for. */
    requested: { from: Date; to: Date }
    meta: ExportMeta
    exportedBy: { userId: string; username: string }
  },
): Promise<Row> {
  const { meta } = e
  const [row]: Row[] = await tx.execute(
    `insert into exports (id, tenant_id, site_id, camera_id, agent_id, requested_from, requested_to,
       start_at, end_at, sha256, bytes, frames, codec, width, height, truncated_at, created_by)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning *`,
    [
      e.exportId,
      e.camera.tenantId,
      e.camera.siteId,
      e.camera.id,
      e.agentId,
      e.requested.from,
      e.requested.to,
      new Date(meta.start),
      new Date(meta.end),
      meta.sha256,
      meta.bytes,
      meta.frames,
      meta.codec,
      meta.width,
      meta.height,
      meta.truncatedAt ? new Date(meta.truncatedAt) : null,
      e.exportedBy.userId,
    ],
  )
  if (!row) throw new Error('the export was not recorded')
  await signAndStoreExport(hub, tx, {
    exportId: e.exportId,
    tenantId: e.camera.tenantId,
    camera: { id: e.camera.id, name: e.camera.name },
    siteId: e.camera.siteId,
    from: meta.start,
    to: meta.end,
    sha256: meta.sha256,
    bytes: meta.bytes,
    exportedBy: e.exportedBy,
    exportedAt: row.created_at,
  })
  return row
}
