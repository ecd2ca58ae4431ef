import { MAX_PAYLOAD_BYTES } from '@ts-vms/shared'
import { describe, expect, it } from 'vitest'
import { smallerBatchBytes } from './hub-link.ts'

describe('smallerBatchBytes (the hub asked for smaller publications)', () => {
  it('halves the budget, within what the hub takes, down to a floor', () => {
    expect(smallerBatchBytes(MAX_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES)).toBe(MAX_PAYLOAD_BYTES / 2)
    expect(smallerBatchBytes(MAX_PAYLOAD_BYTES, 64 * 1024)).toBe(64 * 1024)
    expect(smallerBatchBytes(20 * 1024, MAX_PAYLOAD_BYTES)).toBe(16 * 1024)
  })
})
