import { useId, useState } from 'react'
import { Link } from 'react-router'
import { api, describeError } from '../../../api/client.ts'
import type { Agent, Camera, Site } from '../../../api/types.ts'
import { ErrorNotice } from '../../../components/ErrorNotice.tsx'
import { formatTime } from '../../../components/format.ts'
import { fetchAll } from '../../../components/useCatalog.ts'
import { usePageTitle } from '../../../components/usePageTitle.ts'
import { can, useMe } from '../../../session/session.tsx'
import { ConfirmButton } from '../common/ConfirmButton.tsx'
import { CreateForm, fieldText } from '../common/CreateForm.tsx'
import { EditForm } from '../common/EditForm.tsx'
import { Feedback, type Outcome } from '../common/Feedback.tsx'
import { SelectField } from '../common/SelectField.tsx'
import { tenantSlug, useTenants } from '../common/tenants.ts'
import { useLoaded } from '../common/useLoaded.ts'
import '../common/admin.css'
import { type Enrollment, EnrollmentCode } from './EnrollmentCode.tsx'

interface SitesData {
  sites: Site[]
  agents: Agent[]
  cameras: Camera[]
}

/**
 * Sites: the places (a store, a branch) whose cameras one or more agents record. Create, edit (name,
 * time zone) and delete them (a site with cameras cannot be deleted), and make the one-time code
 * with which an agent enrolls into a site: shown once, copyable, valid until it expires or is used.
 */
