import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import v8 from 'node:v8'
import vm from 'node:vm'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { DEFAULT_ACCESS_UNIT_BYTES, MAX_ACCESS_UNIT_BYTES } from '../src/media/codec/depacketizer.ts'
import { CameraStream, type StreamState } from '../src/media/core/camera-stream.ts'
import type { Subscription } from '../src/media/core/producer.ts'
import { Recorder } from '../src/recorder/recorder.ts'
import { RecordingIndex } from '../src/recorder/recording-index.ts'
import {
  HOSTILE_MODES,
  type HostileMode,
  type HostileRtspServer,
  type HostileRtspServerOptions,
  startHostileRtspServer,
} from './helpers/hostile-rtsp-server.ts'

/**
 * Issue 11: the agent's camera pipeline (CameraStream, its producer and the recorder, in this
 * process) against every hostile camera. Memory stays bounded: structurally (the counters of what
 * was dropped, the queue never above its byte bound) and by a generous ceiling on what the
 * process holds; a camera that never answers, or lies about its body, or keeps dropping, is
 * redialled with backoff and leaves no socket behind.
 */
const logger = pino({ level: 'silent' })
const MiB = 1024 * 1024
const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

// A full collection before each reading, so what is measured is what is held, not garbage.
v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void
function held(): number {
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}
/** The process's TCP sockets (both ends of every connection here: the camera runs in-process). */
const sockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length

/**
 * What the process may grow by while a hostile camera streams: a few access units at the largest
 * limit and the consumer queue's byte bound, with room for the runtime. The endless fragment alone
 * would be 300 MB: the budget the camera sends.
 */
const CEILING = 128 * MiB

interface Run {
  server: HostileRtspServer
  stream: CameraStream
  sub: Subscription
  recorder: Recorder
  index: RecordingIndex
  states: StreamState[]
  /** Largest growth of held memory, sockets and the camera's open connections seen while sampling. */
  peak: { grewBytes: number; queuedBytes: number; sockets: number; serverConnections: number }
  stop(): Promise<void>
}

async function run(options: HostileRtspServerOptions): Promise<Run> {
  const dir = mkdtempSync(path.join(tmpdir(), 'vms-hostile-'))
  dirs.push(dir)
  const baseSockets = sockets()
  const before = held()
  const server = await startHostileRtspServer(options)
  const index = new RecordingIndex(path.join(dir, 'index.db'))
  const stream = new CameraStream(
    `hostile-${options.mode}`,
    { url: server.url, requestTimeoutMs: 500, dataTimeoutMs: 2000 },
    logger,
    { initialMs: 100, maxMs: 400 },
  )
  const states: StreamState[] = []
  stream.onState = (s) => states.push(s)
  const recorder = new Recorder({ cameraId: 'cam-1', stream: 'main', dir, index, segmentSeconds: 2, logger })
  const sub = stream.producer.subscribe(recorder)
  const peak = { grewBytes: 0, queuedBytes: 0, sockets: 0, serverConnections: 0 }
  const sample = () => {
    peak.queuedBytes = Math.max(peak.queuedBytes, sub.queuedBytes)
    peak.sockets = Math.max(peak.sockets, sockets() - baseSockets)
    peak.serverConnections = Math.max(peak.serverConnections, server.stats.openConnections)
  }
  const sampler = setInterval(sample, 20)
  // Memory is sampled less often: a full collection costs a few milliseconds.
  const memory = setInterval(() => {
    peak.grewBytes = Math.max(peak.grewBytes, held() - before)
  }, 1000)
  stream.start()
  return {
    server,
    stream,
    sub,
    recorder,
    index,
    states,
    peak,
    async stop() {
      clearInterval(sampler)
      clearInterval(memory)
      sample()
      peak.grewBytes = Math.max(peak.grewBytes, held() - before)
      await stream.stop()
      await sub.idle()
      await recorder.stop('test')
      await server.close()
      index.close()
      // Nothing left open: every connection the stream made is gone, on both ends.
      await expect.poll(() => sockets() - baseSockets, { timeout: 5000 }).toBe(0)
    },
  }
}

