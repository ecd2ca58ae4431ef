import {
  analyticsConfigPatchSchema,
  analyticsConfigSchema,
  cameraLiveHealth,
  canonicalTimeZone,
  deviceAddress,
  deviceChannel,
  deviceProtocol,
  PERMISSIONS,
  recordedRangesResult,
  recordingSettings,
  rtspUrl,
  streamHealth,
  streamRole,
} from '@ts-vms/shared'
import { z } from 'zod'

/** Request and response schemas of the public API (the exact contract lives in docs and tests). */

export const idParams = z.object({ id: z.uuid() })

export const paginationQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
})

export function page<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), total: z.number().int() })
}

/**
 * Most rows a list that may grow without bound counts (issue 17): counting every row of a large
 * table on each page costs more than the page. Past it `total` is this cap and `totalExact` false.
 */
export const COUNT_CAP = 10_000

/** A page of a large list: `page`'s fields plus whether `total` is exact and a keyset cursor. */
export function cursorPage<T extends z.ZodType>(item: T) {
  return page(item).extend({
    totalExact: z
      .boolean()
      .describe(`false when more than ${COUNT_CAP} items match: total is then ${COUNT_CAP}, a floor`),
    nextBefore: z
      .string()
      .nullable()
      .describe('Pass as `before` for the next (older) page; null on the last page'),
  })
}

const name = z.string().trim().min(1).max(200)
const slug = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and dashes, starting with a letter or digit')

export const tokenResponse = z
  .object({
    accessToken: z.string(),
    refreshToken: z.string(),
    tokenType: z.literal('Bearer'),
    expiresIn: z.number().int(),
  })
  .meta({ id: 'TokenResponse' })

export const loginBody = z
  .object({
    tenant: z.string().min(1).max(63),
    username: z.string().min(1).max(100),
    password: z.string().min(1).max(4096),
  })
  .strict()

export const refreshBody = z.object({ refreshToken: z.string().min(1).max(500) }).strict()

export const passwordResetBody = z
  .object({ tenant: z.string().min(1).max(63), email: z.string().min(3).max(320) })
  .strict()

export const passwordResetConfirmBody = z
  .object({ token: z.string().min(1).max(500), password: z.string().min(1).max(4096) })
  .strict()

