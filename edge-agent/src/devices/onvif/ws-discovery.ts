import { randomUUID } from 'node:crypto'
import dgram from 'node:dgram'
import os from 'node:os'
import { RateLimiter, sleep } from '../discovery/rate-limit.ts'
import { expandTargets, isIpv4, parseTargets, type TargetAddress } from '../discovery/targets.ts'
import { at, children, find, parseXml, text, XmlError } from '../xml.ts'

/**
 * ONVIF device discovery by WS-Discovery (2005/04, the version ONVIF profiles require): a SOAP 1.2
 * Probe for `dn:NetworkVideoTransmitter` sent by UDP multicast to 239.255.255.250:3702 from every
 * IPv4 interface, and/or by unicast to given hosts; the devices answer with ProbeMatches sent to
 * our socket. Everything is matched by local name, never by prefix: devices use `d:`, `wsdd:`,
 * `dis:` or a default namespace for the same elements.
 */
export const WS_DISCOVERY_PORT = 3702
export const WS_DISCOVERY_MULTICAST = '239.255.255.250'
/** A UDP datagram cannot be larger; anything claiming to be is not a ProbeMatches we want. */
export const MAX_DATAGRAM_BYTES = 64 * 1024
/** Default pace of Probes: a /22 of unicast targets takes ~5 s. */
export const DEFAULT_PROBES_PER_SECOND = 200
/** Past this many distinct devices further answers are dropped (memory bound on a hostile LAN). */
const MAX_DEVICES = 4096

const NS_SOAP = 'http://www.w3.org/2003/05/soap-envelope'
const NS_WSA = 'http://schemas.xmlsoap.org/ws/2004/08/addressing'
const NS_WSD = 'http://schemas.xmlsoap.org/ws/2005/04/discovery'
const NS_DN = 'http://www.onvif.org/ver10/network/wsdl'
const NS_TDS = 'http://www.onvif.org/ver10/device/wsdl'
const WSD_TO = 'urn:schemas-xmlsoap-org:ws:2005:04:discovery'
const ACTION_PROBE = `${NS_WSD}/Probe`
const ANONYMOUS = `${NS_WSA}/role/anonymous`

export function newMessageId(): string {
  return `urn:uuid:${randomUUID()}`
}

