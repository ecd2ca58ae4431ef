import { describe, expect, it } from 'vitest'
import { lockState, overallState } from './lock-state.ts'

describe('evidence lock state', () => {
  it('is applied on an agent once it runs the version that carried the lock, without an error', () => {
    expect(lockState(5, null)).toBe('pending') // never reported
    expect(lockState(5, 4)).toBe('pending')
    expect(lockState(5, 5)).toBe('applied')
    expect(lockState(5, 9)).toBe('applied')
    expect(lockState(5, 9, 'evidence locks not applied: SQLITE_FULL')).toBe('pending')
  })

  it('is applied overall only when every agent concerned applied it (none: nothing to wait for)', () => {
    expect(overallState(['applied', 'applied'])).toBe('applied')
    expect(overallState(['applied', 'pending'])).toBe('pending')
    expect(overallState([])).toBe('applied')
  })
})
