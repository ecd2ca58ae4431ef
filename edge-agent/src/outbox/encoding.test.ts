import { describe, expect, it } from 'vitest'
import { BATCH_OVERHEAD_BYTES, encodeBatch, encodeRow, rowBatchBytes } from './encoding.ts'

describe('rowBatchBytes', () => {
  it('is exactly what each row adds to the encoded batch, escapes and multi-byte text included', () => {
    const rows = [
      { seq: 1, type: 'event' as const, at: '2026-11-28T00:00:00.000Z', body: '{"a":"\\u0001é😀"}' },
      { seq: 123456, type: 'audit' as const, at: '2026-11-28T00:00:01.000Z', body: '{}' },
    ]
    expect(rowBatchBytes(rows[0]!, true)).toBe(Buffer.byteLength(encodeRow(rows[0]!)))
    const total = BATCH_OVERHEAD_BYTES + rowBatchBytes(rows[0]!, true) + rowBatchBytes(rows[1]!, false)
    expect(total).toBe(Buffer.byteLength(encodeBatch(rows)))
  })
})
