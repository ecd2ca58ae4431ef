import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'
import { CameraStream, type StreamState } from '../src/media/core/camera-stream.ts'

let sim: CameraSimulator
beforeAll(async () => {
  sim = await CameraSimulator.start({ streams: [{ name: 'cam', codec: 'h264' }] })
})
afterAll(async () => {
  await sim?.close()
})

describe('CameraStream', () => {
  it('opens one session for many consumers and comes back after the camera drops', async () => {
    const stream = new CameraStream('cam', { url: sim.url('cam') }, pino({ level: 'silent' }), {
      initialMs: 200,
      maxMs: 1000,
    })
    const states: StreamState[] = []
    stream.onState = (s) => states.push(s)
    const counts = { a: 0, b: 0 }
    const stops: string[] = []
    stream.producer.subscribe({ name: 'a', frame: () => void counts.a++, stop: (r) => void stops.push(r) })
    stream.producer.subscribe({ name: 'b', frame: () => void counts.b++ })
    stream.start()
    await expect.poll(() => counts.a, { timeout: 10_000 }).toBeGreaterThan(10)
    expect(counts.b).toBeGreaterThan(0)
    expect(sim.sessionCount('cam')).toBe(1) // one camera session, two consumers

    sim.fault('cam', 'drop')
    await expect.poll(() => stops.length, { timeout: 10_000 }).toBe(1)
    const before = counts.a
    await expect.poll(() => counts.a, { timeout: 10_000 }).toBeGreaterThan(before + 10)
    expect(states).toEqual(expect.arrayContaining(['connecting', 'streaming', 'backoff']))
    expect(stream.stats()).toMatchObject({
      state: 'streaming',
      codec: 'h264',
      reconnects: 1,
      // A well-behaved camera never reaches the reassembly limits.
      oversizedFrames: 0,
      droppedFrames: 0,
    })
    // The simulator sends 15 fps at about 250 kbit/s; the meters settle within a few seconds.
    await expect.poll(() => stream.stats().fps, { timeout: 10_000 }).toBeGreaterThan(10)
    await expect.poll(() => stream.stats().bitrateBps, { timeout: 10_000 }).toBeGreaterThan(100_000)
    await stream.stop()
    expect(sim.sessionCount('cam')).toBe(0)
  })

  it('keeps retrying, backing off, while the camera refuses, and reports the reason without credentials', async () => {
    const stream = new CameraStream(
      'cam',
      { url: sim.url('cam', { username: 'u', password: 'TopSecret' }).replace('/cam', '/missing') },
      pino({ level: 'silent' }),
      { initialMs: 100, maxMs: 400 },
    )
    stream.start()
    await expect.poll(() => stream.stats().reconnects, { timeout: 10_000 }).toBeGreaterThanOrEqual(3)
    const stats = stream.stats()
    expect(stats.state === 'backoff' || stats.state === 'connecting').toBe(true)
    expect(stats.error ?? '').toMatch(/404/)
    expect(JSON.stringify(stats)).not.toContain('TopSecret')
    await stream.stop()
  })
})
