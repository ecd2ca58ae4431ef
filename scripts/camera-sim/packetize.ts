/**
 * NAL units to RTP payloads (the sending side of RFC 6184 / RFC 7798): a unit that fits goes
 * whole, a larger one is split into FU-A (H.264) or FU (H.265) fragments.
 */
export function packetizeNal(nal: Buffer, codec: 'h264' | 'h265', mtu = 1400): Buffer[] {
  if (nal.length <= mtu) return [nal]
  const out: Buffer[] = []
  if (codec === 'h264') {
    const header = nal[0] as number
    const body = nal.subarray(1)
    for (let i = 0; i < body.length; i += mtu - 2) {
      const start = i === 0
      const end = i + mtu - 2 >= body.length
      out.push(
        Buffer.concat([
          Buffer.from([(header & 0xe0) | 28, (start ? 0x80 : 0) | (end ? 0x40 : 0) | (header & 0x1f)]),
          body.subarray(i, i + mtu - 2),
        ]),
      )
    }
    return out
  }
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
