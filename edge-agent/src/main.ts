import { parseArgs } from 'node:util'
import pino from 'pino'
import { createEventLog, EVENT_IDS, eventForLogRecord, rateLimited } from '../../installer/src/event-log.ts'
import { shutdownSignals } from '../../installer/src/node-platform.ts'
import { SERVICE_USAGE, ServiceUsageError, serviceCommand } from '../../installer/src/service-command.ts'
import { startWatchdog } from '../../installer/src/watchdog.ts'
import { EdgeAgent, outboxFile } from './agent.ts'
import { loadAgentSettings } from './config.ts'
import { hasCredentials } from './credentials.ts'
import { runAgentDoctor } from './doctor/agent-doctor.ts'
import { enroll } from './enroll.ts'
import { parsePin } from './link/hub-tls.ts'
import { Outbox } from './outbox/outbox.ts'
import { openSetupWizard, wantsSetupWizard } from './setup/run.ts'
import type { SetupWizard } from './setup/server.ts'

const USAGE = `usage:
  npm run agent                                   run the agent (not enrolled yet: the setup wizard first)
  npm run agent -- setup                          open the setup wizard again (on VMS_AGENT_SETUP_PORT)
  npm run agent -- enroll --hub URL --code CODE [--pin SHA256] [--name NAME] [--force]
                                                  (--pin: trust exactly the hub certificate with this SHA-256)
  npm run agent -- emit-test-events --count N [--type TYPE]
  npm run agent -- ${SERVICE_USAGE}
  npm run agent -- doctor                         check this machine, the hub and the cameras (exit 1 if one fails)

settings: VMS_AGENT_DATA_DIR (./data/agent), VMS_AGENT_LOG_LEVEL, VMS_AGENT_OUTBOX_MAX_BYTES, ...`

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === 'service') {
    try {
      process.stdout.write(serviceCommand('agent', rest))
    } catch (err) {
      if (err instanceof ServiceUsageError) throw new UsageError(err.message)
      throw err
    }
    return 0
  }
  const settings = loadAgentSettings()
  const dataDir = settings.VMS_AGENT_DATA_DIR
  switch (command ?? 'run') {
    case 'run': {
      // Windows: start, stop, fatal errors and critical alarms also go to the Event Log.
      const eventLog = createEventLog('agent')
      const toEventLog = rateLimited(eventLog)
      const logger = pino({
        level: settings.VMS_AGENT_LOG_LEVEL,
        base: { service: 'ts-vms-agent' },
        hooks: {
          logMethod(args, method, level) {
            const msg = args.find((a): a is string => typeof a === 'string')
            const event = eventForLogRecord(level, msg)
            if (event) void toEventLog(event)
            method.apply(this, args)
          },
        },
      })
      let wizard: SetupWizard | undefined
      let agent: EdgeAgent | undefined
      const stop = async () => {
        void eventLog.write({
          type: 'INFORMATION',
          id: EVENT_IDS.stopping,
          message: 'TS-VMS edge agent stopping',
        })
        await wizard?.close()
        await agent?.stop()
        process.exit(0)
      }
      // WinSW stops the service with Ctrl+C (SIGINT); systemd with SIGTERM.
      for (const signal of shutdownSignals()) process.on(signal, () => void stop())
      // systemd (WatchdogSec=): fed from now on (the wizard may wait long), only when systemd asked.
      startWatchdog({ onError: (err) => logger.warn({ err }, 'cannot feed the systemd watchdog') })
      // Not enrolled yet (or set up through the wizard and not finished): the wizard first; the
      // agent proper starts once it is enrolled, and the wizard stays open until setup is finished.
      if (wantsSetupWizard(dataDir)) {
        try {
          wizard = await openSetupWizard(settings, logger, {
            onEnrolled: (c) => recordLocalEnrollment(settings, c.agentId, c.hubUrl, 'setup wizard'),
            // Step 4's disk quota: in force at once (the agent starts with it if not running yet).
            onQuotaChanged: (bytes) => {
              settings.VMS_AGENT_RECORDING_QUOTA_BYTES = bytes ?? undefined
              agent?.setRecordingQuota(bytes)
            },
          })
        } catch (err) {
          if (!hasCredentials(dataDir))
            throw new Error(`cannot open the setup wizard: ${(err as Error).message}`)
          logger.warn({ err }, 'cannot open the setup wizard; running the agent without it')
        }
        if (wizard && !hasCredentials(dataDir)) {
          logger.info('not enrolled yet: waiting for enrollment in the setup wizard')
          await wizard.enrolled
        }
        void wizard?.finished.then(() => logger.info('setup finished: the setup wizard is closed'))
      }
      agent = new EdgeAgent(settings, logger)
      installLastResort(logger, agent)
      agent.start()
      logger.info({ agentId: agent.agentId, dataDir }, 'agent running')
      void eventLog.write({
        type: 'INFORMATION',
        id: EVENT_IDS.started,
        message: `TS-VMS edge agent running (${agent.agentId})`,
      })
      return -1 // keep running
    }
    case 'setup': {
      const logger = pino({ level: settings.VMS_AGENT_LOG_LEVEL, base: { service: 'ts-vms-agent' } })
      const wizard = await openSetupWizard(settings, logger, {
        onEnrolled: (c) => recordLocalEnrollment(settings, c.agentId, c.hubUrl, 'setup wizard'),
      })
      const close = async () => {
        await wizard.close()
        process.exit(0)
      }
      process.on('SIGINT', () => void close())
      process.on('SIGTERM', () => void close())
      await wizard.finished
      console.log('setup finished; start the agent (if it is not running): npm run agent')
      return 0
    }
    case 'doctor':
      return runAgentDoctor(settings)
    case 'enroll': {
      const { values } = parseArgs({
        args: rest,
        strict: true,
        options: {
          hub: { type: 'string' },
          code: { type: 'string' },
          name: { type: 'string' },
          force: { type: 'boolean' },
          pin: { type: 'string' },
        },
      })
      if (!values.hub || !values.code) throw new UsageError('enroll needs --hub and --code')
      const pin = values.pin === undefined ? undefined : parsePin(values.pin)
      if (pin !== undefined && typeof pin !== 'string') throw new UsageError(`--pin: ${pin.error}`)
      const c = await enroll({
        hubUrl: values.hub,
        code: values.code,
        dataDir,
        ...(values.name ? { name: values.name } : {}),
        ...(values.force ? { force: true } : {}),
        ...(pin ? { pinSha256: pin } : {}),
      })
      recordLocalEnrollment(settings, c.agentId, c.hubUrl, process.env.USER ?? 'installer')
      console.log(
        `enrolled as agent ${c.agentId}; credentials in ${dataDir} (mode 0600). Start it: npm run agent`,
      )
      return 0
    }
    case 'emit-test-events': {
      const { values } = parseArgs({
        args: rest,
        strict: true,
        options: { count: { type: 'string' }, type: { type: 'string' } },
      })
      const count = Number(values.count ?? '1')
      if (!Number.isInteger(count) || count < 1 || count > 1_000_000) {
        throw new UsageError('--count must be a whole number from 1 to 1000000')
      }
      const type = values.type ?? 'test'
      if (!/^[a-z][a-z0-9._-]{0,63}$/.test(type))
        throw new UsageError('--type: lowercase letters, digits and . _ -')
      const outbox = new Outbox(outboxFile(dataDir), settings.VMS_AGENT_OUTBOX_MAX_BYTES)
      try {
        if (!outbox.accepting(false)) {
          console.error('the outbox is full (the hub is unreachable?): refusing test events')
          return 1
        }
        const started = new Date().toISOString()
        const insert = outbox.db.transaction(() => {
          for (let i = 0; i < count; i++)
            outbox.append('event', { type, data: { n: i + 1, of: count, batch: started } })
        })
        insert()
        outbox.append('audit', {
          action: 'agent.test_events.emit',
          outcome: 'success',
          actor: { type: 'user', name: process.env.USER ?? 'installer' },
          details: { count, type },
        })
        console.log(`queued ${count} "${type}" event(s); the agent sends them to the hub`)
        return 0
      } finally {
        outbox.close()
      }
    }
    case 'help':
    case '--help':
      console.log(USAGE)
      return 0
    default:
      throw new UsageError(`unknown command "${command}"`)
  }
}

