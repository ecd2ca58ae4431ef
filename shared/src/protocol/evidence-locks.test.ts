import { describe, expect, it } from 'vitest'
import { agentConfig, decode, downConfig, healthBody, MAX_AGENT_EVIDENCE_LOCKS } from './messages.ts'

/** Evidence locks in the protocol: optional both ways, so older agents and hubs interoperate. */
const lock = {
  id: '2f1c4a8e-2b7a-4c33-9d2e-9d5f0a7b1c11',
  cameraIds: ['11111111-1111-4111-8111-111111111111'],
  from: '2026-11-28T10:00:00.000Z',
  to: '2026-11-28T11:00:00.000Z',
  until: '2026-12-28T11:00:00.000Z',
}

describe('evidence locks in the protocol', () => {
  it('a configuration without locks reads as before (no field added)', () => {
    expect(agentConfig.parse({})).toEqual({ heartbeatSeconds: 10, cameras: [], models: [] })
  })

  it('carries locks, bounded, with ISO times and UUIDs', () => {
    const message = { v: 1, version: 3, config: { evidenceLocks: [lock] } }
    const decoded = decode(downConfig, Buffer.from(JSON.stringify(message)))
    expect(decoded.ok && decoded.value.config.evidenceLocks).toEqual([lock])
    const bad = [
      { ...lock, cameraIds: [] },
      { ...lock, cameraIds: Array(65).fill(lock.cameraIds[0]) },
      { ...lock, id: 'x' },
      { ...lock, until: 'tomorrow' },
    ]
    for (const l of bad) expect(agentConfig.safeParse({ evidenceLocks: [l] }).success).toBe(false)
    expect(
      agentConfig.safeParse({ evidenceLocks: Array(MAX_AGENT_EVIDENCE_LOCKS + 1).fill(lock) }).success,
    ).toBe(false)
  })

  it('health may report locked bytes and the number of locks (older agents do not)', () => {
    const base = {
      uptimeSeconds: 1,
      version: '0.1.0',
      outbox: { depth: 0, bytes: 0, full: false },
      configVersion: 1,
    }
    expect(healthBody.safeParse({ ...base, recording: { bytes: 10, quotaBytes: null } }).success).toBe(true)
    const withLocks = healthBody.parse({
      ...base,
      recording: { bytes: 10, quotaBytes: 20, lockedBytes: 5, locks: 2 },
    })
    expect(withLocks.recording).toEqual({ bytes: 10, quotaBytes: 20, lockedBytes: 5, locks: 2 })
    expect(
      healthBody.safeParse({ ...base, recording: { bytes: 10, quotaBytes: 20, lockedBytes: -1 } }).success,
    ).toBe(false)
  })
})
