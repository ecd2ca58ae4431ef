import { type FormEvent, useState } from 'react'
import { Link } from 'react-router'
import { api, describeError } from '../../../api/client.ts'
import type { Agent, Camera, Site } from '../../../api/types.ts'
import { ErrorNotice } from '../../../components/ErrorNotice.tsx'
import { formatBytes, formatDuration, formatTime } from '../../../components/format.ts'
import { fetchAll } from '../../../components/useCatalog.ts'
import { usePageTitle } from '../../../components/usePageTitle.ts'
import { can, useMe } from '../../../session/session.tsx'
import { ConfirmButton } from '../common/ConfirmButton.tsx'
import { Feedback, type Outcome } from '../common/Feedback.tsx'
import { SiteFilter, useSiteFilter } from '../common/SiteFilter.tsx'
import { tenantSlug, useTenants } from '../common/tenants.ts'
import { useLoaded } from '../common/useLoaded.ts'
import '../common/admin.css'
import { isAdminChange, isAgentStatus, useReloadOnUpdates } from '../../../components/useLiveUpdates.ts'
import { AgentHealthHistory } from './AgentHealthHistory.tsx'

/** What the hub says of an agent beyond api/types' Agent: its last reported state. */
type AgentView = Agent & {
  reportedState?: { configVersion?: number; configError?: string } | null
}

interface AgentsData {
  agents: AgentView[]
  sites: Site[]
  cameras: Camera[]
}

/** Agents come and go by themselves: the page reloads this often while it is visible. */
const REFRESH_MS = 10_000

const STATUS_TONE: Record<Agent['status'], string> = {
  online: 'badge-ok',
  offline: 'badge-bad',
  disabled: 'badge-warn',
  revoked: 'badge-bad',
}

/**
 * The agents of the sites the user may see: whether each is connected, what it runs, when it was
 * last heard from, its disks and recordings against their quota, its outbox, and its cameras.
 * Those with agent.manage rename, disable (cut off at once, reversible) and revoke agents (for
 * good). New agents enroll with a code from the Sites page.
 */
export function AgentsPage() {
  usePageTitle('Agents')
  const me = useMe()
  const tenants = useTenants()
  const multiTenant = tenants.length > 1
  const manage = can(me, 'agent.manage')
  const addCameras = can(me, 'camera.manage')
  const siteFilter = useSiteFilter()
  const [showRevoked, setShowRevoked] = useState(false)
  const [outcome, setOutcome] = useState<Outcome>()
  const loaded = useLoaded<AgentsData>(async (signal) => {
    const [agents, sites, cameras] = await Promise.all([
      fetchAll<AgentView>('/api/v1/agents', signal),
      fetchAll<Site>('/api/v1/sites', signal),
      fetchAll<Camera>('/api/v1/cameras', signal),
    ])
    return { agents, sites, cameras }
  }, REFRESH_MS)
  // Another administrator's change, or an agent coming or going, shows at once.
  useReloadOnUpdates(loaded.reload, (m) => isAdminChange(m) || isAgentStatus(m))

  const data = loaded.data
  const siteName = (id: string) => data?.sites.find((s) => s.id === id)?.name ?? 'a site not visible to you'
  const inSite = (data?.agents ?? []).filter((a) => !siteFilter || a.siteId === siteFilter)
  const revoked = inSite.filter((a) => a.revokedAt).length
  const shown = inSite
    .filter((a) => showRevoked || !a.revokedAt)
    .sort(
      (a, b) =>
        Number(Boolean(a.revokedAt)) - Number(Boolean(b.revokedAt)) ||
        siteName(a.siteId).localeCompare(siteName(b.siteId)) ||
        a.name.localeCompare(b.name),
    )

  const act = async (what: string, run: () => Promise<unknown>) => {
    try {
      await run()
      setOutcome({ ok: true, text: what })
    } catch (err) {
      setOutcome({ ok: false, text: describeError(err) })
    }
    loaded.reload()
  }

  return (
    <section className="page adm-page" aria-labelledby="agents-title">
      <div className="toolbar">
        <h1 id="agents-title">Agents</h1>
        <SiteFilter sites={data?.sites} />
        <label className="adm-check">
          <input type="checkbox" checked={showRevoked} onChange={(e) => setShowRevoked(e.target.checked)} />
          Show revoked agents
        </label>
        <button type="button" className="ghost" onClick={loaded.reload}>
          Refresh
        </button>
      </div>
      <p className="muted" aria-live="polite">
        {data === undefined
          ? 'Loading agents…'
          : `${inSite.filter((a) => a.status === 'online').length} of ${inSite.length - revoked} agents online` +
            (revoked && !showRevoked ? ` (${revoked} revoked, hidden)` : '')}
      </p>
      <ErrorNotice message={loaded.error} onRetry={loaded.reload} />
      <Feedback outcome={outcome} />
      {data && inSite.length === 0 && (
        <p className="notice">
          No agents yet. An agent enrolls into a site with a one-time code from the{' '}
          <Link to="/admin/sites">Sites</Link> page.
        </p>
      )}
      <ul className="adm-cards" aria-label="Agents">
        {shown.map((a) => (
          <li key={a.id}>
            <AgentCard
              agent={a}
              site={siteName(a.siteId)}
              tenant={multiTenant ? tenantSlug(tenants, a.tenantId) : undefined}
              cameras={data?.cameras.filter((c) => c.agentId === a.id).length ?? 0}
              manage={manage}
              addCameras={addCameras}
              act={act}
            />
          </li>
        ))}
      </ul>
    </section>
  )
}

