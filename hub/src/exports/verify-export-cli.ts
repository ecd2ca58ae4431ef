import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { parseKeysFile, verifyExport } from './export-manifest.ts'

export const VERIFY_EXPORT_USAGE =
  'verify-export CLIP.mp4 MANIFEST.json [--keys KEYS.json]   check an export offline (exit 0 unaltered, 1 not)'

/** SHA-256 and size of a file, streamed. */
export async function hashFile(file: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer)
    bytes += (chunk as Buffer).length
  }
  return { sha256: hash.digest('hex'), bytes }
}

/**
 * `verify-export`: checks an exported MP4 against its signed manifest with the hub's public export
 * keys (the file from `/.well-known/export-keys.json`). Offline: it never fetches anything.
 * Prints one line, "OK: …" or "FAILED: …"; returns the exit code (0 or 1; 2 for a usage error).
 */
export async function verifyExportCommand(
  args: string[],
  out: (line: string) => void = (l) => console.log(l),
): Promise<number> {
  let parsed: { positionals: string[]; values: { keys?: string | undefined } }
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { keys: { type: 'string' } } })
  } catch (err) {
    out(`${(err as Error).message}\nusage: ${VERIFY_EXPORT_USAGE}`)
    return 2
  }
  const [clip, manifestFile] = parsed.positionals
  if (!clip || !manifestFile || parsed.positionals.length > 2) {
    out(`usage: ${VERIFY_EXPORT_USAGE}`)
    return 2
  }
  const keysFile = parsed.values.keys
  if (!keysFile) {
    out(
      "FAILED: the hub's public export keys are needed: save GET /.well-known/export-keys.json from the hub and pass it with --keys KEYS.json",
    )
    return 1
  }
  try {
    const [manifest, keysText, digest] = await Promise.all([
      readFile(manifestFile, 'utf8'),
      readFile(keysFile, 'utf8'),
      hashFile(clip),
    ])
    const result = verifyExport(manifest, digest, parseKeysFile(keysText))
    out(result.message)
    return result.ok ? 0 : 1
  } catch (err) {
    out(`FAILED: ${(err as Error).message}`)
    return 1
  }
}
