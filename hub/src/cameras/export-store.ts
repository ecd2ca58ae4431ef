import { createHash } from 'node:crypto'
import { createWriteStream, mkdirSync, rmSync } from 'node:fs'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'

/**
 * Where export uploads land on the hub between the agent's upload and the user's download: one
 * file per export, hashed while it is written, removed once it has been sent (the manifest in the
 * database is what stays). Anything left from a previous run is stale and cleared at start.
 */
export class ExportUploadError extends Error {
  override name = 'ExportUploadError'
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

export class ExportStore {
  constructor(readonly dir: string) {
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true, mode: 0o700 })
  }

  /** Receives an upload of exactly `bytes` bytes whose SHA-256 must be `sha256`. */
  async receive(id: string, body: Readable, expected: { bytes: number; sha256: string }): Promise<string> {
    const file = path.join(this.dir, `${id}.mp4`)
    const hash = createHash('sha256')
    let received = 0
    try {
      await pipeline(
        body,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            received += chunk.length
            if (received > expected.bytes)
              throw new ExportUploadError(400, 'length_mismatch', 'the upload is longer than it declared')
            hash.update(chunk)
            yield chunk
          }
        },
        createWriteStream(file, { mode: 0o600 }),
      )
      if (received !== expected.bytes)
        throw new ExportUploadError(
          400,
          'length_mismatch',
          `the upload ended after ${received} of ${expected.bytes} bytes`,
        )
      const digest = hash.digest('hex')
      if (digest !== expected.sha256)
        throw new ExportUploadError(422, 'digest_mismatch', 'the upload does not match its SHA-256')
      return file
    } catch (err) {
      this.remove(file)
      throw err
    }
  }

  remove(file: string): void {
    rmSync(file, { force: true })
  }
}
