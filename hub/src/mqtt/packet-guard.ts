import { Duplex } from 'node:stream'
import { MAX_PAYLOAD_BYTES } from '@ts-vms/shared'

/**
 * A stream-level guard in front of aedes. aedes' parser (mqtt-packet) buffers a packet until all
 * of it has arrived, whatever length its header declares, and MQTT 3.1.1 has no way to announce a
 * maximum packet size to the client (MQTT 5's Maximum Packet Size, which aedes does not speak).
 * So the guard reads the fixed header of every packet as bytes pass and destroys the connection
 * the moment a declared length is over the limit: the body is never read, let alone buffered.
 */

/**
 * Largest packet an agent may send. Publications are limited to MAX_PAYLOAD_BYTES, but one a
 * little over is still read so that the hub can answer it (ingest counts it as `oversize` and
 * asks the agent to send smaller batches), rather than cutting the connection and having the
 * agent reconnect and send the same batch forever: older agents measured their batches in
 * characters, not bytes (up to 3 bytes each in UTF-8). 1 MiB covers that, as Mosquitto's
 * `max_packet_size` does in the external-broker setup; anything larger is cut at its header.
 */
export const MAX_PACKET_BYTES = 4 * MAX_PAYLOAD_BYTES
/**
 * Largest CONNECT: client id, username (both the agent id), secret and a small will (the agent's
 * offline status) take a few hundred bytes.
 */
export const MAX_CONNECT_BYTES = 4096

const CONNECT = 1

export interface FixedHeader {
  /** Control packet type (1 CONNECT, 3 PUBLISH, ...). */
  type: number
  /** Bytes after the fixed header, as declared. */
  remainingLength: number
  /** Length of the fixed header itself (2 to 5 bytes). */
  headerBytes: number
}

/**
 * Reads an MQTT fixed header at `offset`: the type nibble, then the remaining length in 1 to 4
 * bytes of 7 bits each (least significant first, high bit = more follows). `incomplete` when the
 * buffer ends inside it; `malformed` when a fourth length byte still says "more".
 */
export function readFixedHeader(buf: Uint8Array, offset = 0): FixedHeader | 'incomplete' | 'malformed' {
  const first = buf[offset]
  if (first === undefined) return 'incomplete'
  let value = 0
  let multiplier = 1
  for (let i = 1; i <= 4; i++) {
    const byte = buf[offset + i]
    if (byte === undefined) return 'incomplete'
    value += (byte & 0x7f) * multiplier
    if ((byte & 0x80) === 0) return { type: first >> 4, remainingLength: value, headerBytes: i + 1 }
    multiplier *= 128
  }
  return 'malformed'
}

export type ScanResult =
  | { ok: true; packets: { type: number; remainingLength: number; end: number }[] }
  | { ok: false; reason: 'malformed' | 'too_large' | 'not_connect'; type?: number; remainingLength?: number }

/**
 * Follows packet boundaries across the chunks of a stream without keeping any packet: it holds at
 * most the 4 bytes of a header split between chunks, and counts down the body of the current
 * packet. Each packet's declared length is checked against `limit(type, index)` the moment its
 * header is complete; a negative limit means the packet is not allowed there at all.
 */
export class PacketScanner {
  private partial: number[] = []
  private bodyLeft = 0
  private count = 0
  private offset = 0

  constructor(private readonly limit: (type: number, index: number) => number) {}

  /** Scans the next chunk. Packet `end`s are offsets in the whole stream (they may lie ahead). */
  feed(chunk: Uint8Array): ScanResult {
    const packets: { type: number; remainingLength: number; end: number }[] = []
    let pos = 0
    while (pos < chunk.length) {
      if (this.bodyLeft > 0) {
        const take = Math.min(this.bodyLeft, chunk.length - pos)
        this.bodyLeft -= take
        pos += take
        continue
      }
      // A header: at most 5 bytes, some possibly carried over from the previous chunk.
      const carried = this.partial.length
      const head = Uint8Array.from([...this.partial, ...chunk.subarray(pos, pos + 5 - carried)])
      const header = readFixedHeader(head)
      if (header === 'incomplete') {
        this.partial = [...head]
        pos = chunk.length
        break
      }
      if (header === 'malformed') return { ok: false, reason: 'malformed' }
      this.partial = []
      pos += header.headerBytes - carried
      const max = this.limit(header.type, this.count)
      if (max < 0) return { ok: false, reason: 'not_connect', type: header.type }
      if (header.remainingLength > max)
        return { ok: false, reason: 'too_large', type: header.type, remainingLength: header.remainingLength }
      this.count++
      this.bodyLeft = header.remainingLength
      packets.push({ ...header, end: this.offset + pos + header.remainingLength })
    }
    this.offset += chunk.length
    return { ok: true, packets }
  }
}

