/**
 * A Postgres text[] literal. Raw-query bindings expand a JS array into a list of parameters (meant
 * for IN (...)), so array values are bound as one literal string and cast with `?::text[]`.
 */
export function pgTextArray(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`
}
