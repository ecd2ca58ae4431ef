import { type PointerEvent, useRef, useState } from 'react'
import type { Point, Polygon } from '../../../api/analytics-types.ts'

export interface CanvasShape {
  key: string
  kind: 'zone' | 'motion' | 'object'
  name: string
  polygon: Polygon
}

/** Four decimals: a tenth of a pixel on a 1920-pixel picture, and short JSON. */
const round = (v: number) => Math.round(Math.min(1, Math.max(0, v)) * 10_000) / 10_000

/**
 * The camera's picture (a still from "Test stream", or a plain grid when there is none) with every
 * zone and mask drawn over it as SVG, in relative coordinates. The selected shape is the one being
 * edited: a click on the picture adds a point to it, dragging one of its points moves it.
 */
export function ShapeCanvas({
  still,
  aspect,
  shapes,
  selected,
  label,
  onChange,
}: {
  /** A data: URL, or undefined for the grid. */
  still: string | undefined
  /** Width / height of the picture. */
  aspect: number
  shapes: CanvasShape[]
  selected: string | undefined
  label: string
  onChange: (key: string, polygon: Polygon) => void
}) {
  const svg = useRef<SVGSVGElement>(null)
  const [drag, setDrag] = useState<number>()
  const W = 1000
  const H = Math.round(W / aspect)
  const current = shapes.find((s) => s.key === selected)

  const at = (e: PointerEvent): Point | undefined => {
    const rect = svg.current?.getBoundingClientRect()
    if (!rect || rect.width === 0 || rect.height === 0) return undefined
    return [round((e.clientX - rect.left) / rect.width), round((e.clientY - rect.top) / rect.height)]
  }

  const down = (e: PointerEvent<SVGSVGElement>) => {
    if (!current || e.button !== 0) return
    const p = at(e)
    if (!p) return
    const vertex = (e.target as Element).getAttribute('data-vertex')
    e.currentTarget.setPointerCapture(e.pointerId)
    if (vertex !== null) {
      setDrag(Number(vertex))
      return
    }
    onChange(current.key, [...current.polygon, p])
  }
  const move = (e: PointerEvent<SVGSVGElement>) => {
    if (drag === undefined || !current) return
    const p = at(e)
    if (!p) return
    onChange(
      current.key,
      current.polygon.map((q, i) => (i === drag ? p : q)),
    )
  }
  const up = () => setDrag(undefined)

  const points = (poly: Polygon) => poly.map(([x, y]) => `${x * W},${y * H}`).join(' ')
  return (
    <div className="shape-canvas" style={{ aspectRatio: `${W} / ${H}` }}>
      {still ? (
        <img src={still} alt="" className="shape-still" />
      ) : (
        <div className="shape-grid" aria-hidden="true" />
      )}
      <svg
        ref={svg}
        viewBox={`0 0 ${W} ${H}`}
        preserveAspectRatio="none"
        role="application"
        aria-label={label}
        data-editing={current ? current.key : ''}
        className={current ? 'editing' : ''}
        onPointerDown={down}
        onPointerMove={move}
        onPointerUp={up}
        onPointerCancel={up}
      >
        {shapes.map((s) => {
          const active = s.key === selected
          const cls = `shape shape-${s.kind}${active ? ' shape-active' : ''}`
          return (
            <g key={s.key} className={cls} data-shape={s.key}>
              {s.polygon.length >= 3 ? (
                <polygon points={points(s.polygon)} />
              ) : (
                s.polygon.length === 2 && <polyline points={points(s.polygon)} />
              )}
              {s.polygon.length > 0 && s.kind === 'zone' && (
                <text x={(s.polygon[0]?.[0] ?? 0) * W + 8} y={(s.polygon[0]?.[1] ?? 0) * H - 8}>
                  {s.name}
                </text>
              )}
              {active &&
                s.polygon.map(([x, y], i) => (
                  <circle
                    // biome-ignore lint/suspicious/noArrayIndexKey: a vertex is its position in the outline
                    key={i}
                    cx={x * W}
                    cy={y * H}
                    r={9}
                    data-vertex={i}
                    className="shape-vertex"
                  />
                ))}
            </g>
          )
        })}
      </svg>
    </div>
  )
}
