import { parseArgs } from 'node:util'
import pino from 'pino'
import { EdgeAgent, outboxFile } from './agent.ts'
import { loadAgentSettings } from './config.ts'
import { enroll } from './enroll.ts'
import { Outbox } from './outbox/outbox.ts'

const USAGE = `usage:
  npm run agent                                   run the agent (after enrolling)
  npm run agent -- enroll --hub URL --code CODE [--name NAME] [--force]
  npm run agent -- emit-test-events --count N [--type TYPE]

settings: VMS_AGENT_DATA_DIR (./data/agent), VMS_AGENT_LOG_LEVEL, VMS_AGENT_OUTBOX_MAX_BYTES, ...`

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  const settings = loadAgentSettings()
  const dataDir = settings.VMS_AGENT_DATA_DIR
  switch (command ?? 'run') {
    case 'run': {
      const logger = pino({ level: settings.VMS_AGENT_LOG_LEVEL, base: { service: 'ts-vms-agent' } })
      const agent = new EdgeAgent(settings, logger)
      installLastResort(logger, agent)
      agent.start()
      logger.info({ agentId: agent.agentId, dataDir }, 'agent running')
      const stop = async () => {
        await agent.stop()
        process.exit(0)
      }
      process.on('SIGINT', () => void stop())
      process.on('SIGTERM', () => void stop())
      return -1 // keep running
    }
    case 'enroll': {
      const { values } = parseArgs({
        args: rest,
        strict: true,
        options: {
          hub: { type: 'string' },
          code: { type: 'string' },
          name: { type: 'string' },
          force: { type: 'boolean' },
        },
      })
      if (!values.hub || !values.code) throw new UsageError('enroll needs --hub and --code')
      const c = await enroll({
        hubUrl: values.hub,
        code: values.code,
        dataDir,
        ...(values.name ? { name: values.name } : {}),
        ...(values.force ? { force: true } : {}),
      })
      const outbox = new Outbox(outboxFile(dataDir), settings.VMS_AGENT_OUTBOX_MAX_BYTES)
      outbox.append('audit', {
        action: 'agent.enroll.local',
        outcome: 'success',
        actor: { type: 'user', name: process.env.USER ?? 'installer' },
        target: { type: 'agent', id: c.agentId },
        details: { hub: c.hubUrl },
      })
      outbox.close()
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
