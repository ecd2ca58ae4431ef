import { type PointerEvent, useRef, useState } from 'react'
import { formatTime } from '../../components/format.ts'
import { fraction, mergeRanges, ticks } from './timeline.ts'

export interface TimelineRow {
  cameraId: string
  name: string
  ranges: { from: number; to: number }[]
  events: { time: number; type: string }[]
}

interface Props {
  from: number
  to: number
  cursor: number | undefined
  rows: TimelineRow[]
  onSeek: (t: number) => void
}

const clock = (t: number, span: number) =>
  new Date(t).toLocaleTimeString(
    undefined,
    span <= 600_000 ? { timeStyle: 'medium' } : { timeStyle: 'short' },
  )

/**
 * Recorded ranges (filled), gaps (empty) and event markers per camera over the view, with the
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
                  className="timeline-event"
                  title={`${ev.type} ${formatTime(new Date(ev.time).toISOString())}`}
                  style={{ left: `${fraction(ev.time, from, to) * 100}%` }}
                />
              ))}
          </div>
        ))}
        {shown !== undefined && shown >= from && shown <= to && (
          <span className="timeline-cursor" style={{ left: `${fraction(shown, from, to) * 100}%` }} />
        )}
      </div>
    </div>
  )
}
