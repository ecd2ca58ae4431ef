import type { Context, Next } from 'koa'
import type { Logger } from 'pino'
import { z } from 'zod'
import { isDatabaseUnavailable } from '../db/errors.ts'
import { DomainError, type DomainErrorKind } from '../errors.ts'
import { rateLimitHeaders } from '../ratelimit/rate-limits.ts'

/**
 * The API's one error shape: `{ "error": { "code", "message", "details"?, "requestId" } }`.
 * A client's mistake is always a 4xx; only a fault of ours is a 500, and its message says nothing
 * about internals (the log, keyed by request id, does).
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
    this.name = 'HttpError'
  }
}

export const badRequest = (message: string, details?: unknown) =>
  new HttpError(400, 'bad_request', message, details)
/** Every 401 names the scheme to authenticate with (RFC 9110 §11.6.1). */
const WWW_AUTHENTICATE = { 'WWW-Authenticate': 'Bearer realm="ts-vms"' } as const
export const unauthorized = (message = 'authentication required', code = 'unauthorized') =>
  new HttpError(401, code, message, undefined, { ...WWW_AUTHENTICATE })
export const forbidden = (message = 'you do not have permission to do this', code = 'forbidden') =>
  new HttpError(403, code, message)
export const notFound = (what = 'resource') => new HttpError(404, 'not_found', `${what} not found`)
export const conflict = (message: string, code = 'conflict') => new HttpError(409, code, message)
export const gone = (message: string, code = 'gone') => new HttpError(410, code, message)
export const unprocessable = (message: string, code = 'unprocessable', details?: unknown) =>
  new HttpError(422, code, message, details)

export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      details: z.unknown().optional(),
      requestId: z.string().optional(),
    }),
  })
  .meta({ id: 'Error' })

function zodDetails(error: z.ZodError) {
  return error.issues.map((issue) => ({
    path: issue.path.join('.'),
    message: issue.message,
  }))
}

interface PgLikeError {
  code?: string
  sqlState?: string
  constraint?: string
  status?: number
  statusCode?: number
  expose?: boolean
  type?: string
  message?: string
}

const STATUS_OF_KIND: Record<DomainErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  gone: 410,
  unprocessable: 422,
  rate_limited: 429,
  unavailable: 503,
}

/** A domain module's refusal as the API answers it: the status of its kind, its code and message. */
export function httpErrorOf(err: DomainError): HttpError {
  const status = STATUS_OF_KIND[err.kind]
  const headers: Record<string, string> = status === 401 ? { ...WWW_AUTHENTICATE } : {}
  if (err.retryAfterSeconds !== undefined) headers['Retry-After'] = String(err.retryAfterSeconds)
  if (err.quota) Object.assign(headers, rateLimitHeaders(err.quota))
  return new HttpError(status, err.code, err.message, err.details, headers)
}

/** Maps a thrown value to a status, code and message that are safe to show. */
export function describeError(err: unknown): HttpError | undefined {
  if (err instanceof HttpError) return err
  if (err instanceof DomainError) return httpErrorOf(err)
  if (err instanceof z.ZodError) return badRequest('the request is invalid', zodDetails(err))
  const e = (err ?? {}) as PgLikeError
  // Errors from koa and its body parser carry a 4xx status of their own.
  const status = e.status ?? e.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) {
    if (
      status === 400 &&
      (e.type === 'entity.parse.failed' || 'body' in (e as object) || /JSON/i.test(e.message ?? ''))
    ) {
      return new HttpError(400, 'malformed_json', 'the request body is not valid JSON')
    }
    if (status === 413) return new HttpError(413, 'payload_too_large', 'the request body is too large')
    if (status === 415) return new HttpError(415, 'unsupported_media_type', 'unsupported content type')
    return new HttpError(status, 'bad_request', e.expose && e.message ? e.message : 'bad request')
  }
  if (isDatabaseUnavailable(err)) {
    return new HttpError(
      503,
      'database_unavailable',
      'the database is unavailable; try again shortly',
      undefined,
      {
        'Retry-After': '5',
      },
    )
  }
  // Postgres errors that a client's input can provoke (the ORM wraps them, keeping the code).
  const sqlState = e.sqlState ?? e.code
  switch (sqlState) {
    case '23505':
      return conflict('a resource with these values already exists', 'already_exists')
    case '23503':
      return conflict('the resource is referenced by, or refers to, another resource', 'reference_conflict')
    case '23514':
    case '23502':
    case '22001':
      return unprocessable('a value is out of the allowed range', 'constraint_violation')
    case '22P02':
    case '22007':
    case '22008':
    case '22021':
    case '22P05':
      return badRequest('a value has the wrong format')
    case '42501':
      // Row-level security refused the row: to the caller it does not exist. (Other privilege
      // errors are our bugs and stay 500.)
      if (e.message?.includes('row-level security')) return notFound()
  }
  return undefined
}

export function errorMiddleware(logger: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next()
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new HttpError(404, 'not_found', 'no such endpoint')
      }
    } catch (err) {
      const known = describeError(err)
      const requestId = ctx.state.requestId as string | undefined
      if (known) {
        ctx.status = known.status
        for (const [k, v] of Object.entries(known.headers)) ctx.set(k, v)
        ctx.body = {
          error: {
            code: known.code,
            message: known.message,
            ...(known.details !== undefined ? { details: known.details } : {}),
            requestId,
          },
        }
        if (known.status >= 500) logger.error({ err, requestId }, 'request failed')
      } else {
        logger.error({ err, requestId, method: ctx.method, path: ctx.path }, 'unhandled error')
        ctx.status = 500
        ctx.body = { error: { code: 'internal_error', message: 'internal server error', requestId } }
      }
    }
  }
}
