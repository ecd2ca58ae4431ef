/**
 * Plane geometry for analytics zones and masks: pure functions on points and polygons, shared by
 * the hub (validating what an operator drew) and the agent (testing where an object stands).
 * Coordinates are usually relative to the frame (0..1, y down), but nothing here assumes it.
 */

/** A point or polygon vertex, `[x, y]`; relative frame coordinates (0..1) in zone and mask config. */
export type Point = [number, number]
/** Vertices in drawing order; the last joins back to the first (the first is not repeated). */
export type Polygon = Point[]

/** A box in a frame's pixels: left, top, right, bottom (the agent's detector `Box` has this shape). */
export interface PixelBox {
  x1: number
  y1: number
  x2: number
  y2: number
}

/**
 * Distances at or below this count as zero. Far below a pixel of any real frame (1/7680 ≈ 1.3e-4 in
 * relative coordinates) yet far above the rounding of computing a point on an edge (~1e-16), so a
 * point computed to lie on an edge is on it, and two vertices drawn onto each other do touch.
 */
const TOLERANCE = 1e-9

/**
 * Which side of the line a→b the point c lies: 1 left, -1 right, 0 on it (within TOLERANCE).
 * Compares the distance from the line rather than the raw cross product, so the tolerance means
 * the same thing for long and short edges. A zero-length a→b has every point "on" it; callers
 * then decide by the bounding box (see `withinBounds`).
 */
function orientation(a: Point, b: Point, c: Point): -1 | 0 | 1 {
  const dx = b[0] - a[0]
  const dy = b[1] - a[1]
  const length = Math.hypot(dx, dy)
  if (length === 0) return 0
  const distance = (dx * (c[1] - a[1]) - dy * (c[0] - a[0])) / length
  if (Math.abs(distance) <= TOLERANCE) return 0
  return distance > 0 ? 1 : -1
}

/** Whether p lies within the bounding box of a→b (grown by TOLERANCE); for p already on the line. */
function withinBounds(a: Point, b: Point, p: Point): boolean {
  return (
    p[0] >= Math.min(a[0], b[0]) - TOLERANCE &&
    p[0] <= Math.max(a[0], b[0]) + TOLERANCE &&
    p[1] >= Math.min(a[1], b[1]) - TOLERANCE &&
    p[1] <= Math.max(a[1], b[1]) + TOLERANCE
  )
}

function onSegment(a: Point, b: Point, p: Point): boolean {
  return orientation(a, b, p) === 0 && withinBounds(a, b, p)
}

function samePoint(a: Point, b: Point): boolean {
  return Math.abs(a[0] - b[0]) <= TOLERANCE && Math.abs(a[1] - b[1]) <= TOLERANCE
}

/**
 * Whether the closed segments a1→a2 and b1→b2 share at least one point: crossing, touching at an
 * end or a vertex, or overlapping along a common line all count.
 */
export function segmentsIntersect(a1: Point, a2: Point, b1: Point, b2: Point): boolean {
  const o1 = orientation(a1, a2, b1)
  const o2 = orientation(a1, a2, b2)
  const o3 = orientation(b1, b2, a1)
  const o4 = orientation(b1, b2, a2)
  // Each segment's ends lie strictly on opposite sides of the other's line: a proper crossing.
  if (o1 !== o2 && o3 !== o4) return true
  // Otherwise they meet only if an end of one lies on the other.
  return (
    (o1 === 0 && withinBounds(a1, a2, b1)) ||
    (o2 === 0 && withinBounds(a1, a2, b2)) ||
    (o3 === 0 && withinBounds(b1, b2, a1)) ||
    (o4 === 0 && withinBounds(b1, b2, a2))
  )
}

/**
 * Whether `p` is inside `polygon` or on its boundary (within TOLERANCE of an edge or a vertex).
 *
 * Boundary counts as inside because that is what Frigate does (`cv2.pointPolygonTest(...) >= 0`)
 * and because the test point is usually a box's bottom-centre: a person whose feet touch the bottom
 * of the frame stands at y = 1 exactly, on the edge of any zone drawn to the frame's border, and an
 * object on the line two adjacent zones share belongs to both rather than to neither.
 *
 * Away from the boundary the rule is even-odd (count the edges a ray from `p` crosses): for the
 * simple polygons the config accepts it agrees with the non-zero winding rule, and it needs neither
 * the polygon's orientation nor angles. Fewer than 3 vertices enclose nothing: always false.
 */
