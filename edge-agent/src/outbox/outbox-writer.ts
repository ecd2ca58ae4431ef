import type { OutboxType } from '@ts-vms/shared'
import type { Logger } from 'pino'
import type { Outbox } from './outbox.ts'

/**
 * How the running agent writes to its outbox without ever letting a failed write take it down.
 *
 * A full data disk (`SQLITE_FULL`) or any other write error must not crash the agent: it used to
 * be thrown out of a camera's state-change callback, killing the process — and with it every
 * camera's recording, though the recordings disk had room — again after every restart. Here a
 * record that cannot be committed waits in memory, in order, and is retried every `retryMs` and
 * before each new record; the agent raises `dataDiskFull` in its health and logs one error (the
 * local alarm) per episode, and again when the disk takes writes. Heartbeats go first: while
 * records wait, only the latest heartbeat is kept. Memory is bounded (`maxPending`): beyond it the
 * oldest waiting records are dropped and counted.
 */
export interface StorageStatus {
  dataDiskFull: boolean
  pending: number
  dropped: number
  since?: string
  error?: string
}

interface Pending {
  type: Exclude<OutboxType, 'noop' | 'health'>
  body: unknown
  at: Date
}

export class OutboxWriter {
  private readonly pending: Pending[] = []
  private pendingHealth: { body: unknown; at: Date } | undefined
  private readonly pendingSettings = new Map<string, string>()
  private failingSince: Date | undefined
  private lastError: string | undefined
  private dropped = 0
  private retryTimer: NodeJS.Timeout | undefined
  private closed = false

  constructor(
    private readonly o: {
      outbox: Outbox
      logger: Logger
      /** Called after records were committed (to send them). */
      onWritten?: () => void
      retryMs?: number
      maxPending?: number
    },
  ) {}

  /** Commits a record, or keeps it for later if the outbox cannot take it now. Never throws. */
  write(type: Exclude<OutboxType, 'noop'>, body: unknown, at: Date = new Date()): void {
    if (this.closed) return
    if (type === 'health') this.pendingHealth = { body, at }
    else {
      this.pending.push({ type, body, at })
      const max = this.o.maxPending ?? 10_000
      if (this.pending.length > max) {
        this.dropped += this.pending.length - max
        this.pending.splice(0, this.pending.length - max)
      }
    }
    this.flush()
  }

  /** Persists an agent setting (the applied configuration), later if the disk is full. */
  setSetting(key: string, value: string): void {
    if (this.closed) return
    this.pendingSettings.set(key, value)
    this.flush()
  }

  /**
   * Commits what waits, in order, in one transaction: settings and the records written with them
   * land together (analytics saves its open events as a setting beside their records), so a crash
   * never keeps one without the other. On failure nothing is committed and everything waits for
   * the next try.
   */
  flush(): void {
    if (this.closed) return
    const settings = [...this.pendingSettings]
    const records = [...this.pending]
    const health = this.pendingHealth
    if (settings.length === 0 && records.length === 0 && !health) return
    try {
      this.o.outbox.atomically(() => {
        for (const [key, value] of settings) this.o.outbox.setSetting(key, value)
        for (const p of records) this.o.outbox.append(p.type, p.body, p.at)
        if (health) this.o.outbox.append('health', health.body, health.at)
      })
    } catch (err) {
      this.failed(err)
      return
    }
    for (const [key, value] of settings)
      if (this.pendingSettings.get(key) === value) this.pendingSettings.delete(key)
    this.pending.splice(0, records.length)
    if (this.pendingHealth === health) this.pendingHealth = undefined
    if (this.failingSince) this.recovered()
    if (records.length > 0 || health) this.o.onWritten?.()
  }

  status(): StorageStatus {
    return {
      dataDiskFull: this.failingSince !== undefined,
      pending: this.pending.length + (this.pendingHealth ? 1 : 0),
      dropped: this.dropped,
      ...(this.failingSince ? { since: this.failingSince.toISOString() } : {}),
      ...(this.failingSince && this.lastError ? { error: this.lastError } : {}),
    }
  }

  /** Stops retrying (what still waits is lost: the agent is stopping). */
  close(): void {
    this.closed = true
    if (this.retryTimer) clearInterval(this.retryTimer)
    this.retryTimer = undefined
  }

  private failed(err: unknown): void {
    const code = (err as { code?: unknown }).code
    this.lastError = typeof code === 'string' ? code : (err as Error).message?.slice(0, 200)
    if (this.failingSince) return
    // Heartbeats go first: a sample taken now is stale by the time the disk takes writes again.
    this.failingSince = new Date()
    this.o.logger.error(
      { err, code: this.lastError, pending: this.status().pending },
      'ALARM: cannot write to the outbox (data disk full?): records wait in memory and are retried; recording continues',
    )
    this.retryTimer = setInterval(() => this.flush(), this.o.retryMs ?? 2000)
    this.retryTimer.unref()
  }

  private recovered(): void {
    this.o.logger.warn(
      { since: this.failingSince?.toISOString(), dropped: this.dropped },
      'the outbox takes writes again: waiting records committed',
    )
    this.failingSince = undefined
    this.lastError = undefined
    if (this.retryTimer) clearInterval(this.retryTimer)
    this.retryTimer = undefined
  }
}
