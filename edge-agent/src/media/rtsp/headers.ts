/** RTSP header values that need more than a string (RFC 2326 §12). */

export interface SessionHeader {
  id: string
  /** Seconds; 60 when the server does not say (§12.37). */
  timeout: number
}

/** RFC 2326 session ids are short tokens (8+ characters); this bounds what is echoed in every request. */
export const MAX_SESSION_ID_LENGTH = 256

export function parseSession(value: string | undefined): SessionHeader | undefined {
  if (!value) return undefined
  const [id, ...params] = value.split(';').map((s) => s.trim())
  // Echoed in every request of the session: only a bounded token, never whitespace or controls.
  if (!id || id.length > MAX_SESSION_ID_LENGTH || !/^[\x21-\x7e]+$/.test(id)) return undefined
  let timeout = 60
  for (const p of params) {
    const m = /^timeout\s*=\s*(\d+)$/i.exec(p)
    if (m) timeout = Math.max(1, Number(m[1]))
  }
  return { id, timeout }
}

export interface TransportHeader {
  protocol: 'tcp' | 'udp'
  interleaved?: [number, number]
  clientPort?: [number, number]
  serverPort?: [number, number]
  ssrc?: number
  source?: string
}

function pair(v: string | undefined): [number, number] | undefined {
  if (!v) return undefined
  const [a, b] = v.split('-').map((x) => Number(x))
  if (a === undefined || !Number.isInteger(a)) return undefined
  return [a, b !== undefined && Number.isInteger(b) ? b : a + 1]
}

export function parseTransport(value: string | undefined): TransportHeader | undefined {
  if (!value) return undefined
  // Servers answer with one transport; take the first if they list several.
  const first = value.split(',')[0] ?? ''
  const parts = first.split(';').map((s) => s.trim())
  const spec = (parts[0] ?? '').toUpperCase()
  const out: TransportHeader = { protocol: spec.includes('/TCP') ? 'tcp' : 'udp' }
  for (const p of parts.slice(1)) {
    const [k, v] = p.split('=').map((s) => s?.trim())
    switch (k?.toLowerCase()) {
      case 'interleaved': {
        const r = pair(v)
        if (r) out.interleaved = r
        break
      }
      case 'client_port': {
        const r = pair(v)
        if (r) out.clientPort = r
        break
      }
      case 'server_port': {
        const r = pair(v)
        if (r) out.serverPort = r
        break
      }
      case 'ssrc':
        if (v && /^[0-9a-f]{1,8}$/i.test(v)) out.ssrc = Number.parseInt(v, 16) >>> 0
        break
      case 'source':
        if (v) out.source = v
        break
    }
  }
  return out
}

export interface RtpInfo {
  url: string
  seq?: number
  rtptime?: number
}

/** RTP-Info (§12.33): `url=...;seq=...;rtptime=...` per stream, comma-separated. */
export function parseRtpInfo(value: string | undefined): RtpInfo[] {
  if (!value) return []
  const out: RtpInfo[] = []
  // URLs may hold commas only in theory; split on ",url=" boundaries to be safe.
  for (const entry of value.split(/,(?=\s*url=)/i)) {
    const info: RtpInfo = { url: '' }
    for (const p of entry.split(';')) {
      const eq = p.indexOf('=')
      if (eq <= 0) continue
      const k = p.slice(0, eq).trim().toLowerCase()
      const v = p.slice(eq + 1).trim()
      if (k === 'url') info.url = v
      else if (k === 'seq' && /^\d+$/.test(v)) info.seq = Number(v)
      else if (k === 'rtptime' && /^\d+$/.test(v)) info.rtptime = Number(v) >>> 0
    }
    if (info.url) out.push(info)
  }
  return out
}

export function parsePublic(value: string | undefined): Set<string> {
  return new Set(
    (value ?? '')
      .split(',')
      .map((s) => s.trim().toUpperCase())
      .filter(Boolean),
  )
}
