import { readFileSync } from 'node:fs'
import path from 'node:path'
import { hostAddressesSetting, iceServer, portRangeSetting } from '@ts-vms/shared'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { parseTrustedProxies } from './trusted-proxies.ts'

/**
 * Hub configuration. Every setting has one name, the environment variable's, and the same name is
 * the key in the optional JSON/YAML file named by VMS_CONFIG (the environment wins over the file).
 * Validation happens once at start; a bad value stops the hub with a message naming the key.
 */

const port = z.coerce.number().int().min(0).max(65535)
const positiveInt = z.coerce.number().int().positive()
const bool = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'on', 'off', 'yes', 'no'])])
  .transform((v) => v === true || v === 'true' || v === '1' || v === 'on' || v === 'yes')
const optionalString = z.string().trim().min(1).optional()

export const OWASP_ARGON2_MIN = { memoryKiB: 19456, timeCost: 2, parallelism: 1 } as const

export const configSchema = z.object({
  VMS_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  VMS_HTTP_PORT: port.default(8080),
  VMS_DATA_DIR: z.string().min(1).default('./data/hub'),
  VMS_DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  VMS_DATABASE_POOL_MAX: positiveInt.max(200).default(10),
  /** How long a cached principal may be served without a change announcement (0: no cache). */
  VMS_PRINCIPAL_CACHE_SECONDS: z.coerce.number().int().min(0).max(3600).default(300),
  VMS_PRINCIPAL_CACHE_MAX: positiveInt.max(1_000_000).default(10_000),
  VMS_REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .optional(),
  VMS_REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]{1,64}$/, 'letters, digits and : _ - only')
    .default('vms:'),
  VMS_MASTER_KEY: z
    .string()
    .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be base64 of exactly 32 bytes')
    .optional(),
  VMS_BOOTSTRAP_ADMIN_PASSWORD: z.string().min(1).optional(),
  VMS_PUBLIC_URL: z.url().optional(),
  VMS_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  VMS_JWT_ISSUER: optionalString,
  VMS_JWT_AUDIENCE: z.string().min(1).default('ts-vms-api'),
  VMS_ACCESS_TOKEN_TTL_SECONDS: positiveInt.max(3600).default(900),
  VMS_REFRESH_TOKEN_TTL_SECONDS: positiveInt.default(30 * 24 * 3600),
  VMS_PASSWORD_RESET_TTL_SECONDS: positiveInt.max(24 * 3600).default(30 * 60),
  VMS_SIGNING_KEY_REFRESH_SECONDS: positiveInt.default(60),
  VMS_ARGON2_MEMORY_KIB: z.coerce
    .number()
    .int()
    .min(OWASP_ARGON2_MIN.memoryKiB, `must be at least ${OWASP_ARGON2_MIN.memoryKiB} (OWASP minimum)`)
    .default(OWASP_ARGON2_MIN.memoryKiB),
  VMS_ARGON2_TIME_COST: z.coerce
    .number()
    .int()
    .min(OWASP_ARGON2_MIN.timeCost, `must be at least ${OWASP_ARGON2_MIN.timeCost} (OWASP minimum)`)
    .default(OWASP_ARGON2_MIN.timeCost),
  VMS_ARGON2_PARALLELISM: z.coerce.number().int().min(1).max(16).default(OWASP_ARGON2_MIN.parallelism),
  VMS_SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL')
    .optional(),
  VMS_SMTP_FROM: z.string().min(3).default('TS-VMS <no-reply@localhost>'),
  VMS_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  VMS_BODY_LIMIT_BYTES: positiveInt.default(1024 * 1024),
  /** How long a client has to send a request's headers. */
  VMS_HTTP_HEADERS_TIMEOUT_MS: positiveInt.min(100).default(10_000),
  /** How long a client has to send a request's body, after its headers (uploads excepted). */
  VMS_HTTP_BODY_TIMEOUT_MS: positiveInt.min(100).default(30_000),
  /** How long an agent has to send an export upload's body (a slow site uplink). */
  VMS_HTTP_UPLOAD_TIMEOUT_MS: positiveInt.min(1000).default(15 * 60_000),
  /** Concurrent HTTP connections one client address may hold (trusted proxies are not counted). */
  VMS_HTTP_MAX_CONNECTIONS_PER_IP: positiveInt.default(64),
  VMS_TRUST_PROXY: z
    .string()
    .trim()
    .min(1)
    .superRefine((v, ctx) => {
      try {
        parseTrustedProxies(v)
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message.replace(/^VMS_TRUST_PROXY: /, '') })
      }
    })
    .optional(),
  VMS_LOGIN_MAX_FAILURES_PER_USER: positiveInt.default(10),
  VMS_LOGIN_MAX_FAILURES_PER_IP: positiveInt.default(100),
  VMS_LOGIN_WINDOW_SECONDS: positiveInt.default(15 * 60),
  VMS_API_RATE_PER_MINUTE: positiveInt.default(600),
  VMS_PASSWORD_RESET_PER_HOUR: positiveInt.default(5),
  VMS_PASSWORD_RESET_PER_HOUR_PER_IP: positiveInt.default(20),
  VMS_MIGRATE_ON_START: bool.default(true),
  VMS_LICENSE_PUBLIC_KEYS: z
    .union([z.string(), z.array(z.string())])
    .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((p) => p.trim()).filter(Boolean))
    .optional(),
  VMS_MQTT_HOST: z.string().min(1).optional(),
  VMS_MQTT_PORT: port.default(8883),
  VMS_MQTT_TLS: bool.default(true),
  VMS_MQTT_TLS_CERT: optionalString,
  VMS_MQTT_TLS_KEY: optionalString,
  VMS_MQTT_PUBLIC_URL: z
    .string()
    .regex(/^mqtts?:\/\/[^/]+$/, 'must be mqtt://host:port or mqtts://host:port')
    .optional(),
  VMS_MQTT_URL: z
    .string()
    .regex(/^mqtts?:\/\//, 'must be an mqtt:// or mqtts:// URL')
    .optional(),
  /** Embedded broker: time for the TLS handshake, and again from then to an authenticated CONNECT. */
  VMS_MQTT_CONNECT_TIMEOUT_MS: positiveInt.min(100).default(5000),
  /** Embedded broker: concurrent connections one client address may hold. */
  VMS_MQTT_MAX_CONNECTIONS_PER_IP: positiveInt.default(64),
  VMS_MQTT_SHARED_GROUP: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .default('vms-hub'),
  /**
   * Frigate compatibility: the broker object events are republished to, Frigate-style (issue 13).
   * Credentials may be in the URL (never logged). One broker for every tenant (single-tenant hubs).
   */
  VMS_FRIGATE_MQTT_URL: z
    .string()
    .trim()
    .regex(/^mqtts?:\/\/[^/?#\s]+/, 'must be an mqtt:// or mqtts:// URL')
    .refine((v) => {
      try {
        return new URL(v).hostname.length > 0
      } catch {
        return false
      }
    }, 'must be an mqtt:// or mqtts:// URL with a host')
    .optional(),
  /** Frigate compatibility: Frigate's `topic_prefix`; events go to `<prefix>/events`. */
  VMS_FRIGATE_TOPIC_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'letters, digits, _ . - and / between levels only')
    .max(128)
    .default('frigate'),
  VMS_ENROLLMENT_TTL_SECONDS: positiveInt.default(24 * 3600),
  VMS_ENROLL_PER_HOUR_PER_IP: positiveInt.default(30),
  VMS_AUDIT_RETENTION_DAYS: positiveInt.default(2557),
  /** Days of agents' downsampled health history kept (5-minute buckets; hub/src/agents/health-history.ts). */
  VMS_HEALTH_HISTORY_DAYS: positiveInt.max(3650).default(30),
  VMS_AUDIT_CHECKPOINT_SECONDS: positiveInt.default(3600),
  VMS_AUDIT_DB_TIMEOUT_MS: positiveInt.min(100).default(5000),
  /** How long the hub waits for an agent to answer a question (recordings list). */
  VMS_AGENT_REQUEST_TIMEOUT_MS: positiveInt.min(100).default(15_000),
  /** PTZ moves by one user on one camera this close together are one audited sequence. */
  VMS_PTZ_AUDIT_SEQUENCE_MS: positiveInt.min(1000).max(3_600_000).default(10_000),
  /** How often alarm rules are evaluated against the fleet (occurrences are handled at once). */
  VMS_ALARM_EVAL_MS: positiveInt.min(100).max(600_000).default(5000),
  /** How long the hub waits for an agent to build and upload an export. */
  VMS_EXPORT_TIMEOUT_MS: positiveInt.min(1000).default(10 * 60_000),
  /** Largest export file the hub accepts from an agent. */
  VMS_EXPORT_MAX_BYTES: positiveInt.default(4 * 1024 ** 3),
  /** Playback (HLS through the hub): the disk cache of segments fetched from agents, in MiB. */
  VMS_PLAYBACK_CACHE_MB: positiveInt.default(2048),
  /** Playback: how long the token in a playlist's segment addresses is valid (at most 10 minutes). */
  VMS_PLAYBACK_TOKEN_SECONDS: positiveInt.max(600).default(600),
  /** Playback: the length media segments are grouped to from the recording's ~1 s fragments. */
  VMS_PLAYBACK_SEGMENT_SECONDS: positiveInt.max(30).default(4),
  /** Playback: how long the hub waits for an agent to upload one segment. */
  VMS_PLAYBACK_SEGMENT_TIMEOUT_MS: positiveInt.min(1000).default(30_000),
  /** Playback: the largest media segment the hub accepts from an agent. */
  VMS_PLAYBACK_MAX_SEGMENT_BYTES: positiveInt.default(64 * 1024 ** 2),
  /**
   * Live view: STUN/TURN servers (JSON array of {urls, username?, credential?}) given to the hub's
   * relay, to agents and to browsers. Empty by default: nothing is contacted that was not named.
   */
  VMS_ICE_SERVERS: z
    .union([z.string(), z.array(z.unknown())])
    .default('[]')
    .transform((v, ctx) => {
      if (typeof v !== 'string') return v
      try {
        return JSON.parse(v) as unknown
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON array' })
        return z.NEVER
      }
    })
    .pipe(z.array(iceServer).max(8)),
  /** Live view: addresses the hub announces as ICE host candidates besides its interfaces' (comma-separated). */
  VMS_LIVE_HOST_ADDRESSES: hostAddressesSetting,
  /** Live view: UDP ports for the hub's ICE, `min-max` (unset: any free port). */
  VMS_LIVE_PORT_RANGE: portRangeSetting.optional(),
  /** Live view: how long an upstream from an agent stays open after its last viewer leaves. */
  VMS_LIVE_UPSTREAM_LINGER_MS: z.coerce.number().int().nonnegative().default(15_000),
  /** Live view: how often each session's permission is checked again (revocation takes effect). */
  VMS_LIVE_RECHECK_SECONDS: positiveInt.default(30),
  /** Live view: sessions the hub serves at once. */
  VMS_LIVE_MAX_SESSIONS: positiveInt.default(500),
  /** Live view: how long the hub waits for an agent to answer a live offer. */
  VMS_LIVE_REQUEST_TIMEOUT_MS: positiveInt.min(1000).default(20_000),
  /**
   * Notifications (issue 16): let webhooks and MQTT brokers be on loopback, private or link-local
   * addresses (a lab, tests). Off: such targets are refused when saved and when delivering (SSRF).
   */
  VMS_WEBHOOK_ALLOW_PRIVATE: bool.default(false),
  /** Notifications: deadline of each webhook call, broker publish or SMTP send. */
  VMS_WEBHOOK_TIMEOUT_MS: positiveInt.min(100).max(120_000).default(10_000),
  /** Notifications: attempts per delivery before it is dead (a dead letter, retried by hand). */
  VMS_NOTIFY_MAX_ATTEMPTS: positiveInt.max(100).default(8),
  /** Notifications: the first retry's delay; each next one doubles it (with jitter, at most 1 h). */
  VMS_NOTIFY_RETRY_BASE_MS: positiveInt.min(10).default(5000),
  /** Notifications: how often a hub looks for due deliveries besides the alarms' own kicks. */
  VMS_NOTIFY_POLL_MS: positiveInt.min(20).default(5000),
})

