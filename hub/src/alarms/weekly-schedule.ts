import { z } from 'zod'

/**
 * A weekly schedule in a site's time zone: windows like "Monday to Friday 22:00–06:00". A window
 * whose end is not after its start runs past midnight into the next day and belongs to the day it
 * starts on (Friday 22:00–06:00 covers Saturday 03:00). Wall-clock times are read in the site's
 * zone at the instant checked, so daylight-saving changes move the window with the clock, the way
 * a store's staff read it. Pure: the caller says when and where.
 */
export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const
export type Weekday = (typeof WEEKDAYS)[number]

const clock = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time is HH:MM, 00:00 to 23:59')
  .describe('HH:MM, 24-hour, in the site time zone')

export const scheduleWindow = z
  .object({
    days: z.array(z.enum(WEEKDAYS)).min(1).max(7).describe('Days the window starts on'),
    from: clock,
    to: clock.describe('HH:MM; at or before `from`: the window runs past midnight'),
  })
  .strict()
export type ScheduleWindow = z.infer<typeof scheduleWindow>

export const weeklySchedule = z.array(scheduleWindow).max(28)

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5))

/** The weekday and minute of the day of an instant in a time zone (UTC when the zone is unknown). */
export function wallClock(atMs: number, timeZone: string): { day: number; minute: number } {
  let parts: Intl.DateTimeFormatPart[]
  try {
    parts = new Intl.DateTimeFormat('en-US', {
      timeZone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    }).formatToParts(atMs)
  } catch {
    return wallClock(atMs, 'UTC')
  }
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? ''
  const day = WEEKDAYS.indexOf(get('weekday').toLowerCase().slice(0, 3) as Weekday)
  return { day, minute: Number(get('hour')) * 60 + Number(get('minute')) }
}

/** Whether the instant falls in one of the windows; an empty schedule means always. */
export function inSchedule(windows: readonly ScheduleWindow[], atMs: number, timeZone: string): boolean {
  if (windows.length === 0) return true
  const { day, minute } = wallClock(atMs, timeZone)
  const yesterday = (day + 6) % 7
  for (const w of windows) {
    const from = minutesOf(w.from)
    const to = minutesOf(w.to)
    const starts = (d: number) => w.days.includes(WEEKDAYS[d] as Weekday)
    if (to > from) {
      if (starts(day) && minute >= from && minute < to) return true
    } else {
      // Past midnight: the evening part on its own day, the morning part on the next ("08:00–08:00"
      // is 24 hours from 08:00).
      if (starts(day) && minute >= from) return true
      if (starts(yesterday) && minute < to) return true
    }
  }
  return false
}
