import { describe, expect, it } from 'vitest'
import { eventCount } from './event-count.ts'

describe('eventCount', () => {
  it('counts exactly, with thousands grouped', () => {
    expect(eventCount(0, true)).toBe('0 events')
    expect(eventCount(1, true)).toBe('1 event')
    expect(eventCount(4, true)).toBe('4 events')
    expect(eventCount(1234, true)).toBe('1,234 events')
  })

  it('shows a capped count as a floor', () => {
    expect(eventCount(10_000, false)).toBe('10,000+ events')
    expect(eventCount(10_000, true)).toBe('10,000 events')
  })
})
