import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import path from 'node:path'

/**
 * A Mosquitto of the test's own (the machine's broker on 1883 allows anonymous access and is shared
 * by everything): dynamic security on, anonymous access off, on a free port. Tests that need it
 * skip, saying so, where Mosquitto is not installed.
 */
const BINARY = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto'].find((p) =>
  existsSync(p),
)
const PLUGIN = [
  '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so',
  '/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so',
  '/usr/lib/mosquitto_dynamic_security.so',
  '/usr/local/lib/mosquitto_dynamic_security.so',
].find((p) => existsSync(p))
const CTRL = ['/usr/bin/mosquitto_ctrl', '/usr/local/bin/mosquitto_ctrl'].find((p) => existsSync(p))

export const mosquittoAvailable = Boolean(BINARY && PLUGIN && CTRL)
if (!mosquittoAvailable) {
  console.warn('SKIPPING Mosquitto tests: mosquitto with the dynamic-security plugin is not installed')
}

export interface Mosquitto {
  port: number
  /** URL for the hub, with the dynamic-security admin's credentials. */
  hubUrl: string
  stop(): Promise<void>
}

async function freePort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as net.AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

export async function startMosquitto(): Promise<Mosquitto> {
  if (!BINARY || !PLUGIN || !CTRL) throw new Error('mosquitto is not installed')
  const dir = mkdtempSync(path.join(tmpdir(), 'vms-mosquitto-'))
  const password = `pw-${Math.random().toString(36).slice(2)}${Date.now()}`
  execFileSync(CTRL, ['dynsec', 'init', path.join(dir, 'dynsec.json'), 'vms-hub', password], {
    stdio: 'ignore',
  })
  const port = await freePort()
  writeFileSync(
    path.join(dir, 'mosquitto.conf'),
    [
      'per_listener_settings false',
      // Run as whoever runs the tests: as root, mosquitto would otherwise drop to a user that
      // cannot read this private directory.
      `user ${userInfo().username}`,
      `listener ${port} 127.0.0.1`,
      'allow_anonymous false',
      'persistence false',
      `log_dest file ${path.join(dir, 'mosquitto.log')}`,
      `plugin ${PLUGIN}`,
      `plugin_opt_config_file ${path.join(dir, 'dynsec.json')}`,
      'max_packet_size 1048576',
      '',
    ].join('\n'),
  )
  const child: ChildProcess = spawn(BINARY, ['-c', path.join(dir, 'mosquitto.conf')], { stdio: 'ignore' })
  for (let i = 0; i < 100; i++) {
    const open = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.end()
        resolve(true)
      })
      s.on('error', () => resolve(false))
    })
    if (open) break
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    port,
    hubUrl: `mqtt://vms-hub:${encodeURIComponent(password)}@127.0.0.1:${port}`,
    async stop() {
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
