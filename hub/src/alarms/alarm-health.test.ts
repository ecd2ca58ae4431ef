import { healthBody } from '@ts-vms/shared'
import { describe, expect, it } from 'vitest'
import { alarmHealth } from './alarm-health.ts'
import { ALARM_KINDS, type AlarmRule } from './alarm-rule.ts'
import { type AgentHealth, evaluateRule, type Fleet } from './conditions.ts'

const NOW = Date.parse('2026-11-30T12:00:00Z')
const iso = (ms: number) => new Date(ms).toISOString()

/** Heartbeats that make each health-reading kind hold for some camera or agent, and not for others. */
function body(variant: number) {
  const stream = (state: string, over: Record<string, unknown> = {}) => ({
    role: 'main',
    state,
    codec: 'h264',
    bitrateBps: 4_000_000,
    fps: 25,
    lostPackets: 3,
    reconnects: 1,
    recording: true,
    lastWrittenAt: iso(NOW - 5000),
    ...over,
  })
  return healthBody.parse({
    uptimeSeconds: 100,
    version: '1.0.0',
    hostname: 'pc',
    disk: { freeBytes: variant === 0 ? 10 : 900, totalBytes: 1000 },
    outbox: { depth: 5, bytes: 10, full: false, oldestAgeSeconds: variant === 1 ? 900 : 1 },
    configVersion: 1,
    recording: { bytes: 10, quotaBytes: 100, lockedBytes: variant === 2 ? 95 : 1, locks: 1 },
    cameras: [
      {
        id: '00000000-0000-4000-8000-000000000001',
        streams: [stream('backoff', { error: 'refused' }), stream('idle', { role: 'sub' })],
        probe: { reachable: false, latencyMs: null, at: iso(NOW), error: 'no route' },
        analytics: { state: 'running', fps: 5, inferenceMsP50: 3, skippedByMotion: 0.5 },
        live: { connections: 1, stream: 'sub', transcoded: false },
      },
      {
        id: '00000000-0000-4000-8000-000000000002',
        streams: [stream('streaming', { lastWrittenAt: iso(NOW - 600_000) })],
        retention: { oldestAt: iso(NOW - 2 * 86_400_000), evictedForSpaceAt: iso(NOW - 3600_000) },
      },
      { id: '00000000-0000-4000-8000-000000000003', streams: [stream('streaming')] },
    ],
  })
}

function fleetWith(health: AgentHealth): Fleet {
  return {
    agents: new Map([
      [
        'a1',
        {
          id: 'a1',
          tenantId: 't',
          siteId: 's',
          name: 'pc',
          online: true,
          lastSeenAt: NOW,
          health,
          clockOffsetMs: 0,
          clockMeasuredAt: NOW,
        },
      ],
    ]),
    cameras: [1, 2, 3].map((n) => ({
      id: `00000000-0000-4000-8000-00000000000${n}`,
      tenantId: 't',
      siteId: 's',
      agentId: 'a1',
      name: `cam ${n}`,
      recording: { enabled: true, retentionDays: 30 },
    })),
    licenseExpiry: new Map(),
    siteTimeZones: new Map(),
  }
}

const rule = (kind: AlarmRule['kind']): AlarmRule => ({
  id: 'r',
  tenantId: 't',
  name: kind,
  kind,
  scope: { type: 'tenant' },
  params: kind === 'object.zone' ? { label: 'person', zone: 'door' } : {},
  priority: 2,
  channels: [],
  enabled: true,
})

describe('alarmHealth', () => {
  it('every alarm kind evaluates the same on the alarm part as on the whole heartbeat', () => {
    for (const variant of [0, 1, 2]) {
      const b = body(variant)
      const at = iso(NOW - 2000)
      const whole = fleetWith({ ...b, at } as AgentHealth)
      const part = fleetWith(alarmHealth(b, at))
      for (const kind of ALARM_KINDS) {
        const onWhole = evaluateRule(rule(kind), whole, new Map(), NOW)
        const onPart = evaluateRule(rule(kind), part, new Map(), NOW)
        expect(onPart, `${kind}, variant ${variant}`).toEqual(onWhole)
      }
    }
  })

  it('the kinds that read health hold here (the comparison above is not vacuous)', () => {
    const part = fleetWith(alarmHealth(body(0), iso(NOW - 2000)))
    for (const kind of ['camera.offline', 'recording.stopped', 'retention.short', 'disk.full'] as const)
      expect(evaluateRule(rule(kind), part, new Map(), NOW).holding.length, kind).toBeGreaterThan(0)
  })

  it('keeps far less than the whole heartbeat', () => {
    const b = body(0)
    const whole = JSON.stringify({ ...b, at: iso(NOW) }).length
    expect(JSON.stringify(alarmHealth(b, iso(NOW))).length).toBeLessThan(whole * 0.6)
  })
})
