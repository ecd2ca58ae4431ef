import { at, child, children, type XmlNode } from '../xml.ts'
import { attrText, bool, NS, num, OnvifError, parseSoapResponse, xmlText } from './soap.ts'

/**
 * ONVIF Device service (tds): request bodies and response parsers, pure. Each parser takes the
 * HTTP status and the raw body and throws OnvifError (fault, bad_response) on anything else.
 */
export const DEVICE_ACTION = (op: string) => `${NS.tds}/${op}`

// --- GetSystemDateAndTime ----------------------------------------------------------------------

export const getSystemDateAndTimeBody = () => '<tds:GetSystemDateAndTime/>'

export interface SystemDateAndTime {
  /** The device clock, UTC. */
  utc: Date
  /** `Manual` or `NTP`. */
  dateTimeType?: string
  daylightSavings?: boolean
  timeZone?: string
}

export function parseSystemDateAndTime(status: number, body: Buffer | string): SystemDateAndTime {
  const r = parseSoapResponse(status, body, 'GetSystemDateAndTimeResponse')
  const sdt = child(r, 'SystemDateAndTime')
  const utc = at(sdt, 'UTCDateTime')
  const date = readDateTime(utc)
  if (!date) throw new OnvifError('bad_response', 'GetSystemDateAndTime has no readable UTCDateTime')
  const out: SystemDateAndTime = { utc: date }
  const type = xmlText(child(sdt, 'DateTimeType'))
  if (type) out.dateTimeType = type
  const dst = bool(child(sdt, 'DaylightSavings'))
  if (dst !== undefined) out.daylightSavings = dst
  const tz = xmlText(at(sdt, 'TimeZone', 'TZ'))
  if (tz) out.timeZone = tz
  return out
}

function readDateTime(node: XmlNode | undefined): Date | undefined {
  const d = child(node, 'Date')
  const t = child(node, 'Time')
  const parts = [
    num(child(d, 'Year')),
    num(child(d, 'Month')),
    num(child(d, 'Day')),
    num(child(t, 'Hour')),
    num(child(t, 'Minute')),
    num(child(t, 'Second')),
  ]
  if (parts.some((p) => p === undefined || !Number.isInteger(p))) return undefined
  const [y, mo, day, h, mi, s] = parts as number[] as [number, number, number, number, number, number]
  // Range checks, because Date.UTC silently rolls month 13 into the next year.
  if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || day < 1 || day > 31) return undefined
  if (h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60) return undefined
  const date = new Date(Date.UTC(y, mo - 1, day, h, mi, Math.min(s, 59)))
  return date.getUTCDate() === day ? date : undefined
}

// --- GetDeviceInformation ------------------------------------------------------------------------

export const getDeviceInformationBody = () => '<tds:GetDeviceInformation/>'

export interface DeviceInformation {
  manufacturer?: string
  model?: string
  firmwareVersion?: string
  serialNumber?: string
  hardwareId?: string
}

export function parseDeviceInformation(status: number, body: Buffer | string): DeviceInformation {
  const r = parseSoapResponse(status, body, 'GetDeviceInformationResponse')
  const out: DeviceInformation = {}
  const fields: [keyof DeviceInformation, string][] = [
    ['manufacturer', 'Manufacturer'],
    ['model', 'Model'],
    ['firmwareVersion', 'FirmwareVersion'],
    ['serialNumber', 'SerialNumber'],
    ['hardwareId', 'HardwareId'],
  ]
  for (const [key, name] of fields) {
    const v = xmlText(child(r, name))
    if (v !== undefined) out[key] = v
  }
  return out
}

// --- GetCapabilities ----------------------------------------------------------------------------

export const getCapabilitiesBody = () =>
  '<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>'

export interface Capabilities {
  /**
   * Service XAddrs by capability name, first letter lower-cased: `device`, `media`, `ptz`,
   * `events`, `imaging`, `analytics`, and the ones under `Extension` (`deviceIO`, `recording`,
   * `search`, `replay`…) and vendor `Extension/Extensions` (Dahua `telexCapabilities`).
   */
  xaddrs: Record<string, string>
  /** Events/WSPullPointSupport as stated — unreliable (the Dahua fixture says false and serves one). */
  pullPointSupport?: boolean
  /** Media/StreamingCapabilities/RTPMulticast. */
  rtpMulticast?: boolean
  /** Device/System/SupportedVersions as `major.minor`, minor on two digits (`2.00`, `20.06`). */
  supportedVersions: string[]
}

const lowerFirst = (s: string) =>
  s.length > 1 && s !== s.toUpperCase() ? s[0]!.toLowerCase() + s.slice(1) : s.toLowerCase()

