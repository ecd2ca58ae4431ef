import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { basicAuthorization, digestAuthorization, parseChallenges } from './digest.ts'

const param = (header: string, name: string) => new RegExp(`${name}="?([^",]*)"?`).exec(header)?.[1]

describe('Digest', () => {
  it('answers RFC 2617 example (MD5, qop=auth)', () => {
    const [c] = parseChallenges(
      'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    )
    const header = digestAuthorization(c!, {
      method: 'GET',
      uri: '/dir/index.html',
      username: 'Mufasa',
      password: 'Circle Of Life',
      nonceCount: 1,
      cnonce: '0a4f113b',
    })
    expect(param(header, 'response')).toBe('6629fae49393a05397450978507c4ef1')
    expect(header).toContain('qop=auth, nc=00000001')
    expect(param(header, 'opaque')).toBe('5ccc069c403ebaf9f0171e9517f40e41')
  })

  it('answers RFC 7616 examples (SHA-256 and MD5)', () => {
    const challenge = (algorithm: string) =>
      parseChallenges(
        `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=${algorithm}, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
      )[0]!
    const a = {
      method: 'GET',
      uri: '/dir/index.html',
      username: 'Mufasa',
      password: 'Circle of Life',
      nonceCount: 1,
      cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
    }
    expect(param(digestAuthorization(challenge('SHA-256'), a), 'response')).toBe(
      '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
    )
    expect(param(digestAuthorization(challenge('MD5'), a), 'response')).toBe(
      '8ca523f5e9506fed4657c9700eebdbec',
    )
  })

  it('reads several challenges in one header, Digest first, and drops unusable ones', () => {
    const list = parseChallenges(['Basic realm="cam"', 'Digest realm="cam", nonce="abc", qop="auth"'])
    expect(list.map((c) => c.scheme)).toEqual(['digest', 'basic'])
    expect(parseChallenges('Basic realm="x", Digest realm="y", nonce="n"').map((c) => c.realm)).toEqual([
      'y',
      'x',
    ])
    expect(parseChallenges('Digest realm="no nonce"')).toEqual([])
    expect(parseChallenges('Bearer realm="x"')).toEqual([])
    expect(parseChallenges(undefined)).toEqual([])
  })

  it('refuses algorithms it cannot compute rather than sending a wrong answer', () => {
    const [c] = parseChallenges('Digest realm="x", nonce="n", algorithm=SHA-512-256')
    expect(() =>
      digestAuthorization(c!, { method: 'GET', uri: '/', username: 'u', password: 'p', nonceCount: 1 }),
    ).toThrow(/unsupported/)
  })

  it('quotes what it echoes, so a hostile realm or username cannot add parameters', () => {
    const [c] = parseChallenges('Digest realm="a\\"b", nonce="n"')
    const header = digestAuthorization(c!, {
      method: 'GET',
      uri: '/x',
      username: 'u"s',
      password: 'p',
      nonceCount: 1,
    })
    expect(header).toContain('username="u\\"s"')
    expect(header).toContain('realm="a\\"b"')
  })

  it('never throws on arbitrary header text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        parseChallenges(s)
        parseChallenges(`Digest ${s}`)
      }),
    )
  })

  it('makes Basic', () => {
    expect(basicAuthorization('Aladdin', 'open sesame')).toBe('Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==')
  })
})
