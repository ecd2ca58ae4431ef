import { type KeyboardEvent, useCallback, useEffect, useMemo, useRef, useState } from 'react'
import { Link, useNavigate, useParams, useSearchParams } from 'react-router'
import { type CameraActivity, isObjectEvent } from '../../api/analytics-types.ts'
import { api, describeError } from '../../api/client.ts'
import { deviceEventLabel, isDeviceEvent } from '../../api/device-events.ts'
import type { Bookmark, Page, Recordings, VmsEvent } from '../../api/types.ts'
import { ErrorNotice } from '../../components/ErrorNotice.tsx'
import { formatTime, fromLocalInput, toLocalInput } from '../../components/format.ts'
import { siteTimes } from '../../components/site-time.ts'
import { useCatalog } from '../../components/useCatalog.ts'
import { usePageTitle } from '../../components/usePageTitle.ts'
import { BookmarkPanel } from './BookmarkPanel.tsx'
import { ExportPanel } from './ExportPanel.tsx'
import { PlaybackPlayer, type PlaybackState } from './playback-player.ts'
import { Timeline, type TimelineRow } from './Timeline.tsx'
import { bucketSecondsFor, landing, viewAround, ZOOMS } from './timeline.ts'

const SPEEDS = [0.5, 1, 2, 4, 8]
const MAX_CAMERAS = 4
/** How far apart the cameras may drift before the followers are put back on the leader's time. */
const SYNC_TOLERANCE_MS = 400

const bookmarkMarker = (b: Bookmark) => ({
  id: b.id,
  from: Date.parse(b.from),
  to: Date.parse(b.to),
  title: b.title,
})

interface Tile {
  cameraId: string
  state: PlaybackState
  detail?: string
}

/**
 * Playback: up to four cameras on one time cursor. The first camera leads; the others follow its
 * wall-clock time. The timeline shows what each camera recorded, its gaps and events, and seeks
 * on click or drag; the URL keeps the camera(s) and time, so a link opens the same moment.
 */
