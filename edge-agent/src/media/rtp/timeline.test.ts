import { describe, expect, it } from 'vitest'
import { CLOCK_BOUNDS, Timeline, timestampJump } from './timeline.ts'

const T0 = Date.UTC(2026, 10, 28, 12)
const TWENTY_YEARS_MS = 20 * 365.25 * 86_400_000

/** A camera at 15 fps whose frames arrive on time on the agent's clock. */
function camera(start = 123_456) {
  let rtp = start
  let now = T0
  const timeline = new Timeline(90_000)
  return {
    timeline,
    /** The next frame: RTP moves by `step` ticks (one frame unless told), the agent's clock by 1/15 s. */
    frame(step = 6000) {
      rtp = (rtp + step) >>> 0
      now += 1000 / 15
      const ts = timeline.unwrapTimestamp(rtp)
      return { timestamp: ts, wallMs: timeline.wallClock(ts, now), now }
    },
    jump(ticks: number) {
      rtp = (rtp + ticks) >>> 0
    },
    sr(offsetMs: number) {
      timeline.senderReport(rtp, now + offsetMs, now)
    },
  }
}

describe('Timeline: wall clock on the agent, the camera only a hint', () => {
  it('anchors to the agent clock and follows RTP time between frames', () => {
    const c = camera()
    const a = c.frame()
    const b = c.frame()
    expect(a.wallMs).toBe(a.now)
    expect(b.wallMs - a.wallMs).toBeCloseTo(1000 / 15, 2)
    expect(c.timeline.status.discontinuities).toBe(0)
  })

  for (const [name, ticks] of [
    ['back by an hour', -3600 * 90_000],
    ['forward by a day', 86_400 * 90_000],
  ] as const) {
    it(`re-anchors to the agent clock when RTP time jumps ${name}`, () => {
      const c = camera()
      for (let i = 0; i < 30; i++) c.frame()
      const before = c.frame()
      c.jump(ticks)
      const after = c.frame()
      // On the agent's clock, one frame later; the recorder sees the jump in media time.
      expect(Math.abs(after.wallMs - after.now)).toBeLessThanOrEqual(CLOCK_BOUNDS.senderReportToleranceMs)
      expect(c.timeline.status.discontinuities).toBe(1)
      expect(timestampJump(before, after)).toBeDefined()
      const next = c.frame()
      expect(next.wallMs - after.wallMs).toBeCloseTo(1000 / 15, 2)
      expect(timestampJump(after, next)).toBeUndefined()
    })
  }

  it('ignores a camera clock 20 years in the past and flags it as drift', () => {
    const c = camera()
    c.sr(-TWENTY_YEARS_MS)
    const f = c.frame()
    c.sr(-TWENTY_YEARS_MS)
    const g = c.frame()
    expect(f.wallMs).toBe(f.now)
    expect(g.wallMs).toBeCloseTo(g.now, 2)
    expect(c.timeline.status.drift).toBe(true)
    expect(c.timeline.status.cameraOffsetMs).toBeCloseTo(-TWENTY_YEARS_MS, -3)
    expect(c.timeline.hasSenderReport).toBe(false)
  })

  it('takes a sender report within the bound as the anchor (lip sync between tracks)', () => {
    const c = camera()
    c.frame()
    c.sr(700)
    const f = c.frame()
    expect(f.wallMs - f.now).toBeCloseTo(700, 2)
    expect(c.timeline.status).toMatchObject({ drift: false, discontinuities: 0 })
    expect(c.timeline.hasSenderReport).toBe(true)
  })

  it('counts a frame arriving later than the bound as a jump, and a small reorder as none', () => {
    expect(timestampJump({ timestamp: 90_000, wallMs: 1000 }, { timestamp: 84_000, wallMs: 933 })).toBe(
      undefined,
    )
    expect(timestampJump({ timestamp: 900_000, wallMs: 10_000 }, { timestamp: 0, wallMs: 0 })).toMatch(/back/)
    expect(timestampJump({ timestamp: 0, wallMs: 0 }, { timestamp: 90_000 * 20, wallMs: 67 })).toMatch(
      /forward/,
    )
  })
})
