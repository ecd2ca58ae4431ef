import { readdirSync, readFileSync } from 'node:fs'
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import type { Logger } from 'pino'
import { z } from 'zod'
import { type Credentials, hasCredentials, readCredentials } from '../credentials.ts'
import { enroll } from '../enroll.ts'
import { parsePin } from '../link/hub-tls.ts'
import { writeLocalSettings } from '../local-settings.ts'
import { findFfmpeg } from '../media/ffmpeg.ts'
import {
  addBody,
  addCameras,
  applyRecording,
  type CreatedCamera,
  discoverBody,
  discoverHere,
  type Preview,
  parsed,
  previewBody,
  previewStream,
  probeBody,
  probeHere,
  quotaBody,
  recordingBody,
  summary,
} from './cameras.ts'
import { ClientError, invalid } from './errors.ts'
import { type GateOptions, generatePin, removePinFile, SetupGate, writePinFile } from './gate.ts'
import {
  checkHub,
  type HubCertificate,
  HubError,
  type HubReachability,
  HubSession,
  hubCertificate,
  parseHubUrl,
} from './hub-client.ts'
import { readSetupState, writeSetupState } from './state.ts'
import { isLoopback, loadSetupTls } from './tls.ts'

/**
 * The agent's setup wizard: a small web server for the installer, on loopback unless told
 * otherwise (then TLS with a self-signed certificate). Its page is a static React app
 * (edge-agent/setup-ui) under a strict CSP; its API is JSON under /api/setup/*. Every call but
 * the unlock needs the session the setup PIN opened; POSTs need the `X-VMS-Setup` header (a
 * cross-site form or script cannot send it without a CORS preflight, which is never granted),
 * bodies are bounded, and a client's mistake is a 4xx that says what is wrong.
 *
 * Steps: (1) enroll at the hub with a code, (2) the installer signs in to the hub with their own
 * account (the session is kept here, in memory), (3) cameras, (4) storage and recording, (5) check
 * and finish. Discovery, probes and previews (step 3) run here and need no hub; adding cameras,
 * their recording and analytics (step 4) and the summary (step 5) go through the hub as the installer.
 */
export const CSRF_HEADER = 'x-vms-setup'
export const MAX_BODY_BYTES = 16 * 1024

const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "media-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

export type StepId = 'enroll' | 'sign-in' | 'cameras' | 'recording' | 'finish'
export type StepState = 'done' | 'current' | 'waiting' | 'unavailable' | 'later'

/** The wizard's steps in order; `needsHub`: it cannot be done while the hub is unreachable. */
export const STEPS: { id: StepId; title: string; needsHub: boolean; built: boolean }[] = [
  { id: 'enroll', title: 'Connect to the hub', needsHub: true, built: true },
  { id: 'sign-in', title: 'Sign in', needsHub: true, built: true },
  { id: 'cameras', title: 'Add cameras', needsHub: true, built: true },
  { id: 'recording', title: 'Storage and recording', needsHub: true, built: true },
  { id: 'finish', title: 'Check and finish', needsHub: true, built: true },
]

export interface SetupWizardOptions {
  dataDir: string
  host: string
  port: number
  /** The built page (setup-ui/dist, see setup-build.ts). */
  distDir: string
  logger: Logger
  /** Agent name sent at enrollment (default: the hub names it after the host). */
  agentName?: string
  /** For tests: a fixed PIN and gate limits. */
  pin?: string
  gate?: Omit<GateOptions, 'pin'>
  /** The agent's VMS_AGENT_RECORDING_QUOTA_BYTES (shown in step 4; null: none). */
  recordingQuotaBytes?: number | null
  /** The quota is set in the agent's environment: shown, not changed here (the environment wins). */
  recordingQuotaFixed?: boolean
  /**
   * Called when step 4 saves a new quota (written to <data dir>/agent-settings.json first): the
   * agent running in this process applies it at once. Without it the quota applies at the agent's
   * next start (the wizard alone, `npm run agent -- setup`).
   */
  onQuotaChanged?: (bytes: number | null) => void | Promise<void>
  /** ffmpeg, to decode preview stills (default: FFMPEG_PATH or on PATH; null: none). */
  ffmpeg?: string | null
  /** For tests: the discovery run (default the agent's own). */
  discover?: Parameters<typeof discoverHere>[1]
  /** Called once the agent holds credentials (enrolled here). */
  onEnrolled?: (credentials: Credentials) => void | Promise<void>
}

