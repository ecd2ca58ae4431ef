import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import {
  type AgentConfig,
  agentConfig,
  type CheckResult,
  checkFailed,
  checkPassed,
  errorText,
} from '@ts-vms/shared'
import Database from 'better-sqlite3'
import { type Credentials, credentialsFile, readCredentials } from '../credentials.ts'
import { findFfmpeg } from '../media/ffmpeg.ts'

/** The agent's own checks (the shared ones, ports, disks, TLS, clocks, are in @ts-vms/shared). */

/** Runs `file -version` and gives its first line (rejects when it does not run). */
export function ffmpegVersionLine(file: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, ['-hide_banner', '-version'], { timeout: timeoutMs }, (err, stdout) => {
      if (err) return reject(err)
      resolve(stdout.split('\n')[0]?.trim() ?? '')
    })
  })
}

const FFMPEG_FIX =
  'install ffmpeg (Debian/Ubuntu: sudo apt install ffmpeg) or set FFMPEG_PATH to its full path'

/** ffmpeg (live view's H.265 transcoding, exports) is found, runs, and says its version. */
export async function checkFfmpeg(
  env: NodeJS.ProcessEnv,
  version: (file: string) => Promise<string> = ffmpegVersionLine,
): Promise<CheckResult> {
  const file = findFfmpeg(env)
  if (!file) {
    const where = env.FFMPEG_PATH
      ? `FFMPEG_PATH=${env.FFMPEG_PATH} is not an executable, and none on PATH`
      : 'not on PATH'
    return checkFailed('ffmpeg', `${where}`, FFMPEG_FIX)
  }
  let line: string
  try {
    line = await version(file)
  } catch (err) {
    return checkFailed('ffmpeg', `${file} does not run: ${errorText(err)}`, FFMPEG_FIX)
  }
  const v = /^ffmpeg version (\S+)/.exec(line)?.[1]
  if (!v) return checkFailed('ffmpeg', `${file} is not ffmpeg (it says "${line.slice(0, 80)}")`, FFMPEG_FIX)
  return checkPassed('ffmpeg', `${file}, version ${v}`)
}

/** The credentials enrollment left, or the failed check saying how to enroll. */
export function checkEnrollment(dataDir: string): { result: CheckResult; credentials?: Credentials } {
  if (!existsSync(credentialsFile(dataDir))) {
    return {
      result: checkFailed(
        'enrollment',
        `no credentials in ${dataDir}`,
        'enroll once, as the service user: sudo -u vms VMS_AGENT_DATA_DIR=... npm run agent -- enroll --hub URL --code CODE (or set VMS_AGENT_DATA_DIR to where the agent keeps its data)',
      ),
    }
  }
  try {
    const credentials = readCredentials(dataDir)
    return {
      result: checkPassed('enrollment', `agent ${credentials.agentId} of hub ${credentials.hubUrl}`),
      credentials,
    }
  } catch (err) {
    return {
      result: checkFailed(
        'enrollment',
        errorText(err),
        'run the doctor as the service user (sudo -u vms ...); if the file is damaged, enroll again with --force',
      ),
    }
  }
}

export interface CameraEndpoint {
  host: string
  port: number
}

export interface SavedCamera {
  id: string
  name: string
  /** The distinct RTSP host:port of its streams. */
  endpoints: CameraEndpoint[]
}

/** A camera's RTSP servers: one per distinct host:port of its streams (554 unless the URL says). */
export function cameraEndpoints(camera: AgentConfig['cameras'][number]): CameraEndpoint[] {
  const seen = new Map<string, CameraEndpoint>()
  for (const stream of camera.streams) {
    const u = new URL(stream.url)
    const host = u.hostname.replace(/^\[|\]$/g, '')
    const port = u.port ? Number(u.port) : 554
    seen.set(`${host}:${port}`, { host, port })
  }
  return [...seen.values()]
}

/**
 * The cameras of the configuration the agent last applied (kept in its outbox database, as the
 * running agent reads it). Nothing when the agent has not received a configuration.
 */
export function readSavedCameras(outboxFile: string): SavedCamera[] {
  if (!existsSync(outboxFile)) return []
  // Read-only: the doctor run by another user (root) must not leave WAL files the agent cannot open.
  const db = new Database(outboxFile, { readonly: true, fileMustExist: true })
  try {
    db.pragma('busy_timeout = 5000')
    const table = db.prepare(`select 1 from sqlite_master where type = 'table' and name = 'meta'`).get()
    if (!table) return []
    const row = db.prepare('select value from meta where key = ?').get('setting:config') as
      | { value: string }
      | undefined
    if (!row) return []
    const parsed = agentConfig.safeParse((JSON.parse(row.value) as { config?: unknown }).config)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw new Error(`the saved configuration does not read (${issue?.path.join('.')}: ${issue?.message})`)
    }
    return parsed.data.cameras.map((c) => ({ id: c.id, name: c.name, endpoints: cameraEndpoints(c) }))
  } finally {
    db.close()
  }
}
