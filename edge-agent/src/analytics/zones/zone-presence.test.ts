import { describe, expect, it } from 'vitest'
import type { Box, Polygon } from '../types.ts'
import { type ZoneConfig, ZonePresence, type ZoneUpdate } from './zone-presence.ts'

const W = 1280
const H = 720
const FRAME_MS = 200 // 5 fps, Frigate's default detect rate

/** A 60×180 px box whose bottom-centre (where the object stands) is at relative (x, y). */
function standingAt(x: number, y: number): Box {
  return { x1: x * W - 30, y1: y * H - 180, x2: x * W + 30, y2: y * H }
}

function rect(left: number, top: number, right: number, bottom: number): Polygon {
  return [
    [left, top],
    [right, top],
    [right, bottom],
    [left, bottom],
  ]
}

function presence(zones: ZoneConfig[]): ZonePresence {
  return new ZonePresence(zones, { width: W, height: H })
}

/** Feeds one object along the given ground points, one frame each, starting at `t0`. */
function walk(
  zones: ZonePresence,
  id: string,
  label: string,
  points: [number, number][],
  t0 = 0,
): ZoneUpdate[] {
  return points.map(([x, y], i) => zones.update(id, label, standingAt(x, y), t0 + i * FRAME_MS))
}

describe('ZonePresence: entering and leaving', () => {
  const right = { name: 'right', polygon: rect(0.5, 0, 1, 1) }
  const farCorner = { name: 'far-corner', polygon: rect(0, 0, 0.45, 0.3) }

  it('enters a zone only after `inertia` consecutive frames inside, never one on the other side', () => {
    const zones = presence([farCorner, right])
    const updates = walk(zones, 'p1', 'person', [
      [0.2, 0.8],
      [0.35, 0.8],
      [0.55, 0.8], // inside 1
      [0.6, 0.8], // inside 2
      [0.65, 0.8], // inside 3: enters
      [0.7, 0.8],
    ])
    expect(updates.slice(0, 4).map((u) => u.currentZones)).toEqual([[], [], [], []])
    expect(updates.slice(0, 4).every((u) => !u.changed)).toBe(true)
    expect(updates[4]).toMatchObject({
      entered: ['right'],
      left: [],
      changed: true,
      currentZones: ['right'],
      enteredZones: ['right'],
    })
    expect(updates[5]).toMatchObject({ entered: [], changed: false, currentZones: ['right'] })
    expect(updates.flatMap((u) => u.entered)).not.toContain('far-corner')
  })

  it('enters at once with inertia 1', () => {
    const zones = presence([{ ...right, inertia: 1 }])
    expect(zones.update('p1', 'person', standingAt(0.6, 0.5), 0).entered).toEqual(['right'])
  })

  it('restarts the count when a frame falls outside before the inertia is reached', () => {
    const zones = presence([right])
    const updates = walk(zones, 'p1', 'person', [
      [0.6, 0.5],
      [0.6, 0.5],
      [0.4, 0.5], // one jittery box outside
      [0.6, 0.5],
      [0.6, 0.5],
      [0.6, 0.5], // third consecutive frame inside
    ])
    expect(updates.map((u) => u.entered.length)).toEqual([0, 0, 0, 0, 0, 1])
  })

  it('leaves only after `inertia` consecutive frames outside, so a blip keeps it in', () => {
    const zones = presence([right])
    walk(zones, 'p1', 'person', [
      [0.6, 0.5],
      [0.6, 0.5],
      [0.6, 0.5],
    ])
    const updates = walk(
      zones,
      'p1',
      'person',
      [
        [0.4, 0.5], // outside 1
        [0.4, 0.5], // outside 2
        [0.6, 0.5], // back: the count restarts
        [0.4, 0.5],
        [0.4, 0.5],
        [0.4, 0.5], // outside 3 in a row: leaves
      ],
      3 * FRAME_MS,
    )
    expect(updates.map((u) => u.currentZones)).toEqual([
      ['right'],
      ['right'],
      ['right'],
      ['right'],
      ['right'],
      [],
    ])
    expect(updates.map((u) => u.left)).toEqual([[], [], [], [], [], ['right']])
    expect(updates[5]).toMatchObject({ changed: true, enteredZones: ['right'] })
  })

  it('names each zone entered once, in the order first entered, across leaving and re-entering', () => {
    const zones = presence([
      { name: 'a', polygon: rect(0, 0, 0.25, 1), inertia: 1 },
      { name: 'b', polygon: rect(0.75, 0, 1, 1), inertia: 1 },
      { name: 'c', polygon: rect(0.4, 0, 0.6, 1), inertia: 1 },
    ])
    const path: [number, number][] = [
      [0.9, 0.5], // b
      [0.5, 0.5], // c
      [0.1, 0.5], // a
      [0.9, 0.5], // b again
      [0.1, 0.5], // a again
    ]
    const updates = walk(zones, 'p1', 'person', path)
    expect(updates.map((u) => u.entered)).toEqual([['b'], ['c'], ['a'], ['b'], ['a']])
    expect(updates.map((u) => u.left)).toEqual([[], ['b'], ['c'], ['a'], ['b']])
    expect(zones.zonesOf('p1')).toEqual({
      currentZones: ['a'],
      enteredZones: ['b', 'c', 'a'],
      loitering: false,
    })
  })

  it('decides by where the object stands, not by how much of its box covers the zone', () => {
    const lawn = { name: 'lawn', polygon: rect(0, 0, 1, 0.5), inertia: 1 }
    const zones = presence([lawn])
    // Head and body over the lawn, feet on the path below it.
    expect(zones.update('p1', 'person', { x1: 600, y1: 0, x2: 700, y2: 400 }, 0).currentZones).toEqual([])
  })

  it('sees an object cut off by the bottom of the frame in a zone drawn to the frame edge', () => {
    const zones = presence([{ name: 'porch', polygon: rect(0, 0.7, 1, 1), inertia: 1 }])
    expect(zones.update('p1', 'person', standingAt(0.5, 1), 0).entered).toEqual(['porch'])
  })

  it('keeps objects apart and starts afresh after forget', () => {
    const zones = presence([right])
    walk(zones, 'p1', 'person', [
      [0.6, 0.5],
      [0.6, 0.5],
      [0.6, 0.5],
    ])
    expect(zones.update('p2', 'person', standingAt(0.6, 0.5), 600).currentZones).toEqual([])
    expect(zones.zonesOf('p1')?.currentZones).toEqual(['right'])

    zones.forget('p1')
    expect(zones.zonesOf('p1')).toBeUndefined()
    const again = zones.update('p1', 'person', standingAt(0.6, 0.5), 800)
    expect(again).toMatchObject({ currentZones: [], enteredZones: [], changed: false })
  })

  it('never enters on a hostile box', () => {
    const zones = presence([{ ...right, inertia: 1 }])
    const nan = { x1: Number.NaN, y1: Number.NaN, x2: Number.NaN, y2: Number.NaN }
    expect(zones.update('p1', 'person', nan, 0).currentZones).toEqual([])
  })
})

