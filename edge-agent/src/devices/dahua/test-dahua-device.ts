import http from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  type CannedAnswer,
  type DigestUser,
  digestChallenge,
  digestOk,
  type RecordedRequest,
  sleep,
  TINY_JPEG,
} from '../isapi/test-isapi-device.ts'

/**
 * A small fake Dahua device for tests (and the camera simulator): the CGI API over node:http with
 * Digest, magicBox/configManager answers, snapshot.cgi, ptz.cgi that records its commands, and
 * an `eventManager.cgi?action=attach` stream the test drives like the real one: parts framed with
 * `--myboundary`, `Content-Type: text/plain`, a Content-Length and the trailing blank line Dahua
 * firmwares add, `sendRaw` for odd chunking, `heartbeat()` for the keep-alive part and
 * `dropStreams()` for a device vanishing mid-stream.
 */
export class TestDahuaDevice {
  readonly user: DigestUser
  readonly requests: RecordedRequest[] = []
  streamConnects = 0
  unauthorized = 0
  /** Heartbeat intervals (seconds) the attach requests asked for. */
  readonly heartbeatsAsked: number[] = []
  private readonly answers = new Map<string, CannedAnswer>()
  private readonly streams = new Set<http.ServerResponse>()
  private server: http.Server | undefined

  /** PTZ presets by channel (SetPreset / ClearPreset change them, getPresets lists them). */
  readonly presets = new Map<number, Map<number, string>>()
  private readonly ptzCaps: boolean

  constructor(
    o: {
      username?: string
      password?: string
      realm?: string
      /** Answer getCurrentProtocolCaps with pan, tilt and zoom (absent: `Error`, a fixed camera). */
      ptz?: boolean
    } = {},
  ) {
    this.ptzCaps = o.ptz ?? false
    this.user = {
      username: o.username ?? 'admin',
      password: o.password ?? 'secret',
      realm: o.realm ?? 'Login to 4L0123456789ABC',
    }
    this.answer('/cgi-bin/magicBox.cgi?action=getSystemInfo', {
      contentType: 'text/plain',
      body:
        'deviceType=IPC-HDW5231R-ZE\r\nhardwareVersion=1.00\r\nprocessor=S2L55M\r\n' +
        'serialNumber=4L0123456789ABC\r\nupdateSerial=IPC-HDW5231R-Z\r\n',
    })
    this.answer('/cgi-bin/magicBox.cgi?action=getDeviceType', {
      contentType: 'text/plain',
      body: 'type=IPC-HDW5231R-ZE\r\n',
    })
    this.answer('/cgi-bin/magicBox.cgi?action=getSoftwareVersion', {
      contentType: 'text/plain',
      body: 'version=2.800.0000000.16.R,build:2020-02-05\r\n',
    })
    this.answer('/cgi-bin/configManager.cgi?action=getConfig&name=ChannelTitle', {
      contentType: 'text/plain',
      body: 'table.ChannelTitle[0].Name=Driveway\r\ntable.ChannelTitle[1].Name=Back Door\r\n',
    })
    this.answer('/cgi-bin/snapshot.cgi?channel=1', { contentType: 'image/jpeg', body: TINY_JPEG })
  }

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

  get openStreams(): number {
    return this.streams.size
  }

  async stop(): Promise<void> {
    this.dropStreams()
    const s = this.server
    this.server = undefined
    if (s) await new Promise((r) => s.close(r))
  }

  dropStreams(): void {
    for (const res of this.streams) res.socket?.destroy()
    this.streams.clear()
  }

  /** The bytes of one attach-stream part, as a Dahua camera frames it. */
  static part(body: string): Buffer {
    const b = Buffer.from(body, 'utf8')
    return Buffer.concat([
      Buffer.from(`--myboundary\r\nContent-Type: text/plain\r\nContent-Length: ${b.length}\r\n\r\n`),
      b,
      Buffer.from('\r\n\r\n'),
    ])
  }

  /** Writes an event body (`Code=…;action=…;index=…[;data=…]`) as one part on every stream. */
  sendEvent(body: string, chunkSizes?: number[]): Promise<void> {
    return this.sendRaw(TestDahuaDevice.part(body), chunkSizes)
  }

  heartbeat(): Promise<void> {
    return this.sendRaw(TestDahuaDevice.part('Heartbeat'))
  }

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
    req.resume()
    req.on('end', () => {
      if (!digestOk(req, this.user)) {
        this.unauthorized++
        digestChallenge(res, this.user.realm)
        return
      }
      const url = req.url ?? '/'
      this.requests.push({ method: req.method ?? 'GET', url, body: '' })
      const u = new URL(url, 'http://device')
      if (u.pathname === '/cgi-bin/eventManager.cgi' && u.searchParams.get('action') === 'attach') {
        this.streamConnects++
        this.heartbeatsAsked.push(Number(u.searchParams.get('heartbeat') ?? '0'))
        res.writeHead(200, {
          'content-type': 'multipart/x-mixed-replace; boundary=myboundary',
          connection: 'close',
        })
        res.flushHeaders()
        this.streams.add(res)
        res.on('close', () => this.streams.delete(res))
        return
      }
      if (u.pathname === '/cgi-bin/ptz.cgi') {
        res.setHeader('content-type', 'text/plain')
        const channel = Number(u.searchParams.get('channel') ?? '1')
        const presets = this.presets.get(channel) ?? new Map<number, string>()
        this.presets.set(channel, presets)
        const action = u.searchParams.get('action')
        if (action === 'getCurrentProtocolCaps') {
          res.end(
            this.ptzCaps
              ? 'caps.Name=DH-SD\r\ncaps.Pan=true\r\ncaps.Tile=true\r\ncaps.Zoom=true\r\ncaps.PresetMax=255\r\n'
              : 'Error\r\nBad Request!\r\n',
          )
          return
        }
        if (action === 'getPresets') {
          res.end(
            [...presets]
              .map(([id, name], i) => `presets[${i}].Index=${id}\r\npresets[${i}].Name=${name}\r\n`)
              .join(''),
          )
          return
        }
        const code = u.searchParams.get('code')
        const arg2 = Number(u.searchParams.get('arg2'))
        if (action === 'start' && code === 'SetPreset') presets.set(arg2, `Preset${arg2}`)
        if (action === 'start' && code === 'ClearPreset') presets.delete(arg2)
        res.end(u.searchParams.get('code') ? 'OK\r\n' : 'Error\r\nBad Request!\r\n')
        return
      }
      const a = this.answers.get(url)
      if (!a) {
        res.statusCode = 400
        res.setHeader('content-type', 'text/plain')
        res.end('Error\r\nBad Request!\r\n')
        return
      }
      res.statusCode = a.status ?? 200
      res.setHeader('content-type', a.contentType ?? 'text/plain')
      res.end(a.body)
    })
  }
}
