import { createHash, randomBytes } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A small fake Hikvision device for tests (and the camera simulator): ISAPI over node:http with
 * Digest (MD5, qop=auth), canned XML answers, a JPEG snapshot, PTZ that records what it was
 * asked, and an alertStream the test drives: `sendAlert` writes an EventNotificationAlert part,
 * `sendRaw` writes any bytes in chosen chunk sizes (to split a part mid-boundary), `dropStreams`
 * makes the device vanish mid-stream.
 */
export interface DigestUser {
  username: string
  password: string
  realm: string
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex')

/** Checks a Digest Authorization (RFC 7616, MD5, qop=auth) independently of the client's code. */
export function digestOk(req: http.IncomingMessage, u: DigestUser): boolean {
  const auth = req.headers.authorization ?? ''
  if (!auth.startsWith('Digest ')) return false
  const p = (k: string) => new RegExp(`[\\s,]${k}="?([^",]*)"?`).exec(` ${auth.slice(7)}`)?.[1] ?? ''
  const ha1 = md5(`${p('username')}:${u.realm}:${u.password}`)
  const ha2 = md5(`${req.method}:${p('uri')}`)
  const expected = md5(`${ha1}:${p('nonce')}:${p('nc')}:${p('cnonce')}:auth:${ha2}`)
  return p('username') === u.username && p('response') === expected && p('uri') === req.url
}

export function digestChallenge(res: http.ServerResponse, realm: string): void {
  res.statusCode = 401
  res.setHeader(
    'www-authenticate',
    `Digest realm="${realm}", qop="auth", nonce="${randomBytes(8).toString('hex')}"`,
  )
  res.end()
}

/** The smallest JPEG-looking answer (SOI … EOI): enough for the client's check. */
export const TINY_JPEG = Buffer.from(
  // A real 64x36 baseline JPEG (one flat colour, 286 bytes): decoders and `sharp` read it.
  '/9j/2wBDAA0JCgsKCA0LCgsODg0PEyAVExISEyccHhcgLikxMC4pLSwzOko+MzZGNywtQFdBRkxOUlNSMj5aYVpQYEpRUk//2wBDAQ4ODhMREyYVFSZPNS01T09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT0//wAARCAAkAEADASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAAAAX/xAAUEAEAAAAAAAAAAAAAAAAAAAAA/8QAFQEBAQAAAAAAAAAAAAAAAAAAAAX/xAAUEQEAAAAAAAAAAAAAAAAAAAAA/9oADAMBAAIRAxEAPwCEAppwAAAAAAAAAAAAAAAAAAAAAD//2Q==',
  'base64',
)

export interface CannedAnswer {
  status?: number
  contentType?: string
  body: string | Buffer
}

export interface RecordedRequest {
  method: string
  url: string
  body: string
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A Hikvision heartbeat: what an idle alertStream carries every few seconds. */
export function heartbeatXml(channel = 1): string {
  return (
    '<EventNotificationAlert version="1.0" xmlns="http://www.hikvision.com/ver10/XMLSchema">' +
    `<channelID>${channel}</channelID><dateTime>${new Date().toISOString()}</dateTime>` +
    '<activePostCount>0</activePostCount><eventType>videoloss</eventType>' +
    '<eventState>inactive</eventState><eventDescription>videoloss alarm</eventDescription>' +
    '</EventNotificationAlert>'
  )
}

export function alertXml(eventType: string, state: 'active' | 'inactive', channel = 1): string {
  return (
    '<EventNotificationAlert version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">' +
    `<channelID>${channel}</channelID><dateTime>${new Date().toISOString()}</dateTime>` +
    `<activePostCount>1</activePostCount><eventType>${eventType}</eventType>` +
    `<eventState>${state}</eventState><eventDescription>${eventType} alarm</eventDescription>` +
    '</EventNotificationAlert>'
  )
}

export class TestIsapiDevice {
  readonly user: DigestUser
  readonly requests: RecordedRequest[] = []
  /** alertStream connections accepted (after authentication). */
  streamConnects = 0
  /** Requests refused for bad or missing credentials (challenges included). */
  unauthorized = 0
  private readonly answers = new Map<string, CannedAnswer>()
  private readonly streams = new Set<http.ServerResponse>()
  private server: http.Server | undefined
  private readonly boundary: string

