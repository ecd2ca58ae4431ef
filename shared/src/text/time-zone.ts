/**
 * IANA time zones as people type them: `europe/paris` and `Europe/Paris` are the same zone, and
 * what is stored and shown is the canonical spelling the runtime's time zone database gives
 * (`Europe/Paris`, `UTC`). Anything else — offsets like `+02:00`, abbreviations like `CET` that
 * some runtimes accept, hostile text — is refused, so a site's zone means one thing everywhere.
 */
const SHAPE = /^(?:UTC|[A-Za-z]+(?:[/_-][A-Za-z0-9+-]+){0,4})$/

let known: Map<string, string> | undefined

/** The runtime's zones by lower-case name. */
function knownZones(): Map<string, string> {
  if (!known) {
    known = new Map(Intl.supportedValuesOf('timeZone').map((z) => [z.toLowerCase(), z]))
  }
  return known
}

/** The canonical name of an IANA zone, or undefined when it is not one. */
export function canonicalTimeZone(input: string): string | undefined {
  if (input.length > 64 || !SHAPE.test(input)) return undefined
  // A region is required: legacy abbreviations (EST, CET) are not a site's zone.
  if (!input.includes('/')) return input.toLowerCase() === 'utc' ? 'UTC' : undefined
  const listed = knownZones().get(input.toLowerCase())
  if (listed) return listed
  // An alias (Asia/Calcutta): whatever the runtime resolves it to.
  let resolved: string
  try {
    resolved = new Intl.DateTimeFormat('en-US', { timeZone: input }).resolvedOptions().timeZone
  } catch {
    return undefined
  }
  return resolved === 'UTC' || resolved.includes('/') ? resolved : undefined
}
