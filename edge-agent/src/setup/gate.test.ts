import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  generatePin,
  normalisePin,
  PIN_DIGITS,
  pinFile,
  removePinFile,
  SetupGate,
  writePinFile,
} from './gate.ts'

function clock(start = 1_000_000) {
  let now = start
  return { now: () => now, advance: (ms: number) => (now += ms) }
}

describe('setup PIN', () => {
  it('is random digits, written 0600 and removed when the wizard closes', () => {
    const pins = new Set(Array.from({ length: 50 }, generatePin))
    expect(pins.size).toBeGreaterThan(45)
    for (const p of pins) expect(p).toMatch(new RegExp(`^\\d{${PIN_DIGITS}}$`))
    const dir = mkdtempSync(path.join(tmpdir(), 'vms-pin-'))
    try {
      const file = writePinFile(dir, '12345678')
      expect(file).toBe(pinFile(dir))
      expect(readFileSync(file, 'utf8').trim()).toBe('12345678')
      expect(statSync(file).mode & 0o777).toBe(0o600)
      removePinFile(dir)
      expect(() => statSync(file)).toThrow()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('ignores spaces and dashes typed into it', () => {
    expect(normalisePin(' 1234-5678 ')).toBe('12345678')
  })
})

describe('setup gate', () => {
  it('opens a session for the right PIN only', () => {
    const gate = new SetupGate({ pin: '12345678' }, () => ({ n: 0 }))
    const wrong = gate.unlock('a', '87654321')
    expect(wrong).toEqual({ ok: false, reason: 'wrong', triesLeft: 4 })
    expect(gate.unlock('a', '')).toMatchObject({ ok: false, reason: 'wrong' })
    expect(gate.unlock('a', 12345678)).toMatchObject({ ok: false, reason: 'wrong' })
    const right = gate.unlock('a', '1234 5678')
    expect(right.ok).toBe(true)
    if (!right.ok) return
    expect(right.sessionId).toMatch(/^[\w-]{43}$/)
    expect(gate.session(right.sessionId)?.data).toEqual({ n: 0 })
    expect(gate.session('forged')).toBeUndefined()
    expect(gate.session(undefined)).toBeUndefined()
  })

  it('refuses a client after 5 wrong PINs in a minute, even the right PIN, then lets it try again', () => {
    const c = clock()
    const gate = new SetupGate({ pin: '12345678', now: c.now }, () => ({}))
    for (let i = 0; i < 5; i++) {
      expect(gate.unlock('10.0.0.9', '00000000')).toMatchObject({ reason: 'wrong', triesLeft: 4 - i })
      c.advance(1000)
    }
    const limited = gate.unlock('10.0.0.9', '12345678')
    expect(limited).toEqual({ ok: false, reason: 'limited', retryAfterSeconds: 55 })
    // Another client is not held back by this one.
    expect(gate.unlock('10.0.0.10', '12345678').ok).toBe(true)
    c.advance(55_000)
    // The first wrong PIN has aged out: one more try.
    expect(gate.unlock('10.0.0.9', '00000000')).toMatchObject({ reason: 'wrong' })
    expect(gate.unlock('10.0.0.9', '12345678')).toMatchObject({ reason: 'limited' })
    c.advance(60_000)
    expect(gate.unlock('10.0.0.9', '12345678').ok).toBe(true)
  })

  it('limits wrong PINs from all clients together', () => {
    const c = clock()
    const gate = new SetupGate({ pin: '12345678', now: c.now, maxFailuresOverall: 10 }, () => ({}))
    for (let i = 0; i < 10; i++) gate.unlock(`10.0.0.${i}`, '00000000')
    expect(gate.unlock('10.0.1.1', '12345678')).toMatchObject({ ok: false, reason: 'limited' })
    c.advance(60_001)
    expect(gate.unlock('10.0.1.1', '12345678').ok).toBe(true)
  })

  it('ends sessions when idle, when too old, on request and when the wizard closes', () => {
    const c = clock()
    const gate = new SetupGate(
      { pin: '12345678', now: c.now, sessionIdleMs: 10_000, sessionMaxMs: 25_000, maxSessions: 2 },
      () => ({}),
    )
    const open = () => {
      const r = gate.unlock('a', '12345678')
      if (!r.ok) throw new Error('not unlocked')
      return r.sessionId
    }
    const s1 = open()
    c.advance(9000)
    expect(gate.session(s1)).toBeDefined() // used: stays open
    c.advance(9000)
    expect(gate.session(s1)).toBeDefined()
    c.advance(9000) // 27 s old: past the maximum
    expect(gate.session(s1)).toBeUndefined()
    const s2 = open()
    c.advance(10_001)
    expect(gate.session(s2)).toBeUndefined() // idle too long
    const s3 = open()
    expect(gate.end(s3)).toBeDefined()
    expect(gate.session(s3)).toBeUndefined()
    // At most 2 at once: the oldest goes.
    const a = open()
    const b = open()
    const d = open()
    expect(gate.session(a)).toBeUndefined()
    expect(gate.session(b)).toBeDefined()
    expect(gate.endAll()).toHaveLength(2)
    expect(gate.session(d)).toBeUndefined()
  })
})