class UsageError extends Error {}

/** The audit record of an enrollment made on this machine (sent to the hub by the agent). */
function recordLocalEnrollment(
  settings: ReturnType<typeof loadAgentSettings>,
  agentId: string,
  hubUrl: string,
  actor: string,
): void {
  const outbox = new Outbox(outboxFile(settings.VMS_AGENT_DATA_DIR), settings.VMS_AGENT_OUTBOX_MAX_BYTES)
  try {
    outbox.append('audit', {
      action: 'agent.enroll.local',
      outcome: 'success',
      actor: { type: 'user', name: actor },
      target: { type: 'agent', id: agentId },
      details: { hub: hubUrl },
    })
  } finally {
    outbox.close()
  }
}

/**
 * The last resort: an error nothing else caught must not kill the agent mid-write. Log it, stop
 * the agent (cameras, link, databases) within a bound, or at least close its SQLite files, then
 * exit non-zero for the service manager to restart it. Failures that can be handled (a full data
 * disk) are handled where they happen; this is for the ones nobody foresaw.
 */
function installLastResort(logger: pino.Logger, agent: EdgeAgent): void {
  let exiting = false
  const fatal = (err: unknown, origin: string) => {
    logger.fatal({ err, origin }, 'unexpected error: stopping the agent cleanly')
    if (exiting) return
    exiting = true
    const force = setTimeout(() => {
      agent.closeDatabases()
      process.exit(1)
    }, 5000)
    force.unref()
    agent.stop().then(
      () => process.exit(1),
      (stopErr: unknown) => {
        logger.error({ err: stopErr }, 'stopping failed; closing the databases')
        agent.closeDatabases()
        process.exit(1)
      },
    )
  }
  process.on('uncaughtException', (err) => fatal(err, 'uncaughtException'))
  process.on('unhandledRejection', (reason) => fatal(reason, 'unhandledRejection'))
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code)
  },
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err))
    if (err instanceof UsageError) console.error(`\n${USAGE}`)
    process.exit(err instanceof UsageError ? 2 : 1)
  },
)
