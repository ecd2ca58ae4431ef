import type { healthBody } from '@ts-vms/shared'
import type { z } from 'zod'
import type { AgentHealth } from './conditions.ts'

type HealthBody = z.infer<typeof healthBody>

/**
 * The part of a heartbeat the alarm conditions read (conditions.ts), stored beside the whole one
 * (`agents.alarm_health`) when it is committed: an alarm pass over 1,000 agents of 16 cameras then
 * reads a few hundred bytes per agent, not every camera's bitrates, analytics, live and device
 * reports. Whatever conditions.ts starts reading must be kept here too (alarm-health.test.ts
 * evaluates every kind on both and compares).
 */
export function alarmHealth(body: HealthBody, at: string): AgentHealth {
  return {
    at,
    ...(body.disk ? { disk: body.disk } : {}),
    outbox: {
      depth: body.outbox.depth,
      ...(body.outbox.oldestAgeSeconds !== undefined
        ? { oldestAgeSeconds: body.outbox.oldestAgeSeconds }
        : {}),
    },
    ...(body.recording
      ? {
          recording: {
            bytes: body.recording.bytes,
            quotaBytes: body.recording.quotaBytes,
            ...(body.recording.lockedBytes !== undefined ? { lockedBytes: body.recording.lockedBytes } : {}),
          },
        }
      : {}),
    ...(body.cameras
      ? {
          cameras: body.cameras.map((c) => ({
            id: c.id,
            streams: c.streams.map((s) => ({
              role: s.role,
              state: s.state,
              recording: s.recording,
              ...(s.error !== undefined ? { error: s.error } : {}),
              ...(s.lastWrittenAt !== undefined ? { lastWrittenAt: s.lastWrittenAt } : {}),
            })),
            ...(c.probe?.error !== undefined ? { probe: { error: c.probe.error } } : {}),
            ...(c.retention ? { retention: c.retention } : {}),
          })),
        }
      : {}),
  }
}
