import { randomUUID } from 'node:crypto'
import { constants } from 'node:fs'
import { copyFile, mkdir, open, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'

/**
 * Where a case's clips live on the hub: `<root>/<caseId>/<clipId>.mp4`. The hub keeps them itself
 * so that a case no longer depends on the agent's retention; the database holds each file's
 * SHA-256 and size (and the signed manifest), so the files are the only bytes kept here.
 *
 * A file is written atomically: moved (or copied, across file systems) to a temporary name in the
 * case's directory, fsynced, renamed into place, and the directory fsynced — a crash leaves either
 * no clip or the whole clip, never half of one under its final name.
 */
const ID = /^[0-9a-f-]{36}$/

export class CaseFiles {
  constructor(readonly root: string) {}

  caseDir(caseId: string): string {
    if (!ID.test(caseId)) throw new Error('not a case id')
    return path.join(this.root, caseId)
  }

  clipFile(caseId: string, clipId: string): string {
    if (!ID.test(clipId)) throw new Error('not a clip id')
    return path.join(this.caseDir(caseId), `${clipId}.mp4`)
  }

  /**
   * Moves `source` (an export the agent just uploaded, already checked against its SHA-256) to the
   * clip's place, durably. `source` is gone afterwards, whatever happens.
   */
  async keep(source: string, caseId: string, clipId: string): Promise<string> {
    const dir = this.caseDir(caseId)
    const target = this.clipFile(caseId, clipId)
    const tmp = path.join(dir, `.${clipId}.${randomUUID()}.tmp`)
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 })
      try {
        await rename(source, tmp)
      } catch (err) {
        // The uploads directory may be on another file system: copy, then drop the upload.
        if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err
        await copyFile(source, tmp, constants.COPYFILE_EXCL)
      }
      await fsyncPath(tmp, 'r+')
      await rename(tmp, target)
      await fsyncPath(dir, 'r')
      return target
    } catch (err) {
      await rm(tmp, { force: true })
      throw err
    } finally {
      await rm(source, { force: true })
    }
  }

  /** The clip's size on disk, or undefined when it is missing. */
  async size(caseId: string, clipId: string): Promise<number | undefined> {
    try {
      return (await stat(this.clipFile(caseId, clipId))).size
    } catch {
      return undefined
    }
  }

  async removeClip(caseId: string, clipId: string): Promise<void> {
    await rm(this.clipFile(caseId, clipId), { force: true })
  }

  /**
   * Removes a case's folder. A clip still being collected may land a file in it meanwhile
   * (ENOTEMPTY while the folder is emptied): retried, and the collector removes what it kept for a
   * case that is gone.
   */
  async removeCase(caseId: string): Promise<void> {
    await rm(this.caseDir(caseId), { recursive: true, force: true, maxRetries: 5, retryDelay: 50 })
  }
}

async function fsyncPath(file: string, flags: 'r' | 'r+'): Promise<void> {
  const handle = await open(file, flags)
  try {
    await handle.sync()
  } catch (err) {
    // Some file systems refuse fsync on a directory; the file itself was synced.
    if (flags === 'r+' || !['EINVAL', 'EISDIR', 'EPERM'].includes((err as NodeJS.ErrnoException).code ?? ''))
      throw err
  } finally {
    await handle.close()
  }
}
