/** RTP packets (RFC 3550 §5.1): parsed without copying the payload. */
export interface RtpPacket {
  version: number
  padding: boolean
  marker: boolean
  payloadType: number
  sequence: number
  timestamp: number
  ssrc: number
  csrcs: number[]
  payload: Buffer
}

/** Parses an RTP packet, or returns undefined for anything that is not a well-formed one. */
export function parseRtp(buf: Buffer): RtpPacket | undefined {
  if (buf.length < 12) return undefined
  const b0 = buf[0] as number
  const b1 = buf[1] as number
  const version = b0 >> 6
  if (version !== 2) return undefined
  const padding = (b0 & 0x20) !== 0
  const extension = (b0 & 0x10) !== 0
  const csrcCount = b0 & 0x0f
  let offset = 12 + csrcCount * 4
  if (buf.length < offset) return undefined
  const csrcs: number[] = []
  for (let i = 0; i < csrcCount; i++) csrcs.push(buf.readUInt32BE(12 + i * 4))
  if (extension) {
    if (buf.length < offset + 4) return undefined
    const words = buf.readUInt16BE(offset + 2)
    offset += 4 + words * 4
    if (buf.length < offset) return undefined
  }
  let end = buf.length
  if (padding) {
    const pad = buf[buf.length - 1] as number
    if (pad === 0 || pad > end - offset) return undefined
    end -= pad
  }
  return {
    version,
    padding,
    marker: (b1 & 0x80) !== 0,
    payloadType: b1 & 0x7f,
    sequence: buf.readUInt16BE(2),
    timestamp: buf.readUInt32BE(4),
    ssrc: buf.readUInt32BE(8),
    csrcs,
    payload: buf.subarray(offset, end),
  }
}

export function buildRtp(p: {
  payloadType: number
  sequence: number
  timestamp: number
  ssrc: number
  marker?: boolean
  payload: Buffer
}): Buffer {
  const header = Buffer.alloc(12)
  header[0] = 0x80
  header[1] = (p.marker ? 0x80 : 0) | (p.payloadType & 0x7f)
  header.writeUInt16BE(p.sequence & 0xffff, 2)
  header.writeUInt32BE(p.timestamp >>> 0, 4)
  header.writeUInt32BE(p.ssrc >>> 0, 8)
  return Buffer.concat([header, p.payload])
}
