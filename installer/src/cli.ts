import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { FIREWALL_ACTIONS, type FirewallAction, firewallPlan } from './firewall.ts'
import type { Plan } from './plan.ts'
import { describePlan } from './plan.ts'
import { serviceCommand } from './service-command.ts'
import { isComponent } from './service-definition.ts'
import {
  COMPONENT_CHOICES,
  type ComponentChoice,
  componentsOf,
  SERVICE_ACTIONS,
  type ServiceAction,
  servicePlan,
} from './windows-plan.ts'
import { DEFAULT_WINDOWS_LAYOUT } from './winsw.ts'

export const USAGE = `usage: node --import tsx installer/src/cli.ts <command>

  plan --platform windows --action Install|Uninstall|Start|Stop|Restart|Status --component Hub|Agent|All
       [--winsw PATH] [--install-dir DIR] [--format json|text]
       the steps installer/windows/service-manager.ps1 runs, as JSON
  firewall-plan --platform windows --action Install|Uninstall|Status [--component Hub|Agent|All] [--allow-public]
       [--format json|text]
       the steps installer/windows/firewall-manager.ps1 runs, as JSON
  print hub|agent --platform windows|linux
       the service definition (same as npm run -s hub -- service print --platform ...)`

export class CliError extends Error {}

function oneOf<T extends string>(name: string, v: string | undefined, allowed: readonly T[]): T {
  if (v === undefined || !(allowed as readonly string[]).includes(v)) {
    throw new CliError(`--${name} must be one of ${allowed.join(', ')}`)
  }
  return v as T
}

function output(plan: Plan, format: string | undefined): string {
  if (format === 'text') return describePlan(plan)
  if (format !== undefined && format !== 'json') throw new CliError('--format must be json or text')
  return `${JSON.stringify(plan, null, 2)}\n`
}

/** Runs a command; returns what to print. */
export function runCli(argv: string[]): string {
  const [command, ...rest] = argv
  switch (command) {
    case 'plan': {
      const { values } = parseArgs({
        args: rest,
        strict: true,
        options: {
          platform: { type: 'string' },
          action: { type: 'string' },
          component: { type: 'string' },
          winsw: { type: 'string' },
          'install-dir': { type: 'string' },
          format: { type: 'string' },
        },
      })
      oneOf('platform', values.platform, ['windows'] as const)
      const action = oneOf<ServiceAction>('action', values.action, SERVICE_ACTIONS)
      const component = oneOf<ComponentChoice>('component', values.component, COMPONENT_CHOICES)
      const layout = values['install-dir']
        ? { ...DEFAULT_WINDOWS_LAYOUT, installDir: values['install-dir'].replace(/[\\/]+$/, '') }
        : DEFAULT_WINDOWS_LAYOUT
      try {
        return output(
          servicePlan(action, component, { layout, ...(values.winsw ? { winswPath: values.winsw } : {}) }),
          values.format,
        )
      } catch (err) {
        throw new CliError((err as Error).message)
      }
    }
    case 'firewall-plan': {
      const { values } = parseArgs({
        args: rest,
        strict: true,
        options: {
          platform: { type: 'string' },
          action: { type: 'string' },
          component: { type: 'string' },
          'allow-public': { type: 'boolean' },
          format: { type: 'string' },
        },
      })
      oneOf('platform', values.platform, ['windows'] as const)
      const action = oneOf<FirewallAction>('action', values.action, FIREWALL_ACTIONS)
      const component = oneOf<ComponentChoice>('component', values.component ?? 'All', COMPONENT_CHOICES)
      return output(
        firewallPlan(action, {
          components: componentsOf(component),
          allowPublic: values['allow-public'] === true,
        }),
        values.format,
      )
    }
    case 'print': {
      const [component, ...more] = rest
      if (!component || !isComponent(component))
        throw new CliError('print hub|agent --platform windows|linux')
      return serviceCommand(component, ['print', ...more])
    }
    case undefined:
    case 'help':
    case '--help':
      return `${USAGE}\n`
    default:
      throw new CliError(`unknown command "${command}"\n\n${USAGE}`)
  }
}

function isMain(): boolean {
  const entry = process.argv[1]
  if (!entry) return false
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (isMain()) {
  try {
    process.stdout.write(runCli(process.argv.slice(2)))
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode =
      err instanceof CliError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1
  }
}
