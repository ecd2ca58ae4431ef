import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
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
