import { EntitySchema } from '@mikro-orm/core'
import type { AnalyticsConfig } from '@ts-vms/shared'

/**
 * The hub's persistent entities, mapped onto the tables that migrations/ creates (the migrations,
 * not these mappings, are the source of truth for the schema). Foreign keys are plain id columns:
 * every access runs inside an RLS-scoped transaction, and explicit ids keep queries obvious.
 */

export interface Tenant {
  id: string
  slug: string
  name: string
  createdAt: Date
  updatedAt: Date
}

export interface Site {
  id: string
  tenantId: string
  name: string
  /** IANA zone (canonical spelling), or null when not set. */
  timeZone: string | null
  createdAt: Date
  updatedAt: Date
}

/** A camera stream as stored: the password sealed with the hub's master key. */
export interface StoredCameraStream {
  role: 'main' | 'sub'
  url: string
  username?: string
  passwordSealed?: string
  transport: 'tcp' | 'udp'
}

/**
 * The device a camera is (or is a channel of), as stored: the password sealed with the hub's master
 * key, bound to the camera and to the agent it was given for (hub/src/cameras/camera-device.ts).
 */
export interface StoredCameraDevice {
  protocol: 'onvif' | 'isapi' | 'dahua' | 'rtsp'
  address: string
  /** The device's own channel id ("1", "101"); empty for a single camera. */
  channel: string
  username?: string
  passwordSealed?: string
  events: boolean
  /** ONVIF PasswordText allowed (old firmware); absent: false. */
  allowPasswordText?: boolean
}

export interface Camera {
  id: string
  tenantId: string
  siteId: string
  name: string
  agentId: string | null
  streams: StoredCameraStream[]
  recording: { enabled: boolean; retentionDays: number }
  /**
   * Edge analytics, as validated with the labels of its model (defaults applied; `stream` absent:
   * the agent picks the sub stream when there is one). Null: never set, analytics off.
   */
  analytics?: AnalyticsConfig | null
  /** The device behind the camera (snapshots, PTZ, its own events); null: a plain stream. */
  device?: StoredCameraDevice | null
  createdAt: Date
  updatedAt: Date
}

export interface User {
  id: string
  tenantId: string
  username: string
  email: string | null
  displayName: string | null
  passwordHash: string
  disabled: boolean
  /** Bumped to invalidate every access token issued before (disable, password change). */
  sessionVersion: number
  lastLoginAt: Date | null
  createdAt: Date
  updatedAt: Date
}

export interface Role {
  id: string
  tenantId: string | null
  name: string
  description: string | null
  permissions: string[]
  builtin: boolean
  createdAt: Date
  updatedAt: Date
}

export type ScopeType = 'tenant' | 'site' | 'camera'

export interface RoleBinding {
  id: string
  tenantId: string
  userId: string
  roleId: string
  scopeType: ScopeType
  siteId: string | null
  cameraId: string | null
  createdAt: Date
}

export interface RefreshToken {
  id: string
  tenantId: string
  userId: string
  familyId: string
  parentId: string | null
  tokenHash: string
  createdAt: Date
  expiresAt: Date
  usedAt: Date | null
  revokedAt: Date | null
  revokedReason: string | null
  clientIp: string | null
  userAgent: string | null
}

export interface PasswordResetToken {
  id: string
  tenantId: string
  userId: string
  tokenHash: string
  createdAt: Date
  expiresAt: Date
  usedAt: Date | null
}

export interface SigningKey {
  kid: string
  alg: string
  publicJwk: Record<string, unknown>
  privateKeySealed: string
  createdAt: Date
  retiredAt: Date | null
}

const timestamps = {
  createdAt: { type: 'Date', onCreate: () => new Date() },
  updatedAt: { type: 'Date', onCreate: () => new Date(), onUpdate: () => new Date() },
} as const

export const TenantSchema = new EntitySchema<Tenant>({
  name: 'Tenant',
  tableName: 'tenants',
  properties: {
    id: { type: 'uuid', primary: true },
    slug: { type: 'string' },
    name: { type: 'string' },
    ...timestamps,
  },
})

export const SiteSchema = new EntitySchema<Site>({
  name: 'Site',
  tableName: 'sites',
  properties: {
    id: { type: 'uuid', primary: true },
    tenantId: { type: 'uuid' },
    name: { type: 'string' },
    timeZone: { type: 'string', nullable: true },
    ...timestamps,
  },
})

