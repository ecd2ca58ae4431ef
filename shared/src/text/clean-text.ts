/**
 * Text that came from outside (a client, a camera, a device, an agent) made safe to store, log and
 * forward: PostgreSQL's text and jsonb refuse NUL and lone UTF-16 surrogates, a log or a UI is
 * garbled by control characters, and an unbounded string grows whatever carries it. One function
 * for the hub and the agent, so both sides agree on what "clean" means.
 */

/** C0 controls except tab, line feed and carriage return; DEL; C1 controls. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/g
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_AND_BREAKS = /[\u0000-\u001F\u007F-\u009F]/g
/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

export interface CleanTextOptions {
  /** Most UTF-16 code units kept (default 1,000); longer text is cut and marked with "…". */
  maxLength?: number
  /** Keep tab, line feed and carriage return (default false: they become spaces). */
  keepLineBreaks?: boolean
}

/**
 * Lone surrogates become U+FFFD, control characters are removed (line breaks and tabs become
 * spaces unless kept), and the result is at most `maxLength` code units, never ending in half a
 * surrogate pair.
 */
export function cleanText(value: string, options: CleanTextOptions = {}): string {
  const max = options.maxLength ?? 1000
  // Cut first (with room for the marker) so a 2 GB string is not scanned whole.
  const precut = value.length > max * 4 + 16
  let text = precut ? value.slice(0, max * 4 + 16) : value
  text = text.replace(LONE_SURROGATE, '\uFFFD')
  text = options.keepLineBreaks
    ? text.replace(CONTROL, '')
    : text.replace(/[\t\n\r]/g, ' ').replace(CONTROL_AND_BREAKS, '')
  if (text.length <= max && !precut) return text
  let cut = Math.min(text.length, Math.max(0, max - 1))
  // Never leave the high half of a pair at the end.
  const last = text.charCodeAt(cut - 1)
  if (last >= 0xd800 && last <= 0xdbff) cut -= 1
  return `${text.slice(0, cut)}…`
}

/** True when `value` holds nothing PostgreSQL or a JSON consumer would refuse (NUL, lone surrogates). */
export function isStorableText(value: string): boolean {
  LONE_SURROGATE.lastIndex = 0
  return !value.includes('\u0000') && !LONE_SURROGATE.test(value)
}

/**
 * Every string in a JSON-like value (keys included) through `cleanText`; numbers that JSON cannot
 * hold (NaN, Infinity) become null. Depth-bounded: deeper structure is replaced by a marker.
 */
export function cleanJsonValue(value: unknown, options: CleanTextOptions = {}, depth = 0): unknown {
  if (typeof value === 'string') return cleanText(value, options)
  if (typeof value === 'number') return Number.isFinite(value) ? value : null
  if (value === null || typeof value === 'boolean') return value
  if (depth >= 16) return '[too deep]'
  if (Array.isArray(value)) return value.map((v) => cleanJsonValue(v, options, depth + 1))
  if (typeof value === 'object') {
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString()
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue
      out[cleanText(k, { maxLength: 200 })] = cleanJsonValue(v, options, depth + 1)
    }
    return out
  }
  return undefined
}