/** The Probe message. `types` are QNames with prefix dn: (ONVIF network) or tds: (ONVIF device). */
export function buildProbe(messageId: string, types = 'dn:NetworkVideoTransmitter'): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    `<s:Envelope xmlns:s="${NS_SOAP}" xmlns:a="${NS_WSA}" xmlns:d="${NS_WSD}" xmlns:dn="${NS_DN}" xmlns:tds="${NS_TDS}">` +
    '<s:Header>' +
    `<a:MessageID>${escapeXml(messageId)}</a:MessageID>` +
    `<a:ReplyTo><a:Address>${ANONYMOUS}</a:Address></a:ReplyTo>` +
    `<a:To s:mustUnderstand="1">${WSD_TO}</a:To>` +
    `<a:Action s:mustUnderstand="1">${ACTION_PROBE}</a:Action>` +
    '</s:Header>' +
    `<s:Body><d:Probe><d:Types>${escapeXml(types)}</d:Types></d:Probe></s:Body>` +
    '</s:Envelope>'
  )
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`)
}

export interface ProbeMatch {
  /** EndpointReference Address (usually urn:uuid:…): the device's stable identity. */
  endpointReference?: string
  types: string[]
  scopes: string[]
  /** Device service URLs, with 0.0.0.0/empty hosts already replaced by the sender's address. */
  xaddrs: string[]
  name?: string
  hardware?: string
  location?: string
  metadataVersion?: string
}

export interface ProbeMatches {
  messageId?: string
  relatesTo?: string
  matches: ProbeMatch[]
}

/**
 * Parses a ProbeMatches message. `sender` (the datagram's source address) replaces the host of
 * XAddrs that say 0.0.0.0 or nothing: some cameras fill them in before they have an address, or
 * from a template. Throws XmlError when the text is not XML or not a ProbeMatches.
 */
export function parseProbeMatches(xml: string | Buffer, sender?: string): ProbeMatches {
  const source = typeof xml === 'string' ? xml : xml.toString('utf8')
  // A few stacks pad the datagram with whitespace or a NUL before the declaration.
  const doc = parseXml(source.replace(/^[\s\0\uFEFF]+/, '').replace(/[\s\0]+$/, ''))
  const envelope = at(doc, 'Envelope')
  const header = at(envelope, 'Header')
  const probeMatches = at(envelope, 'Body', 'ProbeMatches') ?? find(doc, 'ProbeMatches')
  if (probeMatches === undefined) throw new XmlError('not a WS-Discovery ProbeMatches message')
  const result: ProbeMatches = { matches: [] }
  const messageId = text(at(header, 'MessageID'))
  const relatesTo = text(at(header, 'RelatesTo'))
  if (messageId) result.messageId = messageId
  if (relatesTo) result.relatesTo = relatesTo
  for (const m of children(probeMatches, 'ProbeMatch')) {
    const match: ProbeMatch = {
      types: words(text(at(m, 'Types'))),
      scopes: words(text(at(m, 'Scopes'))),
      xaddrs: words(text(at(m, 'XAddrs'))).map((x) => (sender ? rewriteXAddr(x, sender) : x)),
    }
    const epr = text(at(m, 'EndpointReference', 'Address'))
    if (epr) match.endpointReference = epr
    const version = text(at(m, 'MetadataVersion'))
    if (version) match.metadataVersion = version
    Object.assign(match, decodeScopes(match.scopes))
    result.matches.push(match)
  }
  return result
}

function words(s: string | undefined): string[] {
  return s ? s.split(/\s+/).filter(Boolean) : []
}

/** Replaces a 0.0.0.0 or empty host in a URL by `sender` (string-level: WHATWG URL would read `http:///x` as host "x"). */
export function rewriteXAddr(xaddr: string, sender: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/is.exec(xaddr)
  if (!m) return xaddr
  const [, scheme = '', authority = '', rest = ''] = m
  const at = authority.lastIndexOf('@')
  const userinfo = at >= 0 ? authority.slice(0, at + 1) : ''
  const hostPort = authority.slice(at + 1)
  const pm = /^(.*?)(:[0-9]*)?$/.exec(hostPort)
  const host = pm?.[1] ?? ''
  const port = pm?.[2] ?? ''
  if (host !== '' && host !== '0.0.0.0') return xaddr
  return `${scheme}${userinfo}${sender}${port}${rest}`
}

export interface ScopeInfo {
  name?: string
  hardware?: string
  location?: string
}

/** name, hardware and location from `onvif://www.onvif.org/<kind>/<value>` scopes, percent-decoded. */
export function decodeScopes(scopes: string[]): ScopeInfo {
  const info: ScopeInfo = {}
  for (const scope of scopes) {
    const m = /^onvif:\/\/www\.onvif\.org\/(name|hardware|location)\/(.*)$/i.exec(scope)
    if (!m) continue
    const kind = m[1]!.toLowerCase() as keyof ScopeInfo
    const value = percentDecode(m[2]!).trim()
    // The first non-empty value wins; cameras list `location/` empty when unset.
    if (value && info[kind] === undefined) info[kind] = value
  }
  return info
}

function percentDecode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s // a stray "%" in a camera's name is not worth losing the name for
  }
}

export interface OnvifDiscoveredDevice extends ProbeMatch {
  /** Source address of the answer. */
  address: string
  /** The XAddr to talk to: an http(s) one on the sender's own address when there is one. */
  onvifUrl?: string
  via: 'multicast' | 'unicast'
}

export interface OnvifDiscoveryStats {
  /** Probes sent (multicast per interface and repeat, plus unicast). */
  sent: number
  sendErrors: number
  /** Probes not sent because the deadline came first. */
  unsent: number
  received: number
  duplicates: number
  ignoredTooLarge: number
  ignoredUnparsable: number
  /** Parsed, but RelatesTo named a message that is not ours. */
  ignoredUnrelated: number
  multicastInterfaces: string[]
  socketErrors: number
}

export interface OnvifDiscoveryResult {
  devices: OnvifDiscoveredDevice[]
  stats: OnvifDiscoveryStats
}

export interface DiscoverOnvifOptions {
  /** Unicast targets (see discovery/targets.ts); port defaults to 3702. */
  targets?: string[]
  /** Total time; answers are collected until then. */
  timeoutMs: number
  /** Multicast from these interfaces (names or IPv4 addresses); default all non-internal IPv4. */
  interfaces?: string[]
  /** Default: only when no targets are given (an operator naming hosts wants those hosts). */
  multicast?: boolean
  probesPerSecond?: number
  /** Probe Types (default dn:NetworkVideoTransmitter). */
  types?: string
  signal?: AbortSignal
}