function AgentCard({
  agent: a,
  site,
  tenant,
  cameras,
  manage,
  addCameras,
  act,
}: {
  agent: AgentView
  site: string
  tenant: string | undefined
  cameras: number
  manage: boolean
  /** The user may add cameras (camera.manage): the card links to "Add cameras". */
  addCameras: boolean
  act: (what: string, run: () => Promise<unknown>) => Promise<void>
}) {
  const titleId = `agent-${a.id}`
  const h = a.health
  const disk = h?.disk
  const used = disk ? Math.max(0, disk.totalBytes - disk.freeBytes) : 0
  const usedShare = disk && disk.totalBytes > 0 ? used / disk.totalBytes : undefined
  const rec = h?.recording
  const quarantined = h?.outbox?.quarantined ?? 0
  const storage = h?.storage
  const configError = a.reportedState?.configError
  return (
    <article className="card" aria-labelledby={titleId}>
      <div className="adm-card-head">
        <h2 id={titleId}>{a.name}</h2>
        <span className={`badge ${STATUS_TONE[a.status]}`}>{a.status}</span>
      </div>
      <dl className="adm-facts">
        <dt>Site</dt>
        <dd>
          {site}
          {tenant && <span className="muted"> ({tenant})</span>}
        </dd>
        <dt>Version</dt>
        <dd>{h?.version ?? a.version ?? '—'}</dd>
        {a.hostname && (
          <>
            <dt>Host</dt>
            <dd className="mono">{a.hostname}</dd>
          </>
        )}
        <dt>Last seen</dt>
        <dd>{a.lastSeenAt ? formatTime(a.lastSeenAt) : 'never'}</dd>
        {a.status === 'online' && h?.uptimeSeconds !== undefined && (
          <>
            <dt>Up for</dt>
            <dd>{formatDuration(h.uptimeSeconds * 1000)}</dd>
          </>
        )}
        <dt>Disk</dt>
        <dd>
          {disk ? (
            <>
              {formatBytes(used)} used of {formatBytes(disk.totalBytes)}
              {usedShare !== undefined && ` (${Math.round(usedShare * 100)}\u00a0%)`},{' '}
              {formatBytes(disk.freeBytes)} free
              {usedShare !== undefined && (
                <meter
                  aria-label={`Disk use of ${a.name}`}
                  min={0}
                  max={1}
                  low={0.8}
                  high={0.95}
                  optimum={0}
                  value={usedShare}
                />
              )}
            </>
          ) : (
            <span className="muted">not reported</span>
          )}
        </dd>
        <dt>Recordings</dt>
        <dd>
          {rec ? (
            <>
              {formatBytes(rec.bytes)}
              {rec.quotaBytes !== null ? ` of a ${formatBytes(rec.quotaBytes)} quota` : ' (no quota)'}
              {rec.quotaBytes !== null && rec.quotaBytes > 0 && rec.bytes >= rec.quotaBytes * 0.95 && (
                <span className="adm-warn"> — quota reached, the oldest go first</span>
              )}
            </>
          ) : (
            <span className="muted">not reported</span>
          )}
        </dd>
        <dt>Outbox</dt>
        <dd>
          {h?.outbox ? (
            <>
              {h.outbox.depth} waiting ({formatBytes(h.outbox.bytes)})
              {h.outbox.full && <span className="adm-bad"> — full</span>},{' '}
              <span className={quarantined > 0 ? 'adm-bad' : undefined}>{quarantined} quarantined</span>
            </>
          ) : (
            <span className="muted">not reported</span>
          )}
        </dd>
        <dt>Data disk</dt>
        <dd>
          {storage?.dataDiskFull ? (
            <span className="adm-bad">
              full{storage.since && ` since ${formatTime(storage.since)}`}
              {storage.error && ` (${storage.error})`}: {storage.pending} records waiting in memory
              {storage.dropped > 0 && `, ${storage.dropped} lost`}
            </span>
          ) : storage ? (
            'OK'
          ) : (
            <span className="muted">not reported</span>
          )}
        </dd>
        <dt>Cameras</dt>
        <dd>
          <Link to={`/admin/cameras?site=${a.siteId}`} aria-label={`${cameras} cameras of ${a.name}`}>
            {cameras}
          </Link>
        </dd>
        <dt>Configuration</dt>
        <dd>
          {a.appliedConfigVersion === a.configVersion ? (
            `version ${a.configVersion}, applied`
          ) : (
            <span className="adm-warn">
              version {a.configVersion} waiting
              {a.appliedConfigVersion !== null && ` (the agent runs version ${a.appliedConfigVersion})`}
            </span>
          )}
          {configError && <span className="adm-bad"> — {configError}</span>}
        </dd>
        {a.revokedAt && (
          <>
            <dt>Revoked</dt>
            <dd>{formatTime(a.revokedAt)}</dd>
          </>
        )}
      </dl>
      {h?.degraded && h.degraded.length > 0 && a.status === 'online' && (
        <ul className="adm-bad">
          {h.degraded.map((d) => (
            <li key={d}>{d}</li>
          ))}
        </ul>
      )}
      {!a.revokedAt && <AgentHealthHistory agentId={a.id} agentName={a.name} />}
      {addCameras && !a.revokedAt && (
        <p>
          <Link
            className="button small"
            to={`/admin/agents/${a.id}/add-cameras`}
            aria-label={`Add cameras to ${a.name}`}
          >
            Add cameras
          </Link>
        </p>
      )}
      {manage && !a.revokedAt && <AgentActions agent={a} act={act} />}
    </article>
  )
}