describe('the camera pipeline against hostile cameras (issue 11)', () => {
  it('covers every hostile mode', () => {
    const covered: HostileMode[] = [
      'huge-status',
      'endless-fua',
      'timestamp-jump-back',
      'clock-in-past',
      'silent',
      'huge-content-length',
      'flapping',
    ]
    expect([...HOSTILE_MODES].sort()).toEqual([...covered].sort())
  })

  it('endless-fua: 300 MB of one endless frame cost a bounded few MB, counted, and recording goes on at the next keyframe', async () => {
    const r = await run({ mode: 'endless-fua', byteBudget: 300 * MiB })
    try {
      await expect.poll(() => r.server.stats.budgetSpent, { timeout: 60_000, interval: 100 }).toBe(true)
      const stats = r.stream.stats()
      expect(stats.oversizedFrames).toBeGreaterThanOrEqual(1)
      expect(stats.droppedFrames).toBeGreaterThanOrEqual(1)
      // After the endless frame the camera plays on: frames reach the recorder again.
      const delivered = r.sub.delivered
      await expect.poll(() => r.sub.delivered, { timeout: 10_000 }).toBeGreaterThan(delivered + 5)
    } finally {
      await r.stop()
    }
    expect(r.peak.grewBytes).toBeLessThan(CEILING)
    expect(r.peak.queuedBytes).toBeLessThanOrEqual(2 * MAX_ACCESS_UNIT_BYTES)
  })

  it('endless-fua of complete NAL units (one timestamp, no marker): the access unit is capped the same way', async () => {
    const r = await run({
      mode: 'endless-fua',
      byteBudget: 8 * DEFAULT_ACCESS_UNIT_BYTES,
      nalBytes: 256 * 1024,
    })
    try {
      await expect.poll(() => r.server.stats.budgetSpent, { timeout: 60_000 }).toBe(true)
      expect(r.stream.stats().oversizedFrames).toBeGreaterThanOrEqual(1)
    } finally {
      await r.stop()
    }
    expect(r.peak.grewBytes).toBeLessThan(CEILING)
  })

  it('endless-fua over H.265 (FU type 49): bounded and counted the same way', async () => {
    const r = await run({ mode: 'endless-fua', codec: 'h265', byteBudget: 8 * DEFAULT_ACCESS_UNIT_BYTES })
    try {
      await expect.poll(() => r.server.stats.budgetSpent, { timeout: 60_000 }).toBe(true)
      expect(r.stream.stats()).toMatchObject({ codec: 'h265' })
      expect(r.stream.stats().oversizedFrames).toBeGreaterThanOrEqual(1)
    } finally {
      await r.stop()
    }
    expect(r.peak.grewBytes).toBeLessThan(CEILING)
  })

  it('huge-status: the error is short and clean, and the camera is redialled with backoff', async () => {
    const r = await run({ mode: 'huge-status' })
    try {
      await expect.poll(() => r.stream.stats().reconnects, { timeout: 20_000 }).toBeGreaterThanOrEqual(3)
      const error = r.stream.stats().error ?? ''
      expect(error).toMatch(/500/)
      expect(error.length).toBeLessThanOrEqual(500)
      // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for control characters is the point
      expect(error).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/)
    } finally {
      await r.stop()
    }
    expect(r.peak.grewBytes).toBeLessThan(CEILING)
  })

  for (const mode of ['timestamp-jump-back', 'clock-in-past'] as const) {
    it(`${mode}: streams on with memory bounded`, async () => {
      const r = await run({ mode, jumpAfterFrames: 10 })
      try {
        await expect.poll(() => r.sub.delivered, { timeout: 20_000 }).toBeGreaterThan(30)
        expect(r.stream.stats()).toMatchObject({ state: 'streaming', oversizedFrames: 0 })
        if (mode === 'timestamp-jump-back') expect(r.server.stats.jumps).toBe(1)
      } finally {
        await r.stop()
      }
      expect(r.peak.grewBytes).toBeLessThan(CEILING)
    })
  }

  for (const mode of ['silent', 'huge-content-length', 'flapping'] as const) {
    it(`${mode}: reconnects with backoff and leaks no socket`, async () => {
      const r = await run({ mode, playMs: 500 })
      try {
        await expect.poll(() => r.stream.stats().reconnects, { timeout: 30_000 }).toBeGreaterThanOrEqual(4)
        if (mode === 'flapping') {
          // Each time it came back it streamed again.
          expect(r.server.stats.plays).toBeGreaterThanOrEqual(4)
          expect(r.sub.delivered).toBeGreaterThan(0)
        }
      } finally {
        await r.stop()
      }
      // Every reconnect waited its backoff: one connection per attempt, never a pile of them.
      expect(r.states.filter((s) => s === 'backoff').length).toBeGreaterThanOrEqual(4)
      expect(r.server.stats.connections).toBeLessThanOrEqual(r.stream.stats().reconnects + 1)
      expect(r.peak.serverConnections).toBeLessThanOrEqual(2)
      expect(r.peak.sockets).toBeLessThanOrEqual(4)
      expect(r.peak.grewBytes).toBeLessThan(CEILING)
    })
  }
})
