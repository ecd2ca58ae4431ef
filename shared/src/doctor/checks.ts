import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { access, open, statfs, unlink } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import tls from 'node:tls'
import { type CheckResult, checkFailed, checkPassed, errorText } from './report.ts'

/** Checks both doctors run (ports, TCP reachability, a disk, a TLS certificate, a server's clock). */

const MiB = 1024 * 1024

export const formatBytes = (n: number): string => {
  if (n >= 1024 ** 4) return `${(n / 1024 ** 4).toFixed(1)} TiB`
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`
  return `${n} B`
}

/** `host:port` with IPv6 in brackets. */
export const hostPort = (host: string, port: number) =>
  host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`

/** Listens on `host:port` and closes again; resolves undefined when it could, else the error. */
export function tryListen(host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err))
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)))
  })
}

export interface PortCheckOptions {
  name: string
  host: string
  port: number
  /** The setting that chooses the port (named in the fix). */
  setting: string
  /** Asked when the port is taken: a description of our own running service, or undefined. */
  inUseBy?: () => Promise<string | undefined>
  /** Added to the fix when the port is taken (who usually holds it). */
  busyHint?: string
  listen?: typeof tryListen
}

/** The port a service is about to listen on is free (or held by that very service, running). */
export async function checkPortFree(o: PortCheckOptions): Promise<CheckResult> {
  const where = hostPort(o.host, o.port)
  if (o.port === 0) return checkPassed(o.name, `${o.setting}=0: a free port is chosen at start`)
  const err = await (o.listen ?? tryListen)(o.host, o.port)
  if (!err) return checkPassed(o.name, `${where} is free`)
  if (err.code === 'EADDRINUSE') {
    const owner = await o.inUseBy?.().catch(() => undefined)
    if (owner) return checkPassed(o.name, `${where} is in use by ${owner}`)
    return checkFailed(
      o.name,
      `${where} is in use by another program`,
      `find it with \`ss -ltnp 'sport = :${o.port}'\` and stop it, or set ${o.setting} to a free port${o.busyHint ? ` (${o.busyHint})` : ''}`,
    )
  }
  if (err.code === 'EACCES') {
    return checkFailed(
      o.name,
      `${where}: not allowed to listen (ports below 1024 need privileges)`,
      `set ${o.setting} to a port above 1023 (or put a reverse proxy in front)`,
    )
  }
  if (err.code === 'EADDRNOTAVAIL') {
    return checkFailed(
      o.name,
      `${o.host} is not an address of this machine`,
      'listen on an address of this machine (or 0.0.0.0)',
    )
  }
  return checkFailed(o.name, `${where}: ${errorText(err)}`, `set ${o.setting} to a free port`)
}

/** Opens a TCP connection and closes it: resolves the milliseconds it took, rejects with the error. */
export function tcpConnect(host: string, port: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const socket = net.connect({ host, port })
    socket.setTimeout(timeoutMs)
    socket.once('connect', () => {
      socket.destroy()
      resolve(Math.round(performance.now() - started))
    })
    socket.once('timeout', () => {
      socket.destroy()
      reject(new Error(`no answer within ${timeoutMs} ms`))
    })
    socket.once('error', (err) => {
      socket.destroy()
      reject(err)
    })
  })
}

export interface ReachableOptions {
  name: string
  host: string
  port: number
  /** What to do when it cannot be reached. */
  fix: string
  timeoutMs?: number
  connect?: typeof tcpConnect
}

/** A TCP service answers (no protocol, no credentials: only that something accepts the connection). */
export async function checkTcpReachable(o: ReachableOptions): Promise<CheckResult> {
  const where = hostPort(o.host, o.port)
  try {
    const ms = await (o.connect ?? tcpConnect)(o.host, o.port, o.timeoutMs ?? 3000)
    return checkPassed(o.name, `${where} accepts connections (${ms} ms)`)
  } catch (err) {
    return checkFailed(o.name, `${where} cannot be reached: ${errorText(err)}`, o.fix)
  }
}

export interface DiskCheckOptions {
  name: string
  dir: string
  /** The setting that chooses the folder (named in the fixes). */
  setting: string
  /** Less free space than this fails. */
  minFreeBytes: number
  /** A slower measured write (with fsync) fails. */
  minWriteBytesPerSecond: number
  /** Bytes written and synced to measure the speed (bounded: 4 MiB by default). */
  writeBytes?: number
  now?: () => number
  statfs?: (dir: string) => Promise<{ bavail: number; bsize: number }>
  /** Writes `bytes` to `file` and fsyncs it (tests replace it). */
  write?: (file: string, bytes: Buffer) => Promise<void>
}

