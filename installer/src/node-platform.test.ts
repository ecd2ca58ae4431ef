import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { type DirSyncFs, shutdownSignals, syncDirectory } from './node-platform.ts'

const err = (code: string) => Object.assign(new Error(code), { code })

function fakeFs(o: { open?: Error; fsync?: Error } = {}) {
  const calls: string[] = []
  const fs: DirSyncFs = {
    openSync: (p, flags) => {
      calls.push(`open ${p} ${flags}`)
      if (o.open) throw o.open
      return 7
    },
    fsyncSync: (fd) => {
      calls.push(`fsync ${fd}`)
      if (o.fsync) throw o.fsync
    },
    closeSync: (fd) => {
      calls.push(`close ${fd}`)
    },
  }
  return { fs, calls }
}

describe('platform differences', () => {
  it('stops on Ctrl+C/Ctrl+Break on Windows (WinSW), on SIGINT/SIGTERM elsewhere (systemd)', () => {
    expect(shutdownSignals('win32')).toEqual(['SIGINT', 'SIGBREAK'])
    expect(shutdownSignals('linux')).toEqual(['SIGINT', 'SIGTERM'])
    expect(shutdownSignals('darwin')).toEqual(['SIGINT', 'SIGTERM'])
  })

  it('does not try to sync a directory on Windows', () => {
    const { fs, calls } = fakeFs()
    expect(syncDirectory('C:\\data', 'win32', fs)).toBe(false)
    expect(calls).toEqual([])
  })

  it('syncs a directory on Linux and closes it', () => {
    const { fs, calls } = fakeFs()
    expect(syncDirectory('/data', 'linux', fs)).toBe(true)
    expect(calls).toEqual(['open /data r', 'fsync 7', 'close 7'])
  })

  it('skips file systems that cannot sync a directory, throws real errors', () => {
    expect(syncDirectory('/d', 'linux', fakeFs({ fsync: err('EINVAL') }).fs)).toBe(false)
    expect(syncDirectory('/d', 'linux', fakeFs({ open: err('EISDIR') }).fs)).toBe(false)
    const eio = fakeFs({ fsync: err('EIO') })
    expect(() => syncDirectory('/d', 'linux', eio.fs)).toThrow('EIO')
    expect(eio.calls.at(-1)).toBe('close 7')
    expect(() => syncDirectory('/d', 'linux', fakeFs({ open: err('ENOENT') }).fs)).toThrow('ENOENT')
  })

  it('syncs a real directory here', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dirsync-'))
    try {
      expect(syncDirectory(dir)).toBe(process.platform !== 'win32')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
