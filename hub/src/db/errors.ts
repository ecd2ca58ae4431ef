/** True for errors that mean "the database is not reachable right now", not "the query is wrong". */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = (err ?? {}) as { code?: string; sqlState?: string; message?: string; name?: string }
  const code = e.sqlState ?? e.code ?? ''
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH'].includes(code))
    return true
  // SQLSTATE class 08 (connection exception) and 57P0x (admin/crash shutdown, cannot connect now).
  if (/^08...$/.test(code) || /^57P0[1-4]$/.test(code)) return true
  return /Connection terminated|Timeout acquiring a connection|Client has encountered a connection error|connect ECONNREFUSED|not queryable|Knex: Timeout/i.test(
    e.message ?? '',
  )
}
