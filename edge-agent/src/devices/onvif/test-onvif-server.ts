import { createHash, randomBytes } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { TINY_JPEG } from '../isapi/test-isapi-device.ts'
import { at, attr, child, parseXml, text } from '../xml.ts'
import { createdTimestamp, decodeXmlEntities, escapeXml, NS, passwordDigest } from './soap.ts'

/**
 * A small ONVIF device over node:http, for tests and the camera simulator: checks the
 * UsernameToken (PasswordDigest, optionally PasswordText) against its own clock (`clockSkewMs`
 * ahead of ours), or HTTP Digest (MD5, qop=auth); serves Device, Media/Media2, PTZ and a
 * PullPoint from its options; and answers any operation with a canned body from `responses`
 * (real devices' captures) instead when given. Every service lives on every path, so XAddrs that
 * name other hosts or paths still land here once the client rewrites them.
 */
export interface TestProfile {
  token: string
  name?: string
  encoding?: string
  width?: number
  height?: number
  fps?: number
  /** Attach the PTZ configuration (when the device has PTZ). Default true. */
  ptz?: boolean
  /** What GetStreamUri answers (a simulator's real RTSP URL); default a fake `/stream/<token>` one. */
  streamUri?: string
  /**
   * The video source the profile shows (an NVR's channel): GetProfiles then carries a
   * VideoSourceConfiguration `vsc-<source>` with this SourceToken. Absent: none, as before.
   */
  videoSource?: string
}

export interface TestEvent {
  /** With its prefix, as a device sends it: `tns1:RuleEngine/CellMotionDetector/Motion`. */
  topic: string
  utcTime?: string
  propertyOperation?: 'Initialized' | 'Changed' | 'Deleted'
  source?: Record<string, string>
  data?: Record<string, string>
}

export interface TestOnvifDeviceOptions {
  username?: string
  password?: string
  /** The device clock minus real time, ms (a camera 2 h ahead: 7_200_000). */
  clockSkewMs?: number
  /** How far `Created` may be from the device clock, ms. Default 5 s. */
  maxCreatedSkewMs?: number
  /** Accept UsernameToken PasswordDigest. Default true. */
  acceptTokenDigest?: boolean
  /** Accept UsernameToken PasswordText. Default false. */
  acceptTokenText?: boolean
  /** Accept HTTP Digest (answer 401 challenges to requests without a UsernameToken). Default true. */
  acceptHttpDigest?: boolean
  /**
   * How a request whose UsernameToken is not accepted is refused: a NotAuthorized `fault` (most
   * cameras) or a 401 Digest `challenge` (firmwares that ignore WS-Security). Default `fault`.
   */
  rejectTokenWith?: 'fault' | 'challenge'
  profiles?: TestProfile[]
  /** Offer a PTZ service. Default true. */
  ptz?: boolean
  /** List Media2 in GetServices. Default false. */
  media2?: boolean
  /** Offer GetServices (else ActionNotSupported, for GetCapabilities fallbacks). Default true. */
  getServices?: boolean
  /** The host:port the device names in its XAddrs (a LAN address behind NAT). Default: where it listens. */
  advertisedHost?: string
  /** The host:port in the PullPoint address. Default `0.0.0.0` with the listening port. */
  subscriptionHost?: string
  /**
   * Identify subscriptions Axis-style: one address for all, and a `SubscriptionId` reference
   * parameter the client must echo as a SOAP header. Default false (an `?Idx=` per subscription).
   */
  referenceParameters?: boolean
  /**
   * How long a PullPoint subscription lives without a Renew, ms (in the device's clock, which
   * `clockSkewMs` shifts). After it, PullMessages and Renew answer ResourceUnknown. Default 60 s.
   */
  subscriptionLifetimeMs?: number
  /** Events served to the first PullMessages (state at subscription start), then `events`. */
  initialEvents?: TestEvent[]
  events?: TestEvent[]
  /** Refuse GetSystemDateAndTime without credentials (against the standard, as some firmwares do). Default false. */
  requireAuthForTime?: boolean
  /** Longest a PullMessages waits for an event when none is queued, ms. Default 10 s (the request's Timeout if shorter). */
  maxPullWaitMs?: number
  /** Canned bodies by operation name (`GetDeviceInformation`…), sent as they are with HTTP 200. */
  responses?: Record<string, string>
  /** What a GET of the snapshot URI answers (behind HTTP Digest); absent: a tiny JPEG-looking body. */
  snapshotJpeg?: Buffer
}

