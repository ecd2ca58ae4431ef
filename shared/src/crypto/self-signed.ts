import { X509Certificate } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import path from 'node:path'
import { generate } from 'selfsigned'

/**
 * A self-signed server certificate kept in a data dir: generated once (EC P-256, SHA-256), so its
 * fingerprint stays the same across restarts and whoever pins or checks it by eye keeps matching.
 * Used where the fingerprint, not a CA, is what is trusted: the hub's MQTT broker (agents pin it at
 * enrollment) and the agent's setup wizard on the LAN (the installer compares it).
 */
export interface SelfSignedTls {
  cert: string
  key: string
  /** SHA-256 fingerprint, colon-separated hex (as X509Certificate.fingerprint256 and browsers show it). */
  fingerprint: string
}

export interface SelfSignedOptions {
  dir: string
  /** File names in `dir` (the key is written 0600). */
  certName: string
  keyName: string
  commonName: string
  validYears: number
  /** Addresses besides localhost, this host's name and 127.0.0.1. */
  ips?: readonly string[]
}

export async function loadSelfSignedTls(o: SelfSignedOptions): Promise<SelfSignedTls> {
  const certPath = path.join(o.dir, o.certName)
  const keyPath = path.join(o.dir, o.keyName)
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    const now = Date.now()
    const pems = await generate([{ name: 'commonName', value: o.commonName }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notBeforeDate: new Date(now - 3600_000),
      notAfterDate: new Date(now + o.validYears * 365 * 86_400_000),
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
            ...(o.ips ?? []).map((ip) => ({ type: 7 as const, ip })),
          ],
        },
      ],
    })
    mkdirSync(o.dir, { recursive: true, mode: 0o700 })
    writeFileSync(keyPath, pems.private, { mode: 0o600 })
    writeFileSync(certPath, pems.cert)
  }
  return readTls(readFileSync(certPath, 'utf8'), readFileSync(keyPath, 'utf8'))
}

/** A certificate and key as PEM, with the certificate's fingerprint. */
export function readTls(cert: string, key: string): SelfSignedTls {
  return { cert, key, fingerprint: new X509Certificate(cert).fingerprint256 }
}
