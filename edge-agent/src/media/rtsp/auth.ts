import { createHash, randomBytes } from 'node:crypto'

/**
 * RTSP authentication (RFC 2617 as RTSP uses it): Basic, and Digest with MD5, with and without
 * `qop=auth`. The challenge comes from `WWW-Authenticate`; the answer goes into `Authorization` on
 * every later request.
 */
export interface Challenge {
  scheme: 'basic' | 'digest'
  realm: string
  nonce?: string
  opaque?: string
  algorithm?: string
  qop?: string[]
  stale?: boolean
}

/** Parses one or more challenges (servers may offer Digest and Basic); Digest first. */
export function parseChallenges(header: string | undefined): Challenge[] {
  if (!header) return []
  const out: Challenge[] = []
  // "Digest a=b, c=d, Basic realm=x": each scheme token starts a challenge; commas also separate
  // parameters, so slice from one scheme token to the next.
  const starts = [...header.matchAll(/(?:^|,)\s*(Digest|Basic)\s+/gi)]
  starts.forEach((m, i) => {
    const scheme = (m[1] as string).toLowerCase() as 'basic' | 'digest'
    const from = (m.index ?? 0) + m[0].length
    const to = starts[i + 1]?.index ?? header.length
    const params = new Map<string, string>()
    for (const p of header.slice(from, to).matchAll(/([a-zA-Z0-9_-]+)\s*=\s*(?:"([^"]*)"|([^,\s]*))/g)) {
      params.set((p[1] as string).toLowerCase(), p[2] ?? p[3] ?? '')
    }
    const c: Challenge = { scheme, realm: params.get('realm') ?? '' }
    const nonce = params.get('nonce')
    if (nonce !== undefined) c.nonce = nonce
    const opaque = params.get('opaque')
    if (opaque !== undefined) c.opaque = opaque
    const algorithm = params.get('algorithm')
    if (algorithm !== undefined) c.algorithm = algorithm
    const qop = params.get('qop')
    if (qop !== undefined) c.qop = qop.split(',').map((q) => q.trim().toLowerCase())
    if (params.get('stale')?.toLowerCase() === 'true') c.stale = true
    out.push(c)
  })
  return out.sort((a, b) => (a.scheme === b.scheme ? 0 : a.scheme === 'digest' ? -1 : 1))
}

const md5 = (s: string) => createHash('md5').update(s, 'utf8').digest('hex')

export class Authenticator {
  private nc = 0
  private readonly cnonce = randomBytes(8).toString('hex')

  constructor(
    private readonly challenge: Challenge,
    private readonly username: string,
    private readonly password: string,
  ) {}

  get scheme(): string {
    return this.challenge.scheme
  }

  /** The Authorization header value for a request. */
  authorization(method: string, uri: string): string {
    const c = this.challenge
    if (c.scheme === 'basic') {
      return `Basic ${Buffer.from(`${this.username}:${this.password}`, 'utf8').toString('base64')}`
    }
    if (c.algorithm && !/^md5$/i.test(c.algorithm))
      throw new Error(`unsupported digest algorithm ${c.algorithm}`)
    const ha1 = md5(`${this.username}:${c.realm}:${this.password}`)
    const ha2 = md5(`${method}:${uri}`)
    const q = (s: string) => `"${s.replace(/"/g, '\\"')}"`
    const parts = [
      `username=${q(this.username)}`,
      `realm=${q(c.realm)}`,
      `nonce=${q(c.nonce ?? '')}`,
      `uri=${q(uri)}`,
    ]
    if (c.qop?.includes('auth')) {
      this.nc++
      const nc = this.nc.toString(16).padStart(8, '0')
      const response = md5(`${ha1}:${c.nonce ?? ''}:${nc}:${this.cnonce}:auth:${ha2}`)
      parts.push(`response=${q(response)}`, 'qop=auth', `nc=${nc}`, `cnonce=${q(this.cnonce)}`)
    } else {
      parts.push(`response=${q(md5(`${ha1}:${c.nonce ?? ''}:${ha2}`))}`)
    }
    if (c.opaque !== undefined) parts.push(`opaque=${q(c.opaque)}`)
    if (c.algorithm) parts.push(`algorithm=${c.algorithm}`)
    return `Digest ${parts.join(', ')}`
  }
}

/** The server side of Digest (for the camera simulator): checks an Authorization header. */
export function verifyDigest(
  authorization: string | undefined,
  method: string,
  expected: { realm: string; nonce: string; username: string; password: string },
): boolean {
  if (!authorization?.startsWith('Digest ')) return false
  const p = new Map<string, string>()
  for (const m of authorization.slice(7).matchAll(/([a-zA-Z0-9_-]+)\s*=\s*(?:"([^"]*)"|([^,\s]*))/g)) {
    p.set((m[1] as string).toLowerCase(), m[2] ?? m[3] ?? '')
  }
  if (p.get('username') !== expected.username || p.get('nonce') !== expected.nonce) return false
  const ha1 = md5(`${expected.username}:${expected.realm}:${expected.password}`)
  const ha2 = md5(`${method}:${p.get('uri') ?? ''}`)
  const want =
    p.get('qop') === 'auth'
      ? md5(`${ha1}:${expected.nonce}:${p.get('nc') ?? ''}:${p.get('cnonce') ?? ''}:auth:${ha2}`)
      : md5(`${ha1}:${expected.nonce}:${ha2}`)
  return p.get('response') === want
}
