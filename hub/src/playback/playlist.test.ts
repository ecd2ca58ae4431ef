import { describe, expect, it } from 'vitest'
import { buildPlaylist, type PlaylistSegment } from './playlist.ts'

const T0 = Date.parse('2026-11-24T10:00:00.000Z')
const seg = (n: number, startMs: number, durationMs = 4000, initKey = 'a'): PlaylistSegment => ({
  uri: `playback/segments/${n}.m4s?token=t`,
  initKey,
  initUri: `playback/init/${initKey}.mp4?token=t`,
  startMs,
  durationMs,
})

describe('playlist', () => {
  it('writes a VOD playlist: version 7, map, a date on every segment, target duration, end', () => {
    const text = buildPlaylist([seg(1, T0), seg(2, T0 + 4000, 4400.5), seg(3, T0 + 8400.5, 1200)], {
      type: 'VOD',
    })
    expect(text.split('\n')).toEqual([
      '#EXTM3U',
      '#EXT-X-VERSION:7',
      '#EXT-X-TARGETDURATION:5',
      '#EXT-X-MEDIA-SEQUENCE:0',
      '#EXT-X-PLAYLIST-TYPE:VOD',
      '#EXT-X-INDEPENDENT-SEGMENTS',
      '#EXT-X-MAP:URI="playback/init/a.mp4?token=t"',
      '#EXT-X-PROGRAM-DATE-TIME:2026-11-24T10:00:00.000Z',
      '#EXTINF:4.000,',
      'playback/segments/1.m4s?token=t',
      '#EXT-X-PROGRAM-DATE-TIME:2026-11-24T10:00:04.000Z',
      '#EXTINF:4.401,',
      'playback/segments/2.m4s?token=t',
      '#EXT-X-PROGRAM-DATE-TIME:2026-11-24T10:00:08.400Z',
      '#EXTINF:1.200,',
      'playback/segments/3.m4s?token=t',
      '#EXT-X-ENDLIST',
      '',
    ])
  })

  it('marks gaps and overlaps beyond the tolerance, not the jitter between files', () => {
    const text = buildPlaylist(
      [seg(1, T0), seg(2, T0 + 4000 - 9), seg(3, T0 + 11_000), seg(4, T0 + 15_000), seg(5, T0 + 18_000)],
      { type: 'VOD' },
    )
    const lines = text.split('\n')
    expect(lines.filter((l) => l === '#EXT-X-DISCONTINUITY')).toHaveLength(2)
    // Before segment 3 (a 3 s gap) and before segment 5 (1 s back).
    expect(lines[lines.indexOf('playback/segments/3.m4s?token=t') - 3]).toBe('#EXT-X-DISCONTINUITY')
    expect(lines[lines.indexOf('playback/segments/5.m4s?token=t') - 3]).toBe('#EXT-X-DISCONTINUITY')
    expect(lines.filter((l) => l.startsWith('#EXT-X-MAP'))).toHaveLength(1)
    expect(lines.filter((l) => l.startsWith('#EXT-X-PROGRAM-DATE-TIME'))).toHaveLength(5)
  })

  it('starts a new map, with a discontinuity, where the init section changes', () => {
    const lines = buildPlaylist([seg(1, T0), seg(2, T0 + 4000, 4000, 'b'), seg(3, T0 + 8000, 4000, 'b')], {
      type: 'VOD',
    }).split('\n')
    const i = lines.indexOf('#EXT-X-MAP:URI="playback/init/b.mp4?token=t"')
    expect(lines[i - 1]).toBe('#EXT-X-DISCONTINUITY')
    expect(lines.filter((l) => l === '#EXT-X-DISCONTINUITY')).toHaveLength(1)
  })

  it('leaves an EVENT playlist open', () => {
    const text = buildPlaylist([seg(1, T0)], { type: 'EVENT' })
    expect(text).toContain('#EXT-X-PLAYLIST-TYPE:EVENT')
    expect(text).not.toContain('#EXT-X-ENDLIST')
  })

  it('refuses addresses that would break the playlist', () => {
    expect(() => buildPlaylist([{ ...seg(1, T0), uri: 'a\n#EXT-X-ENDLIST' }], { type: 'VOD' })).toThrow()
    expect(() => buildPlaylist([{ ...seg(1, T0), initUri: 'a"b' }], { type: 'VOD' })).toThrow()
    expect(() => buildPlaylist([seg(1, T0, 0)], { type: 'VOD' })).toThrow()
  })
})
