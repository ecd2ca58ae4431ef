import { mkdirSync, rmSync } from 'node:fs'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { type DeclaredUpload, receiveVerifiedUpload } from '../agents/agent-upload.ts'

/**
 * Where export uploads land on the hub between the agent's upload and the user's download: one
 * file per export, hashed while it is written, removed once it has been sent (the manifest in the
 * database is what stays). Anything left from a previous run is stale and cleared at start.
 */
export class ExportStore {
  constructor(readonly dir: string) {
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true, mode: 0o700 })
  }

  /** Receives an upload of exactly `bytes` bytes whose SHA-256 must be `sha256` (AgentUploadError). */
  async receive(id: string, body: Readable, expected: DeclaredUpload): Promise<string> {
    const file = path.join(this.dir, `${id}.mp4`)
    await receiveVerifiedUpload(body, file, expected)
    return file
  }

  remove(file: string): void {
    rmSync(file, { force: true })
  }
}