  /** PTZ presets by channel: set with PUT, removed with DELETE, listed by GET …/presets. */
  readonly presets = new Map<number, Map<number, string>>()

  constructor(
    o: {
      username?: string
      password?: string
      realm?: string
      boundary?: string
      /** Channels with PTZ, served at `/ISAPI/PTZCtrl/channels` (absent: 404, a fixed camera). */
      ptzChannels?: number[]
    } = {},
  ) {
    this.user = {
      username: o.username ?? 'admin',
      password: o.password ?? 'secret',
      realm: o.realm ?? 'IP Camera',
    }
    this.boundary = o.boundary ?? 'boundary'
    // Defaults for a one-channel camera, so a simulator gets a working device without setup.
    const ns = 'xmlns="http://www.hikvision.com/ver20/XMLSchema"'
    this.answer('/ISAPI/System/deviceInfo', {
      body:
        `<?xml version="1.0" encoding="UTF-8"?><DeviceInfo version="2.0" ${ns}><deviceName>Test camera</deviceName>` +
        '<model>DS-TEST-1</model><serialNumber>DS-TEST-100000000</serialNumber><macAddress>02:00:00:00:00:01</macAddress>' +
        '<firmwareVersion>V5.7.0</firmwareVersion><firmwareReleasedDate>build 240101</firmwareReleasedDate>' +
        '<deviceType>IPCamera</deviceType></DeviceInfo>',
    })
    this.answer('/ISAPI/Streaming/channels', {
      body:
        `<?xml version="1.0" encoding="UTF-8"?><StreamingChannelList version="2.0" ${ns}>` +
        [
          ['101', 'H.265', 2560, 1440, 2500],
          ['102', 'H.264', 640, 360, 1500],
        ]
          .map(
            ([id, codec, w, h, fps]) =>
              `<StreamingChannel><id>${id}</id><enabled>true</enabled><Video><videoCodecType>${codec}</videoCodecType>` +
              `<videoResolutionWidth>${w}</videoResolutionWidth><videoResolutionHeight>${h}</videoResolutionHeight>` +
              `<maxFrameRate>${fps}</maxFrameRate></Video></StreamingChannel>`,
          )
          .join('') +
        '</StreamingChannelList>',
    })
    this.answer('/ISAPI/Streaming/channels/101/picture', { contentType: 'image/jpeg', body: TINY_JPEG })
    if (o.ptzChannels)
      this.answer('/ISAPI/PTZCtrl/channels', {
        body:
          `<?xml version="1.0" encoding="UTF-8"?><PTZChannelList version="2.0" ${ns}>` +
          o.ptzChannels
            .map((id) => `<PTZChannel><id>${id}</id><enabled>true</enabled></PTZChannel>`)
            .join('') +
          '</PTZChannelList>',
      })
  }

  /** Answers the preset operations from `presets`; false when `url` is none of them. */
  private presetAnswer(method: string, url: string, body: string, res: http.ServerResponse): boolean {
    const m = /^\/ISAPI\/PTZCtrl\/channels\/(\d+)\/presets(?:\/(\d+))?$/.exec(url)
    if (!m || this.answers.has(url)) return false
    const channel = Number(m[1])
    const presets = this.presets.get(channel) ?? new Map<number, string>()
    this.presets.set(channel, presets)
    const ok = () => {
      res.setHeader('content-type', 'application/xml')
      res.end(
        '<?xml version="1.0" encoding="UTF-8"?><ResponseStatus version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">' +
          `<requestURL>${url}</requestURL><statusCode>1</statusCode><statusString>OK</statusString><subStatusCode>ok</subStatusCode></ResponseStatus>`,
      )
    }
    if (method === 'GET' && m[2] === undefined) {
      res.setHeader('content-type', 'application/xml')
      res.end(
        '<?xml version="1.0" encoding="UTF-8"?><PTZPresetList version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">' +
          [...presets]
            .map(([id, name]) => `<PTZPreset><id>${id}</id><presetName>${name}</presetName></PTZPreset>`)
            .join('') +
          '</PTZPresetList>',
      )
      return true
    }
    if (m[2] === undefined) return false
    const id = Number(m[2])
    if (method === 'PUT') {
      presets.set(id, /<presetName>([^<]*)<\/presetName>/.exec(body)?.[1] ?? `Preset ${id}`)
      ok()
      return true
    }
    if (method === 'DELETE') {
      presets.delete(id)
      ok()
      return true
    }
    return false
  }

