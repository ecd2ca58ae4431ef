import { BlockList, isIP } from 'node:net'

/**
 * VMS_TRUST_PROXY: the reverse proxies whose X-Forwarded-For the hub believes, as comma-separated
 * addresses and CIDRs. Parsed once at start (config validation names a bad entry); undefined when
 * none are trusted.
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
