import { COMMON_PASSWORDS } from './common-passwords.ts'

/**
 * The password policy: at least 12 characters (NIST SP 800-63B and OWASP ASVS both let length,
 * not composition rules, carry the strength), at most 1024 (hashing cost is bounded), and not a
 * common password, a padded common stem, a run or sequence, or the account's own name.
 */
export const PASSWORD_MIN_LENGTH = 12
export const PASSWORD_MAX_LENGTH = 1024

const common = new Set(COMMON_PASSWORDS.map((p) => p.toLowerCase()))

function isRunOrSequence(value: string): boolean {
  const chars = [...value]
  if (new Set(chars).size <= 2) return true
  let ascending = true
  let descending = true
  for (let i = 1; i < chars.length; i++) {
    const step = (chars[i]?.codePointAt(0) ?? 0) - (chars[i - 1]?.codePointAt(0) ?? 0)
    if (step !== 1) ascending = false
    if (step !== -1) descending = false
  }
  return ascending || descending
}

/** Strips the digits and symbols people pad a weak word with: "P@ssword2024!" -> "p@ssword". */
function stem(value: string): string {
  return value
    .toLowerCase()
    .replace(/^[\d\W_]+/u, '')
    .replace(/[\d\W_]+$/u, '')
}

export function checkPassword(password: string, context: { username?: string; email?: string | null } = {}) {
  const problems: string[] = []
  const length = [...password].length
  if (length < PASSWORD_MIN_LENGTH) problems.push(`must be at least ${PASSWORD_MIN_LENGTH} characters long`)
  if (length > PASSWORD_MAX_LENGTH) problems.push(`must be at most ${PASSWORD_MAX_LENGTH} characters long`)
  const lower = password.toLowerCase()
  const stemmed = stem(password)
  if (common.has(lower) || common.has(stemmed) || (stemmed.length > 0 && isRunOrSequence(stemmed))) {
    problems.push('is too common or predictable')
  } else if (isRunOrSequence(lower)) {
    problems.push('is too common or predictable')
  }
  const names = [context.username, context.email?.split('@')[0]].filter(
    (n): n is string => typeof n === 'string' && n.length >= 4,
  )
  if (names.some((n) => lower.includes(n.toLowerCase()))) problems.push('must not contain the username')
  return problems
}
