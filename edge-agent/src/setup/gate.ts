import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto'
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'

/**
 * Who may use the setup wizard: whoever knows the setup PIN, printed on the agent's console and
 * written to `<data dir>/setup-pin` (0600), i.e. someone at the machine or allowed to read its
 * files. A right PIN opens a session (a random id in an HttpOnly cookie, kept in memory only);
 * wrong PINs are rate-limited per client and overall, and while a client is limited even the
 * right PIN is refused (or guessing would go on).
 */
export const PIN_DIGITS = 8

/** A new random PIN: PIN_DIGITS decimal digits (easy to type from a console or a phone). */
export function generatePin(): string {
  let pin = ''
  for (let i = 0; i < PIN_DIGITS; i++) pin += String(randomInt(10))
  return pin
}

export const pinFile = (dataDir: string) => path.join(dataDir, 'setup-pin')

export function writePinFile(dataDir: string, pin: string): string {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const file = pinFile(dataDir)
  writeFileSync(file, `${pin}\n`, { mode: 0o600 })
  chmodSync(file, 0o600) // an older file keeps its mode through writeFileSync
  return file
}

export function removePinFile(dataDir: string): void {
  rmSync(pinFile(dataDir), { force: true })
}

/** What people type: spaces and dashes are ignored. */
export function normalisePin(input: string): string {
  return input.replace(/[\s-]/g, '')
}

const digest = (s: string) => createHash('sha256').update(s).digest()

export interface GateOptions {
  pin: string
  now?: () => number
  /** Wrong PINs a client may try per window before it is refused (429). */
  maxFailures?: number
  /** Wrong PINs all clients together may try per window. */
  maxFailuresOverall?: number
  windowMs?: number
  /** A session unused this long ends. */
  sessionIdleMs?: number
  /** A session ends this long after the PIN opened it, used or not. */
  sessionMaxMs?: number
  /** Most sessions at once (the oldest ends first). */
  maxSessions?: number
}

export type UnlockResult =
  | { ok: true; sessionId: string }
  | { ok: false; reason: 'wrong'; triesLeft: number }
  | { ok: false; reason: 'limited'; retryAfterSeconds: number }

export interface Session<T> {
  id: string
  createdAt: number
  lastSeen: number
  data: T
}

export class SetupGate<T> {
  readonly #pin: Buffer
  readonly #now: () => number
  readonly #maxFailures: number
  readonly #maxOverall: number
  readonly #windowMs: number
  readonly #idleMs: number
  readonly #maxMs: number
  readonly #maxSessions: number
  /** Times of recent wrong PINs, per client and overall. */
  readonly #failures = new Map<string, number[]>()
  #overall: number[] = []
  readonly #sessions = new Map<string, Session<T>>()

  constructor(
    options: GateOptions,
    private readonly initial: () => T,
  ) {
    this.#pin = digest(normalisePin(options.pin))
    this.#now = options.now ?? Date.now
    this.#maxFailures = options.maxFailures ?? 5
    this.#maxOverall = options.maxFailuresOverall ?? 30
    this.#windowMs = options.windowMs ?? 60_000
    this.#idleMs = options.sessionIdleMs ?? 30 * 60_000
    this.#maxMs = options.sessionMaxMs ?? 8 * 3600_000
    this.#maxSessions = options.maxSessions ?? 16
  }

  /** Checks a PIN from `client` (its address); a right one opens a session. */
  unlock(client: string, pin: unknown): UnlockResult {
    const now = this.#now()
    const since = now - this.#windowMs
    const mine = (this.#failures.get(client) ?? []).filter((t) => t > since)
    this.#overall = this.#overall.filter((t) => t > since)
    // Refused until enough of the failures in the window have aged out of it.
    const reopens = Math.max(
      mine.length >= this.#maxFailures ? (mine[mine.length - this.#maxFailures] ?? now) + this.#windowMs : 0,
      this.#overall.length >= this.#maxOverall
        ? (this.#overall[this.#overall.length - this.#maxOverall] ?? now) + this.#windowMs
        : 0,
    )
    if (reopens > now) {
      this.#failures.set(client, mine)
      return {
        ok: false,
        reason: 'limited',
        retryAfterSeconds: Math.max(1, Math.ceil((reopens - now) / 1000)),
      }
    }
    const given = typeof pin === 'string' ? normalisePin(pin) : ''
    if (given.length > 0 && given.length <= 64 && timingSafeEqual(digest(given), this.#pin)) {
      this.#failures.delete(client)
      return { ok: true, sessionId: this.#open(now) }
    }
    mine.push(now)
    this.#overall.push(now)
    this.#failures.set(client, mine)
    this.#sweepFailures(since)
    return { ok: false, reason: 'wrong', triesLeft: Math.max(0, this.#maxFailures - mine.length) }
  }

  /** The session with this id, if it is still open (using it keeps it open). */
  session(id: string | undefined): Session<T> | undefined {
    if (!id) return undefined
    const s = this.#sessions.get(id)
    if (!s) return undefined
    const now = this.#now()
    if (now - s.lastSeen > this.#idleMs || now - s.createdAt > this.#maxMs) {
      this.#sessions.delete(id)
      return undefined
    }
    s.lastSeen = now
    return s
  }

  end(id: string | undefined): Session<T> | undefined {
    if (!id) return undefined
    const s = this.#sessions.get(id)
    this.#sessions.delete(id)
    return s
  }

  /** Ends every session (the wizard closes). */
  endAll(): Session<T>[] {
    const all = [...this.#sessions.values()]
    this.#sessions.clear()
    return all
  }

  get sessionCount(): number {
    return this.#sessions.size
  }

  #open(now: number): string {
    while (this.#sessions.size >= this.#maxSessions) {
      const oldest = this.#sessions.keys().next().value
      if (oldest === undefined) break
      this.#sessions.delete(oldest)
    }
    const id = randomBytes(32).toString('base64url')
    this.#sessions.set(id, { id, createdAt: now, lastSeen: now, data: this.initial() })
    return id
  }

  /** Forgets clients whose wrong PINs are all older than the window (bounded memory). */
  #sweepFailures(since: number): void {
    if (this.#failures.size < 1000) return
    for (const [client, times] of this.#failures)
      if (!times.some((t) => t > since)) this.#failures.delete(client)
  }
}
