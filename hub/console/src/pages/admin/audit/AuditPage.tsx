import '../common/admin.css'
import { type FormEvent, useEffect, useState } from 'react'
import { useSearchParams } from 'react-router'
import { api, describeError, errorFrom, type Query, withQuery } from '../../../api/client.ts'
import type { Page } from '../../../api/types.ts'
import { ErrorNotice } from '../../../components/ErrorNotice.tsx'
import { formatTime, fromLocalInput } from '../../../components/format.ts'
import { usePageTitle } from '../../../components/usePageTitle.ts'
import { tenantSlug, useTenants } from '../common/tenants.ts'
import {
  type AuditEvent,
  detailLines,
  KNOWN_ACTIONS,
  type QuarantinedRecord,
  type VerifyResult,
} from './audit-types.ts'
import '../users/admin.css'
import { TimeRangeFields } from '../../../components/TimeRangeFields.tsx'
import { SelectField } from '../common/SelectField.tsx'

const PAGE_SIZE = 50
const FILTERS = ['actor', 'action', 'target', 'outcome', 'from', 'to', 'tenant'] as const
type Filters = Record<(typeof FILTERS)[number], string>

const OUTCOME_BADGE: Record<AuditEvent['outcome'], string> = {
  success: 'badge-ok',
  failure: 'badge-warn',
  denied: 'badge-bad',
}

/** The API's query for the filters (without paging). */
function apiQuery(f: Filters): Query {
  return {
    actor: f.actor,
    action: f.action,
    target: f.target,
    outcome: f.outcome,
    from: f.from,
    to: f.to,
    tenantId: f.tenant,
  }
}

/** Saves a blob as a file: links cannot carry the bearer token, so the page fetches and hands over. */
function download(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = name
  a.hidden = true
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}

/**
 * The audit trail: search by actor, action (exact, or a prefix ending in *), target, outcome and
 * time, newest first, a page at a time; export what matches as CSV; verify the hash chains; and
 * the records the hub set aside because the database refused them (quarantine). The filters and
 * the page are in the address, so a reload or a shared link shows the same records.
 */
