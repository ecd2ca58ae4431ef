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
  agent: {
    agentId: string
    siteId: string
    hubUrl: string
    brokerFingerprint: string | null
    /** Enrolled with the hub certificate's fingerprint confirmed (pinned) rather than verified. */
    hubPinned?: boolean
  } | null
  hub: {
    url: string
    reachable: boolean
    error?: string
    certificate: { fingerprint: string; verified: boolean; subject: string } | null
  } | null
  installer: Installer | null
  steps: Step[]
  secure: boolean
  /** Cameras added in this session. */
  cameras: { id: string; name: string }[]
  recording: {
    retentionDays: number
    analytics: boolean | null
    quotaBytes: number | null
    /** The quota is set in the agent's environment (which wins): shown, not editable here. */
    quotaFixed?: boolean
    /** A quota saved here is in force at once (else at the agent's next start). */
    quotaAppliesNow?: boolean
  }
  ffmpeg: boolean
}

export interface FoundDevice {
  address: string
  port: number
  manufacturer: string | null
  model: string | null
  name: string | null
  protocols: string[]
  onvifUrl: string | null
}

export interface ProbedStream {
  role: 'main' | 'sub'
  url: string
  codec: string | null
  width: number | null
  height: number | null
}

export interface ProbeAnswer {
  device: {
    address: string
    port: number
    protocol: 'onvif' | 'isapi' | 'dahua'
    manufacturer: string | null
    model: string | null
  }
  channels: { channel: string; name: string; streams: ProbedStream[] }[]
}

export interface PreviewAnswer {
  codec: 'h264' | 'h265'
  width: number | null
  height: number | null
  seconds: number
  still: string | null
  stillError?: string
  video: string | null
  videoNote?: string
}

export interface NewCamera {
  name: string
  protocol: 'onvif' | 'isapi' | 'dahua'
  address: string
  channel: string
  username: string
  password: string
  streams: { role: 'main' | 'sub'; url: string }[]
}

export interface AddAnswer {
  results: { row: number; name: string; status: 'created' | 'error'; cameraId?: string; error?: string }[]
  status: Status
}

export interface RecordingAnswer {
  results: { id: string; name: string; ok: boolean; error?: string }[]
  status: Status
}

export interface SummaryAnswer {
  agentOnline: boolean
  cameras: {
    id: string
    name: string
    streaming: boolean
    recording: boolean
    bitrateBps: number
    retentionDays: number | null
    error: string | null
  }[]
  disk: { freeBytes: number; totalBytes: number; recordingBytes: number; quotaBytes: number | null } | null
  retentionEstimateDays: number | null
  clockDriftMs: number | null
  /** Round trip to the hub, and the upload speed measured by sending it a probe (null: not measured). */
  uplink: { roundTripMs: number; uploadKbps: number | null } | null
}

export type StatusAnswer = { locked: true } | Status

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** What the wizard adds to an error (the hub certificate's fingerprint, tries left). */
    readonly details?: Record<string, unknown>,
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
    const e = (
      parsed as { error?: { code?: string; message?: string; details?: Record<string, unknown> } } | undefined
    )?.error
    throw new ApiError(
      res.status,
      e?.code ?? 'ERROR',
      e?.message ?? `The wizard answered ${res.status}.`,
      e?.details,
    )
  }
  return parsed as T
}

export const api = {
  status: () => call<StatusAnswer>('GET', 'status'),
  unlock: (pin: string) => call<void>('POST', 'unlock', { pin }),
  enroll: (hubUrl: string, code: string, pin?: string) =>
    call<Status>('POST', 'enroll', { hubUrl, code, ...(pin ? { pin } : {}) }),
  login: (tenant: string, username: string, password: string) =>
    call<Status>('POST', 'login', { tenant, username, password }),
  logout: () => call<Status>('POST', 'logout'),
  lock: () => call<void>('POST', 'lock'),
  finish: () => call<{ finished: true }>('POST', 'finish'),
  discover: (targets: string[], scan: boolean) =>
    call<{ devices: FoundDevice[] }>('POST', 'discover', { targets, scan, timeoutMs: 3000 }),
  probe: (address: string, username: string, password: string) =>
    call<ProbeAnswer>('POST', 'probe', { address, username, password }),
  preview: (url: string, username: string, password: string) =>
    call<PreviewAnswer>('POST', 'preview', { url, username, password }),
  addCameras: (cameras: NewCamera[]) => call<AddAnswer>('POST', 'cameras', { cameras }),
  recording: (retentionDays: number, analytics: boolean) =>
    call<RecordingAnswer>('POST', 'recording', { retentionDays, analytics }),
  quota: (quotaBytes: number | null) => call<Status>('POST', 'quota', { quotaBytes }),
  summary: () => call<SummaryAnswer>('GET', 'summary'),
}
