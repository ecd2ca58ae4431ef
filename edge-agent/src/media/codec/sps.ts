/**
 * Sequence parameter sets (H.264 §7.3.2.1.1, H.265 §7.3.2.2): just enough to know the picture size
 * and the codec string (RFC 6381) that containers and browsers want.
 */
export interface VideoFormat {
  codec: 'h264' | 'h265'
  width: number
  height: number
  /** RFC 6381 codec string, e.g. avc1.4d401e or hvc1.1.6.L93.B0 */
  codecString: string
}

/** NAL payload without emulation-prevention bytes (00 00 03 -> 00 00). */
export function unescapeRbsp(nal: Buffer, from: number): Buffer {
  const out = Buffer.alloc(nal.length)
  let o = 0
  let zeros = 0
  for (let i = from; i < nal.length; i++) {
    const b = nal[i] as number
    if (zeros >= 2 && b === 3) {
      zeros = 0
      continue
    }
    zeros = b === 0 ? zeros + 1 : 0
    out[o++] = b
  }
  return out.subarray(0, o)
}

export class BitReader {
  private bit = 0

  constructor(private readonly buf: Buffer) {}

  u(n: number): number {
    let v = 0
    for (let i = 0; i < n; i++) {
      const byte = this.buf[this.bit >> 3]
      if (byte === undefined) throw new RangeError('read past the end')
      v = v * 2 + ((byte >> (7 - (this.bit & 7))) & 1)
      this.bit++
    }
    return v
  }

  skip(n: number): void {
    this.bit += n
    if (this.bit > this.buf.length * 8) throw new RangeError('read past the end')
  }

  ue(): number {
    let zeros = 0
    while (this.u(1) === 0) {
      if (++zeros > 31) throw new RangeError('exp-Golomb code too long')
    }
    return 2 ** zeros - 1 + this.u(zeros)
  }

  se(): number {
    const k = this.ue()
    return k % 2 === 0 ? -(k / 2) : (k + 1) / 2
  }
}

const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135])

function skipScalingList(r: BitReader, size: number) {
  let last = 8
  let next = 8
  for (let j = 0; j < size; j++) {
    if (next !== 0) next = (last + r.se() + 256) % 256
    last = next === 0 ? last : next
  }
}

export function parseH264Sps(sps: Buffer): VideoFormat | undefined {
  if (sps.length < 4 || ((sps[0] as number) & 0x1f) !== 7) return undefined
  try {
    const r = new BitReader(unescapeRbsp(sps, 1))
    const profile = r.u(8)
    r.skip(8) // constraint flags
    r.skip(8) // level
    r.ue() // seq_parameter_set_id
    let chromaFormat = 1
    if (HIGH_PROFILES.has(profile)) {
      chromaFormat = r.ue()
      if (chromaFormat === 3) r.skip(1)
      r.ue()
      r.ue()
      r.skip(1)
      const scalingMatrixPresent = r.u(1) === 1
      if (scalingMatrixPresent) {
        for (let i = 0; i < (chromaFormat !== 3 ? 8 : 12); i++) {
          const listPresent = r.u(1) === 1
          if (listPresent) skipScalingList(r, i < 6 ? 16 : 64)
        }
      }
    }
    r.ue() // log2_max_frame_num_minus4
    const pocType = r.ue()
    if (pocType === 0) r.ue()
    else if (pocType === 1) {
      r.skip(1)
      r.se()
      r.se()
      const n = r.ue()
      for (let i = 0; i < n; i++) r.se()
    }
    r.ue() // max_num_ref_frames
    r.skip(1)
    const widthMbs = r.ue() + 1
    const heightMapUnits = r.ue() + 1
    const frameMbsOnly = r.u(1)
    if (!frameMbsOnly) r.skip(1)
    r.skip(1)
    let crop = [0, 0, 0, 0]
    if (r.u(1)) crop = [r.ue(), r.ue(), r.ue(), r.ue()]
    const subW = chromaFormat === 1 || chromaFormat === 2 ? 2 : 1
    const subH = chromaFormat === 1 ? 2 : 1
    const cropX = chromaFormat === 0 ? 1 : subW
    const cropY = (chromaFormat === 0 ? 1 : subH) * (2 - frameMbsOnly)
    const width = widthMbs * 16 - cropX * ((crop[0] ?? 0) + (crop[1] ?? 0))
    const height = (2 - frameMbsOnly) * heightMapUnits * 16 - cropY * ((crop[2] ?? 0) + (crop[3] ?? 0))
    return { codec: 'h264', width, height, codecString: `avc1.${sps.subarray(1, 4).toString('hex')}` }
  } catch {
    return undefined
  }
}

export function parseH265Sps(sps: Buffer): VideoFormat | undefined {
  if (sps.length < 4 || (((sps[0] as number) >> 1) & 0x3f) !== 33) return undefined
  try {
    const r = new BitReader(unescapeRbsp(sps, 2))
    r.skip(4) // sps_video_parameter_set_id
    const maxSubLayersMinus1 = r.u(3)
    r.skip(1)
    // profile_tier_level
    const profileSpace = r.u(2)
    const tier = r.u(1)
    const profileIdc = r.u(5)
    const compat = r.u(32)
    const constraint: number[] = []
    for (let i = 0; i < 6; i++) constraint.push(r.u(8))
    const level = r.u(8)
    const subProfile: number[] = []
    const subLevel: number[] = []
    for (let i = 0; i < maxSubLayersMinus1; i++) {
      subProfile.push(r.u(1))
      subLevel.push(r.u(1))
    }
    if (maxSubLayersMinus1 > 0) for (let i = maxSubLayersMinus1; i < 8; i++) r.skip(2)
    for (let i = 0; i < maxSubLayersMinus1; i++) {
      if (subProfile[i]) r.skip(88)
      if (subLevel[i]) r.skip(8)
    }
    r.ue() // sps_seq_parameter_set_id
    const chromaFormat = r.ue()
    if (chromaFormat === 3) r.skip(1)
    let width = r.ue()
    let height = r.ue()
    if (r.u(1)) {
      const subW = chromaFormat === 1 || chromaFormat === 2 ? 2 : 1
      const subH = chromaFormat === 1 ? 2 : 1
      const [left, right, top, bottom] = [r.ue(), r.ue(), r.ue(), r.ue()]
      width -= subW * (left + right)
      height -= subH * (top + bottom)
    }
    // RFC 6381 / ISO 14496-15 E.3: hvc1.[space]profile.compat(reversed).tier+level.constraints
    let reversed = 0
    for (let i = 0; i < 32; i++) if (compat & (1 << i)) reversed |= 1 << (31 - i)
    while (constraint.length > 0 && constraint.at(-1) === 0) constraint.pop()
    const codecString = [
      'hvc1',
      `${['', 'A', 'B', 'C'][profileSpace]}${profileIdc}`,
      (reversed >>> 0).toString(16).toUpperCase(),
      `${tier ? 'H' : 'L'}${level}`,
      ...constraint.map((c) => c.toString(16).toUpperCase()),
    ].join('.')
    return { codec: 'h265', width, height, codecString }
  } catch {
    return undefined
  }
}

/** The format of a stream from its parameter sets. */
export function videoFormat(codec: 'h264' | 'h265', parameterSets: Buffer[]): VideoFormat | undefined {
  for (const ps of parameterSets) {
    const f = codec === 'h264' ? parseH264Sps(ps) : parseH265Sps(ps)
    if (f) return f
  }
  return undefined
}
