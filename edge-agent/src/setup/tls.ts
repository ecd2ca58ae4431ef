import { hostname, networkInterfaces } from 'node:os'
import { loadSelfSignedTls } from '@ts-vms/shared/tls'

/**
 * The wizard's certificate when it listens beyond loopback: self-signed, generated into the data
 * dir once (so its fingerprint stays the same across restarts) and printed at start, so the
 * installer can check what the browser shows before typing the PIN. Made as the hub makes
 * its broker's (shared/src/crypto/self-signed.ts).
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
  const ips = Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && !a.internal)
    .map((a) => (a as { address: string }).address)
  return loadSelfSignedTls({
    dir: dataDir,
    certName: 'setup-cert.pem',
    keyName: 'setup-key.pem',
    commonName: `ts-vms-agent setup ${hostname()}`,
    validYears: 5,
    ips,
  })
}
