import '../common/admin.css'
import { type FormEvent, useEffect, useState } from 'react'
import { api, describeError, withQuery } from '../../../api/client.ts'
import { ErrorNotice } from '../../../components/ErrorNotice.tsx'
import { formatTime } from '../../../components/format.ts'
import { usePageTitle } from '../../../components/usePageTitle.ts'
import { can, useMe } from '../../../session/session.tsx'
import { useTenants } from '../common/tenants.ts'
import '../users/admin.css'
import { SelectField } from '../common/SelectField.tsx'

/** What /api/v1/license returns (hub/src/http/routes/license.ts). */
interface Limits {
  maxCameras?: number
  maxAgents?: number
  maxSites?: number
  maxUsers?: number
}
interface LicenseView {
  tenantId: string
  status: 'unlicensed' | 'valid' | 'grace' | 'expired'
  license: {
    id: string
    customer: string
    issuedAt: string
    notBefore: string
    expiresAt: string
    features: string[]
    limits: Limits
    tenant: string | null
    installedAt: string
  } | null
  effective: { features: string[]; limits: Limits; additionsAllowed: boolean }
  graceEndsAt: string | null
  usage: { cameras: number; agents: number; sites: number; users: number }
  warnings: string[]
}

const STATUS: Record<LicenseView['status'], { text: string; badge: string }> = {
  valid: { text: 'Valid', badge: 'badge-ok' },
  grace: { text: 'Expired, in grace period', badge: 'badge-warn' },
  expired: { text: 'Expired', badge: 'badge-bad' },
  unlicensed: { text: 'No license (free tier)', badge: 'badge-warn' },
}

const RESOURCES = [
  { key: 'cameras', label: 'Cameras', limit: 'maxCameras' },
  { key: 'agents', label: 'Agents', limit: 'maxAgents' },
  { key: 'sites', label: 'Sites', limit: 'maxSites' },
  { key: 'users', label: 'Users', limit: 'maxUsers' },
] as const

const DAY_MS = 86_400_000

/**
 * The tenant's license: its state, what is used against what it allows (cameras, agents, sites,
 * users), when it expires, its features, and installing a new license file. System
 * administrators choose the tenant.
 */
