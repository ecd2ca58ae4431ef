import path from 'node:path'
import { fileURLToPath } from 'node:url'
import v8 from 'node:v8'
import vm from 'node:vm'
import { describe, expect, it } from 'vitest'
import { loadClip } from '../../../../scripts/camera-sim/clip.ts'
import { packetizeNal } from '../../../../scripts/camera-sim/packetize.ts'
import type { RtpPacket } from '../rtp/rtp.ts'
import { Timeline } from '../rtp/timeline.ts'
import type { AccessUnit } from './access-unit.ts'
import { Depacketizer, MAX_ACCESS_UNIT_BYTES, type PayloadFormat, reassemblyLimits } from './depacketizer.ts'
import { H264 } from './h264.ts'
import { H265 } from './h265.ts'

/**
 * Issue 11 item 2: a camera that sends an FU start and then endless middle fragments (one
 * timestamp, no marker) grew the agent without bound. Reassembly is capped per access unit and per
 * NAL unit; past the cap the stream is dropped to its next keyframe and counted.
 */
const clips = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../../scripts/camera-sim/clips',
)
const MiB = 1024 * 1024

function packet(payload: Buffer, sequence: number, timestamp: number, marker: boolean): RtpPacket {
  return {
    version: 2,
    padding: false,
    marker,
    payloadType: 96,
    sequence: sequence & 0xffff,
    timestamp: timestamp >>> 0,
    ssrc: 1,
    csrcs: [],
    payload,
  }
}

/** A stream of the simulator's clip, with hand-made hostile packets in between. */
function stream(codec: 'h264' | 'h265') {
  const clip = loadClip(path.join(clips, `sim-${codec}.${codec}`), codec, 15)
  const format: PayloadFormat = codec === 'h264' ? H264 : H265
  const d = new Depacketizer(format, new Timeline(90000), clip.parameterSets)
  let seq = 0
  let ts = 1000
  let index = 0
  const out: AccessUnit[] = []
  return {
    d,
    out,
    /** The clip's next frame (frame 0 is a keyframe). */
    frame(from?: number) {
      if (from !== undefined) index = from
      const f = clip.frames[index % clip.frames.length] as (typeof clip.frames)[number]
      index++
      ts += 6000
      const payloads = f.nalus.flatMap((n) => packetizeNal(n, codec))
      payloads.forEach((p, i) => {
        out.push(...d.push(packet(p, seq++, ts, i === payloads.length - 1), 0))
      })
      return f
    },
    /** A raw payload at the current timestamp (or the next one). */
    raw(payload: Buffer, marker = false, nextTs = false) {
      if (nextTs) ts += 6000
      out.push(...d.push(packet(payload, seq++, ts, marker), 0))
    },
  }
}

/** An FU fragment of a non-IDR slice (H.264 FU-A, or H.265 FU of a TRAIL_R). */
function fu(codec: 'h264' | 'h265', start: boolean, end: boolean, body: Buffer): Buffer {
  const flags = (start ? 0x80 : 0) | (end ? 0x40 : 0) | 1
  return codec === 'h264'
    ? Buffer.concat([Buffer.from([0x60 | 28, flags]), body])
    : Buffer.concat([Buffer.from([49 << 1, 1, flags]), body])
}

// A full collection before each reading, so what is measured is what is held, not garbage.
v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void

/** External memory (Buffers) held now. */
function external(): number {
  gc()
  return process.memoryUsage().arrayBuffers
}