interface SessionData {
  hub?: HubSession
  /** Cameras added in this session (step 3), for step 4. */
  created?: CreatedCamera[]
  retentionDays?: number
  analytics?: boolean
  recordingSaved?: boolean
  /** The last preview's video (H.264 as fragmented MP4), served to the page's <video>. */
  preview?: { id: number; mp4: Buffer }
}

/** Retention given to cameras added before step 4 sets one (the hub's default too). */
const DEFAULT_RETENTION_DAYS = 30

interface Asset {
  body: Buffer
  type: string
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
}

function loadAssets(distDir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>()
  const add = (rel: string) => {
    const type = TYPES[path.extname(rel)]
    if (type) assets.set(`/${rel}`, { body: readFileSync(path.join(distDir, rel)), type })
  }
  add('index.html')
  for (const f of readdirSync(path.join(distDir, 'assets'))) add(`assets/${f}`)
  if (!assets.has('/index.html')) throw new Error(`${distDir}: no index.html (build the setup page first)`)
  return assets
}

const enrollBody = z
  .object({
    hubUrl: z.string().max(2000),
    code: z.string().trim().min(1, 'Enter the enrollment code.').max(200),
    /** The hub certificate's SHA-256 the installer confirmed: pinned instead of verified. */
    pin: z.string().max(200).optional(),
  })
  .strict()
const loginBody = z
  .object({
    tenant: z.string().trim().min(1, 'Enter the tenant.').max(63),
    username: z.string().trim().min(1, 'Enter your username.').max(100),
    password: z.string().min(1, 'Enter your password.').max(4096),
  })
  .strict()
const unlockBody = z.object({ pin: z.string().max(64) }).strict()

export class SetupWizard {
  readonly pin: string
  readonly pinFile: string
  /** Where the installer opens it. */
  url = ''
  /** The TLS certificate's fingerprint when it listens beyond loopback. */
  tlsFingerprint: string | undefined
  /** Settles once the agent is enrolled (at once if it already was). */
  readonly enrolled: Promise<Credentials>
  /** Settles when the installer finishes setup (the wizard has closed by then). */
  readonly finished: Promise<void>

  readonly #o: SetupWizardOptions
  readonly #gate: SetupGate<SessionData>
  readonly #assets: Map<string, Asset>
  #server: Server | undefined
  #secure = false
  #port = 0
  #enrolledResolve!: (c: Credentials) => void
  #finishedResolve!: () => void
  #enrolling = false
  #hubCert: HubCertificate | null = null
  #reach: { at: number; value: HubReachability } | undefined
  #closed = false
  #previewing = false
  #previewSeq = 0
  /** The recordings' disk quota as set now (step 4 may change it). */
  #quotaBytes: number | null
  readonly #ffmpeg: string | undefined

  private constructor(o: SetupWizardOptions) {
    this.#o = o
    this.#quotaBytes = o.recordingQuotaBytes ?? null
    this.pin = o.pin ?? generatePin()
    this.pinFile = writePinFile(o.dataDir, this.pin)
    this.#gate = new SetupGate<SessionData>({ ...o.gate, pin: this.pin }, () => ({}))
    this.#assets = loadAssets(o.distDir)
    this.#ffmpeg = o.ffmpeg === null ? undefined : (o.ffmpeg ?? findFfmpeg())
    this.enrolled = new Promise((resolve) => {
      this.#enrolledResolve = resolve
    })
    this.finished = new Promise((resolve) => {
      this.#finishedResolve = resolve
    })
    if (hasCredentials(o.dataDir)) this.#enrolledResolve(readCredentials(o.dataDir))
  }