export function LicensePage() {
  usePageTitle('License')
  const me = useMe()
  const tenants = useTenants()
  const [tenantId, setTenantId] = useState(me.tenantId)
  const [view, setView] = useState<LicenseView>()
  const [error, setError] = useState<string>()
  const [attempt, setAttempt] = useState(0)
  const [installing, setInstalling] = useState(false)
  const [installStatus, setInstallStatus] = useState<string>()
  const [installError, setInstallError] = useState<string>()
  const [formKey, setFormKey] = useState(0)
  const query = tenantId === me.tenantId ? undefined : { tenantId }

  // biome-ignore lint/correctness/useExhaustiveDependencies: `attempt` is the retry trigger
  useEffect(() => {
    const abort = new AbortController()
    setView(undefined)
    setError(undefined)
    api
      .get<LicenseView>('/api/v1/license', tenantId === me.tenantId ? undefined : { tenantId }, abort.signal)
      .then(setView, (err: unknown) => {
        if (!abort.signal.aborted) setError(describeError(err))
      })
    return () => abort.abort()
  }, [tenantId, me.tenantId, attempt])

  const install = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault()
    const file = new FormData(e.currentTarget).get('license')
    setInstallStatus(undefined)
    setInstallError(undefined)
    if (!(file instanceof File) || file.size === 0) {
      setInstallError('Choose the license file first.')
      return
    }
    if (file.size > 20_000) {
      setInstallError('This file is too large to be a license (at most 20 000 bytes).')
      return
    }
    setInstalling(true)
    try {
      const text = (await file.text()).trim()
      const next = await api.put<LicenseView>(withQuery('/api/v1/license', query), { license: text })
      setView(next)
      setFormKey((k) => k + 1)
      setInstallStatus(
        `Installed the license for ${next.license?.customer ?? 'this tenant'}; it expires ${formatTime(next.license?.expiresAt)}.`,
      )
    } catch (err) {
      setInstallError(`The hub refused this license: ${describeError(err)}`)
    } finally {
      setInstalling(false)
    }
  }

  const lic = view?.license
  const daysLeft = lic ? Math.floor((Date.parse(lic.expiresAt) - Date.now()) / DAY_MS) : undefined
  return (
    <section className="page admin-page">
      <h1>License</h1>
      {tenants.length > 1 && (
        <div className="toolbar">
          <SelectField label="Tenant" value={tenantId} onChange={(e) => setTenantId(e.target.value)}>
            {tenants.map((t) => (
              <option key={t.id} value={t.id}>
                {t.slug} ({t.name})
              </option>
            ))}
          </SelectField>
        </div>
      )}
      <ErrorNotice message={error} onRetry={() => setAttempt((n) => n + 1)} />
      {!view && !error && <p aria-busy="true">Loading the license…</p>}
      {view && (
        <div className="admin-sections">
          <section className="card" aria-labelledby="license-heading">
            <h2 id="license-heading">
              Status <span className={`badge ${STATUS[view.status].badge}`}>{STATUS[view.status].text}</span>
            </h2>
            {view.warnings.length > 0 && (
              <ul className="warnings notice" aria-label="License warnings">
                {view.warnings.map((w) => (
                  <li key={w}>{w}</li>
                ))}
              </ul>
            )}
            {!view.effective.additionsAllowed && (
              <p className="error">
                New cameras, agents, sites and users are refused until a valid license is installed.
              </p>
            )}
            {lic ? (
              <dl className="facts">
                <dt>Customer</dt>
                <dd>{lic.customer}</dd>
                <dt>Expires</dt>
                <dd>
                  {formatTime(lic.expiresAt)}
                  {daysLeft !== undefined &&
                    daysLeft >= 0 &&
                    ` (in ${daysLeft} day${daysLeft === 1 ? '' : 's'})`}
                </dd>
                {view.graceEndsAt && (
                  <>
                    <dt>Grace ends</dt>
                    <dd>{formatTime(view.graceEndsAt)}</dd>
                  </>
                )}
                <dt>Valid from</dt>
                <dd>{formatTime(lic.notBefore)}</dd>
                <dt>Issued</dt>
                <dd>{formatTime(lic.issuedAt)}</dd>
                <dt>Installed</dt>
                <dd>{formatTime(lic.installedAt)}</dd>
                <dt>For tenant</dt>
                <dd>{lic.tenant ?? 'any'}</dd>
                <dt>License id</dt>
                <dd className="mono">{lic.id}</dd>
              </dl>
            ) : (
              <p>No license is installed: the free tier's limits apply.</p>
            )}
            <h3>Features</h3>
            {view.effective.features.length === 0 ? (
              <p className="muted">None beyond the basics.</p>
            ) : (
              <ul className="features" aria-label="Licensed features">
                {view.effective.features.map((f) => (
                  <li key={f}>
                    <span className="badge badge-ok">{f}</span>
                  </li>
                ))}
              </ul>
            )}
          </section>

          <section className="card" aria-labelledby="usage-heading">
            <h2 id="usage-heading">Usage</h2>
            <div className="table-wrap">
              <table className="usage-table" aria-label="Usage against limits">
                <thead>
                  <tr>
                    <th scope="col">Resource</th>
                    <th scope="col">Used</th>
                    <th scope="col">Allowed</th>
                    <th scope="col">
                      <span className="visually-hidden">Share used</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {RESOURCES.map((r) => {
                    const used = view.usage[r.key]
                    const limit = view.effective.limits[r.limit]
                    return (
                      <tr key={r.key}>
                        <th scope="row">{r.label}</th>
                        <td>{used}</td>
                        <td>{limit === undefined ? 'unlimited' : limit}</td>
                        <td>
                          {limit !== undefined && (
                            <meter
                              min={0}
                              max={Math.max(limit, 1)}
                              value={Math.min(used, Math.max(limit, 1))}
                              high={Math.max(limit, 1) * 0.9}
                              optimum={0}
                              aria-label={`${r.label}: ${used} of ${limit} used`}
                            />
                          )}
                        </td>
                      </tr>
                    )
                  })}
                </tbody>
              </table>
            </div>
          </section>
        </div>
      )}

      {can(me, 'license.manage') && (
        <form
          key={formKey}
          className="stack-form"
          onSubmit={(e) => void install(e)}
          aria-labelledby="install-heading"
        >
          <h2 id="install-heading">Install a license</h2>
          <p className="muted small-text">
            The license file (.lic) as the vendor issued it. The newest installed license is in force; a
            forged, altered, expired or other tenant's license is refused with the reason.
          </p>
          <label>
            License file
            <input name="license" type="file" accept=".lic,.txt,text/plain" required />
          </label>
          <ErrorNotice message={installError} />
          {installStatus && (
            <p role="status" className="notice">
              {installStatus}
            </p>
          )}
          <div>
            <button type="submit" disabled={installing}>
              {installing ? 'Installing…' : 'Install license'}
            </button>
          </div>
        </form>
      )}
    </section>
  )
}
