/**
 * A plan: the steps an install script runs, printed as JSON by `cli.ts plan`. The .ps1 scripts only
 * run steps (expanding %VARIABLES% in paths and arguments first); every decision is made here, in
 * TypeScript, where it is tested.
 */
export type ParamValue = string | number | boolean | string[]

export type Step =
  /**
   * A program, with its arguments as an array (no shell). `okExitCodes` unset: only 0 is success;
   * 'any': any outcome, a missing program included (stopping a service that is not installed).
   */
  | { kind: 'run'; description: string; file: string; args: string[]; okExitCodes?: number[] | 'any' }
  /** A PowerShell cmdlet, its parameters splatted (true: a switch). */
  | {
      kind: 'cmdlet'
      description: string
      name: string
      params: Record<string, ParamValue>
      ignoreErrors?: boolean
    }
  /** Stop unless the file's SHA-256 is this one. */
  | { kind: 'check-sha256'; description: string; path: string; sha256: string }
  /** Stop unless the file exists. */
  | { kind: 'check-exists'; description: string; path: string }
  /** Write text (UTF-8, no BOM); `overwrite: false` keeps an existing file. Content is written as is. */
  | { kind: 'write-file'; description: string; path: string; content: string; overwrite: boolean }

export interface Plan {
  platform: 'windows'
  script: 'service-manager' | 'firewall-manager'
  action: string
  steps: Step[]
}

/** The plan as readable lines (what the golden files show next to the JSON). */
export function describePlan(plan: Plan): string {
  const out = [`# ${plan.script} ${plan.action}`]
  plan.steps.forEach((s, i) => {
    const n = `${i + 1}.`
    switch (s.kind) {
      case 'run':
        out.push(`${n} ${s.description}`, `   & ${quote(s.file)} ${s.args.map(quote).join(' ')}`.trimEnd())
        break
      case 'cmdlet':
        out.push(
          `${n} ${s.description}`,
          `   ${s.name} ${Object.entries(s.params)
            .map(([k, v]) =>
              v === true ? `-${k}` : `-${k} ${Array.isArray(v) ? v.map(quote).join(',') : quote(String(v))}`,
            )
            .join(' ')}${s.ignoreErrors ? '   (errors ignored)' : ''}`,
        )
        break
      case 'check-sha256':
        out.push(`${n} ${s.description}`, `   SHA-256 of ${quote(s.path)} must be ${s.sha256}`)
        break
      case 'check-exists':
        out.push(`${n} ${s.description}`, `   ${quote(s.path)} must exist`)
        break
      case 'write-file':
        out.push(
          `${n} ${s.description}`,
          `   write ${s.content.length} characters to ${quote(s.path)}${s.overwrite ? '' : ' (kept if present)'}`,
        )
        break
    }
  })
  return `${out.join('\n')}\n`
}

function quote(s: string): string {
  return /^[A-Za-z0-9_./:\\%=,-]+$/.test(s) ? s : `'${s.replace(/'/g, "''")}'`
}
