import { type RefObject, useEffect, useState } from 'react'
import { api } from '../../api/client.ts'
import { parseEventStream } from '../../components/useLiveUpdates.ts'

/** One object the camera's analytics tracks now, its box relative to the picture. */
interface LiveObject {
  id: string
  label: string
  score: number
  box: [number, number, number, number]
  stationary: boolean
}

/** Objects vanish when no update came for this long (the camera stopped being analysed, say). */
const STALE_MS = 2000

/** Where the picture is inside the video element (object-fit: contain letterboxes it). */
function pictureRect(video: HTMLVideoElement): { x: number; y: number; width: number; height: number } {
  const w = video.clientWidth
  const h = video.clientHeight
  const vw = video.videoWidth || w
  const vh = video.videoHeight || h
  const scale = Math.min(w / vw, h / vh)
  const width = vw * scale
  const height = vh * scale
  return { x: (w - width) / 2, y: (h - height) / 2, width, height }
}

/**
 * The live view's overlay: the boxes of the objects analytics tracks on the camera now, from
 * `GET /api/v1/cameras/{id}/objects` (server-sent events, read with fetch as the token must go in
 * a header), drawn over the picture. Boxes follow the analysed frames (5 a second by default), a
 * little behind the video.
 */
export function ObjectOverlay({
  cameraId,
  video,
}: {
  cameraId: string
  video: RefObject<HTMLVideoElement | null>
}) {
  const [objects, setObjects] = useState<LiveObject[]>([])
  const [rect, setRect] = useState({ x: 0, y: 0, width: 0, height: 0 })

  useEffect(() => {
    const abort = new AbortController()
    let stale: ReturnType<typeof setTimeout> | undefined
    const run = async () => {
      let attempt = 0
      while (!abort.signal.aborted) {
        try {
          const res = await api.fetch(`/api/v1/cameras/${encodeURIComponent(cameraId)}/objects`, {
            headers: { accept: 'text/event-stream' },
            signal: abort.signal,
          })
          if (!res.ok || !res.body) throw new Error(`overlay stream answered ${res.status}`)
          attempt = 0
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
          let buffer = ''
          for (;;) {
            const { value, done } = await reader.read()
            if (done) break
            const parsed = parseEventStream(buffer + value)
            buffer = parsed.rest
            for (const m of parsed.messages) {
              if (m.type !== 'objects') continue
              const list = (m.data as { objects?: LiveObject[] }).objects
              setObjects(Array.isArray(list) ? list : [])
              clearTimeout(stale)
              stale = setTimeout(() => setObjects([]), STALE_MS)
            }
          }
        } catch {
          if (abort.signal.aborted) return
        }
        attempt += 1
        await new Promise((r) => setTimeout(r, Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5))))
      }
    }
    void run()
    return () => {
      abort.abort()
      clearTimeout(stale)
    }
  }, [cameraId])

  useEffect(() => {
    const el = video.current
    if (!el) return
    const measure = () => setRect(pictureRect(el))
    measure()
    const observer = new ResizeObserver(measure)
    observer.observe(el)
    el.addEventListener('loadedmetadata', measure)
    el.addEventListener('resize', measure)
    return () => {
      observer.disconnect()
      el.removeEventListener('loadedmetadata', measure)
      el.removeEventListener('resize', measure)
    }
  }, [video])

  const summary = objects.length === 0 ? 'none' : objects.map((o) => o.label).join(', ')
  const pct = (v: number) => `${(v * 100).toFixed(2)}%`
  return (
    <div
      className="object-overlay"
      role="img"
      aria-label={`Detected objects: ${summary}`}
      style={{ left: rect.x, top: rect.y, width: rect.width, height: rect.height }}
    >
      {objects.map((o) => {
        const [x1, y1, x2, y2] = o.box
        return (
          <div
            key={o.id}
            className={o.stationary ? 'object-box stationary' : 'object-box'}
            style={{ left: pct(x1), top: pct(y1), width: pct(x2 - x1), height: pct(y2 - y1) }}
          >
            <span className="object-label">
              {o.label} {Math.round(o.score * 100)}%
            </span>
          </div>
        )
      })}
    </div>
  )
}
