import { type FormEvent, useState } from 'react'
import { api, describeError } from '../../api/client.ts'
import type { Bookmark } from '../../api/types.ts'
import { formatTime } from '../../components/format.ts'

/** How long a bookmark made at the cursor lasts, when no range is selected. */
export const BOOKMARK_SPAN_MS = 30_000

/**
 * "Add bookmark": a small form (title, note) that bookmarks the leading camera at the player's
 * time, for 30 seconds, or the given range, and hands the new bookmark back for the timeline.
 */
export function BookmarkPanel({
  cameraId,
  cursor,
  range,
  onCreated,
}: {
  cameraId: string
  cursor: number
  range?: { from: number; to: number } | undefined
  onCreated: (bookmark: Bookmark) => void
}) {
  const [open, setOpen] = useState<{ from: number; to: number }>()
  const [title, setTitle] = useState('')
  const [note, setNote] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string>()

  const start = () => {
    const from = range?.from ?? cursor
    setOpen({ from, to: range?.to ?? from + BOOKMARK_SPAN_MS })
    setTitle('')
    setNote('')
    setError(undefined)
  }

  const save = async (e: FormEvent) => {
    e.preventDefault()
    if (!open) return
    if (!title.trim()) {
      setError('Give the bookmark a title.')
      return
    }
    setBusy(true)
    setError(undefined)
    try {
      const made = await api.post<Bookmark>('/api/v1/bookmarks', {
        cameraId,
        from: new Date(open.from).toISOString(),
        to: new Date(open.to).toISOString(),
        title,
        ...(note.trim() ? { note } : {}),
      })
      onCreated(made)
      setOpen(undefined)
    } catch (err) {
      setError(describeError(err))
    } finally {
      setBusy(false)
    }
  }

  if (!open)
    return (
      <div className="toolbar bookmarks">
        <button type="button" className="ghost" onClick={start}>
          Add bookmark
        </button>
      </div>
    )
  return (
    <form className="inline-form bookmark-form" aria-label="Add bookmark" onSubmit={(e) => void save(e)}>
      <span className="muted">
        {formatTime(new Date(open.from).toISOString())} – {formatTime(new Date(open.to).toISOString())}
      </span>
      <label>
        Title
        <input value={title} maxLength={200} required onChange={(e) => setTitle(e.target.value)} />
      </label>
      <label>
        Note
        <textarea value={note} maxLength={4000} rows={2} onChange={(e) => setNote(e.target.value)} />
      </label>
      <button type="submit" disabled={busy}>
        Save bookmark
      </button>
      <button type="button" className="ghost" onClick={() => setOpen(undefined)}>
        Cancel
      </button>
      {error && (
        <span role="alert" className="error">
          {error}
        </span>
      )}
    </form>
  )
}
