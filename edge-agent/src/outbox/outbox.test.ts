import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { MAX_PAYLOAD_BYTES, upMessages } from '@ts-vms/shared'
import { afterEach, describe, expect, it } from 'vitest'
import { encodeBatch } from './encoding.ts'
import { Outbox } from './outbox.ts'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function open(maxBytes = 1_000_000) {
  const dir = mkdtempSync(path.join(tmpdir(), 'outbox-'))
  dirs.push(dir)
  return { outbox: new Outbox(path.join(dir, 'outbox.db'), maxBytes), file: path.join(dir, 'outbox.db') }
}

describe('Outbox', () => {
  it('numbers messages strictly increasingly, even after acknowledged rows are deleted', () => {
    const { outbox, file } = open()
    expect(outbox.append('event', { type: 'test' })).toBe(1)
    expect(outbox.append('audit', { action: 'x' })).toBe(2)
    outbox.ack(2)
    expect(outbox.depth()).toBe(0)
    expect(outbox.bytes()).toBe(0)
    outbox.close()
    const again = new Outbox(file, 1_000_000)
    expect(again.append('event', { type: 'test' })).toBe(3)
    expect(again.acked()).toBe(2)
    again.close()
  })

  it('knows when its oldest unacknowledged record was made (the backlog alarm reads it)', () => {
    const { outbox } = open()
    expect(outbox.oldestAt()).toBeUndefined()
    outbox.append('event', { type: 'test' }, new Date('2026-11-30T10:00:00.000Z'))
    outbox.append('event', { type: 'test' }, new Date('2026-11-30T10:05:00.000Z'))
    expect(outbox.oldestAt()).toBe('2026-11-30T10:00:00.000Z')
    outbox.ack(1)
    expect(outbox.oldestAt()).toBe('2026-11-30T10:05:00.000Z')
    outbox.ack(2)
    expect(outbox.oldestAt()).toBeUndefined()
    outbox.close()
  })

  it('reads in order after a sequence, bounded by rows and bytes', () => {
    const { outbox } = open()
    for (let i = 0; i < 10; i++) outbox.append('event', { type: 'test', data: { i } })
    expect(outbox.read(0, 3, 1_000_000).map((r) => r.seq)).toEqual([1, 2, 3])
    expect(outbox.read(8, 10, 1_000_000).map((r) => r.seq)).toEqual([9, 10])
    expect(outbox.read(0, 10, 1)).toHaveLength(1)
    outbox.close()
  })

  it('coalesces health first when full, keeps every sequence number, and never drops events', () => {
    const { outbox } = open(2000)
    const big = { pad: 'x'.repeat(400) }
    for (let i = 0; i < 3; i++) outbox.append('health', big)
    outbox.append('event', { type: 'test' })
    for (let i = 0; i < 3; i++) outbox.append('health', big)
    const rows = outbox.read(0, 100, 1_000_000)
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7])
    expect(rows.filter((r) => r.type === 'event')).toHaveLength(1)
    expect(rows.filter((r) => r.type === 'noop').length).toBeGreaterThan(0)
    expect(rows.at(-1)?.type).toBe('health')
    // Over the bound with essential rows: non-essential work is refused, events still go in.
    for (let i = 0; i < 10; i++) outbox.append('event', { type: 'test', data: big })
    expect(outbox.full()).toBe(true)
    expect(outbox.accepting(false)).toBe(false)
    expect(outbox.accepting(true)).toBe(true)
    outbox.close()
  })

  it('is shared safely by two connections (the agent and a CLI)', () => {
    const { outbox, file } = open()
    const other = new Outbox(file, 1_000_000)
    outbox.append('event', { type: 'a' })
    other.append('event', { type: 'b' })
    outbox.append('event', { type: 'c' })
    expect(outbox.read(0, 10, 1e6).map((r) => JSON.parse(r.body).type)).toEqual(['a', 'b', 'c'])
    expect(other.bytes()).toBe(outbox.bytes())
    other.close()
    outbox.close()
  })
})