export interface TestRequest {
  operation: string
  path: string
  /** How the request authenticated: `anonymous`, `token-digest`, `token-text`, `http-digest` or `refused`. */
  auth: string
  headers: http.IncomingHttpHeaders
  body: string
}

const REALM = 'test-onvif'

export class TestOnvifDevice {
  readonly options: Required<
    Omit<TestOnvifDeviceOptions, 'advertisedHost' | 'subscriptionHost' | 'responses' | 'snapshotJpeg'>
  > &
    Pick<TestOnvifDeviceOptions, 'advertisedHost' | 'subscriptionHost' | 'responses' | 'snapshotJpeg'>
  /** Every request, in order. */
  readonly requests: TestRequest[] = []
  /** PTZ calls with their body, for assertions. */
  readonly ptzCalls: { operation: string; body: string }[] = []
  readonly presets = new Map<string, string>()
  subscriptions = new Set<string>()
  /** When each subscription ends, ms in real time (Renew moves it). */
  readonly expiries = new Map<string, number>()
  private server: http.Server | undefined
  private nonces = new Set<string>()
  private presetCounter = 0
  private subscriptionCounter = 0
  private initialSent = new Set<string>()
  port = 0

  constructor(options: TestOnvifDeviceOptions = {}) {
    this.options = {
      username: 'admin',
      password: 'secret',
      clockSkewMs: 0,
      maxCreatedSkewMs: 5_000,
      acceptTokenDigest: true,
      acceptTokenText: false,
      acceptHttpDigest: true,
      rejectTokenWith: 'fault',
      requireAuthForTime: false,
      referenceParameters: false,
      maxPullWaitMs: 10_000,
      subscriptionLifetimeMs: 60_000,
      profiles: [{ token: 'main', name: 'Main', encoding: 'H264', width: 1920, height: 1080, fps: 25 }],
      ptz: true,
      media2: false,
      getServices: true,
      initialEvents: [],
      events: [],
      ...options,
    }
  }

  /** Changes the device clock (a camera whose clock jumps). */
  set clockSkewMs(ms: number) {
    this.options.clockSkewMs = ms
  }

  /** Queues events for the next PullMessages (and wakes a waiting one). */
  pushEvent(...events: TestEvent[]): void {
    this.options.events.push(...events)
    this.wake()
  }

  private waiters = new Set<() => void>()
  private lastDoc: unknown
  private wake(): void {
    for (const w of this.waiters) w()
    this.waiters.clear()
  }