describe('ZonePresence: labels', () => {
  it('a zone for cars ignores a person and sees a car', () => {
    const zones = presence([
      { name: 'driveway', polygon: rect(0.5, 0.5, 1, 1), objects: ['car'] },
      { name: 'yard', polygon: rect(0.5, 0.5, 1, 1) },
    ])
    const parked: [number, number][] = Array.from({ length: 10 }, () => [0.7, 0.8])
    const person = walk(zones, 'p1', 'person', parked)
    const car = walk(zones, 'c1', 'car', parked)
    expect(person.flatMap((u) => u.entered)).toEqual(['yard'])
    expect(person.at(-1)?.currentZones).toEqual(['yard'])
    expect(car.flatMap((u) => u.entered)).toEqual(['driveway', 'yard'])
    expect(car.at(-1)?.currentZones).toEqual(['driveway', 'yard'])
  })
})

describe('ZonePresence: loitering', () => {
  const bench = { name: 'bench', polygon: rect(0.5, 0.5, 1, 1), loiterSeconds: 10 }

  /** Stands the object in the bench zone once a second from `from` to `to` seconds. */
  function standStill(zones: ZonePresence, from: number, to: number): ZoneUpdate[] {
    const updates: ZoneUpdate[] = []
    for (let s = from; s <= to; s++)
      updates.push(zones.update('p1', 'person', standingAt(0.7, 0.8), s * 1000))
    return updates
  }

  it('starts after loiterSeconds in the zone by frame time, not before, and is reported once', () => {
    const zones = presence([bench])
    const updates = standStill(zones, 0, 12)
    expect(updates[2]?.entered).toEqual(['bench']) // inertia 3 at 1 fps
    // The clock runs from the first frame it stood there (t = 0), inertia only confirmed it.
    expect(updates.slice(0, 10).some((u) => u.loitering)).toBe(false)
    expect(updates[10]).toMatchObject({ loitering: true, loiteringStarted: ['bench'], changed: true })
    expect(updates[11]).toMatchObject({ loitering: true, loiteringStarted: [], changed: false })
  })

  it('ends when the object leaves, and the clock restarts when it comes back', () => {
    const zones = presence([bench])
    standStill(zones, 0, 10)
    for (const s of [11, 12, 13]) zones.update('p1', 'person', standingAt(0.2, 0.8), s * 1000)
    expect(zones.zonesOf('p1')).toMatchObject({ currentZones: [], loitering: false })
    const back = standStill(zones, 20, 30)
    expect(back[2]?.entered).toEqual(['bench'])
    expect(back.slice(0, 10).some((u) => u.loitering)).toBe(false)
    expect(back[10]?.loiteringStarted).toEqual(['bench'])
  })

  it('a blip outside does not restart the clock', () => {
    const zones = presence([bench])
    standStill(zones, 0, 5)
    zones.update('p1', 'person', standingAt(0.2, 0.8), 6000)
    const rest = standStill(zones, 7, 10)
    expect(rest.at(-1)?.loiteringStarted).toEqual(['bench'])
  })

  it('never loiters when loiterSeconds is 0', () => {
    const zones = presence([{ ...bench, loiterSeconds: 0 }])
    const updates = standStill(zones, 0, 3600)
    expect(updates.some((u) => u.loitering || u.loiteringStarted.length > 0)).toBe(false)
    expect(updates.at(-1)?.currentZones).toEqual(['bench'])
  })

  it('never loiters on a broken frame time', () => {
    const zones = presence([{ ...bench, inertia: 1 }])
    for (let i = 0; i < 5; i++) zones.update('p1', 'person', standingAt(0.7, 0.8), Number.NaN)
    expect(zones.zonesOf('p1')).toMatchObject({ currentZones: ['bench'], loitering: false })
  })
})

