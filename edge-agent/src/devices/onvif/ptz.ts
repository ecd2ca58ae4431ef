import { attr, child, children, type XmlNode } from '../xml.ts'
import {
  attrText,
  bool,
  decimal,
  duration,
  escapeXml,
  NS,
  num,
  numAttr,
  OnvifError,
  parseSoapResponse,
  xmlText,
} from './soap.ts'

/**
 * ONVIF PTZ (ver20 `tptz`): request bodies and parsers. Vectors are in the generic spaces (pan,
 * tilt, zoom velocities and translations in -1..1, absolute pan/tilt -1..1 and zoom 0..1), which
 * every node must support; the device's default space is used by leaving `space` out.
 */
export const PTZ_ACTION = (op: string) => `${NS.tptz}/${op}`

export interface PtzVector {
  pan?: number
  tilt?: number
  zoom?: number
}

const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n))

/** `<tt:PanTilt x y/><tt:Zoom x/>` for the parts given, each clamped into its range. */
function vector(v: PtzVector, zoomMin = -1): string {
  let out = ''
  if (v.pan !== undefined || v.tilt !== undefined)
    out += `<tt:PanTilt x="${decimal(clamp(v.pan ?? 0, -1, 1))}" y="${decimal(clamp(v.tilt ?? 0, -1, 1))}"/>`
  if (v.zoom !== undefined) out += `<tt:Zoom x="${decimal(clamp(v.zoom, zoomMin, 1))}"/>`
  return out
}

const profile = (token: string) => `<tptz:ProfileToken>${escapeXml(token)}</tptz:ProfileToken>`

export function continuousMoveBody(profileToken: string, velocity: PtzVector, timeoutMs?: number): string {
  return (
    `<tptz:ContinuousMove>${profile(profileToken)}<tptz:Velocity>${vector(velocity)}</tptz:Velocity>` +
    (timeoutMs !== undefined ? `<tptz:Timeout>${duration(timeoutMs)}</tptz:Timeout>` : '') +
    '</tptz:ContinuousMove>'
  )
}

export const stopBody = (profileToken: string, panTilt = true, zoom = true) =>
  `<tptz:Stop>${profile(profileToken)}<tptz:PanTilt>${panTilt}</tptz:PanTilt><tptz:Zoom>${zoom}</tptz:Zoom></tptz:Stop>`

export function relativeMoveBody(profileToken: string, translation: PtzVector, speed?: PtzVector): string {
  return (
    `<tptz:RelativeMove>${profile(profileToken)}<tptz:Translation>${vector(translation)}</tptz:Translation>` +
    (speed ? `<tptz:Speed>${vector(speed, 0)}</tptz:Speed>` : '') +
    '</tptz:RelativeMove>'
  )
}

export function absoluteMoveBody(profileToken: string, position: PtzVector, speed?: PtzVector): string {
  return (
    `<tptz:AbsoluteMove>${profile(profileToken)}<tptz:Position>${vector(position, 0)}</tptz:Position>` +
    (speed ? `<tptz:Speed>${vector(speed, 0)}</tptz:Speed>` : '') +
    '</tptz:AbsoluteMove>'
  )
}

export const getNodesBody = () => '<tptz:GetNodes/>'
export const getConfigurationsBody = () => '<tptz:GetConfigurations/>'
export const getStatusBody = (profileToken: string) =>
  `<tptz:GetStatus>${profile(profileToken)}</tptz:GetStatus>`
export const getPresetsBody = (profileToken: string) =>
  `<tptz:GetPresets>${profile(profileToken)}</tptz:GetPresets>`

export const gotoPresetBody = (profileToken: string, presetToken: string, speed?: PtzVector) =>
  `<tptz:GotoPreset>${profile(profileToken)}<tptz:PresetToken>${escapeXml(presetToken)}</tptz:PresetToken>` +
  (speed ? `<tptz:Speed>${vector(speed, 0)}</tptz:Speed>` : '') +
  '</tptz:GotoPreset>'

/** SetPreset with a name creates a preset; with a token it overwrites that one. */
export const setPresetBody = (profileToken: string, name?: string, presetToken?: string) =>
  `<tptz:SetPreset>${profile(profileToken)}` +
  (name !== undefined ? `<tptz:PresetName>${escapeXml(name)}</tptz:PresetName>` : '') +
  (presetToken !== undefined ? `<tptz:PresetToken>${escapeXml(presetToken)}</tptz:PresetToken>` : '') +
  '</tptz:SetPreset>'

export const removePresetBody = (profileToken: string, presetToken: string) =>
  `<tptz:RemovePreset>${profile(profileToken)}<tptz:PresetToken>${escapeXml(presetToken)}</tptz:PresetToken></tptz:RemovePreset>`

export const gotoHomePositionBody = (profileToken: string, speed?: PtzVector) =>
  `<tptz:GotoHomePosition>${profile(profileToken)}` +
  (speed ? `<tptz:Speed>${vector(speed, 0)}</tptz:Speed>` : '') +
  '</tptz:GotoHomePosition>'

// --- Parsers -------------------------------------------------------------------------------------

export interface PtzNode {
  token: string
  name?: string
  /** Which kinds of move the node has a space for. */
  supports: {
    absolute: boolean
    relative: boolean
    continuous: boolean
  }
  maxPresets: number
  homeSupported: boolean
  auxiliaryCommands: string[]
}

