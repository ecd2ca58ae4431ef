import { networkInterfaces } from 'node:os'
import type { Logger } from 'pino'
import type { AgentSettings } from '../config.ts'
import { type Credentials, hasCredentials } from '../credentials.ts'
import { SetupWizard } from './server.ts'
import { ensureSetupUiBuilt } from './setup-build.ts'
import { readSetupState } from './state.ts'

/**
 * Whether `npm run agent` opens the setup wizard: while the agent is not enrolled, and after the
 * wizard enrolled it until the installer finishes. An agent enrolled on the command line does not
 * open it unless asked (`npm run agent -- setup`).
 */
export function wantsSetupWizard(dataDir: string): boolean {
  return !hasCredentials(dataDir) || readSetupState(dataDir)?.finished === false
}

/** Builds the page if needed, starts the wizard and prints where it is and its PIN. */
export async function openSetupWizard(
  settings: AgentSettings,
  logger: Logger,
  options: {
    onEnrolled?: (c: Credentials) => void | Promise<void>
    /** The agent in this process applies a quota saved in step 4 at once (see SetupWizardOptions). */
    onQuotaChanged?: (bytes: number | null) => void | Promise<void>
    print?: (line: string) => void
  } = {},
): Promise<SetupWizard> {
  const { dir } = await ensureSetupUiBuilt((m) => logger.info(m))
  const wizard = await SetupWizard.start({
    dataDir: settings.VMS_AGENT_DATA_DIR,
    host: settings.VMS_AGENT_SETUP_HOST,
    port: settings.VMS_AGENT_SETUP_PORT,
    distDir: dir,
    logger,
    recordingQuotaBytes: settings.VMS_AGENT_RECORDING_QUOTA_BYTES ?? null,
    recordingQuotaFixed: settings.localSettings.sources.VMS_AGENT_RECORDING_QUOTA_BYTES === 'environment',
    ...(options.onEnrolled ? { onEnrolled: options.onEnrolled } : {}),
    ...(options.onQuotaChanged ? { onQuotaChanged: options.onQuotaChanged } : {}),
  })
  const print = options.print ?? ((line: string) => console.log(line))
  print('')
  print(`  Setup wizard: ${wizard.url}`)
  // Bound to every address: say which ones reach it.
  if (/^(0\.0\.0\.0|::|\[::\])$/.test(settings.VMS_AGENT_SETUP_HOST)) {
    for (const a of Object.values(networkInterfaces()).flat())
      if (a && !a.internal && a.family === 'IPv4')
        print(`                https://${a.address}:${wizard.port}/`)
  }
  if (wizard.tlsFingerprint) print(`  Its TLS certificate's SHA-256 fingerprint: ${wizard.tlsFingerprint}`)
  print(`  Setup PIN:    ${wizard.pin}   (also in ${wizard.pinFile}, readable by this user only)`)
  print('')
  return wizard
}
