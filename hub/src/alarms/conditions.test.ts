import { describe, expect, it } from 'vitest'
import type { AlarmRule } from './alarm-rule.ts'
import {
  type AgentHealth,
  evaluateRule,
  type Fleet,
  type FleetAgent,
  type FleetCamera,
} from './conditions.ts'

const T = 'tenant-1'
const NOW = Date.parse('2026-11-30T12:00:00Z')
const iso = (ms: number) => new Date(ms).toISOString()

const streaming = {
  role: 'main' as const,
  state: 'streaming' as const,
  bitrateBps: 1,
  fps: 1,
  lostPackets: 0,
  reconnects: 0,
  recording: true,
}

function agent(over: Partial<FleetAgent> = {}, health: AgentHealth = {}): FleetAgent {
  return {
    id: 'a1',
    tenantId: T,
    siteId: 's1',
    name: 'north-pc',
    online: true,
    lastSeenAt: NOW - 1000,
    health: { at: iso(NOW - 1000), cameras: [{ id: 'c1', streams: [streaming] }], ...health },
    clockOffsetMs: 0,
    clockMeasuredAt: NOW - 1000,
    ...over,
  }
}
const cam = (over: Partial<FleetCamera> = {}): FleetCamera => ({
  id: 'c1',
  tenantId: T,
  siteId: 's1',
  agentId: 'a1',
  name: 'Door',
  recording: { enabled: true, retentionDays: 30 },
  ...over,
})
const fleet = (agents: FleetAgent[], cameras: FleetCamera[] = [cam()], license?: number): Fleet => ({
  agents: new Map(agents.map((a) => [a.id, a])),
  cameras,
  licenseExpiry: new Map(license === undefined ? [] : [[T, license]]),
  siteTimeZones: new Map(),
})
const rule = (
  kind: AlarmRule['kind'],
  params: Record<string, unknown> = {},
  scope: AlarmRule['scope'] = { type: 'tenant' },
): AlarmRule => ({
  id: 'r1',
  tenantId: T,
  name: kind,
  kind,
  scope,
  params,
  priority: 2,
  channels: [],
  enabled: true,
})
const none = new Map()

