import { useCallback, useEffect, useRef, useState } from 'react'
import { describeError } from '../../../api/client.ts'

export interface Loaded<T> {
  data: T | undefined
  error: string | undefined
  /** Loads again (after a change, or from a "Try again" button). */
  reload: () => void
}

/**
 * What a page shows, loaded when it opens, again on `reload()`, and every `refreshMs` while the
 * tab is visible (states that change by themselves: agents coming and going). The last good data
 * stays on screen while a reload fails; the error says why.
 */
export function useLoaded<T>(load: (signal: AbortSignal) => Promise<T>, refreshMs?: number): Loaded<T> {
  const [data, setData] = useState<T>()
  const [error, setError] = useState<string>()
  const [attempt, setAttempt] = useState(0)
  const loader = useRef(load)
  loader.current = load
  // biome-ignore lint/correctness/useExhaustiveDependencies: `attempt` is the reload trigger
  useEffect(() => {
    const abort = new AbortController()
    loader.current(abort.signal).then(
      (d) => {
        setData(d)
        setError(undefined)
      },
      (err: unknown) => {
        if (!abort.signal.aborted) setError(describeError(err))
      },
    )
    return () => abort.abort()
  }, [attempt])
  useEffect(() => {
    if (!refreshMs) return
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') setAttempt((n) => n + 1)
    }, refreshMs)
    return () => clearInterval(timer)
  }, [refreshMs])
  const reload = useCallback(() => setAttempt((n) => n + 1), [])
  return { data, error, reload }
}
