/**
 * H.264 over RTP (RFC 6184) as the live path needs it: NAL units to payloads (single NAL unit
 * packets and FU-A fragments, packetization-mode 1) and, on the receiving side of a relay, which
 * packets carry a keyframe. Pure functions; the depacketizer for cameras lives in the agent.
 */

/** Payload size that fits a WebRTC path (1200 bytes leaves room for SRTP, extensions, TURN). */
export const WEBRTC_RTP_PAYLOAD = 1200

const NAL_IDR = 5
const NAL_SPS = 7
const STAP_A = 24
const FU_A = 28

/** One NAL unit to RTP payloads: whole when it fits, else FU-A fragments. */
export function packetizeH264Nal(nal: Buffer, mtu = WEBRTC_RTP_PAYLOAD): Buffer[] {
  if (nal.length === 0) return []
  if (nal.length <= mtu) return [nal]
  const header = nal[0] as number
  const body = nal.subarray(1)
  const room = mtu - 2
  const out: Buffer[] = []
  for (let i = 0; i < body.length; i += room) {
    const start = i === 0
    const end = i + room >= body.length
    out.push(
      Buffer.concat([
        Buffer.from([(header & 0xe0) | FU_A, (start ? 0x80 : 0) | (end ? 0x40 : 0) | (header & 0x1f)]),
        body.subarray(i, i + room),
      ]),
    )
  }
  return out
}

/** An access unit's NAL units to the payloads of one frame; the marker goes on the last. */
export function packetizeH264AccessUnit(
  nalus: readonly Buffer[],
  mtu = WEBRTC_RTP_PAYLOAD,
): { payload: Buffer; marker: boolean }[] {
  const payloads = nalus.flatMap((n) => packetizeH264Nal(n, mtu))
  return payloads.map((payload, i) => ({ payload, marker: i === payloads.length - 1 }))
}

/** The NAL unit types a payload carries (for FU-A only the fragment that starts a unit counts). */
export function h264PayloadNalTypes(payload: Buffer): number[] {
  if (payload.length === 0) return []
  const type = (payload[0] as number) & 0x1f
  if (type === STAP_A) {
    const types: number[] = []
    let i = 1
    while (i + 2 < payload.length) {
      const size = payload.readUInt16BE(i)
      if (size === 0 || i + 2 + size > payload.length) break
      types.push((payload[i + 2] as number) & 0x1f)
      i += 2 + size
    }
    return types
  }
  if (type === FU_A) {
    if (payload.length < 2) return []
    const fu = payload[1] as number
    return fu & 0x80 ? [fu & 0x1f] : []
  }
  return [type]
}

/** Whether a payload starts (part of) a keyframe: an IDR slice or the SPS that leads one. */
export function h264PayloadStartsKeyframe(payload: Buffer): boolean {
  return h264PayloadNalTypes(payload).some((t) => t === NAL_IDR || t === NAL_SPS)
}