  static async start(o: SetupWizardOptions): Promise<SetupWizard> {
    const w = new SetupWizard(o)
    try {
      await w.#listen()
    } catch (err) {
      removePinFile(o.dataDir)
      throw err
    }
    return w
  }

  async #listen(): Promise<void> {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.#handle(req, res)
    if (isLoopback(this.#o.host)) {
      this.#server = createHttpServer(handler)
    } else {
      const tls = await loadSetupTls(this.#o.dataDir)
      this.tlsFingerprint = tls.fingerprint
      this.#secure = true
      this.#server = createHttpsServer({ cert: tls.cert, key: tls.key }, handler)
    }
    const server = this.#server
    server.headersTimeout = 10_000
    server.requestTimeout = 30_000
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.#o.port, this.#o.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    this.#port = (server.address() as AddressInfo).port
    const shown = this.#o.host.includes(':') ? `[${this.#o.host}]` : this.#o.host
    this.url = `${this.#secure ? 'https' : 'http'}://${shown}:${this.#port}/`
  }

  get port(): number {
    return this.#port
  }

  /** The recordings' disk quota as last set (null: none). */
  get recordingQuotaBytes(): number | null {
    return this.#quotaBytes
  }

  /** Stops serving, ends every session (signing the installers out at the hub) and removes the PIN file. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    removePinFile(this.#o.dataDir)
    await Promise.all(this.#gate.endAll().map((s) => s.data.hub?.logout()))
    const server = this.#server
    if (server) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('X-Content-Type-Options', 'nosniff')
    res.setHeader('Referrer-Policy', 'no-referrer')
    res.setHeader('X-Frame-Options', 'DENY')
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin')
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin')
    try {
      this.#checkHost(req)
      const url = new URL(req.url ?? '/', 'http://wizard')
      if (url.pathname.startsWith('/api/')) {
        res.setHeader('Cache-Control', 'no-store')
        await this.#api(req, res, url.pathname)
      } else {
        this.#static(req, res, url.pathname)
      }
    } catch (err) {
      if (!(err instanceof ClientError)) this.#o.logger.error({ err }, 'setup wizard: request failed')
      const e =
        err instanceof ClientError
          ? err
          : new ClientError(500, 'INTERNAL', 'Something went wrong in the agent; see its log.')
      if (res.headersSent) {
        res.destroy()
        return
      }
      for (const [k, v] of Object.entries(e.headers)) res.setHeader(k, v)
      if (e.status === 413) res.setHeader('Connection', 'close')
      sendJson(res, e.status, {
        error: {
          code: e.code,
          message: e.message,
          ...(e.details === undefined ? {} : { details: e.details }),
        },
      })
    }
  }

  /**
   * On loopback only names of this machine are accepted, so a web page elsewhere cannot reach the
   * wizard by pointing a name of its own at 127.0.0.1 (DNS rebinding).
   */
  #checkHost(req: IncomingMessage): void {
    if (this.#secure) return
    const host = (req.headers.host ?? '').toLowerCase()
    const ok = ['127.0.0.1', 'localhost', '[::1]', this.#o.host.toLowerCase()].some(
      (h) => host === `${h}:${this.#port}`,
    )
    if (!ok) throw new ClientError(421, 'WRONG_HOST', 'Open the setup wizard by its loopback address.')
  }

  #static(req: IncomingMessage, res: ServerResponse, pathname: string): void {
    if (req.method !== 'GET' && req.method !== 'HEAD')
      throw new ClientError(405, 'METHOD_NOT_ALLOWED', 'Only GET here.', { Allow: 'GET, HEAD' })
    const asset = this.#assets.get(pathname === '/' ? '/index.html' : pathname)
    if (!asset) throw new ClientError(404, 'NOT_FOUND', 'No such page.')
    res.statusCode = 200
    res.setHeader('Content-Type', asset.type)
    if (asset.type.startsWith('text/html')) {
      res.setHeader('Content-Security-Policy', PAGE_CSP)
      res.setHeader('Cache-Control', 'no-store')
    } else {
      res.setHeader('Cache-Control', 'public, max-age=31536000, immutable')
    }
    res.setHeader('Content-Length', asset.body.length)
    res.end(req.method === 'HEAD' ? undefined : asset.body)
  }

