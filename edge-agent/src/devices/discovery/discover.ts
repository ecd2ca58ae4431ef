import { discoverOnvif, type OnvifDiscoveryStats } from '../onvif/ws-discovery.ts'
import { macVendor, type Neighbour, readNeighbours, type ScanStats, scanNetwork } from './network-scan.ts'
import { sleep } from './rate-limit.ts'
import { DiscoveryTargetError, expandTargets, ipv4ToInt, parseTargets } from './targets.ts'

/**
 * One discovery request from the hub (`POST /api/v1/agents/{id}/discover`): WS-Discovery and/or a
 * bounded network scan, run side by side within one time budget, merged into one entry per IPv4
 * address. Without targets: multicast and the site's own subnets; with targets: only those.
 *
 * What is found is a candidate, not a camera: firmware and serial need credentials
 * (GetDeviceInformation, ISAPI deviceInfo), which the caller does next; `cameraId` (a camera
 * already configured at that address) is the hub's to fill in.
 */
export type DiscoveryMethod = 'onvif' | 'scan'
export type DiscoveredProtocol = 'onvif' | 'isapi' | 'dahua' | 'rtsp' | 'http'

export interface DiscoveredDevice {
  address: string
  /** Port to manage the device on: the ONVIF service's, else the first open of 80, 443, 8000, 37777, 554, else 80. */
  port: number
  manufacturer?: string
  model?: string
  firmware?: string
  serial?: string
  mac?: string
  name?: string
  hardware?: string
  location?: string
  protocols: DiscoveredProtocol[]
  onvifUrl?: string
  /** WS-Discovery endpoint reference (urn:uuid:…), stable across address changes. */
  endpointReference?: string
  openPorts: number[]
}

export interface DiscoverOptions {
  methods: DiscoveryMethod[]
  targets?: string[]
  /** Whole request, ms; clamped to [MIN_TIMEOUT_MS, MAX_TIMEOUT_MS]. */
  timeoutMs: number
  signal?: AbortSignal
  /** Test hooks and tuning, passed through. */
  multicastInterfaces?: string[]
  scanPorts?: number[]
  neighbours?: Neighbour[]
  interfaces?: Parameters<typeof scanNetwork>[0]['interfaces']
}

export interface DiscoverResult {
  devices: DiscoveredDevice[]
  stats: { onvif?: OnvifDiscoveryStats; scan?: ScanStats; elapsedMs: number }
}

export const MIN_TIMEOUT_MS = 100
/** A hub request holds an HTTP call open for the duration; a minute is plenty for a /22. */
export const MAX_TIMEOUT_MS = 60_000
const METHODS: readonly DiscoveryMethod[] = ['onvif', 'scan']

/** The merged device list (see discoverDetailed for counters). */
export async function discover(opts: DiscoverOptions): Promise<DiscoveredDevice[]> {
  return (await discoverDetailed(opts)).devices
}

/**
 * Validates the whole request first (a bad method or target is a DiscoveryTargetError and nothing
 * is sent), then runs the methods concurrently. Returns within timeoutMs plus a few milliseconds
 * of merging; failures of the network are never errors, only fewer devices.
 */
