import { describe, expect, it } from 'vitest'
import { isPublicAddress, NotificationTargetError, resolveTarget } from './address-policy.ts'

describe('isPublicAddress', () => {
  it.each([
    '127.0.0.1',
    '127.255.255.254',
    '0.0.0.0',
    '10.0.0.1',
    '100.64.0.1',
    '100.127.255.255',
    '169.254.169.254',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '192.0.0.8',
    '198.18.0.1',
    '224.0.0.1',
    '239.255.255.250',
    '255.255.255.255',
    '::',
    '::1',
    '[::1]',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:10.1.2.3',
    '::ffff:169.254.169.254',
    '0:0:0:0:0:ffff:c0a8:0101',
    '::127.0.0.1',
    '64:ff9b::7f00:1',
    '2002:7f00:1::',
    'fc00::1',
    'fd12:3456::1',
    'fe80::1',
    'fe80::1%eth0',
    'febf::1',
    'ff02::1',
    '2001:db8::1',
    'not-an-ip',
    '1.2.3',
    '',
  ])('refuses %s', (address) => {
    expect(isPublicAddress(address)).toBe(false)
  })

  it.each([
    '1.1.1.1',
    '8.8.8.8',
    '100.63.255.255',
    '100.128.0.0',
    '172.15.255.255',
    '172.32.0.0',
    '169.255.0.1',
    '2606:4700:4700::1111',
    '2a00:1450:4001::200e',
    '::ffff:8.8.8.8',
  ])('accepts %s', (address) => {
    expect(isPublicAddress(address)).toBe(true)
  })
})

describe('resolveTarget', () => {
  const resolver = (answers: Record<string, string[]>) => async (host: string) =>
    (answers[host] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }) as const)

  it('checks literal addresses without DNS, brackets removed', async () => {
    await expect(resolveTarget('[::1]', { allowPrivate: false })).rejects.toThrow(NotificationTargetError)
    await expect(resolveTarget('8.8.8.8', { allowPrivate: false })).resolves.toEqual({
      address: '8.8.8.8',
      family: 4,
    })
    await expect(resolveTarget('[::1]', { allowPrivate: true })).resolves.toEqual({
      address: '::1',
      family: 6,
    })
  })

  it('refuses a name when any of its addresses is not public (no partial trust)', async () => {
    const r = resolver({ 'mixed.example': ['93.184.216.34', '10.0.0.5'], 'ok.example': ['93.184.216.34'] })
    await expect(resolveTarget('mixed.example', { allowPrivate: false, resolver: r })).rejects.toThrow(
      /non-public/,
    )
    await expect(resolveTarget('ok.example', { allowPrivate: false, resolver: r })).resolves.toEqual({
      address: '93.184.216.34',
      family: 4,
    })
  })

  it('refuses names that do not resolve, or not in time, without saying the internal address', async () => {
    const failing = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND x'), { code: 'ENOTFOUND' })
    }
    await expect(
      resolveTarget('nowhere.invalid', { allowPrivate: false, resolver: failing }),
    ).rejects.toThrow(/does not resolve/)
    const slow = () => new Promise<never>(() => {})
    await expect(
      resolveTarget('slow.example', { allowPrivate: false, resolver: slow, timeoutMs: 20 }),
    ).rejects.toThrow(/in time/)
    const inside = resolver({ 'inside.example': ['192.168.7.7'] })
    const err = await resolveTarget('inside.example', { allowPrivate: false, resolver: inside }).catch(
      (e: Error) => e,
    )
    expect(String(err)).not.toContain('192.168.7.7')
  })

  it('resolves localhost with the system resolver and refuses it', async () => {
    await expect(resolveTarget('localhost', { allowPrivate: false })).rejects.toThrow(NotificationTargetError)
  })
})