export type HubConfig = z.infer<typeof configSchema>

export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid configuration:\n  ${issues.join('\n  ')}`)
    this.name = 'ConfigError'
  }
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError([`VMS_CONFIG: cannot read ${file}: ${(err as Error).message}`])
  }
  let parsed: unknown
  try {
    parsed = /\.json$/i.test(file) ? JSON.parse(text) : parseYaml(text)
  } catch (err) {
    throw new ConfigError([`VMS_CONFIG: ${file} is not valid JSON/YAML: ${(err as Error).message}`])
  }
  if (parsed === null || parsed === undefined) return {}
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError([`VMS_CONFIG: ${file} must hold a mapping of setting names to values`])
  }
  const known = new Set(Object.keys(configSchema.shape))
  const unknown = Object.keys(parsed).filter((k) => !known.has(k))
  if (unknown.length > 0) {
    throw new ConfigError(unknown.map((k) => `${k}: unknown setting in ${file}`))
  }
  return parsed as Record<string, unknown>
}

/**
 * Builds the configuration from the environment (and VMS_CONFIG's file). `overrides` lets tests and
 * embedding code pass values directly; they win over both.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<Record<keyof HubConfig, unknown>> = {},
): HubConfig {
  const fromFile = env.VMS_CONFIG ? readConfigFile(env.VMS_CONFIG) : {}
  const fromEnv: Record<string, unknown> = {}
  for (const key of Object.keys(configSchema.shape)) {
    const value = env[key]
    // An empty variable means "not set", as shells and service managers often export them so.
    if (value !== undefined && value !== '') fromEnv[key] = value
  }
  const merged = { ...fromFile, ...fromEnv, ...overrides }
  const result = configSchema.safeParse(merged)
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const key = issue.path.join('.') || '(root)'
        return `${key}: ${issue.message}`
      }),
    )
  }
  const config = result.data
  config.VMS_DATA_DIR = path.resolve(config.VMS_DATA_DIR)
  return config
}
