/**
 * RTSP URLs: credentials kept out of URLs (and so out of logs), and per-track control URLs resolved
 * the way cameras expect. Like ffmpeg and live555, a relative control is appended to the base
 * (Content-Base, else Content-Location, else the request URL) with one slash, rather than resolved
 * by RFC 3986 rules, which would drop a base's query string (`...?channel=1` + `trackID=0`).
 */
export interface ParsedRtspUrl {
  /** The URL without user info. */
  url: string
  username?: string
  password?: string
  host: string
  port: number
}

export function parseRtspUrl(raw: string): ParsedRtspUrl {
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    throw new Error('not a URL')
  }
  // Refused rather than dialled in clear: a user who asked for TLS must not silently get none.
  if (u.protocol === 'rtsps:') throw new Error('rtsps:// (RTSP over TLS) is not supported yet')
  if (u.protocol !== 'rtsp:') throw new Error('not an rtsp:// URL')
  if (!u.hostname) throw new Error('the URL has no host')
  const username = u.username ? decodeURIComponent(u.username) : undefined
  const password = u.password ? decodeURIComponent(u.password) : undefined
  u.username = ''
  u.password = ''
  return {
    url: u.toString(),
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : 554,
  }
}

/** A URL as it may appear in logs: no credentials. */
export function redactUrl(raw: string): string {
  try {
    const u = new URL(raw)
    if (u.username || u.password) {
      u.username = '***'
      u.password = ''
    }
    return u.toString()
  } catch {
    return '(invalid url)'
  }
}

export function resolveControl(base: string, control: string | undefined): string {
  if (!control || control === '*') return base
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(control)) return control
  return base.endsWith('/') ? base + control.replace(/^\//, '') : `${base}/${control.replace(/^\//, '')}`
}
