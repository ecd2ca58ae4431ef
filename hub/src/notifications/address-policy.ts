import { lookup as dnsLookup } from 'node:dns/promises'
import { BlockList, isIP } from 'node:net'

/**
 * Where the hub may send notifications (issue 16): webhooks and MQTT brokers named by tenant
 * admins must be on the public internet, never the hub's own loopback, its LAN, a cloud metadata
 * service or anything else only the hub can reach (SSRF). A hostname is resolved and every
 * address it has must be public; the delivery then connects to the address checked, so a DNS
 * answer that changes in between (rebinding) cannot redirect it.
 */

/** A notification target the hub refuses (the route answers 400 with this message). */
export class NotificationTargetError extends Error {
  override name = 'NotificationTargetError'
}

const blocked = new BlockList()
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network", 0.0.0.0 included
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const)
  blocked.addSubnet(net, prefix, 'ipv4')
for (const [net, prefix] of [
  ['::', 96], // unspecified, loopback, IPv4-compatible (deprecated)
  ['64:ff9b::', 96], // NAT64: reaches an IPv4 address through a translator
  ['64:ff9b:1::', 48],
  ['100::', 64], // discard
  ['2001::', 23], // IETF protocol assignments (Teredo and others)
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4: embeds an IPv4 address
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const)
  blocked.addSubnet(net, prefix, 'ipv6')

/** The 8 hextets of an IPv6 address (an embedded dotted IPv4 tail included); undefined if malformed. */
function hextets(address: string): number[] | undefined {
  let text = address.toLowerCase()
  const zone = text.indexOf('%')
  if (zone >= 0) text = text.slice(0, zone)
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (v4) {
    const b = v4.slice(1).map(Number) as [number, number, number, number]
    if (b.some((x) => x > 255)) return undefined
    text = `${text.slice(0, v4.index)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`
  }
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((h) => Number.parseInt(h, 16)))
  const head = parse(halves[0] ?? '')
  const tail = halves.length === 2 ? parse(halves[1] ?? '') : []
  const fill = 8 - head.length - tail.length
  if (halves.length === 1 ? fill !== 0 : fill < 1) return undefined
  const all = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail]
  return all.some((h) => Number.isNaN(h) || h < 0 || h > 0xffff) ? undefined : all
}

/**
 * True when an IP address (v4 or v6, literal) is on the public internet. IPv4-mapped IPv6
 * (`::ffff:127.0.0.1`) is judged as the IPv4 address it is. Anything unparsable is not public.
 */
export function isPublicAddress(address: string): boolean {
  const ip = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address
  const family = isIP(ip)
  if (family === 4) return !blocked.check(ip, 'ipv4')
  if (family !== 6) return false
  const h = hextets(ip)
  if (!h) return false
  // ::ffff:a.b.c.d — the socket reaches the IPv4 address.
  if (h.slice(0, 5).every((x) => x === 0) && h[5] === 0xffff) {
    const v4 = `${(h[6] ?? 0) >> 8}.${(h[6] ?? 0) & 255}.${(h[7] ?? 0) >> 8}.${(h[7] ?? 0) & 255}`
    return !blocked.check(v4, 'ipv4')
  }
  return !blocked.check(h.map((x) => x.toString(16)).join(':'), 'ipv6')
}

export interface ResolvedAddress {
  address: string
  family: 4 | 6
}

export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>

const systemResolver: Resolver = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => ({
    address: a.address,
    family: a.family === 6 ? 6 : 4,
  }))

const DNS_TIMEOUT_MS = 5000

/**
 * The address to connect to for a URL's host: a literal IP as is, a name resolved. Refused
 * (NotificationTargetError) when any address is not public, unless `allowPrivate` (a lab, tests:
 * VMS_WEBHOOK_ALLOW_PRIVATE). Every address must pass, not just the first: a name that also points
 * inside is not trusted at all.
 */
export async function resolveTarget(
  hostname: string,
  options: { allowPrivate: boolean; resolver?: Resolver; timeoutMs?: number },
): Promise<ResolvedAddress> {
  const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname
  const family = isIP(host)
  let addresses: ResolvedAddress[]
  if (family !== 0) addresses = [{ address: host, family: family === 6 ? 6 : 4 }]
  else {
    if (!host) throw new NotificationTargetError('the URL has no host')
    const resolver = options.resolver ?? systemResolver
    let timer: NodeJS.Timeout | undefined
    try {
      addresses = await Promise.race([
        resolver(host),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new NotificationTargetError(`the host ${host} did not resolve in time`)),
            options.timeoutMs ?? DNS_TIMEOUT_MS,
          )
        }),
      ])
    } catch (err) {
      if (err instanceof NotificationTargetError) throw err
      throw new NotificationTargetError(`the host ${host} does not resolve`)
    } finally {
      clearTimeout(timer)
    }
    if (addresses.length === 0) throw new NotificationTargetError(`the host ${host} does not resolve`)
  }
  if (!options.allowPrivate) {
    // The address itself is not said: the hub's view of internal names is not the caller's business.
    if (addresses.some((a) => !isPublicAddress(a.address)))
      throw new NotificationTargetError(
        `the host ${host} is a loopback, private, link-local or otherwise non-public address; notifications go to public addresses only`,
      )
  }
  return addresses[0] as ResolvedAddress
}
