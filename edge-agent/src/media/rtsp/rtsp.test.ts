import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parseSdp } from '../sdp/sdp.ts'
import { Authenticator, parseChallenges, verifyDigest } from './auth.ts'
import { parsePublic, parseRtpInfo, parseSession, parseTransport } from './headers.ts'
import { formatRequest, parseResponseHead, RtspStreamParser } from './message.ts'
import { parseRtspUrl, redactUrl, resolveControl } from './url.ts'

/** Real devices' responses (../shared/fixtures/rtsp-captures, from the retina project's tests). */
const CAPTURES = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../../../shared/fixtures/rtsp-captures',
)
const haveCaptures = existsSync(CAPTURES)
if (!haveCaptures) console.warn(`SKIPPING real-device capture tests: ${CAPTURES} is absent`)
const capture = (name: string) => readFileSync(path.join(CAPTURES, `${name}.txt`))

function parseOne(buf: Buffer) {
  const items = new RtspStreamParser().push(buf)
  expect(items).toHaveLength(1)
  const item = items[0]
  if (item?.kind !== 'response') throw new Error('not a response')
  return item.response
}

describe.skipIf(!haveCaptures)('real devices', () => {
  it('parses every capture as one complete response', () => {
    for (const file of readdirSync(CAPTURES)) {
      const r = parseOne(readFileSync(path.join(CAPTURES, file)))
      expect(r.status, file).toBe(200)
      expect(r.headers.get('cseq'), file).toMatch(/^\d+$/)
    }
  })

  it('resolves track control URLs as each camera expects', () => {
    const cases: [string, string[]][] = [
      [
        'hikvision_describe',
        ['rtsp://192.168.5.106:554/Streaming/Channels/101/trackID=1?transportmode=unicast&profile=Profile_1'],
      ],
      [
        'dahua_describe_h264_aac_onvif',
        [
          'rtsp://192.168.5.111:554/cam/realmonitor?channel=1&subtype=1&unicast=true&proto=Onvif/trackID=0',
          'rtsp://192.168.5.111:554/cam/realmonitor?channel=1&subtype=1&unicast=true&proto=Onvif/trackID=1',
        ],
      ],
      [
        'reolink_describe',
        [
          'rtsp://192.168.5.206/h264Preview_01_main/trackID=1',
          'rtsp://192.168.5.206/h264Preview_01_main/trackID=2',
        ],
      ],
      [
        'foscam_describe',
        ['rtsp://192.168.5.107:65534/videoMain/track1', 'rtsp://192.168.5.107:65534/videoMain/track2'],
      ],
      [
        'gw_main_describe',
        [
          'rtsp://192.168.1.110:5050/H264?channel=1&subtype=0&unicast=true&proto=Onvif/video',
          'rtsp://192.168.1.110:5050/H264?channel=1&subtype=0&unicast=true&proto=Onvif/audio',
        ],
      ],
    ]
    for (const [file, expected] of cases) {
      const r = parseOne(capture(file))
      const sdp = parseSdp(r.body.toString('utf8'))
      const base = r.headers.get('content-base') as string
      const urls = sdp.media
        .filter((m) => m.type !== 'application')
        .map((m) => resolveControl(base, m.control))
      expect(urls, file).toEqual(expected)
    }
  })

  it('reads codecs and parameter sets from each SDP', () => {
    const hik = parseSdp(parseOne(capture('hikvision_describe')).body.toString())
    expect(hik.media[0]).toMatchObject({ type: 'video', codec: 'H264', clockRate: 90000, payloadType: 96 })
    expect(hik.media[0]?.fmtp.get('packetization-mode')).toBe('1')
    const foscam = parseSdp(parseOne(capture('foscam_describe')).body.toString())
    expect(foscam.media[1]).toMatchObject({ type: 'audio', codec: 'PCMU', clockRate: 8000, payloadType: 0 })
    // No Content-Type, spaces after ';' in fmtp: still read.
    const loose = parseOne(capture('missing_content_type_describe'))
    expect(loose.headers.has('content-type')).toBe(false)
    const sdp = parseSdp(loose.body.toString())
    expect(sdp.media[0]?.fmtp.get('profile-level-id')).toBe('64000D')
    expect(sdp.media[1]).toMatchObject({ codec: 'MPEG4-GENERIC', clockRate: 48000, channels: 2 })
  })

  it('reads Session, Transport and RTP-Info headers with their quirks', () => {
    expect(parseSession(parseOne(capture('hikvision_setup')).headers.get('session'))).toEqual({
      id: '708345999',
      timeout: 60,
    })
    expect(parseSession(parseOne(capture('gw_main_setup_video')).headers.get('session'))).toEqual({
      id: '9a90de54',
      timeout: 60,
    })
    expect(parseSession(parseOne(capture('reolink_setup')).headers.get('session'))).toEqual({
      id: 'F8F8E425',
      timeout: 60,
    })
    expect(parseTransport(parseOne(capture('hikvision_setup')).headers.get('transport'))).toEqual({
      protocol: 'tcp',
      interleaved: [0, 1],
      ssrc: 0x4cacc3d1,
    })
    expect(
      parseTransport(parseOne(capture('gw_main_setup_audio')).headers.get('transport'))?.interleaved,
    ).toEqual([2, 3])
    const info = parseRtpInfo(parseOne(capture('dahua_play')).headers.get('rtp-info'))
    expect(info.map((i) => [i.url, i.seq])).toEqual([
      ['trackID=0', 47121],
      ['trackID=1', 45186],
      ['trackID=4', 36583],
    ])
    expect(parsePublic(parseOne(capture('dahua_options')).headers.get('public')).has('GET_PARAMETER')).toBe(
      true,
    )
  })
})

