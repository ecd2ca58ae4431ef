/**
 * An H.264 Annex B byte stream, as it arrives in chunks (from ffmpeg's stdout), to access units.
 * NAL units are cut at start codes; an access unit ends where the next one's access unit
 * delimiter (type 9) begins, so the encoder must write AUDs (x264: `aud=1`). Pure and incremental:
 * a NAL unit is only emitted once the start code after it has arrived.
 */
const AUD = 9

export class AnnexBReader {
  private buf: Buffer = Buffer.alloc(0)
  private current: Buffer[] = []
  /** Where the search for the next start code resumes (what is before it was searched already). */
  private resume = 0
  /** Bytes kept from the stream without a start code in them (a bound against garbage). */
  constructor(private readonly maxBuffer = 32 * 1024 * 1024) {}

  /** Adds bytes; returns the access units completed by them. */
  push(chunk: Buffer): Buffer[][] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk])
    const out: Buffer[][] = []
    let start = this.firstStartCode(0)
    if (start < 0) {
      if (this.buf.length > this.maxBuffer) this.buf = Buffer.alloc(0)
      return out
    }
    for (;;) {
      const bodyStart = start + (this.buf[start + 2] === 1 ? 3 : 4)
      const next = this.firstStartCode(Math.max(bodyStart, this.resume))
      if (next < 0) {
        // Searched up to the last 3 bytes (a start code may straddle the next chunk).
        this.resume = Math.max(bodyStart, this.buf.length - 3) - start
        break
      }
      this.resume = 0
      this.nal(this.buf.subarray(bodyStart, next), out)
      start = next
    }
    this.buf = this.buf.subarray(start)
    return out
  }

  /** End of stream: what is left makes the last access unit. */
  flush(): Buffer[][] {
    const out: Buffer[][] = []
    const start = this.firstStartCode(0)
    if (start >= 0) this.nal(this.buf.subarray(start + (this.buf[start + 2] === 1 ? 3 : 4)), out)
    this.buf = Buffer.alloc(0)
    this.resume = 0
    if (this.current.length > 0) out.push(this.current)
    this.current = []
    return out
  }

  private nal(nal: Buffer, out: Buffer[][]): void {
    // Trailing zero bytes belong to the next start code (or are padding).
    let end = nal.length
    while (end > 0 && nal[end - 1] === 0) end--
    if (end === 0) return
    const unit = Buffer.from(nal.subarray(0, end)) // own copy: the read buffer is reused
    if (((unit[0] as number) & 0x1f) === AUD && this.current.length > 0) {
      out.push(this.current)
      this.current = []
    }
    this.current.push(unit)
  }

  /** Index of the first 00 00 01 or 00 00 00 01 at or after `from`, or -1. */
  private firstStartCode(from: number): number {
    const b = this.buf
    for (let i = from; i + 2 < b.length; i++) {
      if (b[i] === 0 && b[i + 1] === 0) {
        if (b[i + 2] === 1) return i
        if (b[i + 2] === 0 && i + 3 < b.length && b[i + 3] === 1) return i
      }
    }
    return -1
  }
}