export const tenant = z.object({
  id: z.uuid(),
  slug: z.string(),
  name: z.string(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
})
export const tenantCreate = z.object({ slug, name }).strict()
export const tenantUpdate = z.object({ slug: slug.optional(), name: name.optional() }).strict()

export const tenantFilter = z.object({ tenantId: z.uuid().optional() })

/** An IANA time zone in any case; answered in its canonical spelling. */
const timeZone = z
  .string()
  .max(64)
  .transform((input, ctx) => {
    const zone = canonicalTimeZone(input)
    if (!zone) {
      ctx.addIssue({ code: 'custom', message: 'not an IANA time zone (e.g. Europe/Paris, UTC)' })
      return z.NEVER
    }
    return zone
  })

export const site = z.object({
  id: z.uuid(),
  tenantId: z.uuid(),
  name: z.string(),
  /** The site's IANA time zone (null: not set; the console then shows the browser's zone). */
  timeZone: z.string().nullable(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
})
export const siteCreate = z
  .object({ name, tenantId: z.uuid().optional(), timeZone: timeZone.nullable().optional() })
  .strict()
export const siteUpdate = z
  .object({ name: name.optional(), timeZone: timeZone.nullable().optional() })
  .strict()

const cameraStreamInput = z
  .object({
    role: streamRole,
    url: rtspUrl,
    username: z.string().min(1).max(256).nullable().optional(),
    /** Write-only. Absent on update: keep the stored one (same host only); null: none. */
    password: z.string().min(1).max(1024).nullable().optional(),
    transport: z.enum(['tcp', 'udp']).optional(),
  })
  .strict()
const cameraStreams = z
  .array(cameraStreamInput)
  .max(2)
  .refine((list) => new Set(list.map((s) => s.role)).size === list.length, 'each role at most once')

export const cameraStream = z.object({
  role: streamRole,
  url: z.string(),
  username: z.string().nullable(),
  hasPassword: z.boolean(),
  transport: z.enum(['tcp', 'udp']),
})

/** Text a device receives in its HTTP authentication: no control characters. */
export const deviceCredential = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine(
      (value) => ![...value].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f),
      'must not contain control characters',
    )

/** A camera's device in a request (issue 14). */
export const cameraDeviceInput = z
  .object({
    protocol: deviceProtocol.describe(
      'How the agent talks to the device: onvif, isapi, dahua, or rtsp (none)',
    ),
    address: deviceAddress.describe('host, host:port, or the ONVIF device service URL; no credentials'),
    channel: deviceChannel
      .optional()
      .describe('The device\'s own channel id ("1", "101", "34"); empty for a single camera'),
    username: deviceCredential(256).nullable().optional(),
    /** Write-only. Absent on update: keep the stored one (same address and agent only); null: none. */
    password: deviceCredential(1024)
      .nullable()
      .optional()
      .describe('Write-only; sealed at once, never returned (`hasPassword`)'),
    events: z.boolean().optional().describe("Take the device's own events in as device.* events"),
    allowPasswordText: z
      .boolean()
      .optional()
      .describe(
        'ONVIF only: allow the password in clear (UsernameToken PasswordText) when neither digest works — old firmware; default false',
      ),
  })
  .strict()

export const cameraDevice = z.object({
  protocol: deviceProtocol,
  address: z.string(),
  channel: z.string(),
  username: z.string().nullable(),
  hasPassword: z.boolean(),
  events: z.boolean(),
  allowPasswordText: z.boolean(),
})

export const cameraStatus = z.object({
  /** Whether the camera's agent is connected to the hub. */
  agentOnline: z.boolean(),
  /** From the agent's last heartbeat. */
  at: z.iso.datetime().nullable(),
  streams: z.array(streamHealth),
  /** Live view on the agent while someone watches: connections, the stream shown, transcoded or not. */
  live: cameraLiveHealth.optional(),
})

/**
 * A camera's `analytics` configuration in a request. The shape is checked here with any well-formed
 * label; the route checks it again with the labels of the model it names (which it looks up), so
 * an unknown label or model is a 400 naming the field either way.
 */
const cameraAnalyticsInput = analyticsConfigSchema(null).describe(
  'Edge analytics: whether the agent detects objects on this camera, on which stream, at what rate, which objects, and the zones and masks drawn on the picture (relative 0..1 coordinates). Labels must be known to the model ("default": the 80 COCO classes). Absent `stream`: the sub stream when the camera has one.',
)
/** A JSON merge patch of it: absent keeps, null restores the default, lists are replaced whole. */
const cameraAnalyticsPatch = analyticsConfigPatchSchema(null).describe(
  "A merge patch of the camera's analytics: a field absent is kept, null restores its default, anything else replaces it (lists whole); the result is validated whole. `analytics: null` restores every default (analytics off).",
)

/** A camera's analytics status, from its agent's last heartbeat. */
export const cameraAnalyticsStatus = z.object({
  /** running; disabled (off in its configuration); error (on, but not running: `error` says why). */
  state: z.enum(['running', 'disabled', 'error']),
  error: z.string().optional(),
  /** Frames analysed per second. */
  fps: z.number(),
  /** Median detector call, ms. */
  inferenceMsP50: z.number(),
  /** Share (0..1) of analysed frames on which no inference ran (nothing moved or was tracked). */
  skippedByMotion: z.number(),
})

export const camera = z.object({
  id: z.uuid(),
  tenantId: z.uuid(),
  siteId: z.uuid(),
  name: z.string(),
  agentId: z.uuid().nullable(),
  streams: z.array(cameraStream),
  /** The device behind the camera; null: a plain stream (no device snapshots, PTZ or events). */
  device: cameraDevice.nullable(),
  recording: z.object({ enabled: z.boolean(), retentionDays: z.number().int() }),
  /** The stored analytics configuration with defaults applied (never set: the defaults, off). */
  analyticsConfig: analyticsConfigSchema(null),
  analytics: cameraAnalyticsStatus,
  status: cameraStatus.nullable(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
})
export const cameraCreate = z
  .object({
    name,
    siteId: z.uuid(),
    agentId: z.uuid().nullable().optional(),
    /** Absent with a `device`: the hub asks the agent to probe the device and fills them in. */
    streams: cameraStreams
      .optional()
      .describe(
        'Absent with `device` (not rtsp): the agent probes the device and the streams of its channel are filled in, dialled with the device credentials',
      ),
    recording: recordingSettings.strict().default({ enabled: true, retentionDays: 30 }),
    analytics: cameraAnalyticsInput.optional(),
    device: cameraDeviceInput.optional(),
  })
  .strict()
export type CameraCreateBody = z.output<typeof cameraCreate>
export const cameraUpdate = z
  .object({
    name: name.optional(),
    siteId: z.uuid().optional(),
    agentId: z.uuid().nullable().optional(),
    streams: cameraStreams.optional(),
    recording: recordingSettings.partial().strict().optional(),
    analytics: cameraAnalyticsPatch.nullable().optional(),
    /** The device again (absent fields kept; its password only for the same address and agent); null: none. */
    device: cameraDeviceInput.nullable().optional(),
  })
  .strict()

const isoInstant = z.iso.datetime({ offset: true })
export const timeRangeQuery = z
  .object({
    from: isoInstant.describe('ISO 8601, e.g. 2026-11-24T10:00:00.000Z'),
    to: isoInstant.describe('ISO 8601, after from'),
  })
  .refine((q) => Date.parse(q.to) > Date.parse(q.from), {
    message: '"to" must be after "from"',
    path: ['to'],
  })

export const recordings = z.object({
  cameraId: z.uuid(),
  from: z.iso.datetime(),
  to: z.iso.datetime(),
  ranges: recordedRangesResult.shape.ranges,
  gaps: recordedRangesResult.shape.gaps,
})

export const exportManifest = z.object({
  id: z.uuid(),
  tenantId: z.uuid(),
  siteId: z.uuid(),
  cameraId: z.uuid(),
  agentId: z.uuid(),
  requestedFrom: z.iso.datetime(),
  requestedTo: z.iso.datetime(),
  start: z.iso.datetime(),
  end: z.iso.datetime(),
  sha256: z.string(),
  bytes: z.number().int(),
  frames: z.number().int(),
  codec: z.string(),
  width: z.number().int(),
  height: z.number().int(),
  truncatedAt: z.iso.datetime().nullable(),
  createdBy: z.uuid().nullable(),
  createdAt: z.iso.datetime(),
})

const username = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(/^[\p{L}\p{N}._@+-]+$/u, 'letters, digits and . _ @ + - only')
const email = z.email().max(320)
const password = z.string().min(1).max(4096)

export const user = z.object({
  id: z.uuid(),
  tenantId: z.uuid(),
  username: z.string(),
  email: z.string().nullable(),
  displayName: z.string().nullable(),
  disabled: z.boolean(),
  lastLoginAt: z.iso.datetime().nullable(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
})
export const userCreate = z
  .object({
    username,
    password,
    email: email.nullable().optional(),
    displayName: z.string().trim().max(200).nullable().optional(),
    disabled: z.boolean().optional(),
    tenantId: z.uuid().optional(),
  })
  .strict()
export const userUpdate = z
  .object({
    username: username.optional(),
    password: password.optional(),
    /** Required when users change their own password or e-mail (re-authentication). */
    currentPassword: password.optional(),
    email: email.nullable().optional(),
    displayName: z.string().trim().max(200).nullable().optional(),
    disabled: z.boolean().optional(),
  })
  .strict()

const permission = z.enum(PERMISSIONS)
export const role = z.object({
  id: z.uuid(),
  tenantId: z.uuid().nullable(),
  name: z.string(),
  description: z.string().nullable(),
  permissions: z.array(z.string()),
  builtin: z.boolean(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
})
const roleName = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(/^[\p{L}\p{N} ._-]+$/u, 'letters, digits, spaces and . _ - only')
export const roleCreate = z
  .object({
    name: roleName,
    permissions: z.array(permission).max(PERMISSIONS.length),
    description: z.string().trim().max(500).nullable().optional(),
    tenantId: z.uuid().optional(),
  })
  .strict()
export const roleUpdate = z
  .object({
    name: roleName.optional(),
    permissions: z.array(permission).max(PERMISSIONS.length).optional(),
    description: z.string().trim().max(500).nullable().optional(),
  })
  .strict()

export const scope = z.discriminatedUnion('type', [
  z.object({ type: z.literal('tenant'), id: z.uuid().optional() }).strict(),
  z.object({ type: z.literal('site'), id: z.uuid() }).strict(),
  z.object({ type: z.literal('camera'), id: z.uuid() }).strict(),
])
export const roleBinding = z.object({
  id: z.uuid(),
  userId: z.uuid(),
  tenantId: z.uuid(),
  role: z.object({ id: z.uuid(), name: z.string() }),
  scope: z.object({ type: z.enum(['tenant', 'site', 'camera']), id: z.uuid().optional() }),
  createdAt: z.iso.datetime(),
})
export const roleBindingCreate = z
  .object({ role: z.string().trim().min(1).max(100).describe('role name or id'), scope })
  .strict()
export const bindingParams = z.object({ id: z.uuid(), bindingId: z.uuid() })

export const me = z.object({
  id: z.uuid(),
  username: z.string(),
  tenantId: z.uuid(),
  tenantSlug: z.string(),
  displayName: z.string().nullable(),
  email: z.string().nullable(),
  roles: z.array(z.string()),
  permissions: z.array(z.string()),
  bindings: z.array(roleBinding.omit({ userId: true, tenantId: true, createdAt: true })),
  systemAdmin: z.boolean(),
})
