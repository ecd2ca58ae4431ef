import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  addressScope,
  DiscoveryTargetError,
  expandTargets,
  intToIpv4,
  ipv4ToInt,
  MAX_TARGET_ADDRESSES,
  parseTarget,
  parseTargets,
} from './targets.ts'

describe('parseTarget', () => {
  it('accepts hosts, host:port and ranges up to /22 in non-public ranges', () => {
    expect(parseTarget('10.0.1.5')).toMatchObject({ prefix: 32, scope: 'private' })
    expect(parseTarget(' 127.0.0.1:3702 ')).toMatchObject({
      input: '127.0.0.1:3702',
      port: 3702,
      scope: 'loopback',
    })
    expect(parseTarget('192.168.4.0/22')).toMatchObject({ prefix: 22 })
    expect(parseTarget('169.254.1.0/24:80')).toMatchObject({ port: 80, scope: 'link-local' })
    expect(parseTarget('100.64.0.1')).toMatchObject({ scope: 'cgnat' })
    expect(parseTarget('172.31.255.255').scope).toBe('private')
    // host bits are cleared
    expect(intToIpv4(parseTarget('10.0.0.77/24').network)).toBe('10.0.0.0')
  })

  it('refuses public ranges, host names, big ranges and nonsense, naming the target', () => {
    const bad: [string, RegExp][] = [
      ['8.8.8.8', /"8\.8\.8\.8".*public/],
      ['172.32.0.1', /public/],
      ['100.128.0.1', /public/],
      ['0.0.0.0', /public/],
      ['224.0.0.1', /public/],
      ['255.255.255.255', /public/],
      ['camera.local', /"camera\.local".*host names/],
      ['10.0.0.0/21', /"10\.0\.0\.0\/21".*larger than \/22/],
      ['10.0.0.0/33', /prefix/],
      ['10.0.0.1:0', /port/],
      ['10.0.0.1:65536', /port/],
      ['10.0.0.1:', /port/],
      ['010.0.0.1', /not an IPv4/],
      ['10.0.0', /not an IPv4/],
      ['::1', /IPv4/],
      ['', /empty/],
    ]
    for (const [input, message] of bad) {
      let error: unknown
      try {
        parseTarget(input)
      } catch (err) {
        error = err
      }
      expect(error, input).toBeInstanceOf(DiscoveryTargetError)
      expect((error as Error).message, input).toMatch(message)
    }
  })

  it('never throws anything but DiscoveryTargetError, and never expands past the limit', () => {
    const octet = fc.integer({ min: 0, max: 255 })
    const plausible = fc
      .tuple(octet, octet, octet, octet, fc.option(fc.integer({ min: 0, max: 40 })), fc.option(fc.integer()))
      .map(
        ([a, b, c, d, p, port]) =>
          `${a}.${b}.${c}.${d}${p === null ? '' : `/${p}`}${port === null ? '' : `:${port}`}`,
      )
    const anyTarget = fc.oneof(
      plausible,
      fc.string({ maxLength: 40 }),
      fc.constantFrom('10.0.0.0/22', '192.168.0.0/22'),
      fc.anything({ withNullPrototype: true }), // the hub passes JSON through: numbers, nulls, objects
    )
    fc.assert(
      fc.property(fc.array(anyTarget, { maxLength: 6 }), (inputs) => {
        try {
          const targets = parseTargets(inputs)
          const addresses = expandTargets(targets)
          expect(addresses.length).toBeLessThanOrEqual(MAX_TARGET_ADDRESSES)
          for (const a of addresses) expect(addressScope(a.address)).not.toBe('public')
        } catch (err) {
          expect(err).toBeInstanceOf(DiscoveryTargetError)
        }
      }),
    )
  })
})

describe('expandTargets', () => {
  it('expands ranges without network and broadcast addresses, de-duplicating', () => {
    const a = expandTargets(parseTargets(['10.0.0.0/30', '10.0.0.1', '10.0.0.1:3702', '10.0.0.8/31']))
    expect(a).toEqual([
      { address: '10.0.0.1' },
      { address: '10.0.0.2' },
      { address: '10.0.0.1', port: 3702 },
      { address: '10.0.0.8' },
      { address: '10.0.0.9' },
    ])
    expect(expandTargets(parseTargets(['192.168.0.0/22']))).toHaveLength(1022)
  })

  it('refuses a total over the limit', () => {
    expect(() => parseTargets(['10.0.0.0/22', '10.0.4.0/22'])).toThrow(/over the limit of 1024/)
    expect(() => parseTargets('10.0.0.1')).toThrow(DiscoveryTargetError)
  })

  it('round-trips addresses', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
        expect(ipv4ToInt(intToIpv4(n))).toBe(n)
      }),
    )
  })
})
