import { describe, expect, it } from 'vitest'
import { type PacerClock, ReplayPacer } from './replay-pacer.ts'

/** A clock the test moves by hand; scheduled callbacks run when it passes their time. */
function manualClock() {
  let now = 0
  let timers: { at: number; fn: () => void; cancelled: boolean }[] = []
  const clock: PacerClock = {
    now: () => now,
    schedule: (fn, ms) => {
      const t = { at: now + ms, fn, cancelled: false }
      timers.push(t)
      return () => {
        t.cancelled = true
      }
    },
  }
  const advance = (ms: number) => {
    now += ms
    const due = timers.filter((t) => !t.cancelled && t.at <= now)
    timers = timers.filter((t) => !due.includes(t))
    for (const t of due) t.fn()
  }
  return { clock, advance }
}

describe('ReplayPacer', () => {
  it('sends a replay at most its budget per window, the first packet of a window always', () => {
    const { clock, advance } = manualClock()
    const pacer = new ReplayPacer<string>(3000, 10, clock)
    const sent: string[] = []
    for (let i = 0; i < 7; i++) pacer.replay('a', 1200, () => sent.push(`a${i}`))
    expect(sent).toEqual(['a0', 'a1'])
    expect(pacer.queuedBytes).toBe(5 * 1200)
    advance(10)
    expect(sent).toEqual(['a0', 'a1', 'a2', 'a3'])
    advance(10)
    advance(10)
    expect(sent).toHaveLength(7)
    expect(pacer.queuedBytes).toBe(0)
    // A packet larger than the budget still goes, alone in its window.
    advance(10)
    pacer.replay('a', 5000, () => sent.push('big'))
    pacer.replay('a', 100, () => sent.push('after'))
    expect(sent.at(-1)).toBe('big')
    advance(10)
    expect(sent.at(-1)).toBe('after')
  })

  it('queues a live packet behind its own track’s replay only', () => {
    const { clock, advance } = manualClock()
    const pacer = new ReplayPacer<string>(2000, 10, clock)
    const sent: string[] = []
    pacer.replay('a', 1200, () => sent.push('a-key'))
    pacer.replay('a', 1200, () => sent.push('a-p1'))
    pacer.live('a', 1200, () => sent.push('a-live'))
    pacer.live('b', 1200, () => sent.push('b-live'))
    expect(sent).toEqual(['a-key', 'b-live'])
    expect(pacer.hasQueued('a')).toBe(true)
    expect(pacer.hasQueued('b')).toBe(false)
    advance(10)
    expect(pacer.hasQueued('a')).toBe(false)
    // The live packet is not budgeted: it leaves with the replay packet it waited behind.
    expect(sent).toEqual(['a-key', 'b-live', 'a-p1', 'a-live'])
    pacer.live('a', 1200, () => sent.push('a-live2'))
    expect(sent.at(-1)).toBe('a-live2')
  })

  it('forgets a dropped track and sends nothing once closed', () => {
    const { clock, advance } = manualClock()
    const pacer = new ReplayPacer<string>(1000, 10, clock)
    const sent: string[] = []
    pacer.replay('a', 1000, () => sent.push('a0'))
    pacer.replay('a', 1000, () => sent.push('a1'))
    pacer.replay('b', 1000, () => sent.push('b0'))
    pacer.drop('a')
    advance(10)
    expect(sent).toEqual(['a0', 'b0'])
    pacer.live('a', 100, () => sent.push('a-live'))
    expect(sent.at(-1)).toBe('a-live')
    advance(10)
    pacer.replay('b', 1000, () => sent.push('b1'))
    pacer.replay('b', 1000, () => sent.push('b2'))
    pacer.close()
    advance(10)
    pacer.live('b', 100, () => sent.push('b-live'))
    expect(sent).toEqual(['a0', 'b0', 'a-live', 'b1'])
  })
})
