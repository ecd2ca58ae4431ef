import { closeSync, mkdtempSync, readdirSync, readSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { type OpenedSegment, SegmentCache } from './segment-cache.ts'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function cache(maxBytes: number) {
  const dir = mkdtempSync(path.join(tmpdir(), 'vms-cache-test-'))
  dirs.push(dir)
  const c = new SegmentCache(path.join(dir, 'cache'), maxBytes)
  let n = 0
  const loads: string[] = []
  /** A load that writes `bytes` bytes named after the key. */
  const load = (key: string, bytes: number) => async () => {
    loads.push(key)
    const file = path.join(c.incomingDir, `${n++}`)
    writeFileSync(file, Buffer.alloc(bytes, key.charCodeAt(0)))
    return file
  }
  return { c, load, loads }
}

const read = (o: OpenedSegment) => {
  const buf = Buffer.alloc(o.bytes)
  readSync(o.fd, buf, 0, o.bytes, 0)
  closeSync(o.fd)
  return buf
}

describe('segment cache', () => {
  it('loads once, then serves from disk', async () => {
    const { c, load, loads } = cache(1000)
    const first = await c.open('a', load('a', 10))
    expect(first.source).toBe('miss')
    expect(read(first)).toEqual(Buffer.alloc(10, 'a'.charCodeAt(0)))
    const again = await c.open('a', load('a', 10))
    expect(again.source).toBe('hit')
    read(again)
    expect(loads).toEqual(['a'])
    expect(c.bytes).toBe(10)
  })

  it('shares one load among concurrent requests, and a failed load with all of them', async () => {
    const { c, load, loads } = cache(1000)
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => {
      release = r
    })
    const slow = async () => {
      await gate
      return load('b', 20)()
    }
    const all = Promise.all([c.open('b', slow), c.open('b', slow), c.open('b', slow)])
    release()
    const opened = await all
    expect(opened.map((o) => o.source).sort()).toEqual(['miss', 'shared', 'shared'])
    for (const o of opened) expect(read(o).length).toBe(20)
    expect(loads).toEqual(['b'])

    let calls = 0
    const failing = async () => {
      calls++
      throw new Error('agent away')
    }
    const results = await Promise.allSettled([c.open('x', failing), c.open('x', failing)])
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected'])
    expect(calls).toBe(1)
    // The next request tries again.
    expect((await c.open('x', load('x', 5))).source).toBe('miss')
  })

  it('evicts the least recently used beyond its size; readers keep what they opened', async () => {
    const { c, load } = cache(100)
    read(await c.open('a', load('a', 40)))
    const held = await c.open('b', load('b', 40))
    read(await c.open('a', load('a', 40))) // a is now more recent than b
    read(await c.open('c', load('c', 40))) // 120 > 100: b goes
    expect(c.has('a')).toBe(true)
    expect(c.has('b')).toBe(false)
    expect(c.has('c')).toBe(true)
    expect(c.bytes).toBe(80)
    expect(read(held)).toEqual(Buffer.alloc(40, 'b'.charCodeAt(0)))
    expect(readdirSync(c.dir).filter((f) => f.endsWith('.seg'))).toHaveLength(2)
  })

  it('serves a segment larger than the whole cache without keeping it', async () => {
    const { c, load, loads } = cache(100)
    const big = await c.open('z', load('z', 500))
    expect(read(big).length).toBe(500)
    expect(c.has('z')).toBe(false)
    expect(c.bytes).toBe(0)
    await new Promise((r) => setImmediate(r))
    expect(readdirSync(c.dir).filter((f) => f.endsWith('.seg'))).toHaveLength(0)
    read(await c.open('z', load('z', 500)))
    expect(loads).toEqual(['z', 'z'])
  })

  it('starts empty', () => {
    const { c } = cache(100)
    writeFileSync(path.join(c.dir, 'stale.seg'), 'x')
    const again = new SegmentCache(c.dir, 100)
    expect(readdirSync(again.dir)).toEqual(['incoming'])
  })
})
