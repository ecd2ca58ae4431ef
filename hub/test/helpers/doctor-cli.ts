import { execFile } from 'node:child_process'
import net from 'node:net'
import path from 'node:path'

/**
 * `npm run hub|agent -- doctor` as a child process, the way an operator runs it: the environment
 * of this process without its VMS_ settings, plus the ones given; its exit code and output lines.
 */
const repo = path.resolve(import.meta.dirname, '../../..')

export function runDoctor(
  entry: 'hub/src/main.ts' | 'edge-agent/src/main.ts',
  env: Record<string, string>,
): Promise<{ code: number; lines: string[] }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VMS_')))
  return new Promise((resolve) => {
    execFile(
      'npx',
      ['tsx', entry, 'doctor'],
      { cwd: repo, env: { ...base, ...env }, timeout: 60_000 },
      (err, stdout) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0
        resolve({ code, lines: stdout.split('\n').filter(Boolean) })
      },
    )
  })
}

/** Ports something listens on (and drops every connection): a doctor finds them taken or reachable. */
export class Listeners {
  private readonly servers: net.Server[] = []

  async listen(): Promise<number> {
    const server = net.createServer((s) => s.destroy())
    this.servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return (server.address() as net.AddressInfo).port
  }

  async close(): Promise<void> {
    for (const s of this.servers.splice(0)) await new Promise((r) => s.close(r))
  }
}
