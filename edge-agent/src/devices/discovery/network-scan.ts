import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import { RateLimiter } from './rate-limit.ts'
import {
  addressScope,
  expandTargets,
  intToIpv4,
  ipv4ToInt,
  MAX_TARGET_ADDRESSES,
  MIN_PREFIX,
  parseTargets,
  prefixMask,
} from './targets.ts'

/**
 * Network discovery for cameras that do not answer WS-Discovery (ONVIF off, or multicast
 * filtered): the site's own IPv4 subnets from the interfaces, the neighbour (ARP) table, then TCP
 * connect probes of the ports cameras and NVRs listen on. Cross-platform replacement for the
 * seed's WMI discovery; no raw sockets, no privileges, no extra packages.
 *
 * Bounds, and why: at most 1,024 hosts (a /22, the largest subnet a shop or branch has), only
 * non-public ranges, connect attempts paced (default 500/s) and a fixed number in flight (128), each
 * with its own timeout, the whole scan within the caller's deadline. Without explicit targets only
 * RFC 1918 and link-local subnets of physical-looking interfaces are scanned: a VPN or container
 * bridge leads to somebody else's network.
 */
export const SCAN_PORTS = [554, 80, 8000, 37777] as const
export const MAX_SCAN_HOSTS = MAX_TARGET_ADDRESSES
/** LAN round trips are milliseconds; 700 ms also covers a camera busy encoding four streams. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 700
export const DEFAULT_SCAN_CONCURRENCY = 128
export const DEFAULT_CONNECTS_PER_SECOND = 500

export type ScanProtocol = 'rtsp' | 'http' | 'isapi' | 'dahua'

/**
 * What an open port suggests; the caller confirms (ISAPI and ONVIF are both on port 80, so
 * 80/443 only say "http" here).
 */
export function protocolHints(ports: Iterable<number>): ScanProtocol[] {
  const out = new Set<ScanProtocol>()
  for (const p of ports) {
    if (p === 554) out.add('rtsp')
    else if (p === 80 || p === 443) out.add('http')
    else if (p === 8000)
      out.add('isapi') // Hikvision SDK port: a Hikvision device, ISAPI on 80/443
    else if (p === 37777) out.add('dahua') // Dahua private protocol port: a Dahua device
  }
  return [...out]
}

// ---------------------------------------------------------------------------------------------
// MAC vendors

/**
 * OUI prefixes of camera and NVR makers. Deliberately partial: every vendor owns dozens of blocks
 * and buys new ones every year, and OEM cameras carry their module maker's MAC. Only prefixes
 * known to be registered to these makers are listed; a miss means "unknown", never "not a camera".
 */
const OUI_VENDORS: Record<string, string> = {
  // Hangzhou Hikvision Digital Technology
  '44:19:B6': 'Hikvision',
  'BC:AD:28': 'Hikvision',
  'C0:56:E3': 'Hikvision',
  '4C:BD:8F': 'Hikvision',
  '28:57:BE': 'Hikvision',
  'C4:2F:90': 'Hikvision',
  // Zhejiang Dahua Technology
  '90:02:A9': 'Dahua',
  '3C:EF:8C': 'Dahua',
  '4C:11:BF': 'Dahua',
  'E0:50:8B': 'Dahua',
  '38:AF:29': 'Dahua',
  'BC:32:5F': 'Dahua',
  // Axis Communications
  '00:40:8C': 'Axis',
  'AC:CC:8E': 'Axis',
  'B8:A4:4F': 'Axis',
  'E8:27:25': 'Axis',
  // Samsung Techwin / Hanwha Vision
  '00:09:18': 'Hanwha',
  'E4:30:22': 'Hanwha',
  // Bosch Security Systems (00:07:5F is VCS, a Bosch company)
  '00:04:63': 'Bosch',
  '00:07:5F': 'Bosch',
  // Zhejiang Uniview Technologies
  '48:EA:63': 'Uniview',
  // Reolink
  'EC:71:DB': 'Reolink',
  // Amcrest Technologies
  '9C:8E:CD': 'Amcrest',
  // Vivotek
  '00:02:D1': 'Vivotek',
  // Mobotix
  '00:03:C5': 'Mobotix',
  // GeoVision
  '00:13:E2': 'GeoVision',
  // Avigilon
  '00:18:85': 'Avigilon',
  // Ubiquiti (UniFi Protect cameras, but also its switches and access points)
  '24:5A:4C': 'Ubiquiti',
  '78:8A:20': 'Ubiquiti',
  'F0:9F:C2': 'Ubiquiti',
  '74:83:C2': 'Ubiquiti',
  'FC:EC:DA': 'Ubiquiti',
  '68:72:51': 'Ubiquiti',
  '80:2A:A8': 'Ubiquiti',
}

