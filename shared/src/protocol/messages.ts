import { z } from 'zod'

/**
 * Message schemas of the agent protocol, version 1. Both sides validate with these; the hub
 * rejects (and counts) anything that does not parse, and the connection carries on.
 */
export const PROTOCOL_VERSION = 1
/** Largest MQTT payload either side accepts. */
export const MAX_PAYLOAD_BYTES = 256 * 1024
/** Most outbox messages in one `up/messages` batch. */
export const MAX_BATCH = 500

const id = z.string().min(1).max(200)
const shortText = (max: number) => z.string().max(max)
const isoTime = z.iso.datetime({ offset: true })
const jsonObject = z.record(z.string(), z.unknown())

export const eventBody = z.object({
  /** What happened: `test`, later `motion`, `object`, `camera.offline`, ... */
  type: z.string().regex(/^[a-z][a-z0-9._-]{0,63}$/),
  cameraId: z.uuid().optional(),
  data: jsonObject.optional(),
})

export const auditBody = z.object({
  action: z.string().regex(/^[a-z][a-z0-9._-]{0,99}$/),
  outcome: z.enum(['success', 'failure', 'denied']),
  actor: z.object({
    type: z.enum(['user', 'system']),
    id: id.nullable().optional(),
    name: id.nullable().optional(),
  }),
  target: z.object({ type: id, id: id.nullable().optional() }).optional(),
  reason: shortText(500).optional(),
  details: jsonObject.optional(),
})

export const healthBody = z.object({
  uptimeSeconds: z.number().nonnegative(),
  version: shortText(64),
  hostname: shortText(255).optional(),
  disk: z.object({ freeBytes: z.number().nonnegative(), totalBytes: z.number().nonnegative() }).optional(),
  outbox: z.object({
    depth: z.number().int().nonnegative(),
    bytes: z.number().nonnegative(),
    full: z.boolean(),
  }),
  configVersion: z.number().int().nonnegative(),
  /** Set while the outbox is full and the agent refuses non-essential work. */
  degraded: z.array(shortText(200)).max(20).optional(),
})

export const stateBody = z.object({
  configVersion: z.number().int().nonnegative(),
  configError: shortText(1000).optional(),
})

export const outboxMessage = z.discriminatedUnion('type', [
  z.object({ seq: z.number().int().positive(), type: z.literal('event'), at: isoTime, body: eventBody }),
  z.object({ seq: z.number().int().positive(), type: z.literal('audit'), at: isoTime, body: auditBody }),
  z.object({ seq: z.number().int().positive(), type: z.literal('health'), at: isoTime, body: healthBody }),
  z.object({ seq: z.number().int().positive(), type: z.literal('state'), at: isoTime, body: stateBody }),
  // A health sample the agent coalesced away while its outbox was full: it keeps its sequence
  // number (the hub takes only gap-free runs) but carries nothing.
  z.object({
    seq: z.number().int().positive(),
    type: z.literal('noop'),
    at: isoTime,
    body: z.object({}).strict(),
  }),
])
export type OutboxMessage = z.infer<typeof outboxMessage>
export type OutboxType = OutboxMessage['type']

/** `up/messages`: a batch of outbox rows, in sequence order. */
export const upMessages = z.object({
  v: z.literal(PROTOCOL_VERSION),
  messages: z.array(outboxMessage).min(1).max(MAX_BATCH),
})
export type UpMessages = z.infer<typeof upMessages>

/** `up/status` (retained; the agent's last will says offline). */
export const upStatus = z.object({
  v: z.literal(PROTOCOL_VERSION),
  online: z.boolean(),
  version: shortText(64).optional(),
  at: isoTime,
})
export type UpStatus = z.infer<typeof upStatus>

/** `down/ack`: everything up to `seq` is committed on the hub; the agent may delete it. */
export const downAck = z.object({ v: z.literal(PROTOCOL_VERSION), seq: z.number().int().nonnegative() })
export type DownAck = z.infer<typeof downAck>

/** The agent's desired configuration; later issues add cameras and their settings. */
export const agentConfig = z.object({
  heartbeatSeconds: z.number().int().min(2).max(300).default(10),
  cameras: z.array(z.record(z.string(), z.unknown())).max(256).default([]),
})
export type AgentConfig = z.infer<typeof agentConfig>

/** `down/config` (retained): the desired configuration, versioned. */
export const downConfig = z.object({
  v: z.literal(PROTOCOL_VERSION),
  version: z.number().int().nonnegative(),
  config: agentConfig,
})
export type DownConfig = z.infer<typeof downConfig>

/** Parses a JSON payload with a schema; never throws. */
export function decode<T extends z.ZodType>(
  schema: T,
  payload: Buffer | string,
): { ok: true; value: z.output<T> } | { ok: false; error: string } {
  if (payload.length > MAX_PAYLOAD_BYTES) return { ok: false, error: 'oversize' }
  let json: unknown
  try {
    json = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'))
  } catch {
    return { ok: false, error: 'malformed' }
  }
  const parsed = schema.safeParse(json)
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, error: 'invalid' }
}
