import { describe, expect, it } from 'vitest'
import { checkFailed, checkPassed, formatReport, formatResult, runChecks, runDoctor } from './report.ts'

describe('doctor report', () => {
  it('prints one line per check, with the fix after a failure, and a summary', () => {
    const { lines, failed } = formatReport([
      checkPassed('ffmpeg', '/usr/bin/ffmpeg, version 6.1'),
      checkFailed('setup port', '127.0.0.1:7080 is in use', 'stop it'),
    ])
    expect(lines).toEqual([
      'PASS ffmpeg: /usr/bin/ffmpeg, version 6.1',
      'FAIL setup port: 127.0.0.1:7080 is in use -> fix: stop it',
      '1 of 2 checks failed',
    ])
    expect(failed).toBe(1)
    expect(formatReport([checkPassed('a', 'b')]).lines.at(-1)).toBe('all 1 checks passed')
    expect(formatResult({ name: 'x', ok: true, detail: 'y' })).toBe('PASS x: y')
  })

  it('keeps the order of the checks, runs them concurrently, and turns a throw into a failure', async () => {
    let running = 0
    let most = 0
    const slow = (name: string, ms: number) => ({
      name,
      run: async () => {
        running++
        most = Math.max(most, running)
        await new Promise((r) => setTimeout(r, ms))
        running--
        return checkPassed(name, 'ok')
      },
    })
    const results = await runChecks(
      [
        slow('a', 30),
        slow('b', 1),
        {
          name: 'c',
          run: () => {
            throw new Error('boom')
          },
        },
        { name: 'd', run: () => [checkPassed('d1', 'x'), checkPassed('d2', 'y')] },
      ],
      4,
    )
    expect(results.map((r) => r.name)).toEqual(['a', 'b', 'c', 'd1', 'd2'])
    expect(results[2]).toMatchObject({ ok: false, detail: 'the check itself failed: boom' })
    expect(most).toBeGreaterThan(1)
  })

  it('runDoctor prints the lines and answers 1 when a check failed, 0 when none did', async () => {
    const out: string[] = []
    expect(await runDoctor([{ name: 'a', run: () => checkPassed('a', 'fine') }], (l) => out.push(l))).toBe(0)
    expect(
      await runDoctor([{ name: 'b', run: () => checkFailed('b', 'broken', 'mend it') }], (l) => out.push(l)),
    ).toBe(1)
    expect(out).toEqual([
      'PASS a: fine',
      'all 1 checks passed',
      'FAIL b: broken -> fix: mend it',
      '1 of 1 checks failed',
    ])
  })
})
