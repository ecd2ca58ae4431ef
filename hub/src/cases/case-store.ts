import type { Tx } from '../db/database.ts'

/**
 * Cases in PostgreSQL (tables `cases`, `case_clips`, `case_notes`; tenant-isolated by row-level
 * security like every tenant table). Plain SQL on the caller's transaction; no permission checks
 * here (see case-access.ts).
 */
export type ClipState = 'collecting' | 'ready' | 'failed'

export interface CaseRow {
  id: string
  tenant_id: string
  name: string
  description: string
  created_by: string | null
  created_by_name: string
  created_at: Date
  updated_at: Date
}

export interface ClipRow {
  id: string
  tenant_id: string
  case_id: string
  position: number
  camera_id: string
  camera_name: string
  site_id: string
  from: Date
  to: Date
  note: string
  state: ClipState
  error: string | null
  collector: string | null
  heartbeat_at: Date
  export_id: string | null
  start_at: Date | null
  end_at: Date | null
  sha256: string | null
  bytes: string | number | null
  collected_by: string | null
  collected_at: Date | null
}

export interface NoteRow {
  id: string
  tenant_id: string
  case_id: string
  text: string
  created_by: string | null
  created_by_name: string
  created_at: Date
}

export interface NewClip {
  id: string
  cameraId: string
  cameraName: string
  siteId: string
  from: Date
  to: Date
  note: string
}

export async function insertCase(
  tx: Tx,
  c: {
    id: string
    tenantId: string
    name: string
    description: string
    createdBy: string
    createdByName: string
    collector: string
    clips: NewClip[]
  },
): Promise<void> {
  await tx.execute(
    `insert into cases (id, tenant_id, name, description, created_by, created_by_name)
     values (?, ?, ?, ?, ?, ?)`,
    [c.id, c.tenantId, c.name, c.description, c.createdBy, c.createdByName],
  )
  for (const [position, clip] of c.clips.entries())
    await tx.execute(
      `insert into case_clips (id, tenant_id, case_id, position, camera_id, camera_name, site_id,
         "from", "to", note, state, collector)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'collecting', ?)`,
      [
        clip.id,
        c.tenantId,
        c.id,
        position,
        clip.cameraId,
        clip.cameraName,
        clip.siteId,
        clip.from,
        clip.to,
        clip.note,
        c.collector,
      ],
    )
}

export async function caseById(tx: Tx, id: string): Promise<CaseRow | undefined> {
  const rows: CaseRow[] = await tx.execute('select * from cases where id = ?', [id])
  return rows[0]
}

export async function clipsOf(tx: Tx, caseIds: readonly string[]): Promise<ClipRow[]> {
  if (caseIds.length === 0) return []
  return tx.execute('select * from case_clips where case_id in (?) order by case_id, position', [
    [...caseIds],
  ])
}

export async function notesOf(tx: Tx, caseId: string): Promise<NoteRow[]> {
  return tx.execute('select * from case_notes where case_id = ? order by created_at, id', [caseId])
}

export async function listCases(tx: Tx): Promise<CaseRow[]> {
  return tx.execute('select * from cases order by created_at desc, id')
}

export async function updateCase(
  tx: Tx,
  id: string,
  change: { name?: string | undefined; description?: string | undefined },
): Promise<void> {
  const sets: string[] = ['updated_at = now()']
  const args: unknown[] = []
  if (change.name !== undefined) {
    sets.push('name = ?')
    args.push(change.name)
  }
  if (change.description !== undefined) {
    sets.push('description = ?')
    args.push(change.description)
  }
  await tx.execute(`update cases set ${sets.join(', ')} where id = ?`, [...args, id])
}

export async function setClipNote(tx: Tx, caseId: string, clipId: string, note: string): Promise<boolean> {
  const rows: { id: string }[] = await tx.execute(
    'update case_clips set note = ? where case_id = ? and id = ? returning id',
    [note, caseId, clipId],
  )
  return rows.length > 0
}

export async function insertNote(tx: Tx, n: Omit<NoteRow, 'created_at'>): Promise<NoteRow> {
  const rows: NoteRow[] = await tx.execute(
    `insert into case_notes (id, tenant_id, case_id, text, created_by, created_by_name)
     values (?, ?, ?, ?, ?, ?) returning *`,
    [n.id, n.tenant_id, n.case_id, n.text, n.created_by, n.created_by_name],
  )
  await tx.execute('update cases set updated_at = now() where id = ?', [n.case_id])
  return rows[0] as NoteRow
}

export async function deleteCase(tx: Tx, id: string): Promise<void> {
  await tx.execute('delete from cases where id = ?', [id])
}

/** A failed clip back to `collecting`, claimed by `collector`; false when it was not failed. */
export async function restartClip(
  tx: Tx,
  caseId: string,
  clipId: string,
  collector: string,
): Promise<boolean> {
  const rows: { id: string }[] = await tx.execute(
    `update case_clips set state = 'collecting', error = null, collector = ?, heartbeat_at = now()
     where case_id = ? and id = ? and state = 'failed' returning id`,
    [collector, caseId, clipId],
  )
  return rows.length > 0
}

/** The case's state from its clips: collecting while any is, else failed if any failed, else ready. */
export function caseState(clips: readonly Pick<ClipRow, 'state'>[]): ClipState {
  if (clips.some((c) => c.state === 'collecting')) return 'collecting'
  if (clips.some((c) => c.state === 'failed')) return 'failed'
  return 'ready'
}
