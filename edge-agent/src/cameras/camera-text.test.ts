import { describe, expect, it } from 'vitest'
import { cameraText, ERROR_TEXT_MAX } from './camera-manager.ts'

describe('cameraText (issue 11: a camera error into an event or the heartbeat)', () => {
  it('strips control characters and bounds the length, whatever the camera sent', () => {
    const hostile = `RTSP/1.0 500 ${'\u0001\u001b\u007f'.repeat(20_000)}`
    const text = cameraText(`the camera answered ${hostile}`)
    expect(text.length).toBeLessThanOrEqual(ERROR_TEXT_MAX)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting their absence
    expect(text).not.toMatch(/[\u0000-\u001f\u007f]/)
    expect(text).toContain('RTSP/1.0 500')
    expect(cameraText('x'.repeat(100_000)).length).toBe(ERROR_TEXT_MAX)
  })

  it('says "unknown" rather than nothing', () => {
    expect(cameraText(undefined)).toBe('unknown')
    expect(cameraText('\u0001\u0002')).toBe('unknown')
    expect(cameraText('refused')).toBe('refused')
  })
})
