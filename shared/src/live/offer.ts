import {
  chooseH264PayloadType,
  type H264Profile,
  type OfferedH264,
  parseProfileLevelId,
} from './h264-profile.ts'

/**
 * A viewer's SDP offer, checked and narrowed before the WebRTC stack answers it. werift answers
 * with every payload type of a matching codec name and sends with the first, which may be the
 * wrong H.264 profile or packetization-mode 0; we keep only the payload type that decodes the
 * camera's stream (and its RTX), so the answer names exactly what will be sent.
 */
export class OfferError extends Error {
  override name = 'OfferError'
}

const MAX_SDP = 64 * 1024

/** Basic shape checks on an SDP offer coming from a client (before any parser sees it). */
export function checkOfferSdp(sdp: string): void {
  if (sdp.length > MAX_SDP) throw new OfferError(`the offer is larger than ${MAX_SDP} bytes`)
  if (!sdp.startsWith('v=0')) throw new OfferError('the offer is not SDP (it must start with v=0)')
  if (!/\r?\nm=video /.test(sdp)) throw new OfferError('the offer has no video section')
  if (!/\r?\na=ice-ufrag:/.test(sdp) || !/\r?\na=fingerprint:/.test(sdp))
    throw new OfferError('the offer lacks ICE credentials or a DTLS fingerprint')
}

/** Narrows the offer's (first) video section to the H.264 payload type for `camera`'s profile. */
export function narrowOfferToH264(
  sdp: string,
  camera: H264Profile | undefined,
): { sdp: string; payloadType: number } {
  checkOfferSdp(sdp)
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n'
  const lines = sdp.split(/\r?\n/)
  const start = lines.findIndex((l) => l.startsWith('m=video '))
  let end = lines.findIndex((l, i) => i > start && l.startsWith('m='))
  if (end < 0) end = lines.length
  const section = lines.slice(start, end)

  const rtpmap = new Map<number, string>()
  const fmtp = new Map<number, string>()
  for (const line of section) {
    const m = /^a=rtpmap:(\d+) ([^/\s]+)\//.exec(line)
    if (m) rtpmap.set(Number(m[1]), (m[2] as string).toUpperCase())
    const f = /^a=fmtp:(\d+) (.*)$/.exec(line)
    if (f) fmtp.set(Number(f[1]), f[2] as string)
  }
  const params = (pt: number) =>
    Object.fromEntries(
      (fmtp.get(pt) ?? '')
        .split(';')
        .map((kv) => kv.trim().split('='))
        .filter((kv) => kv.length === 2)
        .map(([k, v]) => [(k as string).toLowerCase(), v as string]),
    ) as Record<string, string>
  const offered: OfferedH264[] = [...rtpmap]
    .filter(([, name]) => name === 'H264')
    .map(([payloadType]) => {
      const p = params(payloadType)
      return {
        payloadType,
        packetizationMode: Number(p['packetization-mode'] ?? 0),
        profileLevelId: parseProfileLevelId(p['profile-level-id']),
      }
    })
  if (offered.length === 0) throw new OfferError('the viewer does not offer H.264 video')
  const chosen = chooseH264PayloadType(offered, camera)
  if (chosen === undefined)
    throw new OfferError('the viewer offers no H.264 in packetization-mode 1 that decodes this camera')
  const keep = new Set([chosen])
  for (const [pt, name] of rtpmap) if (name === 'RTX' && params(pt).apt === String(chosen)) keep.add(pt)

  const mLine = (section[0] as string).split(' ')
  const narrowed = section
    .map((line, i) => (i === 0 ? [...mLine.slice(0, 3), ...[...keep].map(String)].join(' ') : line))
    .filter((line) => {
      const m = /^a=(rtpmap|fmtp|rtcp-fb):(\d+)[\s]/.exec(line)
      return !m || keep.has(Number(m[2]))
    })
  return {
    sdp: [...lines.slice(0, start), ...narrowed, ...lines.slice(end)].join(eol),
    payloadType: chosen,
  }
}