  /** Listens (port 0: any free port); returns the device service URL. */
  async start(host = '127.0.0.1', port = 0): Promise<string> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        try {
          this.handle(req, res, Buffer.concat(chunks).toString('utf8'))
        } catch (err) {
          res.writeHead(500).end(String(err))
        }
      })
    })
    await new Promise<void>((resolve) => this.server?.listen(port, host, resolve))
    this.port = (this.server.address() as AddressInfo).port
    return `http://${host}:${this.port}/onvif/device_service`
  }

  async stop(): Promise<void> {
    const server = this.server
    this.server = undefined
    if (!server) return
    this.wake()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  /** The operations seen, in order, as `Operation:auth`. */
  get log(): string[] {
    return this.requests.map((r) => `${r.operation}:${r.auth}`)
  }

  private get xaddrBase(): string {
    return `http://${this.options.advertisedHost ?? `127.0.0.1:${this.port}`}`
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
    if (req.method === 'GET' && (req.url ?? '').startsWith('/snapshot/')) {
      this.snapshot(req, res)
      return
    }
    let doc: Record<string, unknown>
    try {
      doc = parseXml(body)
    } catch {
      this.fault(res, 400, 'Sender', ['WellFormed'], 'not well-formed XML')
      return
    }
    const envelopeBody = at(doc, 'Envelope', 'Body')
    const operation =
      envelopeBody && typeof envelopeBody === 'object'
        ? (Object.keys(envelopeBody).find((k) => !k.startsWith('@') && k !== '#text') ?? '')
        : ''
    const request: TestRequest = {
      operation,
      path: req.url ?? '/',
      auth: 'refused',
      headers: req.headers,
      body,
    }
    this.requests.push(request)
    this.lastDoc = doc
    const op = child(envelopeBody, operation)

    if (operation === 'GetSystemDateAndTime' && !this.options.requireAuthForTime) request.auth = 'anonymous'
    else {
      const auth = this.authenticate(req, doc)
      if (auth === 'challenge') {
        this.challenge(res)
        return
      }
      if (auth === 'refused') {
        this.fault(res, 400, 'Sender', ['NotAuthorized'], 'Sender not Authorized')
        return
      }
      request.auth = auth
    }

    const canned = this.options.responses?.[operation]
    if (canned !== undefined) {
      res.writeHead(200, { 'content-type': 'application/soap+xml; charset=utf-8' }).end(canned)
      return
    }
    void Promise.resolve(this.answer(operation, op)).then(
      (answer) => {
        if (answer === undefined)
          this.fault(res, 400, 'Receiver', ['ActionNotSupported'], `${operation} is not supported`)
        else if (answer instanceof TestFault)
          this.fault(res, 400, answer.code, answer.subcodes, answer.reason)
        else res.writeHead(200, { 'content-type': 'application/soap+xml; charset=utf-8' }).end(soap(answer))
      },
      (err: unknown) => res.writeHead(500).end(String(err)),
    )
  }

  /** The snapshot URI's picture, behind HTTP Digest as cameras serve it. */
  private snapshot(req: http.IncomingMessage, res: http.ServerResponse): void {
    const ok = this.checkHttpDigest(req)
    this.requests.push({
      operation: 'snapshot',
      path: req.url ?? '/',
      auth: ok ? 'http-digest' : 'refused',
      headers: req.headers,
      body: '',
    })
    if (!ok) {
      this.challenge(res)
      return
    }
    const jpeg = this.options.snapshotJpeg ?? TINY_JPEG
    res.writeHead(200, { 'content-type': 'image/jpeg' }).end(jpeg)
  }

  /**
   * A 401 HTTP Digest challenge with a fresh nonce (one it then accepts): the same for SOAP
   * requests and the snapshot URI, as a camera's web server challenges both alike.
   */
  private challenge(res: http.ServerResponse): void {
    const nonce = randomBytes(12).toString('hex')
    this.nonces.add(nonce)
    res.writeHead(401, {
      'www-authenticate': `Digest realm="${REALM}", qop="auth", nonce="${nonce}", algorithm=MD5`,
    })
    res.end()
  }

  private authenticate(
    req: http.IncomingMessage,
    doc: unknown,
  ): 'token-digest' | 'token-text' | 'http-digest' | 'challenge' | 'refused' {
    const o = this.options
    const token = at(doc, 'Envelope', 'Header', 'Security', 'UsernameToken')
    if (token !== undefined) {
      const username = decodeXmlEntities(text(child(token, 'Username')) ?? '')
      const passwordNode = child(token, 'Password')
      const password = decodeXmlEntities(text(passwordNode) ?? '')
      const type = attr(passwordNode, 'Type') ?? ''
      const created = text(child(token, 'Created')) ?? ''
      const nonce = Buffer.from(text(child(token, 'Nonce')) ?? '', 'base64')
      const createdMs = Date.parse(created)
      const deviceNow = Date.now() + o.clockSkewMs
      const fresh = Number.isFinite(createdMs) && Math.abs(createdMs - deviceNow) <= o.maxCreatedSkewMs
      if (username === o.username && fresh) {
        if (type.endsWith('#PasswordText') && o.acceptTokenText && password === o.password)
          return 'token-text'
        if (
          !type.endsWith('#PasswordText') &&
          o.acceptTokenDigest &&
          password === passwordDigest(nonce, created, o.password)
        )
          return 'token-digest'
      }
    }
    if (o.acceptHttpDigest) {
      if (this.checkHttpDigest(req)) return 'http-digest'
      // Like most cameras: a request with a (bad) UsernameToken gets a fault, not a challenge.
      if (token === undefined || o.rejectTokenWith === 'challenge')
        return req.headers.authorization ? 'refused' : 'challenge'
    }
    return 'refused'
  }

  private checkHttpDigest(req: http.IncomingMessage): boolean {
    const header = req.headers.authorization
    if (!header?.startsWith('Digest ')) return false
    const p: Record<string, string> = {}
    for (const m of header.slice(7).matchAll(/(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g))
      p[m[1]!.toLowerCase()] = (m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1')
    if (p.username !== this.options.username || !p.nonce || !this.nonces.has(p.nonce)) return false
    const md5 = (s: string) => createHash('md5').update(s).digest('hex')
    const ha1 = md5(`${p.username}:${REALM}:${this.options.password}`)
    const ha2 = md5(`${req.method}:${p.uri}`)
    return p.response === md5(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`)
  }

  private fault(
    res: http.ServerResponse,
    status: number,
    code: string,
    subcodes: string[],
    reason: string,
  ): void {
    let sub = ''
    for (const s of [...subcodes].reverse())
      sub = `<env:Subcode><env:Value>ter:${s}</env:Value>${sub}</env:Subcode>`
    res
      .writeHead(status, { 'content-type': 'application/soap+xml; charset=utf-8' })
      .end(
        '<?xml version="1.0" encoding="UTF-8"?>' +
          `<env:Envelope xmlns:env="${NS.soap}" xmlns:ter="http://www.onvif.org/ver10/error"><env:Body><env:Fault>` +
          `<env:Code><env:Value>env:${code}</env:Value>${sub}</env:Code>` +
          `<env:Reason><env:Text xml:lang="en">${escapeXml(reason)}</env:Text></env:Reason>` +
          '</env:Fault></env:Body></env:Envelope>',
      )
  }

  private answer(operation: string, op: unknown): Answer | Promise<Answer> {
    const o = this.options
    const base = this.xaddrBase
    const token = text(child(op, 'ProfileToken'))
    switch (operation) {
      case 'GetSystemDateAndTime': {
        const d = new Date(Date.now() + o.clockSkewMs)
        return (
          '<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>' +
          '<tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone><tt:UTCDateTime>' +
          `<tt:Time><tt:Hour>${d.getUTCHours()}</tt:Hour><tt:Minute>${d.getUTCMinutes()}</tt:Minute><tt:Second>${d.getUTCSeconds()}</tt:Second></tt:Time>` +
          `<tt:Date><tt:Year>${d.getUTCFullYear()}</tt:Year><tt:Month>${d.getUTCMonth() + 1}</tt:Month><tt:Day>${d.getUTCDate()}</tt:Day></tt:Date>` +
          '</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>'
        )
      }
      case 'GetDeviceInformation':
        return (
          '<tds:GetDeviceInformationResponse><tds:Manufacturer>TS-VMS</tds:Manufacturer><tds:Model>TestOnvifDevice</tds:Model>' +
          '<tds:FirmwareVersion>1.0</tds:FirmwareVersion><tds:SerialNumber>TEST0001</tds:SerialNumber><tds:HardwareId>sim</tds:HardwareId>' +
          '</tds:GetDeviceInformationResponse>'
        )
      case 'GetServices': {
        if (!o.getServices) return undefined
        const svc = (ns: string, path: string) =>
          `<tds:Service><tds:Namespace>${ns}</tds:Namespace><tds:XAddr>${base}${path}</tds:XAddr><tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>`
        return (
          '<tds:GetServicesResponse>' +
          svc(NS.tds, '/onvif/device_service') +
          svc(NS.trt, '/onvif/media_service') +
          (o.media2 ? svc(NS.tr2, '/onvif/media2_service') : '') +
          (o.ptz ? svc(NS.tptz, '/onvif/ptz_service') : '') +
          svc(NS.tev, '/onvif/event_service') +
          '</tds:GetServicesResponse>'
        )
      }
      case 'GetCapabilities':
        return (
          '<tds:GetCapabilitiesResponse><tds:Capabilities>' +
          `<tt:Device><tt:XAddr>${base}/onvif/device_service</tt:XAddr></tt:Device>` +
          `<tt:Events><tt:XAddr>${base}/onvif/event_service</tt:XAddr><tt:WSPullPointSupport>true</tt:WSPullPointSupport></tt:Events>` +
          `<tt:Media><tt:XAddr>${base}/onvif/media_service</tt:XAddr></tt:Media>` +
          (o.ptz ? `<tt:PTZ><tt:XAddr>${base}/onvif/ptz_service</tt:XAddr></tt:PTZ>` : '') +
          '</tds:Capabilities></tds:GetCapabilitiesResponse>'
        )
      case 'GetNetworkInterfaces':
        return (
          '<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces token="eth0"><tt:Enabled>true</tt:Enabled>' +
          '<tt:Info><tt:Name>eth0</tt:Name><tt:HwAddress>02:00:00:00:00:01</tt:HwAddress><tt:MTU>1500</tt:MTU></tt:Info>' +
          '<tt:IPv4><tt:Enabled>true</tt:Enabled><tt:Config><tt:Manual><tt:Address>192.168.1.64</tt:Address>' +
          '<tt:PrefixLength>24</tt:PrefixLength></tt:Manual><tt:DHCP>false</tt:DHCP></tt:Config></tt:IPv4>' +
          '</tds:NetworkInterfaces></tds:GetNetworkInterfacesResponse>'
        )
      case 'GetProfiles':
        return this.profilesAnswer()
      case 'GetStreamUri':
      case 'GetSnapshotUri': {
        if (!o.profiles.some((p) => p.token === token)) return NO_PROFILE
        const profile = o.profiles.find((p) => p.token === token)
        const uri =
          operation === 'GetStreamUri'
            ? profile?.streamUri !== undefined
              ? escapeXml(profile.streamUri)
              : `rtsp://${o.advertisedHost ?? `127.0.0.1:${this.port}`}/stream/${token}?a=1&amp;b=2`
            : `${base}/snapshot/${token}.jpg`
        const media2 = this.isMedia2()
        return media2
          ? `<tr2:${operation}Response><tr2:Uri>${uri}</tr2:Uri></tr2:${operation}Response>`
          : `<trt:${operation}Response><trt:MediaUri><tt:Uri>${uri}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>` +
              `<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:${operation}Response>`
      }
    }
    if (o.ptz) {
      const ptz = this.ptzAnswer(operation, op, token)
      if (ptz !== undefined) return ptz
    }
    return this.eventsAnswer(operation, op, this.lastDoc)
  }

  /** Whether the last request's operation element is in the Media2 namespace (read from the raw XML). */
  private isMedia2(): boolean {
    const body = this.requests.at(-1)?.body ?? ''
    const operation = this.requests.at(-1)?.operation ?? ''
    const m = new RegExp(`<(?:([\\w.-]+):)?${operation}[\\s/>]`).exec(body)
    if (!m) return false
    const decl = m[1] ? new RegExp(`xmlns:${m[1]}="([^"]*)"`).exec(body) : /xmlns="([^"]*)"/.exec(body)
    return decl?.[1] === NS.tr2
  }

  private profilesAnswer(): string {
    const media2 = this.isMedia2()
    const ptzConfig = (tag: string) =>
      `<${tag} token="ptzcfg0"><tt:Name>ptz</tt:Name><tt:UseCount>1</tt:UseCount><tt:NodeToken>node0</tt:NodeToken></${tag}>`
    const profiles = this.options.profiles.map((p) => {
      const encoder =
        `<tt:Name>enc-${p.token}</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>${p.encoding ?? 'H264'}</tt:Encoding>` +
        `<tt:Resolution><tt:Width>${p.width ?? 1920}</tt:Width><tt:Height>${p.height ?? 1080}</tt:Height></tt:Resolution>` +
        `<tt:RateControl><tt:FrameRateLimit>${p.fps ?? 25}</tt:FrameRateLimit><tt:BitrateLimit>4096</tt:BitrateLimit></tt:RateControl>`
      const withPtz = this.options.ptz && p.ptz !== false
      if (media2)
        return (
          `<tr2:Profiles token="${escapeXml(p.token)}" fixed="true"><tr2:Name>${escapeXml(p.name ?? p.token)}</tr2:Name><tr2:Configurations>` +
          (p.videoSource !== undefined
            ? `<tr2:VideoSource token="vsc-${escapeXml(p.videoSource)}"><tt:Name>${escapeXml(p.videoSource)}</tt:Name>` +
              `<tt:UseCount>1</tt:UseCount><tt:SourceToken>${escapeXml(p.videoSource)}</tt:SourceToken></tr2:VideoSource>`
            : '') +
          `<tr2:VideoEncoder token="enc-${escapeXml(p.token)}">${encoder}</tr2:VideoEncoder>` +
          (withPtz ? ptzConfig('tr2:PTZ') : '') +
          '</tr2:Configurations></tr2:Profiles>'
        )
      return (
        `<trt:Profiles token="${escapeXml(p.token)}" fixed="true"><tt:Name>${escapeXml(p.name ?? p.token)}</tt:Name>` +
        (p.videoSource !== undefined
          ? `<tt:VideoSourceConfiguration token="vsc-${escapeXml(p.videoSource)}"><tt:Name>${escapeXml(p.videoSource)}</tt:Name>` +
            `<tt:UseCount>1</tt:UseCount><tt:SourceToken>${escapeXml(p.videoSource)}</tt:SourceToken></tt:VideoSourceConfiguration>`
          : '') +
        `<tt:VideoEncoderConfiguration token="enc-${escapeXml(p.token)}">${encoder}</tt:VideoEncoderConfiguration>` +
        (withPtz ? ptzConfig('tt:PTZConfiguration') : '') +
        '</trt:Profiles>'
      )
    })
    return media2
      ? `<tr2:GetProfilesResponse>${profiles.join('')}</tr2:GetProfilesResponse>`
      : `<trt:GetProfilesResponse>${profiles.join('')}</trt:GetProfilesResponse>`
  }

  private ptzAnswer(operation: string, op: unknown, token: string | undefined): Answer {
    const known = (t: string | undefined) =>
      this.options.profiles.some((p) => p.token === t && p.ptz !== false)
    const record = () => this.ptzCalls.push({ operation, body: this.requests.at(-1)?.body ?? '' })
    switch (operation) {
      case 'GetNodes':
        return (
          '<tptz:GetNodesResponse><tptz:PTZNode token="node0"><tt:Name>node0</tt:Name><tt:SupportedPTZSpaces>' +
          '<tt:ContinuousPanTiltVelocitySpace><tt:URI>http://www.onvif.org/ver10/tptz/PanTiltSpaces/VelocityGenericSpace</tt:URI></tt:ContinuousPanTiltVelocitySpace>' +
          '<tt:ContinuousZoomVelocitySpace><tt:URI>http://www.onvif.org/ver10/tptz/ZoomSpaces/VelocityGenericSpace</tt:URI></tt:ContinuousZoomVelocitySpace>' +
          '<tt:RelativePanTiltTranslationSpace><tt:URI>http://www.onvif.org/ver10/tptz/PanTiltSpaces/TranslationGenericSpace</tt:URI></tt:RelativePanTiltTranslationSpace>' +
          '</tt:SupportedPTZSpaces><tt:MaximumNumberOfPresets>16</tt:MaximumNumberOfPresets><tt:HomeSupported>true</tt:HomeSupported>' +
          '</tptz:PTZNode></tptz:GetNodesResponse>'
        )
      case 'ContinuousMove':
      case 'Stop':
      case 'RelativeMove':
      case 'AbsoluteMove':
      case 'GotoHomePosition':
      case 'GotoPreset':
      case 'RemovePreset': {
        if (!known(token)) return NO_PROFILE
        record()
        const preset = text(child(op, 'PresetToken'))
        if (
          (operation === 'GotoPreset' || operation === 'RemovePreset') &&
          (!preset || !this.presets.has(preset))
        )
          return new TestFault('Sender', ['InvalidArgVal', 'NoToken'], 'no such preset')
        if (operation === 'RemovePreset' && preset) this.presets.delete(preset)
        return `<tptz:${operation}Response/>`
      }
      case 'SetPreset': {
        if (!known(token)) return NO_PROFILE
        record()
        // An existing PresetToken is saved again (overwritten), as ONVIF says; else a new preset.
        const asked = text(child(op, 'PresetToken'))
        const presetToken = asked && this.presets.has(asked) ? asked : `preset${++this.presetCounter}`
        this.presets.set(presetToken, decodeXmlEntities(text(child(op, 'PresetName')) ?? presetToken))
        return `<tptz:SetPresetResponse><tptz:PresetToken>${presetToken}</tptz:PresetToken></tptz:SetPresetResponse>`
      }
      case 'GetPresets':
        return (
          '<tptz:GetPresetsResponse>' +
          [...this.presets]
            .map(
              ([t, name]) => `<tptz:Preset token="${t}"><tt:Name>${escapeXml(name)}</tt:Name></tptz:Preset>`,
            )
            .join('') +
          '</tptz:GetPresetsResponse>'
        )
      case 'GetStatus':
        return (
          '<tptz:GetStatusResponse><tptz:PTZStatus><tt:Position><tt:PanTilt x="0.5" y="-0.25"/><tt:Zoom x="0"/></tt:Position>' +
          '<tt:MoveStatus><tt:PanTilt>IDLE</tt:PanTilt><tt:Zoom>IDLE</tt:Zoom></tt:MoveStatus></tptz:PTZStatus></tptz:GetStatusResponse>'
        )
    }
    return undefined
  }

  private async eventsAnswer(operation: string, op: unknown, doc: unknown): Promise<Answer> {
    const path = this.requests.at(-1)?.path ?? ''
    const now = new Date(Date.now() + this.options.clockSkewMs)
    const lifetime = this.options.subscriptionLifetimeMs
    const later = new Date(now.getTime() + lifetime)
    const times = `<wsnt:CurrentTime>${iso(now)}</wsnt:CurrentTime><wsnt:TerminationTime>${iso(later)}</wsnt:TerminationTime>`
    switch (operation) {
      case 'CreatePullPointSubscription': {
        const id = String(++this.subscriptionCounter)
        this.subscriptions.add(id)
        this.expiries.set(id, Date.now() + lifetime)
        const host = this.options.subscriptionHost ?? `0.0.0.0:${this.port}`
        return (
          '<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>' +
          (this.options.referenceParameters
            ? `<wsa5:Address>http://${host}/onvif/services</wsa5:Address><wsa5:ReferenceParameters>` +
              `<dom0:SubscriptionId xmlns:dom0="http://www.axis.com/2009/event">${id}</dom0:SubscriptionId></wsa5:ReferenceParameters>`
            : `<wsa5:Address>http://${host}/onvif/Subscription?Idx=${id}</wsa5:Address>`) +
          `</tev:SubscriptionReference>${times}</tev:CreatePullPointSubscriptionResponse>`
        )
      }
      case 'PullMessages':
      case 'Renew':
      case 'Unsubscribe': {
        const id = this.options.referenceParameters
          ? text(at(doc, 'Envelope', 'Header', 'SubscriptionId'))
          : /[?&]Idx=(\d+)/.exec(path)?.[1]
        if (id && (this.expiries.get(id) ?? Number.POSITIVE_INFINITY) <= Date.now()) {
          // Not renewed in time: the device forgets it, as cameras do.
          this.subscriptions.delete(id)
          this.expiries.delete(id)
        }
        if (!id || !this.subscriptions.has(id))
          return new TestFault('Sender', ['ResourceUnknownFault'], 'no such subscription')
        if (operation === 'Unsubscribe') {
          this.subscriptions.delete(id)
          this.expiries.delete(id)
          return '<wsnt:UnsubscribeResponse/>'
        }
        if (operation === 'Renew') {
          this.expiries.set(id, Date.now() + lifetime)
          return `<wsnt:RenewResponse>${times}</wsnt:RenewResponse>`
        }
        const batch: TestEvent[] = []
        if (!this.initialSent.has(id)) {
          this.initialSent.add(id)
          batch.push(
            ...this.options.initialEvents.map((e) => ({ propertyOperation: 'Initialized' as const, ...e })),
          )
        }
        if (batch.length === 0 && this.options.events.length === 0) {
          // A long poll, as cameras do: answer when an event comes or the request's Timeout ends.
          const asked = /^PT(\d+(?:\.\d+)?)S$/.exec(text(child(op, 'Timeout')) ?? '')
          const wait = Math.min(this.options.maxPullWaitMs, asked ? Number(asked[1]) * 1000 : 0)
          if (wait > 0)
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, wait)
              this.waiters.add(() => {
                clearTimeout(timer)
                resolve()
              })
            })
        }
        batch.push(...this.options.events.splice(0))
        return (
          `<tev:PullMessagesResponse><tev:CurrentTime>${iso(now)}</tev:CurrentTime><tev:TerminationTime>${iso(later)}</tev:TerminationTime>` +
          batch.map((e) => notification(e, now)).join('') +
          '</tev:PullMessagesResponse>'
        )
      }
    }
    return undefined
  }
}

