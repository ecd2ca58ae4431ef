import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  boxBottomCentre,
  isSelfIntersecting,
  type Point,
  type Polygon,
  pointInPolygon,
  polygonArea,
  segmentsIntersect,
} from './geometry.ts'

const square: Polygon = [
  [0, 0],
  [1, 0],
  [1, 1],
  [0, 1],
]
/** A "U": the notch between the arms (x 0.4..0.6, y 0..0.6) is outside. */
const u: Polygon = [
  [0.2, 0],
  [0.4, 0],
  [0.4, 0.6],
  [0.6, 0.6],
  [0.6, 0],
  [0.8, 0],
  [0.8, 1],
  [0.2, 1],
]
const bowTie: Polygon = [
  [0, 0],
  [1, 1],
  [1, 0],
  [0, 1],
]

/** Coordinates on a 1/1024 grid are exact in binary floating point, so expectations are exact too. */
const gridCoordinate = fc.integer({ min: 0, max: 1024 }).map((i) => i / 1024)
const gridPoint = fc.tuple(gridCoordinate, gridCoordinate) as fc.Arbitrary<Point>

/** An axis-aligned rectangle with positive width and height, vertices counter-clockwise from (x1, y1). */
const rectangle = fc
  .tuple(gridCoordinate, gridCoordinate, gridCoordinate, gridCoordinate)
  .filter(([x1, y1, x2, y2]) => x1 !== x2 && y1 !== y2)
  .map(([a, b, c, d]) => {
    const [x1, x2] = [Math.min(a, c), Math.max(a, c)]
    const [y1, y2] = [Math.min(b, d), Math.max(b, d)]
    return {
      x1,
      y1,
      x2,
      y2,
      polygon: [[x1, y1] as Point, [x2, y1] as Point, [x2, y2] as Point, [x1, y2] as Point],
    }
  })

/**
 * A simple polygon, usually concave: a star around (0.5, 0.5) with one vertex per equal sector, at a
 * random angle within the sector and a random radius. Four or more sectors keep every gap between
 * neighbouring angles below 180°, which is what keeps the outline from crossing itself.
 */
const starPolygon = fc
  .array(
    fc.tuple(
      fc.double({ min: 0.1, max: 0.9, noNaN: true }),
      fc.double({ min: 0.05, max: 0.45, noNaN: true }),
    ),
    {
      minLength: 4,
      maxLength: 24,
    },
  )
  .map((vertices) =>
    vertices.map(([within, radius], i): Point => {
      const angle = ((i + within) * 2 * Math.PI) / vertices.length
      return [0.5 + radius * Math.cos(angle), 0.5 + radius * Math.sin(angle)]
    }),
  )

const rotate = (polygon: Polygon, by: number): Polygon => [...polygon.slice(by), ...polygon.slice(0, by)]

