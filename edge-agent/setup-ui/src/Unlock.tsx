import { type FormEvent, useId, useState } from 'react'
import { ApiError, api } from './api.ts'

/** The PIN form: the only thing a visitor without the PIN sees. */
export function Unlock({ onUnlocked }: { onUnlocked: () => void | Promise<void> }) {
  const id = useId()
  const [pin, setPin] = useState('')
  const [error, setError] = useState<string | undefined>()
  const [busy, setBusy] = useState(false)

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    try {
      await api.unlock(pin)
      setError(undefined)
      await onUnlocked()
    } catch (err) {
      setError(
        err instanceof ApiError && err.code === 'WRONG_PIN'
          ? err.message
          : err instanceof ApiError && err.status === 429
            ? err.message
            : (err as Error).message,
      )
      setPin('')
    } finally {
      setBusy(false)
    }
  }

  return (
    <form aria-label="Unlock the setup wizard" className="card narrow" onSubmit={(e) => void submit(e)}>
      <p>
        Enter the setup PIN. It is printed on the agent's console when it starts, and written to the{' '}
        <code>setup-pin</code> file in its data directory.
      </p>
      <label htmlFor={`${id}-pin`}>Setup PIN</label>
      <input
        id={`${id}-pin`}
        type="password"
        inputMode="numeric"
        autoComplete="off"
        required
        maxLength={64}
        value={pin}
        onChange={(e) => setPin(e.target.value)}
        aria-describedby={error ? `${id}-error` : undefined}
      />
      {error && (
        <p role="alert" id={`${id}-error`} className="error">
          {error}
        </p>
      )}
      <button type="submit" disabled={busy}>
        Unlock
      </button>
    </form>
  )
}