describe('ZonePresence: configuration', () => {
  const ok = { name: 'z', polygon: rect(0.5, 0.5, 1, 1) }

  it('rejects zones that cannot be evaluated', () => {
    const bowTie: Polygon = [
      [0, 0],
      [1, 1],
      [1, 0],
      [0, 1],
    ]
    expect(() => presence([{ ...ok, inertia: 0 }])).toThrow(RangeError)
    expect(() => presence([{ ...ok, inertia: 1.5 }])).toThrow(RangeError)
    expect(() => presence([{ ...ok, inertia: Number.NaN }])).toThrow(RangeError)
    expect(() => presence([{ ...ok, loiterSeconds: -1 }])).toThrow(RangeError)
    expect(() => presence([{ ...ok, loiterSeconds: Number.POSITIVE_INFINITY }])).toThrow(RangeError)
    expect(() => presence([{ ...ok, polygon: bowTie }])).toThrow(/crosses itself/)
    expect(() => presence([{ ...ok, name: '' }])).toThrow(RangeError)
    expect(() => presence([{ ...ok, objects: [] }])).toThrow(RangeError)
    expect(() => presence([ok, { ...ok }])).toThrow(/unique/)
    expect(() => new ZonePresence([ok], { width: 0, height: H })).toThrow(RangeError)
  })
})
