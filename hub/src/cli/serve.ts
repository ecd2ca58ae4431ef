import type { HubConfig } from '../config/config.ts'
import { ensureConsoleBuilt } from '../console/console-build.ts'
import { type RunningHub, startHub } from '../server.ts'

/** Starts the hub, prints where it listens and where the first admin's password is, and stops on signals. */
export async function serveHub(
  config: HubConfig,
  onStop: Array<() => Promise<void>> = [],
): Promise<RunningHub> {
  // The console is built (once per source change) before the hub answers, so its first page works.
  await ensureConsoleBuilt((msg) => process.stderr.write(`${msg}\n`))
  const hub = await startHub({ config })
  const lines = [`TS-VMS hub listening on ${hub.url}`, `Web console: ${hub.url}/`]
  const admin = hub.bootstrap.createdAdmin
  if (hub.bootstrap.initialPasswordFile) {
    lines.push(
      `First administrator: tenant "system", username "admin", password in ${hub.bootstrap.initialPasswordFile} (until you change it)`,
    )
  } else if (admin) {
    lines.push(
      `First administrator: tenant "system", username "${admin.username}", password ${
        admin.passwordFile ? `in ${admin.passwordFile}` : 'as set in VMS_BOOTSTRAP_ADMIN_PASSWORD'
      }`,
    )
  } else {
    lines.push('Log in as an existing user (the first administrator is tenant "system", username "admin").')
  }
  process.stderr.write(`\n${lines.join('\n')}\n\n`)
  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    hub.context.logger.info({ signal }, 'stopping')
    for (const fn of onStop) await fn()
    await hub.close()
    process.exit(0)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
  return hub
}