describe('RtspStreamParser', () => {
  it('splits responses and interleaved frames however the bytes are chunked', () => {
    const response = Buffer.from('RTSP/1.0 200 OK\r\nCSeq: 4\r\nContent-Length: 5\r\n\r\nhello')
    const frame = Buffer.from([0x24, 1, 0, 3, 9, 8, 7])
    const all = Buffer.concat([frame, response, frame])
    for (const size of [1, 2, 3, 7, 64]) {
      const p = new RtspStreamParser()
      const items = []
      for (let i = 0; i < all.length; i += size) items.push(...p.push(all.subarray(i, i + size)))
      expect(
        items.map((x) => x.kind),
        `chunk ${size}`,
      ).toEqual(['frame', 'response', 'frame'])
      const r = items[1]
      if (r?.kind === 'response') expect(r.response.body.toString()).toBe('hello')
    }
  })

  it('accepts bare LF line ends and server requests, and skips garbage', () => {
    const p = new RtspStreamParser()
    const items = p.push(
      Buffer.from(
        'junk\r\nRTSP/1.0 401 Unauthorized\nCSeq: 1\n\nGET_PARAMETER rtsp://x/ RTSP/1.0\r\nCSeq: 9\r\n\r\n',
      ),
    )
    expect(items.map((i) => i.kind)).toEqual(['response', 'request'])
  })

  it('formats requests and refuses header injection', () => {
    expect(formatRequest('OPTIONS', 'rtsp://h/', { CSeq: 1 }).toString()).toBe(
      'OPTIONS rtsp://h/ RTSP/1.0\r\nCSeq: 1\r\n\r\n',
    )
    expect(() => formatRequest('OPTIONS', 'rtsp://h/', { 'User-Agent': 'x\r\nEvil: 1' })).toThrow()
  })
})

