import { healthBody } from '@ts-vms/shared'
import { describe, expect, it } from 'vitest'
import { bucketStart, healthSample } from './health-history.ts'

const at = new Date('2026-11-30T12:07:31.250Z')
const stream = (role: 'main' | 'sub', state: string, bitrateBps: number) => ({
  role,
  state,
  bitrateBps,
  fps: role === 'main' ? 25 : 10,
  lostPackets: 4,
  reconnects: 1,
  recording: role === 'main',
})

describe('health history', () => {
  it('buckets by 5 minutes', () => {
    expect(bucketStart(at).toISOString()).toBe('2026-11-30T12:05:00.000Z')
    expect(bucketStart(new Date('2026-11-30T12:05:00.000Z')).toISOString()).toBe('2026-11-30T12:05:00.000Z')
  })

  it("reduces a heartbeat to the agent's figures and each camera's compact ones", () => {
    const body = healthBody.parse({
      uptimeSeconds: 1,
      version: '1',
      outbox: { depth: 3, bytes: 1, full: false, oldestAgeSeconds: 12 },
      configVersion: 1,
      disk: { freeBytes: 10, totalBytes: 100 },
      recording: { bytes: 50, quotaBytes: null },
      cameras: [
        {
          id: '00000000-0000-4000-8000-000000000001',
          streams: [stream('main', 'streaming', 4_000_000), stream('sub', 'streaming', 500_000)],
          probe: { reachable: true, latencyMs: null, at: at.toISOString() },
        },
        {
          id: '00000000-0000-4000-8000-000000000002',
          streams: [stream('main', 'backoff', 0)],
          probe: { reachable: false, latencyMs: null, at: at.toISOString(), error: 'timeout' },
        },
        { id: '00000000-0000-4000-8000-000000000003', streams: [] },
      ],
    })
    expect(healthSample(body, at)).toEqual({
      at,
      bucketStart: new Date('2026-11-30T12:05:00.000Z'),
      cameras: 3,
      streaming: 1,
      unreachable: 1,
      outboxDepth: 3,
      outboxAgeSeconds: 12,
      diskFreeBytes: 10,
      diskTotalBytes: 100,
      recordingBytes: 50,
      cameraFigures: [
        ['00000000-0000-4000-8000-000000000001', 2, 25, 4500, 8, 2, 1],
        ['00000000-0000-4000-8000-000000000002', 0, 0, 0, 4, 1, 0],
        ['00000000-0000-4000-8000-000000000003', 0, 0, 0, 0, 0, null],
      ],
    })
  })

  it('an agent that reports no disk or cameras keeps nulls and zeros', () => {
    const body = healthBody.parse({
      uptimeSeconds: 1,
      version: '1',
      outbox: { depth: 0, bytes: 0, full: false },
      configVersion: 1,
    })
    expect(healthSample(body, at)).toMatchObject({
      cameras: 0,
      streaming: 0,
      diskFreeBytes: null,
      outboxAgeSeconds: null,
      recordingBytes: null,
      cameraFigures: [],
    })
  })
})
