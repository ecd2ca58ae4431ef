import { parseArgs } from 'node:util'
import { type Component, DEFINITIONS } from './service-definition.ts'
import { systemdUnit } from './systemd.ts'
import { winswXml } from './winsw.ts'

export const SERVICE_USAGE =
  'service print --platform windows|linux   print the service definition (WinSW XML or systemd unit)'

export class ServiceUsageError extends Error {}

/** `service print --platform windows|linux`: the text to print for the component. */
export function serviceCommand(component: Component, argv: string[]): string {
  const [sub, ...rest] = argv
  if (sub !== 'print') throw new ServiceUsageError(`usage: ${SERVICE_USAGE}`)
  const { values } = parseArgs({ args: rest, strict: true, options: { platform: { type: 'string' } } })
  const def = DEFINITIONS[component]
  switch (values.platform) {
    case 'windows':
      return winswXml(def)
    case 'linux':
      return systemdUnit(def)
    default:
      throw new ServiceUsageError(`--platform must be windows or linux\nusage: ${SERVICE_USAGE}`)
  }
}
