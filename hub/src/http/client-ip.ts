import { type BlockList, isIP } from 'node:net'

function normalise(addr: string): string {
  const a = addr.trim()
  return a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a
}

function trusted(list: BlockList, addr: string): boolean {
  const family = isIP(addr)
  return family !== 0 && list.check(addr, family === 6 ? 'ipv6' : 'ipv4')
}

/**
 * The client's address: the socket's, unless the socket belongs to a trusted proxy
 * (VMS_TRUST_PROXY: comma-separated addresses and CIDRs), in which case X-Forwarded-For is walked
 * from the right, past trusted proxies, to the first address they vouch for. Anyone else's
 * X-Forwarded-For is ignored, so clients cannot choose their own rate-limit key.
 */
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
