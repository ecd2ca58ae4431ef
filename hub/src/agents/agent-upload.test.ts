import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, describe, expect, it } from 'vitest'
import { AgentUploadError, receiveVerifiedUpload } from './agent-upload.ts'

const dir = mkdtempSync(path.join(tmpdir(), 'vms-upload-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const data = Buffer.from('an upload from an agent, in two chunks')
const sha256 = createHash('sha256').update(data).digest('hex')
const body = () => Readable.from([data.subarray(0, 10), data.subarray(10)])
let n = 0
const file = () => path.join(dir, `f${n++}`)

async function refusal(p: Promise<unknown>): Promise<{ status: number; code: string }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(AgentUploadError)
  return err as AgentUploadError
}

describe('receiveVerifiedUpload', () => {
  it('keeps exactly what was declared and returns its digest', async () => {
    const f = file()
    const seen: number[] = []
    expect(
      await receiveVerifiedUpload(body(), f, { bytes: data.length, sha256 }, (c) => seen.push(c.length)),
    ).toBe(sha256)
    expect(readFileSync(f)).toEqual(data)
    expect(seen).toEqual([10, data.length - 10])
  })

  it('refuses a longer, shorter or different upload and keeps nothing', async () => {
    for (const [declared, status, code] of [
      [{ bytes: data.length - 1, sha256 }, 400, 'length_mismatch'],
      [{ bytes: data.length + 1, sha256 }, 400, 'length_mismatch'],
      [{ bytes: data.length, sha256: '0'.repeat(64) }, 422, 'digest_mismatch'],
    ] as const) {
      const f = file()
      expect(await refusal(receiveVerifiedUpload(body(), f, declared))).toMatchObject({ status, code })
      expect(existsSync(f)).toBe(false)
    }
  })

  it('stops at the first chunk the inspector refuses, and keeps nothing', async () => {
    const f = file()
    await expect(
      receiveVerifiedUpload(body(), f, { bytes: data.length, sha256 }, () => {
        throw new Error('not a segment')
      }),
    ).rejects.toThrow('not a segment')
    expect(existsSync(f)).toBe(false)
  })
})
