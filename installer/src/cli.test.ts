import { execFileSync, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { CliError, runCli } from './cli.ts'
import { ServiceUsageError, serviceCommand } from './service-command.ts'
import { AGENT, HUB } from './service-definition.ts'
import { systemdUnit } from './systemd.ts'
import { servicePlan } from './windows-plan.ts'
import { winswXml } from './winsw.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))

describe('cli', () => {
  it('service print prints the WinSW XML or the systemd unit of the component', () => {
    expect(serviceCommand('agent', ['print', '--platform', 'windows'])).toBe(winswXml(AGENT))
    expect(serviceCommand('hub', ['print', '--platform', 'linux'])).toBe(systemdUnit(HUB))
    expect(() => serviceCommand('hub', ['print', '--platform', 'macos'])).toThrow(ServiceUsageError)
    expect(() => serviceCommand('hub', ['show'])).toThrow(ServiceUsageError)
    expect(runCli(['print', 'agent', '--platform', 'linux'])).toBe(systemdUnit(AGENT))
  })

  it('plan prints the plan as JSON, with the install directory given', () => {
    const out = runCli([
      'plan',
      '--platform',
      'windows',
      '--action',
      'Install',
      '--component',
      'Agent',
      '--winsw',
      'C:\\w.exe',
      '--install-dir',
      'C:\\Program Files\\TS-VMS\\',
    ])
    const layout = {
      installDir: 'C:\\Program Files\\TS-VMS',
      dataRoot: '%ProgramData%\\TS-VMS',
      node: '%ProgramFiles%\\nodejs\\node.exe',
    }
    expect(JSON.parse(out)).toEqual(servicePlan('Install', 'Agent', { winswPath: 'C:\\w.exe', layout }))
  })

  it('refuses what the scripts would not pass', () => {
    expect(() => runCli(['plan', '--platform', 'linux', '--action', 'Start', '--component', 'Hub'])).toThrow(
      CliError,
    )
    expect(() =>
      runCli(['plan', '--platform', 'windows', '--action', 'start', '--component', 'Hub']),
    ).toThrow(CliError)
    expect(() =>
      runCli(['plan', '--platform', 'windows', '--action', 'Install', '--component', 'Hub']),
    ).toThrow(/WinSW/)
    expect(() => runCli(['firewall-plan', '--platform', 'windows', '--action', 'Open'])).toThrow(CliError)
    expect(() => runCli(['nope'])).toThrow(CliError)
  })

  it('runs as the scripts call it (node --import tsx installer/src/cli.ts ...)', () => {
    const out = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'installer/src/cli.ts',
        'firewall-plan',
        '--platform',
        'windows',
        '--action',
        'Uninstall',
      ],
      { cwd: root, encoding: 'utf8' },
    )
    expect(JSON.parse(out)).toMatchObject({ script: 'firewall-manager', action: 'Uninstall' })
    const bad = spawnSync(process.execPath, ['--import', 'tsx', 'installer/src/cli.ts', 'plan', '--bogus'], {
      cwd: root,
      encoding: 'utf8',
    })
    expect(bad.status).toBe(2)
  })
})