/** A fault to answer instead of a body. */
class TestFault {
  constructor(
    readonly code: string,
    readonly subcodes: string[],
    readonly reason: string,
  ) {}
}

type Answer = string | TestFault | undefined

const NO_PROFILE = new TestFault('Sender', ['InvalidArgVal', 'NoProfile'], 'no such profile')

const iso = (d: Date) => createdTimestamp(d.getTime(), 0)

function notification(e: TestEvent, now: Date): string {
  const items = (tag: string, values: Record<string, string> | undefined) =>
    values
      ? `<tt:${tag}>${Object.entries(values)
          .map(([n, v]) => `<tt:SimpleItem Name="${escapeXml(n)}" Value="${escapeXml(v)}"/>`)
          .join('')}</tt:${tag}>`
      : ''
  return (
    '<wsnt:NotificationMessage>' +
    `<wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">${escapeXml(e.topic)}</wsnt:Topic>` +
    `<wsnt:Message><tt:Message UtcTime="${e.utcTime ?? iso(now)}" PropertyOperation="${e.propertyOperation ?? 'Changed'}">` +
    items('Source', e.source) +
    items('Data', e.data) +
    '</tt:Message></wsnt:Message></wsnt:NotificationMessage>'
  )
}

function soap(body: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    `<SOAP-ENV:Envelope xmlns:SOAP-ENV="${NS.soap}" xmlns:tt="${NS.tt}" xmlns:tds="${NS.tds}" xmlns:trt="${NS.trt}" ` +
    `xmlns:tr2="${NS.tr2}" xmlns:tptz="${NS.tptz}" xmlns:tev="${NS.tev}" xmlns:wsnt="${NS.wsnt}" ` +
    'xmlns:wsa5="http://www.w3.org/2005/08/addressing" xmlns:tns1="http://www.onvif.org/ver10/topics">' +
    `<SOAP-ENV:Header/><SOAP-ENV:Body>${body}</SOAP-ENV:Body></SOAP-ENV:Envelope>`
  )
}
