import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Recorder } from '../src/recorder/recorder.ts'
import { RecordingIndex } from '../src/recorder/recording-index.ts'
import { enforceRetention } from '../src/recorder/retention.ts'
import { clipAccessUnit, h264StreamInfo, simH264Clip } from './helpers/clip-frames.ts'
import { mountTmpfs, unmountTmpfs } from './helpers/tmpfs.ts'

/**
 * A recordings disk that fills up (a 3 MiB tmpfs, the index on it too): writes fail, retention makes room, and no
 * handle is left on a deleted segment file (issue 11: seven were, holding their space until
 * restart), while recording resumes. Frames are fed to the recorder directly, one after the other:
 * nothing here depends on timing.
 */
const clip = simH264Clip()
const logger = pino({ level: 'silent' })
const work = mkdtempSync(path.join(tmpdir(), 'vms-disk-full-'))
const recordings = path.join(work, 'recordings')
let mounted = false

beforeAll(() => {
  mkdirSync(recordings)
  mounted = mountTmpfs(recordings, '3m', 'the recordings-disk-full test (issue 11 item 6)')
})
afterAll(() => {
  if (mounted) unmountTmpfs(recordings)
  rmSync(work, { recursive: true, force: true })
})

/** Open handles of this process on segment files under `dir`, and those on deleted files. */
function handles(dir: string): { open: string[]; deleted: string[] } {
  const open: string[] = []
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`)
      if (target.startsWith(dir) && !target.includes('index.db')) open.push(target)
    } catch {}
  }
  return { open, deleted: open.filter((t) => t.endsWith('(deleted)')) }
}

describe('a full recordings disk', () => {
  it('closes the failing writer’s file, lets retention free the space and recording resume', async (ctx) => {
    // Skipped only where a tmpfs cannot be mounted (not root); mountTmpfs has said so loudly.
    if (!mounted) return ctx.skip()
    // The index lives on the recordings disk too (the default layout), so it fills with it.
    const index = new RecordingIndex(path.join(recordings, 'index.db'))
    const recorder = new Recorder({
      cameraId: 'cam',
      stream: 'main',
      dir: recordings,
      index,
      segmentSeconds: 1,
      logger,
    })
    // One-second segments of one fragment each: most writes happen as a segment closes, where the
    // failure used to leave the file open.
    recorder.start(h264StreamInfo())
    let i = 0
    const t0 = Date.now()
    const play = async (frames: number) => {
      for (const end = i + frames; i < end; i++) {
        await recorder.frame(clipAccessUnit(clip, i, t0))
      }
    }
    // About 32 KB a second: full after a minute or so; then 20 s more of failing writes.
    for (let s = 0; s < 300 && recorder.lastError === undefined; s++) await play(15)
    expect(recorder.lastError).toMatch(/ENOSPC|no space|disk is full/i)
    await play(20 * 15)
    const full = handles(recordings)
    expect(full.deleted).toEqual([])
    expect(full.open.length).toBeLessThanOrEqual(1)

    // Retention makes room (a floor of 256 KiB free), deleting the oldest segments.
    const deleted = enforceRetention(
      index,
      { retentionDays: new Map(), minFreeBytes: 256 * 1024, dir: recordings },
      logger,
    )
    expect(deleted.length).toBeGreaterThan(0)
    expect(handles(recordings).deleted).toEqual([])

    // Recording resumes: new segments close with durable fragments.
    const before = index.closedSegmentsOldestFirst('cam').at(-1)?.id ?? 0
    await play(6 * 15)
    const after = index.closedSegmentsOldestFirst('cam').filter((s) => s.id > before)
    expect(after.length).toBeGreaterThanOrEqual(2)
    for (const s of after) expect(index.fragments(s.id).length).toBeGreaterThanOrEqual(1)
    await recorder.stop('test')
    expect(handles(recordings)).toEqual({ open: [], deleted: [] })
    index.close()
  })
})