function AgentActions({
  agent: a,
  act,
}: {
  agent: AgentView
  act: (what: string, run: () => Promise<unknown>) => Promise<void>
}) {
  const [name, setName] = useState(a.name)
  const rename = (e: FormEvent) => {
    e.preventDefault()
    if (name.trim() && name.trim() !== a.name)
      void act(`Renamed agent ${a.name} to ${name.trim()}.`, () =>
        api.patch(`/api/v1/agents/${a.id}`, { name: name.trim() }),
      )
  }
  return (
    <>
      <div className="adm-card-actions">
        {a.disabled ? (
          <button
            type="button"
            className="ghost small"
            aria-label={`Enable agent ${a.name}`}
            onClick={() =>
              void act(`Enabled agent ${a.name}: it may connect again.`, () =>
                api.patch(`/api/v1/agents/${a.id}`, { disabled: false }),
              )
            }
          >
            Enable
          </button>
        ) : (
          <ConfirmButton
            label="Disable"
            accessibleName={`Disable agent ${a.name}`}
            className="ghost small"
            title={`Disable agent ${a.name}?`}
            message={
              <p>
                It is cut off at once and cannot connect until it is enabled again: its cameras are not served
                live and their recordings cannot be played through the hub meanwhile. The agent keeps
                recording on its own.
              </p>
            }
            confirmLabel="Disable agent"
            onConfirm={() =>
              act(`Disabled agent ${a.name}.`, () => api.patch(`/api/v1/agents/${a.id}`, { disabled: true }))
            }
          />
        )}
        <ConfirmButton
          label="Revoke"
          accessibleName={`Revoke agent ${a.name}`}
          title={`Revoke agent ${a.name}?`}
          message={
            <p>
              It is cut off at once and can never connect again; its history stays. To bring that machine
              back, enroll it anew with a fresh code from the Sites page.
            </p>
          }
          confirmLabel="Revoke agent"
          onConfirm={() => act(`Revoked agent ${a.name}.`, () => api.delete(`/api/v1/agents/${a.id}`))}
        />
      </div>
      <details className="adm-inline-edit">
        <summary>Rename</summary>
        <form className="inline-form" onSubmit={rename} aria-label={`Rename agent ${a.name}`}>
          <label>
            New name for {a.name}
            <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={200} />
          </label>
          <button type="submit" className="small">
            Save name
          </button>
        </form>
      </details>
    </>
  )
}
