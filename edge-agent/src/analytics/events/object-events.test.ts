import { describe, expect, it } from 'vitest'
import type { TrackedObject } from '../track/byte-tracker.ts'
import type { Box } from '../types.ts'
import { ObjectFilter } from '../zones/object-filter.ts'
import type { ObjectZones } from '../zones/zone-presence.ts'
import { isBetterSnapshot, type ObjectEventChange, ObjectEvents, touchesFrameEdge } from './object-events.ts'

const W = 1280
const H = 720
const FRAME = { width: W, height: H }
const FRAME_MS = 200 // 5 fps, Frigate's default detect rate
const T0 = 1_700_000_000_000
/** Well inside the frame: 80×240 px. */
const BOX: Box = { x1: 400, y1: 200, x2: 480, y2: 440 }
const NO_ZONES: ReadonlyMap<string, ObjectZones> = new Map()

// The real filter, default threshold 0.7 on the zero-padded median of the latest 10 scores.
const filter = new ObjectFilter({ width: W, height: H, objects: ['person', 'car'] })

function objectEvents(updateEveryMs?: number): ObjectEvents {
  return new ObjectEvents({ width: W, height: H, filter, updateEveryMs })
}

interface Sighting {
  box?: Box
  score?: number
  stationary?: boolean
  /** Frame time of the latest detection; the frame's own time (detected now) unless given. */
  lastSeen?: number
  firstSeen?: number
  label?: string
}

/** The tracker's view of one object in the frame at `time`. */
function tracked(id: string, time: number, sighting: Sighting = {}): TrackedObject {
  const box = sighting.box ?? BOX
  const score = sighting.score ?? 0.9
  const label = sighting.label ?? 'person'
  const lastSeen = sighting.lastSeen ?? time
  return {
    id,
    label,
    box: { ...box },
    score,
    topScore: score,
    scores: [score],
    hits: 5,
    state: lastSeen === time ? 'confirmed' : 'lost',
    stationary: sighting.stationary ?? false,
    firstSeen: sighting.firstSeen ?? T0,
    lastSeen,
    lastDetection: { box: { ...box }, score, classId: 0, label },
  }
}

function zones(id: string, enteredZones: string[], loitering = false): Map<string, ObjectZones> {
  return new Map([[id, { currentZones: enteredZones.slice(-1), enteredZones, loitering }]])
}

/** Two frames at 0.9 from T0: the second passes the threshold. Returns the events and the `new`. */
function startedEvent(
  id = 'a',
  updateEveryMs?: number,
): { events: ObjectEvents; created: ObjectEventChange } {
  const events = objectEvents(updateEveryMs)
  expect(events.step(T0, [tracked(id, T0)], NO_ZONES, [])).toEqual([])
  const [created] = events.step(T0 + FRAME_MS, [tracked(id, T0 + FRAME_MS)], NO_ZONES, [])
  expect(created?.kind).toBe('new')
  return { events, created: created! }
}

describe('touchesFrameEdge', () => {
  it('takes a box within a couple of pixels of any edge as cut off', () => {
    expect(touchesFrameEdge(BOX, FRAME)).toBe(false)
    expect(touchesFrameEdge({ ...BOX, x1: 0.7 }, FRAME)).toBe(true)
    expect(touchesFrameEdge({ ...BOX, y1: 2 }, FRAME)).toBe(true)
    expect(touchesFrameEdge({ ...BOX, x2: W - 1.5 }, FRAME)).toBe(true)
    expect(touchesFrameEdge({ ...BOX, y2: H }, FRAME)).toBe(true)
    expect(touchesFrameEdge({ x1: 3, y1: 3, x2: W - 3, y2: H - 3 }, FRAME)).toBe(false)
  })
})

