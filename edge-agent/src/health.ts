import { statfs } from 'node:fs/promises'
import { hostname } from 'node:os'
import type { CameraHealth } from '@ts-vms/shared'
import type { Outbox } from './outbox/outbox.ts'

/** A health sample: what the hub shows about the agent and how it decides it is alive. */
export async function healthSample(o: {
  dataDir: string
  outbox: Outbox
  startedAt: number
  version: string
  configVersion: number
  cameras?: CameraHealth[]
  recording?: { bytes: number; quotaBytes: number | null }
}) {
  // The outbox first: it is synchronous, and the agent may be stopped while statfs runs.
  const full = o.outbox.full()
  const outbox = { depth: o.outbox.depth(), bytes: o.outbox.bytes(), full }
  let disk: { freeBytes: number; totalBytes: number } | undefined
  try {
    const s = await statfs(o.dataDir)
    disk = { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize }
  } catch {
    disk = undefined
  }
  return {
    uptimeSeconds: Math.round((Date.now() - o.startedAt) / 1000),
    version: o.version,
    hostname: hostname(),
    ...(disk ? { disk } : {}),
    outbox,
    configVersion: o.configVersion,
    ...(o.cameras ? { cameras: o.cameras } : {}),
    ...(o.recording ? { recording: o.recording } : {}),
    ...(full ? { degraded: ['outbox full: refusing non-essential work'] } : {}),
  }
}
