import { at, attr, child, children, type XmlNode } from '../xml.ts'
import {
  attrText,
  bool,
  escapeXml,
  NS,
  num,
  numAttr,
  OnvifError,
  parseSoapResponse,
  xmlText,
} from './soap.ts'

/**
 * ONVIF Media (Profile S, `trt`) and Media2 (`tr2`) where offered: profiles, stream and snapshot
 * URIs. Media2 is preferred when the device lists it (H.265 encoders are only described there);
 * the two share profile tokens, so a caller can fall back from one to the other.
 */
export type MediaVersion = 1 | 2

export const MEDIA_ACTION = (v: MediaVersion, op: string) => `${v === 2 ? NS.tr2 : NS.trt}/${op}`
const p = (v: MediaVersion) => (v === 2 ? 'tr2' : 'trt')

export interface MediaProfile {
  token: string
  name: string
  fixed?: boolean
  videoSourceToken?: string
  video?: {
    encoding: string
    width?: number
    height?: number
    fps?: number
    bitrateKbps?: number
    govLength?: number
    /** H.264/H.265 profile (`High`, `Main`…). */
    profile?: string
  }
  ptz?: { configurationToken: string; nodeToken?: string }
}

export const getProfilesBody = (v: MediaVersion) =>
  v === 2 ? '<tr2:GetProfiles><tr2:Type>All</tr2:Type></tr2:GetProfiles>' : '<trt:GetProfiles/>'

export function parseProfiles(status: number, body: Buffer | string): MediaProfile[] {
  const r = parseSoapResponse(status, body, 'GetProfilesResponse')
  const out: MediaProfile[] = []
  for (const node of children(r, 'Profiles')) {
    const token = attrText(node, 'token')
    if (!token) continue
    // Media1 puts configurations on the profile; Media2 under Configurations with shorter names.
    const configs = child(node, 'Configurations')
    const encoder = child(node, 'VideoEncoderConfiguration') ?? child(configs, 'VideoEncoder')
    const source = child(node, 'VideoSourceConfiguration') ?? child(configs, 'VideoSource')
    const ptz = child(node, 'PTZConfiguration') ?? child(configs, 'PTZ')
    const profile: MediaProfile = { token, name: xmlText(child(node, 'Name')) ?? token }
    const fixed = attr(node, 'fixed')
    if (fixed !== undefined) profile.fixed = fixed === 'true' || fixed === '1'
    const sourceToken = xmlText(child(source, 'SourceToken'))
    if (sourceToken) profile.videoSourceToken = sourceToken
    const video = readEncoder(encoder)
    if (video) profile.video = video
    const ptzToken = attrText(ptz, 'token')
    if (ptzToken) {
      profile.ptz = { configurationToken: ptzToken }
      const nodeToken = xmlText(child(ptz, 'NodeToken'))
      if (nodeToken) profile.ptz.nodeToken = nodeToken
    }
    out.push(profile)
  }
  return out
}

function readEncoder(encoder: XmlNode | undefined): MediaProfile['video'] | undefined {
  if (encoder === undefined) return undefined
  // Media2 also has the encoding as an attribute on some firmwares; the element is the standard.
  const encoding = xmlText(child(encoder, 'Encoding')) ?? attrText(encoder, 'Encoding')
  if (!encoding) return undefined
  const video: NonNullable<MediaProfile['video']> = { encoding }
  const width = num(at(encoder, 'Resolution', 'Width'))
  const height = num(at(encoder, 'Resolution', 'Height'))
  if (width !== undefined) video.width = width
  if (height !== undefined) video.height = height
  const rate = child(encoder, 'RateControl')
  const fps = num(child(rate, 'FrameRateLimit'))
  if (fps !== undefined) video.fps = fps
  const bitrate = num(child(rate, 'BitrateLimit'))
  if (bitrate !== undefined) video.bitrateKbps = bitrate
  const codec = child(encoder, 'H264') ?? child(encoder, 'H265')
  const gov = num(child(codec, 'GovLength')) ?? numAttr(attr(encoder, 'GovLength'))
  if (gov !== undefined) video.govLength = gov
  const profile =
    xmlText(child(codec, 'H264Profile')) ??
    xmlText(child(codec, 'H265Profile')) ??
    attrText(encoder, 'Profile')
  if (profile) video.profile = profile
  return video
}

export interface MediaUri {
  uri: string
  invalidAfterConnect?: boolean
  invalidAfterReboot?: boolean
  /** xs:duration as sent (`PT0S`). */
  timeout?: string
}

/** GetStreamUri for RTSP unicast (RTP over RTSP: what works through NAT and firewalls). */
export function getStreamUriBody(v: MediaVersion, profileToken: string): string {
  const token = escapeXml(profileToken)
  if (v === 2)
    return `<tr2:GetStreamUri><tr2:Protocol>RTSP</tr2:Protocol><tr2:ProfileToken>${token}</tr2:ProfileToken></tr2:GetStreamUri>`
  return (
    '<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream>' +
    '<tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup>' +
    `<trt:ProfileToken>${token}</trt:ProfileToken></trt:GetStreamUri>`
  )
}

export const getSnapshotUriBody = (v: MediaVersion, profileToken: string) =>
  `<${p(v)}:GetSnapshotUri><${p(v)}:ProfileToken>${escapeXml(profileToken)}</${p(v)}:ProfileToken></${p(v)}:GetSnapshotUri>`

export const parseStreamUri = (status: number, body: Buffer | string) =>
  parseMediaUri(status, body, 'GetStreamUriResponse')
export const parseSnapshotUri = (status: number, body: Buffer | string) =>
  parseMediaUri(status, body, 'GetSnapshotUriResponse')

function parseMediaUri(status: number, body: Buffer | string, expected: string): MediaUri {
  const r = parseSoapResponse(status, body, expected)
  // Media1: Response/MediaUri/Uri; Media2: Response/Uri.
  const media = child(r, 'MediaUri')
  const uri = xmlText(child(media, 'Uri')) ?? xmlText(child(r, 'Uri'))
  if (!uri) throw new OnvifError('bad_response', `${expected} has no Uri`)
  try {
    new URL(uri)
  } catch {
    throw new OnvifError('bad_response', `${expected} names no usable URI`)
  }
  const out: MediaUri = { uri }
  const iac = bool(child(media, 'InvalidAfterConnect'))
  if (iac !== undefined) out.invalidAfterConnect = iac
  const iar = bool(child(media, 'InvalidAfterReboot'))
  if (iar !== undefined) out.invalidAfterReboot = iar
  const timeout = xmlText(child(media, 'Timeout'))
  if (timeout) out.timeout = timeout
  return out
}
