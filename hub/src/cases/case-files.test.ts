import { randomBytes, randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { CaseFiles } from './case-files.ts'

const dir = mkdtempSync(path.join(tmpdir(), 'vms-case-files-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('case files', () => {
  const files = new CaseFiles(path.join(dir, 'cases'))

  it('keeps an upload under the clip id, leaving no temporary file and no source', async () => {
    const caseId = randomUUID()
    const clipId = randomUUID()
    const source = path.join(dir, 'upload.mp4')
    const bytes = randomBytes(4096)
    writeFileSync(source, bytes)
    const kept = await files.keep(source, caseId, clipId)
    expect(kept).toBe(path.join(dir, 'cases', caseId, `${clipId}.mp4`))
    expect(readFileSync(kept).equals(bytes)).toBe(true)
    expect(existsSync(source)).toBe(false)
    expect(readdirSync(path.join(dir, 'cases', caseId))).toEqual([`${clipId}.mp4`])
    expect(await files.size(caseId, clipId)).toBe(4096)
    await files.removeCase(caseId)
    expect(existsSync(path.join(dir, 'cases', caseId))).toBe(false)
    expect(await files.size(caseId, clipId)).toBeUndefined()
  })

  it('refuses ids that are not ids (no path tricks)', () => {
    expect(() => files.caseDir('../etc')).toThrow()
    expect(() => files.clipFile(randomUUID(), '../../x')).toThrow()
  })

  it('a failed keep leaves nothing behind and drops the source', async () => {
    const caseId = randomUUID()
    await expect(files.keep(path.join(dir, 'missing.mp4'), caseId, randomUUID())).rejects.toThrow()
    expect(readdirSync(path.join(dir, 'cases', caseId))).toEqual([])
  })
})
