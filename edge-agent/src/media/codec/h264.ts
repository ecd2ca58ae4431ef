import { addFragment, type FragmentState, type PayloadFormat } from './depacketizer.ts'

/** H.264 over RTP (RFC 6184): single NAL units, STAP-A aggregates and FU-A fragments. */
export const h264NalType = (nal: Buffer) => (nal[0] ?? 0) & 0x1f

export const H264: PayloadFormat = {
  codec: 'h264',
  unpack(payload: Buffer, fu: FragmentState) {
    if (payload.length < 1) return 'invalid'
    const type = (payload[0] as number) & 0x1f
    if (type >= 1 && type <= 23) return [payload]
    if (type === 24) {
      // STAP-A: [16-bit size][NAL]...
      const out: Buffer[] = []
      let offset = 1
      while (offset + 2 <= payload.length) {
        const size = payload.readUInt16BE(offset)
        offset += 2
        if (size === 0 || offset + size > payload.length) return 'invalid'
        out.push(payload.subarray(offset, offset + size))
        offset += size
      }
      return out
    }
    if (type === 28) {
      if (payload.length < 2) return 'invalid'
      const indicator = payload[0] as number
      const header = payload[1] as number
      const start = (header & 0x80) !== 0
      const end = (header & 0x40) !== 0
      if (start && end) return 'invalid'
      const nalHeader = Buffer.from([(indicator & 0xe0) | (header & 0x1f)])
      return addFragment(fu, start, end, nalHeader, payload.subarray(2))
    }
    return 'invalid' // STAP-B, MTAP, FU-B: not used by cameras in packetization-mode 0/1
  },
  isKeyframeNal: (nal) => h264NalType(nal) === 5,
  isParameterSet: (nal) => h264NalType(nal) === 7 || h264NalType(nal) === 8,
  isDelimiter: (nal) => h264NalType(nal) === 9,
  parameterSetRank: (nal) => (h264NalType(nal) === 7 ? 0 : 1),
}
