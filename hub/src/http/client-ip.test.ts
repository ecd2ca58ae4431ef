import { describe, expect, it } from 'vitest'
import { parseTrustedProxies } from '../config/trusted-proxies.ts'
import { clientIp } from './client-ip.ts'

describe('clientIp', () => {
  it('uses the socket address when no proxy is trusted', () => {
    expect(clientIp('::ffff:10.0.0.5', '1.2.3.4', undefined)).toBe('10.0.0.5')
  })

  it('ignores X-Forwarded-For from untrusted peers', () => {
    const trusted = parseTrustedProxies('10.0.0.1')
    expect(clientIp('10.0.0.9', '1.2.3.4', trusted)).toBe('10.0.0.9')
  })

  it('walks X-Forwarded-For from the right past trusted proxies', () => {
    const trusted = parseTrustedProxies('10.0.0.0/8, ::1')
    expect(clientIp('10.0.0.1', '6.6.6.6, 1.2.3.4, 10.0.0.2', trusted)).toBe('1.2.3.4')
    expect(clientIp('::1', '203.0.113.7', trusted)).toBe('203.0.113.7')
    expect(clientIp('10.0.0.1', 'garbage, 10.0.0.3', trusted)).toBe('10.0.0.3')
  })
})
