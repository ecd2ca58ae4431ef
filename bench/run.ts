/**
 * `npm run bench [-- name ...]`: performance goals as measurements. Every benchmark measures the
 * thing and a reference in the same run, on the same machine, and prints their ratio, so results
 * compare across machines. Benchmarks are never part of `npm test`.
 */
import { benchAnalytics } from './suites/analytics.ts'
import { benchAuth } from './suites/auth.ts'
import { benchConsole } from './suites/console.ts'
import { benchContainer } from './suites/container.ts'
import { benchIngest } from './suites/ingest.ts'
import { benchLive } from './suites/live.ts'
import { benchRecord } from './suites/record.ts'
import { benchTokens } from './suites/tokens.ts'

export interface BenchResult {
  name: string
  subject: { label: string; opsPerSec: number }
  reference: { label: string; opsPerSec: number }
  /** subject time per op / reference time per op (lower is better). */
  ratio: number
  notes?: string
  /** The whole line to print, for figures that are not rates (sizes, times). */
  line?: string
}

const suites: Record<string, () => Promise<BenchResult[]>> = {
  tokens: benchTokens,
  auth: benchAuth,
  ingest: benchIngest,
  container: benchContainer,
  record: benchRecord,
  live: benchLive,
  console: benchConsole,
  analytics: benchAnalytics,
}

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'))
const unknown = wanted.filter((w) => !(w in suites))
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${Object.keys(suites).join(', ')}`)
  process.exit(2)
}
for (const name of wanted.length > 0 ? wanted : Object.keys(suites)) {
  const results = await suites[name]?.()
  for (const r of results ?? []) {
    if (r.line) {
      console.log(r.line)
      continue
    }
    console.log(
      `${r.name}: ${r.subject.label} ${r.subject.opsPerSec.toFixed(0)} ops/s vs ${r.reference.label} ` +
        `${r.reference.opsPerSec.toFixed(0)} ops/s -> ratio ${r.ratio.toFixed(2)}${r.notes ? ` (${r.notes})` : ''}`,
    )
  }
}
