/** The wizard's API (same origin, JSON, the session in an HttpOnly cookie). */

export type StepId = 'enroll' | 'sign-in' | 'cameras' | 'recording' | 'finish'
export type StepState = 'done' | 'current' | 'waiting' | 'unavailable' | 'later'

export interface Step {
  id: StepId
  title: string
  state: StepState
  reason?: string
}

export interface Installer {
  username: string
  displayName: string | null
  tenant: string
  site: { id: string; name: string }
  roles: string[]
}

export interface Status {
  locked: false
  agent: { agentId: string; siteId: string; hubUrl: string; brokerFingerprint: string | null } | null
  hub: {
    url: string
    reachable: boolean
    error?: string
    certificate: { fingerprint: string; verified: boolean; subject: string } | null
  } | null
  installer: Installer | null
  steps: Step[]
  secure: boolean
}

export type StatusAnswer = { locked: true } | Status

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  let res: Response
  try {
    res = await fetch(`/api/setup/${path}`, {
      method,
      credentials: 'same-origin',
      headers:
        method === 'POST'
          ? { 'content-type': 'application/json', 'x-vms-setup': '1' }
          : { accept: 'application/json' },
      ...(method === 'POST' ? { body: JSON.stringify(body ?? {}) } : {}),
    })
  } catch {
    throw new ApiError(0, 'OFFLINE', 'The setup wizard does not answer: is the agent still running?')
  }
  if (res.status === 204) return undefined as T
  let parsed: unknown
  try {
    parsed = await res.json()
  } catch {
    parsed = undefined
  }
  if (!res.ok) {
    const e = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error
    throw new ApiError(res.status, e?.code ?? 'ERROR', e?.message ?? `The wizard answered ${res.status}.`)
  }
  return parsed as T
}

export const api = {
  status: () => call<StatusAnswer>('GET', 'status'),
  unlock: (pin: string) => call<void>('POST', 'unlock', { pin }),
  enroll: (hubUrl: string, code: string) => call<Status>('POST', 'enroll', { hubUrl, code }),
  login: (tenant: string, username: string, password: string) =>
    call<Status>('POST', 'login', { tenant, username, password }),
  logout: () => call<Status>('POST', 'logout'),
  lock: () => call<void>('POST', 'lock'),
  finish: () => call<{ finished: true }>('POST', 'finish'),
}