describe('Outbox size limits (issue 11)', () => {
  // 60,000 control characters: 60 KB as text, 360 KB as JSON (each one is written `\u00XX`).
  const hostile = '\u0001\u0002\u0007\u001b'.repeat(15_000)

  it('never stores a row larger than one message the hub takes: it is quarantined, seq kept', () => {
    const { outbox } = open(10_000_000)
    expect(Buffer.byteLength(JSON.stringify({ reason: hostile }))).toBeGreaterThan(MAX_PAYLOAD_BYTES)
    const cameraId = '6f1c1c59-3f43-4d4e-9a57-1f1b0f0b6a11'
    expect(outbox.append('event', { type: 'test' })).toBe(1)
    expect(
      outbox.append('event', { type: 'camera.offline', cameraId, data: { stream: 'main', reason: hostile } }),
    ).toBe(2)
    expect(
      outbox.append('audit', {
        action: 'agent.x',
        outcome: 'success',
        actor: { type: 'system' },
        details: { pad: hostile },
      }),
    ).toBe(3)
    expect(outbox.append('health', { pad: hostile })).toBe(4)
    expect(outbox.append('event', { type: 'test' })).toBe(5)
    expect(outbox.quarantined()).toBe(3)
    expect(outbox.bytes()).toBeLessThan(10_000)
    const rows = outbox.read(0, 100, MAX_PAYLOAD_BYTES)
    expect(rows.map((r) => [r.seq, r.type])).toEqual([
      [1, 'event'],
      [2, 'event'],
      [3, 'audit'],
      [4, 'noop'],
      [5, 'event'],
    ])
    const event = JSON.parse(rows[1]?.body ?? '')
    expect(event).toMatchObject({
      type: 'camera.offline',
      cameraId,
      data: { stream: 'main', quarantined: true },
    })
    expect(event.data.originalBytes).toBeGreaterThan(MAX_PAYLOAD_BYTES)
    // What is sent is valid for the hub.
    const batch = upMessages.safeParse(JSON.parse(encodeBatch(rows)))
    expect(batch.success, JSON.stringify(batch.error?.issues)).toBe(true)
    outbox.close()
  })

  it('bounds batches by their encoded size, JSON escapes included', () => {
    const { outbox } = open(100_000_000)
    // Each body is ~40 KB as JSON, ~6.7 KB of text: a bound on text would send 5x too much.
    for (let i = 0; i < 30; i++)
      outbox.append('event', { type: 'test', data: { pad: '\u0001'.repeat(6_600) } })
    let after = 0
    let batches = 0
    while (true) {
      const rows = outbox.read(after, 500, MAX_PAYLOAD_BYTES)
      if (rows.length === 0) break
      expect(Buffer.byteLength(encodeBatch(rows))).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES)
      after = rows.at(-1)?.seq ?? after
      batches++
    }
    expect(after).toBe(30)
    expect(batches).toBeGreaterThan(1)
    // A smaller budget still lets the first row through.
    expect(outbox.read(0, 500, 1)).toHaveLength(1)
    outbox.close()
  })

  it('quarantines in place an oversize row an older agent stored, so it never blocks the head', () => {
    const { outbox } = open()
    const body = JSON.stringify({ type: 'camera.offline', data: { reason: hostile } })
    outbox.db
      .prepare('insert into outbox (type, at, body, bytes) values (?, ?, ?, ?)')
      .run('event', new Date().toISOString(), body, Buffer.byteLength(body) + 64)
    outbox.db
      .prepare(`update meta set value = ? where key = 'bytes'`)
      .run(String(Buffer.byteLength(body) + 64))
    outbox.append('event', { type: 'test' })
    const rows = outbox.read(0, 500, MAX_PAYLOAD_BYTES)
    expect(rows.map((r) => r.seq)).toEqual([1, 2])
    expect(Buffer.byteLength(encodeBatch(rows))).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES)
    expect(JSON.parse(rows[0]?.body ?? '')).toMatchObject({
      type: 'camera.offline',
      data: { quarantined: true },
    })
    expect(outbox.quarantined()).toBe(1)
    expect(outbox.bytes()).toBeLessThan(1000)
    // Stored: the next read does not quarantine it again.
    outbox.read(0, 500, MAX_PAYLOAD_BYTES)
    expect(outbox.quarantined()).toBe(1)
    outbox.close()
  })
})

describe('Outbox.atomically', () => {
  it('commits records and settings together, or neither', () => {
    const { outbox } = open()
    outbox.atomically(() => {
      outbox.append('event', { type: 'a' })
      outbox.setSetting('open', '["a"]')
    })
    expect(() =>
      outbox.atomically(() => {
        outbox.append('event', { type: 'b' })
        outbox.setSetting('open', '["a","b"]')
        throw new Error('power cut')
      }),
    ).toThrow('power cut')
    expect(outbox.depth()).toBe(1)
    expect(outbox.getSetting('open')).toBe('["a"]')
    outbox.close()
  })
})
