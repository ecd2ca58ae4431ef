import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { cleanJsonValue, cleanText, isStorableText } from './clean-text.ts'

describe('cleanText', () => {
  it('replaces lone surrogates, keeps pairs', () => {
    expect(cleanText('a\uD800b')).toBe('a\uFFFDb')
    expect(cleanText('a\uDC00b')).toBe('a\uFFFDb')
    expect(cleanText('\uD83D\uDE00')).toBe('\uD83D\uDE00')
    expect(cleanText('\uDE00\uD83D')).toBe('\uFFFD\uFFFD')
  })
  it('removes NUL and control characters; line breaks become spaces unless kept', () => {
    expect(cleanText('a\u0000b\u0007c\u001bd\u009fe')).toBe('abcde')
    expect(cleanText('a\r\nb\tc')).toBe('a  b c')
    expect(cleanText('a\r\nb\tc\u0000', { keepLineBreaks: true })).toBe('a\r\nb\tc')
  })
  it('bounds the length, marks the cut and never splits a pair', () => {
    expect(cleanText('x'.repeat(50), { maxLength: 10 })).toBe(`${'x'.repeat(9)}…`)
    const cut = cleanText(`${'x'.repeat(8)}\uD83D\uDE00yyyy`, { maxLength: 10 })
    expect(cut).toBe(`${'x'.repeat(8)}…`)
    expect(isStorableText(cut)).toBe(true)
  })
  it('a huge string of control characters is cut before it is scanned, and marked', () => {
    const out = cleanText(`RTSP/1.0 500 ${'\u0001'.repeat(5_000_000)}`, { maxLength: 200 })
    expect(out).toBe('RTSP/1.0 500 …')
  })
  it('anything in, storable and bounded out', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 300 }),
        fc.integer({ min: 1, max: 100 }),
        (s, max) => {
          const out = cleanText(s, { maxLength: max })
          expect(out.length).toBeLessThanOrEqual(max)
          expect(isStorableText(out)).toBe(true)
          // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting none remain
          expect(out).not.toMatch(/[\u0000-\u001F\u007F-\u009F]/)
        },
      ),
    )
  })
})

describe('cleanJsonValue', () => {
  it('cleans keys and values, drops what JSON cannot hold', () => {
    expect(
      cleanJsonValue({ 'k\u0000': 'v\uD800', n: Number.NaN, f: () => 1, u: undefined, a: [1, 'x\u0000'] }),
    ).toEqual({ k: 'v\uFFFD', n: null, a: [1, 'x'] })
  })
  it('bounds depth', () => {
    let deep: unknown = 'leaf'
    for (let i = 0; i < 40; i++) deep = { d: deep }
    expect(JSON.stringify(cleanJsonValue(deep))).toContain('[too deep]')
  })
})