/** `aa-bb-cc-dd-ee-ff`, `0:11:2:…`, `AABBCCDDEEFF` → `AA:BB:CC:DD:EE:FF`; undefined when not a MAC. */
export function normaliseMac(mac: string): string | undefined {
  const s = mac.trim()
  let parts: string[]
  if (/^[0-9a-f]{12}$/i.test(s)) parts = s.match(/../g)!
  else parts = s.split(/[:-]/)
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-f]{1,2}$/i.test(p))) return undefined
  return parts.map((p) => p.padStart(2, '0').toUpperCase()).join(':')
}

export function macVendor(mac: string | undefined): string | undefined {
  const m = mac && normaliseMac(mac)
  return m ? OUI_VENDORS[m.slice(0, 8)] : undefined
}

// ---------------------------------------------------------------------------------------------
// Neighbour table

export interface Neighbour {
  address: string
  mac: string
  interface?: string
}

/** Entries that name a real unicast neighbour (not incomplete, broadcast or multicast). */
function usable(address: string, mac: string | undefined): mac is string {
  if (!mac || ipv4ToInt(address) === undefined) return false
  if (mac === '00:00:00:00:00:00' || mac === 'FF:FF:FF:FF:FF:FF') return false
  // The group bit of the first octet: a multicast MAC (01:00:5E:… for IPv4 multicast).
  return (Number.parseInt(mac.slice(0, 2), 16) & 1) === 0
}

/** Linux `/proc/net/arp`: `IP address  HW type  Flags  HW address  Mask  Device`. */
export function parseProcNetArp(textContent: string): Neighbour[] {
  const out: Neighbour[] = []
  for (const line of textContent.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/)
    if (cols.length < 6) continue
    const [address = '', , flags = '', hw = '', , device] = cols
    // ATF_COM (0x2) is set once the entry is resolved; 0x0 is an incomplete entry.
    if ((Number.parseInt(flags, 16) & 0x2) === 0) continue
    const mac = normaliseMac(hw)
    if (!usable(address, mac)) continue
    out.push(device ? { address, mac, interface: device } : { address, mac })
  }
  return out
}

/**
 * Windows `arp -a`. The headers are localised ("Interface:", "Schnittstelle:", …), so rows are
 * recognised by shape: an IPv4 address, a dash-separated MAC, a type word.
 */
export function parseWindowsArp(textContent: string): Neighbour[] {
  const out: Neighbour[] = []
  let iface: string | undefined
  for (const line of textContent.split(/\r?\n/)) {
    const header = /^\S.*?\s(\d{1,3}(?:\.\d{1,3}){3})\s+---/.exec(line)
    if (header) {
      iface = header[1]
      continue
    }
    const row = /^\s+(\d{1,3}(?:\.\d{1,3}){3})\s+([0-9a-f]{2}(?:-[0-9a-f]{2}){5})\s+\S+/i.exec(line)
    if (!row) continue
    const address = row[1]!
    const mac = normaliseMac(row[2]!)
    if (!usable(address, mac)) continue
    out.push(iface ? { address, mac, interface: iface } : { address, mac })
  }
  return out
}

/** macOS/BSD `arp -an`: `? (192.168.1.1) at 0:11:22:33:44:55 on en0 ifscope [ethernet]`. */
export function parseBsdArp(textContent: string): Neighbour[] {
  const out: Neighbour[] = []
  for (const line of textContent.split('\n')) {
    const m = /\((\d{1,3}(?:\.\d{1,3}){3})\)\s+at\s+([0-9a-f:]+)(?:\s+on\s+(\S+))?/i.exec(line)
    if (!m) continue
    const address = m[1]!
    const mac = normaliseMac(m[2]!)
    if (!usable(address, mac)) continue
    out.push(m[3] ? { address, mac, interface: m[3] } : { address, mac })
  }
  return out
}

/** The neighbour table of this machine; empty (never an error) when it cannot be read. */
export async function readNeighbours(platform: NodeJS.Platform = process.platform): Promise<Neighbour[]> {
  try {
    if (platform === 'linux' || platform === 'android')
      return parseProcNetArp(await readFile('/proc/net/arp', 'utf8'))
    if (platform === 'win32') return parseWindowsArp(await run('arp', ['-a']))
    return parseBsdArp(await run('arp', ['-an']))
  } catch {
    return []
  }
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 3000, maxBuffer: 1024 * 1024, windowsHide: true }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    )
  })
}

// ---------------------------------------------------------------------------------------------
// Local subnets

export interface LocalSubnet {
  interface: string
  /** This machine's address on it (not probed). */
  address: string
  network: number
  prefix: number
  cidr: string
}

/** Interfaces that lead to other networks (VPNs) or to containers, not to the site's LAN. */
const VIRTUAL_INTERFACE =
  /^(docker|br-|veth|virbr|vmnet|vboxnet|cni|flannel|cali|weave|tailscale|zt|wg|tun|tap|utun|ppp)/i

