import { describe, expect, it } from 'vitest'
import { inSchedule, wallClock, weeklySchedule } from './weekly-schedule.ts'

const night = [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'] as const, from: '22:00', to: '06:00' }].map(
  (w) => ({ ...w, days: [...w.days] }),
)

describe('weekly schedule', () => {
  it('reads the wall clock in the site time zone', () => {
    // 2026-11-30 is a Monday; 21:30 UTC is 22:30 in Paris (UTC+1 in winter).
    expect(wallClock(Date.parse('2026-11-30T21:30:00Z'), 'Europe/Paris')).toEqual({
      day: 1,
      minute: 22 * 60 + 30,
    })
    expect(wallClock(Date.parse('2026-11-30T21:30:00Z'), 'UTC')).toEqual({ day: 1, minute: 21 * 60 + 30 })
    expect(wallClock(Date.parse('2026-11-30T21:30:00Z'), 'America/New_York').day).toBe(1)
  })

  it('runs a night window past midnight into the next day', () => {
    const paris = (iso: string) => inSchedule(night, Date.parse(iso), 'Europe/Paris')
    expect(paris('2026-11-30T20:59:00Z')).toBe(false) // Mon 21:59 Paris
    expect(paris('2026-11-30T21:00:00Z')).toBe(true) // Mon 22:00
    expect(paris('2026-12-01T04:59:00Z')).toBe(true) // Tue 05:59 (Monday's window)
    expect(paris('2026-12-01T05:00:00Z')).toBe(false) // Tue 06:00
    // Friday night's window reaches into Saturday; Saturday night has none.
    expect(paris('2026-12-05T02:00:00Z')).toBe(true) // Sat 03:00
    expect(paris('2026-12-05T22:00:00Z')).toBe(false) // Sat 23:00
    // Monday 03:00 belongs to Sunday's window, which does not exist.
    expect(paris('2026-11-30T02:00:00Z')).toBe(false)
  })

  it('follows daylight saving time (the window moves with the clock)', () => {
    const summer = [{ days: ['sun' as const], from: '10:00', to: '11:00' }]
    // 2026-06-28 is a Sunday: 10:30 in Paris is 08:30 UTC (UTC+2).
    expect(inSchedule(summer, Date.parse('2026-06-28T08:30:00Z'), 'Europe/Paris')).toBe(true)
    expect(inSchedule(summer, Date.parse('2026-06-28T09:30:00Z'), 'Europe/Paris')).toBe(false)
  })

  it('an empty schedule is always; a same-time window is the whole day', () => {
    expect(inSchedule([], Date.parse('2026-11-30T12:00:00Z'), 'UTC')).toBe(true)
    const allDay = [{ days: ['mon' as const], from: '00:00', to: '00:00' }]
    expect(inSchedule(allDay, Date.parse('2026-11-30T12:00:00Z'), 'UTC')).toBe(true)
    expect(inSchedule(allDay, Date.parse('2026-12-01T12:00:00Z'), 'UTC')).toBe(false)
  })

  it('refuses malformed windows', () => {
    expect(weeklySchedule.safeParse([{ days: ['mon'], from: '24:00', to: '06:00' }]).success).toBe(false)
    expect(weeklySchedule.safeParse([{ days: [], from: '22:00', to: '06:00' }]).success).toBe(false)
    expect(weeklySchedule.safeParse([{ days: ['monday'], from: '22:00', to: '06:00' }]).success).toBe(false)
    expect(weeklySchedule.safeParse([{ days: ['mon'], from: '22:00', to: '06:00', x: 1 }]).success).toBe(
      false,
    )
  })
})
