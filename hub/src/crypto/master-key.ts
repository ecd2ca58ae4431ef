import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'

/**
 * The key-encryption key for secrets at rest. Given by VMS_MASTER_KEY, or generated into
 * `<data dir>/master.key` (mode 0600) at first start. Hub instances that share a database must share
 * it: a mismatch shows up at start as "does not open with this master key".
 */
export function loadMasterKey(dataDir: string, fromEnv: string | undefined): { key: Buffer; source: string } {
  if (fromEnv) return { key: Buffer.from(fromEnv, 'base64'), source: 'VMS_MASTER_KEY' }
  const file = path.join(dataDir, 'master.key')
  try {
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64')
    if (key.length !== 32) throw new Error(`${file} does not hold base64 of 32 bytes`)
    return { key, source: file }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const key = randomBytes(32)
  // 'wx' so that two processes starting at once cannot both write a key.
  writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' })
  return { key, source: file }
}