export async function discoverDetailed(opts: DiscoverOptions): Promise<DiscoverResult> {
  const started = performance.now()
  if (!Array.isArray(opts.methods) || opts.methods.length === 0)
    throw new DiscoveryTargetError('methods must list at least one of onvif, scan')
  for (const m of opts.methods)
    if (!METHODS.includes(m)) throw new DiscoveryTargetError(`unknown discovery method ${JSON.stringify(m)}`)
  if (typeof opts.timeoutMs !== 'number' || !Number.isFinite(opts.timeoutMs))
    throw new DiscoveryTargetError('timeoutMs must be a number')
  const timeoutMs = Math.min(MAX_TIMEOUT_MS, Math.max(MIN_TIMEOUT_MS, opts.timeoutMs))
  const targets = opts.targets?.length ? opts.targets : undefined
  if (targets) expandTargets(parseTargets(targets))
  const deadline = started + timeoutMs

  // The neighbour table gives MACs (hence vendors) to WS-Discovery answers too. On Windows it is a
  // child process, so it gets a share of the budget, not all of it.
  const neighbours =
    opts.neighbours ?? (await raceDeadline(readNeighbours(), started + Math.min(1000, timeoutMs / 4), []))
  const remaining = () => Math.max(0, deadline - performance.now())

  const [onvif, scan] = await Promise.all([
    opts.methods.includes('onvif')
      ? discoverOnvif({
          timeoutMs: remaining(),
          ...(targets ? { targets } : {}),
          ...(opts.multicastInterfaces ? { interfaces: opts.multicastInterfaces } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
        })
      : undefined,
    opts.methods.includes('scan')
      ? scanNetwork({
          timeoutMs: remaining(),
          neighbours,
          ...(targets ? { targets } : {}),
          ...(opts.scanPorts ? { ports: opts.scanPorts } : {}),
          ...(opts.interfaces ? { interfaces: opts.interfaces } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
        })
      : undefined,
  ])

  const macOf = new Map(neighbours.map((n) => [n.address, n.mac]))
  const byAddress = new Map<string, DiscoveredDevice>()
  const entry = (address: string): DiscoveredDevice => {
    let d = byAddress.get(address)
    if (!d) {
      d = { address, port: 0, protocols: [], openPorts: [] }
      byAddress.set(address, d)
    }
    return d
  }
  const addProtocol = (d: DiscoveredDevice, p: DiscoveredProtocol) => {
    if (!d.protocols.includes(p)) d.protocols.push(p)
  }

  for (const o of onvif?.devices ?? []) {
    const d = entry(o.address)
    addProtocol(d, 'onvif')
    // First answer wins per field: a second endpoint on one address (an NVR) adds nothing new here.
    if (o.onvifUrl && !d.onvifUrl) d.onvifUrl = o.onvifUrl
    if (o.endpointReference && !d.endpointReference) d.endpointReference = o.endpointReference
    if (o.name && !d.name) d.name = o.name
    if (o.hardware && !d.hardware) d.hardware = o.hardware
    if (o.location && !d.location) d.location = o.location
  }
  for (const h of scan?.hosts ?? []) {
    const d = entry(h.address)
    d.openPorts = [...new Set([...d.openPorts, ...h.openPorts])].sort((a, b) => a - b)
    for (const p of h.protocols) addProtocol(d, p)
  }

  const devices = [...byAddress.values()]
  for (const d of devices) {
    const mac = macOf.get(d.address)
    if (mac) d.mac = mac
    // The ONVIF hardware scope is the model on every camera we have seen (name is user-set).
    if (d.hardware) d.model = d.hardware
    const manufacturer = macVendor(mac) ?? vendorFromText(d.name) ?? vendorFromText(d.hardware)
    if (manufacturer) d.manufacturer = manufacturer
    d.port = managementPort(d)
    d.protocols.sort((a, b) => PROTOCOL_ORDER.indexOf(a) - PROTOCOL_ORDER.indexOf(b))
  }
  devices.sort((a, b) => (ipv4ToInt(a.address) ?? 0) - (ipv4ToInt(b.address) ?? 0))

  const stats: DiscoverResult['stats'] = { elapsedMs: Math.round(performance.now() - started) }
  if (onvif) stats.onvif = onvif.stats
  if (scan) stats.scan = scan.stats
  return { devices, stats }
}

const PROTOCOL_ORDER: DiscoveredProtocol[] = ['onvif', 'isapi', 'dahua', 'rtsp', 'http']

function managementPort(d: DiscoveredDevice): number {
  if (d.onvifUrl) {
    try {
      const url = new URL(d.onvifUrl)
      return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80
    } catch {
      // fall through to the scanned ports
    }
  }
  return [80, 443, 8000, 37777, 554].find((p) => d.openPorts.includes(p)) ?? d.openPorts[0] ?? 80
}

/** Makers that put their name in the ONVIF name or hardware scope (a hint when the MAC is unknown). */
const VENDOR_WORDS: [RegExp, string][] = [
  [/hikvision|^ds-\d/i, 'Hikvision'],
  [/dahua|^(ipc|dh)-/i, 'Dahua'],
  [/\baxis\b/i, 'Axis'],
  [/hanwha|wisenet|samsung/i, 'Hanwha'],
  [/\bbosch\b/i, 'Bosch'],
  [/uniview|^ipc\d{4}/i, 'Uniview'],
  [/reolink/i, 'Reolink'],
  [/amcrest/i, 'Amcrest'],
  [/vivotek/i, 'Vivotek'],
  [/mobotix/i, 'Mobotix'],
]

function vendorFromText(s: string | undefined): string | undefined {
  if (!s) return undefined
  return VENDOR_WORDS.find(([re]) => re.test(s))?.[1]
}

async function raceDeadline<T>(p: Promise<T>, at: number, fallback: T): Promise<T> {
  const ac = new AbortController()
  const timer = sleep(Math.max(0, at - performance.now()), ac.signal).then(() => fallback)
  try {
    return await Promise.race([p, timer])
  } finally {
    ac.abort()
  }
}
