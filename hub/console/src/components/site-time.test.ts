import { describe, expect, it } from 'vitest'
import { formatInZone, siteTimes } from './site-time.ts'

const T = Date.parse('2026-11-29T04:05:06Z')

describe('site times', () => {
  it("shows each zoned site's wall clock once", () => {
    const text = siteTimes(T, [
      { name: 'Tokyo', timeZone: 'Asia/Tokyo' },
      { name: 'Tokyo', timeZone: 'Asia/Tokyo' },
      { name: 'Paris', timeZone: 'Europe/Paris' },
      { name: 'Nowhere', timeZone: null },
    ])
    const lines = text?.split('\n') ?? []
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(/^Tokyo \(Asia\/Tokyo\): .*1:05:06/)
    expect(lines[1]).toMatch(/^Paris \(Europe\/Paris\): .*5:05:06/)
  })

  it('is silent without zones and honest about unknown ones', () => {
    expect(siteTimes(T, [{ name: 'A', timeZone: null }])).toBeUndefined()
    expect(siteTimes(T, [])).toBeUndefined()
    expect(formatInZone(T, 'Mars/Olympus')).toBe('unknown zone Mars/Olympus')
  })
})
