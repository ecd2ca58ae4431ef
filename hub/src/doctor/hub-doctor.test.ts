import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { runChecks } from '@ts-vms/shared'
import { afterAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../config/config.ts'
import {
  checkEmbeddedDatabase,
  checkExternalDatabase,
  checkRedis,
  postgresVersion,
  redactUrl,
  redisPing,
} from './hub-checks.ts'
import { hubDoctorChecks, runHubDoctor } from './hub-doctor.ts'

const dirs: string[] = []
const tempDir = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'vms-hub-doctor-'))
  dirs.push(d)
  return d
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

async function closedPort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  await new Promise((r) => server.close(r))
  return port
}
const coded = (message: string, code: string) => Object.assign(new Error(message), { code })

describe('database', () => {
  it('passes with the server version, the password hidden', async () => {
    const r = await checkExternalDatabase(
      'postgres://vms:secret@db:5432/vms',
      async () => 'PostgreSQL 16.2 on x86_64',
    )
    expect(r).toEqual({
      name: 'database',
      ok: true,
      detail: 'postgres://vms:***@db:5432/vms: PostgreSQL 16.2',
    })
  })

  it('names the fix for a bad password, a missing database and a server that is down', async () => {
    const url = 'postgres://vms:secret@db/vms'
    const password = await checkExternalDatabase(url, async () => {
      throw coded('password authentication failed for user "vms"', '28P01')
    })
    expect(password).toMatchObject({
      ok: false,
      fix: 'check the user and password in VMS_DATABASE_URL (and pg_hba.conf on the server)',
    })
    expect(password.detail).not.toContain('secret')
    const missing = await checkExternalDatabase(url, async () => {
      throw coded('database "vms" does not exist', '3D000')
    })
    expect(missing.fix).toContain('createdb')
    const down = await checkExternalDatabase(url, async () => {
      throw coded('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')
    })
    expect(down.fix).toContain('systemctl status postgresql')
  })

  it('really connects (and really fails on a closed port)', async () => {
    const port = await closedPort()
    const r = await checkExternalDatabase(`postgres://postgres@127.0.0.1:${port}/postgres`, (u) =>
      postgresVersion(u, 2000),
    )
    expect(r.ok).toBe(false)
    expect(r.detail).toContain('ECONNREFUSED')
    const server = process.env.VMS_TEST_DATABASE_URL
    if (server) expect(await checkExternalDatabase(server)).toMatchObject({ ok: true })
  })

  it('describes the embedded database: new, existing, held by a running hub', () => {
    const dir = tempDir()
    expect(checkEmbeddedDatabase(dir).detail).toContain('created in')
    mkdirSync(path.join(dir, 'pgdata'))
    expect(checkEmbeddedDatabase(dir)).toMatchObject({
      ok: true,
      detail: `embedded (PGlite) in ${path.join(dir, 'pgdata')}`,
    })
    writeFileSync(path.join(dir, 'hub.lock'), String(process.ppid))
    expect(checkEmbeddedDatabase(dir).detail).toContain(`in use by the running hub (process ${process.ppid})`)
  })
})

describe('redis', () => {
  it('passes when unset, and when it answers', async () => {
    expect(await checkRedis(undefined)).toMatchObject({ ok: true })
    expect(await checkRedis('redis://:pw@cache:6379', async () => 'PONG')).toEqual({
      name: 'redis',
      ok: true,
      detail: 'redis://:***@cache:6379 answers PONG',
    })
  })

  it('fails with the fix when it does not answer', async () => {
    const port = await closedPort()
    const r = await checkRedis(`redis://127.0.0.1:${port}`, (u) => redisPing(u, 1000))
    expect(r.ok).toBe(false)
    expect(r.fix).toContain('systemctl status redis-server')
    const url = process.env.VMS_TEST_REDIS_URL
    if (url)
      expect(await checkRedis(url)).toMatchObject({ ok: true, detail: `${redactUrl(url)} answers PONG` })
  })
})