describe('isBetterSnapshot', () => {
  const whole = { box: BOX, score: 0.8 }
  const bigCutOff = { box: { x1: 0, y1: 100, x2: 400, y2: 700 }, score: 0.95 }

  it('prefers a whole object to a cut-off one, whatever the score and size', () => {
    expect(isBetterSnapshot(whole, bigCutOff, FRAME)).toBe(true)
    expect(isBetterSnapshot(bigCutOff, whole, FRAME)).toBe(false)
  })

  it('takes a score higher by more than 5 points, and never a clearly lower one', () => {
    expect(isBetterSnapshot({ box: BOX, score: 0.86 }, whole, FRAME)).toBe(true)
    expect(isBetterSnapshot({ box: BOX, score: 0.84 }, whole, FRAME)).toBe(false)
    const twiceTheSize = { x1: 400, y1: 200, x2: 560, y2: 440 }
    expect(isBetterSnapshot({ box: twiceTheSize, score: 0.7 }, whole, FRAME)).toBe(false)
  })

  it('at about the same score takes an area at least 10% larger', () => {
    expect(isBetterSnapshot({ box: { ...BOX, x2: 490 }, score: 0.78 }, whole, FRAME)).toBe(true) // +12.5%
    expect(isBetterSnapshot({ box: { ...BOX, x2: 485 }, score: 0.82 }, whole, FRAME)).toBe(false) // +6%
    expect(isBetterSnapshot(whole, whole, FRAME)).toBe(false)
  })
})