/**
 * The site's own subnets: non-internal IPv4 interfaces in RFC 1918 or link-local ranges, each
 * narrowed to the /22 around the interface's address when the netmask is wider (a 10.0.0.0/8
 * office LAN must not mean 16 million probes). CGNAT (100.64/10) interfaces are left out: on an
 * agent that is a VPN overlay or the ISP's side, never the camera LAN.
 */
export function localSubnets(
  ifaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces(),
): LocalSubnet[] {
  const out: LocalSubnet[] = []
  const seen = new Set<string>()
  for (const [name, infos] of Object.entries(ifaces)) {
    if (VIRTUAL_INTERFACE.test(name)) continue
    for (const info of infos ?? []) {
      const v4 = info.family === 'IPv4' || (info.family as unknown) === 4
      if (!v4 || info.internal) continue
      const scope = addressScope(info.address)
      if (scope !== 'private' && scope !== 'link-local') continue
      const addr = ipv4ToInt(info.address)!
      const maskInt = ipv4ToInt(info.netmask)
      const prefix = Math.max(MIN_PREFIX, maskInt === undefined ? 24 : popcount(maskInt))
      if (prefix >= 31) continue // nothing else on a point-to-point link
      const network = (addr & prefixMask(prefix)) >>> 0
      const cidr = `${intToIpv4(network)}/${prefix}`
      if (seen.has(cidr)) continue
      seen.add(cidr)
      out.push({ interface: name, address: info.address, network, prefix, cidr })
    }
  }
  return out
}

function popcount(n: number): number {
  let c = 0
  for (let v = n >>> 0; v; v >>>= 1) c += v & 1
  return c
}

// ---------------------------------------------------------------------------------------------
// TCP probes

export type ProbeOutcome = 'open' | 'closed' | 'timeout' | 'error'

/** One TCP connect: open (accepted), closed (refused: the host is there), timeout or error. */
export function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port })
    let done = false
    const finish = (outcome: ProbeOutcome) => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve(outcome)
    }
    const timer = setTimeout(() => finish('timeout'), Math.max(1, timeoutMs))
    socket.once('connect', () => finish('open'))
    socket.once('error', (err: NodeJS.ErrnoException) =>
      finish(err.code === 'ECONNREFUSED' ? 'closed' : 'error'),
    )
  })
}

export interface ScanHost {
  address: string
  mac?: string
  vendor?: string
  openPorts: number[]
  protocols: ScanProtocol[]
}

export interface ScanStats {
  subnets: string[]
  hostsPlanned: number
  /** Hosts left out by the 1,024-host cap. */
  hostsTruncated: number
  probes: number
  open: number
  /** Hosts that refused at least one port: present, but nothing of ours open. */
  refused: number
  /** (host, port) pairs the deadline left untried. */
  unprobed: number
}

export interface ScanResult {
  hosts: ScanHost[]
  stats: ScanStats
}

export interface ScanOptions {
  /** Explicit targets (discovery/targets.ts); default the local subnets and neighbours. */
  targets?: string[]
  ports?: number[]
  /** Whole scan, ms. */
  timeoutMs: number
  connectTimeoutMs?: number
  concurrency?: number
  connectsPerSecond?: number
  /** For tests: the interfaces and neighbour table to use instead of this machine's. */
  interfaces?: NodeJS.Dict<os.NetworkInterfaceInfo[]>
  neighbours?: Neighbour[]
  signal?: AbortSignal
}

/**
 * Probes hosts and reports those with an open port or a camera maker's MAC. Bad targets throw
 * DiscoveryTargetError before anything is sent; network trouble is never an error.
 */
