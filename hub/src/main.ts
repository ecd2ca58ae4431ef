import { ConfigError, loadConfig } from './config/config.ts'
import { loadMasterKey } from './crypto/master-key.ts'
import { SecretBox } from './crypto/secret-box.ts'
import { createLogger } from './observability/logger.ts'
import { openDatabase, startHub } from './server.ts'
import { SigningKeyStore } from './auth/signing-keys.ts'

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
  const config = loadConfig()
  const hub = await startHub({ config })
  const lines = [`TS-VMS hub listening on ${hub.url}`]
  const admin = hub.bootstrap.createdAdmin
  if (admin) {
    lines.push(
      `First administrator: tenant "system", username "${admin.username}", password ${
        admin.passwordFile ? `in ${admin.passwordFile}` : 'from VMS_BOOTSTRAP_ADMIN_PASSWORD'
      }`,
    )
  }
  process.stderr.write(`\n${lines.join('\n')}\n\n`)
  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    hub.context.logger.info({ signal }, 'stopping')
    await hub.close()
    process.exit(0)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
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
