import type { IncomingMessage } from 'node:http'
import https from 'node:https'
import { isIP } from 'node:net'
import { type Duplex, Readable } from 'node:stream'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import { type PeerCertificate, rootCertificates, type TLSSocket, connect as tlsConnect } from 'node:tls'

/**
 * The agent's HTTPS to the hub, verified or pinned.
 *
 * - Without a pin (the default), the hub's certificate is verified against this machine's CAs and
 *   the hub's name, as any HTTPS client does: `hubFetch` is the global `fetch`.
 * - With a pin (`enroll --pin`, kept in the credentials as `hubPinSha256`), the connection is
 *   accepted only if the certificate the hub shows has exactly that SHA-256 fingerprint, whatever
 *   the CAs (a self-signed hub) and whatever name the hub is reached by. The check is made once the
 *   TLS handshake is done and before the request is written: nothing (no secret) is sent to a
 *   server that is not the pinned one.
 *
 * `probeHubCertificate` reads the certificate a hub shows without trusting it, for an installer to
 * compare with the hub's (the setup wizard shows it before enrolling).
 *
 * The broker's certificate (MQTT over TLS) is pinned apart, in link/hub-link.ts.
 */

/** A SHA-256 fingerprint as `X509Certificate.fingerprint256` prints it: `AB:CD:…` (32 bytes). */
export type Sha256Fingerprint = string

/** The canonical form, as stored in the credentials. */
export const PIN_PATTERN = /^[0-9A-F]{2}(:[0-9A-F]{2}){31}$/

/**
 * A pin as typed (64 hex digits, or 32 colon-separated pairs; any case; spaces around ignored),
 * in the canonical form `AB:CD:…`; an error (a message for the installer) when it is not one.
 */
export function parsePin(input: unknown): Sha256Fingerprint | { error: string } {
  if (typeof input !== 'string') return { error: 'The certificate fingerprint must be text.' }
  const text = input.trim().toUpperCase()
  let hex: string
  if (/^[0-9A-F]{64}$/.test(text)) hex = text
  else if (PIN_PATTERN.test(text)) hex = text.replaceAll(':', '')
  else
    return {
      error:
        'The certificate fingerprint must be a SHA-256: 64 hex digits, or 32 pairs separated by colons (AB:CD:…).',
    }
  return hex.match(/../g)?.join(':') ?? ''
}

/** `parsePin` that throws. */
export function normalizePin(input: string): Sha256Fingerprint {
  const pin = parsePin(input)
  if (typeof pin !== 'string') throw new Error(pin.error)
  return pin
}

/** The hub's certificate was not the pinned one: the connection was closed before anything was sent. */
export class HubPinMismatchError extends Error {
  readonly code = 'HUB_PIN_MISMATCH'
  constructor(
    readonly pinned: Sha256Fingerprint,
    readonly actual: Sha256Fingerprint | undefined,
  ) {
    super(
      actual
        ? `the hub's certificate (SHA-256 ${actual}) is not the pinned one (${pinned})`
        : `the hub showed no certificate (pinned: ${pinned})`,
    )
  }
}

/** Whose HTTPS to the hub is pinned: the credentials (or anything holding their `hubPinSha256`). */
export interface HubTlsOptions {
  hubPinSha256?: string | null | undefined
}

/**
 * An https.Agent that accepts a server only when its certificate's SHA-256 is `pin`: the socket is
 * handed to the request only after the handshake and the check.
 */
const CONNECT_TIMEOUT_MS = 30_000

class PinnedAgent extends https.Agent {
  constructor(readonly pin: Sha256Fingerprint) {
    super({ keepAlive: false })
  }

  override createConnection(
    options: https.RequestOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const host = String(options.host ?? options.hostname ?? 'localhost').replace(/^\[|\]$/g, '')
    const name = typeof options.servername === 'string' && options.servername ? options.servername : host
    const socket = tlsConnect({
      host,
      port: Number(options.port ?? 443),
      ...(isIP(name) ? {} : { servername: name }),
      ALPNProtocols: ['http/1.1'],
      // Verified here instead: by the fingerprint, whatever the CAs or the name say.
      rejectUnauthorized: false,
    })
    let done = false
    const finish = (err: Error | null) => {
      if (done) return
      done = true
      socket.off('error', onError)
      if (err) socket.destroy()
      callback?.(err, socket)
    }
    const onError = (err: Error) => finish(err)
    socket.once('error', onError)
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => finish(new Error('no TLS handshake with the hub in time')))
    socket.once('secureConnect', () => {
      socket.setTimeout(0)
      const actual = socket.getPeerCertificate()?.fingerprint256
      finish(actual === this.pin ? null : new HubPinMismatchError(this.pin, actual || undefined))
    })
    return undefined
  }
}

const agents = new Map<Sha256Fingerprint, PinnedAgent>()

/** The https.Agent pinning the hub's certificate, for node:https requests; undefined: not pinned. */
export function hubHttpsAgent(tls: HubTlsOptions | undefined): https.Agent | undefined {
  if (!tls?.hubPinSha256) return undefined
  const pin = normalizePin(tls.hubPinSha256)
  let agent = agents.get(pin)
  if (!agent) {
    agent = new PinnedAgent(pin)
    agents.set(pin, agent)
  }
  return agent
}

export type HubFetch = (url: string | URL, init?: RequestInit) => Promise<Response>