describe('hubDoctorChecks', () => {
  const base = (more: Record<string, unknown> = {}) =>
    loadConfig({}, { VMS_DATA_DIR: tempDir(), VMS_HTTP_PORT: 8080, VMS_MQTT_PORT: 8883, ...more })
  const inUse = async () => Object.assign(new Error('in use'), { code: 'EADDRINUSE' })
  const io = { postgresVersion: async () => 'PostgreSQL 16.2', redisPing: async () => 'PONG' }

  it('passes ports held by the running hub itself', async () => {
    const results = await runChecks(
      hubDoctorChecks(base(), { ...io, listen: inUse, hubAnswers: async () => true }),
    )
    expect(results.map((r) => [r.name, r.ok])).toEqual([
      ['data disk', true],
      ['http port', true],
      ['broker', true],
      ['database', true],
      ['redis', true],
    ])
    expect(results[1]?.detail).toBe('127.0.0.1:8080 is in use by the running hub (it answers /healthz)')
    expect(results[2]?.detail).toBe("127.0.0.1:8883 is in use by the running hub's embedded broker")
  })

  it('fails ports another program holds', async () => {
    const results = await runChecks(
      hubDoctorChecks(base(), { ...io, listen: inUse, hubAnswers: async () => false }),
    )
    const broker = results.find((r) => r.name === 'broker')
    expect(broker).toMatchObject({ ok: false, detail: '127.0.0.1:8883 is in use by another program' })
    expect(broker?.fix).toContain('set VMS_MQTT_PORT to a free port')
  })

  it('connects to an external broker and checks the public certificate', async () => {
    const config = base({
      VMS_MQTT_URL: 'mqtts://hub:pw@broker.example:8884',
      VMS_PUBLIC_URL: 'http://vms.example',
    })
    const results = await runChecks(
      hubDoctorChecks(config, {
        ...io,
        listen: async () => undefined,
        connect: async () => {
          throw new Error('connect ECONNREFUSED')
        },
      }),
    )
    const broker = results.find((r) => r.name === 'broker')
    expect(broker).toMatchObject({
      ok: false,
      detail: 'broker.example:8884 cannot be reached: connect ECONNREFUSED',
    })
    expect(broker?.fix).toContain('mqtts://hub:***@broker.example:8884')
    expect(results.find((r) => r.name === 'public certificate')?.detail).toContain('is not TLS')
  })

  it('reports a bad configuration as failed lines', async () => {
    const out: string[] = []
    const code = await runHubDoctor(
      () => loadConfig({ VMS_HTTP_PORT: 'eighty' }),
      (l) => out.push(l),
    )
    expect(code).toBe(1)
    expect(out[0]).toMatch(
      /^FAIL configuration: VMS_HTTP_PORT: .* -> fix: correct the setting in the environment/,
    )
  })
})

describe('a real TLS server (the broker certificate)', () => {
  it('gives its fingerprint and expiry, fails it as untrusted, passes it when pinned', async () => {
    const { loadBrokerTls } = await import('../mqtt/tls-cert.ts')
    const tls = await import('node:tls')
    const { checkCertificate } = await import('@ts-vms/shared')
    const material = await loadBrokerTls(tempDir())
    const server = tls.createServer({ cert: material.cert, key: material.key }, (s) => s.end())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as net.AddressInfo).port
    try {
      const untrusted = await checkCertificate({
        name: 'public certificate',
        url: `https://127.0.0.1:${port}`,
      })
      expect(untrusted.ok).toBe(false)
      expect(untrusted.detail).toContain(`SHA-256 ${material.fingerprint}`)
      expect(untrusted.detail).toMatch(/expires \d{4}-\d{2}-\d{2}; not trusted: /)
      expect(untrusted.fix).toContain('NODE_EXTRA_CA_CERTS')
      const pinned = await checkCertificate({
        name: 'broker certificate',
        url: `mqtts://127.0.0.1:${port}`,
        pinned: true,
      })
      expect(pinned.ok).toBe(true)
      expect(pinned.detail).toMatch(/days left\)$/)
    } finally {
      await new Promise((r) => server.close(r))
    }
  })
})
