import { createHmac, timingSafeEqual } from 'node:crypto'

/**
 * A webhook's signature: `sha256=<hex HMAC-SHA256 of the raw body under the channel's secret>`,
 * sent as `X-VMS-Signature`. The receiver recomputes it over the bytes it received (before any
 * JSON parsing) and compares in constant time.
 */
export function signBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
}

/** True when `header` is the signature of `body` under `secret` (constant-time comparison). */
export function verifySignature(secret: string, body: string | Buffer, header: string | undefined): boolean {
  if (!header) return false
  const expected = Buffer.from(signBody(secret, body))
  const given = Buffer.from(header)
  return given.length === expected.length && timingSafeEqual(given, expected)
}
