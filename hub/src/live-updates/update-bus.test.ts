import { describe, expect, it } from 'vitest'
import type { Principal } from '../rbac/principal.ts'
import { mayReceive, type Update } from './update-bus.ts'

const principal = (over: Partial<Principal>): Principal =>
  ({
    userId: 'u1',
    tenantId: 't1',
    username: 'viewer',
    isSystemAdmin: false,
    disabled: false,
    sessionVersion: 1,
    bindings: [],
    ...over,
  }) as unknown as Principal

describe('who is told of a live session’s end', () => {
  const ended: Update = {
    type: 'live',
    viewer: { userId: 'u1' },
    data: { sessionId: 's1', cameraId: 'c1', reason: 'permission revoked' },
  }

  it('tells its viewer alone, not even a system administrator', () => {
    expect(mayReceive(principal({}), ended)).toBe(true)
    expect(mayReceive(principal({ userId: 'u2' }), ended)).toBe(false)
    expect(mayReceive(principal({ userId: 'u2', isSystemAdmin: true }), ended)).toBe(false)
  })

  it('tells a disabled account nothing', () => {
    expect(mayReceive(principal({ disabled: true }), ended)).toBe(false)
  })
})
