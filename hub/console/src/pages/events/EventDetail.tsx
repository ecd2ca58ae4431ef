import { type MouseEvent, useEffect, useRef, useState } from 'react'
import { Link } from 'react-router'
import type { ObjectEvent } from '../../api/analytics-types.ts'
import { api, describeError, errorFrom } from '../../api/client.ts'
import { formatTime } from '../../components/format.ts'
import { SnapshotImage } from '../../components/SnapshotImage.tsx'

export const percent = (score: number) => `${Math.round(score * 100)} %`

/** The words for an object event's state: still in view, or ended (with flags). */
export function objectState(e: ObjectEvent): string {
  const flags = [e.data.stationary ? 'stationary' : '', e.data.loitering ? 'loitering' : ''].filter(Boolean)
  return [e.data.endTime ? 'ended' : 'active', ...flags].join(', ')
}

/**
 * One object event in a modal dialog: the full snapshot with the object's box drawn by the hub,
 * its facts, the recording around it ("Download clip", fetched with the session's token) and a
 * link to playback at the moment it started.
 */
export function EventDetail({
  event: e,
  cameraName,
  onClose,
}: {
  event: ObjectEvent
  cameraName: string
  onClose: () => void
}) {
  const dialog = useRef<HTMLDialogElement>(null)
  const [download, setDownload] = useState<{ busy: boolean; error?: string }>({ busy: false })
  useEffect(() => {
    const d = dialog.current
    if (d && !d.open) d.showModal()
  }, [])
  const clipPath = `/api/v1/events/${e.id}/clip.mp4`
  const start = e.data.startTime || e.time

  const downloadClip = async (ev: MouseEvent<HTMLAnchorElement>) => {
    ev.preventDefault()
    setDownload({ busy: true })
    try {
      const res = await api.fetch(clipPath)
      if (!res.ok) throw await errorFrom(res)
      const blob = await res.blob()
      const disposition = res.headers.get('content-disposition') ?? ''
      const file = /filename="?([^";]+)"?/.exec(disposition)?.[1] ?? `${e.data.label}-${e.id}.mp4`
      const url = URL.createObjectURL(blob)
      const a = document.createElement('a')
      a.href = url
      a.download = file
      document.body.append(a)
      a.click()
      a.remove()
      setTimeout(() => URL.revokeObjectURL(url), 60_000)
      setDownload({ busy: false })
    } catch (err) {
      setDownload({ busy: false, error: `Could not download the clip: ${describeError(err)}` })
    }
  }

  const titleId = `event-detail-${e.id}`
  return (
    <dialog ref={dialog} className="event-detail" aria-labelledby={titleId} onClose={onClose}>
      <h2 id={titleId}>
        {e.data.label} at {cameraName}
      </h2>
      {e.data.hasSnapshot ? (
        <SnapshotImage
          className="event-detail-image"
          path={`/api/v1/events/${e.id}/snapshot.jpg?box=true`}
          alt={`Snapshot with box: ${e.data.label}`}
        />
      ) : (
        <p className="muted">No snapshot was saved for this event.</p>
      )}
      <dl className="event-facts">
        <dt>Score</dt>
        <dd>{percent(e.data.score)}</dd>
        <dt>Started</dt>
        <dd>
          <time dateTime={start}>{formatTime(start)}</time>
        </dd>
        <dt>Ended</dt>
        <dd>
          {e.data.endTime ? (
            <time dateTime={e.data.endTime}>{formatTime(e.data.endTime)}</time>
          ) : (
            'still active'
          )}
        </dd>
        <dt>State</dt>
        <dd>{objectState(e)}</dd>
        <dt>Zones</dt>
        <dd>{e.data.zones.length ? e.data.zones.join(', ') : 'none'}</dd>
      </dl>
      {download.error && (
        <p role="alert" className="error-box">
          {download.error}
        </p>
      )}
      <div className="event-detail-actions">
        <a
          className="button ghost"
          href={clipPath}
          onClick={(ev) => void downloadClip(ev)}
          aria-busy={download.busy}
        >
          {download.busy ? 'Downloading clip…' : 'Download clip'}
        </a>
        <Link className="button" to={`/playback/${e.cameraId}?t=${encodeURIComponent(start)}`}>
          Open in playback
        </Link>
        <button type="button" className="ghost" onClick={() => dialog.current?.close()}>
          Close
        </button>
      </div>
    </dialog>
  )
}
