import { type FormEvent, useId, useRef, useState } from 'react'
import { api, describeError } from '../../../api/client.ts'
import type { BulkResult } from '../../../api/device-types.ts'
import { ErrorNotice } from '../../../components/ErrorNotice.tsx'
import { BulkResults } from '../common/BulkResults.tsx'

/** The header a camera CSV starts with (the hub's exact contract). */
export const CSV_HEADER =
  'name,siteId,agentId,address,protocol,channel,username,password,recording,retentionDays'
/** Larger files are refused before upload (the hub refuses them too). */
const MAX_CSV_BYTES = 1024 * 1024

/** The name column of each data row, to show next to its result (a CSV row may hold quotes). */
function rowNames(text: string): string[] {
  return text
    .split(/\r?\n/)
    .slice(1)
    .filter((line) => line.trim())
    .map((line) => {
      const m = /^\s*(?:"((?:[^"]|"")*)"|([^,]*))/.exec(line)
      return (m?.[1]?.replace(/""/g, '"') ?? m?.[2] ?? '').trim()
    })
}

/**
 * Bulk import from a CSV file (one camera per row; an NVR row with an empty channel adds one camera
 * per channel). Every row is independent: the results say which were added and why others were not.
 * Passwords in the file go to the hub over TLS, are sealed, and are never shown again.
 */
export function CsvImport({ onImported }: { onImported: () => void }) {
  const [results, setResults] = useState<(BulkResult & { name?: string })[]>()
  const [error, setError] = useState<string>()
  const [busy, setBusy] = useState(false)
  const file = useRef<HTMLInputElement>(null)
  const titleId = useId()

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const f = file.current?.files?.[0]
    if (!f) return setError('Choose a CSV file first.')
    if (f.size > MAX_CSV_BYTES) return setError('The file is larger than 1 MiB: split it into several files.')
    setBusy(true)
    setError(undefined)
    setResults(undefined)
    try {
      const text = await f.text()
      const names = rowNames(text)
      const answer = await api.sendText<{ results: BulkResult[] }>(
        'POST',
        '/api/v1/cameras/bulk',
        text,
        'text/csv',
      )
      setResults(answer.results.map((r) => ({ ...r, name: r.name ?? names[r.row - 1] })))
      onImported()
    } catch (err) {
      setError(describeError(err))
    } finally {
      setBusy(false)
    }
  }

  return (
    <details className="card adm-csv-import">
      <summary>Import cameras from a CSV file</summary>
      <form className="stack-form" aria-labelledby={titleId} onSubmit={(e) => void submit(e)}>
        <h2 id={titleId}>Import cameras</h2>
        <p className="small-text">
          The first line must be <code>{CSV_HEADER}</code>. <code>protocol</code> is onvif, isapi, dahua or
          rtsp; leave <code>channel</code> empty to add every channel of a recorder; <code>recording</code> is
          true or false.
        </p>
        <label>
          CSV file
          <input ref={file} type="file" accept=".csv,text/csv" required />
        </label>
        <div>
          <button type="submit" disabled={busy}>
            {busy ? 'Importing…' : 'Import cameras'}
          </button>
        </div>
        <ErrorNotice message={error} />
      </form>
      {results && <BulkResults results={results} />}
    </details>
  )
}
