import type { Layout } from '../../api/types.ts'

export const LAYOUTS: { value: Layout; label: string; tiles: number; columns: number }[] = [
  { value: '1', label: '1 camera', tiles: 1, columns: 1 },
  { value: '2x2', label: '2 × 2', tiles: 4, columns: 2 },
  { value: '3x3', label: '3 × 3', tiles: 9, columns: 3 },
  { value: '4x4', label: '4 × 4', tiles: 16, columns: 4 },
]

export const tilesOf = (layout: Layout): number => LAYOUTS.find((l) => l.value === layout)?.tiles ?? 4
export const isLayout = (v: string | null): v is Layout => LAYOUTS.some((l) => l.value === v)

/** The tiles of a page of the grid when no saved view fixes them: cameras in site order. */
export function autoTiles(cameraIds: string[], layout: Layout, page: number): (string | null)[] {
  const n = tilesOf(layout)
  const slice = cameraIds.slice(page * n, page * n + n)
  return [...slice, ...Array<null>(n - slice.length).fill(null)]
}

/** A saved view's cameras fitted to a layout (extra dropped, missing empty). */
export function fitTiles(cameraIds: (string | null)[], layout: Layout): (string | null)[] {
  const n = tilesOf(layout)
  return Array.from({ length: n }, (_, i) => cameraIds[i] ?? null)
}
