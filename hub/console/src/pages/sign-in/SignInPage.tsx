import { type FormEvent, useState } from 'react'
import { Navigate, useNavigate, useSearchParams } from 'react-router'
import { api, describeError } from '../../api/client.ts'
import { usePageTitle } from '../../components/usePageTitle.ts'
import { useSessionState } from '../../session/session.tsx'

/** Only a path on this console: `next` must not send the user to another site after sign-in. */
export function safeNext(next: string | null): string {
  if (!next?.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/live'
  if (next.startsWith('/sign-in')) return '/live'
  return next
}

const TENANT_KEY = 'ts-vms.tenant'

export function SignInPage() {
  usePageTitle('Sign in')
  const [params] = useSearchParams()
  const navigate = useNavigate()
  const state = useSessionState()
  const next = safeNext(params.get('next'))
  const [tenant, setTenant] = useState(() => {
    try {
      return localStorage.getItem(TENANT_KEY) ?? ''
    } catch {
      return ''
    }
  })
  const [username, setUsername] = useState('')
  const [password, setPassword] = useState('')
  const [error, setError] = useState<string>()
  const [busy, setBusy] = useState(false)

  if (state === 'signed-in' && !busy) return <Navigate to={next} replace />

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(undefined)
    try {
      await api.signIn(tenant.trim(), username.trim(), password)
      try {
        localStorage.setItem(TENANT_KEY, tenant.trim())
      } catch {}
      navigate(next, { replace: true })
    } catch (err) {
      setError(describeError(err))
      setBusy(false)
    }
  }

  return (
    <main className="sign-in">
      <form onSubmit={(e) => void submit(e)} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">TS-VMS</h1>
        {params.get('expired') && !error && (
          <p role="status" className="notice">
            Your session has ended. Sign in again to go on where you were.
          </p>
        )}
        <label>
          Tenant
          <input
            name="tenant"
            autoComplete="organization"
            required
            maxLength={64}
            value={tenant}
            onChange={(e) => setTenant(e.target.value)}
          />
        </label>
        <label>
          Username
          <input
            name="username"
            autoComplete="username"
            required
            maxLength={200}
            value={username}
            onChange={(e) => setUsername(e.target.value)}
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            required
            maxLength={1024}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  )
}