describe('pointInPolygon', () => {
  it('tells inside from outside a square', () => {
    expect(pointInPolygon([0.5, 0.5], square)).toBe(true)
    expect(pointInPolygon([1.5, 0.5], square)).toBe(false)
    expect(pointInPolygon([-0.1, 0.5], square)).toBe(false)
    expect(pointInPolygon([0.5, 1.0001], square)).toBe(false)
  })

  it('counts points on edges and vertices as inside, like Frigate', () => {
    for (const p of [
      [0.5, 0],
      [1, 0.5],
      [0.5, 1],
      [0, 0.5],
      [0, 0],
      [1, 1],
      [1, 0],
      [0, 1],
    ] as Point[]) {
      expect(pointInPolygon(p, square), `${p}`).toBe(true)
    }
  })

  it('leaves the notch of a concave polygon outside', () => {
    expect(pointInPolygon([0.5, 0.3], u)).toBe(false)
    expect(pointInPolygon([0.3, 0.3], u)).toBe(true)
    expect(pointInPolygon([0.7, 0.3], u)).toBe(true)
    expect(pointInPolygon([0.5, 0.8], u)).toBe(true)
    // On the notch's floor and walls: boundary, so inside.
    expect(pointInPolygon([0.5, 0.6], u)).toBe(true)
    expect(pointInPolygon([0.4, 0.3], u)).toBe(true)
    // A ray from here passes through the vertices (0.4, 0) and (0.6, 0) exactly: counted right.
    expect(pointInPolygon([0.1, 0], u)).toBe(false)
  })

  it('counts a point on a diagonal edge as inside despite rounding', () => {
    const triangle: Polygon = [
      [0.1, 0.1],
      [0.9, 0.3],
      [0.3, 0.9],
    ]
    for (let t = 0; t <= 1; t += 0.01) {
      const p: Point = [0.9 + t * (0.3 - 0.9), 0.3 + t * (0.9 - 0.3)]
      expect(pointInPolygon(p, triangle), `t=${t}`).toBe(true)
    }
    expect(pointInPolygon([0.7, 0.7], triangle)).toBe(false)
  })

  it('encloses nothing with fewer than 3 vertices', () => {
    expect(pointInPolygon([0, 0], [])).toBe(false)
    expect(pointInPolygon([0.5, 0.5], [[0.5, 0.5]])).toBe(false)
    expect(
      pointInPolygon(
        [0.5, 0.5],
        [
          [0, 0],
          [1, 1],
        ],
      ),
    ).toBe(false)
  })

  it('uses even-odd inside a bow-tie', () => {
    // Two lobes, left and right, meeting at (0.5, 0.5); above and below the crossing is outside.
    expect(pointInPolygon([0.2, 0.5], bowTie)).toBe(true)
    expect(pointInPolygon([0.8, 0.5], bowTie)).toBe(true)
    expect(pointInPolygon([0.5, 0.2], bowTie)).toBe(false)
  })

  it('matches the bounds test for any rectangle and grid point', () => {
    fc.assert(
      fc.property(rectangle, gridPoint, (r, p) => {
        const inside = p[0] >= r.x1 && p[0] <= r.x2 && p[1] >= r.y1 && p[1] <= r.y2
        expect(pointInPolygon(p, r.polygon)).toBe(inside)
      }),
      { numRuns: 2000 },
    )
  })

  it('does not depend on the starting vertex or the direction of the outline', () => {
    fc.assert(
      fc.property(starPolygon, gridPoint, fc.nat(), (polygon, p, by) => {
        const expected = pointInPolygon(p, polygon)
        expect(pointInPolygon(p, rotate(polygon, by % polygon.length))).toBe(expected)
        expect(pointInPolygon(p, [...polygon].reverse())).toBe(expected)
      }),
    )
  })

  it('holds every vertex, every point along an edge and the star centre of a concave polygon', () => {
    fc.assert(
      fc.property(starPolygon, fc.double({ min: 0, max: 1, noNaN: true }), (polygon, t) => {
        expect(pointInPolygon([0.5, 0.5], polygon)).toBe(true)
        polygon.forEach((a, i) => {
          const b = polygon[(i + 1) % polygon.length] as Point
          expect(pointInPolygon(a, polygon)).toBe(true)
          expect(pointInPolygon([a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])], polygon)).toBe(true)
        })
      }),
    )
  })

  it('leaves everything outside the bounding box outside', () => {
    fc.assert(
      fc.property(starPolygon, fc.double({ min: 1e-6, max: 10, noNaN: true }), (polygon, d) => {
        const maxX = Math.max(...polygon.map((p) => p[0]))
        const minY = Math.min(...polygon.map((p) => p[1]))
        expect(pointInPolygon([maxX + d, 0.5], polygon)).toBe(false)
        expect(pointInPolygon([0.5, minY - d], polygon)).toBe(false)
      }),
    )
  })
})

