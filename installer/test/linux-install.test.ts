import { execFile, execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/**
 * installer/linux/install.sh and uninstall.sh, run with --root into a temporary folder (the root
 * vitest.config.ts has no installer project, so this lives with the agent's tests). Privileged
 * commands must only be printed: stand-ins for them on PATH record any real call, and none may come.
 */

const repo = path.resolve(import.meta.dirname, '../..')
const linux = path.join(repo, 'installer/linux')
const dirs: string[] = []
let stubs: string
let calls: string

const temp = (prefix: string) => {
  const d = mkdtempSync(path.join(tmpdir(), prefix))
  dirs.push(d)
  return d
}

beforeAll(() => {
  stubs = temp('vms-installer-stubs-')
  calls = path.join(stubs, 'calls.log')
  for (const cmd of ['useradd', 'userdel', 'chown', 'systemctl', 'nft']) {
    writeFileSync(path.join(stubs, cmd), `#!/bin/sh\necho "${cmd} $*" >> "${calls}"\n`)
    chmodSync(path.join(stubs, cmd), 0o755)
  }
})
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

function sh(script: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      [path.join(linux, script), ...args],
      { env: { ...process.env, PATH: `${stubs}:${process.env.PATH}` }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0
        resolve({ code, out: stdout, err: stderr })
      },
    )
  })
}

