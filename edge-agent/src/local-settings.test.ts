import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadAgentSettings } from './config.ts'
import { localSettingsFile, readLocalSettings, writeLocalSettings } from './local-settings.ts'

/**
 * The installer's local settings (<data dir>/agent-settings.json): a layer under the environment,
 * a whitelist of keys, a bad file refused with the file and key named, written atomically, 0600.
 */
const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})
function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'vms-local-settings-'))
  dirs.push(d)
  return d
}

describe('local agent settings', () => {
  it('is a layer under the environment: the file sets the quota unless the environment does', () => {
    const dir = tempDir()
    const none = loadAgentSettings({ VMS_AGENT_DATA_DIR: dir })
    expect(none.VMS_AGENT_RECORDING_QUOTA_BYTES).toBeUndefined()
    expect(none.localSettings).toEqual({
      file: localSettingsFile(dir),
      sources: { VMS_AGENT_RECORDING_QUOTA_BYTES: 'default' },
    })

    writeLocalSettings(dir, { VMS_AGENT_RECORDING_QUOTA_BYTES: 5e9 })
    const fromFile = loadAgentSettings({ VMS_AGENT_DATA_DIR: dir })
    expect(fromFile.VMS_AGENT_RECORDING_QUOTA_BYTES).toBe(5e9)
    expect(fromFile.localSettings.sources.VMS_AGENT_RECORDING_QUOTA_BYTES).toBe('file')

    const fromEnv = loadAgentSettings({ VMS_AGENT_DATA_DIR: dir, VMS_AGENT_RECORDING_QUOTA_BYTES: '7000' })
    expect(fromEnv.VMS_AGENT_RECORDING_QUOTA_BYTES).toBe(7000)
    expect(fromEnv.localSettings.sources.VMS_AGENT_RECORDING_QUOTA_BYTES).toBe('environment')

    // null in the file: explicitly no quota.
    writeLocalSettings(dir, { VMS_AGENT_RECORDING_QUOTA_BYTES: null })
    const noQuota = loadAgentSettings({ VMS_AGENT_DATA_DIR: dir })
    expect(noQuota.VMS_AGENT_RECORDING_QUOTA_BYTES).toBeUndefined()
    expect(noQuota.localSettings.sources.VMS_AGENT_RECORDING_QUOTA_BYTES).toBe('file')
    expect(readLocalSettings(dir)).toEqual({ VMS_AGENT_RECORDING_QUOTA_BYTES: null })
  })

  it('refuses a bad file with the file and the key named', () => {
    const dir = tempDir()
    const file = localSettingsFile(dir)
    const load = () => loadAgentSettings({ VMS_AGENT_DATA_DIR: dir })

    writeFileSync(file, '{"VMS_AGENT_RECORDING_QUOTA_BYTES": "lots"}')
    expect(load).toThrow(file)
    expect(load).toThrow(/VMS_AGENT_RECORDING_QUOTA_BYTES: must be a whole number of bytes or null/)

    writeFileSync(file, '{"VMS_AGENT_RECORDING_QUOTA_BYTES": -5}')
    expect(load).toThrow(/VMS_AGENT_RECORDING_QUOTA_BYTES: must be more than 0 bytes/)

    writeFileSync(file, '{"VMS_AGENT_RECORDING_QUOTA_BYTES": 1.5}')
    expect(load).toThrow(/VMS_AGENT_RECORDING_QUOTA_BYTES: must be a whole number/)

    // Only the whitelisted keys: the file cannot reach other settings.
    writeFileSync(file, '{"VMS_AGENT_DATA_DIR": "/elsewhere"}')
    expect(load).toThrow(/VMS_AGENT_DATA_DIR: not a setting this file may hold/)

    writeFileSync(file, '{not json')
    expect(load).toThrow(`${file}: not valid JSON`)
    writeFileSync(file, '[1]')
    expect(load).toThrow(`${file}: must be a JSON object`)

    // The environment's value does not excuse a broken file: it is refused all the same.
    expect(() =>
      loadAgentSettings({ VMS_AGENT_DATA_DIR: dir, VMS_AGENT_RECORDING_QUOTA_BYTES: '1000' }),
    ).toThrow(file)
  })

  it('writes atomically, mode 0600, keeping what it does not change; a bad value writes nothing', () => {
    const dir = tempDir()
    const file = localSettingsFile(dir)
    // A leftover temporary file of a crashed write, world-readable, does not leak its mode.
    writeFileSync(`${file}.${process.pid}.tmp`, 'half', { mode: 0o644 })
    expect(writeLocalSettings(dir, { VMS_AGENT_RECORDING_QUOTA_BYTES: 2e9 })).toEqual({
      VMS_AGENT_RECORDING_QUOTA_BYTES: 2e9,
    })
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ VMS_AGENT_RECORDING_QUOTA_BYTES: 2e9 })
    if (process.platform !== 'win32') expect(statSync(file).mode & 0o777).toBe(0o600)
    // No temporary file is left beside it.
    expect(readdirSync(dir)).toEqual(['agent-settings.json'])

    // Keys not given are kept.
    expect(writeLocalSettings(dir, {})).toEqual({ VMS_AGENT_RECORDING_QUOTA_BYTES: 2e9 })

    // Validated before anything is written.
    expect(() => writeLocalSettings(dir, { VMS_AGENT_RECORDING_QUOTA_BYTES: -1 })).toThrow()
    expect(() =>
      writeLocalSettings(dir, { VMS_AGENT_DATA_DIR: '/x' } as unknown as Parameters<
        typeof writeLocalSettings
      >[1]),
    ).toThrow()
    expect(readLocalSettings(dir)).toEqual({ VMS_AGENT_RECORDING_QUOTA_BYTES: 2e9 })
    expect(readdirSync(dir)).toEqual(['agent-settings.json'])
  })

  it('reads no file as no settings, also for a data dir that does not exist yet', () => {
    const dir = path.join(tempDir(), 'not-yet')
    expect(readLocalSettings(dir)).toEqual({})
    expect(loadAgentSettings({ VMS_AGENT_DATA_DIR: dir }).VMS_AGENT_RECORDING_QUOTA_BYTES).toBeUndefined()
  })
})