export function parseCapabilities(status: number, body: Buffer | string): Capabilities {
  const r = parseSoapResponse(status, body, 'GetCapabilitiesResponse')
  const caps = child(r, 'Capabilities')
  if (caps === undefined || typeof caps !== 'object')
    throw new OnvifError('bad_response', 'GetCapabilities has no Capabilities')
  const xaddrs: Record<string, string> = {}
  const collect = (node: unknown, depth: number) => {
    if (!node || typeof node !== 'object' || depth > 3) return
    for (const [name, value] of Object.entries(node as Record<string, unknown>)) {
      if (name.startsWith('@') || name === '#text') continue
      // Extension (ONVIF) and Extensions (Dahua) hold more services one level down.
      if (name === 'Extension' || name === 'Extensions') {
        for (const v of Array.isArray(value) ? value : [value]) collect(v, depth + 1)
        continue
      }
      const first = Array.isArray(value) ? value[0] : value
      const xaddr = xmlText(child(first, 'XAddr'))
      if (xaddr && !(lowerFirst(name) in xaddrs)) xaddrs[lowerFirst(name)] = xaddr
    }
  }
  collect(caps, 0)
  const out: Capabilities = {
    xaddrs,
    supportedVersions: children(at(caps, 'Device', 'System'), 'SupportedVersions')
      .map((v) => {
        const major = num(child(v, 'Major'))
        const minor = num(child(v, 'Minor'))
        return major === undefined || minor === undefined
          ? undefined
          : `${major}.${String(minor).padStart(2, '0')}`
      })
      .filter((v): v is string => v !== undefined),
  }
  const pull = bool(at(caps, 'Events', 'WSPullPointSupport'))
  if (pull !== undefined) out.pullPointSupport = pull
  const multicast = bool(at(caps, 'Media', 'StreamingCapabilities', 'RTPMulticast'))
  if (multicast !== undefined) out.rtpMulticast = multicast
  return out
}

// --- GetServices --------------------------------------------------------------------------------

export const getServicesBody = () =>
  '<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>'

export interface OnvifService {
  namespace: string
  xaddr: string
  version?: { major: number; minor: number }
}

export const SERVICE_NS = {
  device: NS.tds,
  media: NS.trt,
  media2: NS.tr2,
  ptz: NS.tptz,
  events: NS.tev,
  imaging: 'http://www.onvif.org/ver20/imaging/wsdl',
  deviceIO: 'http://www.onvif.org/ver10/deviceIO/wsdl',
} as const

export function parseServices(status: number, body: Buffer | string): OnvifService[] {
  const r = parseSoapResponse(status, body, 'GetServicesResponse')
  const out: OnvifService[] = []
  for (const s of children(r, 'Service')) {
    const namespace = xmlText(child(s, 'Namespace'))
    const xaddr = xmlText(child(s, 'XAddr'))
    if (!namespace || !xaddr) continue
    const service: OnvifService = { namespace, xaddr }
    const major = num(at(s, 'Version', 'Major'))
    const minor = num(at(s, 'Version', 'Minor'))
    if (major !== undefined && minor !== undefined) service.version = { major, minor }
    out.push(service)
  }
  if (out.length === 0) throw new OnvifError('bad_response', 'GetServices lists no service')
  return out
}

/** namespace → XAddr (first wins). */
export function servicesByNamespace(services: OnvifService[]): Map<string, OnvifService> {
  const out = new Map<string, OnvifService>()
  for (const s of services) if (!out.has(s.namespace)) out.set(s.namespace, s)
  return out
}

/** Whether the device offers Media2 (`http://www.onvif.org/ver20/media/wsdl`). */
export const hasMedia2 = (services: OnvifService[]) => services.some((s) => s.namespace === NS.tr2)

// --- GetNetworkInterfaces -----------------------------------------------------------------------

export const getNetworkInterfacesBody = () => '<tds:GetNetworkInterfaces/>'

export interface NetworkInterface {
  token: string
  enabled: boolean
  name?: string
  hwAddress?: string
  mtu?: number
  ipv4?: {
    enabled: boolean
    dhcp: boolean
    addresses: { address: string; prefixLength: number; from: 'manual' | 'dhcp' | 'linkLocal' }[]
  }
}

export function parseNetworkInterfaces(status: number, body: Buffer | string): NetworkInterface[] {
  const r = parseSoapResponse(status, body, 'GetNetworkInterfacesResponse')
  return children(r, 'NetworkInterfaces').map((n) => {
    const out: NetworkInterface = {
      token: attrText(n, 'token') ?? '',
      enabled: bool(child(n, 'Enabled')) ?? false,
    }
    const info = child(n, 'Info')
    const name = xmlText(child(info, 'Name'))
    if (name) out.name = name
    const hw = xmlText(child(info, 'HwAddress'))
    if (hw) out.hwAddress = hw
    const mtu = num(child(info, 'MTU'))
    if (mtu !== undefined) out.mtu = mtu
    const v4 = child(n, 'IPv4')
    if (v4 !== undefined) {
      const config = child(v4, 'Config')
      const addresses: NonNullable<NetworkInterface['ipv4']>['addresses'] = []
      for (const [element, from] of [
        ['Manual', 'manual'],
        ['FromDHCP', 'dhcp'],
        ['LinkLocal', 'linkLocal'],
      ] as const) {
        for (const a of children(config, element)) {
          const address = xmlText(child(a, 'Address'))
          const prefixLength = num(child(a, 'PrefixLength'))
          if (address && prefixLength !== undefined) addresses.push({ address, prefixLength, from })
        }
      }
      out.ipv4 = {
        enabled: bool(child(v4, 'Enabled')) ?? false,
        dhcp: bool(child(config, 'DHCP')) ?? false,
        addresses,
      }
    }
    return out
  })
}
