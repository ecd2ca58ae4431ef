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

/** Largest offer for one video, and for a grid's (a browser lists every codec in every section). */
export const MAX_OFFER_BYTES = 64 * 1024
export const MAX_GRID_OFFER_BYTES = 256 * 1024

/** Basic shape checks on an SDP offer coming from a client (before any parser sees it). */
export function checkOfferSdp(sdp: string, maxBytes = MAX_OFFER_BYTES): void {
  if (sdp.length > maxBytes) throw new OfferError(`the offer is larger than ${maxBytes} bytes`)
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
  const r = narrowVideoSections(sdp, [camera], 1)
  return { sdp: r.sdp, payloadType: r.payloadTypes[0] as number }
}

/** Most video sections one offer may carry (a 4x4 grid on one connection). */
export const MAX_VIDEO_SECTIONS = 16

/**
 * Narrows each video section of a bundled offer (a grid's tiles on one connection) to the H.264
 * payload type for its own camera: `cameras[i]` is the profile of section `i`'s camera (undefined:
 * not known yet). Throws OfferError unless the offer has exactly `expected` video sections (when
 * given) or when a section cannot carry its camera's H.264.
 */
export function narrowVideoSections(
  sdp: string,
  cameras: readonly (H264Profile | undefined)[],
  expected = cameras.length,
): { sdp: string; payloadTypes: number[] } {
  checkOfferSdp(sdp, expected > 1 ? MAX_GRID_OFFER_BYTES : MAX_OFFER_BYTES)
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n'
  const lines = sdp.split(/\r?\n/)
  const starts = lines.flatMap((l, i) => (l.startsWith('m=video ') ? [i] : []))
  if (expected > MAX_VIDEO_SECTIONS)
    throw new OfferError(`an offer carries at most ${MAX_VIDEO_SECTIONS} videos`)
  if (starts.length < expected || (expected > 1 && starts.length !== expected))
    throw new OfferError(`the offer has ${starts.length} video sections where ${expected} were expected`)
  const out = [...lines]
  const payloadTypes: number[] = []
  // From the last section back, so earlier sections' line numbers stay valid while splicing.
  for (let k = expected - 1; k >= 0; k--) {
    const start = starts[k] as number
    let end = lines.findIndex((l, i) => i > start && l.startsWith('m='))
    if (end < 0) end = lines.length
    const { section, payloadType } = narrowSection(lines.slice(start, end), cameras[k])
    out.splice(start, end - start, ...section)
    payloadTypes[k] = payloadType
  }
  return { sdp: out.join(eol), payloadTypes }
}

function narrowSection(
  section: string[],
  camera: H264Profile | undefined,
): { section: string[]; payloadType: number } {
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
  return {
    section: section
      .map((line, i) => (i === 0 ? [...mLine.slice(0, 3), ...[...keep].map(String)].join(' ') : line))
      .filter((line) => {
        const m = /^a=(rtpmap|fmtp|rtcp-fb):(\d+)[\s]/.exec(line)
        return !m || keep.has(Number(m[2]))
      }),
    payloadType: chosen,
  }
}
