/**
 * Discovery targets as an operator types them (through the hub): an IPv4 host `10.0.1.5`, a host
 * and port `127.0.0.1:3702`, or a range `10.0.0.0/24` (optionally `10.0.0.0/24:3702`).
 *
 * Only IPv4 literals are accepted, never host names: a name would be resolved through the site's
 * DNS at probe time, so the address actually probed could not be checked against the bounds below
 * (a name can resolve to a public address, or to a different one on each lookup). Cameras are
 * addressed by IP on every site we know, so nothing is lost.
 *
 * Every target must lie in a non-public range (RFC 1918, loopback 127/8, link-local 169.254/16,
 * CGNAT 100.64/10): the agent sits inside a customer's network, and whoever can call the hub's
 * discover endpoint must not be able to turn it into a scanner or a UDP reflector aimed at the
 * Internet. Ranges are capped at /22 (1,024 addresses) and all targets together expand to at most
 * 1,024 addresses, so one request stays a bounded amount of traffic on the site's network.
 *
 * Pure: no I/O. Every refusal is a `DiscoveryTargetError` naming the target.
 */
export class DiscoveryTargetError extends Error {
  override name = 'DiscoveryTargetError'
  constructor(
    message: string,
    readonly target?: string,
  ) {
    super(message)
  }
}

/** Largest range accepted (/22) and largest expansion of all targets together. */
export const MIN_PREFIX = 22
export const MAX_TARGET_ADDRESSES = 1024
/** More target strings than this is a mistake, not a request (each can already be a /22). */
export const MAX_TARGETS = 256
const MAX_TARGET_LENGTH = 64

export type AddressScope = 'private' | 'loopback' | 'link-local' | 'cgnat' | 'public'

export interface DiscoveryTarget {
  /** The text as given (trimmed). */
  input: string
  /** Network address (host bits cleared) as an unsigned 32-bit integer. */
  network: number
  prefix: number
  port?: number
  scope: Exclude<AddressScope, 'public'>
}

export interface TargetAddress {
  address: string
  port?: number
}

/** Dotted quad → unsigned 32-bit integer, or undefined when not a strict IPv4 literal. */
export function ipv4ToInt(s: string): number | undefined {
  const parts = s.split('.')
  if (parts.length !== 4) return undefined
  let n = 0
  for (const p of parts) {
    // Leading zeros are refused: "010" is octal to some tools (inet_aton) and decimal to others, and
    // a target must mean the same address to everyone reading it.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined
    const v = Number(p)
    if (v > 255) return undefined
    n = n * 256 + v
  }
  return n >>> 0
}

export function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

export function isIpv4(s: string): boolean {
  return ipv4ToInt(s) !== undefined
}

function inRange(n: number, base: string, prefix: number): boolean {
  const b = ipv4ToInt(base)!
  const mask = prefixMask(prefix)
  return (n & mask) >>> 0 === (b & mask) >>> 0
}

export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
}

/** Which kind of range an address is in; everything not listed counts as public. */
export function addressScope(address: string | number): AddressScope {
  const n = typeof address === 'number' ? address : ipv4ToInt(address)
  if (n === undefined) return 'public'
  if (inRange(n, '10.0.0.0', 8) || inRange(n, '172.16.0.0', 12) || inRange(n, '192.168.0.0', 16))
    return 'private'
  if (inRange(n, '127.0.0.0', 8)) return 'loopback'
  if (inRange(n, '169.254.0.0', 16)) return 'link-local'
  if (inRange(n, '100.64.0.0', 10)) return 'cgnat'
  return 'public'
}

function quote(s: string): string {
  const short = s.length > MAX_TARGET_LENGTH ? `${s.slice(0, MAX_TARGET_LENGTH)}…` : s
  return JSON.stringify(short)
}

