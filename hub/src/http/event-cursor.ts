/**
 * The events list's keyset cursor (`?before=`, issue 17): the position of the last event of a page
 * in the list's order, `time desc, id desc` (the id makes it total: events at one instant still
 * page without duplicates or gaps). It carries the event's time to the microsecond (PostgreSQL's
 * precision; a millisecond `Date` would lose events sharing a millisecond) and its id, encoded as
 * base64url so clients treat it as opaque.
 *
 * A cursor is a position, never a permission: the page after it is filtered like any other, so a
 * cursor made up by hand shows nothing its caller could not list anyway.
 */

export interface EventCursor {
  /** Microseconds since 1970-01-01T00:00:00Z. */
  timeUs: bigint
  /** The event's id (bigserial), as decimal text. */
  id: string
}

/** 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z: the years an ISO 8601 time can name. */
const MIN_TIME_US = -62_135_596_800_000_000n
const MAX_TIME_US = 253_402_300_799_999_999n
const MAX_ID = 9_223_372_036_854_775_807n
/** A cursor this module makes is at most 56 characters (37 bytes of payload). */
const MAX_CURSOR_LENGTH = 64
const BASE64URL = /^[A-Za-z0-9_-]+$/
const PAYLOAD = /^(0|-?[1-9][0-9]{0,17})\.([1-9][0-9]{0,18})$/

export function encodeEventCursor(cursor: EventCursor): string {
  return Buffer.from(`${cursor.timeUs}.${cursor.id}`, 'latin1').toString('base64url')
}

/**
 * The position a cursor names, or undefined for anything this module did not make: wrong length or
 * alphabet, a non-canonical encoding, a time outside years 1-9999 or an id outside bigserial.
 */
export function decodeEventCursor(text: string): EventCursor | undefined {
  if (text.length === 0 || text.length > MAX_CURSOR_LENGTH || !BASE64URL.test(text)) return undefined
  const payload = Buffer.from(text, 'base64url').toString('latin1')
  // Node's decoder skips what it cannot use; only the canonical spelling of a payload is accepted.
  if (Buffer.from(payload, 'latin1').toString('base64url') !== text) return undefined
  const m = PAYLOAD.exec(payload)
  if (!m?.[1] || !m[2]) return undefined
  const timeUs = BigInt(m[1])
  const id = BigInt(m[2])
  if (timeUs < MIN_TIME_US || timeUs > MAX_TIME_US || id > MAX_ID) return undefined
  return { timeUs, id: m[2] }
}

/**
 * The SQL parameters for a cursor's time, split so that PostgreSQL rebuilds it exactly:
 * `timestamptz 'epoch' + ? * interval '1 second' + ? * interval '1 microsecond'` (a single
 * microsecond count would go through a double and could round).
 */
export function cursorTimeParams(timeUs: bigint): [string, string] {
  const seconds = timeUs / 1_000_000n
  return [String(seconds), String(timeUs - seconds * 1_000_000n)]
}
