import path from 'node:path'
import { SecretBox } from '@ts-vms/shared'
import { AuditQuarantine } from '../audit/quarantine.ts'
import { verifyAuditChains } from '../audit/verify.ts'
import { SigningKeyStore } from '../auth/signing-keys.ts'
import { loadConfig } from '../config/config.ts'
import { loadMasterKey } from '../crypto/master-key.ts'
import { createLogger } from '../observability/logger.ts'
import { openDatabase } from '../server.ts'

/**
 * `npm run audit -- verify`: checks every tenant's audit chain (exit code 1 if any fails) and says
 * how many records this hub has quarantined (the database refused them; `GET
 * /api/v1/audit/quarantine` lists them), as the API's verification does.
 */
const USAGE = 'usage: npm run audit -- verify'

export async function runAudit(command: string | undefined, env: NodeJS.ProcessEnv = process.env) {
  if (command !== 'verify') throw new Error(USAGE)
  const config = loadConfig(env)
  const logger = createLogger(config.VMS_LOG_LEVEL === 'info' ? 'warn' : config.VMS_LOG_LEVEL)
  const { db, embedded } = await openDatabase(config, logger)
  try {
    const box = new SecretBox(loadMasterKey(config.VMS_DATA_DIR, config.VMS_MASTER_KEY).key)
    const keys = new SigningKeyStore(db, box, {
      tokenTtlSeconds: config.VMS_ACCESS_TOKEN_TTL_SECONDS,
      refreshSeconds: config.VMS_SIGNING_KEY_REFRESH_SECONDS,
      logger,
    })
    const result = await verifyAuditChains((work) => db.withSystem(work), keys)
    // The quarantine sits beside the spool in the hub's data directory (server.ts).
    const quarantined = new AuditQuarantine(path.join(config.VMS_DATA_DIR, 'audit-quarantine')).count()
    return { ...result, quarantined }
  } finally {
    await db.close()
    await embedded?.close()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runAudit(process.argv[2])
    .then((result) => {
      console.log(JSON.stringify(result, null, 2))
      process.exit(result.ok ? 0 : 1)
    })
    .catch((err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err))
      process.exit(2)
    })
}
