import { type FormEvent, useCallback, useEffect, useRef, useState } from 'react'
import { Link, useSearchParams } from 'react-router'
import { COMMON_LABELS, isObjectEvent, type ObjectEvent } from '../../api/analytics-types.ts'
import { api, describeError } from '../../api/client.ts'
import {
  DEVICE_EVENT_TYPES,
  deviceEventDetail,
  deviceEventLabel,
  deviceEventState,
  isDeviceEvent,
} from '../../api/device-events.ts'
import type { CursorPage, VmsEvent } from '../../api/types.ts'
import { ErrorNotice } from '../../components/ErrorNotice.tsx'
import { formatTime, fromLocalInput } from '../../components/format.ts'
import { SnapshotImage } from '../../components/SnapshotImage.tsx'
import { TimeRangeFields } from '../../components/TimeRangeFields.tsx'
import { useCatalog } from '../../components/useCatalog.ts'
import { useLiveUpdates } from '../../components/useLiveUpdates.ts'
import { usePageTitle } from '../../components/usePageTitle.ts'
import { EventDetail, objectState, percent } from './EventDetail.tsx'
import { eventCount } from './event-count.ts'

const PAGE_SIZE = 50
const KNOWN_TYPES = [
  'agent.online',
  'agent.offline',
  'camera.online',
  'camera.offline',
  'motion',
  'object',
  ...DEVICE_EVENT_TYPES,
]

/** A readable summary of an event's data (its fields, never raw JSON). */
function summary(e: VmsEvent): string {
  return Object.entries(e.data)
    .filter(([, v]) => v !== null && v !== undefined && typeof v !== 'object')
    .slice(0, 4)
    .map(([k, v]) => `${k}: ${String(v)}`)
    .join(', ')
}

/**
 * Events from every site the user may see, newest first, filtered by site, camera, type and time.
 * More load as the list scrolls to its end (and with a button, for keyboards), each page after the
 * last one shown by the hub's cursor, so events arriving meanwhile never shift or repeat a page.
 * New events that match the filters arrive live from the hub's stream. An event with a camera
 * opens its playback at the event's time.
 */
