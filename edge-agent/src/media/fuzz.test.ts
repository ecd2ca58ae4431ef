import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { AacDepacketizer, aacParams, parseAudioSpecificConfig } from './codec/aac.ts'
import { Depacketizer } from './codec/depacketizer.ts'
import { H264 } from './codec/h264.ts'
import { H265 } from './codec/h265.ts'
import { parseSenderReports } from './rtp/rtcp.ts'
import { buildRtp, parseRtp } from './rtp/rtp.ts'
import { Timeline } from './rtp/timeline.ts'
import { parseChallenges } from './rtsp/auth.ts'
import { parseRtpInfo, parseSession, parseTransport } from './rtsp/headers.ts'
import { RtspStreamParser } from './rtsp/message.ts'
import { parseSdp, type SdpMedia } from './sdp/sdp.ts'

/**
 * Random and mutated input for every parser: none may throw (beyond its documented error type) or
 * hang. A fixed seed keeps failures reproducible.
 */
let state = 0x9e3779b9
const rand = () => {
  state ^= state << 13
  state ^= state >>> 17
  state ^= state << 5
  return (state >>> 0) / 0x100000000
}
const int = (n: number) => Math.floor(rand() * n)

function mutate(buf: Buffer): Buffer {
  const out = Buffer.from(buf)
  const n = 1 + int(8)
  for (let i = 0; i < n && out.length > 0; i++) out[int(out.length)] = int(256)
  return int(4) === 0 ? out.subarray(0, int(out.length + 1)) : out
}

const SAMPLE_RESPONSE = Buffer.from(
  'RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\nContent-Length: 120\r\nSession: 1234;timeout=60\r\n\r\n' +
    'v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0IAHg==,aM4=\r\n',
)

const SAMPLE_AAC_SDP =
  'v=0\r\nm=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/16000/1\r\n' +
  'a=fmtp:97 streamtype=5; profile-level-id=15; mode=AAC-hbr; sizelength=13; indexlength=3; indexdeltalength=3; config=1408\r\n'

describe('fuzz', () => {
  it('the RTSP stream parser survives garbage and mutated responses', () => {
    for (let i = 0; i < 3000; i++) {
      const p = new RtspStreamParser()
      const input = i % 2 ? randomBytes(int(300)) : mutate(SAMPLE_RESPONSE)
      try {
        for (let j = 0; j < input.length; j += 1 + int(64)) p.push(input.subarray(j, j + 1 + int(64)))
      } catch (err) {
        expect((err as Error).name).toBe('RtspParseError')
      }
    }
  })

  it('header, SDP and auth parsers never throw', () => {
    for (let i = 0; i < 3000; i++) {
      const text = mutate(SAMPLE_RESPONSE).toString('latin1')
      expect(() => {
        parseSdp(text)
        parseSession(text)
        parseTransport(text)
        parseRtpInfo(text)
        parseChallenges(text)
      }).not.toThrow()
    }
  })

  it('RTP, RTCP and the depacketizers never throw on any payload', () => {
    const d264 = new Depacketizer(H264, new Timeline(90000))
    const d265 = new Depacketizer(H265, new Timeline(90000))
    for (let i = 0; i < 20000; i++) {
      const raw =
        i % 3 === 0
          ? randomBytes(int(200))
          : buildRtp({
              payloadType: 96,
              sequence: int(65536),
              timestamp: int(2 ** 32),
              ssrc: 1,
              marker: rand() < 0.3,
              payload: randomBytes(int(1500)),
            })
      expect(() => parseSenderReports(raw)).not.toThrow()
      const packet = parseRtp(raw)
      if (!packet) continue
      expect(() => d264.push(packet, i)).not.toThrow()
      expect(() => d265.push(packet, i)).not.toThrow()
    }
  })

  it('the AAC config and SDP parameters, and the RFC 3640 depacketizer, never throw', () => {
    const hbr = aacParams(parseSdp(SAMPLE_AAC_SDP).media[0] as SdpMedia)
    if (!hbr) throw new Error('the sample AAC section must parse')
    const lbr = { ...hbr, sizeLength: 6, indexLength: 2, indexDeltaLength: 2 }
    const sdp = Buffer.from(SAMPLE_AAC_SDP)
    for (let i = 0; i < 3000; i++) {
      const media = parseSdp(mutate(sdp).toString('latin1')).media
      expect(() => media.map((m) => aacParams(m))).not.toThrow()
      expect(() =>
        parseAudioSpecificConfig(i % 2 ? randomBytes(int(8)) : mutate(Buffer.from('1190', 'hex'))),
      ).not.toThrow()
    }
    const depacketizers = [new AacDepacketizer(hbr), new AacDepacketizer(lbr)]
    const valid = Buffer.concat([Buffer.from([0, 32, 0x05, 0x00, 0x0c, 0x80]), randomBytes(160 + 400)])
    for (let i = 0; i < 20000; i++) {
      const payload = i % 2 ? randomBytes(int(600)) : mutate(valid)
      for (const d of depacketizers) {
        // A throw fails the test; what comes out is 'invalid' or non-empty AUs.
        const out = d.push(payload, i * 1024, rand() < 0.5, rand() < 0.1)
        expect(out === 'invalid' || out.every((au) => au.data.length > 0)).toBe(true)
      }
    }
  })
})