describe('alarm conditions', () => {
  it('camera.offline: holds for a camera not streaming, unknown behind an agent that is away or silent', () => {
    const down = agent(
      {},
      { cameras: [{ id: 'c1', streams: [{ ...streaming, state: 'backoff', error: 'refused' }] }] },
    )
    const e = evaluateRule(rule('camera.offline'), fleet([down]), none, NOW)
    expect(e.holding).toMatchObject([
      { target: 'camera:c1', holdMs: 60_000, details: { error: 'refused', cameraName: 'Door' } },
    ])
    expect(evaluateRule(rule('camera.offline'), fleet([agent()]), none, NOW)).toMatchObject({
      holding: [],
      known: new Set(['camera:c1']),
    })
    // The agent away, or its last report 10 minutes old: the hub cannot tell.
    expect(
      evaluateRule(rule('camera.offline'), fleet([{ ...down, online: false }]), none, NOW).known.size,
    ).toBe(0)
    const stale = agent({}, { at: iso(NOW - 600_000), cameras: down.health?.cameras ?? [] })
    expect(evaluateRule(rule('camera.offline'), fleet([stale]), none, NOW).known.size).toBe(0)
    // Out of scope.
    expect(
      evaluateRule(rule('camera.offline', {}, { type: 'site', id: 's2' }), fleet([down]), none, NOW).known
        .size,
    ).toBe(0)
  })

  it('recording.stopped: streaming with nothing written for its seconds; not for a camera not recording by choice', () => {
    const stale = agent(
      {},
      { cameras: [{ id: 'c1', streams: [{ ...streaming, lastWrittenAt: iso(NOW - 120_000) }] }] },
    )
    expect(evaluateRule(rule('recording.stopped'), fleet([stale]), none, NOW).holding).toHaveLength(1)
    const writing = agent(
      {},
      { cameras: [{ id: 'c1', streams: [{ ...streaming, lastWrittenAt: iso(NOW - 2000) }] }] },
    )
    expect(evaluateRule(rule('recording.stopped'), fleet([writing]), none, NOW).holding).toHaveLength(0)
    const off = agent({}, { cameras: [{ id: 'c1', streams: [{ ...streaming, recording: false }] }] })
    expect(evaluateRule(rule('recording.stopped'), fleet([off]), none, NOW).holding).toHaveLength(1)
    expect(
      evaluateRule(
        rule('recording.stopped'),
        fleet([off], [cam({ recording: { enabled: false, retentionDays: 30 } })]),
        none,
        NOW,
      ).holding,
    ).toHaveLength(0)
  })

  it('disk.full, outbox.backlog, clock.drift judge the agent; agent.offline holds from when it was last seen', () => {
    const full = agent({}, { disk: { freeBytes: 50, totalBytes: 1000 } })
    expect(evaluateRule(rule('disk.full'), fleet([full]), none, NOW).holding[0]?.details).toMatchObject({
      usedPercent: 95,
    })
    expect(evaluateRule(rule('disk.full', { percent: 96 }), fleet([full]), none, NOW).holding).toHaveLength(0)
    const behind = agent({}, { outbox: { depth: 10, oldestAgeSeconds: 10 }, at: iso(NOW - 400_000) })
    expect(evaluateRule(rule('outbox.backlog'), fleet([behind]), none, NOW).holding).toHaveLength(1)
    const skewed = agent({ clockOffsetMs: -3000 })
    expect(evaluateRule(rule('clock.drift'), fleet([skewed]), none, NOW).holding[0]).toMatchObject({
      holdMs: 30_000,
      details: { offsetMs: -3000 },
    })
    expect(
      evaluateRule(rule('clock.drift'), fleet([agent({ clockOffsetMs: 1500 })]), none, NOW).holding,
    ).toHaveLength(0)
    const away = agent({ online: false, lastSeenAt: NOW - 200_000 })
    expect(evaluateRule(rule('agent.offline'), fleet([away]), none, NOW).holding[0]).toMatchObject({
      since: NOW - 200_000,
      holdMs: 120_000,
    })
    expect(
      evaluateRule(rule('agent.offline'), fleet([agent({ online: false, lastSeenAt: null })]), none, NOW)
        .known.size,
    ).toBe(0)
  })

  it('retention.short only once retention removed recordings for space', () => {
    const young = { oldestAt: iso(NOW - 3 * 86_400_000) }
    const noEviction = agent({}, { cameras: [{ id: 'c1', streams: [streaming], retention: young }] })
    expect(evaluateRule(rule('retention.short'), fleet([noEviction]), none, NOW).holding).toHaveLength(0)
    const evicted = agent(
      {},
      { cameras: [{ id: 'c1', streams: [streaming], retention: { ...young, evictedForSpaceAt: iso(NOW) } }] },
    )
    expect(
      evaluateRule(rule('retention.short'), fleet([evicted]), none, NOW).holding[0]?.details,
    ).toMatchObject({ keptDays: 3, retentionDays: 30 })
    expect(
      evaluateRule(rule('retention.short', { days: 2 }), fleet([evicted]), none, NOW).holding,
    ).toHaveLength(0)
  })

  it('license.expiring holds within its days, and after expiry', () => {
    expect(
      evaluateRule(rule('license.expiring'), fleet([], [], NOW + 20 * 86_400_000), none, NOW).holding,
    ).toHaveLength(0)
    expect(
      evaluateRule(rule('license.expiring'), fleet([], [], NOW + 3 * 86_400_000), none, NOW).holding[0]
        ?.details,
    ).toMatchObject({ daysLeft: 3 })
    expect(
      evaluateRule(rule('license.expiring'), fleet([], [], NOW - 86_400_000), none, NOW).holding,
    ).toHaveLength(1)
    expect(evaluateRule(rule('license.expiring'), fleet([], []), none, NOW)).toMatchObject({
      holding: [],
      known: new Set(['tenant:tenant-1']),
    })
  })

  it('occurrence kinds keep their alarms while they hold: gaps until quiet, zones while someone is there in the window', () => {
    const gap = new Map([
      ['camera:c1', { target: 'camera:c1', siteId: 's1', lastSeenAt: NOW - 100_000, details: {} }],
    ])
    expect(evaluateRule(rule('recording.gap'), fleet([]), gap, NOW).holding).toHaveLength(1)
    expect(
      evaluateRule(rule('recording.gap', { quietSeconds: 60 }), fleet([]), gap, NOW).holding,
    ).toHaveLength(0)
    const zone = (activeObjects: string[]) =>
      new Map([
        ['camera:c1', { target: 'camera:c1', siteId: 's1', lastSeenAt: NOW, details: { activeObjects } }],
      ])
    const night = rule('object.zone', {
      label: 'person',
      zone: 'stockroom',
      schedule: [{ days: ['mon'], from: '11:00', to: '13:00' }],
    })
    expect(evaluateRule(night, fleet([]), zone(['e1']), NOW).holding).toHaveLength(1) // Monday 12:00 UTC
    expect(evaluateRule(night, fleet([]), zone([]), NOW).holding).toHaveLength(0)
    expect(evaluateRule(night, fleet([]), zone(['e1']), NOW + 2 * 3_600_000).holding).toHaveLength(0) // window over
  })
})