export function EventsPage() {
  usePageTitle('Events')
  const catalog = useCatalog()
  const [params, setParams] = useSearchParams()
  const filters = {
    siteId: params.get('site') ?? '',
    cameraId: params.get('camera') ?? '',
    type: params.get('type') ?? '',
    from: params.get('from') ?? '',
    to: params.get('to') ?? '',
    label: params.get('label') ?? '',
    zone: params.get('zone') ?? '',
    active: params.get('active') === 'true',
  }
  /** Label, zone and "active only" are about object events: any of them asks for those alone. */
  const objectFilter = Boolean(filters.label || filters.zone || filters.active)
  const key = JSON.stringify(filters)
  const [items, setItems] = useState<VmsEvent[]>([])
  /** How many match: exact, or a floor when the hub stopped counting at its cap. */
  const [count, setCount] = useState({ total: 0, exact: true })
  /** The cursor of the next older page; null when the last page is shown. */
  const [nextBefore, setNextBefore] = useState<string | null>(null)
  const [loading, setLoading] = useState(false)
  const [error, setError] = useState<string>()
  const [detail, setDetail] = useState<ObjectEvent>()
  const sentinel = useRef<HTMLDivElement>(null)
  const loadingRef = useRef(false)
  /** Each first-page load supersedes the loads before it (the filters changed). */
  const generation = useRef(0)

  const load = useCallback(
    async (before?: string) => {
      if (before && loadingRef.current) return
      const mine = before ? generation.current : ++generation.current
      loadingRef.current = true
      setLoading(true)
      try {
        const f = JSON.parse(key) as typeof filters
        const page = await api.get<CursorPage<VmsEvent>>('/api/v1/events', {
          limit: PAGE_SIZE,
          before,
          siteId: f.siteId,
          cameraId: f.cameraId,
          type: f.label || f.zone || f.active ? 'object' : f.type,
          label: f.label,
          zone: f.zone,
          active: f.active ? 'true' : undefined,
          from: f.from,
          to: f.to,
        })
        if (mine !== generation.current) return
        // A live event may already be on screen: a page never shows it twice.
        setItems((prev) => {
          if (!before) return page.items
          const shown = new Set(prev.map((e) => e.id))
          return [...prev, ...page.items.filter((e) => !shown.has(e.id))]
        })
        setCount({ total: page.total, exact: page.totalExact })
        setNextBefore(page.nextBefore)
        setError(undefined)
      } catch (err) {
        if (mine === generation.current) setError(describeError(err))
      } finally {
        if (mine === generation.current) {
          loadingRef.current = false
          setLoading(false)
        }
      }
    },
    [key],
  )

  useEffect(() => {
    setItems([])
    setNextBefore(null)
    void load()
  }, [load])

  const more = nextBefore !== null
  useEffect(() => {
    const el = sentinel.current
    if (!el || !nextBefore) return
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) void load(nextBefore)
    })
    observer.observe(el)
    return () => observer.disconnect()
  }, [nextBefore, load])

  /** The list as on screen, for the live handler (an object event updates its row in place). */
  const shownRef = useRef(items)
  shownRef.current = items
  useLiveUpdates((m) => {
    if (m.type !== 'event') return
    const e = m.data as VmsEvent
    if (!e || typeof e.id !== 'string') return
    const matches = (() => {
      if (filters.siteId && e.siteId !== filters.siteId) return false
      if (filters.cameraId && e.cameraId !== filters.cameraId) return false
      if (filters.type && !objectFilter && e.type !== filters.type) return false
      if (!objectFilter) return true
      if (!isObjectEvent(e)) return false
      if (filters.label && e.data.label !== filters.label) return false
      if (filters.zone && !e.data.zones.includes(filters.zone)) return false
      return !(filters.active && e.data.endTime)
    })()
    // An object event is one row, updated as the object moves: the row on screen changes (or
    // leaves, when it no longer matches, e.g. it ended under "Active only").
    if (shownRef.current.some((p) => p.id === e.id)) {
      if (matches) setItems((prev) => prev.map((p) => (p.id === e.id ? e : p)))
      else {
        setItems((prev) => prev.filter((p) => p.id !== e.id))
        setCount((c) => (c.exact ? { ...c, total: Math.max(0, c.total - 1) } : c))
      }
      if (isObjectEvent(e)) setDetail((d) => (d?.id === e.id ? e : d))
      return
    }
    if (!matches || filters.to) return
    setItems((prev) => (prev.some((p) => p.id === e.id) ? prev : [e, ...prev]))
    setCount((c) => (c.exact ? { ...c, total: c.total + 1 } : c))
  })

  const apply = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault()
    const form = new FormData(e.currentTarget)
    const next = new URLSearchParams()
    const site = String(form.get('site') ?? '')
    const camera = String(form.get('camera') ?? '')
    const type = String(form.get('type') ?? '').trim()
    const from = fromLocalInput(String(form.get('from') ?? ''))
    const to = fromLocalInput(String(form.get('to') ?? ''))
    const label = String(form.get('label') ?? '').trim()
    const zone = String(form.get('zone') ?? '').trim()
    const active = form.get('active') === 'on'
    if (site) next.set('site', site)
    if (camera) next.set('camera', camera)
    if (type) next.set('type', type)
    if (from) next.set('from', from)
    if (to) next.set('to', to)
    if (label) next.set('label', label)
    if (zone) next.set('zone', zone)
    if (active) next.set('active', 'true')
    setParams(next)
  }

  const cameraName = (id: string | null) =>
    id ? (catalog.cameras.find((c) => c.id === id)?.name ?? 'camera') : ''
  return (
    <section className="page">
      <h1>Events</h1>
      <form className="inline-form filters" key={key} onSubmit={apply} aria-label="Filter events">
        <label>
          Site
          <select name="site" defaultValue={filters.siteId}>
            <option value="">All sites</option>
            {catalog.sites.map((s) => (
              <option key={s.id} value={s.id}>
                {s.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Camera
          <select name="camera" defaultValue={filters.cameraId}>
            <option value="">All cameras</option>
            {catalog.cameras.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name} ({catalog.siteName(c.siteId)})
              </option>
            ))}
          </select>
        </label>
        <label>
          Type
          <input name="type" list="event-types" maxLength={64} defaultValue={filters.type} />
          <datalist id="event-types">
            {KNOWN_TYPES.map((t) => (
              <option key={t} value={t} />
            ))}
          </datalist>
        </label>
        <label>
          Label
          <input name="label" list="object-labels" maxLength={64} defaultValue={filters.label} />
          <datalist id="object-labels">
            {COMMON_LABELS.map((l) => (
              <option key={l} value={l} />
            ))}
          </datalist>
        </label>
        <label>
          Zone
          <input name="zone" maxLength={64} defaultValue={filters.zone} />
        </label>
        <label className="check">
          <input type="checkbox" name="active" defaultChecked={filters.active} /> Active only
        </label>
        <TimeRangeFields from={filters.from || undefined} to={filters.to || undefined} />
        <button type="submit">Apply filters</button>
        <button type="button" className="ghost" onClick={() => setParams(new URLSearchParams())}>
          Clear filters
        </button>
      </form>
      <ErrorNotice
        message={error}
        onRetry={() => void load(items.length > 0 ? (nextBefore ?? undefined) : undefined)}
      />
      <p className="muted" aria-live="polite">
        {loading && items.length === 0 ? 'Loading events…' : eventCount(count.total, count.exact)}
      </p>
      <ol className="event-list" aria-label="Events, newest first">
        {items.map((e) =>
          isObjectEvent(e) ? (
            <ObjectEventItem
              key={e.id}
              event={e}
              where={`${e.siteId ? catalog.siteName(e.siteId) : ''} · ${cameraName(e.cameraId)}`}
              onOpen={() => setDetail(e)}
            />
          ) : (
            <li key={e.id} className="card event">
              {typeof e.data.snapshot === 'string' &&
                /^data:image\/(jpeg|png);base64,/.test(e.data.snapshot) && (
                  <img className="thumb" src={e.data.snapshot} alt={`Snapshot of ${e.type}`} />
                )}
              <div>
                {isDeviceEvent(e) ? (
                  <>
                    <strong title={e.type}>{deviceEventLabel(e.type)}</strong>{' '}
                    {deviceEventState(e) && (
                      <span className={`badge ${e.data.state === 'start' ? 'badge-warn' : ''}`}>
                        {deviceEventState(e)}
                      </span>
                    )}{' '}
                  </>
                ) : (
                  <strong>{e.type}</strong>
                )}{' '}
                <time dateTime={e.time}>{formatTime(e.time)}</time>
                <div className="muted">
                  {e.siteId ? catalog.siteName(e.siteId) : ''}
                  {e.cameraId ? ` · ${cameraName(e.cameraId)}` : ''}
                </div>
                {isDeviceEvent(e)
                  ? deviceEventDetail(e) && <div className="small-text">{deviceEventDetail(e)}</div>
                  : summary(e) && <div className="mono small-text">{summary(e)}</div>}
              </div>
              {e.cameraId && (
                <Link
                  className="button"
                  to={`/playback/${e.cameraId}?t=${encodeURIComponent(e.time)}`}
                  aria-label={`Play back ${cameraName(e.cameraId)} at ${formatTime(e.time)}`}
                >
                  Play back
                </Link>
              )}
            </li>
          ),
        )}
      </ol>
      {detail && (
        <EventDetail
          key={detail.id}
          event={detail}
          cameraName={cameraName(detail.cameraId)}
          onClose={() => setDetail(undefined)}
        />
      )}
      {!loading && items.length === 0 && !error && <p>No events match.</p>}
      {more && (
        <div ref={sentinel}>
          <button
            type="button"
            className="ghost"
            disabled={loading}
            onClick={() => nextBefore && void load(nextBefore)}
          >
            {loading ? 'Loading…' : 'Load more events'}
          </button>
        </div>
      )}
    </section>
  )
}

