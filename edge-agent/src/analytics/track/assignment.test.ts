import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../../test/helpers/seeded-random.ts'
import { assign, minCostAssignment } from './assignment.ts'

const total = (cost: number[][], rowToCol: number[]) =>
  rowToCol.reduce((sum, col, row) => (col < 0 ? sum : sum + cost[row]![col]!), 0)

/** Every partial matching of rows to columns (each column at most once). */
function* partialMatchings(
  rows: number,
  cols: number,
  row = 0,
  used = new Set<number>(),
): Generator<number[]> {
  if (row === rows) {
    yield []
    return
  }
  for (const rest of partialMatchings(rows, cols, row + 1, used)) yield [-1, ...rest]
  for (let col = 0; col < cols; col++) {
    if (used.has(col)) continue
    used.add(col)
    for (const rest of partialMatchings(rows, cols, row + 1, used)) yield [col, ...rest]
    used.delete(col)
  }
}

function bruteMinCost(cost: number[][], cols: number): number {
  const size = Math.min(cost.length, cols)
  let best = Number.POSITIVE_INFINITY
  for (const m of partialMatchings(cost.length, cols)) {
    if (m.filter((c) => c >= 0).length === size) best = Math.min(best, total(cost, m))
  }
  return best
}

/** The thresholded objective: matched costs plus maxCost/2 per unmatched row and column. */
function thresholdedObjective(cost: number[][], cols: number, maxCost: number, rowToCol: number[]): number {
  const matched = rowToCol.filter((c) => c >= 0).length
  return total(cost, rowToCol) + (maxCost / 2) * (cost.length - matched + cols - matched)
}

function bruteThresholded(cost: number[][], cols: number, maxCost: number): number {
  let best = Number.POSITIVE_INFINITY
  for (const m of partialMatchings(cost.length, cols)) {
    if (m.some((col, row) => col >= 0 && !(cost[row]![col]! < maxCost))) continue
    best = Math.min(best, thresholdedObjective(cost, cols, maxCost, m))
  }
  return best
}

function randomMatrix(random: () => number, rows: number, cols: number, integers: boolean): number[][] {
  return Array.from({ length: rows }, () =>
    Array.from({ length: cols }, () => (integers ? Math.floor(random() * 5) : random())),
  )
}

describe('minCostAssignment', () => {
  it('solves a known square matrix', () => {
    const cost = [
      [4, 1, 3],
      [2, 0, 5],
      [3, 2, 2],
    ]
    expect(minCostAssignment(cost)).toEqual([1, 0, 2])
  })

  it('solves wide and tall matrices, leaving extra rows at -1', () => {
    const wide = [
      [9, 2, 7, 8],
      [6, 4, 3, 7],
    ]
    expect(minCostAssignment(wide)).toEqual([1, 2])
    const tall = [
      [9, 6],
      [2, 4],
      [7, 3],
      [8, 7],
    ]
    expect(minCostAssignment(tall)).toEqual([-1, 0, 1, -1])
  })

  it('handles empty matrices', () => {
    expect(minCostAssignment([])).toEqual([])
    expect(minCostAssignment([[], []], 0)).toEqual([-1, -1])
  })

  it('rejects non-finite costs and ragged rows', () => {
    expect(() => minCostAssignment([[1, Number.POSITIVE_INFINITY]])).toThrow(RangeError)
    expect(() => minCostAssignment([[1, 2], [3]])).toThrow(RangeError)
  })

  it('matches brute force on random small matrices, ties included', () => {
    const random = seededRandom(1234)
    for (let run = 0; run < 400; run++) {
      const rows = 1 + Math.floor(random() * 5)
      const cols = 1 + Math.floor(random() * 5)
      const cost = randomMatrix(random, rows, cols, run % 2 === 0)
      const rowToCol = minCostAssignment(cost)
      const assigned = rowToCol.filter((c) => c >= 0)
      expect(assigned.length).toBe(Math.min(rows, cols))
      expect(new Set(assigned).size).toBe(assigned.length)
      expect(total(cost, rowToCol)).toBeCloseTo(bruteMinCost(cost, cols), 9)
    }
  })
})

describe('assign', () => {
  it('matches everything under the limit like the plain solver', () => {
    const result = assign(
      [
        [0.1, 0.3],
        [0.2, 0.05],
      ],
      0.5,
    )
    expect(result).toEqual({
      matches: [
        [0, 0],
        [1, 1],
      ],
      unmatchedRows: [],
      unmatchedCols: [],
    })
  })

  it('never matches a pair at or above the limit', () => {
    const result = assign(
      [
        [0.1, 0.9],
        [0.2, 0.95],
      ],
      0.5,
    )
    expect(result).toEqual({ matches: [[0, 0]], unmatchedRows: [1], unmatchedCols: [1] })
    expect(assign([[0.5]], 0.5).matches).toEqual([])
  })

  it('prefers one good pair to two mediocre ones, as lapjv with cost_limit does', () => {
    const result = assign(
      [
        [0.0, 0.4],
        [0.4, 1.0],
      ],
      0.5,
    )
    expect(result).toEqual({ matches: [[0, 0]], unmatchedRows: [1], unmatchedCols: [1] })
  })

  it('treats non-finite costs as forbidden pairs', () => {
    const result = assign(
      [
        [Number.POSITIVE_INFINITY, 0.2],
        [0.1, Number.NaN],
        [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY],
      ],
      0.8,
    )
    expect(result).toEqual({
      matches: [
        [0, 1],
        [1, 0],
      ],
      unmatchedRows: [2],
      unmatchedCols: [],
    })
  })

  it('reports every column unmatched when there are no rows, and every row when no columns', () => {
    expect(assign([], 0.5, 3)).toEqual({ matches: [], unmatchedRows: [], unmatchedCols: [0, 1, 2] })
    expect(assign([[], []], 0.5, 0)).toEqual({ matches: [], unmatchedRows: [0, 1], unmatchedCols: [] })
  })

  it('reaches the brute-force optimum on random thresholded rectangular matrices', () => {
    const random = seededRandom(99)
    for (let run = 0; run < 400; run++) {
      const rows = Math.floor(random() * 5)
      const cols = Math.floor(random() * 5)
      const cost = randomMatrix(random, rows, cols, false).map((row) =>
        row.map((c) => (random() < 0.15 ? Number.POSITIVE_INFINITY : c)),
      )
      const maxCost = 0.2 + random() * 0.8
      const { matches, unmatchedRows, unmatchedCols } = assign(cost, maxCost, cols)
      for (const [row, col] of matches) expect(cost[row]![col]!).toBeLessThan(maxCost)
      expect([...matches.map(([r]) => r), ...unmatchedRows].sort((a, b) => a - b)).toEqual([
        ...Array(rows).keys(),
      ])
      expect([...matches.map(([, c]) => c), ...unmatchedCols].sort((a, b) => a - b)).toEqual([
        ...Array(cols).keys(),
      ])
      const rowToCol = new Array<number>(rows).fill(-1)
      for (const [row, col] of matches) rowToCol[row] = col
      expect(thresholdedObjective(cost, cols, maxCost, rowToCol)).toBeCloseTo(
        bruteThresholded(cost, cols, maxCost),
        9,
      )
    }
  })
})
