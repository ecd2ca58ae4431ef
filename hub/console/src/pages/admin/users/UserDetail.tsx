import { type FormEvent, useCallback, useEffect, useState } from 'react'
import { Link, useLocation, useNavigate, useParams } from 'react-router'
import { api, describeError } from '../../../api/client.ts'
import type { Page, Role, RoleBinding, Scope, User } from '../../../api/types.ts'
import { ErrorNotice } from '../../../components/ErrorNotice.tsx'
import { formatTime } from '../../../components/format.ts'
import { useCatalog } from '../../../components/useCatalog.ts'
import { usePageTitle } from '../../../components/usePageTitle.ts'
import { can, useMe } from '../../../session/session.tsx'
import { ConfirmButton } from '../common/ConfirmButton.tsx'
import { SelectField } from '../common/SelectField.tsx'
import { tenantSlug as slugOf, useTenants } from '../common/tenants.ts'
import { TENANT_ONLY } from './permissions.ts'
import type { NoticeState } from './UserList.tsx'
import { UsersTabs } from './UsersTabs.tsx'

type Section = 'account' | 'password' | 'bindings'
interface Feedback {
  section: Section
  ok: boolean
  text: string
}

/** What happened after the last action in a section: a status, or a readable error. */
function SectionFeedback({ feedback, section }: { feedback: Feedback | undefined; section: Section }) {
  if (!feedback || feedback.section !== section) return null
  return feedback.ok ? (
    <p role="status" className="notice">
      {feedback.text}
    </p>
  ) : (
    <ErrorNotice message={feedback.text} />
  )
}

const SCOPE_LABELS: Record<Scope['type'], string> = {
  tenant: 'Whole tenant',
  site: 'One site (and its cameras)',
  camera: 'One camera',
}

/**
 * One user: their account (enable, disable, delete), their password (set a new one, or mail them
 * a reset link), and their role bindings at tenant, site or camera scope. The hub refuses what the
 * signed-in user may not do (e.g. granting more than they hold), and the page says why.
 */
