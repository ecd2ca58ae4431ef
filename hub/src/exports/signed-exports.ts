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
