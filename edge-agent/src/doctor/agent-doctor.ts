import path from 'node:path'
import {
  type Check,
  checkCertificate,
  checkClockDrift,
  checkDisk,
  checkFailed,
  checkPassed,
  checkPortFree,
  checkTcpReachable,
  errorText,
  type HttpProbe,
  httpProbe,
  peerCertificate,
  runDoctor,
  type tcpConnect,
  type tryListen,
} from '@ts-vms/shared'
import type { AgentSettings } from '../config.ts'
import type { Credentials } from '../credentials.ts'
import { hubFetch } from '../link/hub-tls.ts'
import { checkEnrollment, checkFfmpeg, readSavedCameras, type SavedCamera } from './agent-checks.ts'

const MiB = 1024 * 1024
/** What one camera's recording writes at most, for the disk speed check (8 Mbit/s, a busy 4K stream). */
const BYTES_PER_SECOND_PER_CAMERA = MiB

/** What the checks reach the world through (tests replace parts). */
export interface AgentDoctorIo {
  connect?: typeof tcpConnect
  listen?: typeof tryListen
  probe?: (url: string) => Promise<HttpProbe>
  inspect?: typeof peerCertificate
  ffmpegVersion?: (file: string) => Promise<string>
  now?: () => number
}

/** Is the agent itself answering on its metrics port (then the port is taken by the right program)? */
async function agentMetricsAnswer(host: string, port: number): Promise<string | undefined> {
  const h = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host
  const res = await fetch(`http://${h.includes(':') ? `[${h}]` : h}:${port}/metrics`, {
    signal: AbortSignal.timeout(2000),
  })
  const text = await res.text()
  return text.includes('vms_agent_') ? 'the running agent (its metrics answer there)' : undefined
}

