import { type FormEvent, useId, useState } from 'react'
import type { Case } from '../../api/case-types.ts'
import { casesApi, describeError } from '../../api/client.ts'
import type { Camera } from '../../api/types.ts'
import { fromLocalInput, toLocalInput } from '../../components/format.ts'

interface ClipRow {
  key: number
  cameraId: string
  from: string
  to: string
  note: string
}

const MAX_CLIPS = 20

/** A clip row starting on the last minute, the usual "what just happened" case. */
function blankClip(key: number, cameraId: string): ClipRow {
  const now = Date.now()
  return {
    key,
    cameraId,
    from: toLocalInput(new Date(now - 120_000).toISOString()),
    to: toLocalInput(new Date(now - 60_000).toISOString()),
    note: '',
  }
}

/**
 * A new case: its name and description, and 1 to 20 clips (camera, from, to, note). The hub
 * answers at once and collects the clips from the sites in the background.
 */
export function NewCaseForm({
  cameras,
  siteName,
  onCreated,
}: {
  cameras: Camera[]
  siteName: (siteId: string) => string
  onCreated: (c: Case) => void
}) {
  const [name, setName] = useState('')
  const [description, setDescription] = useState('')
  const [nextKey, setNextKey] = useState(1)
  const [clips, setClips] = useState<ClipRow[]>(() => [blankClip(0, cameras[0]?.id ?? '')])
  const [error, setError] = useState<string>()
  const [busy, setBusy] = useState(false)
  // Labels name their fields by id: a label wrapping a select would also take in its options' text.
  const id = useId()

  const change = (key: number, patch: Partial<ClipRow>) =>
    setClips((rows) => rows.map((r) => (r.key === key ? { ...r, ...patch } : r)))

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setError(undefined)
    const body = []
    for (const [i, c] of clips.entries()) {
      const from = fromLocalInput(c.from)
      const to = fromLocalInput(c.to)
      if (!c.cameraId) return setError(`Clip ${i + 1}: choose a camera.`)
      if (!from || !to || Date.parse(to) <= Date.parse(from))
        return setError(`Clip ${i + 1}: choose a start before the end.`)
      body.push({ cameraId: c.cameraId, from, to, ...(c.note.trim() ? { note: c.note } : {}) })
    }
    setBusy(true)
    try {
      const made = await casesApi.create({
        name,
        ...(description.trim() ? { description } : {}),
        clips: body,
      })
      onCreated(made)
    } catch (err) {
      setError(describeError(err))
    } finally {
      setBusy(false)
    }
  }

  return (
    <form className="case-form" aria-label="New case" onSubmit={(e) => void submit(e)}>
      <h2>New case</h2>
      <div className="case-field">
        <label htmlFor={`${id}-name`}>Name</label>
        <input
          id={`${id}-name`}
          value={name}
          onChange={(e) => setName(e.target.value)}
          required
          maxLength={200}
        />
      </div>
      <div className="case-field">
        <label htmlFor={`${id}-description`}>Description</label>
        <textarea
          id={`${id}-description`}
          value={description}
          onChange={(e) => setDescription(e.target.value)}
          maxLength={4000}
        />
      </div>
      {clips.map((c, i) => (
        <fieldset key={c.key} className="case-clip-row">
          <legend>Clip {i + 1}</legend>
          <div className="case-field">
            <label htmlFor={`${id}-camera-${c.key}`}>Camera</label>
            <select
              id={`${id}-camera-${c.key}`}
              value={c.cameraId}
              onChange={(e) => change(c.key, { cameraId: e.target.value })}
              required
            >
              <option value="">Choose a camera</option>
              {cameras.map((cam) => (
                <option key={cam.id} value={cam.id}>
                  {cam.name} ({siteName(cam.siteId)})
                </option>
              ))}
            </select>
          </div>
          <div className="case-field">
            <label htmlFor={`${id}-from-${c.key}`}>From</label>
            <input
              id={`${id}-from-${c.key}`}
              type="datetime-local"
              step={1}
              value={c.from}
              onChange={(e) => change(c.key, { from: e.target.value })}
              required
            />
          </div>
          <div className="case-field">
            <label htmlFor={`${id}-to-${c.key}`}>To</label>
            <input
              id={`${id}-to-${c.key}`}
              type="datetime-local"
              step={1}
              value={c.to}
              onChange={(e) => change(c.key, { to: e.target.value })}
              required
            />
          </div>
          <div className="case-field">
            <label htmlFor={`${id}-note-${c.key}`}>Note</label>
            <input
              id={`${id}-note-${c.key}`}
              value={c.note}
              onChange={(e) => change(c.key, { note: e.target.value })}
              maxLength={4000}
            />
          </div>
          {clips.length > 1 && (
            <button
              type="button"
              className="ghost"
              aria-label={`Remove clip ${i + 1}`}
              onClick={() => setClips((rows) => rows.filter((r) => r.key !== c.key))}
            >
              Remove
            </button>
          )}
        </fieldset>
      ))}
      <div className="case-form-actions">
        <button
          type="button"
          disabled={clips.length >= MAX_CLIPS}
          onClick={() => {
            setClips((rows) => [...rows, blankClip(nextKey, rows.at(-1)?.cameraId ?? cameras[0]?.id ?? '')])
            setNextKey((k) => k + 1)
          }}
        >
          Add clip
        </button>
        <button type="submit" disabled={busy}>
          Create case
        </button>
      </div>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </form>
  )
}
