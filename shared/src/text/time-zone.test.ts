import { describe, expect, it } from 'vitest'
import { canonicalTimeZone } from './time-zone.ts'

describe('canonicalTimeZone', () => {
  it('gives the canonical spelling of a zone typed in any case', () => {
    expect(canonicalTimeZone('Europe/Paris')).toBe('Europe/Paris')
    expect(canonicalTimeZone('europe/paris')).toBe('Europe/Paris')
    expect(canonicalTimeZone('AMERICA/NEW_YORK')).toBe('America/New_York')
    expect(canonicalTimeZone('asia/tokyo')).toBe('Asia/Tokyo')
    expect(canonicalTimeZone('utc')).toBe('UTC')
    expect(canonicalTimeZone('UTC')).toBe('UTC')
  })

  it('refuses what is not an IANA zone', () => {
    for (const bad of [
      '',
      'Mars/Olympus',
      '+02:00',
      'UTC+2',
      'EST',
      'Europe/Paris\u0000',
      'Europe/\uD800Paris',
      'Europe/Paris; drop table sites',
      'Europe/Paris ',
      'a'.repeat(65),
      '../etc/passwd',
    ])
      expect(canonicalTimeZone(bad), JSON.stringify(bad)).toBeUndefined()
  })
})