export function SitesPage() {
  usePageTitle('Sites')
  const me = useMe()
  const tenants = useTenants()
  const multiTenant = tenants.length > 1
  const manageSites = can(me, 'site.manage')
  const manageAgents = can(me, 'agent.manage')
  const loaded = useLoaded<SitesData>(async (signal) => {
    const [sites, agents, cameras] = await Promise.all([
      fetchAll<Site>('/api/v1/sites', signal),
      fetchAll<Agent>('/api/v1/agents', signal),
      fetchAll<Camera>('/api/v1/cameras', signal),
    ])
    return { sites, agents, cameras }
  })
  const [outcome, setOutcome] = useState<Outcome>()
  const [editing, setEditing] = useState<Site>()
  const [enrollment, setEnrollment] = useState<Enrollment>()

  const create = (fields: FormData) => {
    const tenantId = fieldText(fields, 'tenantId')
    const timeZone = fieldText(fields, 'timeZone')
    return api.post<Site>('/api/v1/sites', {
      name: fieldText(fields, 'name'),
      ...(timeZone ? { timeZone } : {}),
      ...(tenantId && tenantId !== me.tenantId ? { tenantId } : {}),
    })
  }

  const remove = async (s: Site) => {
    try {
      await api.delete(`/api/v1/sites/${s.id}`)
      if (editing?.id === s.id) setEditing(undefined)
      if (enrollment?.site.id === s.id) setEnrollment(undefined)
      setOutcome({ ok: true, text: `Deleted site ${s.name}.` })
      loaded.reload()
    } catch (err) {
      setOutcome({ ok: false, text: `Could not delete site ${s.name}: ${describeError(err)}` })
    }
  }

  const enroll = async (s: Site) => {
    setOutcome(undefined)
    try {
      const made = await api.post<{ code: string; expiresAt: string; siteId: string }>(
        `/api/v1/sites/${s.id}/enrollments`,
      )
      setEnrollment({ site: s, code: made.code, expiresAt: made.expiresAt })
    } catch (err) {
      setOutcome({
        ok: false,
        text: `Could not create an enrollment code for ${s.name}: ${describeError(err)}`,
      })
    }
  }

  const data = loaded.data
  const agentsOf = (siteId: string) => data?.agents.filter((a) => a.siteId === siteId && !a.revokedAt) ?? []
  const camerasOf = (siteId: string) => data?.cameras.filter((c) => c.siteId === siteId).length ?? 0
  return (
    <section className="page adm-page" aria-labelledby="sites-title">
      <div className="toolbar">
        <h1 id="sites-title">Sites</h1>
        <p className="muted" aria-live="polite">
          {data === undefined
            ? 'Loading sites…'
            : `${data.sites.length} site${data.sites.length === 1 ? '' : 's'}`}
        </p>
      </div>
      <ErrorNotice message={loaded.error} onRetry={loaded.reload} />
      <Feedback outcome={outcome} />
      {enrollment && (
        <EnrollmentCode
          key={enrollment.code}
          enrollment={enrollment}
          onDone={() => setEnrollment(undefined)}
        />
      )}
      <datalist id="time-zones">
        {TIME_ZONES.map((z) => (
          <option key={z} value={z} />
        ))}
      </datalist>
      {editing && (
        <EditSite
          key={editing.id}
          site={editing}
          onDone={(updated) => {
            setEditing(undefined)
            if (updated) {
              setOutcome({
                ok: true,
                text:
                  updated.name === editing.name
                    ? `Saved site ${updated.name}.`
                    : `Renamed site ${editing.name} to ${updated.name}.`,
              })
              loaded.reload()
            }
          }}
        />
      )}
      <div className="table-wrap">
        <table aria-label="Sites">
          <thead>
            <tr>
              <th scope="col">Name</th>
              {multiTenant && <th scope="col">Tenant</th>}
              <th scope="col" className="adm-wide-only">
                Time zone
              </th>
              <th scope="col">Agents</th>
              <th scope="col">Cameras</th>
              <th scope="col" className="adm-wide-only">
                Created
              </th>
              {(manageSites || manageAgents) && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {data?.sites.map((s) => {
              const agents = agentsOf(s.id)
              const online = agents.filter((a) => a.status === 'online').length
              return (
                <tr key={s.id}>
                  <td>{s.name}</td>
                  {multiTenant && <td className="mono">{tenantSlug(tenants, s.tenantId)}</td>}
                  <td className="adm-wide-only">{s.timeZone ?? <span className="muted">not set</span>}</td>
                  <td>
                    {agents.length === 0 ? (
                      <span className="muted">none</span>
                    ) : (
                      <Link to={`/admin/agents?site=${s.id}`}>
                        {online} of {agents.length} online
                      </Link>
                    )}
                  </td>
                  <td>
                    <Link to={`/admin/cameras?site=${s.id}`}>{camerasOf(s.id)}</Link>
                  </td>
                  <td className="adm-wide-only">{formatTime(s.createdAt)}</td>
                  {(manageSites || manageAgents) && (
                    <td>
                      <div className="adm-actions">
                        {manageAgents && (
                          <button
                            type="button"
                            className="small"
                            aria-label={`Enrollment code for ${s.name}`}
                            onClick={() => void enroll(s)}
                          >
                            Enrollment code
                          </button>
                        )}
                        {manageSites && (
                          <button
                            type="button"
                            className="ghost small"
                            aria-label={`Edit site ${s.name}`}
                            onClick={() => setEditing(s)}
                          >
                            Edit
                          </button>
                        )}
                        {manageSites && (
                          <ConfirmButton
                            label="Delete"
                            accessibleName={`Delete site ${s.name}`}
                            title={`Delete site ${s.name}?`}
                            message={
                              <p>
                                A site that still has cameras or agents (revoked ones included) cannot be
                                deleted: delete or move its cameras first.
                              </p>
                            }
                            confirmLabel="Delete site"
                            onConfirm={() => remove(s)}
                          />
                        )}
                      </div>
                    </td>
                  )}
                </tr>
              )
            })}
          </tbody>
        </table>
      </div>
      {data && data.sites.length === 0 && <p className="muted">No sites yet.</p>}

      {manageSites && (
        <CreateForm
          heading="New site"
          submitLabel="Create site"
          create={create}
          onCreated={(created) => {
            setOutcome({
              ok: true,
              text: `Created site ${created.name}.${manageAgents ? ' Create an enrollment code to add its agent.' : ''}`,
            })
            loaded.reload()
          }}
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
            Site name
            <input name="name" required maxLength={200} autoComplete="off" />
          </label>
          <TimeZoneField />
        </CreateForm>
      )}
    </section>
  )
}

/** The browser's list of IANA zones, for suggestions; the hub is the judge of what is valid. */
const TIME_ZONES: string[] = (() => {
  try {
    return ['UTC', ...Intl.supportedValuesOf('timeZone').filter((z) => z !== 'UTC')]
  } catch {
    return ['UTC']
  }
})()

function TimeZoneField(props: { value?: string; onChange?: (value: string) => void }) {
  const help = useId()
  return (
    <label>
      Time zone
      <input
        name="timeZone"
        list="time-zones"
        maxLength={64}
        autoComplete="off"
        spellCheck={false}
        placeholder="e.g. Europe/Paris (optional)"
        aria-describedby={help}
        {...(props.onChange
          ? { value: props.value ?? '', onChange: (e) => props.onChange?.(e.target.value) }
          : {})}
      />
      <span id={help} className="muted">
        Shown beside your own time in playback; empty: not set.
      </span>
    </label>
  )
}

function EditSite({ site, onDone }: { site: Site; onDone: (updated?: Site) => void }) {
  const [name, setName] = useState(site.name)
  const [timeZone, setTimeZone] = useState(site.timeZone ?? '')
  const save = () => {
    const changes: { name?: string; timeZone?: string | null } = {}
    if (name.trim() !== site.name) changes.name = name.trim()
    const zone = timeZone.trim() || null
    if (zone !== site.timeZone) changes.timeZone = zone
    return Object.keys(changes).length ? api.patch<Site>(`/api/v1/sites/${site.id}`, changes) : undefined
  }
  return (
    <EditForm heading={`Edit site ${site.name}`} saveLabel="Save site" save={save} onDone={onDone}>
      <label>
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={200} />
      </label>
      <TimeZoneField value={timeZone} onChange={setTimeZone} />
    </EditForm>
  )
}
