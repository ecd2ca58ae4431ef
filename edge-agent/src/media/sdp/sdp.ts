import { cleanText } from '@ts-vms/shared'

/**
 * SDP (RFC 8866) as RTSP servers describe streams: session and media sections, rtpmap, fmtp,
 * control, and the codec parameters (H.264 sprop-parameter-sets, H.265 sprop-vps/sps/pps, AAC
 * config). Tolerant of the usual deviations (bare LF, spaces after `;` in fmtp, missing `c=`).
 */
export interface SdpMedia {
  type: string
  port: number
  protocol: string
  payloadTypes: number[]
  control?: string
  /** From rtpmap of the first payload type (or the static assignment for 0 and 8). */
  codec?: string
  clockRate?: number
  channels?: number
  payloadType?: number
  fmtp: Map<string, string>
  attributes: Map<string, string[]>
}

export interface Sdp {
  control?: string
  attributes: Map<string, string[]>
  media: SdpMedia[]
}

const STATIC_PT: Record<number, { codec: string; clockRate: number; channels: number }> = {
  0: { codec: 'PCMU', clockRate: 8000, channels: 1 },
  8: { codec: 'PCMA', clockRate: 8000, channels: 1 },
  26: { codec: 'JPEG', clockRate: 90000, channels: 1 },
}

function addAttr(map: Map<string, string[]>, name: string, value: string) {
  const list = map.get(name) ?? []
  list.push(value)
  map.set(name, list)
}

/**
 * Longest line kept. The longest a camera writes is the fmtp line with its parameter sets (a few
 * hundred characters); a longer one is dropped whole rather than cut, since a cut value would be
 * wrong rather than short.
 */
export const MAX_SDP_LINE_LENGTH = 8192
/** Most media sections kept (cameras have two or three: video, audio, metadata). */
export const MAX_SDP_MEDIA = 16

/**
 * Parses an SDP description. Text from the camera is bounded and stripped of control characters
 * here, where it enters: control URLs go into request lines, and any value may end up in an error.
 */
export function parseSdp(text: string): Sdp {
  const sdp: Sdp = { attributes: new Map(), media: [] }
  let current: SdpMedia | undefined
  for (const raw of text.split(/\r?\n/)) {
    if (raw.length > MAX_SDP_LINE_LENGTH) continue
    const line = cleanText(raw, { maxLength: MAX_SDP_LINE_LENGTH }).trim()
    if (line.length < 2 || line[1] !== '=') continue
    const type = line[0]
    const value = line.slice(2)
    if (type === 'm') {
      // Nothing past the last section kept is read (its attributes would land in the wrong one).
      if (sdp.media.length >= MAX_SDP_MEDIA) break
      const [media, port, protocol, ...fmts] = value.split(/\s+/)
      current = {
        type: media ?? '',
        port: Number(port) || 0,
        protocol: protocol ?? '',
        payloadTypes: fmts.map((f) => Number(f)).filter((n) => Number.isInteger(n) && n >= 0 && n < 128),
        fmtp: new Map(),
        attributes: new Map(),
      }
      sdp.media.push(current)
      continue
    }
    if (type !== 'a') continue
    const colon = value.indexOf(':')
    const name = (colon === -1 ? value : value.slice(0, colon)).trim()
    const attr = colon === -1 ? '' : value.slice(colon + 1).trim()
    if (!current) {
      addAttr(sdp.attributes, name, attr)
      if (name === 'control') sdp.control = attr
      continue
    }
    addAttr(current.attributes, name, attr)
    if (name === 'control') current.control = attr
    if (name === 'rtpmap') {
      const m = /^(\d+)\s+([^/\s]+)\/(\d+)(?:\/(\d+))?/.exec(attr)
      if (m && (current.payloadType === undefined || Number(m[1]) === current.payloadTypes[0])) {
        current.payloadType = Number(m[1])
        current.codec = (m[2] as string).toUpperCase()
        current.clockRate = Number(m[3])
        current.channels = m[4] ? Number(m[4]) : 1
      }
    }
    if (name === 'fmtp') {
      const m = /^(\d+)\s+(.*)$/.exec(attr)
      if (m && Number(m[1]) === (current.payloadType ?? current.payloadTypes[0])) {
        for (const part of (m[2] as string).split(';')) {
          const eq = part.indexOf('=')
          if (eq <= 0) continue
          current.fmtp.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim())
        }
      }
    }
  }
  for (const m of sdp.media) {
    const pt = m.payloadTypes[0]
    if (m.codec === undefined && pt !== undefined && STATIC_PT[pt]) {
      Object.assign(m, STATIC_PT[pt], { payloadType: pt })
    }
    if (m.payloadType === undefined && pt !== undefined) m.payloadType = pt
  }
  return sdp
}

/** H.264 SPS and PPS from `sprop-parameter-sets` (base64, comma-separated). */
export function h264ParameterSets(m: SdpMedia): Buffer[] {
  return (m.fmtp.get('sprop-parameter-sets') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => Buffer.from(s, 'base64'))
    .filter((b) => b.length > 0)
}

/** H.265 VPS, SPS, PPS from `sprop-vps`, `sprop-sps`, `sprop-pps`. */
export function h265ParameterSets(m: SdpMedia): Buffer[] {
  return ['sprop-vps', 'sprop-sps', 'sprop-pps']
    .flatMap((k) => (m.fmtp.get(k) ?? '').split(','))
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => Buffer.from(s, 'base64'))
    .filter((b) => b.length > 0)
}
