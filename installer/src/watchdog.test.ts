import { describe, expect, it } from 'vitest'
import { startWatchdog, type WatchdogSpawn, watchdogPlan } from './watchdog.ts'

const ENV = { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '60000000', WATCHDOG_PID: '42' }

describe('systemd watchdog', () => {
  it('feeds only on Linux, when systemd set NOTIFY_SOCKET and WATCHDOG_USEC for this process', () => {
    expect(watchdogPlan(ENV, 'linux', 42)).toEqual({ intervalMs: 20_000 })
    expect(watchdogPlan(ENV, 'win32', 42)).toBeNull()
    expect(watchdogPlan(ENV, 'linux', 43)).toBeNull()
    expect(watchdogPlan({ ...ENV, NOTIFY_SOCKET: undefined }, 'linux', 42)).toBeNull()
    expect(watchdogPlan({ ...ENV, WATCHDOG_USEC: undefined }, 'linux', 42)).toBeNull()
    expect(watchdogPlan({ ...ENV, WATCHDOG_USEC: 'x' }, 'linux', 42)).toBeNull()
    expect(watchdogPlan({ NOTIFY_SOCKET: '@x', WATCHDOG_USEC: '1000' }, 'linux', 1)).toEqual({
      intervalMs: 1000,
    })
  })

  it('runs systemd-notify WATCHDOG=1 (argument array, no shell) at once and on every tick', () => {
    const calls: Array<[string, string[], unknown]> = []
    const spawn: WatchdogSpawn = (file, args, options) => {
      calls.push([file, args, options])
      return { on: () => undefined, unref: () => undefined }
    }
    let tick: (() => void) | undefined
    let cleared = false
    const w = startWatchdog({
      env: ENV,
      platform: 'linux',
      pid: 42,
      spawn,
      setInterval: (fn, ms) => {
        expect(ms).toBe(20_000)
        tick = fn
        return {}
      },
      clearInterval: () => {
        cleared = true
      },
    })
    expect(w?.intervalMs).toBe(20_000)
    tick?.()
    expect(calls).toEqual([
      ['systemd-notify', ['WATCHDOG=1'], { stdio: 'ignore', shell: false }],
      ['systemd-notify', ['WATCHDOG=1'], { stdio: 'ignore', shell: false }],
    ])
    w?.stop()
    expect(cleared).toBe(true)
  })

  it('does nothing without systemd, and stops feeding (once told) when systemd-notify is missing', () => {
    expect(startWatchdog({ env: {}, platform: 'linux' })).toBeNull()
    const errors: unknown[] = []
    let n = 0
    let tick: (() => void) | undefined
    const spawn: WatchdogSpawn = () => {
      n++
      return {
        on: (_e, cb) => cb(new Error('spawn systemd-notify ENOENT')),
        unref: () => undefined,
      }
    }
    startWatchdog({
      env: ENV,
      platform: 'linux',
      pid: 42,
      spawn,
      setInterval: (fn) => {
        tick = fn
        return {}
      },
      onError: (e) => errors.push(e),
    })
    tick?.()
    tick?.()
    expect(n).toBe(1)
    expect(errors).toHaveLength(1)
  })
})
