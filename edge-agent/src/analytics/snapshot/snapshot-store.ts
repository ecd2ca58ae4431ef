import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs'
import path from 'node:path'
import type { RelativeBox } from './snapshot.ts'

/**
 * Object event snapshots on the agent's disk, beside the recordings they belong with:
 * `<recordings>/snapshots/<cameraId>/<eventId>.jpg`, and `<eventId>.json` holding the frame time
 * and the object's box (what the hub's `?box` and `?crop` variants need). The JSON is written
 * after the JPEG, so a snapshot without its JSON is a write cut short and is treated as absent.
 *
 * Each file is written to a temporary name, synced and renamed, so a crash or power cut leaves the
 * old snapshot or the new one, never half of one. Retention removes snapshots by their frame time
 * with the camera's retention days, as it does recordings (a snapshot shows what a recording
 * showed; keeping one longer than the video would keep footage the site said to delete), and keeps
 * those an evidence lock covers, as it does recordings.
 */
export interface SnapshotMeta {
  cameraId: string
  eventId: string
  /** Wall-clock time (ms) of the frame the snapshot shows. */
  frameTime: number
  /** The object's box in the snapshot, relative 0..1. */
  box: RelativeBox
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export class SnapshotStore {
  readonly dir: string

  constructor(recordingsDir: string) {
    this.dir = path.join(recordingsDir, 'snapshots')
    mkdirSync(this.dir, { recursive: true, mode: 0o700 })
  }

  /** Stores (or replaces) an event's snapshot. Ids must be UUIDs: they become file names. */
  save(meta: SnapshotMeta, jpeg: Buffer): void {
    const dir = this.cameraDir(meta.cameraId)
    checkId(meta.eventId)
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    writeDurably(path.join(dir, `${meta.eventId}.jpg`), jpeg)
    writeDurably(
      path.join(dir, `${meta.eventId}.json`),
      Buffer.from(JSON.stringify({ frameTime: meta.frameTime, box: meta.box })),
    )
  }

  /** The snapshot and what it shows, or undefined when there is none (or it is damaged). */
  read(cameraId: string, eventId: string): { jpeg: Buffer; meta: SnapshotMeta } | undefined {
    if (!UUID.test(cameraId) || !UUID.test(eventId)) return undefined
    const base = path.join(this.dir, cameraId, eventId)
    try {
      const raw = JSON.parse(readFileSync(`${base}.json`, 'utf8')) as { frameTime?: unknown; box?: unknown }
      const box = raw.box
      if (
        typeof raw.frameTime !== 'number' ||
        !Array.isArray(box) ||
        box.length !== 4 ||
        !box.every((v) => typeof v === 'number' && v >= 0 && v <= 1)
      )
        return undefined
      return {
        jpeg: readFileSync(`${base}.jpg`),
        meta: { cameraId, eventId, frameTime: raw.frameTime, box: box as unknown as RelativeBox },
      }
    } catch {
      return undefined
    }
  }

  /**
   * Removes snapshots whose frame is older than their camera's retention (`retentionDays`, by
   * camera id; `defaultDays` for a camera no longer configured here), and files left by a write
   * cut short. Returns how many snapshots it removed.
   */
  enforceRetention(
    retentionDays: ReadonlyMap<string, number>,
    defaultDays: number,
    now = Date.now(),
    /** Whether an evidence lock covers a camera's frame time: such a snapshot is kept. */
    locked?: (cameraId: string, frameTime: number) => boolean,
  ): number {
    let removed = 0
    for (const cameraId of safeList(this.dir)) {
      if (!UUID.test(cameraId)) continue
      const dir = path.join(this.dir, cameraId)
      const cutoff = now - (retentionDays.get(cameraId) ?? defaultDays) * 86_400_000
      const names = safeList(dir)
      const present = new Set(names)
      for (const name of names) {
        const file = path.join(dir, name)
        if (name.endsWith('.tmp')) {
          rmSync(file, { force: true })
          continue
        }
        if (name.endsWith('.jpg') && !present.has(`${name.slice(0, -4)}.json`)) {
          // A JPEG whose JSON never came: an interrupted save; give it a minute before removing.
          if (ageMs(file, now) > 60_000) rmSync(file, { force: true })
          continue
        }
        if (!name.endsWith('.json')) continue
        const eventId = name.slice(0, -5)
        const snapshot = this.read(cameraId, eventId)
        if (snapshot && snapshot.meta.frameTime >= cutoff) continue
        if (snapshot && locked?.(cameraId, snapshot.meta.frameTime)) continue
        rmSync(path.join(dir, `${eventId}.jpg`), { force: true })
        rmSync(file, { force: true })
        removed++
      }
      if (safeList(dir).length === 0) rmSync(dir, { recursive: true, force: true })
    }
    return removed
  }

  private cameraDir(cameraId: string): string {
    checkId(cameraId)
    return path.join(this.dir, cameraId)
  }
}

function checkId(id: string): void {
  if (!UUID.test(id))
    throw new RangeError(`snapshot ids must be lower-case UUIDs, not ${JSON.stringify(id.slice(0, 64))}`)
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}

function ageMs(file: string, now: number): number {
  try {
    return now - statSync(file).mtimeMs
  } catch {
    return 0
  }
}

/** Write to a temporary file, sync it, rename over the target, sync the directory. */
function writeDurably(file: string, bytes: Buffer): void {
  const tmp = `${file}.tmp`
  const fd = openSync(tmp, 'w', 0o600)
  try {
    let written = 0
    while (written < bytes.length) written += writeSync(fd, bytes, written)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, file)
  try {
    const dirFd = openSync(path.dirname(file), 'r')
    try {
      fsyncSync(dirFd)
    } finally {
      closeSync(dirFd)
    }
  } catch {
    // Some file systems refuse to sync a directory; the rename is still atomic there.
  }
}
