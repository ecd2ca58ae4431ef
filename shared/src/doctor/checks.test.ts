import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  checkCertificate,
  checkClockDrift,
  checkDisk,
  checkPortFree,
  checkTcpReachable,
  httpProbe,
  type PeerCertificate,
} from './checks.ts'

const servers: net.Server[] = []
afterAll(async () => {
  for (const s of servers) await new Promise((r) => s.close(r))
})

async function listening(server: net.Server = net.createServer((s) => s.destroy())): Promise<number> {
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as net.AddressInfo).port
}

/** A port nothing listens on (taken, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  await new Promise((r) => server.close(r))
  return port
}

const errno = (code: string) => Object.assign(new Error(code), { code })

describe('checkPortFree', () => {
  it('passes for a free port and for 0', async () => {
    const port = await closedPort()
    const r = await checkPortFree({ name: 'http port', host: '127.0.0.1', port, setting: 'VMS_HTTP_PORT' })
    expect(r).toMatchObject({ ok: true, detail: `127.0.0.1:${port} is free` })
    expect((await checkPortFree({ name: 'p', host: '127.0.0.1', port: 0, setting: 'X' })).ok).toBe(true)
  })

  it('fails for a port another program holds, naming the setting and how to find the program', async () => {
    const port = await listening()
    const r = await checkPortFree({
      name: 'http port',
      host: '127.0.0.1',
      port,
      setting: 'VMS_HTTP_PORT',
      busyHint: 'maybe the wizard',
    })
    expect(r.ok).toBe(false)
    expect(r.detail).toBe(`127.0.0.1:${port} is in use by another program`)
    expect(r.fix).toContain(`ss -ltnp 'sport = :${port}'`)
    expect(r.fix).toContain('set VMS_HTTP_PORT to a free port (maybe the wizard)')
  })

  it('passes when the holder is the service itself', async () => {
    const port = await listening()
    const r = await checkPortFree({
      name: 'http port',
      host: '127.0.0.1',
      port,
      setting: 'VMS_HTTP_PORT',
      inUseBy: async () => 'the running hub',
    })
    expect(r).toMatchObject({ ok: true, detail: `127.0.0.1:${port} is in use by the running hub` })
  })

  it('explains privileged ports and foreign addresses', async () => {
    const low = await checkPortFree({
      name: 'p',
      host: '0.0.0.0',
      port: 80,
      setting: 'VMS_HTTP_PORT',
      listen: async () => errno('EACCES'),
    })
    expect(low).toMatchObject({
      ok: false,
      fix: 'set VMS_HTTP_PORT to a port above 1023 (or put a reverse proxy in front)',
    })
    const foreign = await checkPortFree({
      name: 'p',
      host: '10.9.9.9',
      port: 8080,
      setting: 'VMS_HTTP_PORT',
      listen: async () => errno('EADDRNOTAVAIL'),
    })
    expect(foreign.ok).toBe(false)
    expect(foreign.detail).toBe('10.9.9.9 is not an address of this machine')
  })
})

describe('checkTcpReachable', () => {
  it('passes when something accepts the connection', async () => {
    const port = await listening()
    const r = await checkTcpReachable({ name: 'camera A', host: '127.0.0.1', port, fix: 'power it' })
    expect(r.ok).toBe(true)
    expect(r.detail).toMatch(new RegExp(`^127\\.0\\.0\\.1:${port} accepts connections \\(\\d+ ms\\)$`))
  })

  it('fails with the error and the fix when nothing listens', async () => {
    const port = await closedPort()
    const r = await checkTcpReachable({ name: 'camera B', host: '127.0.0.1', port, fix: 'check the camera' })
    expect(r).toMatchObject({ ok: false, fix: 'check the camera' })
    expect(r.detail).toContain(`127.0.0.1:${port} cannot be reached`)
    expect(r.detail).toContain('ECONNREFUSED')
  })

  it('fails on a timeout', async () => {
    const r = await checkTcpReachable({
      name: 'camera C',
      host: '192.0.2.1',
      port: 554,
      fix: 'f',
      connect: async () => {
        throw new Error('no answer within 3000 ms')
      },
    })
    expect(r.detail).toBe('192.0.2.1:554 cannot be reached: no answer within 3000 ms')
  })
})

describe('checkDisk', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'vms-doctor-disk-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const base = {
    name: 'recordings disk',
    dir,
    setting: 'VMS_AGENT_RECORDINGS_DIR',
    minFreeBytes: 0,
    minWriteBytesPerSecond: 0,
  }

  it('measures free space and a synced write, and leaves nothing behind', async () => {
    const r = await checkDisk({ ...base, writeBytes: 64 * 1024 })
    expect(r.ok).toBe(true)
    expect(r.detail).toMatch(/free, writes [\d.]+ MiB\/s \(65536 B with fsync\)$/)
    expect(readdirSync(dir)).toEqual([])
  })

  it('measures a folder not created yet on its parent, and says so', async () => {
    const r = await checkDisk({ ...base, dir: path.join(dir, 'a', 'b'), writeBytes: 1024 })
    expect(r.ok).toBe(true)
    expect(r.detail).toContain(`(not created yet; measured on ${dir})`)
  })

  it('fails below the free-space floor', async () => {
    const r = await checkDisk({
      ...base,
      minFreeBytes: 1024 ** 3,
      statfs: async () => ({ bavail: 1000, bsize: 4096 }),
      writeBytes: 1024,
    })
    expect(r.ok).toBe(false)
    expect(r.detail).toContain('less than the 1.0 GiB needed')
    expect(r.fix).toBe(
      'free space on that disk, or set VMS_AGENT_RECORDINGS_DIR to a folder on a bigger disk',
    )
  })

  it('fails a disk slower than needed (clock and write injected)', async () => {
    let t = 0
    const r = await checkDisk({
      ...base,
      minWriteBytesPerSecond: 1024 * 1024,
      writeBytes: 1024 * 1024,
      now: () => t,
      write: async () => {
        t += 4000 // 1 MiB in 4 s
      },
    })
    expect(r.ok).toBe(false)
    expect(r.detail).toContain('writes 0.3 MiB/s')
    expect(r.detail).toContain('slower than the 1.0 MiB/s needed')
    expect(r.fix).toContain('use a faster or less busy disk')
  })

  it('fails a folder it cannot write, with the chown fix', async () => {
    const r = await checkDisk({
      ...base,
      write: async () => {
        throw Object.assign(new Error('permission denied'), { code: 'EACCES' })
      },
    })
    expect(r.ok).toBe(false)
    expect(r.detail).toContain('cannot write: permission denied (EACCES)')
    expect(r.fix).toContain('chown -R vms:vms')
  })
})

describe('checkCertificate', () => {
  const now = Date.parse('2026-06-01T00:00:00Z')
  const cert = (over: Partial<PeerCertificate> = {}): PeerCertificate => ({
    fingerprint256: 'AA:BB:CC',
    subject: 'hub.example',
    validFrom: new Date('2026-01-01T00:00:00Z'),
    validTo: new Date('2027-01-01T00:00:00Z'),
    authorized: true,
    ...over,
  })
  const check = (c: PeerCertificate | Error, url = 'https://hub.example') =>
    checkCertificate({
      name: 'hub certificate',
      url,
      now: () => now,
      inspect: async () => {
        if (c instanceof Error) throw c
        return c
      },
    })

  it('says plain http is not TLS', async () => {
    const r = await checkCertificate({ name: 'hub certificate', url: 'http://127.0.0.1:8080' })
    expect(r).toMatchObject({
      ok: true,
      detail: 'http://127.0.0.1:8080 is not TLS (plain http): no certificate to check',
    })
  })

  it('gives the fingerprint and expiry of a good certificate', async () => {
    const r = await check(cert())
    expect(r).toMatchObject({
      ok: true,
      detail:
        'hub.example:443: TLS, certificate "hub.example" SHA-256 AA:BB:CC, expires 2027-01-01 (214 days left)',
    })
  })

  it('fails expired, nearly expired, not yet valid and untrusted certificates', async () => {
    const expired = await check(cert({ validTo: new Date('2026-05-01T00:00:00Z') }))
    expect(expired).toMatchObject({ ok: false, fix: 'renew the certificate on the server' })
    expect(expired.detail).toContain('(expired 31 days ago)')
    const soon = await check(cert({ validTo: new Date('2026-06-03T00:00:00Z') }))
    expect(soon).toMatchObject({ ok: false, fix: 'renew the certificate on the server now' })
    const future = await check(cert({ validFrom: new Date('2026-07-01T00:00:00Z') }))
    expect(future.fix).toContain('timedatectl')
    const untrusted = await check(
      cert({ authorized: false, authorizationError: 'SELF_SIGNED_CERT_IN_CHAIN' }),
    )
    expect(untrusted.ok).toBe(false)
    expect(untrusted.detail).toContain('not trusted: SELF_SIGNED_CERT_IN_CHAIN')
    expect(untrusted.fix).toContain('NODE_EXTRA_CA_CERTS')
  })

  it('fails when there is no TLS handshake', async () => {
    const r = await check(new Error('ECONNREFUSED'), 'https://hub.example:8443')
    expect(r).toMatchObject({ ok: false, detail: 'hub.example:8443: no TLS handshake: ECONNREFUSED' })
  })
})

describe('clock drift', () => {
  const probe = (localMs: number, serverMs: number) => ({
    status: 200,
    date: new Date(Math.floor(serverMs / 1000) * 1000),
    sentAt: localMs - 10,
    receivedAt: localMs + 10,
  })

  it('passes within the bound', () => {
    const r = checkClockDrift({ name: 'clock', probe: probe(1_000_000_500, 1_000_000_500), peer: 'the hub' })
    expect(r).toMatchObject({ ok: true, detail: 'this machine is 0.0 s ahead of the hub (±1 s)' })
  })

  it('fails beyond it, with the time-sync fix', () => {
    const r = checkClockDrift({
      name: 'clock',
      probe: probe(1_000_000_500 - 60_000, 1_000_000_500),
      peer: 'the hub',
    })
    expect(r.ok).toBe(false)
    expect(r.detail).toBe('this machine is 60.0 s behind the hub (±1 s); more than 5 s')
    expect(r.fix).toContain('timedatectl set-ntp true')
  })

  it('fails without a Date header', () => {
    const r = checkClockDrift({
      name: 'clock',
      probe: { status: 200, date: undefined, sentAt: 0, receivedAt: 0 },
      peer: 'the hub',
    })
    expect(r.ok).toBe(false)
  })

  it('reads a real server', async () => {
    const server = http.createServer((_req, res) => res.end('ok'))
    const port = await listening(server)
    const p = await httpProbe(`http://127.0.0.1:${port}/healthz`)
    expect(p.status).toBe(200)
    expect(checkClockDrift({ name: 'clock', probe: p, peer: 'the test server' }).ok).toBe(true)
  })
})
