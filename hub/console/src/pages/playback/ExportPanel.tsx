import { type FormEvent, useEffect, useRef, useState } from 'react'
import { api, describeError, downloadFile, errorFrom } from '../../api/client.ts'
import { formatBytes, fromLocalInput, toLocalInput } from '../../components/format.ts'

type Phase =
  | { kind: 'idle' }
  | { kind: 'preparing' }
  | { kind: 'downloading'; received: number; total: number | undefined }
  | { kind: 'done'; file: string; bytes: number; exportId: string | null }
  | { kind: 'failed'; message: string }

/**
 * Export of a time range as one MP4 (the hub asks the site's agent, which remuxes and uploads it;
 * the hub then streams it here). Progress: waiting for the site, then bytes received. Once done,
 * the export's signed manifest (named by `X-VMS-Export-Id`) can be downloaded to go with the file.
 */
export function ExportPanel({
  cameraId,
  cameraName,
  cursor,
}: {
  cameraId: string
  cameraName: string
  cursor: number
}) {
  const [from, setFrom] = useState(() => toLocalInput(new Date(cursor - 30_000).toISOString()))
  const [to, setTo] = useState(() => toLocalInput(new Date(cursor + 30_000).toISOString()))
  const [phase, setPhase] = useState<Phase>({ kind: 'idle' })
  const [manifestStatus, setManifestStatus] = useState<string>()
  const abort = useRef<AbortController>(undefined)
  useEffect(() => () => abort.current?.abort(), [])

  const run = async (e: FormEvent) => {
    e.preventDefault()
    const f = fromLocalInput(from)
    const t = fromLocalInput(to)
    if (!f || !t || Date.parse(t) <= Date.parse(f)) {
      setPhase({ kind: 'failed', message: 'Choose a start before the end.' })
      return
    }
    abort.current?.abort()
    const controller = new AbortController()
    abort.current = controller
    setPhase({ kind: 'preparing' })
    setManifestStatus(undefined)
    try {
      const res = await api.fetch(
        `/api/v1/cameras/${cameraId}/export.mp4?from=${encodeURIComponent(f)}&to=${encodeURIComponent(t)}`,
        { signal: controller.signal },
      )
      if (!res.ok || !res.body) throw await errorFrom(res)
      const total = Number(res.headers.get('content-length')) || undefined
      const reader = res.body.getReader()
      const chunks: Uint8Array[] = []
      let received = 0
      setPhase({ kind: 'downloading', received, total })
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        chunks.push(value)
        received += value.byteLength
        setPhase({ kind: 'downloading', received, total })
      }
      const disposition = res.headers.get('content-disposition') ?? ''
      const file = /filename="?([^";]+)"?/.exec(disposition)?.[1] ?? `${cameraName}.mp4`
      const url = URL.createObjectURL(new Blob(chunks as BlobPart[], { type: 'video/mp4' }))
      const a = document.createElement('a')
      a.href = url
      a.download = file
      document.body.append(a)
      a.click()
      a.remove()
      setTimeout(() => URL.revokeObjectURL(url), 60_000)
      const exportId = res.headers.get('x-vms-export-id') ?? res.headers.get('x-export-id')
      setPhase({ kind: 'done', file, bytes: received, exportId })
    } catch (err) {
      if (controller.signal.aborted) return
      setPhase({ kind: 'failed', message: describeError(err) })
    }
  }

  /** The signed manifest beside the MP4: `<file>.manifest.json`, checked with `verify-export`. */
  const saveManifest = async (exportId: string, file: string) => {
    try {
      const saved = await downloadFile(
        `/api/v1/exports/${exportId}/manifest.json`,
        `${file.replace(/\.mp4$/, '')}.manifest.json`,
      )
      setManifestStatus(`Saved ${saved.file}.`)
    } catch (err) {
      setManifestStatus(`Could not download the manifest: ${describeError(err)}`)
    }
  }

  return (
    <form className="inline-form export" onSubmit={(e) => void run(e)} aria-label="Export">
      <h2>Export</h2>
      <label>
        Export from
        <input
          type="datetime-local"
          step={1}
          value={from}
          onChange={(e) => setFrom(e.target.value)}
          required
        />
      </label>
      <label>
        Export to
        <input type="datetime-local" step={1} value={to} onChange={(e) => setTo(e.target.value)} required />
      </label>
      <button type="submit" disabled={phase.kind === 'preparing' || phase.kind === 'downloading'}>
        Export MP4
      </button>
      <div aria-live="polite" className="export-status">
        {phase.kind === 'preparing' && (
          <>
            <progress aria-label="Export progress" /> The site is preparing the file…
          </>
        )}
        {phase.kind === 'downloading' && (
          <>
            <progress
              aria-label="Export progress"
              {...(phase.total ? { max: phase.total, value: phase.received } : {})}
            />{' '}
            {formatBytes(phase.received)}
            {phase.total ? ` of ${formatBytes(phase.total)}` : ''}
          </>
        )}
        {phase.kind === 'done' && (
          <>
            <span role="status">
              Exported {phase.file} ({formatBytes(phase.bytes)}).
            </span>
            {phase.exportId && (
              <button
                type="button"
                className="ghost"
                onClick={() => void saveManifest(phase.exportId as string, phase.file)}
              >
                Download manifest
              </button>
            )}
            {manifestStatus && <span> {manifestStatus}</span>}
          </>
        )}
        {phase.kind === 'failed' && (
          <span role="alert" className="error">
            {phase.message}
          </span>
        )}
      </div>
    </form>
  )
}