/** The broker's rule: a CONNECT of at most MAX_CONNECT_BYTES first, then packets up to MAX_PACKET_BYTES. */
export function brokerPacketLimit(type: number, index: number): number {
  if (index === 0) return type === CONNECT ? MAX_CONNECT_BYTES : -1
  return MAX_PACKET_BYTES
}

export interface GuardOptions {
  limit?: (type: number, index: number) => number
  /** Called once, before the connection is destroyed for a packet the limit refuses. */
  onViolation: (violation: Extract<ScanResult, { ok: false }>) => void
  /** The connection is destroyed unless `admit()` is called within this many ms. */
  admitWithinMs: number
  /** Called once, before the connection is destroyed for not being admitted in time. */
  onTimeout: () => void
}

/**
 * The connection aedes sees: a Duplex over the (TLS-terminated) socket that forwards what the
 * scanner allows. Until `admit()` (CONNECT authenticated) it forwards only the CONNECT and holds
 * anything sent behind it (at most one socket chunk: reading pauses), so an unauthenticated
 * client cannot make the broker queue publications while its credentials are checked.
 */
export class GuardedConnection extends Duplex {
  private readonly scanner: PacketScanner
  private admitted = false
  /** Stream offset where the CONNECT ends, once its header has been read. */
  private connectEnd: number | undefined
  private offset = 0
  private held: Buffer[] = []
  private readonly deadline: NodeJS.Timeout

  constructor(
    private readonly socket: Duplex,
    private readonly options: GuardOptions,
  ) {
    super({ allowHalfOpen: false })
    this.scanner = new PacketScanner(options.limit ?? brokerPacketLimit)
    // One deadline for CONNECT to arrive (however slowly it trickles) and be authenticated.
    this.deadline = setTimeout(() => {
      if (this.admitted || this.destroyed) return
      options.onTimeout()
      this.destroy()
    }, options.admitWithinMs)
    this.deadline.unref()
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('end', () => this.push(null))
    socket.on('error', (err) => this.destroy(err))
    socket.on('close', () => this.destroy())
  }

  /** The client is authenticated: deliver what was held and read on. */
  admit(): void {
    if (this.admitted || this.destroyed) return
    this.admitted = true
    clearTimeout(this.deadline)
    const held = this.held
    this.held = []
    for (const chunk of held) this.forward(chunk)
    if (this.readableLength < this.readableHighWaterMark) this.socket.resume()
  }

  private onData(chunk: Buffer): void {
    if (this.destroyed) return
    const start = this.offset
    this.offset += chunk.length
    const scan = this.scanner.feed(chunk)
    if (!scan.ok) {
      this.options.onViolation(scan)
      this.socket.destroy()
      this.destroy()
      return
    }
    if (this.admitted) {
      this.forward(chunk)
      return
    }
    if (this.connectEnd === undefined) this.connectEnd = scan.packets[0]?.end
    // Before admission: forward up to the end of the CONNECT, hold the rest.
    const cut = this.connectEnd === undefined ? chunk.length : Math.max(0, this.connectEnd - start)
    if (cut > 0) this.forward(cut >= chunk.length ? chunk : chunk.subarray(0, cut))
    if (cut < chunk.length) {
      this.held.push(chunk.subarray(cut))
      this.socket.pause()
    }
  }

  private forward(chunk: Buffer): void {
    if (!this.push(chunk)) this.socket.pause()
  }

  override _read(): void {
    if (this.admitted || this.held.length === 0) this.socket.resume()
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.socket.write(chunk)) done()
    else this.socket.once('drain', () => done())
  }

  override _writev(chunks: { chunk: Buffer }[], done: (err?: Error | null) => void): void {
    this.socket.cork()
    let ok = true
    for (const { chunk } of chunks) ok = this.socket.write(chunk)
    this.socket.uncork()
    if (ok) done()
    else this.socket.once('drain', () => done())
  }

  override _final(done: (err?: Error | null) => void): void {
    this.socket.end()
    done()
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    clearTimeout(this.deadline)
    this.socket.destroy()
    done(err)
  }
}
