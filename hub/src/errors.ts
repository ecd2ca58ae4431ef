/**
 * The one error the hub's domain modules raise when they refuse a request: what kind of refusal it
 * is, a stable `code` clients may branch on, and a message safe to show. Domain code never knows
 * about HTTP; `http/errors.ts` maps each kind to its status and headers (docs/architecture.md,
 * "Errors and layers"). Errors that are a module's own business (InvalidAccessToken,
 * AgentRequestError, the database's) stay as they are.
 */
export type DomainErrorKind =
  /** The input is malformed or names nothing valid. */
  | 'invalid'
  /** Who is asking is not established: no, a bad or an expired credential. */
  | 'unauthenticated'
  /** Known caller, not allowed. */
  | 'forbidden'
  | 'not_found'
  /** The current state forbids it (last admin, not assigned to an agent, ...). */
  | 'conflict'
  /** It existed but is used up or expired for good. */
  | 'gone'
  /** Well-formed, but the values are refused (weak password, invalid license, ...). */
  | 'unprocessable'
  | 'rate_limited'
  /** Something the hub depends on is away for now (an agent, a store). */
  | 'unavailable'

/** The state of the limit that refused: what a client may be told about its quota. */
export interface QuotaState {
  limit: number
  remaining: number
  /** Seconds until the limit's current window ends. */
  resetSeconds: number
}

export interface DomainErrorOptions {
  details?: unknown
  /** Seconds after which trying again may succeed. */
  retryAfterSeconds?: number
  /** The limit that refused (rate_limited). */
  quota?: QuotaState
}

export class DomainError extends Error {
  readonly details?: unknown
  readonly retryAfterSeconds?: number
  readonly quota?: QuotaState

  constructor(
    readonly kind: DomainErrorKind,
    readonly code: string,
    message: string,
    options: DomainErrorOptions = {},
  ) {
    super(message)
    this.name = 'DomainError'
    if (options.details !== undefined) this.details = options.details
    if (options.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds
    if (options.quota !== undefined) this.quota = options.quota
  }
}

export const invalid = (message: string, code = 'bad_request', details?: unknown) =>
  new DomainError('invalid', code, message, { details })
export const unauthenticated = (message = 'authentication required', code = 'unauthorized') =>
  new DomainError('unauthenticated', code, message)
export const forbidden = (message = 'you do not have permission to do this', code = 'forbidden') =>
  new DomainError('forbidden', code, message)
export const notFound = (what = 'resource', code = 'not_found') =>
  new DomainError('not_found', code, `${what} not found`)
export const conflict = (message: string, code = 'conflict') => new DomainError('conflict', code, message)
export const gone = (message: string, code = 'gone') => new DomainError('gone', code, message)
export const unprocessable = (message: string, code = 'unprocessable', details?: unknown) =>
  new DomainError('unprocessable', code, message, { details })
export const rateLimited = (
  message: string,
  limit: { retryAfterSeconds: number; quota?: QuotaState },
  code = 'rate_limited',
) => new DomainError('rate_limited', code, message, limit)
export const unavailable = (message: string, code = 'unavailable', retryAfterSeconds?: number) =>
  new DomainError('unavailable', code, message, { retryAfterSeconds })
