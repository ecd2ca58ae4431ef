import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { enrollmentCode } from '../../../hub/test/helpers/enrollment.ts'
import type { TestHub } from '../../../hub/test/helpers/test-hub.ts'
import { EdgeAgent } from '../../src/agent.ts'
import { loadAgentSettings } from '../../src/config.ts'
import { enroll } from '../../src/enroll.ts'

export { enrollmentCode }

export async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

export interface TestAgent {
  dataDir: string
  agentId: string
  agent: EdgeAgent | undefined
  start(): EdgeAgent
  stop(): Promise<void>
  cleanup(): Promise<void>
  env: Record<string, string>
}

/** Enrolls an agent with a fresh data dir; `start()` runs it in this process. */
export async function enrolledAgent(t: TestHub, overrides: Record<string, unknown> = {}): Promise<TestAgent> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vms-agent-'))
  const { code } = await enrollmentCode(t)
  const credentials = await enroll({ hubUrl: t.url, code, dataDir, name: 'test agent' })
  const env = {
    VMS_AGENT_DATA_DIR: dataDir,
    VMS_AGENT_ACK_TIMEOUT_MS: '1000',
    VMS_AGENT_LOG_LEVEL: 'warn',
    ...Object.fromEntries(Object.entries(overrides).map(([k, v]) => [k, String(v)])),
  }
  const handle: TestAgent = {
    dataDir,
    agentId: credentials.agentId,
    agent: undefined,
    env,
    start() {
      const settings = loadAgentSettings(env)
      handle.agent = new EdgeAgent(settings, pino({ level: 'warn' }))
      handle.agent.start()
      return handle.agent
    },
    async stop() {
      await handle.agent?.stop()
      handle.agent = undefined
    },
    async cleanup() {
      await handle.stop()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
  return handle
}
