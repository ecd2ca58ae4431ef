/**
 * Optimal assignment on a cost matrix (rows: tracks, columns: detections in the tracker).
 * The solver is the Hungarian method with potentials and shortest augmenting paths — the same
 * augmentation Jonker-Volgenant uses — O(n² m) for n ≤ m, nothing for the few dozen objects
 * a camera sees.
 */

export interface Assignment {
  /** Matched [row, column] pairs, in row order. */
  matches: [row: number, col: number][]
  unmatchedRows: number[]
  unmatchedCols: number[]
}

type CostMatrix = readonly (readonly number[])[]

function checkShape(cost: CostMatrix, colCount: number): void {
  for (const row of cost) {
    if (row.length !== colCount) throw new RangeError('cost matrix rows must all have the same length')
  }
}

/**
 * Minimum-sum assignment of min(rows, cols) pairs. Returns each row's column, or -1 for the rows
 * left over when there are more rows than columns. Costs must be finite.
 * `colCount` only matters for a matrix without rows.
 */
export function minCostAssignment(cost: CostMatrix, colCount = cost[0]?.length ?? 0): number[] {
  checkShape(cost, colCount)
  for (const row of cost) {
    for (const c of row) if (!Number.isFinite(c)) throw new RangeError('costs must be finite')
  }
  const rows = cost.length
  if (rows === 0 || colCount === 0) return new Array<number>(rows).fill(-1)
  if (rows <= colCount) return solveWide(cost, rows, colCount)
  // The solver needs rows ≤ columns: solve the transpose and read it back.
  const transposed = Array.from({ length: colCount }, (_, c) => cost.map((row) => row[c]!))
  const colToRow = solveWide(transposed, colCount, rows)
  const rowToCol = new Array<number>(rows).fill(-1)
  colToRow.forEach((r, c) => {
    rowToCol[r] = c
  })
  return rowToCol
}

/** Hungarian with potentials for n ≤ m (1-based internally: index 0 is the virtual start). */
function solveWide(cost: CostMatrix, n: number, m: number): number[] {
  const u = new Float64Array(n + 1)
  const v = new Float64Array(m + 1)
  /** The row (1-based) each column is assigned to, 0 for none. */
  const owner = new Int32Array(m + 1)
  const way = new Int32Array(m + 1)
  for (let i = 1; i <= n; i++) {
    owner[0] = i
    let col = 0
    const minSlack = new Float64Array(m + 1).fill(Number.POSITIVE_INFINITY)
    const visited = new Uint8Array(m + 1)
    // Grow a shortest-path tree from row i until it reaches a free column.
    do {
      visited[col] = 1
      const row = owner[col]!
      let delta = Number.POSITIVE_INFINITY
      let next = 0
      for (let j = 1; j <= m; j++) {
        if (visited[j]) continue
        const slack = cost[row - 1]![j - 1]! - u[row]! - v[j]!
        if (slack < minSlack[j]!) {
          minSlack[j] = slack
          way[j] = col
        }
        if (minSlack[j]! < delta) {
          delta = minSlack[j]!
          next = j
        }
      }
      for (let j = 0; j <= m; j++) {
        if (visited[j]) {
          u[owner[j]!] = u[owner[j]!]! + delta
          v[j] = v[j]! - delta
        } else {
          minSlack[j] = minSlack[j]! - delta
        }
      }
      col = next
    } while (owner[col] !== 0)
    // Flip the augmenting path back to the start.
    do {
      const prev = way[col]!
      owner[col] = owner[prev]!
      col = prev
    } while (col !== 0)
  }
  const rowToCol = new Array<number>(n).fill(-1)
  for (let j = 1; j <= m; j++) if (owner[j]! > 0) rowToCol[owner[j]! - 1] = j - 1
  return rowToCol
}

/**
 * Optimal assignment where a pair is only worth matching when it costs less than `maxCost`:
 * it minimises the matched costs plus `maxCost / 2` for every row and column left unmatched —
 * what lapjv's `cost_limit` does for ByteTrack. So one good pair beats two mediocre ones (costs
 * 0 and unmatched beat 0.4 + 0.4 at a limit of 0.5), and a pair at or above the limit, or with a
 * non-finite cost (how callers forbid a pair), is never matched.
 * `colCount` only matters for a matrix without rows.
 */
export function assign(cost: CostMatrix, maxCost: number, colCount = cost[0]?.length ?? 0): Assignment {
  checkShape(cost, colCount)
  const allowed = (c: number) => Number.isFinite(c) && c < maxCost
  // Matching a pair saves maxCost (its row's and column's halves) and spends its cost: minimise
  // cost - maxCost over pairs worth it; a 0 is the same as leaving both unmatched.
  const gains = cost.map((row) => row.map((c) => (allowed(c) ? c - maxCost : 0)))
  const rowToCol = minCostAssignment(gains, colCount)
  const matches: [number, number][] = []
  const colMatched = new Array<boolean>(colCount).fill(false)
  rowToCol.forEach((col, row) => {
    if (col < 0 || !allowed(cost[row]![col]!)) return
    matches.push([row, col])
    colMatched[col] = true
  })
  const rowMatched = new Set(matches.map(([row]) => row))
  return {
    matches,
    unmatchedRows: cost.map((_, row) => row).filter((row) => !rowMatched.has(row)),
    unmatchedCols: colMatched.flatMap((matched, col) => (matched ? [] : [col])),
  }
}
