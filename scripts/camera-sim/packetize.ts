import { packetizeH264Nal } from '@ts-vms/shared/live'

/**
 * NAL units to RTP payloads (the sending side of RFC 6184 / RFC 7798): a unit that fits goes
 * whole, a larger one is split into FU-A (H.264) or FU (H.265) fragments.
 */
export function packetizeNal(nal: Buffer, codec: 'h264' | 'h265', mtu = 1400): Buffer[] {
  if (nal.length <= mtu) return [nal]
  const out: Buffer[] = []
  if (codec === 'h264') return packetizeH264Nal(nal, mtu)
  const type = ((nal[0] as number) >> 1) & 0x3f
  const body = nal.subarray(2)
  for (let i = 0; i < body.length; i += mtu - 3) {
    const start = i === 0
    const end = i + mtu - 3 >= body.length
    out.push(
      Buffer.concat([
        Buffer.from([
          ((nal[0] as number) & 0x81) | (49 << 1),
          nal[1] as number,
          (start ? 0x80 : 0) | (end ? 0x40 : 0) | type,
        ]),
        body.subarray(i, i + mtu - 3),
      ]),
    )
  }
  return out
}

/**
 * AAC frames to RTP payloads in RFC 3640 AAC-hbr mode (sizelength=13, indexlength=3,
 * indexdeltalength=3), one AU per packet as cameras send it: a 16-bit AU-headers-length of 16,
 * one AU header (13-bit size, 3-bit index 0), the AU. An AU larger than the MTU is fragmented:
 * every fragment repeats the header with the whole AU's size, and the marker goes on the last.
 */
export function packetizeAac(au: Buffer, mtu = 1400): { payload: Buffer; marker: boolean }[] {
  if (au.length === 0 || au.length > 0x1fff)
    throw new RangeError(`an AU of ${au.length} bytes does not fit AAC-hbr`)
  const header = Buffer.alloc(4)
  header.writeUInt16BE(16, 0)
  header.writeUInt16BE((au.length & 0x1fff) << 3, 2)
  const room = mtu - header.length
  const out: { payload: Buffer; marker: boolean }[] = []
  for (let i = 0; i < au.length; i += room) {
    out.push({ payload: Buffer.concat([header, au.subarray(i, i + room)]), marker: i + room >= au.length })
  }
  return out
}