/** IPv4 addresses of the non-internal interfaces, optionally limited to names/addresses given. */
export function multicastInterfaces(
  only?: string[],
  ifaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces(),
): string[] {
  const out: string[] = []
  for (const [name, infos] of Object.entries(ifaces)) {
    for (const info of infos ?? []) {
      // `family` was a number in some Node 18 releases.
      const v4 = info.family === 'IPv4' || (info.family as unknown) === 4
      if (!v4 || info.internal) continue
      if (only && !only.includes(name) && !only.includes(info.address)) continue
      out.push(info.address)
    }
  }
  return [...new Set(out)]
}

/**
 * Sends Probes and collects ProbeMatches for `timeoutMs`. Never throws for network trouble (a
 * machine without a usable interface simply finds nothing; failures are counted in `stats`); bad
 * targets throw DiscoveryTargetError before anything is sent.
 */
export async function discoverOnvif(opts: DiscoverOnvifOptions): Promise<OnvifDiscoveryResult> {
  const started = performance.now()
  // NaN would make every deadline comparison false, i.e. no deadline at all.
  const budget = Number.isFinite(opts.timeoutMs) ? Math.max(0, opts.timeoutMs) : 0
  const deadline = started + budget
  const unicast: TargetAddress[] = opts.targets?.length ? expandTargets(parseTargets(opts.targets)) : []
  const useMulticast = opts.multicast ?? unicast.length === 0
  const stats: OnvifDiscoveryStats = {
    sent: 0,
    sendErrors: 0,
    unsent: 0,
    received: 0,
    duplicates: 0,
    ignoredTooLarge: 0,
    ignoredUnparsable: 0,
    ignoredUnrelated: 0,
    multicastInterfaces: [],
    socketErrors: 0,
  }
  const ours = new Set<string>()
  const devices = new Map<string, OnvifDiscoveredDevice>()
  const sockets: dgram.Socket[] = []
  const stop = new AbortController()
  const onAbort = () => stop.abort()
  opts.signal?.addEventListener('abort', onAbort, { once: true })

  const onMessage = (via: 'multicast' | 'unicast') => (msg: Buffer, rinfo: dgram.RemoteInfo) => {
    stats.received++
    if (msg.length > MAX_DATAGRAM_BYTES) {
      stats.ignoredTooLarge++
      return
    }
    let parsed: ProbeMatches
    try {
      parsed = parseProbeMatches(msg, rinfo.address)
    } catch {
      stats.ignoredUnparsable++
      return
    }
    // RelatesTo is mandatory in the spec but some stacks omit it; when present it must be ours, so
    // answers to another agent's probe (or a replayed packet) are not taken as ours.
    if (parsed.relatesTo !== undefined && !ours.has(normaliseId(parsed.relatesTo))) {
      stats.ignoredUnrelated++
      return
    }
    for (const match of parsed.matches) {
      // Keyed by endpoint reference *and* sender: cameras with cloned firmware sometimes share a
      // UUID, and a device answering twice (multicast repeat, two interfaces) comes from one address.
      const key = `${match.endpointReference ?? [...match.xaddrs].sort().join(' ')}@${rinfo.address}`
      const existing = devices.get(key)
      if (existing) {
        stats.duplicates++
        for (const x of match.xaddrs) if (!existing.xaddrs.includes(x)) existing.xaddrs.push(x)
        continue
      }
      if (devices.size >= MAX_DEVICES) continue
      const device: OnvifDiscoveredDevice = { ...match, address: rinfo.address, via }
      const url = pickOnvifUrl(match.xaddrs, rinfo.address)
      if (url) device.onvifUrl = url
      devices.set(key, device)
    }
  }

  try {
    const limiter = new RateLimiter(opts.probesPerSecond ?? DEFAULT_PROBES_PER_SECOND, 20)
    // Leave answers time to come back: no probe is sent in the last part of the window.
    const sendUntil = deadline - Math.min(500, budget / 4)
    const send = async (socket: dgram.Socket, message: Buffer, port: number, address: string) => {
      if (!(await limiter.take(sendUntil, stop.signal))) {
        stats.unsent++
        return
      }
      try {
        await new Promise<void>((resolve, reject) =>
          socket.send(message, port, address, (err) => (err ? reject(err) : resolve())),
        )
        stats.sent++
      } catch {
        // EHOSTUNREACH, ENETUNREACH, EPERM (firewall), EADDRNOTAVAIL: that target or interface is
        // out of reach; the others still count.
        stats.sendErrors++
      }
    }

    const multicastSockets: dgram.Socket[] = []
    if (useMulticast) {
      for (const address of multicastInterfaces(opts.interfaces)) {
        const socket = await openSocket(address, stats)
        if (!socket) continue
        try {
          socket.setMulticastInterface(address)
          // The Probe stays on the local link, as WS-Discovery intends.
          socket.setMulticastTTL(1)
        } catch {
          stats.socketErrors++
          socket.close()
          continue
        }
        socket.on('message', onMessage('multicast'))
        sockets.push(socket)
        multicastSockets.push(socket)
        stats.multicastInterfaces.push(address)
      }
    }
    let unicastSocket: dgram.Socket | undefined
    if (unicast.length > 0) {
      unicastSocket = await openSocket('0.0.0.0', stats)
      if (unicastSocket) {
        unicastSocket.on('message', onMessage('unicast'))
        sockets.push(unicastSocket)
      } else stats.unsent += unicast.length
    }

    const multicastId = newMessageId()
    ours.add(normaliseId(multicastId))
    const multicastProbe = Buffer.from(buildProbe(multicastId, opts.types))
    for (const s of multicastSockets) await send(s, multicastProbe, WS_DISCOVERY_PORT, WS_DISCOVERY_MULTICAST)
    const repeatAt = performance.now() + 200
    if (unicastSocket) {
      for (const t of unicast) {
        // One MessageID per host: a device that suppresses repeated MessageIDs still answers, and
        // RelatesTo tells which probe an answer belongs to.
        const id = newMessageId()
        ours.add(normaliseId(id))
        await send(
          unicastSocket,
          Buffer.from(buildProbe(id, opts.types)),
          t.port ?? WS_DISCOVERY_PORT,
          t.address,
        )
      }
    }
    // UDP multicast is lossy; WS-Discovery repeats it once with the same MessageID (duplicates
    // are merged above).
    if (multicastSockets.length > 0) {
      const wait = repeatAt - performance.now()
      if (wait > 0 && performance.now() + wait < sendUntil) await sleep(wait, stop.signal)
      for (const s of multicastSockets)
        await send(s, multicastProbe, WS_DISCOVERY_PORT, WS_DISCOVERY_MULTICAST)
    }
    const remaining = deadline - performance.now()
    if (remaining > 0) await sleep(remaining, stop.signal)
  } finally {
    opts.signal?.removeEventListener('abort', onAbort)
    for (const s of sockets) {
      s.removeAllListeners('message')
      try {
        s.close()
      } catch {
        // already closed
      }
    }
  }
  return { devices: [...devices.values()], stats }
}