describe('segmentsIntersect', () => {
  it('sees a proper crossing', () => {
    expect(segmentsIntersect([0, 0], [1, 1], [0, 1], [1, 0])).toBe(true)
  })

  it('sees touching: an end on the other segment, or shared ends', () => {
    expect(segmentsIntersect([0, 0], [1, 0], [0.5, 0], [0.5, 1])).toBe(true)
    expect(segmentsIntersect([0, 0], [1, 0], [1, 0], [2, 1])).toBe(true)
  })

  it('sees collinear overlap but not collinear segments apart', () => {
    expect(segmentsIntersect([0, 0], [1, 0], [0.5, 0], [2, 0])).toBe(true)
    expect(segmentsIntersect([0, 0], [1, 0], [0.2, 0], [0.3, 0])).toBe(true)
    expect(segmentsIntersect([0, 0], [1, 0], [1.5, 0], [2, 0])).toBe(false)
    expect(segmentsIntersect([0, 0], [1, 1], [2, 2], [3, 3])).toBe(false)
  })

  it('tells parallel and merely nearby segments apart', () => {
    expect(segmentsIntersect([0, 0], [1, 0], [0, 0.1], [1, 0.1])).toBe(false)
    // The second segment's line passes through the first's end, but the segment stops short of it.
    expect(segmentsIntersect([0, 0], [1, 0], [2, 0], [2, 1])).toBe(false)
    expect(segmentsIntersect([0, 0], [1, 0], [0.5, 0.01], [0.5, 1])).toBe(false)
  })

  it('handles zero-length segments as points', () => {
    expect(segmentsIntersect([0.5, 0], [0.5, 0], [0, 0], [1, 0])).toBe(true)
    expect(segmentsIntersect([0.5, 0.1], [0.5, 0.1], [0, 0], [1, 0])).toBe(false)
    expect(segmentsIntersect([0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5])).toBe(true)
  })

  it('is symmetric in the segments and in each segment’s direction', () => {
    fc.assert(
      fc.property(gridPoint, gridPoint, gridPoint, gridPoint, (a, b, c, d) => {
        const expected = segmentsIntersect(a, b, c, d)
        expect(segmentsIntersect(c, d, a, b)).toBe(expected)
        expect(segmentsIntersect(b, a, c, d)).toBe(expected)
        expect(segmentsIntersect(a, b, d, c)).toBe(expected)
      }),
      { numRuns: 2000 },
    )
  })

  it('always sees shared ends and midpoints', () => {
    fc.assert(
      fc.property(gridPoint, gridPoint, gridPoint, (a, b, c) => {
        expect(segmentsIntersect(a, b, b, c)).toBe(true)
        const mid: Point = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2]
        expect(segmentsIntersect(a, b, mid, c)).toBe(true)
      }),
    )
  })
})

describe('isSelfIntersecting', () => {
  it('accepts squares, triangles and concave polygons', () => {
    expect(isSelfIntersecting(square)).toBe(false)
    expect(isSelfIntersecting([...square].reverse())).toBe(false)
    expect(
      isSelfIntersecting([
        [0, 0],
        [1, 0],
        [0, 1],
      ]),
    ).toBe(false)
    expect(isSelfIntersecting(u)).toBe(false)
  })

  it('refuses bow-ties', () => {
    expect(isSelfIntersecting(bowTie)).toBe(true)
    expect(
      isSelfIntersecting([
        [0, 0],
        [0.5, 0],
        [0.5, 0.5],
        [0.2, 0.5],
        [0.2, -0.1],
      ]),
    ).toBe(true)
  })

  it('refuses non-adjacent edges that only touch', () => {
    // A figure-eight pinched at (0.5, 0.5): two triangles sharing a vertex.
    expect(
      isSelfIntersecting([
        [0, 0],
        [1, 0],
        [0.5, 0.5],
        [1, 1],
        [0, 1],
        [0.5, 0.5],
      ]),
    ).toBe(true)
    // A vertex resting on a non-adjacent edge.
    expect(
      isSelfIntersecting([
        [0, 0],
        [1, 0],
        [1, 1],
        [0.5, 0],
        [0, 1],
      ]),
    ).toBe(true)
  })

  it('refuses adjacent edges overlapping collinearly, allows them collinear and onwards', () => {
    // (0,0) → (1,0) → (0.5,0) doubles back along the first edge.
    expect(
      isSelfIntersecting([
        [0, 0],
        [1, 0],
        [0.5, 0],
        [0.5, 1],
      ]),
    ).toBe(true)
    // The closing edge (0.75,0)→(0.5,0) and the first edge (0.5,0)→(1,0) overlap.
    expect(
      isSelfIntersecting([
        [0.5, 0],
        [1, 0],
        [1, 1],
        [0, 1],
        [0.75, 0],
      ]),
    ).toBe(true)
    // Every vertex on one line: no area, the outline runs over itself, whichever vertex starts.
    const flat: Polygon = [
      [0, 0],
      [0.5, 0],
      [1, 0],
    ]
    for (const by of [0, 1, 2]) {
      expect(isSelfIntersecting(rotate(flat, by))).toBe(true)
      expect(isSelfIntersecting(rotate(flat, by).reverse())).toBe(true)
    }
    // A diagonal line, where collinearity rests on the tolerance rather than exact zeros.
    expect(
      isSelfIntersecting([
        [0.1, 0.1],
        [0.7, 0.3],
        [0.4, 0.2],
      ]),
    ).toBe(true)
    // A vertex in the middle of a straight side is harmless.
    expect(
      isSelfIntersecting([
        [0, 0],
        [0.5, 0],
        [1, 0],
        [1, 1],
        [0, 1],
      ]),
    ).toBe(false)
  })

  it('refuses repeated vertices, including the first point repeated at the end', () => {
    expect(isSelfIntersecting([...square, [0, 0]])).toBe(true)
    expect(
      isSelfIntersecting([
        [0, 0],
        [0, 0],
        [1, 1],
      ]),
    ).toBe(true)
  })

  it('has nothing to say about fewer than 3 vertices', () => {
    expect(isSelfIntersecting([])).toBe(false)
    expect(
      isSelfIntersecting([
        [0, 0],
        [1, 1],
      ]),
    ).toBe(false)
  })

  it('accepts every star-shaped polygon, refuses every rectangle drawn as a bow-tie', () => {
    fc.assert(
      fc.property(starPolygon, fc.nat(), (polygon, by) => {
        expect(isSelfIntersecting(polygon)).toBe(false)
        expect(isSelfIntersecting(rotate(polygon, by % polygon.length).reverse())).toBe(false)
      }),
    )
    fc.assert(
      fc.property(rectangle, ({ polygon: [a, b, c, d] }) => {
        expect(isSelfIntersecting([a, b, c, d] as Polygon)).toBe(false)
        expect(isSelfIntersecting([a, c, b, d] as Polygon)).toBe(true)
      }),
    )
  })
})

