import { describe, expect, it } from 'vitest'
import { fromLocalInput, toLocalInput } from './format.ts'

describe('datetime-local values', () => {
  it('leaves zero seconds off, as the browser serialises the value', () => {
    const onMinute = new Date(2026, 10, 29, 6, 20, 0).toISOString()
    const withSeconds = new Date(2026, 10, 29, 6, 20, 7).toISOString()
    expect(toLocalInput(onMinute)).toBe('2026-11-29T06:20')
    expect(toLocalInput(withSeconds)).toBe('2026-11-29T06:20:07')
  })

  it('reads back what it wrote, and nothing from garbage', () => {
    for (const iso of ['2026-11-29T06:20:00.000Z', '2026-02-28T23:59:59.000Z']) {
      expect(fromLocalInput(toLocalInput(iso))).toBe(iso)
    }
    expect(fromLocalInput('')).toBeUndefined()
    expect(fromLocalInput('not a time')).toBeUndefined()
  })
})
