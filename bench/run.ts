/**
 * `npm run bench [-- name ...]`: performance goals as measurements. Every benchmark measures the
 * thing and a reference in the same run, on the same machine, and prints their ratio, so results
 * compare across machines, and says for each goal whether it is met (docs/benchmarks.md).
 * Benchmarks are never part of `npm test`.
 */
import { benchAnalytics } from './suites/analytics.ts'
import { apiSuite } from './suites/api.ts'
import { benchAuth } from './suites/auth.ts'
import { benchConsole } from './suites/console.ts'
import { benchContainer } from './suites/container.ts'
import { benchFleet } from './suites/fleet.ts'
import { benchIngest } from './suites/ingest.ts'
import { benchLive } from './suites/live.ts'
import { benchRecord } from './suites/record.ts'
import { benchTokens } from './suites/tokens.ts'

/** A benchmark's goal: what it must reach, and whether this run reached it. */
export interface BenchGoal {
  /** The goal as people read it, e.g. "ratio >= 0.5" or "p99 < 10 ms". */
  text: string
  met: boolean
}

export interface BenchResult {
  name: string
  subject: { label: string; opsPerSec: number }
  reference: { label: string; opsPerSec: number }
  /** subject time per op / reference time per op (lower is better). */
  ratio: number
  notes?: string
  /** The whole line to print, for figures that are not rates (sizes, times). */
  line?: string
  /** Every figure with a goal says it; printed after the figure as "goal …: met" or "NOT met". */
  goals?: BenchGoal[]
}

const goalText = (goals: BenchGoal[] | undefined) =>
  goals && goals.length > 0
    ? ` [${goals.map((g) => `goal ${g.text}: ${g.met ? 'met' : 'NOT met'}`).join('; ')}]`
    : ''

type Bench = () => Promise<BenchResult[]>
/** A suite: one benchmark, or several run in turn (each printed as it ends). */
const suites: Record<string, Bench | Bench[]> = {
  tokens: benchTokens,
  auth: benchAuth,
  // The events list over a large table (events-query.ts) is part of the API's figures.
  api: apiSuite(async () => (await import('./suites/events-query.ts')).benchEventsQuery()),
  ingest: benchIngest,
  fleet: benchFleet,
  container: benchContainer,
  record: benchRecord,
  live: benchLive,
  console: benchConsole,
  analytics: benchAnalytics,
  events: async () => (await import('./suites/events-query.ts')).benchEventsQuery(),
}

/** Suites that another suite runs too: named, they run alone; a run of every suite skips them. */
const partOfAnother = new Set(['events'])

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'))
const unknown = wanted.filter((w) => !(w in suites))
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${Object.keys(suites).join(', ')}`)
  process.exit(2)
}
for (const name of wanted.length > 0 ? wanted : Object.keys(suites).filter((s) => !partOfAnother.has(s))) {
  const suite = suites[name] ?? []
  for (const part of Array.isArray(suite) ? suite : [suite]) printResults(await part())
}

function printResults(results: BenchResult[]): void {
  for (const r of results) {
    if (r.line) {
      console.log(`${r.line}${goalText(r.goals)}`)
      continue
    }
    console.log(
      `${r.name}: ${r.subject.label} ${r.subject.opsPerSec.toFixed(0)} ops/s vs ${r.reference.label} ` +
        `${r.reference.opsPerSec.toFixed(0)} ops/s -> ratio ${r.ratio.toFixed(2)}${r.notes ? ` (${r.notes})` : ''}` +
        goalText(r.goals),
    )
  }
}
