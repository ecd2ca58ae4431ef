/**
 * Puts RTP packets back in sequence order on a relay's input, waiting a little for a missing one
 * — reordered by the network, or retransmitted after the relay's NACK — before declaring it lost.
 * Without it, a single late packet on the hub's upstream would freeze every viewer of the camera
 * until the next keyframe. Pure: time is passed in.
 */
export interface Sequenced {
  sequenceNumber: number
}

export interface ReorderOptions {
  /** How long a gap may stay open before the missing packets count as lost. */
  maxWaitMs: number
  /** Packets held behind a gap at most (a bound on memory and delay). */
  maxHeld: number
}

export const DEFAULT_REORDER: ReorderOptions = { maxWaitMs: 250, maxHeld: 512 }

const forward = (from: number, to: number) => (to - from) & 0xffff

export class ReorderBuffer<T extends Sequenced> {
  private expected: number | undefined
  private readonly held = new Map<number, T>()
  private gapSince = 0
  late = 0
  duplicates = 0

  constructor(private readonly o: ReorderOptions = DEFAULT_REORDER) {}

  /** Adds a packet; returns the packets now in order, and how many were given up as lost. */
  push(packet: T, now: number): { ready: T[]; lost: number } {
    const ready: T[] = []
    let lost = 0
    const seq = packet.sequenceNumber & 0xffff
    if (this.expected === undefined) this.expected = seq
    const ahead = forward(this.expected, seq)
    if (ahead >= 0x8000) {
      this.late++ // behind what was already released (given up, or a duplicate of one released)
      return { ready, lost }
    }
    if (ahead === 0) {
      ready.push(packet)
      this.expected = (seq + 1) & 0xffff
      this.release(ready, now)
    } else if (this.held.has(seq)) {
      this.duplicates++
    } else {
      if (this.held.size === 0) this.gapSince = now
      this.held.set(seq, packet)
    }
    if (this.held.size > 0 && (now - this.gapSince >= this.o.maxWaitMs || this.held.size > this.o.maxHeld)) {
      lost += this.skip()
      this.release(ready, now)
    }
    return { ready, lost }
  }

  /** Gives up the gap: jumps to the oldest held packet; returns how many were skipped. */
  private skip(): number {
    let best: number | undefined
    for (const seq of this.held.keys()) {
      if (
        best === undefined ||
        forward(this.expected as number, seq) < forward(this.expected as number, best)
      )
        best = seq
    }
    const skipped = forward(this.expected as number, best as number)
    this.expected = best
    return skipped
  }

  private release(ready: T[], now: number): void {
    let released = false
    for (;;) {
      const next = this.held.get(this.expected as number)
      if (!next) break
      this.held.delete(this.expected as number)
      ready.push(next)
      released = true
      this.expected = ((this.expected as number) + 1) & 0xffff
    }
    // The gap closed and a later one remains among the held packets: it gets its own wait.
    if (released && this.held.size > 0) this.gapSince = now
  }

  /** The input restarted (new sender): numbering begins anew. */
  reset(): void {
    this.expected = undefined
    this.held.clear()
  }
}
