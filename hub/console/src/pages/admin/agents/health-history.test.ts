import { describe, expect, it } from 'vitest'
import { type HealthBucket, summarizeHealth } from './health-history.ts'

const bucket = (minute: number, over: Partial<HealthBucket> = {}): HealthBucket => ({
  bucketStart: `2026-11-30T12:${String(minute).padStart(2, '0')}:00.000Z`,
  samples: 30,
  cameras: 16,
  streamingMin: 16,
  streamingLast: 16,
  unreachableMax: 0,
  outboxDepthMax: 0,
  diskFreeMinBytes: 500,
  diskTotalBytes: 1000,
  ...over,
})

describe('summarizeHealth', () => {
  it('finds the worst bucket, counts the whole ones and keeps the extremes', () => {
    const s = summarizeHealth([
      bucket(0),
      bucket(5, { streamingMin: 12, outboxDepthMax: 40 }),
      bucket(10, { streamingMin: 4, diskFreeMinBytes: 20 }),
      bucket(15, { streamingMin: 4 }),
    ])
    expect(s.worst).toEqual({ bucketStart: bucket(10).bucketStart, streaming: 4, cameras: 16 })
    expect(s.allStreaming).toBe(1)
    expect(s.bars.map((b) => [b.share, b.short])).toEqual([
      [1, false],
      [0.75, true],
      [0.25, true],
      [0.25, true],
    ])
    expect(s.outboxDepthMax).toBe(40)
    expect(s.diskFreeMinBytes).toBe(20)
  })

  it('an agent without cameras or reports has nothing short, and no extremes', () => {
    const s = summarizeHealth([
      bucket(0, { cameras: 0, streamingMin: 0, outboxDepthMax: null, diskFreeMinBytes: null }),
    ])
    expect(s.worst).toBeUndefined()
    expect(s.bars).toEqual([{ bucketStart: bucket(0).bucketStart, share: 1, short: false }])
    expect(s.outboxDepthMax).toBeNull()
    expect(s.diskFreeMinBytes).toBeNull()
    expect(summarizeHealth([]).bars).toEqual([])
  })
})
