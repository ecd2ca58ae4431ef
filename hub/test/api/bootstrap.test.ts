import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runMigrate } from '../../src/cli/migrate.ts'
import { loadConfig } from '../../src/config/config.ts'
import { startHub } from '../../src/server.ts'
import { LogCapture } from '../helpers/test-hub.ts'

/**
 * First start on embedded defaults (PGlite in the data dir): the same path `npm start` takes on a
 * fresh machine, independent of any database server.
 */
const dataDir = mkdtempSync(path.join(tmpdir(), 'vms-embedded-'))
afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

const config = (extra: Record<string, unknown> = {}) =>
  loadConfig(
    {},
    { VMS_HTTP_PORT: 0, VMS_MQTT_PORT: 0, VMS_DATA_DIR: dataDir, VMS_LOG_LEVEL: 'info', ...extra },
  )

async function login(url: string, password: string) {
  return fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ tenant: 'system', username: 'admin', password }),
  })
}

describe('first start on embedded defaults', () => {
  let password = ''
  let accessToken = ''

  it('creates the system tenant and admin, with a generated password in a 0600 file', async () => {
    const logs = new LogCapture()
    const hub = await startHub({ config: config(), logDestination: logs })
    try {
      // Really the embedded PGlite in the data dir, not some server on localhost.
      const [version] = await hub.context.db.withSystem((tx) => tx.execute('select version() as v'))
      expect(version?.v).toMatch(/PGlite/)
      expect(existsSync(path.join(dataDir, 'pgdata'))).toBe(true)
      const file = hub.bootstrap.createdAdmin?.passwordFile
      expect(file).toBe(path.join(dataDir, 'initial-admin-password'))
      expect(statSync(file as string).mode & 0o777).toBe(0o600)
      expect(statSync(path.join(dataDir, 'master.key')).mode & 0o777).toBe(0o600)
      password = readFileSync(file as string, 'utf8').trim()
      expect(password.length).toBeGreaterThanOrEqual(20)
      expect(logs.text()).not.toContain(password)
      const res = await login(hub.url, password)
      expect(res.status).toBe(200)
      accessToken = ((await res.json()) as { accessToken: string }).accessToken
      const me = await fetch(`${hub.url}/api/v1/me`, { headers: { authorization: `Bearer ${accessToken}` } })
      expect(((await me.json()) as { roles: string[] }).roles).toEqual(['system-admin'])
      expect((await fetch(`${hub.url}/readyz`)).status).toBe(200)
      // One hub per data directory.
      await expect(startHub({ config: config(), logDestination: new LogCapture() })).rejects.toThrow(/in use/)
    } finally {
      await hub.close()
    }
  })

  it('keeps everything across a restart, signing keys included', async () => {
    const hub = await startHub({ config: config(), logDestination: new LogCapture() })
    try {
      expect(hub.bootstrap.createdAdmin).toBeUndefined()
      // A later start still says where the password is, as long as it has not been changed.
      expect(hub.bootstrap.initialPasswordFile).toBe(path.join(dataDir, 'initial-admin-password'))
      const me = await fetch(`${hub.url}/api/v1/me`, { headers: { authorization: `Bearer ${accessToken}` } })
      expect(me.status).toBe(200)
      expect((await login(hub.url, password)).status).toBe(200)
    } finally {
      await hub.close()
    }
  })

  it('stops pointing at the initial password file once the admin has changed the password', async () => {
    let hub = await startHub({ config: config(), logDestination: new LogCapture() })
    const changed = `${password}-Changed-9`
    try {
      const login1 = (await (await login(hub.url, password)).json()) as { accessToken: string }
      const me = (await (
        await fetch(`${hub.url}/api/v1/me`, { headers: { authorization: `Bearer ${login1.accessToken}` } })
      ).json()) as { id: string }
      const res = await fetch(`${hub.url}/api/v1/users/${me.id}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${login1.accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ password: changed, currentPassword: password }),
      })
      expect(res.status).toBe(200)
    } finally {
      await hub.close()
    }
    hub = await startHub({ config: config(), logDestination: new LogCapture() })
    try {
      expect(hub.bootstrap.initialPasswordFile).toBeUndefined()
      expect(existsSync(path.join(dataDir, 'initial-admin-password'))).toBe(false)
      const again = await login(hub.url, changed)
      expect(again.status).toBe(200)
      accessToken = ((await again.json()) as { accessToken: string }).accessToken
      password = changed
    } finally {
      await hub.close()
    }
  })

  it('refuses to start with a master key that does not match the database', async () => {
    const wrong = randomBytes(32).toString('base64')
    await expect(
      startHub({ config: config({ VMS_MASTER_KEY: wrong }), logDestination: new LogCapture() }),
    ).rejects.toThrow(/master key/)
  })

  it('reports and reverts migrations through the migrate command', async () => {
    const env = { VMS_DATA_DIR: dataDir, VMS_LOG_LEVEL: 'error' }
    expect(await runMigrate('status', env)).toMatch(/^applied {2}Migration\d+_identity$/m)
    expect(await runMigrate('up', env)).toBe('already up to date')
    await expect(runMigrate('sideways', env)).rejects.toThrow(/usage/)
  })

  it('refuses a weak VMS_BOOTSTRAP_ADMIN_PASSWORD, naming the setting', async () => {
    const fresh = mkdtempSync(path.join(tmpdir(), 'vms-embedded-'))
    try {
      const c = loadConfig(
        {},
        { VMS_HTTP_PORT: 0, VMS_MQTT_PORT: 0, VMS_DATA_DIR: fresh, VMS_BOOTSTRAP_ADMIN_PASSWORD: 'admin123' },
      )
      await expect(startHub({ config: c, logDestination: new LogCapture() })).rejects.toThrow(
        /VMS_BOOTSTRAP_ADMIN_PASSWORD/,
      )
      expect(existsSync(path.join(fresh, 'initial-admin-password'))).toBe(false)
    } finally {
      rmSync(fresh, { recursive: true, force: true })
    }
  })
})
