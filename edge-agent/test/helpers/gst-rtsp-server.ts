import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * GStreamer's gst-rtsp-server (scripts/gst-rtsp-server.py) as an independent RTSP server for
 * interop tests. Tests that need it skip loudly when GStreamer, its Python bindings or the
 * encoders are missing (Debian: python3-gi gir1.2-gst-rtsp-server-1.0
 * gstreamer1.0-plugins-{base,good,bad,ugly}).
 */
const script = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../scripts/gst-rtsp-server.py',
)

/** Elements the server's pipelines use (x264enc: plugins-ugly; x265enc, h265parse: plugins-bad). */
const elements = ['videotestsrc', 'x264enc', 'rtph264pay', 'x265enc', 'h265parse', 'rtph265pay']

const check = `
import sys
import gi
gi.require_version('Gst', '1.0')
gi.require_version('GstRtspServer', '1.0')
from gi.repository import Gst, GstRtspServer
Gst.init(None)
missing = [e for e in sys.argv[1:] if Gst.ElementFactory.find(e) is None]
if missing:
    sys.exit('GStreamer elements missing: ' + ' '.join(missing))
`

/**
 * The first Python that has the GStreamer bindings: $VMS_TEST_GST_PYTHON, python3 from PATH, then
 * Debian's (python3-gi installs into the system Python, which a pyenv or venv python3 on PATH
 * does not see).
 */
function findPython(): { python?: string; reason: string } {
  const candidates = [process.env.VMS_TEST_GST_PYTHON, 'python3', '/usr/bin/python3'].filter(
    (p): p is string => Boolean(p),
  )
  const reasons: string[] = []
  for (const python of [...new Set(candidates)]) {
    const r = spawnSync(python, ['-c', check, ...elements], { encoding: 'utf8', timeout: 30_000 })
    if (r.status === 0) return { python, reason: '' }
    const why = r.error ? r.error.message : (r.stderr.trim().split('\n').at(-1) ?? `exit ${r.status}`)
    reasons.push(`${python}: ${why}`)
  }
  return { reason: reasons.join('; ') }
}

const found = findPython()
const python = found.python
/** Whether the GStreamer interop tests can run (checked once, synchronously, at import). */
export const gstAvailable = python !== undefined
if (!gstAvailable) {
  console.warn(
    `SKIPPING GStreamer interop tests: ${found.reason} (apt install python3-gi gir1.2-gst-rtsp-server-1.0 ` +
      'gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly)',
  )
}

export interface GstServerOptions {
  codec: 'h264' | 'h265'
  /** Digest authentication for every mount. */
  auth?: { username: string; password: string }
  /** Mount points (default `/stream`). */
  paths?: string[]
  /** The RTSP session timeout the server announces, in seconds (default 60). */
  sessionTimeout?: number
}

export interface GstServer {
  port: number
  /** The URL of a mount (default the first), optionally with credentials in it. */
  url(path?: string, credentials?: { username: string; password: string }): string
  /** SIGTERM, then SIGKILL if it has not exited within 5 seconds. */
  close(): Promise<void>
}

export async function startGstServer(o: GstServerOptions): Promise<GstServer> {
  if (!python) throw new Error(`GStreamer is not available: ${found.reason}`)
  const paths = o.paths ?? ['/stream']
  const args = [script, '--host', '127.0.0.1', '--port', '0', '--codec', o.codec, '--exit-on-stdin-eof']
  for (const p of paths) args.push('--path', p)
  if (o.auth) args.push('--user', o.auth.username, '--password', o.auth.password)
  if (o.sessionTimeout) args.push('--session-timeout', String(o.sessionTimeout))
  // stdin stays an open pipe: the server exits when it closes, so it cannot outlive the tests.
  const child: ChildProcessWithoutNullStreams = spawn(python, args, { stdio: 'pipe' })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000)
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const port = await new Promise<number>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`gst-rtsp-server did not start within 30 s: ${stderr}`))
    }, 30_000)
    const onData = (d: Buffer) => {
      out += d.toString()
      const m = /^READY (\d+)$/m.exec(out)
      if (m) {
        clearTimeout(timer)
        child.stdout.off('data', onData)
        child.stdout.resume() // keep draining
        resolve(Number(m[1]))
      }
    }
    child.stdout.on('data', onData)
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`gst-rtsp-server exited (${signal ?? code}) before it was ready: ${stderr}`))
    })
  })
  return {
    port,
    url(p = paths[0] ?? '/stream', credentials) {
      const user = credentials
        ? `${encodeURIComponent(credentials.username)}:${encodeURIComponent(credentials.password)}@`
        : ''
      return `rtsp://${user}127.0.0.1:${port}${p}`
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    },
  }
}
