import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { signBody, verifySignature } from './signature.ts'

describe('webhook signature', () => {
  const secret = 'a-long-shared-secret-0123456789'
  const body = '{"event":"opened","alarm":{"id":"x"}}'

  it('is sha256=<hex HMAC-SHA256 of the raw body>', () => {
    const hex = createHmac('sha256', secret).update(body).digest('hex')
    expect(signBody(secret, body)).toBe(`sha256=${hex}`)
    expect(signBody(secret, Buffer.from(body))).toBe(`sha256=${hex}`)
  })

  it('verifies only the same bytes under the same secret', () => {
    const sig = signBody(secret, body)
    expect(verifySignature(secret, body, sig)).toBe(true)
    expect(verifySignature(secret, `${body} `, sig)).toBe(false)
    expect(verifySignature('another-secret-0123456789', body, sig)).toBe(false)
    expect(verifySignature(secret, body, undefined)).toBe(false)
    expect(verifySignature(secret, body, 'sha256=00')).toBe(false)
  })
})
