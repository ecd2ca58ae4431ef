import {
  closeSync,
  fchmodSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs'
import path from 'node:path'
import { z } from 'zod'

/**
 * Settings the installer may set on this machine (the setup wizard writes them), in
 * `<data dir>/agent-settings.json`: a layer under the environment (a key set in the environment
 * wins). Only the keys below may be in it; anything else, or a bad value, makes the agent refuse
 * to start with the file and the key named, as a bad environment value does.
 *
 * Written atomically (a private temporary file, fsynced, renamed over the old one, mode 0600), so
 * a crash or power cut leaves the old file or the new one, never half of one.
 */
export const LOCAL_SETTINGS_FILE = 'agent-settings.json'

export const localSettingsFile = (dataDir: string) => path.join(dataDir, LOCAL_SETTINGS_FILE)

const quotaBytes = z
  .number({ error: 'must be a whole number of bytes or null (no quota)' })
  .int('must be a whole number of bytes or null (no quota)')
  .positive('must be more than 0 bytes, or null (no quota)')
  .max(Number.MAX_SAFE_INTEGER)
  .nullable()

/** The keys the file may hold, and their values (null: explicitly none). */
export const localSettingsSchema = z
  .object({
    /** Most bytes all recordings may take; null: no quota (the free-space floor only). */
    VMS_AGENT_RECORDING_QUOTA_BYTES: quotaBytes.optional(),
  })
  .strict()

export type LocalSettings = z.infer<typeof localSettingsSchema>
export type LocalSettingKey = keyof LocalSettings
export const LOCAL_SETTING_KEYS = Object.keys(localSettingsSchema.shape) as LocalSettingKey[]

export class LocalSettingsError extends Error {}

/** The file's settings ({} when there is none); a file that does not read is an error naming it. */
export function readLocalSettings(dataDir: string): LocalSettings {
  const file = localSettingsFile(dataDir)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new LocalSettingsError(`${file}: cannot be read (${(err as Error).message})`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    throw new LocalSettingsError(`${file}: not valid JSON (fix it or remove it)`)
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new LocalSettingsError(`${file}: must be a JSON object of settings`)
  const parsed = localSettingsSchema.safeParse(raw)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) =>
      i.code === 'unrecognized_keys'
        ? `${i.keys.join(', ')}: not a setting this file may hold (only ${LOCAL_SETTING_KEYS.join(', ')})`
        : `${i.path.join('.')}: ${i.message}`,
    )
    throw new LocalSettingsError(`${file}: invalid agent settings:\n  ${lines.join('\n  ')}`)
  }
  return parsed.data
}

/**
 * Sets the given keys in the file (the others kept) and returns what it now holds. The values are
 * validated first: nothing is written when one is bad.
 */
export function writeLocalSettings(dataDir: string, changes: LocalSettings): LocalSettings {
  const next = localSettingsSchema.parse({ ...readLocalSettings(dataDir), ...changes })
  const file = localSettingsFile(dataDir)
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const tmp = `${file}.${process.pid}.tmp`
  const fd = openSync(tmp, 'w', 0o600)
  try {
    fchmodSync(fd, 0o600) // a leftover temporary file keeps its mode otherwise
    writeSync(fd, `${JSON.stringify(next, null, 2)}\n`)
    fsyncSync(fd)
  } catch (err) {
    closeSync(fd)
    rmSync(tmp, { force: true })
    throw err
  }
  closeSync(fd)
  try {
    renameSync(tmp, file)
  } catch (err) {
    rmSync(tmp, { force: true })
    throw err
  }
  // The rename itself survives a power cut once the directory is synced (not possible on Windows).
  if (process.platform !== 'win32') {
    try {
      const dir = openSync(dataDir, 'r')
      try {
        fsyncSync(dir)
      } finally {
        closeSync(dir)
      }
    } catch {}
  }
  return next
}
