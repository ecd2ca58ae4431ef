import pino from 'pino'
import { describe, expect, it } from 'vitest'
import type { Outbox } from './outbox.ts'
import { OutboxWriter } from './outbox-writer.ts'

/** An outbox whose disk can be "full" (every write throws SQLITE_FULL, as better-sqlite3 does). */
function fakeOutbox() {
  const rows: { type: string; body: unknown }[] = []
  const settings = new Map<string, string>()
  const state = { full: false }
  const refuse = () => {
    if (state.full) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })
  }
  const outbox = {
    // All or nothing, as the real one's SQLite transaction: a refused write leaves nothing behind.
    atomically<T>(fn: () => T): T {
      const before = { rows: rows.length, settings: new Map(settings) }
      try {
        return fn()
      } catch (err) {
        rows.length = before.rows
        settings.clear()
        for (const [k, v] of before.settings) settings.set(k, v)
        throw err
      }
    },
    append(type: string, body: unknown) {
      refuse()
      rows.push({ type, body })
      return rows.length
    },
    setSetting(key: string, value: string) {
      refuse()
      settings.set(key, value)
    },
  } as unknown as Outbox
  return { outbox, rows, settings, state }
}

function logged() {
  const lines: { level: number; msg: string }[] = []
  const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s)) })
  return { logger, lines }
}

describe('OutboxWriter (issue 11: a full data disk)', () => {
  it('never throws; keeps records in order in memory, one heartbeat only, and commits them later', () => {
    const f = fakeOutbox()
    const { logger, lines } = logged()
    let written = 0
    const w = new OutboxWriter({ outbox: f.outbox, logger, onWritten: () => written++, retryMs: 60_000 })
    w.write('event', { n: 1 })
    expect(f.rows).toHaveLength(1)
    f.state.full = true
    expect(() => w.write('event', { n: 2 })).not.toThrow()
    w.write('health', { beat: 1 })
    w.setSetting('config', 'v2')
    w.write('state', { n: 3 })
    w.write('health', { beat: 2 })
    expect(w.status()).toMatchObject({ dataDiskFull: true, pending: 3, dropped: 0, error: 'SQLITE_FULL' })
    // One alarm per episode, at error level.
    expect(lines.filter((l) => l.level === 50 && l.msg.startsWith('ALARM'))).toHaveLength(1)
    f.state.full = false
    w.flush()
    expect(f.rows.map((r) => r.body)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { beat: 2 }])
    expect(f.settings.get('config')).toBe('v2')
    expect(w.status()).toEqual({ dataDiskFull: false, pending: 0, dropped: 0 })
    expect(written).toBeGreaterThanOrEqual(2)
    w.close()
  })

  it('bounds what waits in memory, dropping the oldest and counting them', () => {
    const f = fakeOutbox()
    f.state.full = true
    const w = new OutboxWriter({ outbox: f.outbox, logger: logged().logger, maxPending: 3, retryMs: 60_000 })
    for (let n = 1; n <= 5; n++) w.write('event', { n })
    expect(w.status()).toMatchObject({ pending: 3, dropped: 2 })
    f.state.full = false
    w.flush()
    expect(f.rows.map((r) => r.body)).toEqual([{ n: 3 }, { n: 4 }, { n: 5 }])
    w.close()
  })
})
