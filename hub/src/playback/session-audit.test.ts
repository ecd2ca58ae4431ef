import { describe, expect, it } from 'vitest'
import { SessionAudit } from './session-audit.ts'

describe('playback session audit', () => {
  it('audits a session once: reloads and overlapping ranges within the window are the same session', () => {
    let now = 0
    const s = new SessionAudit({ windowMs: 600_000, now: () => now })
    expect(s.begin('u', 'c', 0, 3600_000)).toBe(true)
    now += 60_000
    expect(s.begin('u', 'c', 0, 3600_000)).toBe(false)
    expect(s.begin('u', 'c', 1800_000, 5400_000)).toBe(false)
    // Another user, another camera, a range that overlaps nothing: new sessions.
    expect(s.begin('v', 'c', 0, 3600_000)).toBe(true)
    expect(s.begin('u', 'd', 0, 3600_000)).toBe(true)
    expect(s.begin('u', 'c', 7200_000, 9000_000)).toBe(true)
    // Each request keeps its session alive; ten idle minutes end it.
    now += 599_999
    expect(s.begin('u', 'c', 0, 3600_000)).toBe(false)
    now += 600_000
    expect(s.begin('u', 'c', 0, 3600_000)).toBe(true)
  })

  it('stays bounded', () => {
    const s = new SessionAudit({ windowMs: 600_000, maxKeys: 10, maxRanges: 2, now: () => 0 })
    for (let i = 0; i < 100; i++) s.begin(`u${i}`, 'c', 0, 1)
    // The oldest users were forgotten: a new session for them.
    expect(s.begin('u0', 'c', 0, 1)).toBe(true)
    expect(s.begin('u99', 'c', 0, 1)).toBe(false)
    for (let i = 0; i < 5; i++) s.begin('w', 'c', i * 10, i * 10 + 1)
    expect(s.begin('w', 'c', 0, 1)).toBe(true)
  })
})