  get #cookieName(): string {
    return `vms-setup-${this.#port}`
  }

  #sessionId(req: IncomingMessage): string | undefined {
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const [k, ...v] = part.trim().split('=')
      if (k === this.#cookieName) return v.join('=')
    }
    return undefined
  }

  async #api(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> {
    const route = pathname.slice('/api/setup/'.length)
    const routes: Record<string, 'GET' | 'POST'> = {
      unlock: 'POST',
      status: 'GET',
      enroll: 'POST',
      login: 'POST',
      logout: 'POST',
      lock: 'POST',
      finish: 'POST',
      discover: 'POST',
      probe: 'POST',
      preview: 'POST',
      'preview.mp4': 'GET',
      cameras: 'POST',
      recording: 'POST',
      quota: 'POST',
      summary: 'GET',
    }
    const method = pathname.startsWith('/api/setup/') ? routes[route] : undefined
    if (!method) throw new ClientError(404, 'NOT_FOUND', 'No such API call.')
    if (req.method !== method)
      throw new ClientError(405, 'METHOD_NOT_ALLOWED', `Use ${method}.`, { Allow: method })
    let body: unknown
    if (method === 'POST') {
      if (req.headers[CSRF_HEADER] !== '1')
        throw new ClientError(403, 'CSRF', `Requests must carry the ${CSRF_HEADER} header.`)
      body = await readJson(req)
    }
    const client = req.socket.remoteAddress ?? 'unknown'
    if (route === 'unlock') return this.#unlock(res, client, body)

    const session = this.#gate.session(this.#sessionId(req))
    // The page asks first whether it is unlocked: that answer tells nothing else.
    if (!session && route === 'status') return sendJson(res, 200, { locked: true })
    if (!session) throw new ClientError(401, 'LOCKED', 'Enter the setup PIN first.')
    switch (route) {
      case 'status':
        return sendJson(res, 200, { locked: false, ...(await this.#status(session.data)) })
      case 'enroll':
        return this.#enroll(res, session.data, body)
      case 'login':
        return this.#login(res, session.data, body)
      case 'logout':
        await session.data.hub?.logout()
        delete session.data.hub
        return sendJson(res, 200, { locked: false, ...(await this.#status(session.data)) })
      case 'lock':
        await session.data.hub?.logout()
        this.#gate.end(session.id)
        res.setHeader('Set-Cookie', this.#cookie('', 0))
        res.statusCode = 204
        res.end()
        return
      case 'finish':
        return this.#finish(res)
      case 'discover':
        return sendJson(res, 200, await discoverHere(parsed(discoverBody, body), this.#o.discover))
      case 'probe':
        return sendJson(res, 200, await probeHere(parsed(probeBody, body)))
      case 'preview':
        return this.#preview(res, session.data, body)
      case 'preview.mp4':
        return this.#previewVideo(req, res, session.data)
      case 'cameras':
        return this.#addCameras(res, session.data, body)
      case 'recording':
        return this.#recording(res, session.data, body)
      case 'quota':
        return this.#quota(res, session.data, body)
      case 'summary':
        return this.#summary(res, session.data)
    }
  }

  #cookie(value: string, maxAge?: number): string {
    return [
      `${this.#cookieName}=${value}`,
      'Path=/',
      'HttpOnly',
      'SameSite=Strict',
      ...(this.#secure ? ['Secure'] : []),
      ...(maxAge === undefined ? [] : [`Max-Age=${maxAge}`]),
    ].join('; ')
  }

  #unlock(res: ServerResponse, client: string, body: unknown): void {
    const parsed = unlockBody.safeParse(body)
    if (!parsed.success) throw new ClientError(400, 'BAD_REQUEST', 'Send {"pin": "..."}.')
    const result = this.#gate.unlock(client, parsed.data.pin)
    if (result.ok) {
      this.#o.logger.info({ client }, 'setup wizard: unlocked with the PIN')
      res.setHeader('Set-Cookie', this.#cookie(result.sessionId))
      res.statusCode = 204
      res.end()
      return
    }
    if (result.reason === 'limited') {
      throw new ClientError(
        429,
        'TOO_MANY_TRIES',
        `Too many wrong PINs: try again in ${result.retryAfterSeconds} s.`,
        { 'Retry-After': String(result.retryAfterSeconds) },
        { retryAfterSeconds: result.retryAfterSeconds },
      )
    }
    this.#o.logger.warn({ client }, 'setup wizard: wrong PIN')
    throw new ClientError(
      401,
      'WRONG_PIN',
      `That is not the setup PIN. It is on the agent's console and in its setup-pin file (${result.triesLeft} ${result.triesLeft === 1 ? 'try' : 'tries'} left this minute).`,
      {},
      { triesLeft: result.triesLeft },
    )
  }

  async #reachability(hubUrl: string): Promise<HubReachability> {
    if (this.#reach && Date.now() - this.#reach.at < 5000) return this.#reach.value
    const credentials = hasCredentials(this.#o.dataDir) ? readCredentials(this.#o.dataDir) : undefined
    const value = await checkHub(hubUrl, credentials?.hubPinSha256 ?? undefined)
    this.#reach = { at: Date.now(), value }
    return value
  }

  async #status(data: SessionData) {
    const credentials = hasCredentials(this.#o.dataDir) ? readCredentials(this.#o.dataDir) : undefined
    const hub = credentials ? await this.#reachability(credentials.hubUrl) : undefined
    const installer = data.hub?.installer ?? null
    const done: Record<StepId, boolean> = {
      enroll: credentials !== undefined,
      'sign-in': installer !== null,
      cameras: (data.created?.length ?? 0) > 0,
      recording: data.recordingSaved === true,
      finish: false,
    }
    let current: StepId | undefined
    const steps = STEPS.map((s) => {
      let state: StepState
      let reason: string | undefined
      if (done[s.id]) state = 'done'
      else if (!s.built) {
        state = 'later'
        reason = 'Not in this version of the wizard: do it from the hub console.'
      } else if (s.id !== 'enroll' && !credentials) {
        state = 'waiting'
        reason = 'Connect the agent to the hub first.'
      } else if (s.needsHub && hub && !hub.reachable) {
        state = 'unavailable'
        reason =
          s.id === 'cameras'
            ? `The hub cannot be reached (${hub.error ?? 'no answer'}): cameras can be found, probed and previewed, but not added until it answers.`
            : `The hub cannot be reached (${hub.error ?? 'no answer'}); this step needs it.`
      } else if (s.id !== 'enroll' && s.id !== 'sign-in' && !installer) {
        state = 'waiting'
        reason =
          s.id === 'cameras'
            ? 'Sign in to add cameras; finding, probing and previewing them works now.'
            : 'Sign in first: this step works through the hub as you.'
      } else if (s.id === 'recording' && !done.cameras) {
        state = 'waiting'
        reason = 'Add cameras first.'
      } else state = current ? 'waiting' : 'current'
      if (state === 'current') current = s.id
      return { id: s.id, title: s.title, state, ...(reason ? { reason } : {}) }
    })
    return {
      agent: credentials
        ? {
            agentId: credentials.agentId,
            siteId: credentials.siteId,
            hubUrl: credentials.hubUrl,
            brokerFingerprint: credentials.caFingerprint,
            hubPinned: Boolean(credentials.hubPinSha256),
          }
        : null,
      hub: hub ? { url: credentials?.hubUrl, ...hub, certificate: this.#hubCert } : null,
      installer,
      steps,
      secure: this.#secure,
      cameras: data.created ?? [],
      recording: {
        retentionDays: data.retentionDays ?? DEFAULT_RETENTION_DAYS,
        analytics: data.analytics ?? null,
        quotaBytes: this.#quotaBytes,
        /** Set in the agent's environment: not changed here. */
        quotaFixed: this.#o.recordingQuotaFixed === true,
        /** A quota saved here is in force at once (else at the agent's next start). */
        quotaAppliesNow: this.#o.onQuotaChanged !== undefined,
      },
      ffmpeg: this.#ffmpeg !== undefined,
    }
  }

  async #enroll(res: ServerResponse, data: SessionData, body: unknown): Promise<void> {
    const parsed = enrollBody.safeParse(body)
    if (!parsed.success) throw invalid(parsed.error)
    const hubUrl = parseHubUrl(parsed.data.hubUrl)
    if (typeof hubUrl !== 'string') throw new ClientError(400, 'BAD_HUB_URL', hubUrl.error)
    if (hasCredentials(this.#o.dataDir))
      throw new ClientError(409, 'ALREADY_ENROLLED', 'This agent is already enrolled.')
    if (this.#enrolling) throw new ClientError(409, 'BUSY', 'An enrollment is already under way.')
    this.#enrolling = true
    try {
      let cert: HubCertificate | null
      try {
        cert = await hubCertificate(hubUrl)
      } catch (err) {
        throw new ClientError(502, 'HUB_UNREACHABLE', `The hub cannot be reached: ${(err as Error).message}.`)
      }
      let pin: string | undefined
      if (parsed.data.pin !== undefined) {
        const p = parsePin(parsed.data.pin)
        if (typeof p !== 'string') throw new ClientError(400, 'BAD_PIN', p.error)
        pin = p
      }
      if (pin && !cert)
        throw new ClientError(400, 'BAD_PIN', 'A plain http:// hub has no certificate to pin.')
      if (cert && !cert.verified && !pin) {
        throw new ClientError(
          422,
          'HUB_CERT_UNTRUSTED',
          `This machine does not trust the hub's certificate (${cert.error ?? 'unverified'}); its SHA-256 fingerprint is ${cert.fingerprint}. Give the hub a certificate from a trusted CA, or add its CA to this machine — or, once the hub's administrator confirms this fingerprint, trust it here (the agent then accepts that certificate only).`,
          {},
          { fingerprint: cert.fingerprint },
        )
      }
      if (cert && pin && parsePin(cert.fingerprint) !== pin)
        throw new ClientError(
          422,
          'HUB_PIN_MISMATCH',
          `The hub now shows another certificate (${cert.fingerprint}) than the one you confirmed: nothing was sent to it.`,
          {},
          { fingerprint: cert.fingerprint },
        )
      let credentials: Credentials
      try {
        credentials = await enroll({
          hubUrl,
          code: parsed.data.code,
          dataDir: this.#o.dataDir,
          ...(pin ? { pinSha256: pin } : {}),
          ...(this.#o.agentName ? { name: this.#o.agentName } : {}),
        })
      } catch (err) {
        const message = (err as Error).message
        if (message.startsWith('cannot reach'))
          throw new ClientError(502, 'HUB_UNREACHABLE', `The hub cannot be reached: ${message}.`)
        const refused = /^enrollment refused \((\d+)\): (.*)$/s.exec(message)
        if (refused)
          throw new ClientError(
            422,
            'ENROLLMENT_REFUSED',
            `The hub refused the code: ${refused[2]}`,
            {},
            {
              hubStatus: Number(refused[1]),
            },
          )
        throw new ClientError(502, 'HUB_ANSWER', `The hub's answer was not understood: ${message}`)
      }
      this.#hubCert = cert
      this.#reach = { at: Date.now(), value: { reachable: true } }
      writeSetupState(this.#o.dataDir, { finished: false, enrolledAt: new Date().toISOString() })
      this.#o.logger.info({ agentId: credentials.agentId, hub: hubUrl }, 'setup wizard: enrolled')
      this.#enrolledResolve(credentials)
      await this.#o.onEnrolled?.(credentials)
    } finally {
      this.#enrolling = false
    }
    sendJson(res, 201, { locked: false, ...(await this.#status(data)) })
  }

  async #login(res: ServerResponse, data: SessionData, body: unknown): Promise<void> {
    const parsed = loginBody.safeParse(body)
    if (!parsed.success) throw invalid(parsed.error)
    if (!hasCredentials(this.#o.dataDir))
      throw new ClientError(409, 'NOT_ENROLLED', 'Connect the agent to the hub first.')
    const credentials = readCredentials(this.#o.dataDir)
    let session: HubSession
    try {
      session = await HubSession.login(credentials.hubUrl, credentials, parsed.data)
    } catch (err) {
      if (!(err instanceof HubError)) throw err
      if (err.status === 0) {
        this.#reach = { at: Date.now(), value: { reachable: false, error: err.message } }
        throw new ClientError(502, 'HUB_UNREACHABLE', `The hub cannot be reached: ${err.message}.`)
      }
      if (err.status === 401 || err.status === 400)
        throw new ClientError(403, 'SIGN_IN_REFUSED', `The hub refused the sign-in: ${err.message}`)
      if (err.status === 403 || err.status === 404)
        throw new ClientError(403, 'NOT_AN_INSTALLER', err.message)
      if (err.status === 429) throw new ClientError(429, 'HUB_RATE_LIMITED', `The hub says: ${err.message}`)
      throw new ClientError(502, 'HUB_ERROR', `The hub answered ${err.status}: ${err.message}`)
    }
    await data.hub?.logout()
    data.hub = session
    this.#o.logger.info(
      { username: session.installer.username, tenant: session.installer.tenant },
      'setup wizard: installer signed in',
    )
    sendJson(res, 200, { locked: false, ...(await this.#status(data)) })
  }

  /** One preview at a time on this machine (each holds an RTSP session and may run ffmpeg). */
  async #preview(res: ServerResponse, data: SessionData, body: unknown): Promise<void> {
    const input = parsed(previewBody, body)
    if (this.#previewing)
      throw new ClientError(409, 'PREVIEW_BUSY', 'A preview is already playing; try again in a few seconds.')
    this.#previewing = true
    let preview: Preview
    try {
      preview = await previewStream(input, this.#ffmpeg)
    } finally {
      this.#previewing = false
    }
    const { mp4, ...rest } = preview
    if (mp4) data.preview = { id: ++this.#previewSeq, mp4 }
    else delete data.preview
    sendJson(res, 200, { ...rest, video: mp4 ? `/api/setup/preview.mp4?n=${data.preview?.id}` : null })
  }

  /** The last preview as video/mp4 (byte ranges honoured, as media elements ask for them). */
  #previewVideo(req: IncomingMessage, res: ServerResponse, data: SessionData): void {
    const mp4 = data.preview?.mp4
    if (!mp4) throw new ClientError(404, 'NO_PREVIEW', 'No preview has been recorded.')
    res.setHeader('Content-Type', 'video/mp4')
    res.setHeader('Accept-Ranges', 'bytes')
    const range = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range ?? ''))
    if (range && (range[1] || range[2])) {
      const start = range[1] ? Number(range[1]) : Math.max(0, mp4.length - Number(range[2]))
      const end = range[1] && range[2] ? Math.min(Number(range[2]), mp4.length - 1) : mp4.length - 1
      if (start >= mp4.length || start > end) {
        res.statusCode = 416
        res.setHeader('Content-Range', `bytes */${mp4.length}`)
        res.end()
        return
      }
      res.statusCode = 206
      res.setHeader('Content-Range', `bytes ${start}-${end}/${mp4.length}`)
      res.setHeader('Content-Length', end - start + 1)
      res.end(mp4.subarray(start, end + 1))
      return
    }
    res.statusCode = 200
    res.setHeader('Content-Length', mp4.length)
    res.end(mp4)
  }

  /** The hub session and the agent's binding a step that works through the hub needs. */
  #asInstaller(data: SessionData): { hub: HubSession; agent: Credentials } {
    if (!hasCredentials(this.#o.dataDir))
      throw new ClientError(409, 'NOT_ENROLLED', 'Connect the agent to the hub first.')
    if (!data.hub) throw new ClientError(409, 'NOT_SIGNED_IN', 'Sign in to the hub first (step 2).')
    return { hub: data.hub, agent: readCredentials(this.#o.dataDir) }
  }

  async #addCameras(res: ServerResponse, data: SessionData, body: unknown): Promise<void> {
    const input = parsed(addBody, body)
    const { hub, agent } = this.#asInstaller(data)
    const results = await addCameras(hub, agent, input, data.retentionDays ?? DEFAULT_RETENTION_DAYS)
    const created = results.flatMap((r) => (r.status === 'created' ? [{ id: r.cameraId, name: r.name }] : []))
    data.created = [...(data.created ?? []), ...created]
    this.#o.logger.info(
      { created: created.length, failed: results.length - created.length, username: hub.installer.username },
      'setup wizard: cameras added through the hub',
    )
    sendJson(res, 200, { results, status: { locked: false, ...(await this.#status(data)) } })
  }

  async #recording(res: ServerResponse, data: SessionData, body: unknown): Promise<void> {
    const input = parsed(recordingBody, body)
    const { hub } = this.#asInstaller(data)
    const cameras = data.created ?? []
    if (cameras.length === 0) throw new ClientError(409, 'NO_CAMERAS', 'Add cameras first (step 3).')
    const results = await applyRecording(hub, cameras, input)
    data.retentionDays = input.retentionDays
    data.analytics = input.analytics
    if (results.every((r) => r.ok)) data.recordingSaved = true
    sendJson(res, 200, { results, status: { locked: false, ...(await this.#status(data)) } })
  }

  /**
   * Step 4: the recordings' disk quota, a setting of this machine (not the hub's): saved in
   * <data dir>/agent-settings.json and handed to the agent running here. Needs the PIN session
   * only (neither the hub nor the sign-in); refused when the environment sets it (it would win).
   */
  async #quota(res: ServerResponse, data: SessionData, body: unknown): Promise<void> {
    const input = parsed(quotaBody, body)
    if (this.#o.recordingQuotaFixed)
      throw new ClientError(
        409,
        'QUOTA_FIXED',
        "The quota is set in the agent's environment (VMS_AGENT_RECORDING_QUOTA_BYTES), which wins: change it there and restart the agent.",
      )
    writeLocalSettings(this.#o.dataDir, { VMS_AGENT_RECORDING_QUOTA_BYTES: input.quotaBytes })
    this.#quotaBytes = input.quotaBytes
    this.#o.logger.info({ quotaBytes: input.quotaBytes }, 'setup wizard: recording disk quota saved')
    await this.#o.onQuotaChanged?.(input.quotaBytes)
    sendJson(res, 200, { locked: false, ...(await this.#status(data)) })
  }

  async #summary(res: ServerResponse, data: SessionData): Promise<void> {
    const { hub, agent } = this.#asInstaller(data)
    sendJson(
      res,
      200,
      await summary(hub, agent, this.#quotaBytes, { preferLocal: this.#o.onQuotaChanged !== undefined }),
    )
  }

  async #finish(res: ServerResponse): Promise<void> {
    if (!hasCredentials(this.#o.dataDir))
      throw new ClientError(409, 'NOT_ENROLLED', 'Connect the agent to the hub first.')
    const prior = readSetupState(this.#o.dataDir)
    writeSetupState(this.#o.dataDir, {
      ...prior,
      finished: true,
      finishedAt: new Date().toISOString(),
    })
    this.#o.logger.info('setup wizard: setup finished; closing the wizard')
    res.on('finish', () => {
      void this.close().then(() => this.#finishedResolve())
    })
    sendJson(res, 200, { finished: true })
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.statusCode = status
  res.setHeader('Content-Type', 'application/json; charset=utf-8')
  res.setHeader('Content-Length', Buffer.byteLength(text))
  res.end(text)
}

/** A JSON body of at most MAX_BODY_BYTES. */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
  if (type !== 'application/json')
    throw new ClientError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send JSON (Content-Type: application/json).')
  const declared = Number(req.headers['content-length'] ?? '0')
  if (declared > MAX_BODY_BYTES)
    throw new ClientError(413, 'TOO_LARGE', `Bodies are at most ${MAX_BODY_BYTES} bytes.`)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES)
      throw new ClientError(413, 'TOO_LARGE', `Bodies are at most ${MAX_BODY_BYTES} bytes.`)
    chunks.push(chunk)
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new ClientError(400, 'BAD_JSON', 'The body is not valid JSON.')
  }
}
