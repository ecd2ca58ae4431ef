import { createHash, randomBytes } from 'node:crypto'

/**
 * HTTP authentication as cameras do it (RFC 7616 Digest with MD5 or SHA-256, `qop=auth` or none;
 * RFC 7617 Basic only where the caller allows it). Pure: parse a challenge, answer it.
 */
export interface Challenge {
  scheme: 'digest' | 'basic'
  realm: string
  nonce?: string
  opaque?: string
  /** `MD5`, `MD5-sess`, `SHA-256`, `SHA-256-sess` (absent: MD5). */
  algorithm?: string
  /** The qop options offered (`auth`, `auth-int`). */
  qop?: string[]
  stale?: boolean
}

/** Splits `a="x, y", b=z` into pairs, honouring quotes and backslash escapes. */
function params(text: string): Map<string, string> {
  const out = new Map<string, string>()
  let i = 0
  while (i < text.length) {
    while (i < text.length && (text[i] === ' ' || text[i] === ',' || text[i] === '\t')) i++
    const eq = text.indexOf('=', i)
    if (eq === -1) break
    const key = text.slice(i, eq).trim().toLowerCase()
    i = eq + 1
    while (text[i] === ' ') i++
    let value = ''
    if (text[i] === '"') {
      i++
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < text.length) i++
        value += text[i]
        i++
      }
      i++
    } else {
      const end = text.indexOf(',', i)
      value = text.slice(i, end === -1 ? undefined : end).trim()
      i = end === -1 ? text.length : end
    }
    if (key) out.set(key, value)
  }
  return out
}

/**
 * The challenges of `WWW-Authenticate` header values (a device may send several; Node joins
 * repeated headers with ", " — so each value is split at each scheme name). Digest first in the
 * result (the stronger), then Basic; unknown schemes are dropped.
 */
export function parseChallenges(headers: string | string[] | undefined): Challenge[] {
  const values = headers === undefined ? [] : Array.isArray(headers) ? headers : [headers]
  const out: Challenge[] = []
  for (const value of values) {
    for (const part of value.split(/(?=\b(?:Digest|Basic)\s)/i)) {
      const m = /^\s*(Digest|Basic)\s+(.*)$/is.exec(part)
      if (!m) continue
      const p = params(m[2] ?? '')
      if (m[1]!.toLowerCase() === 'basic') out.push({ scheme: 'basic', realm: p.get('realm') ?? '' })
      else {
        const nonce = p.get('nonce')
        if (!nonce) continue
        out.push({
          scheme: 'digest',
          realm: p.get('realm') ?? '',
          nonce,
          ...(p.has('opaque') ? { opaque: p.get('opaque') } : {}),
          ...(p.has('algorithm') ? { algorithm: p.get('algorithm') } : {}),
          ...(p.has('qop')
            ? { qop: (p.get('qop') ?? '').split(',').map((q) => q.trim().toLowerCase()) }
            : {}),
          ...(p.get('stale')?.toLowerCase() === 'true' ? { stale: true } : {}),
        })
      }
    }
  }
  return out.sort((a, b) => (a.scheme === b.scheme ? 0 : a.scheme === 'digest' ? -1 : 1))
}

const hashOf = (algorithm: string) => (algorithm.toUpperCase().startsWith('SHA-256') ? 'sha256' : 'md5')
const h = (algorithm: string, s: string) => createHash(hashOf(algorithm)).update(s).digest('hex')

/** Quotes a value for a header parameter (backslash-escaping `"` and `\`). */
const q = (s: string) => `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`

export interface DigestAnswer {
  method: string
  /** The request-target: path and query. */
  uri: string
  username: string
  password: string
  /** Requests sent with this nonce so far, this one included (the `nc`). */
  nonceCount: number
  /** For tests; random otherwise. */
  cnonce?: string
}

/** The `Authorization` header answering a Digest challenge. */
export function digestAuthorization(challenge: Challenge, a: DigestAnswer): string {
  if (challenge.scheme !== 'digest' || !challenge.nonce) throw new Error('not a Digest challenge')
  const algorithm = challenge.algorithm ?? 'MD5'
  if (!/^(MD5|SHA-256)(-sess)?$/i.test(algorithm))
    throw new Error(`unsupported Digest algorithm ${algorithm}`)
  const cnonce = a.cnonce ?? randomBytes(8).toString('hex')
  const nc = a.nonceCount.toString(16).padStart(8, '0')
  let ha1 = h(algorithm, `${a.username}:${challenge.realm}:${a.password}`)
  if (/-sess$/i.test(algorithm)) ha1 = h(algorithm, `${ha1}:${challenge.nonce}:${cnonce}`)
  const ha2 = h(algorithm, `${a.method}:${a.uri}`)
  const qop = challenge.qop?.includes('auth') ? 'auth' : undefined
  const response = qop
    ? h(algorithm, `${ha1}:${challenge.nonce}:${nc}:${cnonce}:${qop}:${ha2}`)
    : h(algorithm, `${ha1}:${challenge.nonce}:${ha2}`)
  const parts = [
    `username=${q(a.username)}`,
    `realm=${q(challenge.realm)}`,
    `nonce=${q(challenge.nonce)}`,
    `uri=${q(a.uri)}`,
    `response=${q(response)}`,
    ...(challenge.algorithm ? [`algorithm=${challenge.algorithm}`] : []),
    ...(challenge.opaque !== undefined ? [`opaque=${q(challenge.opaque)}`] : []),
    ...(qop ? [`qop=${qop}`, `nc=${nc}`, `cnonce=${q(cnonce)}`] : []),
  ]
  return `Digest ${parts.join(', ')}`
}

/** The `Authorization` header for Basic. */
export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`
}
