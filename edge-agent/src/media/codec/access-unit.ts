/** A coded video frame: the NAL units (without start codes) that share one RTP timestamp. */
export interface AccessUnit {
  codec: 'h264' | 'h265'
  /** Unwrapped RTP timestamp (clock rate 90 kHz). */
  timestamp: number
  /** Wall-clock milliseconds (RTCP-mapped when the camera sends sender reports). */
  wallMs: number
  nalus: Buffer[]
  keyframe: boolean
  /** Packets were lost inside or just before this frame: it may not decode. */
  damaged: boolean
}

/** A coded audio frame (one AAC access unit), as carried alongside a camera's video. */
export interface AudioFrame {
  codec: 'aac'
  /** Unwrapped RTP timestamp in the audio clock (the sample rate). */
  timestamp: number
  /** Wall-clock milliseconds (RTCP-mapped, on the same clock as the video's). */
  wallMs: number
  data: Buffer
}

/** What a stream's audio is, for consumers that keep it. */
export interface AudioFormat {
  codec: 'aac'
  /** RFC 6381, e.g. `mp4a.40.2`. */
  codecString: string
  sampleRate: number
  channels: number
  /** Samples per frame (1024, or 960). */
  frameLength: number
  /** The AudioSpecificConfig (the MP4 decoder description). */
  config: Buffer
}

/** Annex B: each NAL unit behind a 4-byte start code (what ffmpeg and MPEG-TS expect). */
export function toAnnexB(nalus: Buffer[]): Buffer {
  const start = Buffer.from([0, 0, 0, 1])
  return Buffer.concat(nalus.flatMap((n) => [start, n]))
}

/** AVCC/HVCC: each NAL unit behind its 4-byte big-endian length (what MP4 and Matroska store). */
export function toLengthPrefixed(nalus: Buffer[]): Buffer {
  return Buffer.concat(
    nalus.flatMap((n) => {
      const len = Buffer.alloc(4)
      len.writeUInt32BE(n.length)
      return [len, n]
    }),
  )
}

/** Splits an Annex B byte stream into NAL units. */
export function splitAnnexB(buf: Buffer): Buffer[] {
  const out: Buffer[] = []
  let start = -1
  let i = 0
  while (i + 2 < buf.length) {
    if (buf[i] === 0 && buf[i + 1] === 0 && buf[i + 2] === 1) {
      if (start >= 0) {
        let end = i
        if (end > start && buf[end - 1] === 0) end-- // 4-byte start code
        if (end > start) out.push(buf.subarray(start, end))
      }
      i += 3
      start = i
    } else {
      i++
    }
  }
  if (start >= 0 && start < buf.length) out.push(buf.subarray(start))
  return out
}