export function parseNodes(status: number, body: Buffer | string): PtzNode[] {
  const r = parseSoapResponse(status, body, 'GetNodesResponse')
  return children(r, 'PTZNode').map(readNode)
}

/** GetNode (one node) answers with the same element under another response name. */
export function parseNode(status: number, body: Buffer | string): PtzNode {
  const r = parseSoapResponse(status, body, 'GetNodeResponse')
  return readNode(child(r, 'PTZNode') ?? r)
}

function readNode(n: XmlNode): PtzNode {
  const spaces = child(n, 'SupportedPTZSpaces')
  const has = (...names: string[]) => names.some((name) => child(spaces, name) !== undefined)
  const node: PtzNode = {
    token: attrText(n, 'token') ?? '',
    supports: {
      absolute: has('AbsolutePanTiltPositionSpace', 'AbsoluteZoomPositionSpace'),
      relative: has('RelativePanTiltTranslationSpace', 'RelativeZoomTranslationSpace'),
      continuous: has('ContinuousPanTiltVelocitySpace', 'ContinuousZoomVelocitySpace'),
    },
    maxPresets: num(child(n, 'MaximumNumberOfPresets')) ?? 0,
    homeSupported: bool(child(n, 'HomeSupported')) ?? false,
    auxiliaryCommands: children(n, 'AuxiliaryCommands')
      .map(xmlText)
      .filter((s): s is string => s !== undefined),
  }
  const name = xmlText(child(n, 'Name'))
  if (name) node.name = name
  return node
}

export interface PtzConfiguration {
  token: string
  name?: string
  nodeToken?: string
  /** xs:duration as sent. */
  defaultTimeout?: string
}

export function parseConfigurations(status: number, body: Buffer | string): PtzConfiguration[] {
  const r = parseSoapResponse(status, body, 'GetConfigurationsResponse')
  return children(r, 'PTZConfiguration').map((c) => {
    const out: PtzConfiguration = { token: attrText(c, 'token') ?? '' }
    const name = xmlText(child(c, 'Name'))
    if (name) out.name = name
    const node = xmlText(child(c, 'NodeToken'))
    if (node) out.nodeToken = node
    const timeout = xmlText(child(c, 'DefaultPTZTimeout'))
    if (timeout) out.defaultTimeout = timeout
    return out
  })
}

function readVector(node: XmlNode | undefined): PtzVector | undefined {
  if (node === undefined) return undefined
  const out: PtzVector = {}
  const pt = child(node, 'PanTilt')
  const pan = numAttr(attr(pt, 'x'))
  const tilt = numAttr(attr(pt, 'y'))
  const zoom = numAttr(attr(child(node, 'Zoom'), 'x'))
  if (pan !== undefined) out.pan = pan
  if (tilt !== undefined) out.tilt = tilt
  if (zoom !== undefined) out.zoom = zoom
  return Object.keys(out).length ? out : undefined
}

export interface PtzStatus {
  position?: PtzVector
  /** `IDLE`, `MOVING` or `UNKNOWN`, per axis. */
  moveStatus: { panTilt?: string; zoom?: string }
  error?: string
  utcTime?: string
}

export function parseStatus(status: number, body: Buffer | string): PtzStatus {
  const r = parseSoapResponse(status, body, 'GetStatusResponse')
  const s = child(r, 'PTZStatus')
  const out: PtzStatus = { moveStatus: {} }
  const position = readVector(child(s, 'Position'))
  if (position) out.position = position
  // MoveStatus is `<PanTilt>IDLE</PanTilt>` in ONVIF ≥ 2.0; very old firmwares put a bare word.
  const ms = child(s, 'MoveStatus')
  const pt = xmlText(child(ms, 'PanTilt'))
  const zoom = xmlText(child(ms, 'Zoom'))
  if (pt) out.moveStatus.panTilt = pt
  if (zoom) out.moveStatus.zoom = zoom
  if (!pt && !zoom && typeof ms === 'string' && ms) out.moveStatus.panTilt = ms
  const error = xmlText(child(s, 'Error'))
  if (error) out.error = error
  const utc = xmlText(child(s, 'UtcTime'))
  if (utc) out.utcTime = utc
  return out
}

export interface PtzPreset {
  token: string
  name?: string
  position?: PtzVector
}

export function parsePresets(status: number, body: Buffer | string): PtzPreset[] {
  const r = parseSoapResponse(status, body, 'GetPresetsResponse')
  return children(r, 'Preset')
    .map((node) => {
      const out: PtzPreset = { token: attrText(node, 'token') ?? '' }
      const name = xmlText(child(node, 'Name'))
      if (name) out.name = name
      const position = readVector(child(node, 'PTZPosition'))
      if (position) out.position = position
      return out
    })
    .filter((preset) => preset.token !== '')
}

/** SetPreset answers with the token of the preset made or overwritten. */
export function parseSetPreset(status: number, body: Buffer | string): string {
  const r = parseSoapResponse(status, body, 'SetPresetResponse')
  const token = xmlText(child(r, 'PresetToken'))
  if (!token) throw new OnvifError('bad_response', 'SetPreset answered no PresetToken')
  return token
}

/** Operations whose answer is empty: only a fault matters. */
export function parseEmpty(status: number, body: Buffer | string, op: string): void {
  parseSoapResponse(status, body, `${op}Response`)
}
