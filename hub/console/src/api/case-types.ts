/** Cases (issue 16), as the hub's `/api/v1/cases` endpoints describe them. */
export type CaseState = 'collecting' | 'ready' | 'failed'

export interface CaseClip {
  id: string
  position: number
  cameraId: string
  cameraName: string
  siteId: string
  from: string
  to: string
  note: string
  state: CaseState
  /** Why the clip failed (e.g. "agent offline"). */
  error: string | null
  exportId: string | null
  /** The footage actually in the file. */
  start: string | null
  end: string | null
  sha256: string | null
  bytes: number | null
}

export interface CaseNote {
  id: string
  text: string
  createdBy: string | null
  createdByName: string
  createdAt: string
}

export interface Case {
  id: string
  tenantId: string
  name: string
  description: string
  state: CaseState
  createdBy: string | null
  createdByName: string
  createdAt: string
  updatedAt: string
  clips: CaseClip[]
  /** Only when one case is read. */
  notes?: CaseNote[]
}

export interface CasePage {
  items: Case[]
  total: number
}

export interface NewCaseClip {
  cameraId: string
  from: string
  to: string
  note?: string
}

export interface NewCase {
  name: string
  description?: string
  clips: NewCaseClip[]
}

export interface CaseChange {
  name?: string
  description?: string
  clips?: { id: string; note: string }[]
}
