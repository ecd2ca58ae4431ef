/**
 * H.264 profile negotiation for WebRTC (RFC 6184 section 8.1; the profile table libwebrtc uses).
 * A browser offers several H.264 payload types, each with a `profile-level-id` and a
 * `packetization-mode`; a camera's stream has one real profile. We answer with the payload type
 * whose profile decodes the camera's stream, in packetization-mode 1 (FU-A), and never transcode.
 */

export type H264Profile =
  | 'constrained-baseline'
  | 'baseline'
  | 'main'
  | 'extended'
  | 'constrained-high'
  | 'high'
  | 'high-10'
  | 'high-422'
  | 'predictive-high-444'

export interface ProfileLevelId {
  profile: H264Profile
  /** level_idc, e.g. 31 for level 3.1 (11 with constraint_set3 is level 1b). */
  level: number
}

/** profile_idc, constraint flags (as bits of the second byte) to a profile, as libwebrtc reads them. */
export function h264ProfileOf(profileIdc: number, constraints: number): H264Profile | undefined {
  const cs0 = (constraints & 0x80) !== 0
  const cs1 = (constraints & 0x40) !== 0
  const cs3 = (constraints & 0x10) !== 0
  const cs4 = (constraints & 0x08) !== 0
  const cs5 = (constraints & 0x04) !== 0
  switch (profileIdc) {
    case 66:
      return cs1 ? 'constrained-baseline' : 'baseline'
    case 77:
      return cs0 ? 'constrained-baseline' : 'main'
    case 88:
      return cs0 && cs1 ? 'constrained-baseline' : 'extended'
    case 100:
      return cs4 && cs5 ? 'constrained-high' : 'high'
    case 110:
      return 'high-10'
    case 122:
      return 'high-422'
    case 244:
      return 'predictive-high-444'
    default:
      return cs3 && profileIdc === 66 ? 'baseline' : undefined
  }
}

/** Parses `profile-level-id` (six hex digits). Undefined when malformed or unknown. */
export function parseProfileLevelId(hex: string | undefined): ProfileLevelId | undefined {
  if (hex === undefined) return { profile: 'constrained-baseline', level: 10 } // RFC 6184 default 42000a
  if (!/^[0-9a-fA-F]{6}$/.test(hex)) return undefined
  const n = Number.parseInt(hex, 16)
  const profile = h264ProfileOf((n >> 16) & 0xff, (n >> 8) & 0xff)
  return profile ? { profile, level: n & 0xff } : undefined
}

/** The `profile-level-id` of an SPS (NAL unit with its header byte). */
export function profileLevelIdFromSps(sps: Buffer): string | undefined {
  if (sps.length < 4 || ((sps[0] as number) & 0x1f) !== 7) return undefined
  return sps.subarray(1, 4).toString('hex')
}

/**
 * Which offered profiles decode a stream of `camera`'s profile, best first. An exact match is
 * best; a decoder of a richer profile decodes the poorer ones (High decodes Main decodes
 * Constrained Baseline). Browsers decode High with the decoder they advertise as Main or even
 * Constrained Baseline (the same software decoder), so those follow as a last resort rather than
 * refusing a camera outright.
 */
const DECODES: Record<H264Profile, H264Profile[]> = {
  'constrained-baseline': [
    'constrained-baseline',
    'baseline',
    'main',
    'constrained-high',
    'high',
    'predictive-high-444',
  ],
  baseline: ['baseline', 'main', 'high', 'predictive-high-444', 'constrained-baseline'],
  main: ['main', 'high', 'predictive-high-444', 'constrained-high', 'constrained-baseline', 'baseline'],
  extended: ['extended', 'main', 'high', 'constrained-baseline', 'baseline'],
  'constrained-high': ['constrained-high', 'high', 'predictive-high-444', 'main', 'constrained-baseline'],
  high: ['high', 'predictive-high-444', 'main', 'constrained-high', 'constrained-baseline', 'baseline'],
  'high-10': ['high-10', 'high-422', 'predictive-high-444', 'high', 'main'],
  'high-422': ['high-422', 'predictive-high-444', 'high', 'main'],
  'predictive-high-444': ['predictive-high-444', 'high', 'main'],
}

export interface OfferedH264 {
  payloadType: number
  packetizationMode: number
  profileLevelId: ProfileLevelId | undefined
}

/** The best offered H.264 payload type for the camera's profile, or undefined if none will do. */
export function chooseH264PayloadType(
  offered: readonly OfferedH264[],
  camera: H264Profile | undefined,
): number | undefined {
  const usable = offered.filter((o) => o.packetizationMode === 1 && o.profileLevelId)
  const order = DECODES[camera ?? 'high']
  for (const profile of order) {
    const hit = usable.find((o) => o.profileLevelId?.profile === profile)
    if (hit) return hit.payloadType
  }
  return usable[0]?.payloadType
}