export const CameraSchema = new EntitySchema<Camera>({
  name: 'Camera',
  tableName: 'cameras',
  properties: {
    id: { type: 'uuid', primary: true },
    tenantId: { type: 'uuid' },
    siteId: { type: 'uuid' },
    name: { type: 'string' },
    agentId: { type: 'uuid', nullable: true },
    streams: { type: 'json' },
    recording: { type: 'json' },
    analytics: { type: 'json', nullable: true },
    device: { type: 'json', nullable: true },
    ...timestamps,
  },
})

export const UserSchema = new EntitySchema<User>({
  name: 'User',
  tableName: 'users',
  properties: {
    id: { type: 'uuid', primary: true },
    tenantId: { type: 'uuid' },
    username: { type: 'string' },
    email: { type: 'string', nullable: true },
    displayName: { type: 'string', nullable: true },
    passwordHash: { type: 'string', hidden: true, lazy: false },
    disabled: { type: 'boolean' },
    sessionVersion: { type: 'integer' },
    lastLoginAt: { type: 'Date', nullable: true },
    ...timestamps,
  },
})

export const RoleSchema = new EntitySchema<Role>({
  name: 'Role',
  tableName: 'roles',
  properties: {
    id: { type: 'uuid', primary: true },
    tenantId: { type: 'uuid', nullable: true },
    name: { type: 'string' },
    description: { type: 'string', nullable: true },
    permissions: { type: 'string[]' },
    builtin: { type: 'boolean' },
    ...timestamps,
  },
})

export const RoleBindingSchema = new EntitySchema<RoleBinding>({
  name: 'RoleBinding',
  tableName: 'role_bindings',
  properties: {
    id: { type: 'uuid', primary: true },
    tenantId: { type: 'uuid' },
    userId: { type: 'uuid' },
    roleId: { type: 'uuid' },
    scopeType: { type: 'string' },
    siteId: { type: 'uuid', nullable: true },
    cameraId: { type: 'uuid', nullable: true },
    createdAt: { type: 'Date', onCreate: () => new Date() },
  },
})

export const RefreshTokenSchema = new EntitySchema<RefreshToken>({
  name: 'RefreshToken',
  tableName: 'refresh_tokens',
  properties: {
    id: { type: 'uuid', primary: true },
    tenantId: { type: 'uuid' },
    userId: { type: 'uuid' },
    familyId: { type: 'uuid' },
    parentId: { type: 'uuid', nullable: true },
    tokenHash: { type: 'string' },
    createdAt: { type: 'Date', onCreate: () => new Date() },
    expiresAt: { type: 'Date' },
    usedAt: { type: 'Date', nullable: true },
    revokedAt: { type: 'Date', nullable: true },
    revokedReason: { type: 'string', nullable: true },
    clientIp: { type: 'string', nullable: true },
    userAgent: { type: 'string', nullable: true },
  },
})

export const PasswordResetTokenSchema = new EntitySchema<PasswordResetToken>({
  name: 'PasswordResetToken',
  tableName: 'password_reset_tokens',
  properties: {
    id: { type: 'uuid', primary: true },
    tenantId: { type: 'uuid' },
    userId: { type: 'uuid' },
    tokenHash: { type: 'string' },
    createdAt: { type: 'Date', onCreate: () => new Date() },
    expiresAt: { type: 'Date' },
    usedAt: { type: 'Date', nullable: true },
  },
})

export const SigningKeySchema = new EntitySchema<SigningKey>({
  name: 'SigningKey',
  tableName: 'signing_keys',
  properties: {
    kid: { type: 'string', primary: true },
    alg: { type: 'string' },
    publicJwk: { type: 'json' },
    privateKeySealed: { type: 'string' },
    createdAt: { type: 'Date', onCreate: () => new Date() },
    retiredAt: { type: 'Date', nullable: true },
  },
})

export const allEntities = [
  TenantSchema,
  SiteSchema,
  CameraSchema,
  UserSchema,
  RoleSchema,
  RoleBindingSchema,
  RefreshTokenSchema,
  PasswordResetTokenSchema,
  SigningKeySchema,
]
