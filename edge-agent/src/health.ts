import { statfs } from 'node:fs/promises'
import { hostname } from 'node:os'
import type { CameraHealth } from '@ts-vms/shared'
import type { Outbox } from './outbox/outbox.ts'
import type { StorageStatus } from './outbox/outbox-writer.ts'

/** Free and total bytes of the disk holding `dir`; undefined when it cannot be read. */
export async function diskSpace(dir: string): Promise<{ freeBytes: number; totalBytes: number } | undefined> {
  try {
    const s = await statfs(dir)
    return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize }
  } catch {
    return undefined
  }
}

/** A health sample: what the hub shows about the agent and how it decides it is alive. */
export async function healthSample(o: {
  dataDir: string
  outbox: Outbox
  startedAt: number
  version: string
  configVersion: number
  /** The outbox writer's view of the data disk (full: records wait in memory). */
  storage?: StorageStatus
  /** Messages the hub acknowledged without applying them, since start. */
  rejected?: number
  cameras?: CameraHealth[]
  recording?: { bytes: number; quotaBytes: number | null }
}) {
  // The outbox first: it is synchronous, and the agent may be stopped while statfs runs.
  const full = o.outbox.full()
  const quarantined = o.outbox.quarantined()
  const oldestAt = o.outbox.oldestAt()
  const outbox = {
    depth: o.outbox.depth(),
    bytes: o.outbox.bytes(),
    full,
    ...(quarantined > 0 ? { quarantined } : {}),
    ...(o.rejected ? { rejected: o.rejected } : {}),
    ...(oldestAt ? { oldestAgeSeconds: Math.max(0, (Date.now() - Date.parse(oldestAt)) / 1000) } : {}),
  }
  const diskFull = o.storage?.dataDiskFull === true
  const degraded = [
    ...(full ? ['outbox full: refusing non-essential work'] : []),
    ...(diskFull ? ['data disk full: outbox records wait in memory'] : []),
  ]
  const disk = await diskSpace(o.dataDir)
  return {
    uptimeSeconds: Math.round((Date.now() - o.startedAt) / 1000),
    version: o.version,
    hostname: hostname(),
    ...(disk ? { disk } : {}),
    outbox,
    configVersion: o.configVersion,
    ...(o.cameras ? { cameras: o.cameras } : {}),
    ...(o.recording ? { recording: o.recording } : {}),
    ...(o.storage ? { storage: o.storage } : {}),
    ...(degraded.length > 0 ? { degraded } : {}),
  }
}