export function pointInPolygon(p: Point, polygon: Polygon): boolean {
  const n = polygon.length
  if (n < 3) return false
  let inside = false
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const a = polygon[j] as Point
    const b = polygon[i] as Point
    if (onSegment(a, b, p)) return true
    // The edge straddles the horizontal line through p (half-open, so a vertex is counted once)
    // and crosses it to the right of p.
    if (a[1] > p[1] !== b[1] > p[1]) {
      const crossingX = a[0] + ((p[1] - a[1]) * (b[0] - a[0])) / (b[1] - a[1])
      if (p[0] < crossingX) inside = !inside
    }
  }
  return inside
}

/**
 * Whether the polygon's outline meets itself anywhere but where consecutive edges join:
 * - two non-adjacent edges cross or touch (a bow-tie; a figure-eight pinched at one vertex);
 * - two adjacent edges overlap along a common line (the outline doubles back on itself);
 * - a vertex repeats its predecessor (a zero-length edge: usually the first point repeated at the
 *   end, GeoJSON-style; it makes "inside" ill-defined at that vertex).
 * Any of these makes "inside" ambiguous or the area zero somewhere, so zones and masks refuse them.
 * Fewer than 3 vertices is not a polygon at all, and not self-intersecting: false (callers check
 * the count). O(n²) in the vertices, which config bounds to 100.
 */
export function isSelfIntersecting(polygon: Polygon): boolean {
  const n = polygon.length
  if (n < 3) return false
  const vertex = (i: number): Point => polygon[i % n] as Point
  for (let i = 0; i < n; i++) {
    if (samePoint(vertex(i), vertex(i + 1))) return true
  }
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const adjacentAfter = j === i + 1
      const adjacentBefore = i === 0 && j === n - 1
      if (adjacentAfter) {
        if (doublesBack(vertex(i), vertex(j), vertex(j + 1))) return true
      } else if (adjacentBefore) {
        if (doublesBack(vertex(j), vertex(0), vertex(1))) return true
      } else if (segmentsIntersect(vertex(i), vertex(i + 1), vertex(j), vertex(j + 1))) {
        return true
      }
    }
  }
  return false
}

/**
 * Whether edges a→b and b→c, joined at b, overlap beyond b: the three points are collinear and
 * c heads back the way a came (positive dot product of b→a and b→c). Collinear and onwards is fine.
 */
function doublesBack(a: Point, b: Point, c: Point): boolean {
  if (orientation(a, b, c) !== 0) return false
  return (a[0] - b[0]) * (c[0] - b[0]) + (a[1] - b[1]) * (c[1] - b[1]) > 0
}

/**
 * The area enclosed by a simple polygon (shoelace formula), whatever its orientation; in relative
 * coordinates, the fraction of the frame it covers. For a self-intersecting polygon the result is
 * the net signed area's magnitude, not the covered area.
 */
export function polygonArea(polygon: Polygon): number {
  const n = polygon.length
  if (n < 3) return 0
  let twice = 0
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const a = polygon[j] as Point
    const b = polygon[i] as Point
    twice += a[0] * b[1] - b[0] * a[1]
  }
  return Math.abs(twice) / 2
}

/**
 * The bottom-centre of a pixel box, relative to a `width`×`height` frame: where a person's feet or
 * a car's wheels meet the ground, the point Frigate tests against zones (a box's centre would put a
 * tall person "in" a zone drawn on the floor behind them). Clamped to 0..1 because detectors
 * overshoot the frame by a few pixels; a box reaching the bottom edge lands exactly on y = 1.
 */
export function boxBottomCentre(box: PixelBox, width: number, height: number): Point {
  if (!(Number.isFinite(width) && width > 0 && Number.isFinite(height) && height > 0)) {
    throw new RangeError(`frame size must be positive, got ${width}x${height}`)
  }
  return [clamp01((box.x1 + box.x2) / 2 / width), clamp01(box.y2 / height)]
}

function clamp01(value: number): number {
  return Math.min(1, Math.max(0, value))
}
