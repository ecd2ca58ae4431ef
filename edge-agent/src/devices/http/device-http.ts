import http from 'node:http'
import https from 'node:https'
import { basicAuthorization, type Challenge, digestAuthorization, parseChallenges } from './digest.ts'

/**
 * HTTP to cameras and NVRs (ONVIF SOAP, ISAPI, Dahua CGI): Digest (and Basic only where allowed)
 * on a 401, bounded bodies, timeouts, and errors a caller can map (`auth`, `unreachable`,
 * `timeout`, `too_large`, `protocol`). Cameras' HTTPS certificates are self-signed almost always
 * and carry no name a site could verify, so TLS here encrypts without authenticating the device
 * (docs/devices.md); credentials still never go out in clear unless Basic over plain HTTP is
 * explicitly allowed for that camera.
 */
export type DeviceHttpErrorCode = 'auth' | 'unreachable' | 'timeout' | 'too_large' | 'protocol'

export class DeviceHttpError extends Error {
  override name = 'DeviceHttpError'
  constructor(
    readonly code: DeviceHttpErrorCode,
    message: string,
    readonly status?: number,
  ) {
    super(message)
  }
}

export interface DeviceCredentials {
  username: string
  password: string
}

export interface DeviceRequest {
  url: string
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE'
  headers?: Record<string, string>
  body?: Buffer | string
  credentials?: DeviceCredentials
  /** Answer a Basic challenge (only when the device offers nothing better). Default false. */
  allowBasic?: boolean
  /** Whole request, ms (default 10 s). */
  timeoutMs?: number
  /** Largest body read (default 4 MiB). */
  maxBytes?: number
  signal?: AbortSignal
}

export interface DeviceResponse {
  status: number
  headers: http.IncomingHttpHeaders
  body: Buffer
}

export const DEFAULT_DEVICE_TIMEOUT_MS = 10_000
export const DEFAULT_DEVICE_MAX_BYTES = 4 * 1024 * 1024

/** Sends one request and reads the body; on a 401 answers the challenge once. */
export async function deviceRequest(r: DeviceRequest): Promise<DeviceResponse> {
  const first = await send(r, undefined)
  if (first.status !== 401 || !r.credentials) return first
  const authorization = answer(r, first.headers['www-authenticate'])
  const second = await send(r, authorization)
  if (second.status === 401) throw new DeviceHttpError('auth', 'the device refused the credentials', 401)
  return second
}

/**
 * Opens a long-lived response (an event stream) with the same authentication; the caller reads
 * `response` and calls `close()`. `idleMs` (default 30 s) ends a stream that goes silent.
 */
export async function deviceStream(r: DeviceRequest & { idleMs?: number }): Promise<{
  status: number
  headers: http.IncomingHttpHeaders
  response: http.IncomingMessage
  close(): void
}> {
  let opened = await open(r, undefined)
  if (opened.response.statusCode === 401 && r.credentials) {
    const challenge = opened.response.headers['www-authenticate']
    opened.response.resume()
    opened.close()
    opened = await open(r, answer(r, challenge))
    if (opened.response.statusCode === 401) {
      opened.close()
      throw new DeviceHttpError('auth', 'the device refused the credentials', 401)
    }
  }
  const { response, close } = opened
  response.setTimeout(r.idleMs ?? 30_000, () =>
    response.destroy(new DeviceHttpError('timeout', 'the device went silent')),
  )
  return { status: response.statusCode ?? 0, headers: response.headers, response, close }
}

function answer(r: DeviceRequest, header: string | string[] | undefined): string {
  const creds = r.credentials as DeviceCredentials
  const challenges: Challenge[] = parseChallenges(header)
  const digest = challenges.find((c) => c.scheme === 'digest')
  if (digest) {
    const u = new URL(r.url)
    return digestAuthorization(digest, {
      method: r.method ?? 'GET',
      uri: `${u.pathname}${u.search}`,
      username: creds.username,
      password: creds.password,
      nonceCount: 1,
    })
  }
  if (challenges.some((c) => c.scheme === 'basic') && r.allowBasic)
    return basicAuthorization(creds.username, creds.password)
  throw new DeviceHttpError(
    'auth',
    'the device asks for an authentication this camera is not allowed to use',
    401,
  )
}

function send(r: DeviceRequest, authorization: string | undefined): Promise<DeviceResponse> {
  const max = r.maxBytes ?? DEFAULT_DEVICE_MAX_BYTES
  return open(r, authorization).then(
    ({ response, close }) =>
      new Promise<DeviceResponse>((resolve, reject) => {
        const chunks: Buffer[] = []
        let size = 0
        response.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > max) {
            close()
            reject(new DeviceHttpError('too_large', `the device's answer is over ${max} bytes`))
            return
          }
          chunks.push(chunk)
        })
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks),
          }),
        )
        response.on('error', (err) => reject(asDeviceError(err)))
      }),
  )
}

function open(
  r: DeviceRequest,
  authorization: string | undefined,
): Promise<{ response: http.IncomingMessage; close(): void }> {
  let url: URL
  try {
    url = new URL(r.url)
  } catch {
    return Promise.reject(new DeviceHttpError('protocol', 'not a device URL'))
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return Promise.reject(new DeviceHttpError('protocol', `unsupported scheme ${url.protocol}`))
  const body =
    r.body === undefined ? undefined : Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body, 'utf8')
  const headers: Record<string, string> = {
    'user-agent': 'TS-VMS agent',
    ...r.headers,
    ...(body ? { 'content-length': String(body.length) } : {}),
    ...(authorization ? { authorization } : {}),
  }
  const transport = url.protocol === 'https:' ? https : http
  return new Promise((resolve, reject) => {
    const req = transport.request(url, {
      method: r.method ?? 'GET',
      headers,
      signal: r.signal,
      timeout: r.timeoutMs ?? DEFAULT_DEVICE_TIMEOUT_MS,
      ...(url.protocol === 'https:' ? { rejectUnauthorized: false } : {}),
    })
    req.on('timeout', () => req.destroy(new DeviceHttpError('timeout', 'the device did not answer in time')))
    req.on('error', (err) => reject(asDeviceError(err)))
    req.on('response', (response) => resolve({ response, close: () => req.destroy() }))
    req.end(body)
  })
}

function asDeviceError(err: unknown): DeviceHttpError {
  if (err instanceof DeviceHttpError) return err
  const e = err as NodeJS.ErrnoException
  if (e?.name === 'AbortError') return new DeviceHttpError('timeout', 'the request was cancelled')
  if (
    e?.code === 'ECONNREFUSED' ||
    e?.code === 'EHOSTUNREACH' ||
    e?.code === 'ENETUNREACH' ||
    e?.code === 'ENOTFOUND' ||
    e?.code === 'ECONNRESET' ||
    e?.code === 'EAI_AGAIN'
  )
    return new DeviceHttpError('unreachable', `the device is unreachable (${e.code})`)
  if (e?.code === 'HPE_INVALID_CONSTANT' || e?.code?.startsWith?.('HPE_'))
    return new DeviceHttpError('protocol', 'the device answered something that is not HTTP')
  return new DeviceHttpError(
    'unreachable',
    `the device could not be reached: ${e?.message ?? String(err)}`.slice(0, 300),
  )
}