/** Parses one target; throws DiscoveryTargetError naming it when it is not acceptable. */
export function parseTarget(raw: unknown): DiscoveryTarget {
  // typeof, not String(raw): an object without a prototype cannot even be turned into a string.
  if (typeof raw !== 'string') throw new DiscoveryTargetError(`a target is a ${typeof raw}, not a string`)
  const input = raw.trim()
  if (input.length === 0) throw new DiscoveryTargetError('empty target', raw)
  if (input.length > MAX_TARGET_LENGTH)
    throw new DiscoveryTargetError(`target ${quote(input)} is too long`, raw)
  const m = /^([^/:]+)(?:\/([^:]*))?(?::([^:]*))?$/.exec(input)
  if (!m) throw new DiscoveryTargetError(`target ${quote(input)} is not IPv4[/prefix][:port]`, raw)
  const [, host = '', prefixText, portText] = m
  const addr = ipv4ToInt(host)
  if (addr === undefined) {
    const why = /[a-z]/i.test(host)
      ? 'host names are not accepted, give the IPv4 address (a name could resolve outside the allowed ranges)'
      : 'not an IPv4 address'
    throw new DiscoveryTargetError(`target ${quote(input)}: ${why}`, raw)
  }
  let prefix = 32
  if (prefixText !== undefined) {
    if (!/^[0-9]{1,2}$/.test(prefixText) || Number(prefixText) > 32)
      throw new DiscoveryTargetError(`target ${quote(input)}: bad prefix length`, raw)
    prefix = Number(prefixText)
    if (prefix < MIN_PREFIX)
      throw new DiscoveryTargetError(
        `target ${quote(input)}: range larger than /${MIN_PREFIX} (${MAX_TARGET_ADDRESSES} addresses)`,
        raw,
      )
  }
  let port: number | undefined
  if (portText !== undefined) {
    if (!/^[1-9][0-9]{0,4}$/.test(portText) || Number(portText) > 65535)
      throw new DiscoveryTargetError(`target ${quote(input)}: bad port`, raw)
    port = Number(portText)
  }
  // Host bits are cleared rather than refused: people type an interface's "address/prefix".
  const network = (addr & prefixMask(prefix)) >>> 0
  const last = (network + 2 ** (32 - prefix) - 1) >>> 0
  const scope = addressScope(network)
  // Both ends must be in the same non-public range; with prefixes ≥ /22 and allowed blocks ≥ /16
  // that is the case as soon as the network address is, but checking both keeps it obviously true.
  if (scope === 'public' || addressScope(last) !== scope)
    throw new DiscoveryTargetError(
      `target ${quote(input)}: not in a private, loopback, link-local or CGNAT range (public addresses are never probed)`,
      raw,
    )
  const target: DiscoveryTarget = { input, network, prefix, scope }
  if (port !== undefined) target.port = port
  return target
}

/** Parses a list; the first bad one throws. Also bounds the total expansion. */
export function parseTargets(raw: unknown): DiscoveryTarget[] {
  if (!Array.isArray(raw)) throw new DiscoveryTargetError('targets must be a list')
  if (raw.length > MAX_TARGETS) throw new DiscoveryTargetError(`more than ${MAX_TARGETS} targets`)
  const targets = raw.map(parseTarget)
  expandTargets(targets)
  return targets
}

/**
 * Every address of the targets (in order, first occurrence of an address/port kept). In ranges of
 * /30 and larger the network and broadcast addresses are skipped: nothing answers there, and a
 * datagram to a broadcast address would need SO_BROADCAST. Throws when the total is over the limit.
 */
export function expandTargets(targets: DiscoveryTarget[], max = MAX_TARGET_ADDRESSES): TargetAddress[] {
  let total = 0
  for (const t of targets) total += rangeSize(t.prefix)
  if (total > max)
    throw new DiscoveryTargetError(`targets expand to ${total} addresses, over the limit of ${max}`)
  const seen = new Set<string>()
  const out: TargetAddress[] = []
  for (const t of targets) {
    const size = 2 ** (32 - t.prefix)
    const skipEnds = t.prefix <= 30
    for (let i = skipEnds ? 1 : 0; i < (skipEnds ? size - 1 : size); i++) {
      const address = intToIpv4((t.network + i) >>> 0)
      const key = `${address}:${t.port ?? ''}`
      if (seen.has(key)) continue
      seen.add(key)
      out.push(t.port === undefined ? { address } : { address, port: t.port })
    }
  }
  return out
}

/** Addresses a range expands to (without the network and broadcast addresses from /30 on). */
export function rangeSize(prefix: number): number {
  const size = 2 ** (32 - prefix)
  return prefix <= 30 ? size - 2 : size
}