describe('bounded reassembly', () => {
  it('sizes the limit from the picture, between a floor and an absolute cap', () => {
    const small = reassemblyLimits(640, 360)
    const full = reassemblyLimits(1920, 1080)
    const uhd = reassemblyLimits(3840, 2160)
    expect(small.accessUnitBytes).toBeGreaterThanOrEqual(2 * MiB)
    expect(full.accessUnitBytes).toBeGreaterThan(small.accessUnitBytes)
    expect(uhd.accessUnitBytes).toBeGreaterThan(full.accessUnitBytes)
    // A camera may claim any size in its SPS: never beyond the absolute cap.
    expect(reassemblyLimits(16384, 16384).accessUnitBytes).toBe(MAX_ACCESS_UNIT_BYTES)
    expect(reassemblyLimits().accessUnitBytes).toBeLessThanOrEqual(MAX_ACCESS_UNIT_BYTES)
  })

  for (const codec of ['h264', 'h265'] as const) {
    it(`${codec}: an FU start and endless middle fragments hold at most the cap, then the stream resumes at the next keyframe`, () => {
      const s = stream(codec)
      s.frame(0)
      s.frame()
      expect(s.out).toHaveLength(2)
      // The clip is 640x360: the limit comes from its SPS.
      const limit = s.d.limits.accessUnitBytes
      expect(limit).toBe(reassemblyLimits(640, 360).accessUnitBytes)

      const before = external()
      // Generous: the limit, plus room for the runtime's own buffers.
      const ceiling = limit + 32 * MiB
      let fed = 0
      let grew = 0
      let maxHeld = 0
      s.raw(fu(codec, true, false, Buffer.alloc(1400, 7)), false, true)
      // Bounded: at most 300 MB, and stop early once memory has clearly run away.
      while (fed < 300 * MiB) {
        // A fresh buffer per packet, as the socket delivers them.
        s.raw(fu(codec, false, false, Buffer.alloc(1400, 9)))
        fed += 1400
        maxHeld = Math.max(maxHeld, s.d.heldBytes)
        if (fed % (1400 * 4096) === 0) {
          grew = Math.max(grew, external() - before)
          if (grew > 2 * ceiling) break
        }
      }
      grew = Math.max(grew, external() - before)
      expect(grew).toBeLessThan(ceiling)
      expect(maxHeld).toBeLessThanOrEqual(limit)
      expect(s.d.oversizedAccessUnits).toBe(1)

      // The fragment ends, a P-frame follows (dropped: it depends on what was lost), then a keyframe.
      s.raw(fu(codec, false, true, Buffer.alloc(10)), true)
      expect(s.out).toHaveLength(2)
      s.frame(1)
      expect(s.out).toHaveLength(2)
      expect(s.d.droppedAccessUnits).toBeGreaterThanOrEqual(2)
      s.frame(0)
      expect(s.out).toHaveLength(3)
      expect(s.out[2]?.keyframe).toBe(true)
      expect(s.d.heldBytes).toBe(0)
      s.frame()
      expect(s.out).toHaveLength(4)
    })
  }

  it('endless complete NAL units with one timestamp and no marker: the access unit is capped', () => {
    const s = stream('h264')
    s.frame(0)
    const limit = s.d.limits.accessUnitBytes
    const nal = Buffer.concat([Buffer.from([0x41]), Buffer.alloc(60_000, 3)])
    const frags = packetizeNal(nal, 'h264')
    let maxHeld = 0
    s.raw(frags[0] as Buffer, false, true)
    for (const f of frags.slice(1)) s.raw(f)
    for (let fed = 0; fed < 4 * limit; fed += nal.length) {
      for (const f of frags) s.raw(f)
      maxHeld = Math.max(maxHeld, s.d.heldBytes)
    }
    expect(maxHeld).toBeLessThanOrEqual(limit)
    expect(s.d.oversizedAccessUnits).toBe(1)
    expect(s.out).toHaveLength(1)
    s.frame(0)
    expect(s.out).toHaveLength(2)
  })

  it('endless tiny NAL units in one access unit: the count of NAL units is capped too', () => {
    const s = stream('h264')
    s.frame(0)
    const { nalUnits } = s.d.limits
    s.raw(Buffer.from([0x06, 1, 1, 0x80]), false, true) // SEI
    for (let i = 0; i < nalUnits * 3; i++) s.raw(Buffer.from([0x06, 1, 1, 0x80]))
    expect(s.d.oversizedAccessUnits).toBe(1)
    expect(s.d.heldBytes).toBe(0)
  })
})
