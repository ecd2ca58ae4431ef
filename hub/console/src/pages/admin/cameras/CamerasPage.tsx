import { useState } from 'react'
import { Link } from 'react-router'
import { api, describeError } from '../../../api/client.ts'
import type { Agent, Camera, Site } from '../../../api/types.ts'
import { ErrorNotice } from '../../../components/ErrorNotice.tsx'
import { fetchAll } from '../../../components/useCatalog.ts'
import { usePageTitle } from '../../../components/usePageTitle.ts'
import { can, useMe } from '../../../session/session.tsx'
import { Feedback, type Outcome } from '../common/Feedback.tsx'
import { SiteFilter, useSiteFilter } from '../common/SiteFilter.tsx'
import { tenantSlug, useTenants } from '../common/tenants.ts'
import { useLoaded } from '../common/useLoaded.ts'
import '../common/admin.css'
import { isAdminChange, isAgentStatus, useReloadOnUpdates } from '../../../components/useLiveUpdates.ts'
import { AnalyticsEditor } from './AnalyticsEditor.tsx'
import { CameraCard } from './CameraCard.tsx'
import { CameraForm } from './CameraForm.tsx'
import { CsvImport } from './CsvImport.tsx'

interface CamerasData {
  cameras: Camera[]
  sites: Site[]
  agents: Agent[]
}

/** Stream states change by themselves: the page reloads this often while it is visible. */
const REFRESH_MS = 15_000

type Editing = { kind: 'new' } | { kind: 'edit'; camera: Camera }

/**
 * The cameras the user may see, with their site, agent, streams (and each stream's state from its
 * agent) and recording. Those with camera.manage add, change and delete cameras; stream passwords
 * are write-only (the page shows whether one is set, never the password).
 */
export function CamerasPage() {
  usePageTitle('Cameras')
  const me = useMe()
  const tenants = useTenants()
  const multiTenant = tenants.length > 1
  const manage = can(me, 'camera.manage')
  const siteFilter = useSiteFilter()
  const [query, setQuery] = useState('')
  const [editing, setEditing] = useState<Editing>()
  /** The camera whose analytics are open, as it was when opened (reloads do not reset a drawing). */
  const [analyticsOf, setAnalyticsOf] = useState<Camera>()
  const [outcome, setOutcome] = useState<Outcome>()
  const loaded = useLoaded<CamerasData>(async (signal) => {
    const [cameras, sites, agents] = await Promise.all([
      fetchAll<Camera>('/api/v1/cameras', signal),
      fetchAll<Site>('/api/v1/sites', signal),
      fetchAll<Agent>('/api/v1/agents', signal),
    ])
    return { cameras, sites, agents }
  }, REFRESH_MS)
  // Another administrator's change, or an agent coming or going, shows at once.
  useReloadOnUpdates(loaded.reload, (m) => isAdminChange(m) || isAgentStatus(m))

  const data = loaded.data
  const siteLabel = (s: Site) => (multiTenant ? `${s.name} (${tenantSlug(tenants, s.tenantId)})` : s.name)
  const siteName = (id: string) => {
    const s = data?.sites.find((x) => x.id === id)
    return s ? siteLabel(s) : 'a site not visible to you'
  }
  const q = query.trim().toLowerCase()
  const shown = (data?.cameras ?? [])
    .filter((c) => !siteFilter || c.siteId === siteFilter)
    .filter((c) => !q || c.name.toLowerCase().includes(q))
    .sort((a, b) => siteName(a.siteId).localeCompare(siteName(b.siteId)) || a.name.localeCompare(b.name))

  const remove = async (c: Camera) => {
    try {
      await api.delete(`/api/v1/cameras/${c.id}`)
      if (editing?.kind === 'edit' && editing.camera.id === c.id) setEditing(undefined)
      if (analyticsOf?.id === c.id) setAnalyticsOf(undefined)
      setOutcome({ ok: true, text: `Deleted camera ${c.name}.` })
    } catch (err) {
      setOutcome({ ok: false, text: `Could not delete camera ${c.name}: ${describeError(err)}` })
    }
    loaded.reload()
  }

  return (
    <section className="page adm-page" aria-labelledby="cameras-title">
      <div className="toolbar">
        <h1 id="cameras-title">Cameras</h1>
        <SiteFilter sites={data?.sites} />
        <label>
          Find a camera
          <input type="search" value={query} onChange={(e) => setQuery(e.target.value)} placeholder="name" />
        </label>
        {manage && data && data.sites.length > 0 && (
          <button
            type="button"
            onClick={() => {
              setOutcome(undefined)
              setEditing({ kind: 'new' })
            }}
          >
            New camera
          </button>
        )}
        <button type="button" className="ghost" onClick={loaded.reload}>
          Refresh
        </button>
      </div>
      <p className="muted" aria-live="polite">
        {data === undefined
          ? 'Loading cameras…'
          : `${shown.length} of ${data.cameras.length} camera${data.cameras.length === 1 ? '' : 's'}`}
      </p>
      <ErrorNotice message={loaded.error} onRetry={loaded.reload} />
      <Feedback outcome={outcome} />
      {data && data.sites.length === 0 && (
        <p className="notice">
          A camera belongs to a site: create one on the <Link to="/admin/sites">Sites</Link> page first.
        </p>
      )}
      {manage && data && data.sites.length > 0 && <CsvImport onImported={loaded.reload} />}
      {editing && data && (
        <CameraForm
          key={editing.kind === 'edit' ? editing.camera.id : 'new'}
          {...(editing.kind === 'edit' ? { camera: editing.camera } : {})}
          sites={data.sites}
          agents={data.agents}
          initialSiteId={siteFilter}
          siteLabel={siteLabel}
          onDone={(saved) => {
            const wasNew = editing.kind === 'new'
            setEditing(undefined)
            if (saved) {
              setOutcome({ ok: true, text: `${wasNew ? 'Added' : 'Saved'} camera ${saved.name}.` })
              loaded.reload()
            }
          }}
        />
      )}
      {analyticsOf && (
        <AnalyticsEditor
          key={analyticsOf.id}
          camera={analyticsOf}
          agentOnline={data?.agents.find((a) => a.id === analyticsOf.agentId)?.status === 'online'}
          onDone={(saved) => {
            setAnalyticsOf(undefined)
            if (saved) {
              setOutcome({ ok: true, text: `Saved the analytics of ${saved.name}.` })
              loaded.reload()
            }
          }}
        />
      )}
      <ul className="adm-cards" aria-label="Cameras">
        {shown.map((c) => (
          <li key={c.id}>
            <CameraCard
              camera={c}
              site={siteName(c.siteId)}
              agent={data?.agents.find((a) => a.id === c.agentId)}
              manage={manage}
              onEdit={() => {
                setOutcome(undefined)
                setEditing({ kind: 'edit', camera: c })
              }}
              onDelete={() => remove(c)}
              {...(manage
                ? {
                    onAnalytics: () => {
                      setOutcome(undefined)
                      setEditing(undefined)
                      setAnalyticsOf(c)
                    },
                  }
                : {})}
            />
          </li>
        ))}
      </ul>
      {data && data.cameras.length > 0 && shown.length === 0 && (
        <p className="muted">No camera matches the filter.</p>
      )}
    </section>
  )
}
