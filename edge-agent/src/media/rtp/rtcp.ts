/** RTCP (RFC 3550 §6): sender reports, which map RTP time to wall-clock time. */
export interface SenderReport {
  ssrc: number
  /** NTP time as Unix milliseconds. */
  ntpMs: number
  rtpTimestamp: number
  packetCount: number
  octetCount: number
}

const NTP_EPOCH_OFFSET_S = 2_208_988_800

/** The sender reports in a (compound) RTCP packet; anything malformed is skipped. */
export function parseSenderReports(buf: Buffer): SenderReport[] {
  const out: SenderReport[] = []
  let offset = 0
  while (offset + 4 <= buf.length) {
    const b0 = buf[offset] as number
    if (b0 >> 6 !== 2) break
    const type = buf[offset + 1] as number
    const length = (buf.readUInt16BE(offset + 2) + 1) * 4
    if (offset + length > buf.length) break
    if (type === 200 && length >= 28) {
      const seconds = buf.readUInt32BE(offset + 8)
      const fraction = buf.readUInt32BE(offset + 12)
      out.push({
        ssrc: buf.readUInt32BE(offset + 4),
        ntpMs: (seconds - NTP_EPOCH_OFFSET_S) * 1000 + Math.round((fraction / 2 ** 32) * 1000),
        rtpTimestamp: buf.readUInt32BE(offset + 16),
        packetCount: buf.readUInt32BE(offset + 20),
        octetCount: buf.readUInt32BE(offset + 24),
      })
    }
    offset += length
  }
  return out
}

export function buildSenderReport(sr: Omit<SenderReport, 'ntpMs'> & { ntpMs: number }): Buffer {
  const buf = Buffer.alloc(28)
  buf[0] = 0x80
  buf[1] = 200
  buf.writeUInt16BE(6, 2)
  buf.writeUInt32BE(sr.ssrc >>> 0, 4)
  const seconds = Math.floor(sr.ntpMs / 1000) + NTP_EPOCH_OFFSET_S
  const fraction = Math.floor(((sr.ntpMs % 1000) / 1000) * 2 ** 32)
  buf.writeUInt32BE(seconds >>> 0, 8)
  buf.writeUInt32BE(fraction >>> 0, 12)
  buf.writeUInt32BE(sr.rtpTimestamp >>> 0, 16)
  buf.writeUInt32BE(sr.packetCount >>> 0, 20)
  buf.writeUInt32BE(sr.octetCount >>> 0, 24)
  return buf
}
