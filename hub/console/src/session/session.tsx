import { createContext, type ReactNode, useContext, useEffect, useState, useSyncExternalStore } from 'react'
import { api, describeError, type SessionState } from '../api/client.ts'
import type { Me } from '../api/types.ts'

/** The session's state (signed in, signed out, expired), re-rendering on change. */
export function useSessionState(): SessionState {
  return useSyncExternalStore(api.subscribe, api.getState)
}

const MeContext = createContext<Me | undefined>(undefined)

/** The signed-in user (identity, permissions, bindings); only inside <MeProvider>. */
export function useMe(): Me {
  const me = useContext(MeContext)
  if (!me) throw new Error('useMe outside MeProvider')
  return me
}

/** Whether the user holds a permission anywhere (the API still decides each request). */
export function can(me: Me, permission: string): boolean {
  return me.systemAdmin || me.permissions.includes(permission)
}

/** Loads /api/v1/me once per sign-in and provides it to the pages. */
export function MeProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me>()
  const [error, setError] = useState<string>()
  const [attempt, setAttempt] = useState(0)
  // biome-ignore lint/correctness/useExhaustiveDependencies: `attempt` is the retry button's trigger
  useEffect(() => {
    const abort = new AbortController()
    setError(undefined)
    api.get<Me>('/api/v1/me', undefined, abort.signal).then(setMe, (err: unknown) => {
      if (!abort.signal.aborted) setError(describeError(err))
    })
    return () => abort.abort()
  }, [attempt])
  if (error)
    return (
      <main className="centered">
        <p role="alert">Could not load your account: {error}</p>
        <button type="button" onClick={() => setAttempt((n) => n + 1)}>
          Try again
        </button>
      </main>
    )
  if (!me)
    return (
      <main className="centered" aria-busy="true">
        <p>Loading…</p>
      </main>
    )
  return <MeContext.Provider value={me}>{children}</MeContext.Provider>
}
