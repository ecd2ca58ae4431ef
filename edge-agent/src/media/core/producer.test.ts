import { describe, expect, it } from 'vitest'
import type { AccessUnit } from '../codec/access-unit.ts'
import type { StreamInfo } from '../rtsp/client.ts'
import { Backoff } from './backoff.ts'
import { type Consumer, GOP_CACHE_MAX_BYTES, Producer } from './producer.ts'

const info = {
  codec: 'h264',
  parameterSets: [],
  clockRate: 90000,
  trackUrl: 'rtsp://x',
  transport: 'tcp',
} as unknown as StreamInfo
const au = (n: number, keyframe = n % 10 === 0): AccessUnit => ({
  codec: 'h264',
  timestamp: n * 6000,
  wallMs: n,
  nalus: [Buffer.from([keyframe ? 0x65 : 0x41, n & 0xff])],
  keyframe,
  damaged: false,
})

describe('Producer', () => {
  it('gives a slow consumer its own bounded queue: the fast one gets everything, the slow one drops to the next keyframe', async () => {
    const fast: number[] = []
    const slow: number[] = []
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => {
      release = r
    })
    const producer = new Producer()
    const f = producer.subscribe({ name: 'fast', frame: (a) => void fast.push(a.wallMs) } satisfies Consumer)
    const s = producer.subscribe(
      {
        name: 'slow',
        frame: async (a) => {
          await gate
          slow.push(a.wallMs)
        },
      },
      { queueFrames: 5 },
    )
    producer.started(info)
    for (let n = 0; n < 40; n++) producer.frame(au(n))
    release()
    await f.idle()
    await s.idle()
    expect(fast).toHaveLength(40)
    expect(s.dropped).toBeGreaterThan(0)
    expect(s.delivered + s.dropped).toBe(40)
    // After dropping it resumed at a keyframe (multiples of 10 are keyframes here).
    const resumed = slow.find((n, i) => i > 0 && n - (slow[i - 1] ?? 0) > 1)
    expect(resumed === undefined || resumed % 10 === 0).toBe(true)
  })

  it('starts a late consumer on the current stream at its next keyframe', async () => {
    const producer = new Producer()
    producer.started(info)
    producer.frame(au(1))
    const got: number[] = []
    let started = false
    const sub = producer.subscribe({
      name: 'late',
      start: () => {
        started = true
      },
      frame: (a) => void got.push(a.wallMs),
    })
    for (let n = 2; n <= 12; n++) producer.frame(au(n))
    await sub.idle()
    expect(started).toBe(true)
    expect(got[0]).toBe(10)
  })

  it('starts a live consumer at the last keyframe, with the frames since it, then goes on live', async () => {
    const producer = new Producer()
    producer.started(info)
    for (let n = 0; n <= 24; n++) producer.frame(au(n))
    expect(producer.cachedFrames).toBe(5) // keyframe 20 and 21..24
    const got: number[] = []
    // A queue shorter than the cached GOP still gets all of it.
    const sub = producer.subscribe(
      { name: 'live', frame: (a) => void got.push(a.wallMs) },
      {
        queueFrames: 3,
        fromLastKeyframe: true,
      },
    )
    await sub.idle() // as when the next frame arrives: on a later turn of the event loop
    for (let n = 25; n <= 27; n++) producer.frame(au(n))
    await sub.idle()
    expect(got).toEqual([20, 21, 22, 23, 24, 25, 26, 27])
    expect(sub.dropped).toBe(0)
  })

  it('replays nothing that would not decode: a damaged frame, a new stream or an oversized GOP', async () => {
    const producer = new Producer()
    producer.started(info)
    producer.frame(au(0))
    producer.frame({ ...au(1), damaged: true })
    producer.frame(au(2))
    expect(producer.cachedFrames).toBe(0)
    producer.frame(au(10))
    expect(producer.cachedFrames).toBe(1)
    producer.started(info)
    expect(producer.cachedFrames).toBe(0)
    producer.frame(au(20))
    producer.frame({ ...au(21), nalus: [Buffer.alloc(GOP_CACHE_MAX_BYTES)] })
    expect(producer.cachedFrames).toBe(0)
    producer.stopped('gone')
    const got: number[] = []
    const sub = producer.subscribe(
      { name: 'live', frame: (a) => void got.push(a.wallMs) },
      { fromLastKeyframe: true },
    )
    producer.started(info)
    producer.frame(au(31))
    producer.frame(au(40))
    await sub.idle()
    expect(got).toEqual([40])
  })

  it('isolates a consumer that throws', async () => {
    const errors: string[] = []
    const producer = new Producer((name) => errors.push(name))
    const ok: number[] = []
    const a = producer.subscribe({
      name: 'broken',
      frame: () => {
        throw new Error('boom')
      },
    })
    const b = producer.subscribe({ name: 'ok', frame: (x) => void ok.push(x.wallMs) })
    producer.started(info)
    for (let n = 0; n < 5; n++) producer.frame(au(n, n === 0))
    await a.idle()
    await b.idle()
    expect(ok).toEqual([0, 1, 2, 3, 4])
    expect(errors).toHaveLength(5)
  })
})

describe('Backoff', () => {
  it('grows exponentially with jitter up to the cap, and resets', () => {
    const b = new Backoff(1000, 8000, () => 1)
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([1000, 2000, 4000, 8000, 8000])
    const low = new Backoff(1000, 8000, () => 0)
    expect(low.next()).toBe(500)
    b.reset()
    expect(b.next()).toBe(1000)
  })

  it('bounds a queue by bytes as well as frames: large frames drop to the next keyframe', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => {
      release = r
    })
    const producer = new Producer()
    const s = producer.subscribe(
      { name: 'slow', frame: () => gate },
      { queueFrames: 1000, queueBytes: 10 * 1024 * 1024 },
    )
    producer.started(info)
    const big = (n: number): AccessUnit => ({
      ...au(n),
      nalus: [Buffer.alloc(1024 * 1024, n % 10 === 0 ? 0x65 : 0x41)],
    })
    let maxQueued = 0
    for (let n = 0; n < 100; n++) {
      producer.frame(big(n))
      maxQueued = Math.max(maxQueued, s.queuedBytes)
    }
    expect(maxQueued).toBeLessThanOrEqual(10 * 1024 * 1024)
    expect(s.dropped).toBeGreaterThan(50)
    release()
    await s.idle()
    expect(s.queuedBytes).toBe(0)
  })
})
