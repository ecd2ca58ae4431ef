import { describe, expect, it } from 'vitest'
import type { Alarm } from '../../api/alarm-types.ts'
import { describeAlarm, describeWhere, priorityText, seconds } from './alarm-text.ts'

const text = (kind: Alarm['kind'], details: Record<string, unknown> = {}) => describeAlarm({ kind, details })

describe('alarm text', () => {
  it('describes each kind in plain words with what its condition saw', () => {
    expect(text('camera.offline', { error: 'connection refused' })).toBe('Camera offline: connection refused')
    expect(text('camera.offline', { streams: [] })).toBe('Camera offline')
    expect(text('disk.full', { usedPercent: 98, reason: 'disk' })).toBe('Disk 98 % full')
    expect(text('disk.full', { usedPercent: 40, lockedPercent: 95.04, reason: 'evidence locks' })).toBe(
      'Evidence locks hold 95 % of the recording quota',
    )
    expect(text('clock.drift', { offsetMs: 10_200 })).toBe('Clock 10.2 s ahead')
    expect(text('clock.drift', { offsetMs: -3_000 })).toBe('Clock 3 s behind')
    expect(text('object.zone', { label: 'person', zone: 'stockroom' })).toBe('person in stockroom')
    expect(text('object.zone', { label: 'car', zone: 'gate', loitering: true })).toBe(
      'car in gate, loitering',
    )
    expect(text('license.expiring', { daysLeft: 5 })).toBe('License expires in 5 days')
    expect(text('license.expiring', { daysLeft: 1 })).toBe('License expires in 1 day')
    expect(text('license.expiring', { daysLeft: 0 })).toBe('License expired')
    expect(text('recording.gap', { lastGapMs: 12_000, gaps: 3 })).toBe('Recording gap of 12 s (3 gaps)')
    expect(text('recording.gap', { lastGapMs: 90_000, gaps: 1 })).toBe('Recording gap of 1 min 30 s')
    expect(text('retention.short', { keptDays: 3.46, retentionDays: 30 })).toBe(
      'Recordings kept 3.5 days of 30 wanted',
    )
    expect(text('outbox.backlog', { oldestAgeSeconds: 360, depth: 1200 })).toBe(
      'Outbox backlog: oldest record 6 min old (1200 records waiting)',
    )
    expect(text('agent.offline', { lastSeenAt: '2026-11-29T10:00:00Z' })).toBe('Agent offline')
    expect(text('recording.stopped')).toBe('Recording stopped: the camera streams but nothing is written')
  })

  it('never fails on details of an unexpected shape', () => {
    expect(text('disk.full', { usedPercent: 'lots' })).toBe('Disk full')
    expect(text('clock.drift', { offsetMs: null })).toBe('Clock drift')
    expect(text('object.zone', { label: 42 })).toBe('object')
    expect(describeAlarm({ kind: 'camera.offline', details: undefined as never })).toBe('Camera offline')
  })

  it('says where: site and camera, or site and agent, or the tenant', () => {
    const base = {
      siteName: null,
      cameraName: null,
      agentName: null,
      cameraId: null,
      agentId: null,
      details: {},
    }
    expect(describeWhere({ ...base, siteName: 'North', cameraName: 'Door', agentName: 'pc' })).toBe(
      'North / Door',
    )
    expect(describeWhere({ ...base, siteName: 'North', agentName: 'pc' })).toBe('North / pc')
    expect(describeWhere({ ...base, details: { cameraName: 'Gone camera' } })).toBe('Gone camera')
    expect(describeWhere(base)).toBe('Tenant')
  })

  it('names priorities and durations', () => {
    expect(priorityText(1)).toEqual({ short: 'P1', label: 'Priority 1 (highest)' })
    expect(priorityText(3).label).toBe('Priority 3 (lowest)')
    expect(seconds(45)).toBe('45 s')
    expect(seconds(7500)).toBe('2 h 5 min')
    expect(seconds(3 * 86_400)).toBe('3 d')
  })
})