describe('polygonArea', () => {
  it('measures squares, triangles and concave polygons whatever their orientation', () => {
    expect(polygonArea(square)).toBe(1)
    expect(polygonArea([...square].reverse())).toBe(1)
    expect(
      polygonArea([
        [0, 0],
        [0.5, 0],
        [0, 0.5],
      ]),
    ).toBeCloseTo(0.125, 12)
    // The U: its 0.6 × 1 bounding box less the 0.2 × 0.6 notch.
    expect(polygonArea(u)).toBeCloseTo(0.6 - 0.12, 12)
    expect(polygonArea([])).toBe(0)
  })

  it('equals width × height for rectangles and ignores start and direction', () => {
    fc.assert(
      fc.property(rectangle, fc.nat(), (r, by) => {
        const area = (r.x2 - r.x1) * (r.y2 - r.y1)
        expect(polygonArea(r.polygon)).toBeCloseTo(area, 12)
        expect(polygonArea(rotate(r.polygon, by % 4).reverse())).toBeCloseTo(area, 12)
      }),
    )
  })
})

describe('boxBottomCentre', () => {
  it('is the middle of the bottom edge, relative to the frame', () => {
    expect(boxBottomCentre({ x1: 100, y1: 50, x2: 300, y2: 250 }, 400, 500)).toEqual([0.5, 0.5])
    expect(boxBottomCentre({ x1: 0, y1: 0, x2: 640, y2: 360 }, 640, 360)).toEqual([0.5, 1])
  })

  it('clamps boxes that overshoot the frame, so they land on its edge', () => {
    expect(boxBottomCentre({ x1: -20, y1: 300, x2: 10, y2: 365 }, 640, 360)).toEqual([0, 1])
    expect(boxBottomCentre({ x1: 630, y1: 0, x2: 660, y2: 10 }, 640, 360)[0]).toBe(1)
  })

  it('puts a box touching the bottom of the frame inside a zone drawn to the frame edge', () => {
    const lowerHalf: Polygon = [
      [0, 0.5],
      [1, 0.5],
      [1, 1],
      [0, 1],
    ]
    expect(pointInPolygon(boxBottomCentre({ x1: 10, y1: 200, x2: 50, y2: 360 }, 640, 360), lowerHalf)).toBe(
      true,
    )
  })

  it('refuses a frame without a size', () => {
    const box = { x1: 0, y1: 0, x2: 1, y2: 1 }
    expect(() => boxBottomCentre(box, 0, 360)).toThrow(RangeError)
    expect(() => boxBottomCentre(box, 640, Number.NaN)).toThrow(RangeError)
  })

  it('always lies within the frame and under the box', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -100, max: 2000 }),
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: -100, max: 2000 }),
        fc.integer({ min: 1, max: 500 }),
        (x1, w, y1, h) => {
          const [x, y] = boxBottomCentre({ x1, y1, x2: x1 + w, y2: y1 + h }, 1920, 1080)
          expect(x).toBeGreaterThanOrEqual(0)
          expect(x).toBeLessThanOrEqual(1)
          expect(y).toBeGreaterThanOrEqual(0)
          expect(y).toBeLessThanOrEqual(1)
          expect(x * 1920).toBeGreaterThanOrEqual(Math.min(Math.max(x1, 0), 1920) - 1e-9)
          expect(x * 1920).toBeLessThanOrEqual(Math.max(Math.min(x1 + w, 1920), 0) + 1e-9)
        },
      ),
    )
  })
})
