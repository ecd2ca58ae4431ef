import { execFileSync } from 'node:child_process'

/**
 * A small tmpfs for the tests that need a disk that fills up (a full data or recordings disk).
 * Mounting needs root, which CI and the development machines have; elsewhere the caller's tests are
 * skipped, and this says so loudly, naming what goes untested.
 */
export function mountTmpfs(dir: string, size: string, untested: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' })
    return true
  } catch (err) {
    console.warn(
      `SKIPPING ${untested}: cannot mount a tmpfs here (${(err as Error).message.split('\n')[0]}); run as root to cover it`,
    )
    return false
  }
}

export function unmountTmpfs(dir: string): void {
  execFileSync('umount', ['-l', dir])
}
