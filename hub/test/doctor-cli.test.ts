import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Listeners, runDoctor } from './helpers/doctor-cli.ts'
import { createTestDatabase, type TestDatabase } from './helpers/test-database.ts'

/** `npm run hub -- doctor` as a child process, against a test database (and Redis when the tests have one). */

let db: TestDatabase
let dataDir: string
const listeners = new Listeners()
const listen = () => listeners.listen()

async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  await new Promise((r) => server.close(r))
  return port
}

const doctor = (env: Record<string, string>) => runDoctor('hub/src/main.ts', env)

const redis = process.env.VMS_TEST_REDIS_URL

beforeAll(async () => {
  db = await createTestDatabase()
  // The data folder on memory where there is one: the disk line's speed bound holds on a loaded machine.
  dataDir = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'vms-hub-doctor-'))
})

afterAll(async () => {
  await listeners.close()
  await db?.drop()
  if (dataDir) rmSync(dataDir, { recursive: true, force: true })
})

describe('npm run hub -- doctor', () => {
  const env = async (more: Record<string, string>) => ({
    VMS_DATA_DIR: dataDir,
    VMS_DATABASE_URL: db.url,
    VMS_HTTP_PORT: String(await freePort()),
    ...(redis ? { VMS_REDIS_URL: redis } : {}),
    ...more,
  })

  it('exits 0 and prints one PASS line per check when all is well', async () => {
    const { code, lines } = await doctor(await env({ VMS_MQTT_PORT: String(await freePort()) }))
    expect(lines[0]).toBe('PASS configuration: the VMS_* settings read')
    expect(lines[1]).toMatch(/^PASS data disk: .*free, writes/)
    expect(lines[2]).toMatch(/^PASS http port: 127\.0\.0\.1:\d+ is free$/)
    expect(lines[3]).toMatch(/^PASS broker: 127\.0\.0\.1:\d+ is free$/)
    expect(lines[4]).toMatch(/^PASS database: postgres:\/\/.*: PostgreSQL \d+/)
    expect(lines[5]).toMatch(redis ? /^PASS redis: redis:\/\/.* answers PONG$/ : /^PASS redis: not set/)
    expect(lines[6]).toBe('all 6 checks passed')
    expect(code).toBe(0)
  })

  it('exits 1 with the fix when the broker port is taken and the database is down', async () => {
    const taken = await listen()
    const down = await freePort()
    const { code, lines } = await doctor(
      await env({
        VMS_MQTT_PORT: String(taken),
        VMS_DATABASE_URL: `postgres://postgres:secret@127.0.0.1:${down}/vms`,
      }),
    )
    expect(code).toBe(1)
    expect(lines[3]).toMatch(
      new RegExp(
        `^FAIL broker: 127\\.0\\.0\\.1:${taken} is in use by another program -> fix: .*set VMS_MQTT_PORT to a free port`,
      ),
    )
    expect(lines[4]).toMatch(
      new RegExp(
        `^FAIL database: postgres://postgres:\\*\\*\\*@127\\.0\\.0\\.1:${down}/vms: .*ECONNREFUSED.* -> fix: start PostgreSQL`,
      ),
    )
    expect(lines.join('\n')).not.toContain('secret')
    expect(lines.at(-1)).toBe('2 of 6 checks failed')
  })

  it('exits 1 on a bad setting, naming it', async () => {
    const { code, lines } = await doctor(await env({ VMS_MQTT_PORT: 'eighty' }))
    expect(code).toBe(1)
    expect(lines[0]).toMatch(/^FAIL configuration: VMS_MQTT_PORT: .* -> fix: correct the setting/)
  })
})