describe('authentication', () => {
  it('answers Digest (with and without qop) the way the server checks it, and Basic', () => {
    for (const qop of [undefined, 'auth']) {
      const header = `Digest realm="IP Camera", nonce="abc123"${qop ? `, qop="${qop}"` : ''}, algorithm=MD5`
      const [challenge] = parseChallenges(header)
      expect(challenge).toMatchObject({ scheme: 'digest', realm: 'IP Camera', nonce: 'abc123' })
      const auth = new Authenticator(challenge as never, 'admin', 's3cret:pass')
      const value = auth.authorization('DESCRIBE', 'rtsp://cam/stream')
      expect(
        verifyDigest(value, 'DESCRIBE', {
          realm: 'IP Camera',
          nonce: 'abc123',
          username: 'admin',
          password: 's3cret:pass',
        }),
      ).toBe(true)
      expect(
        verifyDigest(value, 'DESCRIBE', {
          realm: 'IP Camera',
          nonce: 'abc123',
          username: 'admin',
          password: 'wrong',
        }),
      ).toBe(false)
    }
    const both = parseChallenges('Basic realm="x", Digest realm="y", nonce="n"')
    expect(both.map((c) => c.scheme)).toEqual(['digest', 'basic'])
    const basic = new Authenticator({ scheme: 'basic', realm: 'x' }, 'u', 'p')
    expect(basic.authorization('OPTIONS', '*')).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`)
  })
})

describe('URLs', () => {
  it('keeps credentials out of the URL and the logs', () => {
    expect(parseRtspUrl('rtsp://admin:p%40ss@10.0.0.5/stream1')).toEqual({
      url: 'rtsp://10.0.0.5/stream1',
      username: 'admin',
      password: 'p@ss',
      host: '10.0.0.5',
      port: 554,
    })
    expect(redactUrl('rtsp://admin:secret@cam:8554/x')).not.toContain('secret')
    expect(() => parseRtspUrl('http://cam/')).toThrow()
    expect(resolveControl('rtsp://h/a/', '*')).toBe('rtsp://h/a/')
    expect(resolveControl('rtsp://h/a', 'rtsp://other/b')).toBe('rtsp://other/b')
  })
})

describe('text from the camera is bounded and clean where it enters (issue 11)', () => {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for control characters is the point
  const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/
  const junk = (n: number) =>
    Buffer.from(Array.from({ length: n }, (_, i) => [1, 2, 7, 8, 0x0b, 0x1b, 0x7f][i % 7] as number))

  it('strips control characters from the reason phrase and header values, and bounds them', () => {
    const head = Buffer.concat([
      Buffer.from('RTSP/1.0 500 Bad', 'latin1'),
      junk(60_000),
      Buffer.from(
        `\r\nCSeq: 1\r\nServer: cam\x01\x1b[31mred\r\nX-Long: ${'a'.repeat(20_000)}\r\n\r\n`,
        'latin1',
      ),
    ])
    const r = parseOne(head)
    expect(r.status).toBe(500)
    expect(r.reason).toBe('Bad…') // cut, and marked as cut
    expect(r.headers.get('server')).toBe('cam[31mred')
    expect(r.headers.get('x-long')?.length).toBeLessThanOrEqual(4096)
    for (const v of r.headers.values()) expect(v).not.toMatch(CONTROL)
  })

  it('quotes an unreadable status line short and clean', () => {
    const err = (() => {
      try {
        parseResponseHead(`RTSP/1.0 2x\x01\x02 ${'\x07'.repeat(5000)}`)
      } catch (e) {
        return e as Error
      }
    })()
    expect(err?.message).toMatch(/^not an RTSP status line: "RTSP\/1.0 2x /)
    expect(err?.message.length).toBeLessThanOrEqual(120)
    expect(err?.message).not.toMatch(CONTROL)
  })

  it('keeps control characters out of SDP values and drops absurd lines and sections', () => {
    const sdp = parseSdp(
      [
        'v=0',
        's=\x01\x02name\x1b',
        'm=video 0 RTP/AVP 96',
        'a=rtpmap:96 H264/90000',
        'a=control:track\x01ID=0\rX',
        `a=x-junk:${'b'.repeat(20_000)}`,
        ...Array.from({ length: 40 }, (_, i) => `m=audio 0 RTP/AVP ${i}`),
      ].join('\n'),
    )
    expect(sdp.media[0]?.control).toBe('trackID=0 X')
    expect(sdp.media[0]?.attributes.has('x-junk')).toBe(false)
    expect(sdp.media.length).toBeLessThanOrEqual(16)
  })

  it('takes only a bounded token as a session id', () => {
    expect(parseSession('abc123;timeout=30')).toEqual({ id: 'abc123', timeout: 30 })
    expect(parseSession(`${'s'.repeat(300)};timeout=30`)).toBeUndefined()
    expect(parseSession('ab\x01c')).toBeUndefined()
  })
})

describe('RtspStreamParser buffering (issue 11)', () => {
  it('reads a body trickled a byte at a time, and a header split anywhere', () => {
    const body = 'v=0\r\n'.repeat(2000)
    const msg = Buffer.from(
      `RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Length: ${body.length}\r\n\r\n${body}$\x00\x00\x02ab`,
      'latin1',
    )
    const p = new RtspStreamParser()
    const items = []
    for (let i = 0; i < msg.length; i++) {
      items.push(...p.push(msg.subarray(i, i + 1)))
      expect(p.bufferedBytes).toBeLessThanOrEqual(msg.length)
    }
    expect(items.map((i) => i.kind)).toEqual(['response', 'frame'])
    expect(items[0]?.kind === 'response' && items[0].response.body.length).toBe(body.length)
    expect(p.bufferedBytes).toBe(0)
  })
})
