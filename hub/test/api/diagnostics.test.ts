import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAX_UPLINK_PROBE_BYTES } from '../../src/http/routes/diagnostics.ts'
import { startTestHub, type TestHub } from '../helpers/test-hub.ts'

/** The uplink probe a site's installer runs against the hub (setup wizard, step 5). */
let t: TestHub
let token: string

beforeAll(async () => {
  t = await startTestHub()
  token = await t.adminToken()
})
afterAll(async () => {
  await t?.close()
})

const probe = (body: BodyInit, headers: Record<string, string> = {}) =>
  fetch(`${t.url}/api/v1/diagnostics/uplink`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', ...headers },
    body,
  })

describe('POST /api/v1/diagnostics/uplink', () => {
  it('counts and drops what arrives', async () => {
    const res = await probe(new Uint8Array(1024 * 1024), { authorization: `Bearer ${token}` })
    expect(res.status).toBe(200)
    const body = (await res.json()) as { bytes: number; receiveMs: number }
    expect(body.bytes).toBe(1024 * 1024)
    expect(body.receiveMs).toBeGreaterThanOrEqual(0)
  })

  it('refuses anonymous callers, other content types and bodies over the limit', async () => {
    expect((await probe(new Uint8Array(10))).status).toBe(401)
    const text = await probe('hello', { authorization: `Bearer ${token}`, 'content-type': 'text/plain' })
    expect(text.status).toBe(415)
    const big = await probe(new Uint8Array(MAX_UPLINK_PROBE_BYTES + 1), { authorization: `Bearer ${token}` })
    expect(big.status).toBe(413)
  })
})
