import type { Tx } from '../db/database.ts'
import { type Camera, CameraSchema } from '../db/entities.ts'
import { notFound } from '../errors.ts'
import { canSee, type Resource } from '../rbac/authorize.ts'
import type { Principal } from '../rbac/principal.ts'

/** A camera as authorisation sees it: in its tenant and site. */
export const cameraResource = (c: Camera): Resource => ({
  type: 'camera',
  tenantId: c.tenantId,
  siteId: c.siteId,
  cameraId: c.id,
})

/** The camera, if the principal may see it; otherwise not found (a hidden camera does not exist). */
export async function visibleCamera(tx: Tx, principal: Principal, id: string): Promise<Camera> {
  const found = await tx.findOne(CameraSchema, { id })
  if (!found || !canSee(principal, cameraResource(found))) throw notFound('camera')
  return found
}
