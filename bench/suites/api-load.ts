/**
 * The api bench's load generator (autocannon), run in a process of its own so that it never
 * shares an event loop, or a core's worth of JavaScript, with the servers it measures.
 *
 *   node --import tsx bench/suites/api-load.ts '<LoadRun as JSON>'
 *
 * Prints one line: the LoadSummary as JSON.
 */
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

export interface LoadRun {
  url: string
  headers?: Record<string, string>
  connections: number
  /** Seconds. */
  duration: number
  /** Requests per second over all connections; unset: as fast as the server answers. */
  overallRate?: number
}

export interface LoadSummary {
  /** Responses received. */
  requests: number
  seconds: number
  /** Milliseconds (autocannon records whole milliseconds). */
  p50: number
  p99: number
  non2xx: number
  errors: number
  timeouts: number
}

/** The part of autocannon's result this reads (the package has no types of its own). */
interface AutocannonResult {
  duration: number
  errors: number
  timeouts: number
  non2xx: number
  latency: { p50: number; p99: number }
  requests: { total: number }
}

export function summary(r: AutocannonResult): LoadSummary {
  return {
    requests: r.requests.total,
    seconds: r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
  }
}

const autocannon = createRequire(import.meta.url)('autocannon') as (
  options: LoadRun & { method: string },
) => Promise<AutocannonResult>

// Only when run as the script (not when imported for its types and `summary`).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (!process.argv[2]) throw new Error('usage: api-load.ts <LoadRun as JSON>')
  const run = JSON.parse(process.argv[2]) as LoadRun
  const result = await autocannon({ ...run, method: 'GET' })
  process.stdout.write(`${JSON.stringify(summary(result))}\n`)
}
