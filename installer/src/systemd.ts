import type { ServiceDefinition } from './service-definition.ts'

/** Where a Linux install lives (the layout installer/linux documents). */
export const LINUX_LAYOUT = {
  installDir: '/opt/ts-vms',
  stateRoot: '/var/lib/ts-vms',
  configDir: '/etc/ts-vms',
  node: '/usr/bin/node',
  user: 'vms',
} as const

/**
 * The systemd unit of a component. The checked-in installer/linux/<id>.service files are this
 * output (a golden test compares them), so edit the definition, then print.
 *
 * Watchdog: Node cannot send to the notify socket itself (no AF_UNIX datagrams), so the process
 * feeds the watchdog by running `systemd-notify WATCHDOG=1` (watchdog.ts), which is why the unit
 * accepts notifications from any of its processes (NotifyAccess=all). Type stays `simple`: the
 * watchdog does not need READY=1, and a release without the feeder would otherwise never start.
 */
export function systemdUnit(def: ServiceDefinition): string {
  const L = LINUX_LAYOUT
  const lines = [
    ...def.linux.header,
    '[Unit]',
    ...def.linux.unit,
    '',
    '[Service]',
    'Type=simple',
    `User=${L.user}`,
    `Group=${L.user}`,
    `WorkingDirectory=${L.installDir}`,
    `EnvironmentFile=-${L.configDir}/${def.linux.environmentFile}`,
    ...Object.entries(def.env).map(([k, v]) => `Environment=${k}=${v}`),
    `Environment=${def.dataDirEnv}=${L.stateRoot}/${def.dataSubdir}`,
    `ExecStart=${L.node} --import tsx ${def.entry}`,
    'Restart=on-failure',
    'RestartSec=2',
    `TimeoutStopSec=${def.stopTimeoutSeconds}`,
    '# The process feeds the watchdog through systemd-notify (installer/src/watchdog.ts).',
    `WatchdogSec=${def.watchdogSeconds}`,
    'NotifyAccess=all',
    `StateDirectory=ts-vms/${def.dataSubdir}`,
    'StateDirectoryMode=0700',
    'UMask=0077',
    ...def.linux.hardening,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
  ]
  return `${lines.join('\n')}\n`
}
