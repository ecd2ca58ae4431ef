import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { AGENT, HUB } from './service-definition.ts'
import { systemdUnit } from './systemd.ts'

const checkedIn = (id: string) => readFileSync(new URL(`../linux/${id}.service`, import.meta.url), 'utf8')

/** The sandboxing the units had before they were generated; none of it may go. */
const SANDBOX_COMMON = [
  'User=vms',
  'Group=vms',
  'StateDirectoryMode=0700',
  'UMask=0077',
  'NoNewPrivileges=yes',
  'ProtectSystem=strict',
  'ProtectHome=yes',
  'PrivateTmp=yes',
  'ProtectKernelTunables=yes',
  'ProtectKernelModules=yes',
  'ProtectControlGroups=yes',
  'RestrictSUIDSGID=yes',
  'LockPersonality=yes',
  'SystemCallArchitectures=native',
  'CapabilityBoundingSet=',
  'AmbientCapabilities=',
]

describe('systemd units', () => {
  for (const def of [HUB, AGENT]) {
    describe(def.id, () => {
      const unit = systemdUnit(def)
      const lines = unit.split('\n')

      it('is the checked-in installer/linux file', () => {
        expect(checkedIn(def.id)).toBe(unit)
      })

      it('matches the golden file', async () => {
        await expect(unit).toMatchFileSnapshot(`../test/golden/${def.id}.service`)
      })

      it('keeps the sandboxing', () => {
        const extra = def.component === 'hub' ? ['PrivateDevices=yes', 'RestrictNamespaces=yes'] : []
        for (const l of [...SANDBOX_COMMON, ...extra]) expect(lines, l).toContain(l)
      })

      it('restarts on failure, with a watchdog the process feeds, and waits for a clean stop', () => {
        expect(lines).toContain('Restart=on-failure')
        expect(lines).toContain(`WatchdogSec=${def.watchdogSeconds}`)
        // systemd-notify runs as a child process: notifications from it must be accepted.
        expect(lines).toContain('NotifyAccess=all')
        expect(lines).toContain('Type=simple')
        expect(lines).toContain(`TimeoutStopSec=${def.stopTimeoutSeconds}`)
        expect(lines).toContain(`ExecStart=/usr/bin/node --import tsx ${def.entry}`)
        expect(lines).toContain(`Environment=${def.dataDirEnv}=/var/lib/ts-vms/${def.dataSubdir}`)
      })

      it('has each key once per section', () => {
        const service = unit.slice(unit.indexOf('[Service]'), unit.indexOf('[Install]'))
        const keys = service
          .split('\n')
          .filter((l) => /^[A-Za-z]+=/.test(l) && !l.startsWith('Environment='))
          .map((l) => l.split('=')[0])
        expect(new Set(keys).size).toBe(keys.length)
      })
    })
  }
})