export async function scanNetwork(opts: ScanOptions): Promise<ScanResult> {
  // NaN would make every deadline comparison false, i.e. no deadline at all.
  const deadline = performance.now() + (Number.isFinite(opts.timeoutMs) ? Math.max(0, opts.timeoutMs) : 0)
  const basePorts = opts.ports ?? [...SCAN_PORTS]
  const neighbours = opts.neighbours ?? (await readNeighbours())
  const macOf = new Map(neighbours.map((n) => [n.address, n.mac]))
  const stats: ScanStats = {
    subnets: [],
    hostsPlanned: 0,
    hostsTruncated: 0,
    probes: 0,
    open: 0,
    refused: 0,
    unprobed: 0,
  }

  // host → ports to try
  const plan = new Map<string, Set<number>>()
  if (opts.targets?.length) {
    for (const t of expandTargets(parseTargets(opts.targets))) {
      const ports = plan.get(t.address) ?? new Set(basePorts)
      // A port named in a target is tried too (the operator knows the camera listens there).
      if (t.port !== undefined) ports.add(t.port)
      plan.set(t.address, ports)
    }
  } else {
    const subnets = localSubnets(opts.interfaces)
    stats.subnets = subnets.map((s) => s.cidr)
    const own = new Set(subnets.map((s) => s.address))
    const inSubnets = (n: number) => subnets.some((s) => (n & prefixMask(s.prefix)) >>> 0 === s.network)
    const candidates: string[] = []
    // Neighbours first: they are known to be alive, so cameras among them are found even when
    // the deadline cuts the sweep short.
    for (const n of neighbours) {
      const v = ipv4ToInt(n.address)
      if (v !== undefined && inSubnets(v)) candidates.push(n.address)
    }
    for (const s of subnets) {
      const size = 2 ** (32 - s.prefix)
      for (let i = 1; i < size - 1; i++) candidates.push(intToIpv4((s.network + i) >>> 0))
    }
    const distinct = new Set(candidates.filter((a) => !own.has(a)))
    for (const address of distinct) {
      if (plan.size >= MAX_SCAN_HOSTS) break
      plan.set(address, new Set(basePorts))
    }
    stats.hostsTruncated = distinct.size - plan.size
  }
  stats.hostsPlanned = plan.size

  // Most addresses of a subnet are empty, and an empty address costs a full connect timeout per
  // port. So each host is first tried on one port (RTSP, the strongest hint); only hosts that
  // answered that (accepted or refused) or that are in the neighbour table get their other ports
  // next, and hosts that stayed silent get them last, with whatever time is left.
  const first: [string, number][] = []
  const responsive: [string, number][] = []
  const deferred: [string, number][] = []
  const rest = new Map<string, number[]>()
  for (const [host, portSet] of plan) {
    const ports = [...portSet]
    if (macOf.has(host)) {
      for (const p of ports) responsive.push([host, p])
      continue
    }
    if (ports[0] === undefined) continue
    first.push([host, ports[0]])
    if (ports.length > 1) rest.set(host, ports.slice(1))
  }
  const total = first.length + responsive.length + [...rest.values()].reduce((n, p) => n + p.length, 0)

  const open = new Map<string, number[]>()
  const refused = new Set<string>()
  const limiter = new RateLimiter(opts.connectsPerSecond ?? DEFAULT_CONNECTS_PER_SECOND, 20)
  const connectTimeout = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
  let firstInFlight = 0
  let wake: (() => void)[] = []
  const notify = () => {
    const w = wake
    wake = []
    for (const f of w) f()
  }
  const release = (host: string, answered: boolean) => {
    const more = rest.get(host)
    if (!more) return
    rest.delete(host)
    for (const p of more) (answered ? responsive : deferred).push([host, p])
  }
  const nextItem = (): { item: [string, number]; isFirst: boolean } | undefined => {
    const f = first.shift()
    if (f) return { item: f, isFirst: true }
    const r = responsive.shift() ?? deferred.shift()
    return r ? { item: r, isFirst: false } : undefined
  }
  const worker = async () => {
    for (;;) {
      if (first.length + responsive.length + deferred.length === 0) {
        // Probes still in flight may release more ports; wait for one of them, or stop.
        if (firstInFlight === 0) return
        await new Promise<void>((resolve) => wake.push(resolve))
        continue
      }
      // A connect needs some time to mean anything; past that point the rest is left untried.
      if (!(await limiter.take(deadline - 50, opts.signal))) return
      const budget = Math.min(connectTimeout, deadline - performance.now())
      if (budget < 20) return
      const next = nextItem()
      if (!next) continue
      const [host, port] = next.item
      stats.probes++
      if (next.isFirst) firstInFlight++
      const outcome = await tcpProbe(host, port, budget)
      if (outcome === 'open') {
        stats.open++
        const list = open.get(host) ?? []
        list.push(port)
        open.set(host, list)
      } else if (outcome === 'closed') refused.add(host)
      if (next.isFirst) {
        firstInFlight--
        release(host, outcome === 'open' || outcome === 'closed')
        notify()
      }
    }
  }
  const workers = Math.max(1, Math.min(opts.concurrency ?? DEFAULT_SCAN_CONCURRENCY, total))
  await Promise.all(Array.from({ length: workers }, worker))
  notify()
  stats.unprobed = total - stats.probes
  stats.refused = refused.size

  const hosts: ScanHost[] = []
  for (const address of plan.keys()) {
    const ports = (open.get(address) ?? []).sort((a, b) => a - b)
    const mac = macOf.get(address)
    const vendor = macVendor(mac)
    if (ports.length === 0 && !vendor) continue
    const host: ScanHost = { address, openPorts: ports, protocols: protocolHints(ports) }
    if (mac) host.mac = mac
    if (vendor) host.vendor = vendor
    hosts.push(host)
  }
  hosts.sort((a, b) => ipv4ToInt(a.address)! - ipv4ToInt(b.address)!)
  return { hosts, stats }
}
