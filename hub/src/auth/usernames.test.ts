import { describe, expect, it } from 'vitest'
import { canonicalUsername, storedUsername } from './usernames.ts'

describe('canonicalUsername', () => {
  it('equates case and compatibility forms', () => {
    for (const name of ['admin', 'ADMIN', ' Admin ', '\uFF41\uFF44\uFF4D\uFF49\uFF4E', '\uFF21DMIN']) {
      expect(canonicalUsername(name), name).toBe('admin')
    }
    expect(canonicalUsername('\u212Aelvin')).toBe('kelvin')
    expect(canonicalUsername('STRASSE')).toBe(canonicalUsername('straße'))
    expect(canonicalUsername('ΟΔΟΣ')).toBe(canonicalUsername('οδοσ'))
  })

  it('does not equate dotted capital I (U+0130) with i, as PostgreSQL lower() may', () => {
    expect(canonicalUsername('adm\u0130n')).not.toBe('admin')
    expect(canonicalUsername('v\u0130ewer1')).not.toBe(canonicalUsername('viewer1'))
    expect(canonicalUsername('V\u0130EWER1')).toBe(canonicalUsername('v\u0130ewer1'))
  })

  it('is idempotent, and stored names keep their case', () => {
    for (const name of ['Émile', 'adm\u0130n', '\u212Aate', 'ǅemal', 'ﬁnn']) {
      expect(canonicalUsername(canonicalUsername(name))).toBe(canonicalUsername(name))
    }
    expect(storedUsername('\u212Aate')).toBe('Kate')
    expect(storedUsername('ﬁnn')).toBe('finn')
  })
})
