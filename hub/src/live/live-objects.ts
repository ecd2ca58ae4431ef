import { decode, type LiveObjects, liveObjects } from '@ts-vms/shared'
import type { Logger } from 'pino'
import type { Database } from '../db/database.ts'

/**
 * The live view's overlay: what analytics tracks on a camera now, relayed from its agent
 * (`up/objects`, sent after each analysed frame while the camera is watched live) to the consoles
 * following `GET /api/v1/cameras/{id}/objects`. Nothing is stored: a message nobody listens to is
 * dropped, and one lost on the way is replaced by the next frame's.
 *
 * An agent speaks only for its own cameras: a message naming a camera not assigned to it is
 * dropped (the assignment is read from the database and remembered for a few seconds, so a camera
 * moved to another agent stops being relayed from the old one within that time).
 */
export type LiveObjectsListener = (objects: LiveObjects) => void

const OWNER_TTL_MS = 5_000
/** Listeners per camera (consoles following its overlay), so no camera fans out without bound. */
export const MAX_LISTENERS_PER_CAMERA = 200

export class LiveObjectsRelay {
  private readonly listeners = new Map<string, Set<LiveObjectsListener>>()
  private readonly owners = new Map<string, { agentId: string | null; at: number }>()
  dropped = 0

  constructor(private readonly deps: { db: Database; logger: Logger; now?: () => number }) {}

  /** Follows a camera's objects; returns the unsubscribe, or undefined when the camera has too many. */
  subscribe(cameraId: string, listener: LiveObjectsListener): (() => void) | undefined {
    let set = this.listeners.get(cameraId)
    if (!set) {
      set = new Set()
      this.listeners.set(cameraId, set)
    }
    if (set.size >= MAX_LISTENERS_PER_CAMERA) return undefined
    set.add(listener)
    return () => {
      set.delete(listener)
      if (set.size === 0 && this.listeners.get(cameraId) === set) this.listeners.delete(cameraId)
    }
  }

  /** Whether anyone follows the camera's overlay now. */
  watched(cameraId: string): boolean {
    return (this.listeners.get(cameraId)?.size ?? 0) > 0
  }

  /** An `up/objects` payload from an agent: validated, checked against the camera's agent, relayed. */
  async receive(agentId: string, payload: Buffer): Promise<void> {
    const parsed = decode(liveObjects, payload)
    if (!parsed.ok) {
      this.dropped++
      return
    }
    const message = parsed.value
    const set = this.listeners.get(message.cameraId)
    if (!set || set.size === 0) return // nobody watches: no database read either
    if ((await this.ownerOf(message.cameraId)) !== agentId) {
      this.dropped++
      this.deps.logger.warn(
        { agentId, cameraId: message.cameraId },
        'live objects for a camera of another agent dropped',
      )
      return
    }
    for (const listener of [...set]) {
      try {
        listener(message)
      } catch {
        // One console's failure is its own.
      }
    }
  }

  private async ownerOf(cameraId: string): Promise<string | null> {
    const now = (this.deps.now ?? Date.now)()
    const cached = this.owners.get(cameraId)
    if (cached && now - cached.at < OWNER_TTL_MS) return cached.agentId
    const rows: { agent_id: string | null }[] = await this.deps.db.withSystem((tx) =>
      tx.execute('select agent_id from cameras where id = ?', [cameraId]),
    )
    const agentId = rows[0]?.agent_id ?? null
    if (this.owners.size > 10_000) this.owners.clear()
    this.owners.set(cameraId, { agentId, at: now })
    return agentId
  }
}
