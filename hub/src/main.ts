import { SecretBox } from '@ts-vms/shared'
import { SigningKeyStore } from './auth/signing-keys.ts'
import { serveHub } from './cli/serve.ts'
import { ConfigError, loadConfig } from './config/config.ts'
import { loadMasterKey } from './crypto/master-key.ts'
import { createLogger } from './observability/logger.ts'
import { openDatabase } from './server.ts'

const USAGE = `usage: npm run hub [-- <command>]

commands:
  (none)               start the hub (configuration from VMS_* variables and VMS_CONFIG)
  rotate-signing-key   add a new access-token signing key and retire the old ones
  help                 show this text`

async function rotateSigningKey(): Promise<void> {
  const config = loadConfig()
  const logger = createLogger(config.VMS_LOG_LEVEL)
  const { db, embedded } = await openDatabase(config, logger)
  try {
    await db.migrateUp()
    const box = new SecretBox(loadMasterKey(config.VMS_DATA_DIR, config.VMS_MASTER_KEY).key)
    const keys = new SigningKeyStore(db, box, {
      tokenTtlSeconds: config.VMS_ACCESS_TOKEN_TTL_SECONDS,
      refreshSeconds: config.VMS_SIGNING_KEY_REFRESH_SECONDS,
      logger,
    })
    await keys.init()
    const kid = await keys.rotate()
    console.log(`new signing key ${kid}; tokens signed by the old key stay valid until they expire`)
  } finally {
    await db.close()
    await embedded?.close()
  }
}

async function serve(): Promise<void> {
  await serveHub(loadConfig())
}

async function main(argv: string[]): Promise<void> {
  const command = argv[0] ?? 'serve'
  switch (command) {
    case 'serve':
      return serve()
    case 'rotate-signing-key':
      return rotateSigningKey()
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE)
      return
    default:
      console.error(`unknown command "${command}"\n\n${USAGE}`)
      process.exitCode = 2
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    console.error(err.message)
  } else {
    console.error(`hub failed: ${err instanceof Error ? err.message : String(err)}`)
  }
  process.exit(1)
})
