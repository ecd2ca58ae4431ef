import { type FormEvent, useEffect, useId, useRef, useState } from 'react'
import {
  type AnalyticsCamera,
  type AnalyticsConfig,
  type AnalyticsConfigPatch,
  COMMON_LABELS,
  type MotionSource,
  type Polygon,
} from '../../../api/analytics-types.ts'
import { api, describeError } from '../../../api/client.ts'
import type { Camera } from '../../../api/types.ts'
import { ErrorNotice } from '../../../components/ErrorNotice.tsx'
import { SelectField } from '../common/SelectField.tsx'
import { type CanvasShape, ShapeCanvas } from './ShapeCanvas.tsx'
import type { StreamProbe } from './StreamTest.tsx'

/** The configuration a camera shows before anyone set one (the hub's defaults). */
const DEFAULTS: AnalyticsConfig = {
  enabled: false,
  fps: 5,
  model: 'default',
  objects: ['person'],
  minScore: 0.5,
  threshold: 0.7,
  minArea: 0,
  zones: [],
  motionMasks: [],
  objectMasks: [],
  motionSource: 'agent',
}

/** Whether the agent hears the camera's own motion: a device of an events protocol, events on. */
const deviceSendsMotion = (camera: Camera) =>
  Boolean(camera.device?.events && camera.device.protocol !== 'rtsp')

type ShapeKind = 'zone' | 'motion' | 'object'
interface ShapeDraft {
  key: string
  kind: ShapeKind
  /** Zones only: the name, the objects it is for (comma-separated; empty: all), loiter time. */
  name: string
  polygon: Polygon
  objectsText?: string
  loiterText?: string
  /** Kept as stored (not edited here). */
  inertia?: number
}

let nextKey = 0
const newKey = () => `shape-${++nextKey}`

const KIND_NAMES: Record<ShapeKind, string> = { zone: 'zone', motion: 'motion mask', object: 'object mask' }

function shapeTitle(s: ShapeDraft, index: number): string {
  return s.kind === 'zone' ? `zone ${s.name || index + 1}` : `${KIND_NAMES[s.kind]} ${index + 1}`
}

/** "car, dog" to ["car", "dog"]. */
const splitLabels = (text: string) =>
  text
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean)

const formatPoints = (p: Polygon) => p.map(([x, y]) => `${x},${y}`).join(' ')

/** "x,y x,y …" to a polygon, or undefined when it is not that. */
function parsePoints(text: string): Polygon | undefined {
  const parts = text.trim().split(/\s+/).filter(Boolean)
  const out: Polygon = []
  for (const part of parts) {
    const m = /^(-?[\d.]+),(-?[\d.]+)$/.exec(part)
    if (!m) return undefined
    const x = Number(m[1])
    const y = Number(m[2])
    if (!Number.isFinite(x) || !Number.isFinite(y)) return undefined
    out.push([x, y])
  }
  return out
}

/** The points of a shape as text, for keyboards and exact values; applied when it parses. */
function PointsField({
  label,
  polygon,
  onChange,
}: {
  label: string
  polygon: Polygon
  onChange: (p: Polygon) => void
}) {
  const [text, setText] = useState(formatPoints(polygon))
  const [focused, setFocused] = useState(false)
  const shown = focused ? text : formatPoints(polygon)
  return (
    <label className="analytics-points">
      Points (x,y from 0 to 1)
      <input
        aria-label={label}
        value={shown}
        spellCheck={false}
        onFocus={() => {
          setText(formatPoints(polygon))
          setFocused(true)
        }}
        onBlur={() => setFocused(false)}
        onChange={(e) => {
          setText(e.target.value)
          const p = parsePoints(e.target.value)
          if (p) onChange(p)
        }}
      />
    </label>
  )
}

/**
 * A camera's analytics: on or off, frame rate, the objects to detect, score and threshold, and the
 * zones and masks drawn over a still from the camera (a plain grid when none can be had). Saving
 * sends one PATCH; the hub validates the whole configuration and its message, naming the field,
 * shows next to the form.
 */
