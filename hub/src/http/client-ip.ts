import { BlockList, isIP } from 'node:net'

/**
 * The client's address: the socket's, unless the socket belongs to a trusted proxy
 * (VMS_TRUST_PROXY: comma-separated addresses and CIDRs), in which case X-Forwarded-For is walked
 * from the right, past trusted proxies, to the first address they vouch for. Anyone else's
 * X-Forwarded-For is ignored, so clients cannot choose their own rate-limit key.
 */
export function parseTrustedProxies(spec: string | undefined): BlockList | undefined {
  if (!spec) return undefined
  const list = new BlockList()
  for (const raw of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [addr, bits] = raw.split('/')
    const family = isIP(addr ?? '')
    if (!addr || family === 0) throw new Error(`VMS_TRUST_PROXY: "${raw}" is not an IP address or CIDR`)
    const type = family === 6 ? 'ipv6' : 'ipv4'
    if (bits === undefined) list.addAddress(addr, type)
    else {
      const prefix = Number(bits)
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) {
        throw new Error(`VMS_TRUST_PROXY: "${raw}" has a bad prefix length`)
      }
      list.addSubnet(addr, prefix, type)
    }
  }
  return list
}

function normalise(addr: string): string {
  const a = addr.trim()
  return a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a
}

function trusted(list: BlockList, addr: string): boolean {
  const family = isIP(addr)
  return family !== 0 && list.check(addr, family === 6 ? 'ipv6' : 'ipv4')
}

export function clientIp(
  socketAddress: string | undefined,
  forwardedFor: string | undefined,
  trustedProxies: BlockList | undefined,
): string | null {
  const remote = socketAddress ? normalise(socketAddress) : null
  if (!remote || !trustedProxies || !forwardedFor || !trusted(trustedProxies, remote)) return remote
  const hops = forwardedFor
    .split(',')
    .map(normalise)
    .filter((h) => isIP(h) !== 0)
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i] as string
    if (!trusted(trustedProxies, hop)) return hop
  }
  return hops[0] ?? remote
}
