import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'

/**
 * Whether setup through the wizard is finished, in `<data dir>/setup-state.json`. An agent
 * enrolled by the wizard keeps opening it (beside the agent proper) until the installer finishes;
 * one enrolled on the command line has no such file and opens it only on `npm run agent -- setup`.
 */
export interface SetupState {
  finished: boolean
  enrolledAt?: string
  finishedAt?: string
}

export const setupStateFile = (dataDir: string) => path.join(dataDir, 'setup-state.json')

export function readSetupState(dataDir: string): SetupState | undefined {
  try {
    const raw = JSON.parse(readFileSync(setupStateFile(dataDir), 'utf8')) as Partial<SetupState>
    return { ...raw, finished: raw.finished === true }
  } catch {
    return undefined
  }
}

export function writeSetupState(dataDir: string, state: SetupState): void {
  const file = setupStateFile(dataDir)
  writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 })
  renameSync(`${file}.tmp`, file)
}
