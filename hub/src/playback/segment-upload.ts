import { rmSync } from 'node:fs'
import type { Readable } from 'node:stream'
import { BoxStreamChecker, Fmp4Error, parseInit } from '@ts-vms/shared'
import { AgentUploadError, type DeclaredUpload, receiveVerifiedUpload } from '../agents/agent-upload.ts'

/** Largest init section the hub accepts (a camera's two tracks take about a kilobyte). */
export const MAX_INIT_BYTES = 1024 * 1024

export interface ExpectedSegment extends DeclaredUpload {
  kind: 'init' | 'media'
  /** For an init section: the key it must have. */
  initKey?: string
}

const MEDIA_BOXES = new Set(['moof', 'mdat'])

/**
 * Receives a playback upload from an agent: exactly the bytes it declared, with the SHA-256 it
 * declared (agent-upload.ts), and the shape it was asked for — an init section is `ftyp` + `moov`
 * whose key (the first 128 bits of its SHA-256) is the one asked for; a media segment is `moof` +
 * `mdat` pairs and nothing else, checked as it streams in. Anything else is refused (an
 * AgentUploadError) and nothing is kept.
 */
export async function receiveSegment(body: Readable, file: string, expected: ExpectedSegment): Promise<void> {
  const checker = new BoxStreamChecker(MEDIA_BOXES)
  const initChunks: Buffer[] = []
  try {
    const digest = await receiveVerifiedUpload(body, file, expected, (chunk) => {
      if (expected.kind === 'init') initChunks.push(chunk)
      else checker.push(chunk)
    })
    if (expected.kind === 'init') {
      parseInit(Buffer.concat(initChunks))
      if (digest.slice(0, 32) !== expected.initKey)
        throw new AgentUploadError(422, 'init_mismatch', 'this is not the init section asked for')
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
      throw new AgentUploadError(422, 'invalid_segment', `not a playable segment: ${err.message}`)
    throw err
  }
}
