import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { SnapshotStore } from './snapshot-store.ts'

const CAM = '11111111-1111-4111-8111-111111111111'
const OTHER = '22222222-2222-4222-8222-222222222222'
const EV = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'
const EV2 = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9])
const DAY = 86_400_000

let dir: string
afterEach(() => rmSync(dir, { recursive: true, force: true }))
const store = () => {
  dir = mkdtempSync(path.join(tmpdir(), 'snapshots-'))
  return new SnapshotStore(dir)
}

describe('SnapshotStore', () => {
  it('stores a snapshot with its frame time and box, and replaces it', () => {
    const s = store()
    s.save({ cameraId: CAM, eventId: EV, frameTime: 1000, box: [0.1, 0.2, 0.3, 0.4] }, JPEG)
    expect(s.read(CAM, EV)).toEqual({
      jpeg: JPEG,
      meta: { cameraId: CAM, eventId: EV, frameTime: 1000, box: [0.1, 0.2, 0.3, 0.4] },
    })
    const better = Buffer.concat([JPEG, JPEG])
    s.save({ cameraId: CAM, eventId: EV, frameTime: 2000, box: [0.2, 0.2, 0.3, 0.4] }, better)
    expect(s.read(CAM, EV)?.jpeg).toEqual(better)
    expect(readdirSync(path.join(dir, 'snapshots', CAM)).sort()).toEqual([`${EV}.jpg`, `${EV}.json`])
  })

  it('has nothing for unknown or hostile ids, and refuses to write them', () => {
    const s = store()
    expect(s.read(CAM, EV)).toBeUndefined()
    expect(s.read('../../etc', 'passwd')).toBeUndefined()
    expect(() => s.save({ cameraId: '../x', eventId: EV, frameTime: 1, box: [0, 0, 1, 1] }, JPEG)).toThrow(
      RangeError,
    )
    expect(() => s.save({ cameraId: CAM, eventId: 'a/b', frameTime: 1, box: [0, 0, 1, 1] }, JPEG)).toThrow(
      RangeError,
    )
  })

  it('treats a JPEG without its JSON (a save cut short) as absent, and a damaged JSON too', () => {
    const s = store()
    s.save({ cameraId: CAM, eventId: EV, frameTime: 1000, box: [0, 0, 1, 1] }, JPEG)
    rmSync(path.join(dir, 'snapshots', CAM, `${EV}.json`))
    expect(s.read(CAM, EV)).toBeUndefined()
    writeFileSync(path.join(dir, 'snapshots', CAM, `${EV}.json`), '{"frameTime":"x"')
    expect(s.read(CAM, EV)).toBeUndefined()
  })

  it('removes snapshots past their camera retention, a removed camera by the default, and leftovers', () => {
    const s = store()
    const now = 100 * DAY
    s.save({ cameraId: CAM, eventId: EV, frameTime: now - 3 * DAY, box: [0, 0, 1, 1] }, JPEG)
    s.save({ cameraId: CAM, eventId: EV2, frameTime: now - 1 * DAY, box: [0, 0, 1, 1] }, JPEG)
    s.save({ cameraId: OTHER, eventId: EV, frameTime: now - 10 * DAY, box: [0, 0, 1, 1] }, JPEG)
    const camDir = path.join(dir, 'snapshots', CAM)
    writeFileSync(path.join(camDir, 'x.jpg.tmp'), 'partial')
    const orphan = path.join(camDir, 'cccccccc-cccc-4ccc-8ccc-cccccccccccc.jpg')
    writeFileSync(orphan, JPEG)
    utimesSync(orphan, new Date(0), new Date(0))
    expect(s.enforceRetention(new Map([[CAM, 2]]), 30, now)).toBe(1)
    expect(s.read(CAM, EV)).toBeUndefined()
    expect(s.read(CAM, EV2)).toBeDefined()
    expect(s.read(OTHER, EV)).toBeDefined() // 10 days < the default 30
    expect(existsSync(orphan)).toBe(false)
    expect(readdirSync(camDir).sort()).toEqual([`${EV2}.jpg`, `${EV2}.json`])
    expect(s.enforceRetention(new Map(), 0.5, now)).toBe(2)
    expect(readdirSync(path.join(dir, 'snapshots'))).toEqual([])
  })
})