export function AuditPage() {
  usePageTitle('Audit')
  const tenants = useTenants()
  const multiTenant = tenants.length > 1
  const [params, setParams] = useSearchParams()
  const filters = Object.fromEntries(FILTERS.map((k) => [k, params.get(k) ?? ''])) as Filters
  const pageNo = Math.max(1, Number.parseInt(params.get('page') ?? '1', 10) || 1)
  const key = JSON.stringify(filters)
  const [result, setResult] = useState<Page<AuditEvent>>()
  const [loading, setLoading] = useState(true)
  const [error, setError] = useState<string>()
  const [attempt, setAttempt] = useState(0)
  const [exporting, setExporting] = useState(false)
  const [exportStatus, setExportStatus] = useState<{ ok: boolean; text: string }>()
  const [verifying, setVerifying] = useState(false)
  const [verdict, setVerdict] = useState<VerifyResult>()
  const [verifyError, setVerifyError] = useState<string>()
  const [quarantine, setQuarantine] = useState<QuarantinedRecord[]>()
  const [quarantineError, setQuarantineError] = useState<string>()

  // biome-ignore lint/correctness/useExhaustiveDependencies: `attempt` is the retry trigger
  useEffect(() => {
    const abort = new AbortController()
    setLoading(true)
    api
      .get<Page<AuditEvent>>(
        '/api/v1/audit',
        { ...apiQuery(JSON.parse(key) as Filters), limit: PAGE_SIZE, offset: (pageNo - 1) * PAGE_SIZE },
        abort.signal,
      )
      .then(
        (page) => {
          setResult(page)
          setError(undefined)
          setLoading(false)
        },
        (err: unknown) => {
          if (abort.signal.aborted) return
          setError(describeError(err))
          setLoading(false)
        },
      )
    return () => abort.abort()
  }, [key, pageNo, attempt])

  useEffect(() => {
    const abort = new AbortController()
    api.get<Page<QuarantinedRecord>>('/api/v1/audit/quarantine', undefined, abort.signal).then(
      (page) => setQuarantine(page.items),
      (err: unknown) => {
        if (!abort.signal.aborted) setQuarantineError(describeError(err))
      },
    )
    return () => abort.abort()
  }, [])

  const apply = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault()
    const form = new FormData(e.currentTarget)
    const next = new URLSearchParams()
    for (const k of FILTERS) {
      const raw = String(form.get(k) ?? '').trim()
      const value = k === 'from' || k === 'to' ? fromLocalInput(raw) : raw
      if (value) next.set(k, value)
    }
    setParams(next)
  }

  const goTo = (n: number) => {
    const next = new URLSearchParams(params)
    if (n <= 1) next.delete('page')
    else next.set('page', String(n))
    setParams(next)
  }

  const exportCsv = async () => {
    setExporting(true)
    setExportStatus(undefined)
    try {
      const res = await api.fetch(withQuery('/api/v1/audit', apiQuery(filters)), {
        headers: { accept: 'text/csv' },
      })
      if (!res.ok) throw await errorFrom(res)
      const blob = await res.blob()
      const name = `audit-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}.csv`
      download(blob, name)
      setExportStatus({ ok: true, text: `Exported the matching records as ${name}.` })
    } catch (err) {
      setExportStatus({ ok: false, text: `Could not export: ${describeError(err)}` })
    } finally {
      setExporting(false)
    }
  }

  const verify = async () => {
    setVerifying(true)
    setVerdict(undefined)
    setVerifyError(undefined)
    try {
      setVerdict(await api.get<VerifyResult>('/api/v1/audit/verify'))
    } catch (err) {
      setVerifyError(describeError(err))
    } finally {
      setVerifying(false)
    }
  }

  const total = result?.total ?? 0
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE))
  const first = total === 0 ? 0 : (pageNo - 1) * PAGE_SIZE + 1
  const last = Math.min(total, pageNo * PAGE_SIZE)
  const filtered = FILTERS.some((k) => filters[k])

  return (
    <section className="page admin-page">
      <h1>Audit</h1>

      <section aria-labelledby="verify-heading" className="audit-tools">
        <h2 id="verify-heading" className="visually-hidden">
          Verify and export
        </h2>
        <div className="toolbar">
          <button type="button" disabled={verifying} onClick={() => void verify()}>
            {verifying ? 'Verifying…' : 'Verify the chain'}
          </button>
          <button type="button" className="ghost" disabled={exporting} onClick={() => void exportCsv()}>
            {exporting ? 'Exporting…' : filtered ? 'Export matches as CSV' : 'Export all as CSV'}
          </button>
        </div>
        <div role="status" aria-live="polite">
          {verdict &&
            (verdict.ok ? (
              <p className="notice verdict verdict-ok">
                <strong>Valid:</strong> the audit chain is intact. {verdict.checked} record
                {verdict.checked === 1 ? '' : 's'} checked in {verdict.tenants} tenant
                {verdict.tenants === 1 ? '' : 's'}.
                {verdict.quarantined > 0 &&
                  ` ${verdict.quarantined} record${verdict.quarantined === 1 ? ' is' : 's are'} in quarantine (not in the chain; see below).`}
              </p>
            ) : (
              <p className="notice verdict verdict-bad">
                <strong>Broken</strong>
                {verdict.firstBadId ? ` at entry #${verdict.firstBadId}` : ''}:{' '}
                {verdict.reason ?? 'the chain does not verify'}.
                {` ${verdict.checked} record${verdict.checked === 1 ? '' : 's'} checked.`}
                {verdict.quarantined > 0 && ` ${verdict.quarantined} in quarantine.`}
              </p>
            ))}
          {exportStatus?.ok && <p className="notice">{exportStatus.text}</p>}
        </div>
        <ErrorNotice message={verifyError && `Could not verify: ${verifyError}`} />
        <ErrorNotice message={exportStatus && !exportStatus.ok ? exportStatus.text : undefined} />
      </section>

      <form className="inline-form filters" key={key} onSubmit={apply} aria-label="Search the audit trail">
        <label>
          Actor
          <input name="actor" maxLength={200} defaultValue={filters.actor} placeholder="username or id" />
        </label>
        <label>
          Action
          <input
            name="action"
            list="audit-actions"
            maxLength={100}
            defaultValue={filters.action}
            placeholder="user.create or auth.*"
          />
          <datalist id="audit-actions">
            {KNOWN_ACTIONS.map((a) => (
              <option key={a} value={a} />
            ))}
          </datalist>
        </label>
        <label>
          Target
          <input name="target" maxLength={200} defaultValue={filters.target} placeholder="target id" />
        </label>
        <SelectField label="Outcome" name="outcome" defaultValue={filters.outcome}>
          <option value="">Any outcome</option>
          <option value="success">success</option>
          <option value="failure">failure</option>
          <option value="denied">denied</option>
        </SelectField>
        <TimeRangeFields from={filters.from || undefined} to={filters.to || undefined} />
        {multiTenant && (
          <SelectField label="Tenant" name="tenant" defaultValue={filters.tenant}>
            <option value="">All tenants</option>
            {tenants.map((t) => (
              <option key={t.id} value={t.id}>
                {t.slug}
              </option>
            ))}
          </SelectField>
        )}
        <button type="submit">Search</button>
        <button type="button" className="ghost" onClick={() => setParams(new URLSearchParams())}>
          Clear
        </button>
      </form>

      <ErrorNotice message={error} onRetry={() => setAttempt((n) => n + 1)} />
      <p className="muted" aria-live="polite">
        {loading && !result
          ? 'Loading the audit trail…'
          : total === 0
            ? 'No records match.'
            : `Records ${first}–${last} of ${total}, newest first`}
      </p>
      {result && result.items.length > 0 && (
        <div className="table-wrap">
          <table className="audit-table" aria-label="Audit records">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col">Outcome</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {result.items.map((e) => (
                <tr key={e.id}>
                  <td>
                    <time dateTime={e.time}>{formatTime(e.time)}</time>
                    <div className="muted small-text">#{e.id}</div>
                  </td>
                  <td>
                    {e.actor.name ?? e.actor.id ?? '—'}
                    <div className="muted small-text">{e.actor.type}</div>
                  </td>
                  <td className="mono">{e.action}</td>
                  <td>
                    {e.target.type ?? '—'}
                    {e.target.id && <div className="mono small-text">{e.target.id}</div>}
                  </td>
                  <td>
                    <span className={`badge ${OUTCOME_BADGE[e.outcome]}`}>{e.outcome}</span>
                    {e.reason && <div className="small-text">{e.reason}</div>}
                  </td>
                  <td>
                    <ul className="details small-text">
                      {multiTenant && <li>tenant: {tenantSlug(tenants, e.tenantId)}</li>}
                      {detailLines(e.details).map((line, i) => (
                        // biome-ignore lint/suspicious/noArrayIndexKey: lines of one record, in order
                        <li key={i}>{line}</li>
                      ))}
                      {e.clientIp && <li>from: {e.clientIp}</li>}
                    </ul>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {total > PAGE_SIZE && (
        <nav className="pager" aria-label="Audit pages">
          <button type="button" className="ghost" disabled={pageNo <= 1} onClick={() => goTo(pageNo - 1)}>
            Previous page
          </button>
          <span>
            Page {pageNo} of {pages}
          </span>
          <button type="button" className="ghost" disabled={pageNo >= pages} onClick={() => goTo(pageNo + 1)}>
            Next page
          </button>
        </nav>
      )}

      <section aria-labelledby="quarantine-heading">
        <h2 id="quarantine-heading">Quarantine</h2>
        <ErrorNotice message={quarantineError && `Could not load the quarantine: ${quarantineError}`} />
        {quarantine === undefined && !quarantineError && <p className="muted">Loading…</p>}
        {quarantine && quarantine.length === 0 && (
          <p>No records in quarantine: every audit record reached the database.</p>
        )}
        {quarantine && quarantine.length > 0 && (
          <>
            <p className="notice verdict verdict-bad">
              {quarantine.length} record{quarantine.length === 1 ? ' was' : 's were'} refused by the database
              and set aside on this hub (not in any chain).
            </p>
            <div className="table-wrap">
              <table className="audit-table" aria-label="Quarantined records">
                <thead>
                  <tr>
                    <th scope="col">Time</th>
                    <th scope="col">Action</th>
                    <th scope="col">Error</th>
                    <th scope="col">Set aside</th>
                    <th scope="col">Record</th>
                  </tr>
                </thead>
                <tbody>
                  {quarantine.map((q) => (
                    <tr key={`${q.eventId}-${q.quarantinedAt}`}>
                      <td>{formatTime(q.time)}</td>
                      <td className="mono">{q.action}</td>
                      <td>{q.error}</td>
                      <td>{formatTime(q.quarantinedAt)}</td>
                      <td>
                        <details>
                          <summary>Show</summary>
                          <ul className="details small-text">
                            {detailLines(q.record).map((line, i) => (
                              // biome-ignore lint/suspicious/noArrayIndexKey: lines of one record, in order
                              <li key={i}>{line}</li>
                            ))}
                          </ul>
                        </details>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </>
        )}
      </section>
    </section>
  )
}
