import { useEffect, useRef, useState } from 'react'
import type { AlarmUpdate } from '../api/alarm-types.ts'
import { alarmsApi } from '../api/client.ts'
import { type StreamMessage, useLiveUpdates } from './useLiveUpdates.ts'

/**
 * The open-alarm count for the navigation's badge (issue 16), and the one place alarm updates
 * arrive: the Layout follows the live update stream once for every page, counts the open alarms
 * from `GET /api/v1/alarms?state=open&limit=1` (`open`), again at once on each `alarm` update and
 * every 30 s as a fallback (an alarm changed through another hub instance arrives only then), and
 * passes each update on to pages that listen (`useAlarmUpdates`) so they need no stream of their
 * own. A new or reopened alarm plays a short tone when the user turned the sound on.
 */
const REFRESH_MS = 30_000
const SOUND_KEY = 'ts-vms.alarm-sound'

type Listener = (update: AlarmUpdate) => void
const listeners = new Set<Listener>()

/** Calls `onUpdate` for every alarm update while the component is mounted. */
export function useAlarmUpdates(onUpdate: Listener): void {
  const latest = useRef(onUpdate)
  latest.current = onUpdate
  useEffect(() => {
    const listener: Listener = (u) => latest.current(u)
    listeners.add(listener)
    return () => {
      listeners.delete(listener)
    }
  }, [])
}

/** An `alarm` message of the live update stream, or undefined. */
export function alarmUpdateOf(m: StreamMessage): AlarmUpdate | undefined {
  if (m.type !== 'alarm' || typeof m.data !== 'object' || m.data === null) return undefined
  const d = m.data as Partial<AlarmUpdate>
  if (!d.event || !d.alarm || typeof d.alarm.id !== 'string') return undefined
  return d as AlarmUpdate
}

/** Whether the user wants a tone for new alarms (per browser; off unless turned on). */
export function alarmSoundOn(): boolean {
  try {
    return localStorage.getItem(SOUND_KEY) === 'on'
  } catch {
    return false
  }
}

export function setAlarmSound(on: boolean): void {
  try {
    if (on) localStorage.setItem(SOUND_KEY, 'on')
    else localStorage.removeItem(SOUND_KEY)
  } catch {}
  // Turned on by a click: a browser lets audio start only after a gesture, so start it now.
  if (on)
    void audio()
      ?.resume()
      .catch(() => {})
}

let context: AudioContext | undefined
function audio(): AudioContext | undefined {
  try {
    context ??= new AudioContext()
    return context
  } catch {
    return undefined
  }
}

/**
 * A short two-tone beep made by the Web Audio API (an oscillator, no audio file, nothing from the
 * network). Each beep counts in `data-alarm-beeps` on the document element, for tests.
 */
export function playAlarmTone(): void {
  const root = document.documentElement
  root.dataset.alarmBeeps = String(Number(root.dataset.alarmBeeps ?? 0) + 1)
  const ctx = audio()
  if (!ctx) return
  try {
    if (ctx.state === 'suspended') void ctx.resume().catch(() => {})
    const start = ctx.currentTime + 0.01
    const gain = ctx.createGain()
    gain.connect(ctx.destination)
    gain.gain.setValueAtTime(0.0001, start)
    gain.gain.exponentialRampToValueAtTime(0.25, start + 0.02)
    gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.45)
    for (const [freq, at] of [
      [880, 0],
      [660, 0.22],
    ] as const) {
      const osc = ctx.createOscillator()
      osc.type = 'sine'
      osc.frequency.setValueAtTime(freq, start + at)
      osc.connect(gain)
      osc.start(start + at)
      osc.stop(start + at + 0.2)
    }
  } catch {
    // No sound is better than a broken page.
  }
}

/**
 * The number of open alarms the user may handle, undefined until known (or when `enabled` is
 * false: the user has no `alarm.handle`).
 */
export function useOpenAlarms(enabled: boolean): number | undefined {
  const [open, setOpen] = useState<number>()
  const [attempt, setAttempt] = useState(0)
  const pending = useRef<ReturnType<typeof setTimeout>>(undefined)
  // biome-ignore lint/correctness/useExhaustiveDependencies: `attempt` is the reload trigger
  useEffect(() => {
    if (!enabled) return
    const abort = new AbortController()
    alarmsApi.list({ state: 'open', limit: 1 }, abort.signal).then(
      (page) => setOpen(page.open),
      () => {
        // Keep the last count; the next update or refresh tries again.
      },
    )
    return () => abort.abort()
  }, [enabled, attempt])
  useEffect(() => {
    if (!enabled) return
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') setAttempt((n) => n + 1)
    }, REFRESH_MS)
    return () => clearInterval(timer)
  }, [enabled])
  useEffect(() => () => clearTimeout(pending.current), [])
  useLiveUpdates((m) => {
    const update = alarmUpdateOf(m)
    if (!update) return
    if ((update.event === 'opened' || update.event === 'reopened') && alarmSoundOn()) playAlarmTone()
    for (const l of listeners) l(update)
    // A burst (an agent's cameras all going down) becomes one count.
    if (pending.current) return
    pending.current = setTimeout(() => {
      pending.current = undefined
      setAttempt((n) => n + 1)
    }, 150)
  }, enabled)
  return enabled ? open : undefined
}
