import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { loadSelfSignedTls, readTls } from '@ts-vms/shared/tls'

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
    return readTls(readFileSync(certFile, 'utf8'), readFileSync(keyFile, 'utf8'))
  }
  return loadSelfSignedTls({
    dir: dataDir,
    certName: 'mqtt-cert.pem',
    keyName: 'mqtt-key.pem',
    commonName: `ts-vms-hub ${hostname()}`,
    validYears: 20,
  })
}