/** `httpProbe` over the pinned HTTPS of an agent enrolled with `--pin` (link/hub-tls.ts). */
async function pinnedProbe(
  credentials: Credentials,
  url: string,
  now: () => number = Date.now,
): Promise<HttpProbe> {
  const sentAt = now()
  const res = await hubFetch(credentials)(url, { signal: AbortSignal.timeout(5000) })
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

/** The hub's certificate must be the pinned one (then no CA needs to vouch for it). */
function pinnedInspect(pin: string, inspect: typeof peerCertificate): typeof peerCertificate {
  return async (host, port, timeoutMs) => {
    const cert = await inspect(host, port, timeoutMs)
    if (cert.fingerprint256 !== pin)
      throw new Error(
        `its certificate (SHA-256 ${cert.fingerprint256}) is not the pinned one (${pin}): enroll again`,
      )
    return cert
  }
}

function cameraCheck(camera: SavedCamera, io: AgentDoctorIo): Check {
  const name = `camera ${camera.name || camera.id}`
  return {
    name,
    run: async () => {
      if (camera.endpoints.length === 0) {
        return checkFailed(name, 'no stream configured', 'give the camera a stream in the console (Cameras)')
      }
      const results = await Promise.all(
        camera.endpoints.map((e) =>
          checkTcpReachable({
            name,
            host: e.host,
            port: e.port,
            ...(io.connect ? { connect: io.connect } : {}),
            fix: `check that the camera is powered and on the network, that this machine can reach ${e.host} (route, VLAN, no firewall between) and that its RTSP port is ${e.port}`,
          }),
        ),
      )
      const failed = results.find((r) => !r.ok)
      if (failed) return failed
      return checkPassed(name, results.map((r) => r.detail).join('; '))
    },
  }
}

/**
 * The agent's checks, in the order they print: ffmpeg, enrollment, the hub (reachable, its
 * certificate, the clock against it, its broker), the recordings disk, the ports the agent listens
 * on, and each configured camera (a TCP connect to its RTSP host:port: no credentials needed).
 */
export function agentDoctorChecks(
  settings: AgentSettings,
  env: NodeJS.ProcessEnv = process.env,
  io: AgentDoctorIo = {},
): Check[] {
  const checks: Check[] = [{ name: 'ffmpeg', run: () => checkFfmpeg(env, io.ffmpegVersion) }]
  const enrollment = checkEnrollment(settings.VMS_AGENT_DATA_DIR)
  checks.push({ name: 'enrollment', run: () => enrollment.result })
  const credentials = enrollment.credentials
  if (credentials) {
    const hubUrl = credentials.hubUrl.replace(/\/+$/, '')
    let probe: Promise<HttpProbe> | undefined
    const probeHub = () => {
      probe ??= (
        io.probe ??
        ((url: string) =>
          credentials.hubPinSha256 ? pinnedProbe(credentials, url, io.now) : httpProbe(url, 5000, io.now))
      )(`${hubUrl}/healthz`)
      return probe
    }
    checks.push(
      {
        name: 'hub',
        run: async () => {
          try {
            const p = await probeHub()
            if (p.status === 200) return checkPassed('hub', `${hubUrl} answers (GET /healthz: 200)`)
            return checkFailed(
              'hub',
              `${hubUrl}/healthz answers HTTP ${p.status}`,
              'check that the enrolled address is the hub (and any proxy in front of it passes /healthz)',
            )
          } catch (err) {
            return checkFailed(
              'hub',
              `${hubUrl} cannot be reached: ${errorText(err)}`,
              'check the network and DNS to the hub, and that the hub runs (on the hub: systemctl status ts-vms-hub)',
            )
          }
        },
      },
      {
        name: 'hub certificate',
        run: () =>
          checkCertificate({
            name: 'hub certificate',
            url: hubUrl,
            ...(credentials.hubPinSha256
              ? {
                  pinned: true,
                  inspect: pinnedInspect(credentials.hubPinSha256, io.inspect ?? peerCertificate),
                }
              : io.inspect
                ? { inspect: io.inspect }
                : {}),
            ...(io.now ? { now: io.now } : {}),
          }),
      },
      {
        name: 'clock',
        run: async () => {
          try {
            return checkClockDrift({ name: 'clock', probe: await probeHub(), peer: 'the hub' })
          } catch (err) {
            return checkFailed(
              'clock',
              `cannot ask the hub for its time: ${errorText(err)}`,
              'make the hub reachable first (see the hub line)',
            )
          }
        },
      },
      {
        name: 'broker',
        run: () => {
          const u = new URL(credentials.mqttUrl)
          return checkTcpReachable({
            name: 'broker',
            host: u.hostname.replace(/^\[|\]$/g, ''),
            port: u.port ? Number(u.port) : u.protocol === 'mqtts:' ? 8883 : 1883,
            ...(io.connect ? { connect: io.connect } : {}),
            fix: "open the hub's MQTT port (VMS_MQTT_PORT, 8883 by default) in the firewalls between here and the hub",
          })
        },
      },
    )
  }
  let cameras: SavedCamera[] | Error
  try {
    // The outbox database (agent.ts outboxFile; not imported: the doctor loads no media stack).
    cameras = readSavedCameras(path.join(settings.VMS_AGENT_DATA_DIR, 'outbox.db'))
  } catch (err) {
    cameras = err instanceof Error ? err : new Error(String(err))
  }
  const cameraCount = Array.isArray(cameras) ? cameras.length : 0
  checks.push({
    name: 'recordings disk',
    run: () =>
      checkDisk({
        name: 'recordings disk',
        dir: settings.VMS_AGENT_RECORDINGS_DIR,
        setting: 'VMS_AGENT_RECORDINGS_DIR',
        minFreeBytes: settings.VMS_AGENT_MIN_FREE_BYTES,
        minWriteBytesPerSecond: Math.max(1, cameraCount) * BYTES_PER_SECOND_PER_CAMERA,
        ...(io.now ? { now: io.now } : {}),
      }),
  })
  checks.push({
    name: 'setup port',
    run: () =>
      checkPortFree({
        name: 'setup port',
        host: settings.VMS_AGENT_SETUP_HOST,
        port: settings.VMS_AGENT_SETUP_PORT,
        setting: 'VMS_AGENT_SETUP_PORT',
        busyHint:
          'an agent that is not set up yet holds it for its setup wizard: finish the setup, then check again',
        ...(io.listen ? { listen: io.listen } : {}),
      }),
  })
  const metricsPort = settings.VMS_AGENT_METRICS_PORT
  if (metricsPort !== undefined && metricsPort > 0) {
    const host = settings.VMS_AGENT_METRICS_HOST
    checks.push({
      name: 'metrics port',
      run: () =>
        checkPortFree({
          name: 'metrics port',
          host,
          port: metricsPort,
          setting: 'VMS_AGENT_METRICS_PORT',
          inUseBy: () => agentMetricsAnswer(host, metricsPort),
          ...(io.listen ? { listen: io.listen } : {}),
        }),
    })
  }
  if (!Array.isArray(cameras)) {
    const message = cameras.message
    checks.push({
      name: 'cameras',
      run: () =>
        checkFailed(
          'cameras',
          `cannot read the saved configuration: ${message}`,
          'run the doctor as the service user (sudo -u vms ...); the agent gets its configuration again from the hub when it connects',
        ),
    })
  } else if (cameras.length === 0) {
    checks.push({
      name: 'cameras',
      run: () =>
        checkPassed(
          'cameras',
          'none configured yet (the hub sends them once cameras are added to this site)',
        ),
    })
  } else {
    for (const camera of cameras) checks.push(cameraCheck(camera, io))
  }
  return checks
}

/** `npm run agent -- doctor`: prints one line per check; the exit code is 1 when one failed. */
export function runAgentDoctor(
  settings: AgentSettings,
  env: NodeJS.ProcessEnv = process.env,
  print?: (line: string) => void,
): Promise<number> {
  return runDoctor(agentDoctorChecks(settings, env), print)
}
