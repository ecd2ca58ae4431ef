import { addFragment, type FragmentState, type PayloadFormat } from './depacketizer.ts'

/** H.265 over RTP (RFC 7798): single NAL units, aggregation packets (48) and fragmentation units (49). */
export const h265NalType = (nal: Buffer) => ((nal[0] ?? 0) >> 1) & 0x3f

export const H265: PayloadFormat = {
  codec: 'h265',
  unpack(payload: Buffer, fu: FragmentState) {
    if (payload.length < 2) return 'invalid'
    const type = h265NalType(payload)
    if (type < 48) return [payload]
    if (type === 48) {
      // AP: [2-byte header][16-bit size][NAL]... (no DONL: cameras use sprop-max-don-diff=0)
      const out: Buffer[] = []
      let offset = 2
      while (offset + 2 <= payload.length) {
        const size = payload.readUInt16BE(offset)
        offset += 2
        if (size < 2 || offset + size > payload.length) return 'invalid'
        out.push(payload.subarray(offset, offset + size))
        offset += size
      }
      return out
    }
    if (type === 49) {
      if (payload.length < 3) return 'invalid'
      const fuHeader = payload[2] as number
      const start = (fuHeader & 0x80) !== 0
      const end = (fuHeader & 0x40) !== 0
      if (start && end) return 'invalid'
      const nalType = fuHeader & 0x3f
      const header = Buffer.from([((payload[0] as number) & 0x81) | (nalType << 1), payload[1] as number])
      return addFragment(fu, start, end, header, payload.subarray(3))
    }
    return 'invalid' // 50 (PACI) and reserved types
  },
  isKeyframeNal: (nal) => {
    const t = h265NalType(nal)
    return t >= 16 && t <= 21 // IRAP: BLA, IDR, CRA
  },
  isParameterSet: (nal) => {
    const t = h265NalType(nal)
    return t >= 32 && t <= 34
  },
  parameterSetRank: (nal) => h265NalType(nal) - 32,
  isDelimiter: (nal) => h265NalType(nal) === 35,
}
