import { randomUUID } from 'node:crypto'
import type { Tx } from '../db/database.ts'

/**
 * Saved live views: a user's named grid layouts, stored on the hub so they follow the user from
 * one console to the next. A view is its owner's alone: every query is bound to the owner, so
 * another user's view does not exist (404), never "forbidden".
 */
export const LAYOUTS = ['1', '2x2', '3x3', '4x4'] as const
export type Layout = (typeof LAYOUTS)[number]
export const TILES: Record<Layout, number> = { '1': 1, '2x2': 4, '3x3': 9, '4x4': 16 }
/** Enough for any operator; a bound so one account cannot fill the table. */
export const MAX_VIEWS_PER_USER = 100

export class SavedViewError extends Error {
  override name = 'SavedViewError'
  constructor(
    readonly kind: 'not_found' | 'name_taken' | 'too_many' | 'too_many_tiles',
    message: string,
  ) {
    super(message)
  }
}

export interface SavedView {
  id: string
  name: string
  layout: Layout
  cameraIds: (string | null)[]
  createdAt: string
  updatedAt: string
}

interface Row {
  id: string
  name: string
  layout: Layout
  camera_ids: (string | null)[]
  created_at: Date
  updated_at: Date
}

const toView = (r: Row): SavedView => ({
  id: r.id,
  name: r.name,
  layout: r.layout,
  cameraIds: r.camera_ids,
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
})

export interface Owner {
  tenantId: string
  userId: string
}

function checkTiles(layout: Layout, cameraIds: readonly (string | null)[]): void {
  if (cameraIds.length > TILES[layout])
    throw new SavedViewError(
      'too_many_tiles',
      `layout ${layout} has ${TILES[layout]} tile(s); ${cameraIds.length} cameras were given`,
    )
}

async function nameTaken(tx: Tx, owner: Owner, name: string, except?: string): Promise<void> {
  const rows: { id: string }[] = await tx.execute(
    'select id from saved_views where user_id = ? and lower(name) = lower(?)',
    [owner.userId, name],
  )
  if (rows.some((r) => r.id !== except))
    throw new SavedViewError('name_taken', `you already have a view named "${name}"`)
}

export async function listViews(tx: Tx, owner: Owner): Promise<SavedView[]> {
  const rows: Row[] = await tx.execute(
    'select * from saved_views where tenant_id = ? and user_id = ? order by lower(name), id',
    [owner.tenantId, owner.userId],
  )
  return rows.map(toView)
}

export async function createView(
  tx: Tx,
  owner: Owner,
  input: { name: string; layout: Layout; cameraIds: (string | null)[] },
): Promise<SavedView> {
  checkTiles(input.layout, input.cameraIds)
  // One at a time per user, so the count and the name check hold under concurrent requests.
  await tx.execute(`select pg_advisory_xact_lock(hashtext('vms.views:' || ?))`, [owner.userId])
  const [count]: { n: string }[] = await tx.execute(
    'select count(*) as n from saved_views where user_id = ?',
    [owner.userId],
  )
  if (Number(count?.n ?? 0) >= MAX_VIEWS_PER_USER)
    throw new SavedViewError('too_many', `you have ${MAX_VIEWS_PER_USER} views, the most one user may keep`)
  await nameTaken(tx, owner, input.name)
  const rows: Row[] = await tx.execute(
    `insert into saved_views (id, tenant_id, user_id, name, layout, camera_ids)
     values (?, ?, ?, ?, ?, ?::jsonb) returning *`,
    [randomUUID(), owner.tenantId, owner.userId, input.name, input.layout, JSON.stringify(input.cameraIds)],
  )
  return toView(rows[0] as Row)
}

async function ownView(tx: Tx, owner: Owner, id: string): Promise<Row> {
  const rows: Row[] = await tx.execute(
    'select * from saved_views where id = ? and tenant_id = ? and user_id = ? for update',
    [id, owner.tenantId, owner.userId],
  )
  if (!rows[0]) throw new SavedViewError('not_found', 'view not found')
  return rows[0]
}

export async function updateView(
  tx: Tx,
  owner: Owner,
  id: string,
  changes: {
    name?: string | undefined
    layout?: Layout | undefined
    cameraIds?: (string | null)[] | undefined
  },
): Promise<SavedView> {
  const row = await ownView(tx, owner, id)
  const layout = changes.layout ?? row.layout
  const cameraIds = changes.cameraIds ?? row.camera_ids.slice(0, TILES[layout])
  checkTiles(layout, cameraIds)
  if (changes.name !== undefined) await nameTaken(tx, owner, changes.name, id)
  const rows: Row[] = await tx.execute(
    `update saved_views set name = ?, layout = ?, camera_ids = ?::jsonb, updated_at = now()
     where id = ? returning *`,
    [changes.name ?? row.name, layout, JSON.stringify(cameraIds), id],
  )
  return toView(rows[0] as Row)
}

export async function deleteView(tx: Tx, owner: Owner, id: string): Promise<void> {
  await ownView(tx, owner, id)
  await tx.execute('delete from saved_views where id = ?', [id])
}
