/**
 * A site's own wall clock beside the browser's: the central team works in its zone, the stores
 * in theirs, and an incident report names the store's time. Sites without a zone are left out
 * (the browser's time is shown already).
 */
export interface ZonedSite {
  name: string
  timeZone: string | null
}

/** One site's time, e.g. "Nov 29, 2026, 1:05:00 PM GMT+9". */
export function formatInZone(t: number, timeZone: string): string {
  try {
    return new Date(t).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'long', timeZone })
  } catch {
    // A zone this browser does not know (older time zone data): say so rather than guess.
    return `unknown zone ${timeZone}`
  }
}

/**
 * The text shown on hover over a clock: each distinct site's local time, one per line, e.g.
 * "Store North (Asia/Tokyo): Nov 29, 2026, 1:05:00 PM GMT+9"; undefined when no site has a zone.
 */
export function siteTimes(t: number, sites: ZonedSite[]): string | undefined {
  const lines = new Set<string>()
  for (const s of sites)
    if (s.timeZone) lines.add(`${s.name} (${s.timeZone}): ${formatInZone(t, s.timeZone)}`)
  return lines.size ? [...lines].join('\n') : undefined
}
