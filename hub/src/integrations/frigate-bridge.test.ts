import type { ObjectEventData } from '@ts-vms/shared'
import { describe, expect, it } from 'vitest'
import { frigateCameraSlug, frigateEventPayload } from './frigate-bridge.ts'

const data = (over: Partial<ObjectEventData> = {}): ObjectEventData => ({
  eventId: '5b0f8a52-3f4e-4c1a-9a51-1f6b6b0e2d11',
  kind: 'new',
  reason: ['threshold'],
  label: 'person',
  score: 0.8125,
  startTime: '2026-11-29T10:00:00.250Z',
  endTime: null,
  zones: ['yard', 'driveway'],
  box: [0.1, 0.2, 0.35, 0.9],
  stationary: false,
  loitering: false,
  hasSnapshot: true,
  ...over,
})

const START = Date.parse('2026-11-29T10:00:00.250Z') / 1000

/** The keys of Frigate's tracked object that we send (Frigate's names, see frigate-bridge.ts). */
const KEYS = [
  'active',
  'attributes',
  'box',
  'camera',
  'current_attributes',
  'current_zones',
  'end_time',
  'entered_zones',
  'false_positive',
  'frame_time',
  'has_clip',
  'has_snapshot',
  'id',
  'label',
  'pending_loitering',
  'score',
  'start_time',
  'stationary',
  'sub_label',
  'top_score',
]

describe('frigateCameraSlug', () => {
  it('lower-cases, turns runs of other characters into one _, and trims', () => {
    expect(frigateCameraSlug('Front Door')).toBe('front_door')
    expect(frigateCameraSlug('  Gate #2 -- North  ')).toBe('gate_2_north')
    expect(frigateCameraSlug('Café Entrée')).toBe('cafe_entree')
    expect(frigateCameraSlug('__Loading_Bay__')).toBe('loading_bay')
    expect(frigateCameraSlug('already_ok_1')).toBe('already_ok_1')
  })

  it('falls back to the camera id when nothing is left, and to unknown without one', () => {
    expect(frigateCameraSlug('カメラ', '0b3c9f2e-1111-4222-8333-944445555666')).toBe('camera_0b3c9f2e')
    expect(frigateCameraSlug(undefined, 'ABCDEF12-0000-4000-8000-000000000000')).toBe('camera_abcdef12')
    expect(frigateCameraSlug('***')).toBe('unknown')
  })
})

describe('frigateEventPayload', () => {
  it('new: Frigate field names and types; before is after when nothing came before', () => {
    const m = frigateEventPayload({ kind: 'new', data: data(), camera: 'front_door', frameTime: START + 1.5 })
    expect(m.type).toBe('new')
    expect(Object.keys(m.after).sort()).toEqual(KEYS)
    expect(m.after).toEqual({
      id: '5b0f8a52-3f4e-4c1a-9a51-1f6b6b0e2d11',
      camera: 'front_door',
      frame_time: START + 1.5,
      label: 'person',
      sub_label: null,
      top_score: 0.8125,
      false_positive: false,
      start_time: START,
      end_time: null,
      score: 0.8125,
      box: [0.1, 0.2, 0.35, 0.9],
      current_zones: ['yard', 'driveway'],
      entered_zones: ['yard', 'driveway'],
      has_snapshot: true,
      has_clip: false,
      active: true,
      stationary: false,
      pending_loitering: false,
      attributes: {},
      current_attributes: [],
    })
    expect(m.before).toEqual(m.after)
    // Epoch seconds as floats, like Frigate's.
    expect(m.after.start_time).toBeCloseTo(1_795_946_400.25, 3)
    expect(JSON.parse(JSON.stringify(m))).toEqual(m)
  })

  it('update: before is the previous after of the same event', () => {
    const first = frigateEventPayload({
      kind: 'new',
      data: data(),
      camera: 'front_door',
      frameTime: START + 1,
    })
    const next = frigateEventPayload({
      kind: 'update',
      data: data({ kind: 'update', zones: ['yard', 'driveway', 'porch'], stationary: true, loitering: true }),
      camera: 'front_door',
      frameTime: START + 4,
      previous: first.after,
    })
    expect(next.type).toBe('update')
    expect(next.before).toBe(first.after)
    expect(next.after.frame_time).toBe(START + 4)
    expect(next.after.current_zones).toEqual(['yard', 'driveway', 'porch'])
    expect(next.after.stationary).toBe(true)
    expect(next.after.active).toBe(false)
    expect(next.after.pending_loitering).toBe(true)
    expect(next.after.end_time).toBeNull()
  })

  it('end: end_time set, no current zones, frame_time at the end', () => {
    const m = frigateEventPayload({
      kind: 'end',
      data: data({ kind: 'end', endTime: '2026-11-29T10:00:09.750Z' }),
      camera: 'front_door',
      frameTime: START + 30,
    })
    expect(m.type).toBe('end')
    expect(m.after.end_time).toBe(START + 9.5)
    expect(m.after.frame_time).toBe(START + 9.5)
    expect(m.after.current_zones).toEqual([])
    expect(m.after.entered_zones).toEqual(['yard', 'driveway'])
  })

  it('end without an end time still carries one (the message time)', () => {
    const m = frigateEventPayload({
      kind: 'end',
      data: data({ kind: 'end' }),
      camera: 'c',
      frameTime: START + 12,
    })
    expect(m.after.end_time).toBe(START + 12)
  })

  it('frame_time is never before start_time (clock skew between agent and hub)', () => {
    const m = frigateEventPayload({ kind: 'new', data: data(), camera: 'c', frameTime: START - 5 })
    expect(m.after.frame_time).toBe(START)
  })

  it('copies arrays: later changes to the input do not change a sent state', () => {
    const d = data()
    const m = frigateEventPayload({ kind: 'new', data: d, camera: 'c', frameTime: START })
    d.zones.push('x')
    d.box[0] = 0.5
    expect(m.after.entered_zones).toEqual(['yard', 'driveway'])
    expect(m.after.box[0]).toBe(0.1)
  })
})
