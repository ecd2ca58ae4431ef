import { X509Certificate } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { hostname, networkInterfaces } from 'node:os'
import path from 'node:path'
import { generate } from 'selfsigned'

/**
 * The wizard's certificate when it listens beyond loopback: self-signed, generated into the data
 * dir once (so its fingerprint stays the same across restarts) and printed at start, so the
 * installer can check what the browser shows before typing the PIN. Made the way the hub makes
 * its broker's (hub/src/mqtt/tls-cert.ts).
 */
export interface SetupTls {
  cert: string
  key: string
  /** SHA-256, colon-separated hex (as browsers show it). */
  fingerprint: string
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h)
}

export async function loadSetupTls(dataDir: string): Promise<SetupTls> {
  const certPath = path.join(dataDir, 'setup-cert.pem')
  const keyPath = path.join(dataDir, 'setup-key.pem')
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    const now = new Date()
    const ips = Object.values(networkInterfaces())
      .flat()
      .filter((a) => a && !a.internal)
      .map((a) => ({ type: 7 as const, ip: (a as { address: string }).address }))
    const pems = await generate([{ name: 'commonName', value: `ts-vms-agent setup ${hostname()}` }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notBeforeDate: new Date(now.getTime() - 3600_000),
      notAfterDate: new Date(now.getTime() + 5 * 365 * 86_400_000),
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: [
            { type: 2, value: 'localhost' },
            { type: 2, value: hostname() },
            { type: 7, ip: '127.0.0.1' },
            ...ips,
          ],
        },
      ],
    })
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    writeFileSync(keyPath, pems.private, { mode: 0o600 })
    writeFileSync(certPath, pems.cert)
  }
  const cert = readFileSync(certPath, 'utf8')
  return { cert, key: readFileSync(keyPath, 'utf8'), fingerprint: new X509Certificate(cert).fingerprint256 }
}
