import { createReadStream } from 'node:fs'
import { PassThrough, type Readable } from 'node:stream'
import { ZipFile } from 'yazl'

/**
 * A case as one zip, streamed (never built in memory or on disk first; yazl writes ZIP64 records
 * once a clip or the archive passes 4 GiB): each clip's MP4 with its signed manifest beside it,
 * the hub's public export keys, the case's metadata and a README saying how to check it all.
 */
export interface ZipClip {
  /** 1-based, as listed in the case. */
  n: number
  cameraName: string
  /** The start of the clip (ISO 8601), for the file name. */
  from: string
  /** The MP4 on the hub's disk. */
  path: string
  /** Its size as recorded: the zip refuses a file that differs. */
  bytes: number
  /** The signed manifest (canonical JSON). */
  manifest: string
}

/** A camera name as a file-name part: lower case ASCII letters, digits and dashes. */
export function slug(name: string): string {
  const s = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60)
    .replace(/-+$/, '')
  return s || 'camera'
}

/** `clips/<n>-<camera slug>-<from>`, without extension; `from` with `:` and `.` made safe. */
export function clipEntryBase(n: number, cameraName: string, from: string): string {
  const stamp = new Date(from)
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/:/g, '-')
  return `clips/${String(n).padStart(2, '0')}-${slug(cameraName)}-${stamp}`
}

export function caseReadme(c: { name: string; id: string; hubUrl?: string }, clipFiles: string[]): string {
  return [
    `Case: ${c.name}`,
    `Case id: ${c.id}`,
    '',
    'Contents',
    '  case.json          the case: its clips (camera, site, range, note, SHA-256, size) and notes',
    '  export-keys.json   the public keys of the hub that signed the clips',
    '                     (the same as the hub serves at /.well-known/export-keys.json)',
    '  clips/             each clip as an MP4, with its signed manifest beside it (.manifest.json)',
    ...clipFiles.map((f) => `                     ${f}`),
    '',
    'Checking a clip',
    '  Each manifest is signed by the hub (Ed25519) and names the SHA-256 and size of its MP4, the',
    '  camera, the site, the time range, who exported it and when. With the TS-VMS tools:',
    '',
    '    npm run -s hub -- verify-export clips/NN-....mp4 clips/NN-....manifest.json --keys export-keys.json',
    '',
    '  prints "OK: unaltered; ..." (exit 0) when the file and its manifest are as the hub signed them,',
    '  and "FAILED: <why>" (exit 1) otherwise. Without the tools: the SHA-256 of the MP4',
    '  (sha256sum, shasum -a 256, certutil -hashfile FILE SHA256) must equal "sha256" in its',
    '  manifest, and the signature must verify over the manifest without "signature" (canonical JSON:',
    '  keys sorted, no whitespace) with the public key named by "keyId".',
    '',
    '  Trust rests on the keys: compare export-keys.json with the one the hub publishes, over a',
    '  channel you trust. A keys file that came only with this zip proves nothing by itself.',
    '',
  ].join('\r\n')
}

/**
 * The zip as a stream. Errors (a clip missing or changed on disk) destroy the stream: the download
 * ends short and the archive is unreadable rather than quietly incomplete.
 */
export function caseZip(o: {
  clips: ZipClip[]
  caseJson: string
  keysJson: string
  readme: string
  mtime?: Date
}): Readable {
  const zip = new ZipFile()
  const out = new PassThrough()
  const mtime = o.mtime ?? new Date()
  zip.on('error', (err: Error) => out.destroy(err))
  zip.outputStream.on('error', (err: Error) => out.destroy(err))
  zip.outputStream.pipe(out)
  zip.addBuffer(Buffer.from(o.readme, 'utf8'), 'README.txt', { mtime })
  zip.addBuffer(Buffer.from(o.caseJson, 'utf8'), 'case.json', { mtime })
  zip.addBuffer(Buffer.from(o.keysJson, 'utf8'), 'export-keys.json', { mtime })
  for (const c of o.clips) {
    const base = clipEntryBase(c.n, c.cameraName, c.from)
    // Video does not compress: stored as is, which also keeps the download fast.
    zip.addReadStreamLazy(`${base}.mp4`, { size: c.bytes, compress: false, mtime }, (cb) => {
      const stream = createReadStream(c.path)
      stream.once('error', (err) => out.destroy(err))
      cb(null, stream)
    })
    zip.addBuffer(Buffer.from(c.manifest, 'utf8'), `${base}.manifest.json`, { mtime })
  }
  zip.end()
  return out
}
