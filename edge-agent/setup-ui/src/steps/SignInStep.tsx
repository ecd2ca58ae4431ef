import { type FormEvent, useId, useState } from 'react'
import { api } from '../api.ts'
import { type StepProps, StepSection } from './StepList.tsx'

type Props = StepProps

/**
 * Step 2: the installer signs in to the hub with their own account (the installer role at this
 * site), so what the later steps change is done, and audited, as them. The session stays in the
 * agent's memory; the password is sent once and not kept.
 */
export function SignInStep({ n, step, status, onStatus, onError }: Props) {
  const id = useId()
  const [tenant, setTenant] = useState('')
  const [username, setUsername] = useState('')
  const [password, setPassword] = useState('')
  const [error, setError] = useState<string | undefined>()
  const [busy, setBusy] = useState(false)

  const who = status.installer
  if (step.state === 'done' && who) {
    return (
      <StepSection n={n} step={step}>
        <dl className="facts">
          <dt>Signed in as</dt>
          <dd>
            {who.displayName ?? who.username}
            {who.displayName ? ` (${who.username})` : ''}
          </dd>
          <dt>Tenant</dt>
          <dd>{who.tenant}</dd>
          <dt>Site</dt>
          <dd>{who.site.name}</dd>
          <dt>Roles here</dt>
          <dd>{who.roles.join(', ')}</dd>
        </dl>
        <button
          type="button"
          className="secondary"
          onClick={() => {
            api.logout().then(onStatus, (err: unknown) => setError(onError(err) || undefined))
          }}
        >
          Sign out
        </button>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
      </StepSection>
    )
  }
  if (step.state !== 'current') return <StepSection n={n} step={step} />

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    try {
      const next = await api.login(tenant, username, password)
      setPassword('')
      setError(undefined)
      onStatus(next)
    } catch (err) {
      setError(onError(err) || undefined)
    } finally {
      setBusy(false)
    }
  }

  return (
    <StepSection n={n} step={step}>
      <form aria-label="Sign in to the hub" onSubmit={(e) => void submit(e)}>
        <p>Sign in with your own hub account: it needs the installer role at this agent's site.</p>
        <label htmlFor={`${id}-tenant`}>Tenant</label>
        <input
          id={`${id}-tenant`}
          required
          autoComplete="organization"
          maxLength={63}
          value={tenant}
          onChange={(e) => setTenant(e.target.value)}
        />
        <label htmlFor={`${id}-user`}>Username</label>
        <input
          id={`${id}-user`}
          required
          autoComplete="username"
          maxLength={100}
          value={username}
          onChange={(e) => setUsername(e.target.value)}
        />
        <label htmlFor={`${id}-password`}>Password</label>
        <input
          id={`${id}-password`}
          type="password"
          required
          autoComplete="current-password"
          maxLength={4096}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
    </StepSection>
  )
}
