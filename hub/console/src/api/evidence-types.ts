/** Evidence locks (issue 16) as the hub's API returns them (hub/src/http/routes/evidence-locks.ts). */
export type EvidenceLockState = 'pending' | 'applied'

export interface EvidenceLock {
  id: string
  cameraIds: string[]
  from: string
  to: string
  reason: string
  until: string
  /** `applied` once every agent recording one of the cameras applied it. */
  state: EvidenceLockState
  agents: { agentId: string; state: EvidenceLockState }[]
  tenantId: string
  createdBy: string | null
  createdAt: string
}

export interface EvidenceLockPage {
  items: EvidenceLock[]
  total: number
}

export interface NewEvidenceLock {
  cameraIds: string[]
  from: string
  to: string
  reason: string
  until: string
}