  /** Serves `body` for GET `path` (path with query, as the client sends it). */
  answer(path: string, a: CannedAnswer): this {
    this.answers.set(path, a)
    return this
  }

  /** Listens (an ephemeral port on loopback by default); resolves to the base URL. */
  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    this.server = http.createServer((req, res) => this.handle(req, res))
    await new Promise<void>((r) => this.server?.listen(port, host, r))
    return this.url
  }

  /** The base URL; only valid after `start()`. */
  get url(): string {
    if (!this.server) throw new Error('the test device is not started')
    const a = this.server.address() as AddressInfo
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`
  }

  /** Open alertStream connections. */
  get openStreams(): number {
    return this.streams.size
  }

  async stop(): Promise<void> {
    this.dropStreams()
    const s = this.server
    this.server = undefined
    if (s) await new Promise((r) => s.close(r))
  }

  /** The device vanishes: every stream's socket is destroyed mid-flight. */
  dropStreams(): void {
    for (const res of this.streams) res.socket?.destroy()
    this.streams.clear()
  }

  /** Writes one alert part (with Content-Length, as cameras do) on every open stream. */
  async sendAlert(xml: string, chunkSizes?: number[]): Promise<void> {
    const body = Buffer.from(xml, 'utf8')
    const part = Buffer.concat([
      Buffer.from(
        `--${this.boundary}\r\nContent-Type: application/xml; charset="UTF-8"\r\nContent-Length: ${body.length}\r\n\r\n`,
      ),
      body,
      Buffer.from('\r\n'),
    ])
    await this.sendRaw(part, chunkSizes)
  }

  heartbeat(channel = 1): Promise<void> {
    return this.sendAlert(heartbeatXml(channel))
  }

  /** Writes bytes on every open stream, cut into `chunkSizes` (cycled), pausing between chunks. */
  async sendRaw(bytes: Buffer | string, chunkSizes: number[] = []): Promise<void> {
    const buf = typeof bytes === 'string' ? Buffer.from(bytes) : bytes
    const sizes = chunkSizes.filter((n) => n > 0)
    let offset = 0
    let i = 0
    while (offset < buf.length) {
      const n = sizes.length ? (sizes[i++ % sizes.length] as number) : buf.length
      const piece = buf.subarray(offset, offset + n)
      offset += n
      for (const res of this.streams) res.write(piece)
      if (sizes.length) await sleep(2)
    }
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (!digestOk(req, this.user)) {
        this.unauthorized++
        digestChallenge(res, this.user.realm)
        return
      }
      const url = req.url ?? '/'
      this.requests.push({ method: req.method ?? 'GET', url, body: Buffer.concat(chunks).toString('utf8') })
      if (url === '/ISAPI/Event/notification/alertStream') {
        this.streamConnects++
        res.writeHead(200, {
          'content-type': `multipart/mixed; boundary=${this.boundary}`,
          connection: 'close',
        })
        res.flushHeaders()
        this.streams.add(res)
        res.on('close', () => this.streams.delete(res))
        return
      }
      if (this.presetAnswer(req.method ?? 'GET', url, Buffer.concat(chunks).toString('utf8'), res)) return
      if (req.method === 'PUT' && (/\/continuous$/.test(url) || /\/goto$/.test(url))) {
        res.setHeader('content-type', 'application/xml')
        res.end(
          '<?xml version="1.0" encoding="UTF-8"?><ResponseStatus version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">' +
            '<requestURL>' +
            url +
            '</requestURL><statusCode>1</statusCode><statusString>OK</statusString><subStatusCode>ok</subStatusCode></ResponseStatus>',
        )
        return
      }
      const a = this.answers.get(url)
      if (!a) {
        res.statusCode = 404
        res.setHeader('content-type', 'application/xml')
        res.end(
          '<?xml version="1.0" encoding="UTF-8"?><ResponseStatus version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">' +
            '<statusCode>4</statusCode><statusString>Invalid Operation</statusString><subStatusCode>notSupport</subStatusCode></ResponseStatus>',
        )
        return
      }
      res.statusCode = a.status ?? 200
      res.setHeader('content-type', a.contentType ?? 'application/xml')
      res.end(a.body)
    })
  }
}
