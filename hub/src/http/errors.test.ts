import { describe, expect, it } from 'vitest'
import {
  conflict,
  DomainError,
  invalid,
  notFound,
  rateLimited,
  unauthenticated,
  unavailable,
} from '../errors.ts'
import { describeError, HttpError, unauthorized } from './errors.ts'

const described = (err: unknown) => {
  const known = describeError(err)
  if (!known) throw new Error('not described')
  return {
    status: known.status,
    code: known.code,
    message: known.message,
    details: known.details,
    headers: known.headers,
  }
}

describe('describeError of a DomainError', () => {
  it('answers each kind with its status, and the same code, message and details', () => {
    expect(described(invalid('bad', 'invalid_token', ['x']))).toEqual({
      status: 400,
      code: 'invalid_token',
      message: 'bad',
      details: ['x'],
      headers: {},
    })
    expect(described(notFound('camera'))).toMatchObject({
      status: 404,
      code: 'not_found',
      message: 'camera not found',
    })
    expect(described(conflict('taken', 'last_admin'))).toMatchObject({ status: 409, code: 'last_admin' })
    const statuses = (['forbidden', 'gone', 'unprocessable'] as const).map(
      (kind) => described(new DomainError(kind, 'c', 'm')).status,
    )
    expect(statuses).toEqual([403, 410, 422])
  })

  it('names the scheme on a 401, as unauthorized() does', () => {
    const domain = described(unauthenticated('the session has ended', 'invalid_token'))
    const http = unauthorized('the session has ended', 'invalid_token')
    expect(domain).toEqual({
      status: http.status,
      code: http.code,
      message: http.message,
      details: undefined,
      headers: http.headers,
    })
    expect(domain.headers).toEqual({ 'WWW-Authenticate': 'Bearer realm="ts-vms"' })
  })

  it('says when to retry, and the quota, on a 429', () => {
    const err = rateLimited('slow down', {
      retryAfterSeconds: 7,
      quota: { limit: 10, remaining: 0, resetSeconds: 42 },
    })
    expect(described(err)).toEqual({
      status: 429,
      code: 'rate_limited',
      message: 'slow down',
      details: undefined,
      headers: {
        'Retry-After': '7',
        'RateLimit-Limit': '10',
        'RateLimit-Remaining': '0',
        'RateLimit-Reset': '42',
      },
    })
  })

  it('answers unavailable with 503, with Retry-After only when the domain knows it', () => {
    expect(described(unavailable('away', 'agent_offline'))).toMatchObject({ status: 503, headers: {} })
    expect(described(unavailable('away', 'store_down', 5)).headers).toEqual({ 'Retry-After': '5' })
  })

  it('leaves an HttpError as it is', () => {
    const err = new HttpError(418, 'teapot', 'short and stout')
    expect(describeError(err)).toBe(err)
  })
})
