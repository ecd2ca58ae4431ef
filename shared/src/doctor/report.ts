/**
 * `doctor` (agent and hub): a list of checks, each answering pass or fail in one line, with the
 * fix when it fails. The checks are plain functions so each can be tested alone; the runner and
 * the formatter are shared so both programs print the same way.
 */
export interface CheckResult {
  /** Short and stable (`ffmpeg`, `port 7080`, `camera Front door`): tests and scripts match it. */
  name: string
  ok: boolean
  /** What was found (a version, free bytes, a fingerprint), or what went wrong. */
  detail: string
  /** What to do about a failure (given for failures; a pass may carry advice too). */
  fix?: string
}

/** A named check; `run` may throw: the runner turns that into a failure naming the error. */
export interface Check {
  name: string
  run: () => Promise<CheckResult | CheckResult[]> | CheckResult | CheckResult[]
}

export const checkPassed = (name: string, detail: string): CheckResult => ({ name, ok: true, detail })
export const checkFailed = (name: string, detail: string, fix: string): CheckResult => ({
  name,
  ok: false,
  detail,
  fix,
})

export const errorText = (err: unknown): string => {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code
    return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message
  }
  return String(err)
}

/**
 * Runs the checks, at most `concurrency` at once (camera checks are many and mostly wait on the
 * network), and gives the results in the checks' order. A check that throws fails with the error.
 */
export async function runChecks(checks: Check[], concurrency = 8): Promise<CheckResult[]> {
  const results: CheckResult[][] = new Array(checks.length)
  let next = 0
  const worker = async () => {
    while (next < checks.length) {
      const i = next++
      const check = checks[i] as Check
      try {
        const r = await check.run()
        results[i] = Array.isArray(r) ? r : [r]
      } catch (err) {
        results[i] = [
          checkFailed(
            check.name,
            `the check itself failed: ${errorText(err)}`,
            'report this as a bug, with the line',
          ),
        ]
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, checks.length)) }, worker))
  return results.flat()
}

/** One line per result: `PASS name: detail`, or `FAIL name: detail -> fix: ...`. */
export function formatResult(r: CheckResult): string {
  const line = `${r.ok ? 'PASS' : 'FAIL'} ${r.name}: ${r.detail}`
  return r.fix ? `${line} -> fix: ${r.fix}` : line
}

/** The report's lines and a last summary line; `failed` is what the exit code follows. */
export function formatReport(results: CheckResult[]): { lines: string[]; failed: number } {
  const failed = results.filter((r) => !r.ok).length
  const summary =
    failed === 0 ? `all ${results.length} checks passed` : `${failed} of ${results.length} checks failed`
  return { lines: [...results.map(formatResult), summary], failed }
}

/** Runs the checks, prints the report (one line per check) and returns the exit code (1: a check failed). */
export async function runDoctor(
  checks: Check[],
  print: (line: string) => void = (line) => console.log(line),
): Promise<number> {
  const { lines, failed } = formatReport(await runChecks(checks))
  for (const line of lines) print(line)
  return failed > 0 ? 1 : 0
}
