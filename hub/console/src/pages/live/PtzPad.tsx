import { type FormEvent, type KeyboardEvent, useCallback, useEffect, useRef, useState } from 'react'
import { ApiError, api, describeError } from '../../api/client.ts'
import type { PtzPreset } from '../../api/device-types.ts'
import { ErrorNotice } from '../../components/ErrorNotice.tsx'

/** Each move command runs this long on the camera unless renewed: a lost "stop" stops it anyway. */
const MOVE_MS = 1500
/** While a direction is held, the move is renewed this often (before it runs out). */
const RENEW_MS = 1000

type Direction = { pan?: number; tilt?: number; zoom?: number }

const DIRECTIONS: { label: string; symbol: string; dir: Direction; area: string }[] = [
  { label: 'Tilt up', symbol: '▲', dir: { tilt: 1 }, area: 'up' },
  { label: 'Pan left', symbol: '◀', dir: { pan: -1 }, area: 'left' },
  { label: 'Pan right', symbol: '▶', dir: { pan: 1 }, area: 'right' },
  { label: 'Tilt down', symbol: '▼', dir: { tilt: -1 }, area: 'down' },
  { label: 'Zoom in', symbol: '+', dir: { zoom: 1 }, area: 'zin' },
  { label: 'Zoom out', symbol: '−', dir: { zoom: -1 }, area: 'zout' },
]

/**
 * The PTZ pad of the live single view: hold a direction to move (the move is renewed while held,
 * each command bounded so a lost stop cannot leave the camera turning), release to stop; go home;
 * go to, save and remove presets. A camera whose device has no PTZ says so (409 PTZ_UNSUPPORTED).
 */