/**
 * An object event in the list: its cropped snapshot (fetched when it scrolls into view), label,
 * score, zones and whether the object is still in view; the label opens the detail.
 */
function ObjectEventItem({
  event: e,
  where,
  onOpen,
}: {
  event: ObjectEvent
  where: string
  onOpen: () => void
}) {
  const d = e.data
  const ended = Boolean(d.endTime)
  return (
    <li className="card event object-event" data-event-id={e.id}>
      {d.hasSnapshot ? (
        <SnapshotImage
          className="thumb"
          lazy
          path={`/api/v1/events/${e.id}/snapshot.jpg?crop=true`}
          alt={`Snapshot: ${d.label}`}
        />
      ) : (
        <span className="thumb snapshot-placeholder">No snapshot</span>
      )}
      <div>
        <button
          type="button"
          className="link"
          onClick={onOpen}
          aria-haspopup="dialog"
          aria-label={`Details of ${d.label} at ${formatTime(e.time)}`}
        >
          <strong>{d.label}</strong>
        </button>{' '}
        <span className="muted">{percent(d.score)}</span>{' '}
        <span className={`badge ${ended ? '' : 'badge-ok'}`}>{objectState(e)}</span>{' '}
        <time dateTime={e.time}>{formatTime(e.time)}</time>
        <div className="muted">{where}</div>
        <div className="small-text">{d.zones.length ? `Zones: ${d.zones.join(', ')}` : 'No zone'}</div>
      </div>
      <Link
        className="button"
        to={`/playback/${e.cameraId}?t=${encodeURIComponent(d.startTime || e.time)}`}
        aria-label={`Play back ${d.label} at ${formatTime(e.time)}`}
      >
        Play back
      </Link>
    </li>
  )
}
