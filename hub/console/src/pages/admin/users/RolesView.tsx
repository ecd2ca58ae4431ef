import { type FormEvent, useEffect, useMemo, useRef, useState } from 'react'
import { api, describeError } from '../../../api/client.ts'
import type { Role } from '../../../api/types.ts'
import { ErrorNotice } from '../../../components/ErrorNotice.tsx'
import { fetchAll } from '../../../components/useCatalog.ts'
import { usePageTitle } from '../../../components/usePageTitle.ts'
import { can, useMe } from '../../../session/session.tsx'
import { ConfirmButton } from '../common/ConfirmButton.tsx'
import { SelectField } from '../common/SelectField.tsx'
import { tenantSlug, useTenants } from '../common/tenants.ts'
import { PERMISSION_HELP, permissionCatalogue, TENANT_ONLY } from './permissions.ts'
import { UsersTabs } from './UsersTabs.tsx'

/**
 * The roles: the built-in ones (fixed) and the tenant's custom roles, each with its permissions.
 * Those allowed to manage roles define, change and delete custom roles; the hub refuses a role
 * with a permission its author does not hold, and the page shows why.
 */
export function RolesView() {
  usePageTitle('Roles')
  const me = useMe()
  const tenants = useTenants()
  const manager = can(me, 'role.manage')
  const multiTenant = tenants.length > 1
  const [roles, setRoles] = useState<Role[]>()
  const [error, setError] = useState<string>()
  const [attempt, setAttempt] = useState(0)
  const [editing, setEditing] = useState<Role | undefined>()
  const [formKey, setFormKey] = useState(0)
  const [status, setStatus] = useState<string>()
  const [formError, setFormError] = useState<string>()
  const [busy, setBusy] = useState(false)
  const formRef = useRef<HTMLFormElement>(null)

  // biome-ignore lint/correctness/useExhaustiveDependencies: `attempt` is the retry trigger
  useEffect(() => {
    const abort = new AbortController()
    fetchAll<Role>('/api/v1/roles', abort.signal).then(
      (items) => {
        setRoles(items)
        setError(undefined)
      },
      (err: unknown) => {
        if (!abort.signal.aborted) setError(describeError(err))
      },
    )
    return () => abort.abort()
  }, [attempt])

  const catalogue = useMemo(() => permissionCatalogue((roles ?? []).flatMap((r) => r.permissions)), [roles])

  const startEdit = (r: Role | undefined) => {
    setEditing(r)
    setFormError(undefined)
    setFormKey((k) => k + 1)
    // Editing moves to the form (below the cards); finishing leaves the focus where it was.
    if (r) requestAnimationFrame(() => formRef.current?.querySelector('input')?.focus())
  }

  const save = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault()
    const form = new FormData(e.currentTarget)
    const name = String(form.get('name') ?? '').trim()
    const description = String(form.get('description') ?? '').trim()
    const permissions = form.getAll('permissions').map(String)
    const tenantId = String(form.get('tenantId') ?? '')
    setBusy(true)
    setFormError(undefined)
    setStatus(undefined)
    try {
      if (editing) {
        const updated = await api.patch<Role>(`/api/v1/roles/${editing.id}`, {
          name,
          description: description || null,
          permissions,
        })
        setRoles((prev) => prev?.map((r) => (r.id === updated.id ? updated : r)))
        setStatus(`Saved the role ${updated.name}.`)
      } else {
        const created = await api.post<Role>('/api/v1/roles', {
          name,
          permissions,
          ...(description ? { description } : {}),
          ...(tenantId && tenantId !== me.tenantId ? { tenantId } : {}),
        })
        setRoles((prev) => [...(prev ?? []), created])
        setStatus(`Created the role ${created.name}.`)
      }
      startEdit(undefined)
    } catch (err) {
      setFormError(describeError(err))
    } finally {
      setBusy(false)
    }
  }

  const remove = async (r: Role) => {
    setStatus(undefined)
    setFormError(undefined)
    try {
      await api.delete(`/api/v1/roles/${r.id}`)
      setRoles((prev) => prev?.filter((x) => x.id !== r.id))
      if (editing?.id === r.id) startEdit(undefined)
      setStatus(`Deleted the role ${r.name}.`)
    } catch (err) {
      setError(`Could not delete ${r.name}: ${describeError(err)}`)
    }
  }

  const builtin = (roles ?? []).filter((r) => r.builtin)
  const custom = (roles ?? []).filter((r) => !r.builtin)
  const card = (r: Role) => (
    <li key={r.id} className="card">
      <h3>
        {r.name}{' '}
        <span className={`badge ${r.builtin ? '' : 'badge-ok'}`}>{r.builtin ? 'Built-in' : 'Custom'}</span>
      </h3>
      {r.description && <p>{r.description}</p>}
      {multiTenant && r.tenantId && (
        <p className="muted small-text">Tenant {tenantSlug(tenants, r.tenantId)}</p>
      )}
      {r.permissions.length === 0 ? (
        <p className="muted">No permissions.</p>
      ) : (
        <ul className="permission-list" aria-label={`Permissions of ${r.name}`}>
          {r.permissions.map((p) => (
            <li key={p}>
              <span className="mono">{p}</span>
              {PERMISSION_HELP[p] && <span className="muted"> — {PERMISSION_HELP[p]}</span>}
            </li>
          ))}
        </ul>
      )}
      {manager && !r.builtin && (
        <div className="inline-form">
          <button
            type="button"
            className="ghost small"
            aria-label={`Edit ${r.name}`}
            onClick={() => startEdit(r)}
          >
            Edit
          </button>
          <ConfirmButton
            label="Delete"
            className="danger small"
            accessibleName={`Delete ${r.name}`}
            title={`Delete the role ${r.name}?`}
            message={<p>A role still given to users cannot be deleted: remove those bindings first.</p>}
            confirmLabel="Delete role"
            onConfirm={() => remove(r)}
          />
        </div>
      )}
    </li>
  )

  return (
    <section className="page admin-page">
      <div className="toolbar">
        <h1>Roles</h1>
        <UsersTabs />
      </div>
      <ErrorNotice message={error} onRetry={() => setAttempt((n) => n + 1)} />
      {status && (
        <p role="status" className="notice">
          {status}
        </p>
      )}
      {roles === undefined && !error && <p>Loading roles…</p>}
      <h2>Built-in roles</h2>
      <ul className="cards plain-list">{builtin.map(card)}</ul>
      <h2>Custom roles</h2>
      {roles !== undefined && custom.length === 0 && <p className="muted">No custom roles yet.</p>}
      <ul className="cards plain-list">{custom.map(card)}</ul>

      {manager && (
        <form
          key={formKey}
          ref={formRef}
          className="stack-form role-form"
          onSubmit={(e) => void save(e)}
          aria-labelledby="role-form-heading"
        >
          <h2 id="role-form-heading">{editing ? `Edit the role ${editing.name}` : 'New custom role'}</h2>
          {!editing && multiTenant && (
            <SelectField label="Tenant" name="tenantId" defaultValue={me.tenantId}>
              {tenants.map((t) => (
                <option key={t.id} value={t.id}>
                  {t.slug} ({t.name})
                </option>
              ))}
            </SelectField>
          )}
          <label>
            Role name
            <input name="name" required maxLength={100} defaultValue={editing?.name ?? ''} />
          </label>
          <label>
            Description (optional)
            <input name="description" maxLength={500} defaultValue={editing?.description ?? ''} />
          </label>
          <fieldset className="permission-choices">
            <legend>Permissions</legend>
            {catalogue.map((p) => (
              <label key={p} className="check">
                <input
                  type="checkbox"
                  name="permissions"
                  value={p}
                  defaultChecked={editing?.permissions.includes(p) ?? false}
                />
                <span>
                  <span className="mono">{p}</span>
                  {PERMISSION_HELP[p] && <span> — {PERMISSION_HELP[p]}</span>}
                  {TENANT_ONLY.has(p) && <span className="muted"> (tenant-wide bindings only)</span>}
                </span>
              </label>
            ))}
          </fieldset>
          <p className="muted small-text">You can grant only permissions you hold yourself.</p>
          <ErrorNotice message={formError} />
          <div className="inline-form">
            <button type="submit" disabled={busy}>
              {editing ? 'Save role' : 'Create role'}
            </button>
            {editing && (
              <button type="button" className="ghost" onClick={() => startEdit(undefined)}>
                Cancel editing
              </button>
            )}
          </div>
        </form>
      )}
    </section>
  )
}
