import { createHash } from 'node:crypto'
import { createWriteStream, rmSync } from 'node:fs'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { BoxStreamChecker, Fmp4Error, parseInit } from '@ts-vms/shared'

/**
 * Receiving a playback upload from an agent: exactly the bytes it declared, with the SHA-256 it
 * declared, and the shape it was asked for — an init section is `ftyp` + `moov` whose key (the
 * first 128 bits of its SHA-256) is the one asked for; a media segment is `moof` + `mdat` pairs
 * and nothing else, checked as it streams in. Anything else is refused and nothing is kept.
 */
export class SegmentUploadError extends Error {
  override name = 'SegmentUploadError'
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

/** Largest init section the hub accepts (a camera's two tracks take about a kilobyte). */
export const MAX_INIT_BYTES = 1024 * 1024

export interface ExpectedSegment {
  kind: 'init' | 'media'
  bytes: number
  sha256: string
  /** For an init section: the key it must have. */
  initKey?: string
}

const MEDIA_BOXES = new Set(['moof', 'mdat'])

export async function receiveSegment(body: Readable, file: string, expected: ExpectedSegment): Promise<void> {
  const hash = createHash('sha256')
  const checker = new BoxStreamChecker(MEDIA_BOXES)
  const initChunks: Buffer[] = []
  let received = 0
  try {
    await pipeline(
      body,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          received += chunk.length
          if (received > expected.bytes)
            throw new SegmentUploadError(400, 'length_mismatch', 'the upload is longer than it declared')
          hash.update(chunk)
          if (expected.kind === 'init') initChunks.push(chunk)
          else checker.push(chunk)
          yield chunk
        }
      },
      createWriteStream(file, { mode: 0o600 }),
    )
    if (received !== expected.bytes)
      throw new SegmentUploadError(
        400,
        'length_mismatch',
        `the upload ended after ${received} of ${expected.bytes} bytes`,
      )
    const digest = hash.digest('hex')
    if (digest !== expected.sha256)
      throw new SegmentUploadError(422, 'digest_mismatch', 'the upload does not match its SHA-256')
    if (expected.kind === 'init') {
      parseInit(Buffer.concat(initChunks))
      if (digest.slice(0, 32) !== expected.initKey)
        throw new SegmentUploadError(422, 'init_mismatch', 'this is not the init section asked for')
    } else {
      const types = checker.finish()
      if (
        types.length === 0 ||
        types.some((t, i) => t !== (i % 2 === 0 ? 'moof' : 'mdat')) ||
        types.length % 2
      )
        throw new Fmp4Error('a media segment is moof + mdat pairs')
    }
  } catch (err) {
    rmSync(file, { force: true })
    if (err instanceof Fmp4Error)
      throw new SegmentUploadError(422, 'invalid_segment', `not a playable segment: ${err.message}`)
    throw err
  }
}