describe('ObjectEvents', () => {
  it('makes no event for an object under the threshold, and ends it silently', () => {
    const events = objectEvents()
    for (let i = 0; i < 20; i++) {
      const time = T0 + i * FRAME_MS
      expect(events.step(time, [tracked('a', time, { score: 0.6 })], NO_ZONES, [])).toEqual([])
    }
    const end = T0 + 20 * FRAME_MS
    expect(events.step(end, [], NO_ZONES, [tracked('a', end, { score: 0.6, lastSeen: end - 1000 })])).toEqual(
      [],
    )
    expect(events.snapshotSaved('a')).toBeUndefined()
  })

  it('counts frames the object was not detected in as 0, so a track coasting on one sighting stays silent', () => {
    const events = objectEvents()
    for (let i = 0; i < 10; i++) {
      const time = T0 + i * FRAME_MS
      expect(events.step(time, [tracked('a', time, { lastSeen: T0 })], NO_ZONES, [])).toEqual([])
    }
  })

  it('creates one event once the object passes, starting when it was first seen', () => {
    const events = objectEvents()
    // Two weak frames, then strong ones: the median reaches 0.7 on the fourth frame (0.6 0.6 0.9 0.9).
    const scores = [0.6, 0.6, 0.9, 0.9, 0.9, 0.9]
    const changes = scores.flatMap((score, i) => {
      const time = T0 + i * FRAME_MS
      return events.step(time, [tracked('a', time, { score })], NO_ZONES, [])
    })
    expect(changes).toHaveLength(1)
    expect(changes[0]).toMatchObject({
      kind: 'new',
      type: 'object',
      id: 'a',
      reason: ['threshold', 'snapshot'],
      snapshot: { box: BOX },
      data: {
        label: 'person',
        score: 0.75,
        startTime: T0,
        endTime: null,
        zones: [],
        stationary: false,
        loitering: false,
        hasSnapshot: false,
      },
    })
  })

  it('reports the snapshot box relative to the frame, clamped to 0..1', () => {
    const { created } = startedEvent()
    expect(created.data.box).toEqual([400 / W, 200 / H, 480 / W, 440 / H])

    const events = objectEvents()
    const overhanging = { x1: -10, y1: 180, x2: 640, y2: 730 }
    events.step(T0, [tracked('b', T0, { box: overhanging })], NO_ZONES, [])
    const [change] = events.step(
      T0 + FRAME_MS,
      [tracked('b', T0 + FRAME_MS, { box: overhanging })],
      NO_ZONES,
      [],
    )
    expect(change?.data.box).toEqual([0, 0.25, 0.5, 1])
  })

  it('updates on entering a zone, with the zones in the order entered', () => {
    const { events } = startedEvent()
    let time = T0 + 2 * FRAME_MS
    expect(events.step(time, [tracked('a', time)], zones('a', ['driveway']), [])).toMatchObject([
      { kind: 'update', reason: ['zone'], data: { zones: ['driveway'] } },
    ])
    time += FRAME_MS
    // Still in the driveway, zone state repeated or not reported: nothing new.
    expect(events.step(time, [tracked('a', time)], zones('a', ['driveway']), [])).toEqual([])
    time += FRAME_MS
    expect(events.step(time, [tracked('a', time)], NO_ZONES, [])).toEqual([])
    time += FRAME_MS
    expect(events.step(time, [tracked('a', time)], zones('a', ['driveway', 'porch']), [])).toMatchObject([
      { kind: 'update', reason: ['zone'], data: { zones: ['driveway', 'porch'] } },
    ])
  })

  it('carries zones entered before the threshold in the new event', () => {
    const events = objectEvents()
    events.step(T0, [tracked('a', T0)], zones('a', ['driveway']), [])
    const [created] = events.step(T0 + FRAME_MS, [tracked('a', T0 + FRAME_MS)], NO_ZONES, [])
    expect(created).toMatchObject({ kind: 'new', data: { zones: ['driveway'] } })
  })

  it('updates when the object turns stationary, and again when it moves', () => {
    const { events } = startedEvent()
    const reasons = [false, true, true, false, false].flatMap((stationary, i) => {
      const time = T0 + (2 + i) * FRAME_MS
      return events.step(time, [tracked('a', time, { stationary })], NO_ZONES, [])
    })
    expect(reasons).toMatchObject([
      { kind: 'update', reason: ['stationary'], data: { stationary: true } },
      { kind: 'update', reason: ['active'], data: { stationary: false } },
    ])
  })

  it('updates when loitering starts, and when it stops', () => {
    const { events } = startedEvent()
    let time = T0 + 2 * FRAME_MS
    events.step(time, [tracked('a', time)], zones('a', ['porch']), [])
    time += FRAME_MS
    expect(events.step(time, [tracked('a', time)], zones('a', ['porch'], true), [])).toMatchObject([
      { kind: 'update', reason: ['loitering'], data: { loitering: true, zones: ['porch'] } },
    ])
    time += FRAME_MS
    expect(events.step(time, [tracked('a', time)], zones('a', ['porch'], true), [])).toEqual([])
    time += FRAME_MS
    expect(events.step(time, [tracked('a', time)], zones('a', ['porch'], false), [])).toMatchObject([
      { kind: 'update', reason: ['loitering-ended'], data: { loitering: false } },
    ])
  })

  it('asks for a better snapshot (higher score, not at the edge) and ignores a worse one', () => {
    const { events } = startedEvent()
    const better = { x1: 600, y1: 300, x2: 680, y2: 540 }
    let time = T0 + 2 * FRAME_MS
    expect(events.step(time, [tracked('a', time, { box: better, score: 0.97 })], NO_ZONES, [])).toEqual([
      expect.objectContaining({
        kind: 'update',
        reason: ['snapshot'],
        snapshot: { box: better },
        data: expect.objectContaining({ box: [600 / W, 300 / H, 680 / W, 540 / H] }),
      }),
    ])
    time += FRAME_MS
    expect(events.step(time, [tracked('a', time, { score: 0.8 })], NO_ZONES, [])).toEqual([])
    // A frame the object was only predicted in never becomes the snapshot.
    time += FRAME_MS
    expect(
      events.step(time, [tracked('a', time, { score: 0.99, lastSeen: time - FRAME_MS })], NO_ZONES, []),
    ).toEqual([])
  })

  it('replaces a snapshot touching the edge with a smaller whole one, and not the other way', () => {
    const events = objectEvents()
    const cutOff = { x1: 0, y1: 100, x2: 400, y2: 700 }
    events.step(T0, [tracked('a', T0, { box: cutOff, score: 0.95 })], NO_ZONES, [])
    const [created] = events.step(
      T0 + FRAME_MS,
      [tracked('a', T0 + FRAME_MS, { box: cutOff, score: 0.95 })],
      NO_ZONES,
      [],
    )
    expect(created?.snapshot).toEqual({ box: cutOff })

    let time = T0 + 2 * FRAME_MS
    expect(events.step(time, [tracked('a', time, { score: 0.8 })], NO_ZONES, [])).toMatchObject([
      { reason: ['snapshot'], snapshot: { box: BOX } },
    ])
    time += FRAME_MS
    expect(events.step(time, [tracked('a', time, { box: cutOff, score: 0.99 })], NO_ZONES, [])).toEqual([])
  })

  it('sends a heartbeat after every quiet 60 s of frame time, not more often', () => {
    const { events } = startedEvent()
    const started = T0 + FRAME_MS
    const heartbeats: number[] = []
    for (let time = started + FRAME_MS; time <= started + 130_000; time += FRAME_MS) {
      for (const change of events.step(time, [tracked('a', time)], NO_ZONES, [])) {
        expect(change).toMatchObject({ kind: 'update', reason: ['heartbeat'], data: { endTime: null } })
        heartbeats.push(time - started)
      }
    }
    expect(heartbeats).toEqual([60_000, 120_000])
  })

  it('counts the heartbeat from the latest change, so a busy event gets none', () => {
    const { events } = startedEvent()
    const started = T0 + FRAME_MS
    const entered = started + 50_000
    const reasons: string[][] = []
    for (let time = started + FRAME_MS; time <= started + 115_000; time += FRAME_MS) {
      const entry = time >= entered ? zones('a', ['driveway']) : NO_ZONES
      for (const change of events.step(time, [tracked('a', time)], entry, [])) reasons.push(change.reason)
    }
    expect(reasons).toEqual([['zone'], ['heartbeat']]) // at 50 s, then 110 s
  })

  it('ends the event when the track ends, at the last detection', () => {
    const { events } = startedEvent()
    const lastSeen = T0 + 2 * FRAME_MS
    events.step(lastSeen, [tracked('a', lastSeen)], NO_ZONES, [])
    // Unseen for the tracker's 5 s, then removed.
    for (let time = lastSeen + FRAME_MS; time < lastSeen + 5000; time += FRAME_MS) {
      expect(events.step(time, [tracked('a', time, { lastSeen })], NO_ZONES, [])).toEqual([])
    }
    const removed = lastSeen + 5000
    const changes = events.step(removed, [], NO_ZONES, [tracked('a', removed, { lastSeen })])
    expect(changes).toMatchObject([
      { kind: 'end', id: 'a', reason: ['track-ended'], data: { startTime: T0, endTime: lastSeen } },
    ])
    expect(changes[0]?.snapshot).toBeUndefined()
    // Forgotten: reported once, and the id is no longer known.
    expect(events.step(removed + FRAME_MS, [], NO_ZONES, [tracked('a', removed, { lastSeen })])).toEqual([])
    expect(events.snapshotSaved('a')).toBeUndefined()
  })

  it('keeps the same id from new to end', () => {
    const { events, created } = startedEvent('track-7')
    const time = T0 + 2 * FRAME_MS
    const [end] = events.step(time, [], NO_ZONES, [tracked('track-7', time)])
    expect([created.id, end?.id]).toEqual(['track-7', 'track-7'])
  })

  it('sets hasSnapshot once the caller confirms the saved JPEG, with one update', () => {
    const { events, created } = startedEvent()
    expect(created.data.hasSnapshot).toBe(false)
    expect(events.snapshotSaved('a')).toMatchObject({
      kind: 'update',
      id: 'a',
      reason: ['snapshot-saved'],
      data: { hasSnapshot: true },
    })
    expect(events.snapshotSaved('a')).toBeUndefined()
    const time = T0 + 2 * FRAME_MS
    expect(events.step(time, [], NO_ZONES, [tracked('a', time)])).toMatchObject([
      { kind: 'end', data: { hasSnapshot: true } },
    ])
  })

  it('keeps two objects independent', () => {
    const events = objectEvents()
    const all: ObjectEventChange[] = []
    const carBox = { x1: 100, y1: 400, x2: 400, y2: 600 }
    for (let i = 0; i < 5; i++) {
      const time = T0 + i * FRAME_MS
      const car = tracked('car', time, { label: 'car', score: 0.95, box: carBox })
      const person = tracked('person', time, { score: 0.5 })
      all.push(...events.step(time, [car, person], zones('person', ['porch'], true), []))
    }
    expect(all.map((change) => [change.kind, change.id])).toEqual([['new', 'car']])
    expect(all[0]?.data).toMatchObject({ label: 'car', zones: [], loitering: false })

    const time = T0 + 5 * FRAME_MS
    const car = tracked('car', time, { label: 'car', score: 0.95, box: carBox, stationary: true })
    // The person ends silently; the car's event goes on untouched by the person's zones.
    const changes = events.step(time, [car], NO_ZONES, [tracked('person', time, { score: 0.5 })])
    expect(changes).toMatchObject([
      { kind: 'update', id: 'car', reason: ['stationary'], data: { zones: [] } },
    ])
  })

  it('refuses a frame size or heartbeat that cannot work', () => {
    expect(() => new ObjectEvents({ width: 0, height: H, filter })).toThrow(RangeError)
    expect(() => new ObjectEvents({ width: W, height: H, filter, updateEveryMs: 0 })).toThrow(RangeError)
  })
})