export function PlaybackPage() {
  usePageTitle('Playback')
  const { cameraId } = useParams()
  const [params, setParams] = useSearchParams()
  const navigate = useNavigate()
  const catalog = useCatalog()
  const others = (params.get('with') ?? '')
    .split(',')
    .filter((id) => /^[0-9a-f-]{36}$/i.test(id) && id !== cameraId)
    .slice(0, MAX_CAMERAS - 1)
  const cameraIds = cameraId ? [cameraId, ...others] : []
  const idsKey = cameraIds.join(',')
  // Only the time the page opened with (per set of cameras): later the players move the cursor.
  // biome-ignore lint/correctness/useExhaustiveDependencies: deliberately per set of cameras
  const initial = useMemo(() => {
    const t = Date.parse(params.get('t') ?? '')
    return Number.isFinite(t) ? t : Date.now() - 5 * 60_000
  }, [idsKey])
  const [cursor, setCursor] = useState<number>(initial)
  const [zoom, setZoom] = useState(2)
  const [center, setCenter] = useState(initial)
  const [speed, setSpeed] = useState(1)
  const [paused, setPaused] = useState(false)
  const [tiles, setTiles] = useState<Tile[]>([])
  const [rows, setRows] = useState<TimelineRow[]>([])
  const [error, setError] = useState<string>()
  const [goTo, setGoTo] = useState(() => toLocalInput(new Date(initial).toISOString()))
  const players = useRef<PlaybackPlayer[]>([])
  const videos = useRef<(HTMLVideoElement | null)[]>([])

  const view = viewAround(center, ZOOMS[zoom]?.ms ?? 3600_000, Date.now())

  // One player per camera, for as long as the set of cameras stays the same.
  // biome-ignore lint/correctness/useExhaustiveDependencies: keyed on the set of cameras, not on the array
  useEffect(() => {
    setTiles(cameraIds.map((id) => ({ cameraId: id, state: 'loading' })))
    const made: PlaybackPlayer[] = []
    cameraIds.forEach((id, i) => {
      const video = videos.current[i]
      if (!video) return
      const player = new PlaybackPlayer(video, {
        cameraId: id,
        token: () => api.accessToken(),
        onState: (state, detail) =>
          setTiles((prev) => prev.map((t) => (t.cameraId === id ? { ...t, state, detail } : t))),
        ...(i === 0 ? { onTime: (t: number) => setCursor(t) } : {}),
      })
      made.push(player)
      void player.seek(initial)
    })
    players.current = made
    return () => {
      for (const p of made) p.close()
      players.current = []
    }
  }, [idsKey])

  // Followers keep to the leader's time.
  // biome-ignore lint/correctness/useExhaustiveDependencies: restarted when the set of cameras changes
  useEffect(() => {
    const timer = setInterval(() => {
      const [leader, ...followers] = players.current
      const t = leader?.wallTime()
      if (t === undefined) return
      for (const f of followers) {
        const ft = f.wallTime()
        if (ft === undefined || Math.abs(ft - t) > SYNC_TOLERANCE_MS) void f.seek(t)
      }
    }, 500)
    return () => clearInterval(timer)
  }, [idsKey])

  // Keep the cursor in view while playing, and the URL on the time shown (once a second).
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs once per second of the cursor
  useEffect(() => {
    if (cursor > view.to || cursor < view.from) setCenter(cursor)
    const handle = setTimeout(() => {
      const next = new URLSearchParams(params)
      next.set('t', new Date(cursor).toISOString())
      setParams(next, { replace: true })
    }, 1000)
    return () => clearTimeout(handle)
  }, [Math.floor(cursor / 1000)])

  // What each camera recorded over the view, and its events.
  const viewKey = `${idsKey}|${Math.floor(view.from / 60_000)}|${Math.floor(view.to / 60_000)}`
  // biome-ignore lint/correctness/useExhaustiveDependencies: keyed on the view to the minute
  useEffect(() => {
    const abort = new AbortController()
    const from = new Date(view.from).toISOString()
    const to = new Date(view.to).toISOString()
    const bucketSeconds = bucketSecondsFor(view.to - view.from)
    // Buckets on round times, so a bar stays where it was as the view moves.
    const activityFrom = new Date(
      Math.floor(view.from / (bucketSeconds * 1000)) * bucketSeconds * 1000,
    ).toISOString()
    const none: Page<VmsEvent> = { items: [], total: 0 }
    const noBookmarks: Page<Bookmark> = { items: [], total: 0 }
    Promise.all(
      cameraIds.map(async (id) => {
        // Recordings come from the agent: when it cannot answer, the row still shows what the hub
        // knows (events, motion) and the page says why the recordings are missing.
        let recordingsError: unknown
        const [rec, events, objects, activity, bookmarks] = await Promise.all([
          api
            .get<Recordings>(`/api/v1/cameras/${id}/recordings`, { from, to }, abort.signal)
            .catch((err: unknown): Pick<Recordings, 'ranges'> => {
              recordingsError = err
              return { ranges: [] }
            }),
          api
            .get<Page<VmsEvent>>('/api/v1/events', { cameraId: id, from, to, limit: 200 }, abort.signal)
            .catch(() => none),
          // Object events have their own request, so other events never crowd them out.
          api
            .get<Page<VmsEvent>>(
              '/api/v1/events',
              { cameraId: id, type: 'object', from, to, limit: 200 },
              abort.signal,
            )
            .catch(() => none),
          api
            .get<CameraActivity>(
              `/api/v1/cameras/${id}/activity`,
              { from: activityFrom, to, bucketSeconds },
              abort.signal,
            )
            .catch(() => undefined),
          api
            .get<Page<Bookmark>>('/api/v1/bookmarks', { cameraId: id, from, to, limit: 200 }, abort.signal)
            .catch(() => noBookmarks),
        ])
        const row: TimelineRow = {
          cameraId: id,
          name: catalog.cameras.find((c) => c.id === id)?.name ?? 'camera',
          ranges: rec.ranges
            .filter((r) => r.stream === 'main')
            .map((r) => ({ from: Date.parse(r.from), to: Date.parse(r.to) })),
          events: events.items
            // A device event's end is not a moment of its own: its start (or pulse) is the marker.
            .filter((e) => e.type !== 'object' && !(isDeviceEvent(e) && e.data.state === 'end'))
            .map((e) => ({
              time: Date.parse(e.time),
              type: e.type,
              ...(isDeviceEvent(e) ? { label: deviceEventLabel(e.type) } : {}),
            })),
          objects: objects.items.filter(isObjectEvent).map((e) => ({
            id: e.id,
            time: Date.parse(e.data.startTime || e.time),
            label: e.data.label,
            active: !e.data.endTime,
          })),
          bookmarks: bookmarks.items.map(bookmarkMarker),
          ...(activity
            ? {
                activity: {
                  bucketSeconds: activity.bucketSeconds ?? bucketSeconds,
                  buckets: activity.buckets.map((b) => ({
                    start: Date.parse(b.start),
                    motionSeconds: b.motionSeconds,
                  })),
                },
              }
            : {}),
        }
        return { row, error: recordingsError }
      }),
    ).then(
      (r) => {
        if (abort.signal.aborted) return
        setRows(r.map((x) => x.row))
        const failed = r.find((x) => x.error !== undefined)
        setError(failed ? describeError(failed.error) : undefined)
      },
      (err: unknown) => {
        if (!abort.signal.aborted) setError(describeError(err))
      },
    )
    return () => abort.abort()
  }, [viewKey, catalog.cameras])

  // A new bookmark shows at once, without asking the agent for the recordings again.
  const addBookmark = (b: Bookmark) =>
    setRows((prev) =>
      prev.map((r) =>
        r.cameraId === b.cameraId ? { ...r, bookmarks: [...(r.bookmarks ?? []), bookmarkMarker(b)] } : r,
      ),
    )

  const seek = useCallback(
    (t: number) => {
      const target = Math.min(t, Date.now())
      // Into a gap: on to the next recorded range of the leading camera.
      const lead = rows[0]
      const lands = lead ? (landing(target, lead.ranges) ?? target) : target
      setCursor(lands)
      for (const p of players.current) void p.seek(lands)
    },
    [rows],
  )
  const togglePlay = () => {
    const next = !paused
    setPaused(next)
    for (const p of players.current) next ? p.pause() : p.play()
  }
  const step = (ms: number) => seek(cursor + ms)
  const zoomBy = (d: number) => {
    setZoom((z) => Math.min(ZOOMS.length - 1, Math.max(0, z + d)))
    setCenter(cursor)
  }
  useEffect(() => {
    for (const p of players.current) p.setRate(speed)
  }, [speed])

  const onKey = (e: KeyboardEvent) => {
    const target = e.target as HTMLElement
    if (['INPUT', 'SELECT', 'TEXTAREA'].includes(target.tagName)) return
    if (e.key === ' ' && target.tagName !== 'BUTTON') {
      e.preventDefault()
      togglePlay()
    } else if (e.key === 'ArrowRight' && target.getAttribute('role') !== 'slider') {
      e.preventDefault()
      step(10_000)
    } else if (e.key === 'ArrowLeft' && target.getAttribute('role') !== 'slider') {
      e.preventDefault()
      step(-10_000)
    } else if (e.key === '+' || e.key === '=') zoomBy(1)
    else if (e.key === '-') zoomBy(-1)
  }

  const setCameras = (ids: string[]) => {
    const [first, ...rest] = ids
    if (!first) {
      navigate('/playback')
      return
    }
    const q = new URLSearchParams({ t: new Date(cursor).toISOString() })
    if (rest.length) q.set('with', rest.join(','))
    navigate(`/playback/${first}?${q.toString()}`)
  }

  if (!cameraId) {
    return (
      <section className="page">
        <h1>Playback</h1>
        <ErrorNotice message={catalog.error} onRetry={catalog.reload} />
        <p>Choose a camera to play back its recording.</p>
        {catalog.sites.map((site) => {
          const cams = catalog.cameras.filter((c) => c.siteId === site.id)
          if (!cams.length) return null
          return (
            <section key={site.id}>
              <h2>{site.name}</h2>
              <ul>
                {cams.map((c) => (
                  <li key={c.id}>
                    <Link to={`/playback/${c.id}`}>{c.name}</Link>
                  </li>
                ))}
              </ul>
            </section>
          )
        })}
        {!catalog.loading && catalog.cameras.length === 0 && <p>No cameras are visible to you.</p>}
      </section>
    )
  }

  const nameOf = (id: string) => catalog.cameras.find((c) => c.id === id)?.name ?? 'Camera'
  const canAdd = cameraIds.length < MAX_CAMERAS
  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: the page's keyboard shortcuts
    <section className="page playback" onKeyDown={onKey}>
      <div className="toolbar">
        <h1>Playback</h1>
        <output
          className="clock"
          aria-label="Time on screen"
          title={siteTimes(
            cursor,
            catalog.sites.filter((site) =>
              cameraIds.some((id) => catalog.cameras.find((c) => c.id === id)?.siteId === site.id),
            ),
          )}
        >
          {formatTime(new Date(cursor).toISOString())}
        </output>
      </div>
      <ErrorNotice message={error} />
      <div className={`playback-grid playback-${cameraIds.length}`}>
        {cameraIds.map((id, i) => {
          const tile = tiles.find((t) => t.cameraId === id)
          return (
            <figure key={id} className="tile playback-tile" data-camera-id={id} data-state={tile?.state}>
              <video
                ref={(el) => {
                  videos.current[i] = el
                }}
                data-role="playback"
                muted
                playsInline
                aria-label={`Recording of ${nameOf(id)}`}
              />
              <figcaption>
                <span className="tile-name">{nameOf(id)}</span>
                <span
                  className={`badge badge-${tile?.state === 'playing' ? 'ok' : tile?.state === 'failed' || tile?.state === 'no-recording' ? 'bad' : 'warn'}`}
                >
                  {tile?.state ?? 'loading'}
                </span>
                {cameraIds.length > 1 && (
                  <button
                    type="button"
                    className="ghost small"
                    aria-label={`Remove ${nameOf(id)}`}
                    onClick={() => setCameras(cameraIds.filter((x) => x !== id))}
                  >
                    Remove
                  </button>
                )}
              </figcaption>
              {tile?.detail && tile.state !== 'playing' && <p className="tile-detail">{tile.detail}</p>}
            </figure>
          )
        })}
      </div>
      <div className="toolbar controls">
        <button type="button" onClick={togglePlay}>
          {paused ? 'Play' : 'Pause'}
        </button>
        <button type="button" className="ghost" onClick={() => step(-10_000)}>
          Back 10 seconds
        </button>
        <button type="button" className="ghost" onClick={() => step(10_000)}>
          Forward 10 seconds
        </button>
        <label>
          Speed
          <select value={speed} onChange={(e) => setSpeed(Number(e.target.value))}>
            {SPEEDS.map((s) => (
              <option key={s} value={s}>
                {s}×
              </option>
            ))}
          </select>
        </label>
        <button type="button" className="ghost" disabled={zoom <= 0} onClick={() => zoomBy(-1)}>
          Zoom out
        </button>
        <button type="button" className="ghost" disabled={zoom >= ZOOMS.length - 1} onClick={() => zoomBy(1)}>
          Zoom in
        </button>
        <span className="muted">{ZOOMS[zoom]?.label}</span>
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault()
            const iso = fromLocalInput(goTo)
            if (iso) {
              setCenter(Date.parse(iso))
              seek(Date.parse(iso))
            }
          }}
        >
          <label>
            Go to time
            <input type="datetime-local" step={1} value={goTo} onChange={(e) => setGoTo(e.target.value)} />
          </label>
          <button type="submit">Go</button>
        </form>
      </div>
      <Timeline from={view.from} to={view.to} cursor={cursor} rows={rows} onSeek={seek} />
      <div className="toolbar">
        <label>
          Camera
          <select value={cameraId} onChange={(e) => setCameras([e.target.value, ...others])}>
            {catalog.cameras.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name} ({catalog.siteName(c.siteId)})
              </option>
            ))}
          </select>
        </label>
        {canAdd && (
          <label>
            Add a camera
            <select
              value=""
              onChange={(e) => {
                if (e.target.value) setCameras([...cameraIds, e.target.value])
              }}
            >
              <option value="">Choose…</option>
              {catalog.cameras
                .filter((c) => !cameraIds.includes(c.id))
                .map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name} ({catalog.siteName(c.siteId)})
                  </option>
                ))}
            </select>
          </label>
        )}
        <span className="muted">Shortcuts: space play/pause, ← → 10 s, + − zoom.</span>
      </div>
      <BookmarkPanel cameraId={cameraId} cursor={cursor} onCreated={addBookmark} />
      <ExportPanel cameraId={cameraId} cameraName={nameOf(cameraId)} cursor={cursor} />
    </section>
  )
}
