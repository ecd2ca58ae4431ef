import { useState } from 'react'
import { Link } from 'react-router'
import { api, describeError } from '../../../api/client.ts'
import type { Tenant } from '../../../api/types.ts'
import { ErrorNotice } from '../../../components/ErrorNotice.tsx'
import { formatTime } from '../../../components/format.ts'
import { fetchAll } from '../../../components/useCatalog.ts'
import { usePageTitle } from '../../../components/usePageTitle.ts'
import { can, useMe } from '../../../session/session.tsx'
import { ConfirmButton } from '../common/ConfirmButton.tsx'
import { CreateForm, fieldText } from '../common/CreateForm.tsx'
import { EditForm } from '../common/EditForm.tsx'
import { Feedback, type Outcome } from '../common/Feedback.tsx'
import { useLoaded } from '../common/useLoaded.ts'
import '../common/admin.css'

const SLUG_PATTERN = '[a-z0-9][a-z0-9\\-]{0,62}'

/**
 * Tenants: the organisations a hub serves. System administrators see and create them all, rename
 * them or change their slug (what users type as "Tenant" when signing in), and delete a tenant
 * that has no sites left. Others see their own tenant, and rename it with tenant.manage.
 */
export function TenantsPage() {
  usePageTitle('Tenants')
  const me = useMe()
  const tenants = useLoaded((signal) =>
    fetchAll<Tenant>('/api/v1/tenants', signal).then((items) =>
      items.sort((a, b) => a.slug.localeCompare(b.slug)),
    ),
  )
  const [outcome, setOutcome] = useState<Outcome>()
  const [editing, setEditing] = useState<Tenant>()

  const mayEdit = (t: Tenant) => me.systemAdmin || (t.id === me.tenantId && can(me, 'tenant.manage'))

  const create = (fields: FormData) =>
    api.post<Tenant>('/api/v1/tenants', { slug: fieldText(fields, 'slug'), name: fieldText(fields, 'name') })

  const remove = async (t: Tenant) => {
    try {
      await api.delete(`/api/v1/tenants/${t.id}`)
      if (editing?.id === t.id) setEditing(undefined)
      setOutcome({ ok: true, text: `Deleted tenant ${t.slug}.` })
      tenants.reload()
    } catch (err) {
      setOutcome({ ok: false, text: `Could not delete tenant ${t.slug}: ${describeError(err)}` })
    }
  }

  const list = tenants.data
  return (
    <section className="page adm-page" aria-labelledby="tenants-title">
      <div className="toolbar">
        <h1 id="tenants-title">Tenants</h1>
        <p className="muted" aria-live="polite">
          {list === undefined ? 'Loading tenants…' : `${list.length} tenant${list.length === 1 ? '' : 's'}`}
        </p>
      </div>
      <ErrorNotice message={tenants.error} onRetry={tenants.reload} />
      <Feedback outcome={outcome} />
      {editing && (
        <EditTenant
          key={editing.id}
          tenant={editing}
          onDone={(updated) => {
            setEditing(undefined)
            if (updated) {
              setOutcome({ ok: true, text: `Saved tenant ${updated.slug}.` })
              tenants.reload()
            }
          }}
        />
      )}
      <div className="table-wrap">
        <table aria-label="Tenants">
          <thead>
            <tr>
              <th scope="col">Slug</th>
              <th scope="col">Name</th>
              <th scope="col" className="adm-wide-only">
                Created
              </th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list?.map((t) => (
              <tr key={t.id}>
                <td className="mono">{t.slug}</td>
                <td>{t.name}</td>
                <td className="adm-wide-only">{formatTime(t.createdAt)}</td>
                <td>
                  <div className="adm-actions">
                    {mayEdit(t) && (
                      <button
                        type="button"
                        className="ghost small"
                        aria-label={`Edit tenant ${t.slug}`}
                        onClick={() => setEditing(t)}
                      >
                        Edit
                      </button>
                    )}
                    {me.systemAdmin && t.id !== me.tenantId && (
                      <ConfirmButton
                        label="Delete"
                        accessibleName={`Delete tenant ${t.slug}`}
                        title={`Delete tenant ${t.slug}?`}
                        message={
                          <p>
                            Its users, roles and audit access go with it, and nobody can sign in to it any
                            more. A tenant that still has sites cannot be deleted: delete them first.
                          </p>
                        }
                        confirmLabel="Delete tenant"
                        onConfirm={() => remove(t)}
                      />
                    )}
                    {!mayEdit(t) && !(me.systemAdmin && t.id !== me.tenantId) && (
                      <span className="muted">—</span>
                    )}
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      {me.systemAdmin ? (
        <CreateForm
          heading="New tenant"
          submitLabel="Create tenant"
          create={create}
          onCreated={(created) => {
            setOutcome({
              ok: true,
              text: `Created tenant ${created.slug}. Give it an administrator on the Users page.`,
            })
            tenants.reload()
          }}
        >
          <label>
            Slug (what users type as “Tenant” when signing in)
            <input
              name="slug"
              required
              maxLength={63}
              pattern={SLUG_PATTERN}
              title="lowercase letters, digits and dashes, starting with a letter or digit"
              autoComplete="off"
              spellCheck={false}
            />
          </label>
          <label>
            Name
            <input name="name" required maxLength={200} autoComplete="off" />
          </label>
        </CreateForm>
      ) : (
        <p className="notice">Only system administrators create and delete tenants.</p>
      )}
      <p className="muted">
        Users and their roles are managed per tenant on the <Link to="/admin/users">Users</Link> page.
      </p>
    </section>
  )
}

function EditTenant({ tenant, onDone }: { tenant: Tenant; onDone: (updated?: Tenant) => void }) {
  const [name, setName] = useState(tenant.name)
  const [slug, setSlug] = useState(tenant.slug)
  const save = () => {
    const body: Record<string, string> = {}
    if (name.trim() !== tenant.name) body.name = name.trim()
    if (slug.trim() !== tenant.slug) body.slug = slug.trim()
    return Object.keys(body).length ? api.patch<Tenant>(`/api/v1/tenants/${tenant.id}`, body) : undefined
  }
  return (
    <EditForm heading={`Edit tenant ${tenant.slug}`} saveLabel="Save tenant" save={save} onDone={onDone}>
      <label>
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={200} />
      </label>
      <label>
        Slug
        <input
          value={slug}
          onChange={(e) => setSlug(e.target.value)}
          required
          maxLength={63}
          pattern={SLUG_PATTERN}
          title="lowercase letters, digits and dashes, starting with a letter or digit"
          spellCheck={false}
        />
      </label>
      {slug.trim() !== tenant.slug && (
        <p className="notice">Its users then sign in with “{slug.trim()}” as the tenant.</p>
      )}
    </EditForm>
  )
}
