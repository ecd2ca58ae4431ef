import { spawn as nodeSpawn } from 'node:child_process'

/**
 * Feeds the systemd watchdog (WatchdogSec= in the unit). Node cannot send datagrams to the notify
 * socket (no AF_UNIX datagram sockets), so each feed runs `systemd-notify WATCHDOG=1`, which the
 * unit accepts with NotifyAccess=all. The timer runs on the event loop: a loop that is stuck stops
 * the feeding and systemd restarts the service (Restart=on-failure covers a watchdog timeout).
 *
 * Only when systemd asked for it: Linux, NOTIFY_SOCKET and WATCHDOG_USEC set, and WATCHDOG_PID
 * (when set) this process. Otherwise `startWatchdog` does nothing and returns null.
 */

export type WatchdogSpawn = (
  file: string,
  args: string[],
  options: { stdio: 'ignore'; shell: false },
) => { on(event: 'error', cb: (err: unknown) => void): unknown; unref(): void }

export interface WatchdogDeps {
  env?: NodeJS.ProcessEnv
  platform?: NodeJS.Platform
  pid?: number
  spawn?: WatchdogSpawn
  setInterval?: (fn: () => void, ms: number) => { unref?(): void }
  clearInterval?: (handle: never) => void
  /** Told once when systemd-notify cannot be run (then feeding stops: the unit will restart us). */
  onError?: (err: unknown) => void
}

export interface WatchdogPlan {
  intervalMs: number
}

/** Whether and how often to feed: a third of the watchdog interval (systemd suggests half or less). */
export function watchdogPlan(
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform,
  pid: number,
): WatchdogPlan | null {
  if (platform !== 'linux') return null
  if (!env.NOTIFY_SOCKET || !env.WATCHDOG_USEC) return null
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return null
  const usec = Number(env.WATCHDOG_USEC)
  if (!Number.isFinite(usec) || usec <= 0) return null
  return { intervalMs: Math.max(1000, Math.floor(usec / 1000 / 3)) }
}

export function startWatchdog(deps: WatchdogDeps = {}): { stop(): void; intervalMs: number } | null {
  const plan = watchdogPlan(
    deps.env ?? process.env,
    deps.platform ?? process.platform,
    deps.pid ?? process.pid,
  )
  if (!plan) return null
  const spawn = deps.spawn ?? (nodeSpawn as unknown as WatchdogSpawn)
  const every = deps.setInterval ?? setInterval
  const clear = deps.clearInterval ?? (clearInterval as (h: never) => void)
  let failed = false
  const feed = () => {
    if (failed) return
    try {
      const child = spawn('systemd-notify', ['WATCHDOG=1'], { stdio: 'ignore', shell: false })
      child.on('error', (err) => {
        if (failed) return
        failed = true
        deps.onError?.(err)
      })
      child.unref()
    } catch (err) {
      failed = true
      deps.onError?.(err)
    }
  }
  feed()
  const handle = every(feed, plan.intervalMs)
  handle.unref?.()
  return { intervalMs: plan.intervalMs, stop: () => clear(handle as never) }
}
