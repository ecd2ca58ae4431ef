import { describe, expect, it } from 'vitest'
import type { Box, Detection, Frame } from '../types.ts'
import { DetectorPool, type PoolMember } from './detector-pool.ts'
import type { ModelSpec } from './model-catalog.ts'

const SPEC: ModelSpec = { id: 'default', file: '/nowhere.onnx', format: 'yolox', labels: ['person'] }
const FRAME: Frame = { width: 2, height: 2, data: Buffer.alloc(6), time: 0 }
const REGION: Box = { x1: 0, y1: 0, x2: 2, y2: 2 }

/** Detectors whose detect() resolves when the test says so; records which one ran each call. */
function fakeLoader() {
  const made: { id: number; pending: (() => void)[]; closed: boolean; dead: boolean }[] = []
  const load = async () => {
    const me = { id: made.length, pending: [] as (() => void)[], closed: false, dead: false }
    made.push(me)
    return {
      get dead() {
        return me.dead
      },
      inputSize: { width: 416, height: 416 },
      labels: ['person'],
      detect: () =>
        new Promise<Detection[]>((resolve) =>
          me.pending.push(() => resolve([{ box: REGION, score: me.id, classId: 0, label: 'person' }])),
        ),
      close: async () => {
        me.closed = true
      },
    } as unknown as PoolMember
  }
  return { made, load }
}

const tick = () => new Promise((r) => setImmediate(r))

describe('DetectorPool', () => {
  it('replaces a detector whose thread died', async () => {
    const f = fakeLoader()
    const pool = await DetectorPool.open(SPEC, 1, f.load)
    f.made[0]!.dead = true
    // The call goes to the dead one (nothing else yet) while its replacement opens.
    const first = pool.detect(FRAME, REGION, 0.5)
    await tick()
    await tick()
    expect(f.made).toHaveLength(2)
    expect(pool.loaded).toBe(1) // the replacement took the dead one's place
    f.made[0]!.pending.shift()?.()
    await first
    const second = pool.detect(FRAME, REGION, 0.5)
    await tick()
    expect(f.made[1]!.pending).toHaveLength(1)
    f.made[1]!.pending.shift()!()
    expect((await second)[0]!.score).toBe(1)
    await pool.close()
  })

  it('uses one detector while calls come one at a time', async () => {
    const f = fakeLoader()
    const pool = await DetectorPool.open(SPEC, 4, f.load)
    for (let i = 0; i < 3; i++) {
      const p = pool.detect(FRAME, REGION, 0.5)
      await tick()
      f.made[0]!.pending.shift()!()
      await p
    }
    expect(pool.loaded).toBe(1)
    expect(pool.inputSize).toEqual({ width: 416, height: 416 })
  })

  it('opens more detectors while all are busy, up to its size, and spreads calls over them', async () => {
    const f = fakeLoader()
    const pool = await DetectorPool.open(SPEC, 2, f.load)
    const first = pool.detect(FRAME, REGION, 0.5)
    const second = pool.detect(FRAME, REGION, 0.5) // all busy: a second detector opens
    await tick()
    expect(pool.loaded).toBe(2)
    const third = pool.detect(FRAME, REGION, 0.5)
    const fourth = pool.detect(FRAME, REGION, 0.5)
    await tick()
    expect(pool.loaded).toBe(2) // never beyond its size
    expect(f.made[1]!.pending.length).toBeGreaterThan(0)
    for (const d of f.made) while (d.pending.length) d.pending.shift()!()
    const ran = (await Promise.all([first, second, third, fourth])).map((r) => r[0]!.score)
    expect(new Set(ran)).toEqual(new Set([0, 1]))
    await pool.close()
    expect(f.made.every((d) => d.closed)).toBe(true)
  })

  it('fails to open when the model does not load', async () => {
    await expect(
      DetectorPool.open(SPEC, 2, async () => {
        throw new Error('not a model')
      }),
    ).rejects.toThrow('not a model')
  })
})
