import { eventCreateArgs } from './event-log.ts'
import type { Plan, Step } from './plan.ts'
import { type Component, DEFINITIONS, type ServiceDefinition } from './service-definition.ts'
import {
  DEFAULT_WINDOWS_LAYOUT,
  SERVICE_ACCOUNT,
  WINSW,
  type WindowsLayout,
  windowsPaths,
  winswXml,
} from './winsw.ts'

export type ServiceAction = 'Install' | 'Uninstall' | 'Start' | 'Stop' | 'Restart' | 'Status'
export const SERVICE_ACTIONS: readonly ServiceAction[] = [
  'Install',
  'Uninstall',
  'Start',
  'Stop',
  'Restart',
  'Status',
]
export type ComponentChoice = 'Hub' | 'Agent' | 'All'
export const COMPONENT_CHOICES: readonly ComponentChoice[] = ['Hub', 'Agent', 'All']

export interface ServicePlanOptions {
  layout?: WindowsLayout
  /** Install: where the downloaded WinSW-x64.exe is (checked against the pinned SHA-256). */
  winswPath?: string
}

/** The components in the order an action takes them: the hub first up, the agent first down. */
export function componentsOf(
  choice: ComponentChoice,
  action: ServiceAction | 'up' | 'down' = 'up',
): Component[] {
  const all: Component[] = choice === 'All' ? ['hub', 'agent'] : [choice === 'Hub' ? 'hub' : 'agent']
  const down = action === 'Stop' || action === 'Uninstall' || action === 'down'
  return down ? [...all].reverse() : all
}

/** The registry key eventcreate makes for a source (removed at uninstall). */
export function eventSourceKey(def: ServiceDefinition): string {
  return `HKLM\\SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\${def.eventSource}`
}

const wrapper = (
  def: ServiceDefinition,
  layout: WindowsLayout,
  command: string,
  okExitCodes?: 'any',
): Step => ({
  kind: 'run',
  description: `WinSW ${command}: ${def.id}`,
  file: windowsPaths(def, layout).wrapperExe,
  args: [command],
  ...(okExitCodes ? { okExitCodes } : {}),
})

function installSteps(def: ServiceDefinition, layout: WindowsLayout, winswPath: string): Step[] {
  const p = windowsPaths(def, layout)
  const S = (sid: string, rights: string) => `*${sid}:(OI)(CI)${rights}`
  const steps: Step[] = [
    {
      kind: 'check-exists',
      description: 'Node.js is installed where the service runs it',
      path: layout.node,
    },
    {
      kind: 'check-exists',
      description: 'The release is in the install directory',
      path: `${layout.installDir}\\${def.entry.replace(/\//g, '\\')}`,
    },
    {
      kind: 'check-sha256',
      description: `WinSW ${WINSW.version} (${WINSW.asset}) is the pinned build`,
      path: winswPath,
      sha256: WINSW.sha256,
    },
    // An earlier install is stopped and removed first, so Install also upgrades (the XML may differ).
    wrapper(def, layout, 'stop', 'any'),
    wrapper(def, layout, 'uninstall', 'any'),
    ...[p.dataDir, p.logDir, p.serviceDir].map(
      (dir): Step => ({
        kind: 'cmdlet',
        description: `Create ${dir}`,
        name: 'New-Item',
        params: { ItemType: 'Directory', Path: dir, Force: true },
      }),
    ),
    {
      kind: 'run',
      description: `Data folder: SYSTEM and Administrators full control, ${SERVICE_ACCOUNT.user} modify, nobody else (it holds keys)`,
      file: 'icacls.exe',
      args: [
        p.dataDir,
        '/inheritance:r',
        '/grant:r',
        S('S-1-5-18', 'F'),
        S('S-1-5-32-544', 'F'),
        S(SERVICE_ACCOUNT.sid, 'M'),
        '/T',
        '/C',
      ],
    },
    {
      kind: 'cmdlet',
      description: 'Copy WinSW next to its XML, named after the service',
      name: 'Copy-Item',
      params: { Path: winswPath, Destination: p.wrapperExe, Force: true },
    },
    {
      kind: 'write-file',
      description: 'Write the WinSW XML generated from the service definition',
      path: p.wrapperXml,
      content: winswXml(def, layout),
      overwrite: true,
    },
  ]
  if (def.component === 'hub') {
    steps.push({
      kind: 'write-file',
      description: 'Create the hub settings file (VMS_CONFIG) if there is none',
      path: p.configFile,
      content:
        '# TS-VMS hub settings (VMS_* names, see hub/README.md), read at start. Example:\n# VMS_HTTP_HOST: 0.0.0.0\n',
      overwrite: false,
    })
  }
  steps.push(
    wrapper(def, layout, 'install'),
    {
      kind: 'run',
      description:
        'Apply the recovery actions also when the service stops with an error (not only on a crash)',
      file: 'sc.exe',
      args: ['failureflag', def.id, '1'],
    },
    {
      kind: 'run',
      description: `Register the Event Log source "${def.eventSource}" (Application log)`,
      file: 'eventcreate.exe',
      args: eventCreateArgs(def.eventSource, 'INFORMATION', 1, `${def.displayName}: service installed`),
    },
  )
  return steps
}

function uninstallSteps(def: ServiceDefinition, layout: WindowsLayout): Step[] {
  const p = windowsPaths(def, layout)
  return [
    wrapper(def, layout, 'stop', 'any'),
    wrapper(def, layout, 'uninstall', 'any'),
    {
      kind: 'run',
      description: `Remove the Event Log source "${def.eventSource}"`,
      file: 'reg.exe',
      args: ['delete', eventSourceKey(def), '/f'],
      okExitCodes: 'any',
    },
    {
      kind: 'cmdlet',
      description: 'Remove the wrapper and its XML (the data folder stays)',
      name: 'Remove-Item',
      params: { Path: [p.wrapperExe, p.wrapperXml], Force: true },
      ignoreErrors: true,
    },
  ]
}

export function servicePlan(
  action: ServiceAction,
  choice: ComponentChoice,
  o: ServicePlanOptions = {},
): Plan {
  const layout = o.layout ?? DEFAULT_WINDOWS_LAYOUT
  if (action === 'Install' && !o.winswPath)
    throw new Error('Install needs the path of WinSW-x64.exe (-WinSWPath)')
  const steps: Step[] = []
  for (const c of componentsOf(choice, action)) {
    const def = DEFINITIONS[c]
    switch (action) {
      case 'Install':
        steps.push(...installSteps(def, layout, o.winswPath as string))
        break
      case 'Uninstall':
        steps.push(...uninstallSteps(def, layout))
        break
      case 'Start':
        steps.push(wrapper(def, layout, 'start'))
        break
      case 'Stop':
        steps.push(wrapper(def, layout, 'stop'))
        break
      case 'Restart':
        steps.push(wrapper(def, layout, 'restart'))
        break
      case 'Status':
        steps.push(wrapper(def, layout, 'status', 'any'))
        break
    }
  }
  return { platform: 'windows', script: 'service-manager', action, steps }
}