async function writeSynced(file: string, bytes: Buffer): Promise<void> {
  const handle = await open(file, 'wx', 0o600)
  try {
    let offset = 0
    while (offset < bytes.length) offset += (await handle.write(bytes, offset)).bytesWritten
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** The nearest folder of `dir` (itself or a parent) that exists. */
async function existingAncestor(dir: string): Promise<string> {
  let current = path.resolve(dir)
  for (;;) {
    try {
      await access(current, constants.F_OK)
      return current
    } catch {
      const parent = path.dirname(current)
      if (parent === current) return current
      current = parent
    }
  }
}

/**
 * Free space and write speed of a folder: a small bounded write, fsynced, timed, then deleted.
 * A folder not created yet (the service creates it at its first start) is measured on its
 * nearest existing parent, and the line says so.
 */
export async function checkDisk(o: DiskCheckOptions): Promise<CheckResult> {
  const now = o.now ?? (() => performance.now())
  const dir = await existingAncestor(o.dir)
  const where = dir === path.resolve(o.dir) ? o.dir : `${o.dir} (not created yet; measured on ${dir})`
  let free: number
  try {
    const s = await (o.statfs ?? statfs)(dir)
    free = s.bavail * s.bsize
  } catch (err) {
    return checkFailed(
      o.name,
      `${where}: cannot read the free space: ${errorText(err)}`,
      `check ${o.setting}`,
    )
  }
  const file = path.join(dir, `.vms-doctor-${process.pid}-${randomBytes(4).toString('hex')}.tmp`)
  const size = o.writeBytes ?? 4 * MiB
  let seconds: number
  try {
    const started = now()
    await (o.write ?? writeSynced)(file, randomBytes(size))
    seconds = Math.max((now() - started) / 1000, 1e-6)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const fix =
      code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
        ? `run the doctor as the service's user (sudo -u vms ...) and give that user the folder (chown -R vms:vms ${dir}), or set ${o.setting}`
        : code === 'ENOSPC'
          ? `free space on that disk, or set ${o.setting} to a folder on a bigger disk`
          : `check the disk, or set ${o.setting} to another folder`
    return checkFailed(o.name, `${where}: cannot write: ${errorText(err)}`, fix)
  } finally {
    await unlink(file).catch(() => {})
  }
  const speed = size / seconds
  const detail = `${where}: ${formatBytes(free)} free, writes ${(speed / MiB).toFixed(1)} MiB/s (${formatBytes(size)} with fsync)`
  if (free < o.minFreeBytes) {
    return checkFailed(
      o.name,
      `${detail}; less than the ${formatBytes(o.minFreeBytes)} needed`,
      `free space on that disk, or set ${o.setting} to a folder on a bigger disk`,
    )
  }
  if (speed < o.minWriteBytesPerSecond) {
    return checkFailed(
      o.name,
      `${detail}; slower than the ${(o.minWriteBytesPerSecond / MiB).toFixed(1)} MiB/s needed`,
      `use a faster or less busy disk (set ${o.setting}); network shares and SD cards are often too slow`,
    )
  }
  return checkPassed(o.name, detail)
}

export interface PeerCertificate {
  fingerprint256: string
  subject: string
  validFrom: Date
  validTo: Date
  /** Trusted by this machine's CA store (and valid for the host name). */
  authorized: boolean
  authorizationError?: string
}

/** The TLS certificate a server presents (not verified here: the caller reports `authorized`). */
export function peerCertificate(host: string, port: number, timeoutMs = 5000): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      rejectUnauthorized: false,
      ...(net.isIP(host) ? {} : { servername: host }),
    })
    socket.setTimeout(timeoutMs)
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate()
      socket.destroy()
      if (!cert?.fingerprint256) return reject(new Error('the server presented no certificate'))
      resolve({
        fingerprint256: cert.fingerprint256,
        subject: cert.subject?.CN ? String(cert.subject.CN) : '',
        validFrom: new Date(cert.valid_from),
        validTo: new Date(cert.valid_to),
        authorized: socket.authorized,
        ...(socket.authorizationError ? { authorizationError: String(socket.authorizationError) } : {}),
      })
    })
    socket.once('timeout', () => {
      socket.destroy()
      reject(new Error(`no TLS handshake within ${timeoutMs} ms`))
    })
    socket.once('error', (err) => {
      socket.destroy()
      reject(err)
    })
  })
}

export interface CertificateCheckOptions {
  name: string
  /** An http(s):// or mqtt(s):// address. */
  url: string
  /** Days before expiry from which the check fails (renew before then). */
  minDaysLeft?: number
  now?: () => number
  inspect?: typeof peerCertificate
  /** Certificates this program pins itself (a private CA): then the system's trust does not matter. */
  pinned?: boolean
}

