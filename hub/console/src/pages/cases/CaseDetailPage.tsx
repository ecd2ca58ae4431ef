import { type FormEvent, useCallback, useEffect, useState } from 'react'
import { Link, useParams } from 'react-router'
import type { Case } from '../../api/case-types.ts'
import { casesApi, describeError } from '../../api/client.ts'
import { ErrorNotice } from '../../components/ErrorNotice.tsx'
import { formatBytes, formatTime } from '../../components/format.ts'
import { usePageTitle } from '../../components/usePageTitle.ts'
import { stateLabel } from './CasesPage.tsx'
import './cases.css'

/** How often a case whose clips are being collected is read again. */
const POLL_MS = 2000

/**
 * One case: its clips and where each stands (collecting, ready, or failed with the reason, with a
 * retry), its notes (add one), and the zip of it all.
 */
export function CaseDetailPage() {
  const { caseId = '' } = useParams()
  const [c, setCase] = useState<Case>()
  const [error, setError] = useState<string>()
  const [note, setNote] = useState('')
  const [noteError, setNoteError] = useState<string>()
  const [download, setDownload] = useState<string>()
  usePageTitle(c ? `Case ${c.name}` : 'Case')

  const load = useCallback(
    (signal?: AbortSignal) =>
      casesApi.get(caseId, signal).then(
        (got) => {
          setCase(got)
          setError(undefined)
        },
        (err) => {
          if (!signal?.aborted) setError(describeError(err))
        },
      ),
    [caseId],
  )
  useEffect(() => {
    const abort = new AbortController()
    void load(abort.signal)
    return () => abort.abort()
  }, [load])
  // While clips are being collected, follow them.
  useEffect(() => {
    if (c?.state !== 'collecting') return
    const timer = setInterval(() => void load(), POLL_MS)
    return () => clearInterval(timer)
  }, [c?.state, load])

  const addNote = async (e: FormEvent) => {
    e.preventDefault()
    setNoteError(undefined)
    try {
      await casesApi.addNote(caseId, note)
      setNote('')
      await load()
    } catch (err) {
      setNoteError(describeError(err))
    }
  }

  const retry = async (clipId: string) => {
    try {
      setCase(await casesApi.retryClip(caseId, clipId))
    } catch (err) {
      setError(describeError(err))
    }
  }

  const saveZip = async () => {
    setDownload('Preparing the zip…')
    try {
      const { file, bytes } = await casesApi.downloadZip(caseId)
      setDownload(`Downloaded ${file} (${formatBytes(bytes)}).`)
    } catch (err) {
      setDownload(`Could not download: ${describeError(err)}`)
    }
  }

  const ready = c?.clips.some((x) => x.state === 'ready') ?? false
  return (
    <section className="page case-page" aria-labelledby="case-title">
      <p>
        <Link to="/cases">All cases</Link>
      </p>
      <ErrorNotice message={error} onRetry={() => void load()} />
      {!c ? (
        !error && <p className="muted">Loading the case…</p>
      ) : (
        <>
          <div className="toolbar">
            <h1 id="case-title">{c.name}</h1>
            <span className={`case-state case-state-${c.state}`} data-testid="case-state">
              {stateLabel[c.state]}
            </span>
            {ready && (
              <a
                href={casesApi.zipPath(c.id)}
                className="button"
                onClick={(e) => {
                  // The hub needs the session's token, which a plain link does not send.
                  e.preventDefault()
                  void saveZip()
                }}
              >
                Download zip
              </a>
            )}
          </div>
          <p className="muted">
            Opened by {c.createdByName} on {formatTime(c.createdAt)}
          </p>
          {c.description && <p className="case-description">{c.description}</p>}
          {download && (
            <p role="status" aria-live="polite">
              {download}
            </p>
          )}
          <h2>Clips</h2>
          <div className="table-wrap">
            <table aria-label="Clips">
              <thead>
                <tr>
                  <th scope="col">#</th>
                  <th scope="col">Camera</th>
                  <th scope="col">From</th>
                  <th scope="col">To</th>
                  <th scope="col">Note</th>
                  <th scope="col">State</th>
                  <th scope="col">Size</th>
                  <th scope="col">SHA-256</th>
                </tr>
              </thead>
              <tbody>
                {c.clips.map((x) => (
                  <tr key={x.id} data-clip-id={x.id}>
                    <td>{x.position + 1}</td>
                    <td>{x.cameraName}</td>
                    <td>{formatTime(x.from)}</td>
                    <td>{formatTime(x.to)}</td>
                    <td>{x.note}</td>
                    <td>
                      <span className={`case-state case-state-${x.state}`}>{stateLabel[x.state]}</span>
                      {x.error && <span className="error"> {x.error}</span>}
                      {x.state === 'failed' && (
                        <button type="button" className="ghost" onClick={() => void retry(x.id)}>
                          Retry
                        </button>
                      )}
                    </td>
                    <td>{formatBytes(x.bytes)}</td>
                    <td>
                      <code title={x.sha256 ?? undefined}>
                        {x.sha256 ? `${x.sha256.slice(0, 12)}…` : '—'}
                      </code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <h2>Notes</h2>
          <ol className="case-notes" aria-label="Notes">
            {(c.notes ?? []).map((n) => (
              <li key={n.id}>
                <p className="case-note-text">{n.text}</p>
                <p className="muted">
                  {n.createdByName}, {formatTime(n.createdAt)}
                </p>
              </li>
            ))}
            {(c.notes ?? []).length === 0 && <li className="muted">No notes yet.</li>}
          </ol>
          <form className="case-form" aria-label="Add note" onSubmit={(e) => void addNote(e)}>
            <div className="case-field">
              <label htmlFor="case-note-text">Note text</label>
              <textarea
                id="case-note-text"
                value={note}
                onChange={(e) => setNote(e.target.value)}
                required
                maxLength={4000}
              />
            </div>
            <button type="submit" disabled={!note.trim()}>
              Add note
            </button>
            {noteError && (
              <p role="alert" className="error">
                {noteError}
              </p>
            )}
          </form>
        </>
      )}
    </section>
  )
}
