import type { CameraDevice } from './device-types.ts'
/** What the hub's API returns, as the console uses it (the hub's OpenAPI is the authority). */
export interface Page<T> {
  items: T[]
  total: number
}

/**
 * A page of a list that may be very long (events): `total` is capped (`totalExact` false past
 * the cap: "10,000+"), and `nextBefore` is the cursor of the next older page (null on the last).
 */
export interface CursorPage<T> extends Page<T> {
  totalExact: boolean
  nextBefore: string | null
}

export interface Scope {
  type: 'tenant' | 'site' | 'camera'
  id?: string
}

export interface Me {
  id: string
  username: string
  tenantId: string
  tenantSlug: string
  displayName: string | null
  email: string | null
  roles: string[]
  permissions: string[]
  bindings: { id: string; role: { id: string; name: string }; scope: Scope }[]
  systemAdmin: boolean
}

export interface Tenant {
  id: string
  slug: string
  name: string
  createdAt: string
}

export interface Site {
  id: string
  tenantId: string
  name: string
  /** IANA zone, or null when not set. */
  timeZone: string | null
  createdAt: string
}

export type StreamRole = 'main' | 'sub'

export interface StreamHealth {
  role: StreamRole
  state: 'idle' | 'connecting' | 'streaming' | 'backoff' | 'stopped'
  error?: string
  codec?: 'h264' | 'h265'
  bitrateBps: number
  fps: number
  lostPackets: number
  droppedFrames?: number
  reconnects: number
  recording: boolean
  clockDriftMs?: number
  timestampJumps?: number
}

export interface CameraStatus {
  agentOnline: boolean
  at: string | null
  streams: StreamHealth[]
  live?: { connections: number; stream: StreamRole; transcoded: boolean }
}

export interface CameraStream {
  role: StreamRole
  url: string
  username: string | null
  hasPassword: boolean
  transport: 'tcp' | 'udp'
}

/** A relative polygon (0..1 of the picture), 3..100 points. */
export type AnalyticsPolygon = [number, number][]

export interface AnalyticsZone {
  name: string
  polygon: AnalyticsPolygon
  /** Absent: every object the camera detects. */
  objects?: string[]
  inertia: number
  loiterSeconds: number
}

/** A camera's analytics configuration with defaults applied (PATCH it as a merge patch). */
export interface CameraAnalyticsConfig {
  enabled: boolean
  /** Absent: the sub stream when the camera has one, else the main one. */
  stream?: StreamRole
  fps: number
  model: string
  objects: string[]
  minScore: number
  threshold: number
  minArea: number
  maxArea?: number
  zones: AnalyticsZone[]
  motionMasks: AnalyticsPolygon[]
  objectMasks: AnalyticsPolygon[]
}

/** A camera's analytics as its agent last reported it (`error` says why when not running). */
export interface CameraAnalyticsStatus {
  state: 'running' | 'disabled' | 'error'
  error?: string
  fps: number
  inferenceMsP50: number
  skippedByMotion: number
}

export interface Camera {
  id: string
  tenantId: string
  siteId: string
  name: string
  agentId: string | null
  streams: CameraStream[]
  recording: { enabled: boolean; retentionDays: number }
  analyticsConfig: CameraAnalyticsConfig
  analytics: CameraAnalyticsStatus
  /** The device the camera is, or is a channel of (null: streams only). */
  device?: CameraDevice | null
  status: CameraStatus | null
  createdAt: string
  updatedAt: string
}

export interface AgentHealth {
  uptimeSeconds?: number
  version?: string
  disk?: { freeBytes: number; totalBytes: number }
  outbox?: { depth: number; bytes: number; full: boolean; quarantined?: number; rejected?: number }
  storage?: { dataDiskFull: boolean; pending: number; dropped: number; since?: string; error?: string }
  degraded?: string[]
  cameras?: { id: string; streams: StreamHealth[] }[]
  recording?: { bytes: number; quotaBytes: number | null }
}

export interface Agent {
  id: string
  tenantId: string
  siteId: string
  name: string
  hostname: string | null
  version: string | null
  status: 'online' | 'offline' | 'disabled' | 'revoked'
  disabled: boolean
  revokedAt: string | null
  lastSeenAt: string | null
  health: AgentHealth | null
  configVersion: number
  appliedConfigVersion: number | null
  createdAt: string
}

export interface VmsEvent {
  id: string
  tenantId: string
  agentId: string | null
  siteId: string | null
  cameraId: string | null
  seq: number | null
  type: string
  time: string
  receivedAt: string
  data: Record<string, unknown>
}

export interface User {
  id: string
  tenantId: string
  username: string
  email: string | null
  displayName: string | null
  disabled: boolean
  lastLoginAt: string | null
  createdAt: string
}

export interface Role {
  id: string
  tenantId: string | null
  name: string
  description: string | null
  permissions: string[]
  builtin: boolean
}

export interface RoleBinding {
  id: string
  userId: string
  tenantId: string
  role: { id: string; name: string }
  scope: Scope
  createdAt: string
}

export type Layout = '1' | '2x2' | '3x3' | '4x4'

export interface SavedView {
  id: string
  name: string
  layout: Layout
  cameraIds: (string | null)[]
  createdAt: string
  updatedAt: string
}

export interface RecordedRange {
  stream: StreamRole
  from: string
  to: string
  codec: string
  width: number
  height: number
  bytes: number
  segments: number
  open: boolean
}

export interface Recordings {
  cameraId: string
  from: string
  to: string
  ranges: RecordedRange[]
  gaps: { stream: StreamRole; from: string; to: string | null; reason: string }[]
}

/** A named time range on a camera's recording (`/api/v1/bookmarks`), shown on the playback timeline. */
export interface Bookmark {
  id: string
  tenantId: string
  siteId: string
  cameraId: string
  from: string
  to: string
  title: string
  note: string | null
  createdBy: string | null
  createdAt: string
}
