import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { buffer } from 'node:stream/consumers'
import { afterAll, describe, expect, it } from 'vitest'
import { caseReadme, caseZip, clipEntryBase, slug } from './case-zip.ts'

const dir = mkdtempSync(path.join(tmpdir(), 'vms-case-zip-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('case zip', () => {
  it('names clips by position, camera slug and start', () => {
    expect(slug('Gate Nord')).toBe('gate-nord')
    expect(slug('Caméra Entrée / 2')).toBe('camera-entree-2')
    expect(slug('../../etc/passwd')).toBe('etc-passwd')
    expect(slug('监控')).toBe('camera')
    expect(slug('x'.repeat(200))).toHaveLength(60)
    expect(clipEntryBase(3, 'Gate', '2026-11-29T10:00:05.250Z')).toBe('clips/03-gate-2026-11-29T10-00-05Z')
    expect(clipEntryBase(12, 'Gate', '2026-11-29T11:00:05+01:00')).toBe('clips/12-gate-2026-11-29T10-00-05Z')
  })

  it('streams clips, manifests, keys, case.json and README into a zip unzip reads', async () => {
    const mp4 = randomBytes(300_000)
    const clip = path.join(dir, 'clip.mp4')
    writeFileSync(clip, mp4)
    const stream = caseZip({
      clips: [
        {
          n: 1,
          cameraName: 'Gate',
          from: '2026-11-29T10:00:00Z',
          path: clip,
          bytes: mp4.length,
          manifest: '{"m":1}',
        },
      ],
      caseJson: '{"case":true}',
      keysJson: '{"keys":[]}',
      readme: caseReadme({ id: 'c1', name: 'Case' }, ['clips/01-gate-2026-11-29T10-00-00Z.mp4']),
    })
    const zipFile = path.join(dir, 'case.zip')
    writeFileSync(zipFile, await buffer(stream))
    const out = path.join(dir, 'out')
    execFileSync('unzip', ['-q', zipFile, '-d', out])
    expect(readFileSync(path.join(out, 'clips/01-gate-2026-11-29T10-00-00Z.mp4')).equals(mp4)).toBe(true)
    expect(readFileSync(path.join(out, 'clips/01-gate-2026-11-29T10-00-00Z.manifest.json'), 'utf8')).toBe(
      '{"m":1}',
    )
    expect(readFileSync(path.join(out, 'case.json'), 'utf8')).toBe('{"case":true}')
    expect(readFileSync(path.join(out, 'export-keys.json'), 'utf8')).toBe('{"keys":[]}')
    expect(readFileSync(path.join(out, 'README.txt'), 'utf8')).toContain('verify-export')
  })

  it('fails the stream when a clip on disk differs from its recorded size or is missing', async () => {
    const clip = path.join(dir, 'short.mp4')
    writeFileSync(clip, randomBytes(1000))
    const base = { caseJson: '{}', keysJson: '{}', readme: '' }
    const entry = { n: 1, cameraName: 'G', from: '2026-11-29T10:00:00Z', manifest: '{}' }
    await expect(
      buffer(caseZip({ ...base, clips: [{ ...entry, path: clip, bytes: 1001 }] })),
    ).rejects.toThrow()
    await expect(
      buffer(caseZip({ ...base, clips: [{ ...entry, path: path.join(dir, 'missing.mp4'), bytes: 5 }] })),
    ).rejects.toThrow()
  })
})