const DAY_MS = 86_400_000

/** A server's certificate: its fingerprint and expiry, trusted, not expired; plain http/mqtt says so. */
export async function checkCertificate(o: CertificateCheckOptions): Promise<CheckResult> {
  const u = new URL(o.url)
  const secure = u.protocol === 'https:' || u.protocol === 'mqtts:'
  if (!secure) {
    return checkPassed(
      o.name,
      `${u.origin === 'null' ? o.url : u.origin} is not TLS (plain ${u.protocol.replace(':', '')}): no certificate to check`,
    )
  }
  const defaultPort = u.protocol === 'https:' ? 443 : 8883
  const host = u.hostname.replace(/^\[|\]$/g, '')
  const port = u.port ? Number(u.port) : defaultPort
  let cert: PeerCertificate
  try {
    cert = await (o.inspect ?? peerCertificate)(host, port)
  } catch (err) {
    return checkFailed(
      o.name,
      `${hostPort(host, port)}: no TLS handshake: ${errorText(err)}`,
      `check that ${o.url} is the right address and serves TLS`,
    )
  }
  const now = (o.now ?? Date.now)()
  const daysLeft = Math.floor((cert.validTo.getTime() - now) / DAY_MS)
  const detail = `${hostPort(host, port)}: TLS, certificate ${cert.subject ? `"${cert.subject}" ` : ''}SHA-256 ${cert.fingerprint256}, expires ${cert.validTo.toISOString().slice(0, 10)}`
  if (cert.validTo.getTime() <= now) {
    return checkFailed(
      o.name,
      `${detail} (expired ${-daysLeft} days ago)`,
      'renew the certificate on the server',
    )
  }
  if (cert.validFrom.getTime() > now) {
    return checkFailed(
      o.name,
      `${detail} (not valid before ${cert.validFrom.toISOString()})`,
      "check this machine's clock (timedatectl), then the certificate's dates",
    )
  }
  if (daysLeft < (o.minDaysLeft ?? 7)) {
    return checkFailed(o.name, `${detail} (${daysLeft} days left)`, 'renew the certificate on the server now')
  }
  if (!cert.authorized && !o.pinned) {
    return checkFailed(
      o.name,
      `${detail}; not trusted: ${cert.authorizationError ?? 'unknown issuer'}`,
      'give the server a certificate from a CA this machine trusts (or add its CA: NODE_EXTRA_CA_CERTS=/path/ca.pem)',
    )
  }
  return checkPassed(o.name, `${detail} (${daysLeft} days left)`)
}

export interface HttpProbe {
  status: number
  /** The server's Date header (1 s resolution), if it sent one. */
  date: Date | undefined
  /** Local clock when the request left and when its answer came (ms since the epoch). */
  sentAt: number
  receivedAt: number
}

/** GETs `url` once (a health endpoint), with a timeout; rejects when nothing answers. */
export async function httpProbe(
  url: string,
  timeoutMs = 5000,
  now: () => number = Date.now,
): Promise<HttpProbe> {
  const sentAt = now()
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' })
  const receivedAt = now()
  await res.body?.cancel()
  const header = res.headers.get('date')
  const date = header ? new Date(header) : undefined
  return {
    status: res.status,
    date: date && !Number.isNaN(date.getTime()) ? date : undefined,
    sentAt,
    receivedAt,
  }
}

/**
 * This machine's clock against a server's Date header. The header has 1 s resolution, so the
 * server's time is taken as the middle of its second, against the middle of the round trip here.
 */
export function checkClockDrift(o: {
  name: string
  probe: HttpProbe
  /** Wider drift fails. */
  maxDriftMs?: number
  /** Whose clock (for the line): `the hub`. */
  peer: string
}): CheckResult {
  const max = o.maxDriftMs ?? 5000
  if (!o.probe.date) {
    return checkFailed(
      o.name,
      `${o.peer} sent no Date header: the drift cannot be measured`,
      `check that the address is ${o.peer}'s`,
    )
  }
  const local = (o.probe.sentAt + o.probe.receivedAt) / 2
  const drift = local - (o.probe.date.getTime() + 500)
  const rounded = Math.round(drift / 100) / 10
  const direction = drift >= 0 ? 'ahead of' : 'behind'
  const detail = `this machine is ${Math.abs(rounded).toFixed(1)} s ${direction} ${o.peer} (±1 s)`
  if (Math.abs(drift) > max) {
    return checkFailed(
      o.name,
      `${detail}; more than ${max / 1000} s`,
      `turn on time synchronisation on this machine and on ${o.peer}: timedatectl set-ntp true (systemd-timesyncd or chrony)`,
    )
  }
  return checkPassed(o.name, detail)
}
