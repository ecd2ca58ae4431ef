import { useEffect, useMemo, useState } from 'react'
import { Link, useLocation, useNavigate } from 'react-router'
import { api, describeError } from '../../../api/client.ts'
import type { User } from '../../../api/types.ts'
import { ErrorNotice } from '../../../components/ErrorNotice.tsx'
import { formatTime } from '../../../components/format.ts'
import { fetchAll } from '../../../components/useCatalog.ts'
import { usePageTitle } from '../../../components/usePageTitle.ts'
import { can, useMe } from '../../../session/session.tsx'
import { CreateForm, fieldText } from '../common/CreateForm.tsx'
import { SelectField } from '../common/SelectField.tsx'
import { tenantSlug, useTenants } from '../common/tenants.ts'
import { UsersTabs } from './UsersTabs.tsx'

/** What a page passes to the next one it opens (e.g. "Created user …"). */
export interface NoticeState {
  notice?: string
}

/**
 * Every user the signed-in user may manage (only themself otherwise), a quick filter, and the form
 * that creates a user with a password. A new user opens on its own page, where it gets its roles.
 */
export function UserList() {
  usePageTitle('Users')
  const me = useMe()
  const tenants = useTenants()
  const navigate = useNavigate()
  const notice = (useLocation().state as NoticeState | null)?.notice
  const manager = can(me, 'user.manage')
  const [users, setUsers] = useState<User[]>()
  const [error, setError] = useState<string>()
  const [attempt, setAttempt] = useState(0)
  const [query, setQuery] = useState('')
  const multiTenant = tenants.length > 1

  // biome-ignore lint/correctness/useExhaustiveDependencies: `attempt` is the retry trigger
  useEffect(() => {
    const abort = new AbortController()
    fetchAll<User>('/api/v1/users', abort.signal).then(
      (items) => {
        setUsers(items)
        setError(undefined)
      },
      (err: unknown) => {
        if (!abort.signal.aborted) setError(describeError(err))
      },
    )
    return () => abort.abort()
  }, [attempt])

  const shown = useMemo(() => {
    const q = query.trim().toLowerCase()
    if (!users || !q) return users ?? []
    return users.filter((u) =>
      [u.username, u.displayName ?? '', u.email ?? ''].some((f) => f.toLowerCase().includes(q)),
    )
  }, [users, query])

  const create = (fields: FormData) => {
    const text = (name: string) => fieldText(fields, name)
    const tenantId = text('tenantId')
    return api.post<User>('/api/v1/users', {
      username: text('username'),
      password: String(fields.get('password') ?? ''),
      ...(text('email') ? { email: text('email') } : {}),
      ...(text('displayName') ? { displayName: text('displayName') } : {}),
      ...(tenantId && tenantId !== me.tenantId ? { tenantId } : {}),
    })
  }

  return (
    <section className="page admin-page">
      <div className="toolbar">
        <h1>Users</h1>
        <UsersTabs />
      </div>
      {notice && (
        <p role="status" className="notice">
          {notice}
        </p>
      )}
      <ErrorNotice message={error} onRetry={() => setAttempt((n) => n + 1)} />
      {!manager && (
        <p className="notice">
          You can see only your own account: managing users needs the user.manage permission.
        </p>
      )}
      <div className="toolbar">
        <label>
          Find a user
          <input
            type="search"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            placeholder="name or e-mail"
          />
        </label>
        <p className="muted" aria-live="polite">
          {users === undefined
            ? 'Loading users…'
            : `${shown.length} of ${users.length} user${users.length === 1 ? '' : 's'}`}
        </p>
      </div>
      <div className="table-wrap">
        <table aria-label="Users">
          <thead>
            <tr>
              <th scope="col">Username</th>
              <th scope="col">Name</th>
              <th scope="col">E-mail</th>
              <th scope="col">Status</th>
              <th scope="col">Last sign-in</th>
              {multiTenant && <th scope="col">Tenant</th>}
            </tr>
          </thead>
          <tbody>
            {shown.map((u) => (
              <tr key={u.id}>
                <td>
                  <Link to={`/admin/users/${u.id}`}>{u.username}</Link>
                </td>
                <td>{u.displayName ?? '—'}</td>
                <td className="wrap-anywhere">{u.email ?? '—'}</td>
                <td>
                  <span className={`badge ${u.disabled ? 'badge-bad' : 'badge-ok'}`}>
                    {u.disabled ? 'Disabled' : 'Active'}
                  </span>
                </td>
                <td>{u.lastLoginAt ? formatTime(u.lastLoginAt) : 'never'}</td>
                {multiTenant && <td>{tenantSlug(tenants, u.tenantId)}</td>}
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      {manager && (
        <CreateForm
          className="stack-form create-form"
          heading="New user"
          submitLabel="Create user"
          create={create}
          onCreated={(created) =>
            navigate(`/admin/users/${created.id}`, {
              state: {
                notice: `Created user ${created.username}. Give them a role below.`,
              } satisfies NoticeState,
            })
          }
        >
          {multiTenant && (
            <SelectField label="Tenant" name="tenantId" defaultValue={me.tenantId}>
              {tenants.map((t) => (
                <option key={t.id} value={t.id}>
                  {t.slug} ({t.name})
                </option>
              ))}
            </SelectField>
          )}
          <label>
            Username
            <input name="username" required maxLength={100} autoComplete="off" spellCheck={false} />
          </label>
          <label>
            Password
            <input name="password" type="password" required maxLength={4096} autoComplete="new-password" />
          </label>
          <p className="muted small-text">
            Give the user this password privately; they can change it after signing in.
          </p>
          <label>
            Display name (optional)
            <input name="displayName" maxLength={200} autoComplete="off" />
          </label>
          <label>
            E-mail (optional, for password resets)
            <input name="email" type="email" maxLength={320} autoComplete="off" />
          </label>
        </CreateForm>
      )}
    </section>
  )
}
