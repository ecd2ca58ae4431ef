import { X509Certificate } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import path from 'node:path'
import { generate } from 'selfsigned'

/**
 * The MQTT broker's TLS certificate: the operator's (VMS_MQTT_TLS_CERT/_KEY), or one generated
 * into the data dir at first start. Agents pin it by its SHA-256 fingerprint, which they receive at
 * enrollment, so a self-signed certificate is as good as a CA-signed one here.
 */
export interface BrokerTls {
  cert: string
  key: string
  /** SHA-256 fingerprint, colon-separated hex (as X509Certificate.fingerprint256 prints it). */
  fingerprint: string
}

export async function loadBrokerTls(
  dataDir: string,
  certFile?: string,
  keyFile?: string,
): Promise<BrokerTls> {
  if (certFile || keyFile) {
    if (!certFile || !keyFile) throw new Error('VMS_MQTT_TLS_CERT and VMS_MQTT_TLS_KEY go together')
    const cert = readFileSync(certFile, 'utf8')
    return { cert, key: readFileSync(keyFile, 'utf8'), fingerprint: new X509Certificate(cert).fingerprint256 }
  }
  const certPath = path.join(dataDir, 'mqtt-cert.pem')
  const keyPath = path.join(dataDir, 'mqtt-key.pem')
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    const now = new Date()
    const pems = await generate([{ name: 'commonName', value: `ts-vms-hub ${hostname()}` }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notBeforeDate: new Date(now.getTime() - 3600_000),
      notAfterDate: new Date(now.getTime() + 20 * 365 * 86_400_000),
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
