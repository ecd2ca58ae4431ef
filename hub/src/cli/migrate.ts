import { loadConfig } from '../config/config.ts'
import { createLogger } from '../observability/logger.ts'
import { openDatabase } from '../server.ts'

/** `npm run migrate -- up|down|status`: the hub's schema, against VMS_DATABASE_URL or the embedded database. */
const USAGE = 'usage: npm run migrate -- up|down|status'

export class UsageError extends Error {}

export async function runMigrate(
  command: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  if (command !== 'up' && command !== 'down' && command !== 'status') throw new UsageError(USAGE)
  const config = loadConfig(env)
  const logger = createLogger(config.VMS_LOG_LEVEL === 'info' ? 'warn' : config.VMS_LOG_LEVEL)
  const { db, embedded } = await openDatabase(config, logger)
  try {
    if (command === 'up') {
      const applied = await db.migrateUp()
      return applied.length ? `applied: ${applied.join(', ')}` : 'already up to date'
    }
    if (command === 'down') {
      const reverted = await db.migrateDown()
      return reverted.length ? `reverted: ${reverted.join(', ')}` : 'nothing to revert'
    }
    const status = await db.migrationStatus()
    return [
      ...status.executed.map((name) => `applied  ${name}`),
      ...status.pending.map((name) => `pending  ${name}`),
    ].join('\n')
  } finally {
    await db.close()
    await embedded?.close()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runMigrate(process.argv[2])
    .then((out) => console.log(out))
    .catch((err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err))
      process.exit(err instanceof UsageError ? 2 : 1)
    })
}
