import { useEffect, useRef, useState } from 'react'
import { api } from '../../api/client.ts'
import type { Camera, StreamRole } from '../../api/types.ts'
import { LivePlayer, type PlayerState } from './live-player.ts'
import { ObjectOverlay } from './ObjectOverlay.tsx'

export type TileState = 'connecting' | 'streaming' | 'offline' | 'no permission' | 'empty'

const LABEL: Record<TileState, string> = {
  connecting: 'Connecting',
  streaming: 'Streaming',
  offline: 'Offline',
  'no permission': 'No permission',
  empty: 'Empty',
}

/** Retry delays after a failure: quick at first, then every 30 s while the camera stays away. */
const backoff = (attempt: number) => Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5))

interface Props {
  cameraId: string | null
  camera: Camera | undefined
  siteName: string
  onOpen?: () => void
  /** The single view (larger). */
  single?: boolean
  /** The stream wanted: the grid asks for sub streams, the single view for the main (switchable). */
  stream: StreamRole
  /** Draw the boxes of the objects analytics tracks now over the picture. */
  overlay?: boolean
}

const STREAM_LABEL: Record<StreamRole, string> = { main: 'Main stream', sub: 'Sub stream' }

/**
 * One camera in the grid: its video, name, site and state. It connects by itself and reconnects
 * after a failure (with backoff), renews its live session when the access token is refreshed, and
 * closes the session when it leaves the page.
 */
export function LiveTile({ cameraId, camera, siteName, onOpen, single, stream, overlay }: Props) {
  const video = useRef<HTMLVideoElement>(null)
  const [state, setState] = useState<TileState>(cameraId ? 'connecting' : 'empty')
  const [detail, setDetail] = useState<string>()
  const [sent, setSent] = useState<StreamRole>()
  const visible = camera !== undefined

  useEffect(() => {
    const el = video.current
    if (!cameraId || !el) {
      setState('empty')
      return
    }
    if (!visible) {
      setState('no permission')
      setDetail('You may not watch this camera, or it no longer exists.')
      return
    }
    let attempt = 0
    let retry: ReturnType<typeof setTimeout> | undefined
    let stopped = false
    const player: LivePlayer = new LivePlayer(el, {
      token: () => api.accessToken(),
      stream,
      onState: (s: PlayerState, why?: string) => {
        if (stopped) return
        if (s === 'playing') {
          attempt = 0
          setSent(player.stream)
          setState('streaming')
          setDetail(undefined)
        } else if (s === 'connecting') setState('connecting')
        else if (s === 'stalled') {
          setState('connecting')
          setDetail(why)
        } else if (s === 'failed' || s === 'closed') {
          if (why && /not allowed|forbidden|permission/i.test(why)) {
            setState('no permission')
            setDetail(why)
            return
          }
          setState('offline')
          setDetail(why)
          if (retry === undefined) {
            retry = setTimeout(() => {
              retry = undefined
              attempt += 1
              void player.play(cameraId).catch(() => {})
            }, backoff(attempt))
          }
        }
      },
    })
    void player.play(cameraId).catch((err: unknown) => {
      if (stopped) return
      setState('offline')
      setDetail(err instanceof Error ? err.message : String(err))
    })
    const off = api.onRefresh(() => void player.renew())
    return () => {
      stopped = true
      off()
      if (retry !== undefined) clearTimeout(retry)
      void player.stop()
    }
  }, [cameraId, visible, stream])

  const name = camera?.name ?? (cameraId ? 'Unavailable camera' : 'Empty tile')
  return (
    <figure
      className={`tile tile-${state.replace(' ', '-')}${single ? ' tile-single' : ''}`}
      data-camera-id={cameraId ?? undefined}
      data-state={state}
      data-stream={state === 'streaming' ? sent : undefined}
      tabIndex={cameraId && onOpen ? 0 : undefined}
      aria-label={cameraId ? `${name}, ${siteName}: ${LABEL[state]}` : 'Empty tile'}
      onDoubleClick={onOpen}
      onKeyDown={(e) => {
        if (e.key === 'Enter' && onOpen && e.target === e.currentTarget) onOpen()
      }}
    >
      <video ref={video} muted autoPlay playsInline aria-label={`Live video of ${name}`} />
      {overlay && cameraId && visible && <ObjectOverlay cameraId={cameraId} video={video} />}
      {cameraId && (
        <figcaption>
          <span className="tile-name">{name}</span>
          <span className="tile-site">{siteName}</span>
          {single && state === 'streaming' && sent && (
            <span
              className="tile-stream"
              title={sent === stream ? undefined : 'The camera has no other H.264 stream'}
            >
              {STREAM_LABEL[sent]}
            </span>
          )}
          <span className={`badge badge-${state.replace(' ', '-')}`} title={detail}>
            {LABEL[state]}
          </span>
        </figcaption>
      )}
      {detail && state !== 'streaming' && <p className="tile-detail">{detail}</p>}
      {!cameraId && <p className="tile-detail muted">Choose a camera from the list to fill this tile.</p>}
    </figure>
  )
}