/** Every path under `root` with its mode, size, mtime and content hash: what "changes nothing" compares. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = path.join(dir, name)
      const s = lstatSync(p)
      const rel = path.relative(root, p)
      if (s.isDirectory()) {
        out[rel] = `d ${(s.mode & 0o7777).toString(8)} ${s.mtimeMs}`
        walk(p)
      } else {
        const hash = createHash('sha256').update(readFileSync(p)).digest('hex')
        out[rel] = `f ${(s.mode & 0o7777).toString(8)} ${s.size} ${s.mtimeMs} ${hash}`
      }
    }
  }
  walk(root)
  return out
}

const mode = (p: string) => (statSync(p).mode & 0o7777).toString(8)
const installArgs = (root: string, ...more: string[]) => [
  '--root',
  root,
  '--firewall',
  '--local-subnet',
  '192.168.10.0/24',
  ...more,
]

describe('installer/linux/install.sh --root', () => {
  let root: string
  let first: { code: number; out: string; err: string }

  beforeAll(async () => {
    root = temp('vms-installer-root-')
    mkdirSync(path.join(root, 'etc'))
    writeFileSync(path.join(root, 'etc/nftables.conf'), '#!/usr/sbin/nft -f\nflush ruleset\n')
    first = await sh('install.sh', installArgs(root))
  })

  it('installs the folders, settings, units and firewall rules with their modes', () => {
    expect(first.err).toBe('')
    expect(first.code).toBe(0)
    const expected: Record<string, string> = {
      'etc/ts-vms': '750',
      'etc/ts-vms/hub.env': '640',
      'etc/ts-vms/agent.env': '640',
      'etc/systemd/system/ts-vms-hub.service': '644',
      'etc/systemd/system/ts-vms-agent.service': '644',
      'etc/nftables.d/ts-vms.nft': '644',
      'var/lib/ts-vms': '750',
      'var/lib/ts-vms/hub': '700',
      'var/lib/ts-vms/agent': '700',
    }
    for (const [p, m] of Object.entries(expected)) expect([p, mode(path.join(root, p))]).toEqual([p, m])
    // The units are installed as they are in the release (they are generated elsewhere).
    for (const unit of ['ts-vms-hub.service', 'ts-vms-agent.service']) {
      const installed = readFileSync(path.join(root, 'etc/systemd/system', unit), 'utf8')
      expect(installed).toBe(readFileSync(path.join(linux, unit), 'utf8'))
      expect(installed).toMatch(/^Restart=on-failure$/m)
      expect(installed).toMatch(/^User=vms$/m)
    }
    expect(readFileSync(path.join(root, 'etc/ts-vms/agent.env'), 'utf8')).toMatch(
      /^VMS_AGENT_LIVE_PORT_RANGE=50000-50199$/m,
    )
    expect(readFileSync(path.join(root, 'etc/ts-vms/hub.env'), 'utf8')).toMatch(/^VMS_MQTT_PORT=8883$/m)
  })

  it('renders the nftables rules like the Windows ones: hub HTTPS and MQTT-TLS, agent ports from the local subnet only, no RTSP', () => {
    const rules = readFileSync(path.join(root, 'etc/nftables.d/ts-vms.nft'), 'utf8')
    expect(rules).not.toMatch(/@[A-Z_]+@/)
    expect(rules).toContain('elements = { 192.168.10.0/24 }')
    const active = rules
      .split('\n')
      .filter((l) => /^\s+(tcp|udp|iif)/.test(l))
      .map((l) => l.trim().replace(/ comment .*/, ''))
    expect(active).toEqual([
      'iif "lo" accept',
      'tcp dport 443 accept',
      'tcp dport 8883 accept',
      'udp dport 50000-50199 ip saddr @local_subnet accept',
      'udp dport 50000-50199 drop',
      'tcp dport 7080 ip saddr @local_subnet accept',
      'tcp dport 7080 drop',
    ])
    expect(rules).not.toMatch(/\b554\b/)
    expect(readFileSync(path.join(root, 'etc/nftables.conf'), 'utf8')).toContain(
      'include "/etc/nftables.d/ts-vms.nft"',
    )
  })

  it('prints the privileged commands instead of running them', () => {
    const wouldRun = first.out.split('\n').filter((l) => l.startsWith('would run: '))
    expect(wouldRun).toEqual(
      expect.arrayContaining([
        'would run: useradd --system --user-group --home-dir /var/lib/ts-vms --no-create-home --shell /usr/sbin/nologin vms',
        'would run: chown root:vms /etc/ts-vms',
        'would run: chown root:vms /etc/ts-vms/hub.env',
        'would run: chown vms:vms /var/lib/ts-vms/agent',
        'would run: systemctl daemon-reload',
        'would run: nft -f /etc/nftables.d/ts-vms.nft',
      ]),
    )
    expect(existsSync(calls)).toBe(false)
  })

  it('changes nothing when run again, keeps edited settings and repairs modes', async () => {
    const before = snapshot(root)
    const again = await sh('install.sh', installArgs(root))
    expect(again.code).toBe(0)
    expect(snapshot(root)).toEqual(before)
    expect(again.out).not.toMatch(/^(installed|created|added) /m)
    expect(again.out).not.toContain('daemon-reload')
    expect(again.out).not.toContain('nft -f')

    const env = path.join(root, 'etc/ts-vms/hub.env')
    writeFileSync(env, 'VMS_DATABASE_URL=postgres://vms:pw@db/vms\n')
    chmodSync(env, 0o644)
    await sh('install.sh', installArgs(root))
    expect(readFileSync(env, 'utf8')).toBe('VMS_DATABASE_URL=postgres://vms:pw@db/vms\n')
    expect(mode(env)).toBe('640')
    expect(existsSync(calls)).toBe(false)
  })

  it('refuses bad options', async () => {
    const r = await sh('install.sh', ['--root', root, '--live-ports', '6000-5000'])
    expect(r.code).toBe(1)
    expect(r.err).toContain('--live-ports must be MIN-MAX')
    expect((await sh('install.sh', ['--root', root, '--role', 'nvr'])).err).toContain(
      '--role must be hub, agent or both',
    )
  })

  it('installs one role only', async () => {
    const agentOnly = temp('vms-installer-agent-')
    const r = await sh('install.sh', [
      '--root',
      agentOnly,
      '--role',
      'agent',
      '--firewall',
      '--local-subnet',
      '10.1.0.0/16',
    ])
    expect(r.code).toBe(0)
    expect(existsSync(path.join(agentOnly, 'etc/systemd/system/ts-vms-agent.service'))).toBe(true)
    expect(existsSync(path.join(agentOnly, 'etc/systemd/system/ts-vms-hub.service'))).toBe(false)
    expect(existsSync(path.join(agentOnly, 'var/lib/ts-vms/hub'))).toBe(false)
    const rules = readFileSync(path.join(agentOnly, 'etc/nftables.d/ts-vms.nft'), 'utf8')
    expect(rules).toMatch(/^# \t+tcp dport 443 accept/m)
    expect(rules).toMatch(/^\t+tcp dport 7080 ip saddr @local_subnet accept/m)
  })

  it('passes systemd-analyze verify', () => {
    const analyze = '/usr/bin/systemd-analyze'
    if (!existsSync(analyze)) {
      console.warn(
        'SKIPPING systemd-analyze verify of the installed units: /usr/bin/systemd-analyze is not installed',
      )
      return
    }
    // verify wants ExecStart's binary to exist: where /usr/bin/node does not, check a copy that
    // names this Node instead (the only change).
    const units = ['ts-vms-hub.service', 'ts-vms-agent.service'].map((u) =>
      path.join(root, 'etc/systemd/system', u),
    )
    let files = units
    if (!existsSync('/usr/bin/node')) {
      const copies = temp('vms-units-')
      files = units.map((u) => {
        const copy = path.join(copies, path.basename(u))
        writeFileSync(copy, readFileSync(u, 'utf8').replaceAll('/usr/bin/node', process.execPath))
        return copy
      })
    }
    const r = (() => {
      try {
        return {
          code: 0,
          out: execFileSync(analyze, ['verify', ...files], { encoding: 'utf8', stdio: 'pipe' }),
          err: '',
        }
      } catch (err) {
        const e = err as { status: number; stdout: string; stderr: string }
        return { code: e.status, out: e.stdout, err: e.stderr }
      }
    })()
    // Warnings (an unknown setting, a bad value) go to stderr with exit 0: they fail too.
    expect(r).toEqual({ code: 0, out: '', err: '' })
  })

  it('passes shellcheck (when installed)', () => {
    let found = true
    try {
      execFileSync('shellcheck', ['--version'], { stdio: 'pipe' })
    } catch {
      found = false
    }
    if (!found) {
      console.warn('SKIPPING shellcheck of installer/linux/*.sh: shellcheck is not installed')
      return
    }
    execFileSync('shellcheck', [path.join(linux, 'install.sh'), path.join(linux, 'uninstall.sh')], {
      stdio: 'pipe',
    })
  })
})

