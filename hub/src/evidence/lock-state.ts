/**
 * Whether an agent holds a lock: it runs a configuration at least as new as the one that first
 * carried the lock, and reported no error applying its configuration. An error makes every lock of
 * the agent pending: `applied` is a promise that the footage is kept, and it is not made blindly.
 */
export type LockState = 'pending' | 'applied'

export function lockState(
  lockVersion: number,
  appliedVersion: number | null | undefined,
  configError?: string | null,
): LockState {
  if (appliedVersion === null || appliedVersion === undefined) return 'pending'
  if (configError) return 'pending'
  return appliedVersion >= lockVersion ? 'applied' : 'pending'
}

/** A lock is applied when every agent concerned applied it (none concerned: nothing to wait for). */
export function overallState(agentStates: readonly LockState[]): LockState {
  return agentStates.every((s) => s === 'applied') ? 'applied' : 'pending'
}
