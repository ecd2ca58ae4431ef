import { spawn as nodeSpawn } from 'node:child_process'
import { type Component, DEFINITIONS } from './service-definition.ts'

/**
 * The Windows Event Log, written from Node: start, stop, fatal errors and critical alarms (disk
 * full, recording stopped). Everything else goes to the JSON log files only.
 *
 * Written by `eventcreate.exe` (in every Windows since XP, works in Windows PowerShell and pwsh
 * alike) as a child process whose arguments are an array: no shell ever parses the message. The
 * source is registered at install (windows-plan.ts runs eventcreate as administrator once; the
 * service account can then write to it). On any other platform nothing is written.
 */

export type EventType = 'INFORMATION' | 'WARNING' | 'ERROR'

/** Event ids (eventcreate accepts 1 to 1000). */
export const EVENT_IDS = {
  installed: 1,
  started: 100,
  stopping: 101,
  fatal: 900,
  diskFull: 500,
  recordingStopped: 501,
} as const

export interface ServiceEvent {
  type: EventType
  id: number
  message: string
}

/** eventcreate's message limit is about 32 KB; events stay short, details are in the JSON log. */
const MAX_MESSAGE = 2000

export function sanitizeMessage(message: string): string {
  // Control characters (newlines included) would make the event unreadable; keep one line.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  const oneLine = message.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim()
  return (oneLine || '(no message)').slice(0, MAX_MESSAGE)
}

export function eventCreateArgs(source: string, type: EventType, id: number, message: string): string[] {
  if (!Number.isInteger(id) || id < 1 || id > 1000)
    throw new Error(`event id ${id}: eventcreate takes 1 to 1000`)
  return ['/L', 'APPLICATION', '/T', type, '/SO', source, '/ID', String(id), '/D', sanitizeMessage(message)]
}

export type SpawnFn = (
  file: string,
  args: string[],
  options: { stdio: 'ignore'; windowsHide: boolean; shell: false },
) => { on(event: 'exit' | 'error', cb: (arg: unknown) => void): unknown; unref(): void }

export interface EventLogDeps {
  platform?: NodeJS.Platform
  spawn?: SpawnFn
  /** How long `write` waits for eventcreate before it gives up waiting (it is not killed). */
  timeoutMs?: number
}

export interface EventLog {
  /** Resolves true once eventcreate exited 0; false when not on Windows, on failure or timeout. Never rejects. */
  write(event: ServiceEvent): Promise<boolean>
}

export function createEventLog(component: Component, deps: EventLogDeps = {}): EventLog {
  const platform = deps.platform ?? process.platform
  const spawn = deps.spawn ?? (nodeSpawn as unknown as SpawnFn)
  const source = DEFINITIONS[component].eventSource
  const timeoutMs = deps.timeoutMs ?? 5000
  return {
    write(event) {
      if (platform !== 'win32') return Promise.resolve(false)
      return new Promise((resolve) => {
        let done = false
        const finish = (ok: boolean) => {
          if (done) return
          done = true
          clearTimeout(timer)
          resolve(ok)
        }
        const timer = setTimeout(() => finish(false), timeoutMs)
        timer.unref?.()
        try {
          const child = spawn(
            'eventcreate.exe',
            eventCreateArgs(source, event.type, event.id, event.message),
            {
              stdio: 'ignore',
              windowsHide: true,
              shell: false,
            },
          )
          child.on('error', () => finish(false))
          child.on('exit', (code) => finish(code === 0))
          child.unref()
        } catch {
          finish(false)
        }
      })
    },
  }
}

/**
 * Which log records also go to the Event Log: fatal ones, and the agent's critical alarms, matched
 * on the messages the agent logs for them (outbox-writer.ts: "ALARM: cannot write to the outbox
 * (data disk full?)..."; recorder.ts: "recording failed; ..."). Others: null.
 */
export function eventForLogRecord(level: number, msg: string | undefined): ServiceEvent | null {
  const text = msg ?? ''
  if (level >= 60) return { type: 'ERROR', id: EVENT_IDS.fatal, message: `Fatal: ${text}` }
  if (level < 50) return null
  if (/^ALARM:.*disk full/i.test(text)) return { type: 'ERROR', id: EVENT_IDS.diskFull, message: text }
  if (/^recording failed/i.test(text)) return { type: 'ERROR', id: EVENT_IDS.recordingStopped, message: text }
  return null
}

/**
 * Keeps a repeating alarm from flooding the Event Log: the same event id at most once per
 * `intervalMs` (the JSON log has every occurrence).
 */
export function rateLimited(log: EventLog, intervalMs = 10 * 60_000, now: () => number = Date.now) {
  const last = new Map<number, number>()
  return (event: ServiceEvent): Promise<boolean> => {
    const t = now()
    const prev = last.get(event.id)
    if (prev !== undefined && t - prev < intervalMs) return Promise.resolve(false)
    last.set(event.id, t)
    return log.write(event)
  }
}