export function AnalyticsEditor({
  camera,
  agentOnline,
  onDone,
}: {
  camera: AnalyticsCamera
  agentOnline: boolean
  onDone: (saved: Camera | undefined) => void
}) {
  const titleId = useId()
  const initial = camera.analyticsConfig ?? DEFAULTS
  const [enabled, setEnabled] = useState(initial.enabled)
  const [fps, setFps] = useState(String(initial.fps))
  const [minScore, setMinScore] = useState(String(initial.minScore))
  const [threshold, setThreshold] = useState(String(initial.threshold))
  // Absent from a hub older than the field: the agent's.
  const [motionSource, setMotionSource] = useState<MotionSource>(initial.motionSource ?? 'agent')
  const motionHintId = useId()
  const deviceMotion = deviceSendsMotion(camera)
  const [common, setCommon] = useState<string[]>(
    initial.objects.filter((o) => (COMMON_LABELS as readonly string[]).includes(o)),
  )
  const [other, setOther] = useState(
    initial.objects.filter((o) => !(COMMON_LABELS as readonly string[]).includes(o)).join(', '),
  )
  const [shapes, setShapes] = useState<ShapeDraft[]>(() => [
    ...initial.zones.map((z) => ({
      key: newKey(),
      kind: 'zone' as const,
      name: z.name,
      polygon: z.polygon,
      objectsText: z.objects?.join(', ') ?? '',
      inertia: z.inertia,
      loiterText: String(z.loiterSeconds),
    })),
    ...initial.motionMasks.map((p) => ({ key: newKey(), kind: 'motion' as const, name: '', polygon: p })),
    ...initial.objectMasks.map((p) => ({ key: newKey(), kind: 'object' as const, name: '', polygon: p })),
  ])
  const [selected, setSelected] = useState<string>()
  const [still, setStill] = useState<{ url?: string; aspect: number; note: string; loading: boolean }>({
    aspect: 16 / 9,
    note: '',
    loading: false,
  })
  const [error, setError] = useState<string>()
  const [saving, setSaving] = useState(false)
  const heading = useRef<HTMLHeadingElement>(null)

  useEffect(() => heading.current?.focus(), [])

  // The picture to draw on: a still from the stream analytics decodes.
  useEffect(() => {
    const roles = camera.streams.map((s) => s.role)
    if (!camera.agentId || roles.length === 0 || !agentOnline) {
      setStill({
        aspect: 16 / 9,
        loading: false,
        note: `No still frame (${
          !camera.agentId
            ? 'the camera has no agent'
            : roles.length === 0
              ? 'the camera has no stream'
              : 'its agent is offline'
        }): drawing on a grid.`,
      })
      return
    }
    const stream =
      initial.stream && roles.includes(initial.stream)
        ? initial.stream
        : roles.includes('sub')
          ? 'sub'
          : 'main'
    const abort = new AbortController()
    setStill({ aspect: 16 / 9, loading: true, note: 'Getting a still frame from the camera…' })
    api
      .request<StreamProbe>('POST', `/api/v1/cameras/${camera.id}/test-stream`, {
        body: { stream },
        signal: abort.signal,
      })
      .then((r) => {
        if (abort.signal.aborted) return
        const aspect = r.width > 0 && r.height > 0 ? r.width / r.height : 16 / 9
        if (r.still)
          setStill({
            url: `data:${r.still.contentType};base64,${r.still.base64}`,
            aspect,
            note: '',
            loading: false,
          })
        else
          setStill({
            aspect,
            loading: false,
            note: `No still frame (${r.stillError ?? 'the agent sent none'}): drawing on a grid.`,
          })
      })
      .catch((err: unknown) => {
        if (!abort.signal.aborted)
          setStill({
            aspect: 16 / 9,
            loading: false,
            note: `No still frame (${describeError(err)}): drawing on a grid.`,
          })
      })
    return () => abort.abort()
  }, [camera.id, camera.agentId, camera.streams, agentOnline, initial.stream])

  const update = (key: string, change: Partial<ShapeDraft>) =>
    setShapes((prev) => prev.map((s) => (s.key === key ? { ...s, ...change } : s)))
  const add = (kind: ShapeKind) => {
    const key = newKey()
    const zones = shapes.filter((s) => s.kind === 'zone').length
    setShapes((prev) => [
      ...prev,
      kind === 'zone'
        ? { key, kind, name: `zone ${zones + 1}`, polygon: [], objectsText: '', loiterText: '0' }
        : { key, kind, name: '', polygon: [] },
    ])
    setSelected(key)
  }
  const remove = (key: string) => {
    setShapes((prev) => prev.filter((s) => s.key !== key))
    if (selected === key) setSelected(undefined)
  }

  const objects = [...common, ...splitLabels(other).filter((o) => !common.includes(o))]

  const save = async (e: FormEvent) => {
    e.preventDefault()
    const numbers: Record<string, string> = {
      'Frames per second': fps,
      'Minimum score': minScore,
      Threshold: threshold,
    }
    for (const s of shapes)
      if (s.kind === 'zone') numbers[`Loiter seconds of zone ${s.name}`] = s.loiterText ?? '0'
    for (const [name, value] of Object.entries(numbers))
      if (value.trim() === '' || !Number.isFinite(Number(value))) {
        setError(`${name} must be a number.`)
        return
      }
    const patch: AnalyticsConfigPatch = {
      enabled,
      fps: Number(fps),
      objects,
      minScore: Number(minScore),
      threshold: Number(threshold),
      motionSource,
      zones: shapes
        .filter((s) => s.kind === 'zone')
        .map((s) => {
          const zoneObjects = splitLabels(s.objectsText ?? '')
          return {
            name: s.name,
            polygon: s.polygon,
            ...(zoneObjects.length ? { objects: zoneObjects } : {}),
            inertia: s.inertia ?? 3,
            loiterSeconds: Number(s.loiterText ?? 0),
          }
        }),
      motionMasks: shapes.filter((s) => s.kind === 'motion').map((s) => s.polygon),
      objectMasks: shapes.filter((s) => s.kind === 'object').map((s) => s.polygon),
    }
    setSaving(true)
    setError(undefined)
    try {
      const saved = await api.patch<Camera>(`/api/v1/cameras/${camera.id}`, { analytics: patch })
      onDone(saved)
    } catch (err) {
      setError(`Could not save the analytics of ${camera.name}: ${describeError(err)}`)
    } finally {
      setSaving(false)
    }
  }

  const current = shapes.find((s) => s.key === selected)
  const indexOf = (s: ShapeDraft) => shapes.filter((x) => x.kind === s.kind).indexOf(s)
  const canvasShapes: CanvasShape[] = shapes.map((s) => ({
    key: s.key,
    kind: s.kind,
    name: s.name,
    polygon: s.polygon,
  }))

  const shapeList = (kind: ShapeKind, legend: string, addLabel: string, hint: string) => {
    const list = shapes.filter((s) => s.kind === kind)
    return (
      <fieldset className="analytics-shapes">
        <legend>{legend}</legend>
        <p className="muted small-text">{hint}</p>
        {list.length === 0 && <p className="muted">None.</p>}
        <ul className="analytics-shape-list" aria-label={legend}>
          {list.map((s, i) => {
            const title = shapeTitle(s, i)
            const editing = selected === s.key
            return (
              <li key={s.key} className={editing ? 'editing' : ''}>
                {kind === 'zone' && (
                  <label>
                    Zone name
                    <input
                      value={s.name}
                      maxLength={64}
                      onChange={(e) => update(s.key, { name: e.target.value })}
                    />
                  </label>
                )}
                {kind === 'zone' && (
                  <label>
                    Zone objects (empty: all)
                    <input
                      aria-label={`Objects of ${title}`}
                      value={s.objectsText ?? ''}
                      placeholder="e.g. person, car"
                      onChange={(e) => update(s.key, { objectsText: e.target.value })}
                    />
                  </label>
                )}
                {kind === 'zone' && (
                  <label>
                    Loiter seconds
                    <input
                      aria-label={`Loiter seconds of ${title}`}
                      type="number"
                      min={0}
                      step={1}
                      className="narrow"
                      value={s.loiterText ?? '0'}
                      onChange={(e) => update(s.key, { loiterText: e.target.value })}
                    />
                  </label>
                )}
                {kind !== 'zone' && <strong>{title}</strong>}
                <PointsField
                  label={`Points of ${title}`}
                  polygon={s.polygon}
                  onChange={(polygon) => update(s.key, { polygon })}
                />
                <span className="muted small-text">
                  {s.polygon.length} point{s.polygon.length === 1 ? '' : 's'}
                  {s.polygon.length < 3 ? ' (needs at least 3)' : ''}
                </span>
                <button
                  type="button"
                  className="ghost small"
                  aria-pressed={editing}
                  onClick={() => setSelected(editing ? undefined : s.key)}
                >
                  {editing ? `Drawing ${title}` : `Draw ${title}`}
                </button>
                <button type="button" className="danger small" onClick={() => remove(s.key)}>
                  Delete {title}
                </button>
              </li>
            )
          })}
        </ul>
        <button type="button" className="ghost small" onClick={() => add(kind)}>
          {addLabel}
        </button>
      </fieldset>
    )
  }

  return (
    <section className="card analytics-editor" aria-labelledby={titleId}>
      <h2 id={titleId} ref={heading} tabIndex={-1}>
        Analytics of {camera.name}
      </h2>
      <form onSubmit={(e) => void save(e)} aria-labelledby={titleId} noValidate>
        <div className="analytics-fields">
          <label className="check">
            <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} /> Enable
            analytics
          </label>
          <label>
            Frames per second
            <input
              type="number"
              min={1}
              max={15}
              step={1}
              value={fps}
              onChange={(e) => setFps(e.target.value)}
            />
          </label>
          <label>
            Minimum score
            <input
              type="number"
              min={0}
              max={1}
              step={0.05}
              value={minScore}
              onChange={(e) => setMinScore(e.target.value)}
            />
          </label>
          <label>
            Threshold
            <input
              type="number"
              min={0}
              max={1}
              step={0.05}
              value={threshold}
              onChange={(e) => setThreshold(e.target.value)}
            />
          </label>
          <SelectField
            label="Motion from"
            value={motionSource}
            // Kept usable when "device" is stored, so it can be set back to the agent.
            disabled={!deviceMotion && motionSource === 'agent'}
            aria-describedby={motionHintId}
            onChange={(e) => setMotionSource(e.target.value as MotionSource)}
          >
            <option value="agent">The agent (picture analysis)</option>
            <option value="device" disabled={!deviceMotion}>
              The camera's own motion events
            </option>
          </SelectField>
        </div>
        <p id={motionHintId} className="muted small-text">
          {!deviceMotion
            ? "The camera's own motion needs its device (ONVIF, ISAPI or Dahua) with events on: set that in the camera's settings first."
            : motionSource === 'device'
              ? 'The camera tells when something moves, which saves the agent work; with no motion boxes, detection looks at the whole picture while the motion lasts, and motion masks do not apply.'
              : 'The agent finds motion in the picture itself and looks for objects only where something moves.'}
        </p>
        <fieldset className="analytics-objects">
          <legend>Objects</legend>
          {COMMON_LABELS.map((l) => (
            <label key={l} className="check">
              <input
                type="checkbox"
                checked={common.includes(l)}
                onChange={(e) =>
                  setCommon((prev) =>
                    e.target.checked
                      ? COMMON_LABELS.filter((x) => x === l || prev.includes(x))
                      : prev.filter((x) => x !== l),
                  )
                }
              />{' '}
              {l}
            </label>
          ))}
          <label>
            Other objects (comma-separated)
            <input
              value={other}
              onChange={(e) => setOther(e.target.value)}
              placeholder="e.g. umbrella, boat"
            />
          </label>
        </fieldset>
        <div className="analytics-draw">
          <p role="status" className="muted">
            {still.note}
          </p>
          <ShapeCanvas
            still={still.url}
            aspect={still.aspect}
            shapes={canvasShapes}
            selected={selected}
            label={
              current
                ? `Picture of ${camera.name}: click to add a point to ${shapeTitle(current, indexOf(current))}, drag a point to move it`
                : `Picture of ${camera.name} with its zones and masks`
            }
            onChange={(key, polygon) => update(key, { polygon })}
          />
          <div className="adm-card-actions">
            <span className="muted" aria-live="polite">
              {current
                ? `Drawing ${shapeTitle(current, indexOf(current))}: click the picture to add points, drag a point to move it.`
                : 'Choose a zone or mask to draw, or add one.'}
            </span>
            <button
              type="button"
              className="ghost small"
              disabled={!current || current.polygon.length === 0}
              onClick={() => current && update(current.key, { polygon: current.polygon.slice(0, -1) })}
            >
              Undo last point
            </button>
            <button
              type="button"
              className="ghost small"
              disabled={!current || current.polygon.length === 0}
              onClick={() => current && update(current.key, { polygon: [] })}
            >
              Clear points
            </button>
            <button
              type="button"
              className="small"
              disabled={!current}
              onClick={() => setSelected(undefined)}
            >
              Finish shape
            </button>
          </div>
        </div>
        {shapeList(
          'zone',
          'Zones',
          'Add zone',
          'An object is in a zone when the bottom middle of its box (where it stands) is inside.',
        )}
        {shapeList(
          'motion',
          'Motion masks',
          'Add motion mask',
          'Motion here is ignored (a clock, trees in the wind).',
        )}
        {shapeList(
          'object',
          'Object masks',
          'Add object mask',
          'Objects standing here are ignored (a poster of a person).',
        )}
        <ErrorNotice message={error} />
        <div className="adm-card-actions">
          <button type="submit" disabled={saving}>
            {saving ? 'Saving…' : 'Save'}
          </button>
          <button type="button" className="ghost" onClick={() => onDone(undefined)}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  )
}