/**
 * `fetch` for the agent's calls to the hub: the global one when the hub is not pinned; else one
 * over node:https accepting only the pinned certificate. Pinned, redirects are not followed (a 3xx
 * is answered as it is) and a refused certificate rejects with `HubPinMismatchError`.
 */
export function hubFetch(tls: HubTlsOptions | undefined): HubFetch {
  const agent = hubHttpsAgent(tls)
  if (!agent) return (url, init) => fetch(url, init)
  return (url, init) => pinnedFetch(agent, url, init)
}

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304])

async function pinnedFetch(
  agent: https.Agent,
  input: string | URL,
  init: RequestInit = {},
): Promise<Response> {
  const url = new URL(input)
  // A pin is about TLS: plain http (a hub on a lab network) goes as it always did.
  if (url.protocol !== 'https:') return fetch(url, init)
  const signal = init.signal ?? undefined
  signal?.throwIfAborted()
  const method = (init.method ?? 'GET').toUpperCase()
  const headers: Record<string, string> = {}
  new Headers(init.headers).forEach((value, key) => {
    headers[key] = value
  })
  const body = await requestBody(init.body)
  if (typeof body !== 'undefined' && !(body instanceof Readable))
    headers['content-length'] ??= String(body.byteLength)
  return new Promise<Response>((resolve, reject) => {
    const req = https.request(url, { method, headers, agent })
    const onAbort = () => req.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'))
    signal?.addEventListener('abort', onAbort, { once: true })
    req.once('error', (err) => {
      signal?.removeEventListener('abort', onAbort)
      reject(err)
    })
    req.once('response', (res: IncomingMessage) => {
      res.once('close', () => signal?.removeEventListener('abort', onAbort))
      const out = new Headers()
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
        try {
          out.append(res.rawHeaders[i] as string, res.rawHeaders[i + 1] as string)
        } catch {}
      }
      const status = res.statusCode ?? 502
      const empty = NULL_BODY_STATUS.has(status) || method === 'HEAD'
      if (empty) res.resume()
      resolve(
        new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), {
          status,
          statusText: res.statusMessage ?? '',
          headers: out,
        }),
      )
    })
    if (body instanceof Readable) body.pipe(req)
    else req.end(body)
  })
}

/** A fetch body as node:https takes it (what the agent sends: text, bytes, a stream). */
async function requestBody(body: RequestInit['body']): Promise<Uint8Array | Readable | undefined> {
  if (body === undefined || body === null) return undefined
  if (typeof body === 'string') return Buffer.from(body)
  if (body instanceof Uint8Array) return body
  if (body instanceof ArrayBuffer) return new Uint8Array(body)
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
  if (body instanceof Blob) return new Uint8Array(await body.arrayBuffer())
  if (body instanceof URLSearchParams) return Buffer.from(body.toString())
  if (body instanceof ReadableStream) return Readable.fromWeb(body as WebReadableStream<Uint8Array>)
  // FormData and the like: let Response encode it.
  return new Uint8Array(await new Response(body as BodyInit).arrayBuffer())
}

/** What a hub's certificate says, read without trusting it. */
export interface HubCertificateInfo {
  /** SHA-256, colon-separated upper-case hex (the form `--pin` takes). */
  fingerprint256: Sha256Fingerprint
  /** Common name, else the whole subject (`O=…, CN=…`). */
  subject: string
  issuer: string
  /** When it expires (ISO 8601). */
  validTo: string
  /** Whether this machine's CAs vouch for it, for this host name. */
  trusted: boolean
  /** Why it is not trusted (OpenSSL's code, e.g. DEPTH_ZERO_SELF_SIGNED_CERT). */
  error?: string
}

function certificateName(name: PeerCertificate['subject'] | undefined): string {
  if (!name) return ''
  if (name.CN) return String(name.CN)
  return Object.entries(name)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`)
    .join(', ')
}

/**
 * Connects to an https hub, reads the certificate it shows and closes, sending nothing: its
 * fingerprint, names, expiry, and whether this machine would trust it. Null for an http hub.
 * Rejects when the hub cannot be reached (in `timeoutMs`, default 8 s). `ca`: CAs to trust besides
 * this machine's (a private CA; tests).
 */
export function probeHubCertificate(
  hubUrl: string | URL,
  options: { timeoutMs?: number; ca?: string[] } = {},
): Promise<HubCertificateInfo | null> {
  const url = new URL(hubUrl)
  if (url.protocol !== 'https:') return Promise.resolve(null)
  const host = url.hostname.replace(/^\[|\]$/g, '')
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = tlsConnect({
      host,
      port: Number(url.port || 443),
      ...(isIP(host) ? {} : { servername: host }),
      rejectUnauthorized: false,
      ...(options.ca?.length ? { ca: [...rootCertificates, ...options.ca] } : {}),
      timeout: options.timeoutMs ?? 8000,
    })
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate()
      socket.destroy()
      if (!cert?.fingerprint256) {
        reject(new Error(`${url.host} showed no certificate`))
        return
      }
      const validTo = new Date(cert.valid_to)
      resolve({
        fingerprint256: cert.fingerprint256,
        subject: certificateName(cert.subject),
        issuer: certificateName(cert.issuer),
        validTo: Number.isNaN(validTo.getTime()) ? cert.valid_to : validTo.toISOString(),
        trusted: socket.authorized,
        ...(socket.authorizationError ? { error: String(socket.authorizationError) } : {}),
      })
    })
    socket.once('timeout', () => {
      socket.destroy()
      reject(new Error(`${url.host} did not answer in time`))
    })
    socket.once('error', (err) => reject(err))
  })
}