describe('installer/linux/uninstall.sh --root', () => {
  it('removes the services and rules but keeps the data and settings; --purge removes them too', async () => {
    const root = temp('vms-uninstall-root-')
    mkdirSync(path.join(root, 'etc'))
    writeFileSync(path.join(root, 'etc/nftables.conf'), 'flush ruleset\n')
    expect((await sh('install.sh', installArgs(root))).code).toBe(0)
    writeFileSync(path.join(root, 'var/lib/ts-vms/agent/credentials.json'), '{}')

    const keep = await sh('uninstall.sh', ['--root', root])
    expect(keep.code).toBe(0)
    expect(keep.out).toContain('would run: systemctl disable --now ts-vms-hub.service')
    expect(keep.out).toContain('would run: nft delete table inet ts_vms')
    expect(existsSync(path.join(root, 'etc/systemd/system/ts-vms-hub.service'))).toBe(false)
    expect(existsSync(path.join(root, 'etc/systemd/system/ts-vms-agent.service'))).toBe(false)
    expect(existsSync(path.join(root, 'etc/nftables.d/ts-vms.nft'))).toBe(false)
    expect(readFileSync(path.join(root, 'etc/nftables.conf'), 'utf8')).toBe('flush ruleset\n')
    expect(readFileSync(path.join(root, 'var/lib/ts-vms/agent/credentials.json'), 'utf8')).toBe('{}')
    expect(existsSync(path.join(root, 'etc/ts-vms/hub.env'))).toBe(true)
    expect(keep.out).not.toContain('userdel')

    const purge = await sh('uninstall.sh', ['--root', root, '--purge'])
    expect(purge.code).toBe(0)
    expect(existsSync(path.join(root, 'var/lib/ts-vms'))).toBe(false)
    expect(existsSync(path.join(root, 'etc/ts-vms'))).toBe(false)
    expect(purge.out).toContain('would run: userdel vms')
    expect(existsSync(calls)).toBe(false)
  })
})
