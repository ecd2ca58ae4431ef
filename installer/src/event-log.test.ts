import { describe, expect, it, vi } from 'vitest'
import {
  createEventLog,
  EVENT_IDS,
  eventCreateArgs,
  eventForLogRecord,
  rateLimited,
  type SpawnFn,
  sanitizeMessage,
} from './event-log.ts'

function fakeSpawn(exitCode: number | 'error' = 0) {
  const calls: Array<{ file: string; args: string[]; options: unknown }> = []
  const spawn: SpawnFn = (file, args, options) => {
    calls.push({ file, args, options })
    const handlers: Record<string, (arg: unknown) => void> = {}
    queueMicrotask(() =>
      exitCode === 'error' ? handlers['error']?.(new Error('ENOENT')) : handlers['exit']?.(exitCode),
    )
    return {
      on(event, cb) {
        handlers[event] = cb
        return this
      },
      unref() {},
    }
  }
  return { spawn, calls }
}

describe('Windows Event Log', () => {
  it('writes through eventcreate.exe with an argument array and no shell, on Windows', async () => {
    const { spawn, calls } = fakeSpawn(0)
    const log = createEventLog('agent', { platform: 'win32', spawn })
    const ok = await log.write({
      type: 'ERROR',
      id: EVENT_IDS.diskFull,
      message: 'disk "D:" full & more; rm -rf $x',
    })
    expect(ok).toBe(true)
    expect(calls).toEqual([
      {
        file: 'eventcreate.exe',
        args: [
          '/L',
          'APPLICATION',
          '/T',
          'ERROR',
          '/SO',
          'TS-VMS Agent',
          '/ID',
          '500',
          '/D',
          'disk "D:" full & more; rm -rf $x',
        ],
        options: { stdio: 'ignore', windowsHide: true, shell: false },
      },
    ])
  })

  it('does nothing on other platforms', async () => {
    const { spawn, calls } = fakeSpawn(0)
    for (const platform of ['linux', 'darwin'] as const) {
      expect(
        await createEventLog('hub', { platform, spawn }).write({
          type: 'INFORMATION',
          id: 100,
          message: 'x',
        }),
      ).toBe(false)
    }
    expect(calls).toEqual([])
  })

  it('never rejects: a failing or missing eventcreate, or one that hangs, is false', async () => {
    expect(await createEventLog('hub', { platform: 'win32', spawn: fakeSpawn(1).spawn }).write(ev())).toBe(
      false,
    )
    expect(
      await createEventLog('hub', { platform: 'win32', spawn: fakeSpawn('error').spawn }).write(ev()),
    ).toBe(false)
    const throwing: SpawnFn = () => {
      throw new Error('spawn EPERM')
    }
    expect(await createEventLog('hub', { platform: 'win32', spawn: throwing }).write(ev())).toBe(false)
    const hanging: SpawnFn = () => ({ on: () => undefined, unref: () => undefined })
    expect(
      await createEventLog('hub', { platform: 'win32', spawn: hanging, timeoutMs: 10 }).write(ev()),
    ).toBe(false)
  })

  it('keeps messages on one bounded line and ids in eventcreate range', () => {
    expect(sanitizeMessage('a\r\nb\tc\u0000')).toBe('a b c')
    expect(sanitizeMessage('x'.repeat(5000))).toHaveLength(2000)
    expect(sanitizeMessage('\n')).toBe('(no message)')
    expect(() => eventCreateArgs('S', 'ERROR', 0, 'm')).toThrow()
    expect(() => eventCreateArgs('S', 'ERROR', 1001, 'm')).toThrow()
    for (const id of Object.values(EVENT_IDS))
      expect(() => eventCreateArgs('S', 'ERROR', id, 'm')).not.toThrow()
  })

  it('sends fatal records and the critical alarms, nothing else', () => {
    expect(eventForLogRecord(60, 'unexpected error: stopping the agent cleanly')).toMatchObject({
      type: 'ERROR',
      id: EVENT_IDS.fatal,
    })
    expect(
      eventForLogRecord(
        50,
        'ALARM: cannot write to the outbox (data disk full?): records wait in memory and are retried; recording continues',
      ),
    ).toMatchObject({ id: EVENT_IDS.diskFull })
    expect(
      eventForLogRecord(50, 'recording failed; a new segment starts at the next keyframe'),
    ).toMatchObject({
      id: EVENT_IDS.recordingStopped,
    })
    expect(eventForLogRecord(50, 'metrics are not served')).toBeNull()
    expect(eventForLogRecord(40, 'recording failed; a new segment starts')).toBeNull()
    expect(eventForLogRecord(30, 'agent running')).toBeNull()
  })

  it('rate-limits a repeating alarm per event id', async () => {
    let t = 0
    const write = vi.fn(async () => true)
    const send = rateLimited({ write }, 1000, () => t)
    await send(ev(500))
    await send(ev(500))
    await send(ev(501))
    t = 1000
    await send(ev(500))
    expect(write.mock.calls.map((c) => (c as unknown as [{ id: number }])[0].id)).toEqual([500, 501, 500])
  })
})

function ev(id = 100) {
  return { type: 'ERROR' as const, id, message: 'm' }
}
