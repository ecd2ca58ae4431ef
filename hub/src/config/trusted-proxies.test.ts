import { describe, expect, it } from 'vitest'
import { parseTrustedProxies } from './trusted-proxies.ts'

describe('parseTrustedProxies', () => {
  it('trusts nobody when unset or empty', () => {
    expect(parseTrustedProxies(undefined)).toBeUndefined()
    expect(parseTrustedProxies('')).toBeUndefined()
  })

  it('holds addresses and CIDRs of both families', () => {
    const list = parseTrustedProxies('10.0.0.0/8, ::1, 192.0.2.7')
    expect(list?.check('10.1.2.3', 'ipv4')).toBe(true)
    expect(list?.check('192.0.2.7', 'ipv4')).toBe(true)
    expect(list?.check('192.0.2.8', 'ipv4')).toBe(false)
    expect(list?.check('::1', 'ipv6')).toBe(true)
  })

  it('refuses a malformed proxy list', () => {
    expect(() => parseTrustedProxies('10.0.0.0/99')).toThrow(/VMS_TRUST_PROXY/)
    expect(() => parseTrustedProxies('::1/129')).toThrow(/bad prefix length/)
    expect(() => parseTrustedProxies('proxy.example')).toThrow(/VMS_TRUST_PROXY/)
  })
})
