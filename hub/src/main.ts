import { SecretBox } from '@ts-vms/shared'
import { createEventLog, EVENT_IDS } from '../../installer/src/event-log.ts'
import { SERVICE_USAGE, ServiceUsageError, serviceCommand } from '../../installer/src/service-command.ts'
import { startWatchdog } from '../../installer/src/watchdog.ts'
import { SigningKeyStore } from './auth/signing-keys.ts'
import { serveHub } from './cli/serve.ts'
import { ConfigError, loadConfig } from './config/config.ts'
import { loadMasterKey } from './crypto/master-key.ts'
import { runHubDoctor } from './doctor/hub-doctor.ts'
import { ExportKeyStore } from './exports/export-keys.ts'
import { VERIFY_EXPORT_USAGE, verifyExportCommand } from './exports/verify-export-cli.ts'
import { createLogger } from './observability/logger.ts'
import { openDatabase } from './server.ts'

const USAGE = `usage: npm run hub [-- <command>]

commands:
  (none)               start the hub (configuration from VMS_* variables and VMS_CONFIG)
  rotate-signing-key   add a new access-token signing key and retire the old ones
  rotate-export-key    add a new export-signing key (the old ones stay published: their manifests verify)
  doctor               check this machine and the settings (one line per check; exit 1 if one fails)
  ${VERIFY_EXPORT_USAGE}
  ${SERVICE_USAGE}
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

async function rotateExportKey(): Promise<void> {
  const config = loadConfig()
  const logger = createLogger(config.VMS_LOG_LEVEL)
  const { db, embedded } = await openDatabase(config, logger)
  try {
    await db.migrateUp()
    const box = new SecretBox(loadMasterKey(config.VMS_DATA_DIR, config.VMS_MASTER_KEY).key)
    const keyId = await new ExportKeyStore(db, box, logger).rotate()
    console.log(
      `new export-signing key ${keyId}; it signs new exports (running hubs take it up within a minute); manifests signed by the old keys still verify`,
    )
  } finally {
    await db.close()
    await embedded?.close()
  }
}

/** Windows: start, stop and fatal errors also go to the Event Log (nothing elsewhere). */
const eventLog = createEventLog('hub')
let serving = false

async function serve(): Promise<void> {
  serving = true
  // systemd (WatchdogSec=): fed from the start (migrations may be long), only when systemd asked.
  startWatchdog({ onError: (err) => console.error(`cannot feed the systemd watchdog: ${String(err)}`) })
  const stopping = async () => {
    await eventLog.write({ type: 'INFORMATION', id: EVENT_IDS.stopping, message: 'TS-VMS hub stopping' })
  }
  const hub = await serveHub(loadConfig(), [stopping])
  void eventLog.write({
    type: 'INFORMATION',
    id: EVENT_IDS.started,
    message: `TS-VMS hub listening on ${hub.url}`,
  })
}

function service(args: string[]): void {
  try {
    process.stdout.write(serviceCommand('hub', args))
  } catch (err) {
    if (!(err instanceof ServiceUsageError) && !(err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))
      throw err
    console.error((err as Error).message)
    process.exitCode = 2
  }
}

async function main(argv: string[]): Promise<void> {
  const command = argv[0] ?? 'serve'
  switch (command) {
    case 'serve':
      return serve()
    case 'rotate-signing-key':
      return rotateSigningKey()
    case 'rotate-export-key':
      return rotateExportKey()
    case 'doctor':
      process.exitCode = await runHubDoctor(() => loadConfig())
      return
    case 'verify-export':
      process.exitCode = await verifyExportCommand(argv.slice(1))
      return
    case 'service':
      return service(argv.slice(1))
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
  if (!serving) process.exit(1)
  const message = `TS-VMS hub failed: ${err instanceof Error ? err.message : String(err)}`
  void eventLog.write({ type: 'ERROR', id: EVENT_IDS.fatal, message }).finally(() => process.exit(1))
})
