import { type ReactNode, useCallback, useEffect, useState } from 'react'
import { ApiError, api, type Status, type StatusAnswer } from './api.ts'
import { CamerasStep } from './steps/CamerasStep.tsx'
import { CheckStep } from './steps/CheckStep.tsx'
import { EnrollStep } from './steps/EnrollStep.tsx'
import { RecordingStep } from './steps/RecordingStep.tsx'
import { SignInStep } from './steps/SignInStep.tsx'
import { StepList } from './steps/StepList.tsx'
import { Unlock } from './Unlock.tsx'

/**
 * The wizard: locked until the setup PIN is entered, then its steps in order. Each step is a
 * section of its own, saying why it cannot be done yet when it cannot.
 */
export function App() {
  const [status, setStatus] = useState<StatusAnswer | undefined>()
  const [finished, setFinished] = useState(false)
  const [error, setError] = useState<string | undefined>()

  const refresh = useCallback(async () => {
    try {
      setStatus(await api.status())
      setError(undefined)
    } catch (err) {
      setError((err as Error).message)
    }
  }, [])

  useEffect(() => {
    void refresh()
  }, [refresh])

  // While unlocked, the hub's reachability is checked now and then.
  useEffect(() => {
    if (!status || status.locked || finished) return
    const timer = setInterval(() => void refresh(), 15_000)
    return () => clearInterval(timer)
  }, [status, finished, refresh])

  /** An answer from a step: a new status, or back to the PIN when the session ended. */
  const onStatus = (s: Status) => setStatus(s)
  const onError = useCallback((err: unknown): string => {
    if (err instanceof ApiError && err.code === 'LOCKED') {
      setStatus({ locked: true })
      return ''
    }
    return (err as Error).message
  }, [])

  if (finished) {
    return (
      <Shell>
        <section aria-labelledby="done-title" className="card">
          <h2 id="done-title">Setup is finished</h2>
          <p role="status">
            The setup wizard is closed. To open it again, run <code>npm run agent -- setup</code> on this
            machine.
          </p>
        </section>
      </Shell>
    )
  }
  if (!status) {
    return <Shell>{error ? <p role="alert">{error}</p> : <p>Loading…</p>}</Shell>
  }
  if (status.locked) return <Shell>{<Unlock onUnlocked={refresh} />}</Shell>

  const step = (id: string) => status.steps.find((s) => s.id === id)
  return (
    <Shell>
      <Summary status={status} />
      <div className="layout">
        <StepList steps={status.steps} />
        <div className="steps">
          {error && <p role="alert">{error}</p>}
          {status.steps.map((s, i) => {
            const n = i + 1
            if (s.id === 'enroll')
              return (
                <EnrollStep key={s.id} n={n} step={s} status={status} onStatus={onStatus} onError={onError} />
              )
            if (s.id === 'sign-in')
              return (
                <SignInStep key={s.id} n={n} step={s} status={status} onStatus={onStatus} onError={onError} />
              )
            if (s.id === 'cameras')
              return (
                <CamerasStep
                  key={s.id}
                  n={n}
                  step={s}
                  status={status}
                  onStatus={onStatus}
                  onError={onError}
                />
              )
            if (s.id === 'recording')
              return (
                <RecordingStep
                  key={s.id}
                  n={n}
                  step={s}
                  status={status}
                  onStatus={onStatus}
                  onError={onError}
                />
              )
            return <CheckStep key={s.id} n={n} step={s} onError={onError} />
          })}
          <section aria-labelledby="finish-title" className="card actions">
            <h2 id="finish-title" className="visually-hidden">
              Close the wizard
            </h2>
            <FinishButton
              disabled={step('enroll')?.state !== 'done'}
              onFinished={() => setFinished(true)}
              onError={onError}
            />
            <button
              type="button"
              className="secondary"
              onClick={() => {
                void api.lock().finally(() => setStatus({ locked: true }))
              }}
            >
              Lock
            </button>
          </section>
        </div>
      </div>
    </Shell>
  )
}

function Shell({ children }: { children: ReactNode }) {
  return (
    <>
      <header className="top">
        <span className="brand">TS-VMS</span> <span>agent setup</span>
      </header>
      <main>
        <h1>Set up this agent</h1>
        {children}
      </main>
    </>
  )
}

/** Who is signed in and where, and whether the hub answers. */
function Summary({ status }: { status: Status }) {
  const who = status.installer
  return (
    <section aria-label="Setup summary" className="summary">
      <p>
        {status.agent ? (
          <>
            Hub: <strong>{status.agent.hubUrl}</strong>{' '}
            {status.hub && (
              <span className={status.hub.reachable ? 'badge ok' : 'badge bad'}>
                {status.hub.reachable ? 'reachable' : 'unreachable'}
              </span>
            )}
          </>
        ) : (
          'Not connected to a hub yet.'
        )}
      </p>
      <p>
        {who ? (
          <>
            Signed in as <strong>{who.displayName ?? who.username}</strong>
            {who.displayName ? ` (${who.username})` : ''} · tenant <strong>{who.tenant}</strong> · site{' '}
            <strong>{who.site.name}</strong>
          </>
        ) : (
          'Nobody is signed in to the hub.'
        )}
      </p>
    </section>
  )
}

function FinishButton(props: { disabled: boolean; onFinished: () => void; onError: (e: unknown) => string }) {
  const [error, setError] = useState<string | undefined>()
  const [busy, setBusy] = useState(false)
  return (
    <>
      <button
        type="button"
        disabled={props.disabled || busy}
        onClick={() => {
          setBusy(true)
          api.finish().then(props.onFinished, (err: unknown) => {
            setError(props.onError(err) || undefined)
            setBusy(false)
          })
        }}
      >
        Finish setup
      </button>
      {error && <p role="alert">{error}</p>}
    </>
  )
}
