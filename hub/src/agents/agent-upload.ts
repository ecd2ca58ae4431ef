import { createHash } from 'node:crypto'
import { createWriteStream, rmSync } from 'node:fs'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'

/**
 * An upload from an agent (an export, a playback segment) lands on disk only as it was declared:
 * exactly `bytes` long (a longer one is cut off as it streams in) with the declared SHA-256. Each
 * chunk may also be inspected on its way (a segment's box structure). On any failure the partial
 * file is removed; what succeeds is the file and its digest.
 */
export class AgentUploadError extends Error {
  override name = 'AgentUploadError'
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

export interface DeclaredUpload {
  bytes: number
  sha256: string
}

export async function receiveVerifiedUpload(
  body: Readable,
  file: string,
  declared: DeclaredUpload,
  inspect?: (chunk: Buffer) => void,
): Promise<string> {
  const hash = createHash('sha256')
  const out = createWriteStream(file, { mode: 0o600 })
  let received = 0
  try {
    await pipeline(
      body,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          received += chunk.length
          if (received > declared.bytes)
            throw new AgentUploadError(400, 'length_mismatch', 'the upload is longer than it declared')
          hash.update(chunk)
          inspect?.(chunk)
          yield chunk
        }
      },
      out,
    )
    if (received !== declared.bytes)
      throw new AgentUploadError(
        400,
        'length_mismatch',
        `the upload ended after ${received} of ${declared.bytes} bytes`,
      )
    const digest = hash.digest('hex')
    if (digest !== declared.sha256)
      throw new AgentUploadError(422, 'digest_mismatch', 'the upload does not match its SHA-256')
    return digest
  } catch (err) {
    // A stream cut short may still be opening its file: removing it first would leave it behind.
    if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()))
    rmSync(file, { force: true })
    throw err
  }
}