export function UserDetail() {
  const { id = '' } = useParams()
  const me = useMe()
  const navigate = useNavigate()
  const notice = (useLocation().state as NoticeState | null)?.notice
  const tenants = useTenants()
  const catalog = useCatalog()
  const [user, setUser] = useState<User>()
  const [bindings, setBindings] = useState<RoleBinding[]>([])
  const [roles, setRoles] = useState<Role[]>([])
  const [error, setError] = useState<string>()
  const [attempt, setAttempt] = useState(0)
  const [feedback, setFeedback] = useState<Feedback>()
  const [busy, setBusy] = useState(false)
  const [scopeType, setScopeType] = useState<Scope['type']>('tenant')
  const [roleId, setRoleId] = useState('')
  usePageTitle(user ? `User ${user.username}` : 'User')

  // biome-ignore lint/correctness/useExhaustiveDependencies: `attempt` is the retry trigger
  useEffect(() => {
    const abort = new AbortController()
    setError(undefined)
    Promise.all([
      api.get<User>(`/api/v1/users/${encodeURIComponent(id)}`, undefined, abort.signal),
      api.get<Page<RoleBinding>>(
        `/api/v1/users/${encodeURIComponent(id)}/role-bindings`,
        undefined,
        abort.signal,
      ),
    ])
      .then(async ([u, b]) => {
        setUser(u)
        setBindings(b.items)
        const r = await api.get<Page<Role>>(
          '/api/v1/roles',
          { tenantId: u.tenantId, limit: 500 },
          abort.signal,
        )
        setRoles(r.items.filter((x) => x.tenantId === null || x.tenantId === u.tenantId))
      })
      .catch((err: unknown) => {
        if (!abort.signal.aborted) setError(describeError(err))
      })
    return () => abort.abort()
  }, [id, attempt])

  /** Runs one action of a section, reporting its outcome there. */
  const run = useCallback(async (section: Section, action: () => Promise<string>) => {
    setBusy(true)
    setFeedback(undefined)
    try {
      setFeedback({ section, ok: true, text: await action() })
      return true
    } catch (err) {
      setFeedback({ section, ok: false, text: describeError(err) })
      return false
    } finally {
      setBusy(false)
    }
  }, [])

  if (error)
    return (
      <section className="page admin-page">
        <div className="toolbar">
          <h1>User</h1>
          <UsersTabs />
        </div>
        <ErrorNotice
          message={`Could not load this user: ${error}`}
          onRetry={() => setAttempt((n) => n + 1)}
        />
        <p>
          <Link to="/admin/users">Back to the users</Link>
        </p>
      </section>
    )
  if (!user)
    return (
      <section className="page admin-page" aria-busy="true">
        <h1>User</h1>
        <p>Loading…</p>
      </section>
    )

  const manager = can(me, 'user.manage')
  const isSelf = user.id === me.id
  const tenantSlug =
    tenants.find((t) => t.id === user.tenantId)?.slug ??
    (user.tenantId === me.tenantId ? me.tenantSlug : undefined)
  const userSites = catalog.sites.filter((s) => s.tenantId === user.tenantId)
  const userCameras = catalog.cameras.filter((c) => c.tenantId === user.tenantId)
  const selectedRole = roles.find((r) => r.id === roleId)

  const scopeText = (s: Scope): string => {
    if (s.type === 'tenant') return 'Whole tenant'
    if (s.type === 'site') {
      const site = catalog.sites.find((x) => x.id === s.id)
      return `Site ${site ? site.name : '(not visible to you)'}`
    }
    const cam = catalog.cameras.find((x) => x.id === s.id)
    return `Camera ${cam ? `${cam.name} (${catalog.siteName(cam.siteId)})` : '(not visible to you)'}`
  }

  const patch = (body: Record<string, unknown>) => api.patch<User>(`/api/v1/users/${user.id}`, body)

  const setDisabled = (disabled: boolean) =>
    run('account', async () => {
      setUser(await patch({ disabled }))
      return disabled
        ? `Disabled ${user.username}: they cannot sign in, and their sessions have ended.`
        : `Enabled ${user.username}: they can sign in again.`
    })

  const remove = async () => {
    const ok = await run('account', async () => {
      await api.delete(`/api/v1/users/${user.id}`)
      return `Deleted ${user.username}.`
    })
    if (ok)
      navigate('/admin/users', { state: { notice: `Deleted user ${user.username}.` } satisfies NoticeState })
  }

  const saveDetails = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault()
    const form = new FormData(e.currentTarget)
    const displayName = String(form.get('displayName') ?? '').trim()
    const email = String(form.get('email') ?? '').trim()
    const currentPassword = String(form.get('currentPassword') ?? '')
    void run('account', async () => {
      setUser(
        await patch({
          displayName: displayName || null,
          email: email || null,
          ...(currentPassword ? { currentPassword } : {}),
        }),
      )
      return 'Saved the details.'
    })
  }

  const setPassword = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault()
    const el = e.currentTarget
    const form = new FormData(el)
    const password = String(form.get('password') ?? '')
    const currentPassword = String(form.get('currentPassword') ?? '')
    void run('password', async () => {
      setUser(await patch({ password, ...(isSelf ? { currentPassword } : {}) }))
      el.reset()
      return isSelf
        ? 'Your password is changed; your other sessions have ended.'
        : `Set a new password for ${user.username}; their sessions have ended. Tell them the new password privately.`
    })
  }

  const sendReset = () =>
    run('password', async () => {
      if (!tenantSlug || !user.email) throw new Error('This user has no e-mail address to send a link to.')
      const res = await api.post<{ message: string }>('/api/v1/auth/password-reset', {
        tenant: tenantSlug,
        email: user.email,
      })
      return `Asked the hub to mail ${user.email} a reset link. ${res.message}`
    })

  const addBinding = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault()
    const form = new FormData(e.currentTarget)
    const scope: Scope =
      scopeType === 'tenant'
        ? { type: 'tenant' }
        : { type: scopeType, id: String(form.get(scopeType === 'site' ? 'siteId' : 'cameraId') ?? '') }
    void run('bindings', async () => {
      const created = await api.post<RoleBinding>(`/api/v1/users/${user.id}/role-bindings`, {
        role: roleId,
        scope,
      })
      setBindings((prev) => [...prev, created])
      return `Gave ${user.username} the role ${created.role.name} (${scopeText(created.scope)}).`
    })
  }

  const removeBinding = (b: RoleBinding) =>
    run('bindings', async () => {
      await api.delete(`/api/v1/users/${user.id}/role-bindings/${b.id}`)
      setBindings((prev) => prev.filter((x) => x.id !== b.id))
      return `Removed the role ${b.role.name} (${scopeText(b.scope)}) from ${user.username}.`
    })

  return (
    <section className="page admin-page">
      <div className="toolbar">
        <h1>
          User <span className="mono">{user.username}</span>
        </h1>
        <UsersTabs />
      </div>
      <p>
        <Link to="/admin/users">Back to the users</Link>
      </p>
      {notice && (
        <p role="status" className="notice">
          {notice}
        </p>
      )}

      <div className="admin-sections">
        <section className="card" aria-labelledby="account-heading">
          <h2 id="account-heading">Account</h2>
          <dl className="facts">
            <dt>Status</dt>
            <dd>
              <span className={`badge ${user.disabled ? 'badge-bad' : 'badge-ok'}`}>
                {user.disabled ? 'Disabled' : 'Active'}
              </span>
            </dd>
            <dt>Tenant</dt>
            <dd>{tenantSlug ?? slugOf(tenants, user.tenantId)}</dd>
            <dt>Display name</dt>
            <dd>{user.displayName ?? '—'}</dd>
            <dt>E-mail</dt>
            <dd className="wrap-anywhere">{user.email ?? '—'}</dd>
            <dt>Last sign-in</dt>
            <dd>{user.lastLoginAt ? formatTime(user.lastLoginAt) : 'never'}</dd>
            <dt>Created</dt>
            <dd>{formatTime(user.createdAt)}</dd>
          </dl>
          <SectionFeedback feedback={feedback} section="account" />
          {manager && !isSelf && (
            <div className="inline-form">
              {user.disabled ? (
                <button type="button" disabled={busy} onClick={() => void setDisabled(false)}>
                  Enable user
                </button>
              ) : (
                <ConfirmButton
                  label="Disable user"
                  title={`Disable ${user.username}?`}
                  message={
                    <p>They will not be able to sign in, and every session they have open ends now.</p>
                  }
                  confirmLabel="Disable"
                  disabled={busy}
                  onConfirm={() => setDisabled(true)}
                />
              )}
              <ConfirmButton
                label="Delete user"
                title={`Delete ${user.username}?`}
                message={
                  <p>
                    The user and their role bindings are removed for good. The audit trail keeps what they
                    did. Disabling keeps the account instead.
                  </p>
                }
                confirmLabel="Delete"
                disabled={busy}
                onConfirm={remove}
              />
            </div>
          )}
          {isSelf && <p className="muted small-text">This is you: you cannot disable or delete yourself.</p>}
          {(manager || isSelf) && (
            <details className="edit-details">
              <summary>Edit details</summary>
              <form className="stack-form" onSubmit={saveDetails} aria-label="Edit details">
                <label>
                  Display name
                  <input name="displayName" maxLength={200} defaultValue={user.displayName ?? ''} />
                </label>
                <label>
                  E-mail
                  <input name="email" type="email" maxLength={320} defaultValue={user.email ?? ''} />
                </label>
                {isSelf && (
                  <label>
                    Current password (to change your e-mail)
                    <input name="currentPassword" type="password" autoComplete="current-password" />
                  </label>
                )}
                <div>
                  <button type="submit" disabled={busy}>
                    Save details
                  </button>
                </div>
              </form>
            </details>
          )}
        </section>

        {(manager || isSelf) && (
          <section className="card" aria-labelledby="password-heading">
            <h2 id="password-heading">Password</h2>
            <form className="inline-form" onSubmit={setPassword} aria-label="Set a new password">
              {isSelf && (
                <label>
                  Current password
                  <input name="currentPassword" type="password" required autoComplete="current-password" />
                </label>
              )}
              <label>
                New password
                <input
                  name="password"
                  type="password"
                  required
                  maxLength={4096}
                  autoComplete="new-password"
                />
              </label>
              <button type="submit" disabled={busy}>
                Set password
              </button>
            </form>
            <p className="muted small-text">Setting a password ends every session the user has open.</p>
            {!isSelf &&
              (user.email ? (
                <p>
                  <button type="button" className="ghost" disabled={busy} onClick={() => void sendReset()}>
                    Send a password-reset e-mail
                  </button>
                </p>
              ) : (
                <p className="muted small-text">
                  Add an e-mail address to send the user a reset link instead.
                </p>
              ))}
            <SectionFeedback feedback={feedback} section="password" />
          </section>
        )}
      </div>

      <section aria-labelledby="bindings-heading">
        <h2 id="bindings-heading">Role bindings</h2>
        <p className="muted small-text">
          A role applies to the whole tenant, one site (with its cameras) or one camera. Permissions such as
          managing users or reading the audit trail come only from a whole-tenant binding.
        </p>
        {bindings.length === 0 ? (
          <p>No roles yet: this user can sign in but sees nothing.</p>
        ) : (
          <div className="table-wrap">
            <table aria-label="Role bindings">
              <thead>
                <tr>
                  <th scope="col">Role</th>
                  <th scope="col">Scope</th>
                  <th scope="col">Since</th>
                  {manager && (
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  )}
                </tr>
              </thead>
              <tbody>
                {bindings.map((b) => (
                  <tr key={b.id}>
                    <td>{b.role.name}</td>
                    <td>{scopeText(b.scope)}</td>
                    <td>{formatTime(b.createdAt)}</td>
                    {manager && (
                      <td>
                        <ConfirmButton
                          label="Remove"
                          className="danger small"
                          accessibleName={`Remove ${b.role.name}, ${scopeText(b.scope)}`}
                          title={`Remove ${b.role.name} from ${user.username}?`}
                          message={<p>{`${user.username} loses this role (${scopeText(b.scope)}).`}</p>}
                          confirmLabel="Remove binding"
                          disabled={busy}
                          onConfirm={() => removeBinding(b)}
                        />
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <SectionFeedback feedback={feedback} section="bindings" />
        {manager && (
          <form className="stack-form" onSubmit={addBinding} aria-labelledby="add-binding-heading">
            <h3 id="add-binding-heading">Add a role binding</h3>
            <SelectField
              label="Role"
              name="role"
              required
              value={roleId}
              onChange={(e) => setRoleId(e.target.value)}
            >
              <option value="">Choose a role</option>
              {roles.map((r) => (
                <option key={r.id} value={r.id}>
                  {r.name}
                  {r.builtin ? '' : ' (custom)'}
                </option>
              ))}
            </SelectField>
            {selectedRole && (
              <p className="muted small-text">
                Grants: {selectedRole.permissions.join(', ') || 'nothing'}
                {scopeType !== 'tenant' && selectedRole.permissions.some((p) => TENANT_ONLY.has(p))
                  ? ' (the tenant-wide ones only with a whole-tenant binding)'
                  : ''}
              </p>
            )}
            <SelectField
              label="Scope"
              name="scopeType"
              value={scopeType}
              onChange={(e) => setScopeType(e.target.value as Scope['type'])}
            >
              {(Object.keys(SCOPE_LABELS) as Scope['type'][]).map((s) => (
                <option key={s} value={s}>
                  {SCOPE_LABELS[s]}
                </option>
              ))}
            </SelectField>
            {scopeType === 'site' && (
              <SelectField label="Site" name="siteId" required defaultValue="">
                <option value="">Choose a site</option>
                {userSites.map((s) => (
                  <option key={s.id} value={s.id}>
                    {s.name}
                  </option>
                ))}
              </SelectField>
            )}
            {scopeType === 'camera' && (
              <SelectField label="Camera" name="cameraId" required defaultValue="">
                <option value="">Choose a camera</option>
                {userCameras.map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name} ({catalog.siteName(c.siteId)})
                  </option>
                ))}
              </SelectField>
            )}
            {scopeType !== 'tenant' && catalog.loading && <p className="muted">Loading sites and cameras…</p>}
            <ErrorNotice message={catalog.error} onRetry={catalog.reload} />
            <div>
              <button type="submit" disabled={busy}>
                Add role binding
              </button>
            </div>
          </form>
        )}
      </section>
    </section>
  )
}
