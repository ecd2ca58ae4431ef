import { type CSSProperties, type PointerEvent, useRef, useState } from 'react'
import { formatTime } from '../../components/format.ts'
import { fraction, mergeRanges, motionShare, ticks } from './timeline.ts'

export interface TimelineRow {
  cameraId: string
  name: string
  ranges: { from: number; to: number }[]
  /** Event markers; `label` names a device's own event (line crossing, tampering...). */
  events: { time: number; type: string; label?: string }[]
  /** Object events (analytics): a marker with the object's label at the time it was first seen. */
  objects?: { id: string; time: number; label: string; active: boolean }[]
  /** Bookmarks (a user's named time ranges): a marker over their range, titled with their title. */
  bookmarks?: { id: string; from: number; to: number; title: string }[]
  /** Seconds of motion per bucket, drawn as bars under the row. */
  activity?: { bucketSeconds: number; buckets: { start: number; motionSeconds: number }[] }
}

interface Props {
  from: number
  to: number
  cursor: number | undefined
  rows: TimelineRow[]
  onSeek: (t: number) => void
}

/** A bookmark: a strip along the top of its camera's row, over its range (styled here, not in the sheet). */
const BOOKMARK_STYLE: CSSProperties = {
  position: 'absolute',
  top: 0,
  height: '0.4rem',
  background: 'var(--focus)',
  borderRadius: '2px',
  zIndex: 1,
}

const clock = (t: number, span: number) =>
  new Date(t).toLocaleTimeString(
    undefined,
    span <= 600_000 ? { timeStyle: 'medium' } : { timeStyle: 'short' },
  )

/**
 * Recorded ranges (filled), gaps (empty), event markers, object events with their labels, bookmarks and a
 * strip of motion activity (a bar per bucket, as high as the share of it with motion) per camera
 * over the view, with the
 * time cursor. Drag to scrub, click to seek; the keyboard works through the page's shortcuts and
 * the slider's arrow keys.
 */
export function Timeline({ from, to, cursor, rows, onSeek }: Props) {
  const bar = useRef<HTMLDivElement>(null)
  const [scrub, setScrub] = useState<number>()
  const span = to - from
  const timeAt = (clientX: number) => {
    const rect = bar.current?.getBoundingClientRect()
    if (!rect || rect.width === 0) return from
    return from + ((clientX - rect.left) / rect.width) * span
  }
  const down = (e: PointerEvent<HTMLDivElement>) => {
    e.currentTarget.setPointerCapture(e.pointerId)
    setScrub(timeAt(e.clientX))
  }
  const move = (e: PointerEvent<HTMLDivElement>) => {
    if (scrub !== undefined) setScrub(timeAt(e.clientX))
  }
  const up = (e: PointerEvent<HTMLDivElement>) => {
    if (scrub === undefined) return
    setScrub(undefined)
    onSeek(timeAt(e.clientX))
  }
  const shown = scrub ?? cursor
  return (
    <div className="timeline">
      <div
        ref={bar}
        className="timeline-bar"
        role="slider"
        tabIndex={0}
        aria-label="Timeline"
        aria-valuemin={from}
        aria-valuemax={to}
        aria-valuenow={shown !== undefined ? Math.round(shown) : from}
        aria-valuetext={shown !== undefined ? formatTime(new Date(shown).toISOString()) : 'no time'}
        onPointerDown={down}
        onPointerMove={move}
        onPointerUp={up}
        onKeyDown={(e) => {
          const step = span / 100
          if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
            e.preventDefault()
            e.stopPropagation()
            onSeek((shown ?? from) + (e.key === 'ArrowRight' ? step : -step))
          }
        }}
      >
        <div className="timeline-ticks" aria-hidden="true">
          {ticks(from, to).map((t) => (
            <span key={t} style={{ left: `${fraction(t, from, to) * 100}%` }}>
              {clock(t, span)}
            </span>
          ))}
        </div>
        {rows.map((row) => (
          <div key={row.cameraId} className="timeline-row" data-camera-id={row.cameraId} aria-hidden="true">
            <span className="timeline-name">{row.name}</span>
            {mergeRanges(row.ranges)
              .filter((r) => r.to > from && r.from < to)
              .map((r) => (
                <span
                  key={r.from}
                  className="timeline-range"
                  style={{
                    left: `${fraction(r.from, from, to) * 100}%`,
                    width: `${(fraction(r.to, from, to) - fraction(r.from, from, to)) * 100}%`,
                  }}
                />
              ))}
            {row.events
              .filter((ev) => ev.time >= from && ev.time <= to)
              .map((ev) => (
                <span
                  key={`${ev.time}:${ev.type}`}
                  className={`timeline-event${ev.label ? ' timeline-device-event' : ''}`}
                  data-type={ev.type}
                  title={`${ev.label ?? ev.type} ${formatTime(new Date(ev.time).toISOString())}`}
                  style={{ left: `${fraction(ev.time, from, to) * 100}%` }}
                />
              ))}
            {(row.objects ?? [])
              .filter((o) => o.time >= from && o.time <= to)
              .map((o) => (
                <span
                  key={o.id}
                  className={`timeline-object${o.active ? ' active' : ''}`}
                  data-label={o.label}
                  title={`${o.label} ${formatTime(new Date(o.time).toISOString())}`}
                  style={{ left: `${fraction(o.time, from, to) * 100}%` }}
                >
                  <span className="timeline-object-label">{o.label}</span>
                </span>
              ))}
            {(row.bookmarks ?? [])
              .filter((b) => b.to >= from && b.from <= to)
              .map((b) => (
                <span
                  key={b.id}
                  className="timeline-bookmark"
                  data-bookmark-id={b.id}
                  title={b.title}
                  style={{
                    ...BOOKMARK_STYLE,
                    left: `${fraction(b.from, from, to) * 100}%`,
                    width: `max(3px, ${(fraction(b.to, from, to) - fraction(b.from, from, to)) * 100}%)`,
                  }}
                />
              ))}
            {row.activity && (
              <ActivityStrip cameraId={row.cameraId} activity={row.activity} from={from} to={to} />
            )}
          </div>
        ))}
        {shown !== undefined && shown >= from && shown <= to && (
          <span className="timeline-cursor" style={{ left: `${fraction(shown, from, to) * 100}%` }} />
        )}
      </div>
    </div>
  )
}

/** Motion per bucket under a camera's row: a bar per bucket with motion, as high as its share. */
function ActivityStrip({
  cameraId,
  activity,
  from,
  to,
}: {
  cameraId: string
  activity: NonNullable<TimelineRow['activity']>
  from: number
  to: number
}) {
  const size = activity.bucketSeconds * 1000
  return (
    <span className="timeline-activity" data-activity-for={cameraId}>
      {activity.buckets
        .filter((b) => b.motionSeconds > 0 && b.start + size > from && b.start < to)
        .map((b) => {
          const left = fraction(b.start, from, to)
          const right = fraction(b.start + size, from, to)
          return (
            <span
              key={b.start}
              className="timeline-motion"
              data-motion-seconds={b.motionSeconds}
              style={{
                left: `${left * 100}%`,
                width: `max(1px, ${(right - left) * 100}%)`,
                height: `${Math.max(8, motionShare(b.motionSeconds, activity.bucketSeconds) * 100)}%`,
              }}
            />
          )
        })}
    </span>
  )
}
