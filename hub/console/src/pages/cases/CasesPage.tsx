import { useCallback, useEffect, useState } from 'react'
import { Link, useNavigate } from 'react-router'
import type { Case, CaseState } from '../../api/case-types.ts'
import { casesApi, describeError } from '../../api/client.ts'
import { ErrorNotice } from '../../components/ErrorNotice.tsx'
import { formatTime } from '../../components/format.ts'
import { useCatalog } from '../../components/useCatalog.ts'
import { usePageTitle } from '../../components/usePageTitle.ts'
import { NewCaseForm } from './NewCaseForm.tsx'
import './cases.css'

export const stateLabel: Record<CaseState, string> = {
  collecting: 'Collecting',
  ready: 'Ready',
  failed: 'Failed',
}

/**
 * Cases: evidence kept together — clips collected from the sites into the hub (kept whatever the
 * sites' retention), with notes, downloaded as one zip with signed manifests.
 */
export function CasesPage() {
  usePageTitle('Cases')
  const navigate = useNavigate()
  const catalog = useCatalog()
  const [cases, setCases] = useState<Case[]>()
  const [error, setError] = useState<string>()
  const [creating, setCreating] = useState(false)

  const load = useCallback((signal?: AbortSignal) => {
    casesApi.list(signal).then(
      (page) => {
        setCases(page.items)
        setError(undefined)
      },
      (err) => {
        if (!signal?.aborted) setError(describeError(err))
      },
    )
  }, [])
  useEffect(() => {
    const abort = new AbortController()
    load(abort.signal)
    return () => abort.abort()
  }, [load])

  return (
    <section className="page cases-page" aria-labelledby="cases-title">
      <div className="toolbar">
        <h1 id="cases-title">Cases</h1>
        <p className="muted" aria-live="polite">
          {cases === undefined ? 'Loading cases…' : `${cases.length} case${cases.length === 1 ? '' : 's'}`}
        </p>
        <button type="button" onClick={() => setCreating((c) => !c)} aria-expanded={creating}>
          New case
        </button>
      </div>
      <ErrorNotice message={error} onRetry={() => load()} />
      {creating &&
        (catalog.loading ? (
          <p className="muted">Loading cameras…</p>
        ) : (
          <NewCaseForm
            cameras={catalog.cameras}
            siteName={catalog.siteName}
            onCreated={(c) => navigate(`/cases/${c.id}`)}
          />
        ))}
      <div className="table-wrap">
        <table aria-label="Cases">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">State</th>
              <th scope="col">Clips</th>
              <th scope="col">Created by</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {cases?.map((c) => (
              <tr key={c.id}>
                <td>
                  <Link to={`/cases/${c.id}`}>{c.name}</Link>
                </td>
                <td>
                  <span className={`case-state case-state-${c.state}`}>{stateLabel[c.state]}</span>
                </td>
                <td>{c.clips.length}</td>
                <td>{c.createdByName}</td>
                <td>{formatTime(c.createdAt)}</td>
              </tr>
            ))}
            {cases?.length === 0 && (
              <tr>
                <td colSpan={5} className="muted">
                  No cases yet.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  )
}