export function PtzPad({ cameraId, cameraName }: { cameraId: string; cameraName: string }) {
  const [presets, setPresets] = useState<PtzPreset[]>()
  const [unsupported, setUnsupported] = useState(false)
  const [error, setError] = useState<string>()
  const [status, setStatus] = useState<string>()
  const [speed, setSpeed] = useState(0.5)
  const [presetName, setPresetName] = useState('')
  const held = useRef<{ timer: ReturnType<typeof setInterval> } | undefined>(undefined)

  /** Commands go one after another: a quick press and release must not reach the camera as stop, move. */
  const queue = useRef<Promise<unknown>>(Promise.resolve())
  const command = (body: Record<string, unknown>): Promise<{ preset?: string } | undefined> => {
    const run = queue.current.then(() => send(body))
    queue.current = run
    return run
  }
  const send = async (body: Record<string, unknown>) => {
    try {
      const answer = await api.post<{ preset?: string }>(`/api/v1/cameras/${cameraId}/ptz`, body)
      setError(undefined)
      return answer
    } catch (err) {
      if (err instanceof ApiError && err.code === 'PTZ_UNSUPPORTED') setUnsupported(true)
      setError(describeError(err))
      return undefined
    }
  }

  const loadPresets = useCallback(async () => {
    try {
      const answer = await api.get<{ presets: PtzPreset[] }>(`/api/v1/cameras/${cameraId}/ptz/presets`)
      setPresets(answer.presets)
    } catch (err) {
      if (err instanceof ApiError && err.code === 'PTZ_UNSUPPORTED') setUnsupported(true)
      else setError(describeError(err))
    }
  }, [cameraId])

  useEffect(() => {
    void loadPresets()
  }, [loadPresets])

  const stopHeld = useCallback(() => {
    if (!held.current) return false
    clearInterval(held.current.timer)
    held.current = undefined
    return true
  }, [])
  // Leaving the page mid-move stops the camera rather than letting it run to the timeout.
  useEffect(
    () => () => {
      if (stopHeld()) void api.post(`/api/v1/cameras/${cameraId}/ptz`, { action: 'stop' }).catch(() => {})
    },
    [cameraId, stopHeld],
  )

  const start = (dir: Direction) => {
    stopHeld()
    const body = {
      action: 'move',
      pan: (dir.pan ?? 0) * speed,
      tilt: (dir.tilt ?? 0) * speed,
      zoom: (dir.zoom ?? 0) * speed,
      timeoutMs: MOVE_MS,
    }
    void command(body)
    held.current = { timer: setInterval(() => void command(body), RENEW_MS) }
  }
  const stop = () => {
    if (stopHeld()) void command({ action: 'stop' })
  }
  const keyDown = (e: KeyboardEvent, dir: Direction) => {
    if ((e.key === ' ' || e.key === 'Enter') && !e.repeat) {
      e.preventDefault()
      start(dir)
    }
  }
  const keyUp = (e: KeyboardEvent) => {
    if (e.key === ' ' || e.key === 'Enter') {
      e.preventDefault()
      stop()
    }
  }

  const savePreset = async (e: FormEvent) => {
    e.preventDefault()
    const name = presetName.trim()
    if (!name) return
    const answer = await command({ action: 'set', name })
    if (answer) {
      setStatus(`Saved preset ${name}.`)
      setPresetName('')
      await loadPresets()
    }
  }

  if (unsupported)
    return (
      <p className="muted small-text" role="status">
        {cameraName} has no PTZ.
      </p>
    )

  return (
    <section className="ptz-pad card" aria-label={`PTZ of ${cameraName}`}>
      <h2>PTZ</h2>
      <fieldset className="ptz-directions">
        <legend>Move the camera (hold)</legend>
        {DIRECTIONS.map((d) => (
          <button
            key={d.area}
            type="button"
            className={`ptz-${d.area}`}
            aria-label={d.label}
            title={`${d.label} (hold)`}
            onPointerDown={(e) => {
              e.currentTarget.setPointerCapture?.(e.pointerId)
              start(d.dir)
            }}
            onPointerUp={stop}
            onPointerCancel={stop}
            onLostPointerCapture={stop}
            onKeyDown={(e) => keyDown(e, d.dir)}
            onKeyUp={keyUp}
            onBlur={stop}
          >
            {d.symbol}
          </button>
        ))}
        <button
          type="button"
          className="ptz-home"
          onClick={() =>
            void command({ action: 'home' }).then((a) => a && setStatus('Going to the home position.'))
          }
        >
          Home
        </button>
      </fieldset>
      <label>
        Speed
        <input
          type="range"
          min={0.1}
          max={1}
          step={0.1}
          value={speed}
          onChange={(e) => setSpeed(Number(e.target.value))}
        />
      </label>
      <h3>Presets</h3>
      {presets === undefined ? (
        <p className="muted small-text">Loading presets…</p>
      ) : presets.length === 0 ? (
        <p className="muted small-text">No presets yet.</p>
      ) : (
        <ul className="ptz-presets" aria-label="Presets">
          {presets.map((p) => (
            <li key={p.preset}>
              <button
                type="button"
                className="small"
                onClick={() =>
                  void command({ action: 'goto', preset: p.preset }).then(
                    (a) => a && setStatus(`Going to preset ${p.name || p.preset}.`),
                  )
                }
              >
                Go to {p.name || `preset ${p.preset}`}
              </button>
              <button
                type="button"
                className="ghost small"
                aria-label={`Remove preset ${p.name || p.preset}`}
                onClick={() =>
                  void command({ action: 'remove', preset: p.preset }).then(async (a) => {
                    if (!a) return
                    setStatus(`Removed preset ${p.name || p.preset}.`)
                    await loadPresets()
                  })
                }
              >
                ✕
              </button>
            </li>
          ))}
        </ul>
      )}
      <form
        className="inline-form"
        onSubmit={(e) => void savePreset(e)}
        aria-label="Save the position as a preset"
      >
        <label>
          Preset name
          <input value={presetName} onChange={(e) => setPresetName(e.target.value)} maxLength={64} required />
        </label>
        <button type="submit" className="small">
          Save preset
        </button>
      </form>
      {status && (
        <p className="small-text" role="status">
          {status}
        </p>
      )}
      <ErrorNotice message={error} />
    </section>
  )
}
