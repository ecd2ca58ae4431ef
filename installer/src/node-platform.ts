import { closeSync, fsyncSync, openSync } from 'node:fs'

/**
 * What differs on Windows for the Node processes, with the platform injected so that Linux tests
 * cover the Windows paths.
 */

/**
 * Signals that mean "stop cleanly". WinSW stops a service with Ctrl+C, which Node raises as SIGINT;
 * Ctrl+Break is SIGBREAK; SIGTERM is never raised on Windows. systemd sends SIGTERM.
 */
export function shutdownSignals(platform: NodeJS.Platform = process.platform): NodeJS.Signals[] {
  return platform === 'win32' ? ['SIGINT', 'SIGBREAK'] : ['SIGINT', 'SIGTERM']
}

export interface DirSyncFs {
  openSync(path: string, flags: string): number
  fsyncSync(fd: number): void
  closeSync(fd: number): void
}

/**
 * Makes a directory's entries durable (after creating or renaming a file in it). Windows cannot
 * open a directory as a file (EISDIR/EPERM) and NTFS journals its metadata, so it is skipped there;
 * file systems that refuse to sync a directory (EINVAL, ENOTSUP) are skipped too. Other errors are
 * thrown. Returns whether the directory was synced.
 */
export function syncDirectory(
  dir: string,
  platform: NodeJS.Platform = process.platform,
  fs: DirSyncFs = { openSync, fsyncSync, closeSync },
): boolean {
  if (platform === 'win32') return false
  let fd: number
  try {
    fd = fs.openSync(dir, 'r')
  } catch (err) {
    if (isUnsupported(err)) return false
    throw err
  }
  try {
    fs.fsyncSync(fd)
    return true
  } catch (err) {
    if (isUnsupported(err)) return false
    throw err
  } finally {
    fs.closeSync(fd)
  }
}

function isUnsupported(err: unknown): boolean {
  const code = (err as { code?: unknown }).code
  return code === 'EINVAL' || code === 'ENOTSUP' || code === 'EISDIR' || code === 'EPERM'
}