/** Some stacks echo `urn:uuid:X` as `uuid:X` or in upper case; the UUID is what identifies the probe. */
function normaliseId(id: string): string {
  return id.trim().toLowerCase().replace(/^urn:/, '')
}

async function openSocket(address: string, stats: OnvifDiscoveryStats): Promise<dgram.Socket | undefined> {
  const socket = dgram.createSocket({ type: 'udp4' })
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind({ address, port: 0 }, () => {
        socket.off('error', reject)
        resolve()
      })
    })
  } catch {
    stats.socketErrors++
    try {
      socket.close()
    } catch {
      // a socket whose bind failed may already count as closed
    }
    return undefined
  }
  // Late errors (ICMP port unreachable surfacing on some platforms) must not crash the agent.
  socket.on('error', () => {
    stats.socketErrors++
  })
  return socket
}

/** Prefers an http(s) XAddr on the sender's address, then any IPv4 http(s) one, then the first. */
export function pickOnvifUrl(xaddrs: string[], sender: string): string | undefined {
  const web = xaddrs.filter((x) => /^https?:\/\//i.test(x))
  const hostOf = (x: string) => {
    try {
      return new URL(x).hostname
    } catch {
      return undefined
    }
  }
  return (
    web.find((x) => hostOf(x) === sender) ??
    web.find((x) => {
      const h = hostOf(x)
      return h !== undefined && isIpv4(h)
    }) ??
    web[0] ??
    xaddrs[0]
  )
}
