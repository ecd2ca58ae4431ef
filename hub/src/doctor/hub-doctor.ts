import {
  type Check,
  checkCertificate,
  checkDisk,
  checkFailed,
  checkPassed,
  checkPortFree,
  checkTcpReachable,
  type peerCertificate,
  runDoctor,
  type tcpConnect,
  type tryListen,
} from '@ts-vms/shared'
import { ConfigError, type HubConfig } from '../config/config.ts'
import { checkEmbeddedDatabase, checkExternalDatabase, checkRedis, redactUrl } from './hub-checks.ts'

const MiB = 1024 * 1024

/** What the checks reach the world through (tests replace parts). */
export interface HubDoctorIo {
  connect?: typeof tcpConnect
  listen?: typeof tryListen
  inspect?: typeof peerCertificate
  postgresVersion?: (url: string) => Promise<string>
  redisPing?: (url: string) => Promise<string>
  /** Does a TS-VMS hub answer at this HTTP address (then its ports are taken by the right program)? */
  hubAnswers?: (host: string, port: number) => Promise<boolean>
}

async function hubAnswers(host: string, port: number): Promise<boolean> {
  const h = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host
  try {
    const res = await fetch(`http://${h.includes(':') ? `[${h}]` : h}:${port}/healthz`, {
      signal: AbortSignal.timeout(2000),
    })
    const body = (await res.json()) as { status?: unknown }
    return res.status === 200 && body.status === 'ok'
  } catch {
    return false
  }
}

/**
 * The hub's checks, in the order they print: its data folder, its HTTP port, its broker (embedded:
 * the port is free; external: it accepts connections), the database, Redis, and the public
 * address's certificate when VMS_PUBLIC_URL is set. Ports held by the running hub itself pass.
 */
export function hubDoctorChecks(config: HubConfig, io: HubDoctorIo = {}): Check[] {
  const httpHost = config.VMS_HTTP_HOST
  const httpPort = config.VMS_HTTP_PORT
  let running: Promise<boolean> | undefined
  const hubRunning = () => {
    running ??= httpPort > 0 ? (io.hubAnswers ?? hubAnswers)(httpHost, httpPort) : Promise.resolve(false)
    return running
  }
  const listen = io.listen ? { listen: io.listen } : {}
  const checks: Check[] = [
    {
      name: 'data disk',
      run: () =>
        checkDisk({
          name: 'data disk',
          dir: config.VMS_DATA_DIR,
          setting: 'VMS_DATA_DIR',
          minFreeBytes: 1024 * MiB,
          minWriteBytesPerSecond: MiB,
        }),
    },
    {
      name: 'http port',
      run: () =>
        checkPortFree({
          name: 'http port',
          host: httpHost,
          port: httpPort,
          setting: 'VMS_HTTP_PORT',
          inUseBy: async () => ((await hubRunning()) ? 'the running hub (it answers /healthz)' : undefined),
          ...listen,
        }),
    },
  ]
  const external = config.VMS_MQTT_URL
  if (external) {
    checks.push({
      name: 'broker',
      run: () => {
        const u = new URL(external)
        return checkTcpReachable({
          name: 'broker',
          host: u.hostname.replace(/^\[|\]$/g, ''),
          port: u.port ? Number(u.port) : u.protocol === 'mqtts:' ? 8883 : 1883,
          ...(io.connect ? { connect: io.connect } : {}),
          fix: `start the external broker (Mosquitto: systemctl status mosquitto) and check VMS_MQTT_URL (${redactUrl(external)})`,
        })
      },
    })
  } else {
    checks.push({
      name: 'broker',
      run: () =>
        checkPortFree({
          name: 'broker',
          host: config.VMS_MQTT_HOST ?? httpHost,
          port: config.VMS_MQTT_PORT,
          setting: 'VMS_MQTT_PORT',
          inUseBy: async () => ((await hubRunning()) ? "the running hub's embedded broker" : undefined),
          ...listen,
        }),
    })
  }
  const databaseUrl = config.VMS_DATABASE_URL
  checks.push(
    {
      name: 'database',
      run: () =>
        databaseUrl
          ? checkExternalDatabase(databaseUrl, io.postgresVersion)
          : checkEmbeddedDatabase(config.VMS_DATA_DIR),
    },
    { name: 'redis', run: () => checkRedis(config.VMS_REDIS_URL, io.redisPing) },
  )
  const publicUrl = config.VMS_PUBLIC_URL
  if (publicUrl) {
    checks.push({
      name: 'public certificate',
      run: () =>
        checkCertificate({
          name: 'public certificate',
          url: publicUrl,
          ...(io.inspect ? { inspect: io.inspect } : {}),
        }),
    })
  }
  return checks
}

/**
 * `npm run hub -- doctor`: reads the configuration (a bad setting is a failed line, and the other
 * checks need it), then prints one line per check; the exit code is 1 when one failed.
 */
export async function runHubDoctor(
  load: () => HubConfig,
  print?: (line: string) => void,
  io: HubDoctorIo = {},
): Promise<number> {
  let config: HubConfig
  try {
    config = load()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    const issues = err.issues
    return runDoctor(
      issues.map((issue) => ({
        name: 'configuration',
        run: () =>
          checkFailed(
            'configuration',
            issue,
            'correct the setting in the environment (/etc/ts-vms/hub.env) or VMS_CONFIG',
          ),
      })),
      print,
    )
  }
  return runDoctor(
    [
      { name: 'configuration', run: () => checkPassed('configuration', 'the VMS_* settings read') },
      ...hubDoctorChecks(config, io),
    ],
    print,
  )
}
