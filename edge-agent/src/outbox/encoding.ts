import {
  cleanJsonValue,
  cleanText,
  MAX_PAYLOAD_BYTES,
  type OutboxType,
  PROTOCOL_VERSION,
} from '@ts-vms/shared'

/**
 * How outbox rows travel (`up/messages`), and the size rules that keep every publication within
 * what the hub takes. Sizes are of the ENCODED text, in bytes: JSON writes a control character as
 * six bytes (`\u0001`), so 60,000 of them in a camera's error text became 360 KB on the wire.
 */
export interface EncodableRow {
  seq: number
  type: OutboxType
  at: string
  /** The body, already JSON. */
  body: string
}

/**
 * The batch's head carries the agent's clock at publication (`sentAt`), from which the hub
 * measures the agent's clock offset. An ISO instant of years 0000-9999 is always 24 characters, so
 * the envelope's size is fixed.
 */
const batchHead = (sentAt: Date) => `{"v":${PROTOCOL_VERSION},"sentAt":"${sentAt.toISOString()}","messages":[`
const BATCH_TAIL = ']}'
/** Bytes of a batch around its rows. */
export const BATCH_OVERHEAD_BYTES = Buffer.byteLength(batchHead(new Date(0)) + BATCH_TAIL)

/** One row as it appears in a batch. */
export function encodeRow(r: EncodableRow): string {
  return `{"seq":${r.seq},"type":"${r.type}","at":"${r.at}","body":${r.body}}`
}

/** A batch's payload; its byte length is `BATCH_OVERHEAD_BYTES` plus each row's plus the commas. */
export function encodeBatch(rows: readonly EncodableRow[], sentAt: Date = new Date()): string {
  return `${batchHead(sentAt)}${rows.map(encodeRow).join(',')}${BATCH_TAIL}`
}

/** The bytes a row adds to a batch (its encoding, and a comma unless it is the first). */
export function rowBatchBytes(r: EncodableRow, first: boolean): number {
  // Measured without building the row: read() runs this on every row it sends, and the body (up
  // to a quarter MB) would otherwise be copied once to measure and again to send.
  return Buffer.byteLength(encodeRow({ ...r, body: '' })) + Buffer.byteLength(r.body) + (first ? 0 : 1)
}

/**
 * The largest a single row may be, encoded, so that a batch holding only it still fits the hub's
 * limit (the envelope, the largest sequence number and type, and a little slack).
 */
export const MAX_ROW_BYTES = MAX_PAYLOAD_BYTES - 1024
/** The largest a body may be: the row around it (seq, type, time) takes under 100 bytes. */
export const MAX_BODY_BYTES = MAX_ROW_BYTES - 128

/** A quarantined event keeps this much of its (cleaned) data when it fits; the rest is dropped. */
const KEPT_DATA_BYTES = 8 * 1024

const EVENT_TYPE = /^[a-z][a-z0-9._-]{0,63}$/
const AUDIT_ACTION = /^[a-z][a-z0-9._-]{0,99}$/

const str = (v: unknown, max: number): string | undefined =>
  typeof v === 'string' ? cleanText(v, { maxLength: max }) : undefined
const record = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {}

/**
 * A body too large to send, replaced by a small one that says so (`quarantined: true` and the
 * original size) and keeps what identifies it: an event its type, camera and, cleaned, as much of
 * its data as fits in a few KB; an audit record its action, outcome, actor and target; a health
 * sample becomes a `noop` (the next one says it all again). The row keeps its sequence number, so
 * the hub's gap-free, exactly-once ordering holds.
 */
export function quarantineBody(
  type: OutboxType,
  body: unknown,
  originalBytes: number,
): { type: OutboxType; body: Record<string, unknown> } {
  const b = record(body)
  const mark = { quarantined: true, originalBytes }
  if (type === 'event') {
    const eventType = str(b.type, 64)
    const cameraId = str(b.cameraId, 64)
    const data = cleanJsonValue(record(b.data), { maxLength: 1000 }) as Record<string, unknown>
    const keep = Buffer.byteLength(JSON.stringify(data)) <= KEPT_DATA_BYTES
    return {
      type,
      body: {
        type: eventType && EVENT_TYPE.test(eventType) ? eventType : 'outbox.quarantined',
        ...(cameraId ? { cameraId } : {}),
        data: { ...(keep ? data : {}), ...mark },
      },
    }
  }
  if (type === 'audit') {
    const action = str(b.action, 100)
    const actor = record(b.actor)
    const target = record(b.target)
    return {
      type,
      body: {
        action: action && AUDIT_ACTION.test(action) ? action : 'agent.outbox.quarantined',
        outcome: ['success', 'failure', 'denied'].includes(String(b.outcome)) ? b.outcome : 'failure',
        actor: {
          type: actor.type === 'user' ? 'user' : 'system',
          ...(str(actor.id, 200) ? { id: str(actor.id, 200) } : {}),
          ...(str(actor.name, 200) ? { name: str(actor.name, 200) } : {}),
        },
        ...(str(target.type, 200)
          ? {
              target: {
                type: str(target.type, 200),
                ...(str(target.id, 200) ? { id: str(target.id, 200) } : {}),
              },
            }
          : {}),
        ...(str(b.reason, 500) ? { reason: str(b.reason, 500) } : {}),
        details: mark,
      },
    }
  }
  if (type === 'state') {
    return {
      type,
      body: {
        configVersion: typeof b.configVersion === 'number' ? b.configVersion : 0,
        ...(str(b.configError, 1000) ? { configError: str(b.configError, 1000) } : {}),
      },
    }
  }
  return { type: 'noop', body: {} }
}

/**
 * A body as the outbox stores it: its JSON when that fits `MAX_BODY_BYTES`, else its quarantined
 * replacement (and `quarantined: true`).
 */
export function boundBody(
  type: OutboxType,
  body: unknown,
): { type: OutboxType; text: string; quarantined: boolean } {
  const text = JSON.stringify(body)
  const bytes = Buffer.byteLength(text)
  if (bytes <= MAX_BODY_BYTES) return { type, text, quarantined: false }
  const q = quarantineBody(type, body, bytes)
  return { type: q.type, text: JSON.stringify(q.body), quarantined: true }
}
