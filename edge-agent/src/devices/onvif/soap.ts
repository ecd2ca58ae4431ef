import { createHash, randomBytes } from 'node:crypto'
import { DeviceHttpError } from '../http/device-http.ts'
import { at, attr, child, children, find, parseXml, text, XmlError, type XmlNode } from '../xml.ts'

/**
 * SOAP 1.2 for ONVIF: envelopes with a WS-Security UsernameToken, and faults read into an
 * `OnvifError` whose code a caller can act on. Pure: no I/O, the clock and the nonce are inputs.
 * Everything is read by local name (xml.ts), because vendors put the same element under `tt:`,
 * `tds:`, `ns2:` or a default namespace.
 */
export type OnvifErrorCode =
  | 'not_authorized'
  | 'not_supported'
  | 'fault'
  | 'unreachable'
  | 'timeout'
  | 'protocol'
  | 'bad_response'

export interface OnvifFaultDetail {
  /** The top code's local name (`Sender`, `Receiver`, SOAP 1.1 `Client`…). */
  code?: string
  /** Subcodes from outermost to innermost, local names (`NotAuthorized`, `InvalidArgVal`, `NoProfile`). */
  subcodes: string[]
  reason?: string
}

export class OnvifError extends Error {
  override name = 'OnvifError'
  constructor(
    readonly code: OnvifErrorCode,
    message: string,
    readonly fault?: OnvifFaultDetail,
    readonly status?: number,
  ) {
    super(message)
  }
}

export const NS = {
  soap: 'http://www.w3.org/2003/05/soap-envelope',
  wsse: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd',
  wsu: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd',
  wsa: 'http://www.w3.org/2005/08/addressing',
  tt: 'http://www.onvif.org/ver10/schema',
  tds: 'http://www.onvif.org/ver10/device/wsdl',
  trt: 'http://www.onvif.org/ver10/media/wsdl',
  tr2: 'http://www.onvif.org/ver20/media/wsdl',
  tptz: 'http://www.onvif.org/ver20/ptz/wsdl',
  tev: 'http://www.onvif.org/ver10/events/wsdl',
  wsnt: 'http://docs.oasis-open.org/wsn/b-2',
} as const

const PASSWORD_DIGEST =
  'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest'
const PASSWORD_TEXT =
  'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText'
const BASE64_BINARY =
  'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary'

/** Escapes text for an element or a double-quoted attribute. */
export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) =>
    c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : c === '"' ? '&quot;' : '&apos;',
  )
}

/**
 * Resolves the predefined entities and character references. xml.ts leaves entities alone (no
 * DOCTYPE expansion from a hostile device), so a stream URI arrives as `…?channel=1&amp;subtype=1`
 * and must be decoded here; anything else `&name;` is left as it is.
 */
export function decodeXmlEntities(s: string): string {
  if (!s.includes('&')) return s
  return s.replace(/&(lt|gt|amp|quot|apos|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});/g, (whole, name: string) => {
    switch (name) {
      case 'lt':
        return '<'
      case 'gt':
        return '>'
      case 'amp':
        return '&'
      case 'quot':
        return '"'
      case 'apos':
        return "'"
    }
    const code = name[1] === 'x' ? Number.parseInt(name.slice(2), 16) : Number.parseInt(name.slice(1), 10)
    return code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff)
      ? String.fromCodePoint(code)
      : whole
  })
}

/** An element's text with entities resolved. */
export function xmlText(node: unknown): string | undefined {
  const t = text(node)
  return t === undefined ? undefined : decodeXmlEntities(t)
}

/** An attribute's value with entities resolved (xml.ts leaves them as sent). */
export function attrText(node: unknown, name: string): string | undefined {
  const v = attr(node, name)
  return v === undefined ? undefined : decodeXmlEntities(v)
}

/** The local name of a QName value (`ter:NotAuthorized` → `NotAuthorized`). */
export function localName(qname: string): string {
  const i = qname.lastIndexOf(':')
  return (i === -1 ? qname : qname.slice(i + 1)).trim()
}

// ---------------------------------------------------------------------------------------------
// WS-Security UsernameToken

/**
 * The `Created` timestamp: the device's idea of now (our clock plus the offset measured with
 * GetSystemDateAndTime), because cameras reject a token whose Created is more than a few seconds
 * from their own clock — and camera clocks are often hours off (no NTP, wrong time zone set as
 * UTC). Whole seconds without a fraction: some firmwares refuse fractional seconds.
 */
export function createdTimestamp(localNowMs: number, clockOffsetMs: number): string {
  const d = new Date(Math.floor((localNowMs + clockOffsetMs) / 1000) * 1000)
  return d.toISOString().replace('.000Z', 'Z')
}

/** WS-Security PasswordDigest = Base64(SHA1(nonce + created + password)), nonce as raw bytes. */
export function passwordDigest(nonce: Buffer, created: string, password: string): string {
  return createHash('sha1')
    .update(Buffer.concat([nonce, Buffer.from(created, 'utf8'), Buffer.from(password, 'utf8')]))
    .digest('base64')
}

export interface UsernameTokenInput {
  username: string
  password: string
  /** `digest` (PasswordDigest) or `text` (PasswordText: the password in clear). */
  passwordType: 'digest' | 'text'
  /** Device time minus local time, ms. */
  clockOffsetMs: number
  /** For tests; Date.now() otherwise. */
  nowMs?: number
  /** For tests; 16 random bytes otherwise. */
  nonce?: Buffer
}

/** The `<wsse:Security>` header element. */
export function securityHeader(t: UsernameTokenInput): string {
  const created = createdTimestamp(t.nowMs ?? Date.now(), t.clockOffsetMs)
  const user = `<wsse:Username>${escapeXml(t.username)}</wsse:Username>`
  if (t.passwordType === 'text') {
    return (
      `<wsse:Security xmlns:wsse="${NS.wsse}" xmlns:wsu="${NS.wsu}" s:mustUnderstand="1"><wsse:UsernameToken>${user}` +
      `<wsse:Password Type="${PASSWORD_TEXT}">${escapeXml(t.password)}</wsse:Password>` +
      `<wsu:Created>${created}</wsu:Created></wsse:UsernameToken></wsse:Security>`
    )
  }
  const nonce = t.nonce ?? randomBytes(16)
  return (
    `<wsse:Security xmlns:wsse="${NS.wsse}" xmlns:wsu="${NS.wsu}" s:mustUnderstand="1"><wsse:UsernameToken>${user}` +
    `<wsse:Password Type="${PASSWORD_DIGEST}">${passwordDigest(nonce, created, t.password)}</wsse:Password>` +
    `<wsse:Nonce EncodingType="${BASE64_BINARY}">${nonce.toString('base64')}</wsse:Nonce>` +
    `<wsu:Created>${created}</wsu:Created></wsse:UsernameToken></wsse:Security>`
  )
}

export interface EnvelopeInput {
  /** The body's XML (one operation element, declaring or using the namespaces below). */
  body: string
  security?: UsernameTokenInput
  /** WS-Addressing To and Action (PullMessages, Renew, Unsubscribe go to a subscription). */
  addressing?: { to: string; action: string }
  /** Raw header elements echoed back to the device (subscription reference parameters). */
  extraHeaders?: { xml: string; namespaces: Record<string, string> }
}

/** A SOAP 1.2 envelope with the usual ONVIF prefixes declared once. */
export function envelope(e: EnvelopeInput): string {
  const headers: string[] = []
  if (e.addressing)
    headers.push(
      `<wsa:Action>${escapeXml(e.addressing.action)}</wsa:Action><wsa:To>${escapeXml(e.addressing.to)}</wsa:To>`,
    )
  if (e.extraHeaders) headers.push(e.extraHeaders.xml)
  if (e.security) headers.push(securityHeader(e.security))
  const headerNs = Object.entries(e.extraHeaders?.namespaces ?? {})
    .filter(([p]) => /^[A-Za-z_][\w.-]*$/.test(p))
    .map(([p, uri]) => ` xmlns:${p}="${escapeXml(uri)}"`)
    .join('')
  const decl = Object.entries(NS)
    .filter(([p]) => p !== 'wsse' && p !== 'wsu')
    .map(([p, uri]) => `xmlns:${p === 'soap' ? 's' : p}="${uri}"`)
    .join(' ')
  return (
    `<?xml version="1.0" encoding="UTF-8"?><s:Envelope ${decl}>` +
    `<s:Header${headerNs}>${headers.join('')}</s:Header><s:Body>${e.body}</s:Body></s:Envelope>`
  )
}

/** The Content-Type of a SOAP 1.2 request (the action travels as a media-type parameter). */
export function soapContentType(action: string): string {
  return `application/soap+xml; charset=utf-8; action="${action}"`
}

// ---------------------------------------------------------------------------------------------
// Responses and faults

/** Subcodes that mean "who you are was not accepted" (ONVIF and WS-Security spellings). */
const AUTH_SUBCODES = new Set([
  'NotAuthorized',
  'FailedAuthentication',
  'InvalidSecurity',
  'InvalidSecurityToken',
  'FailedCheck',
  'SecurityTokenUnavailable',
  'MessageExpired',
])
const UNSUPPORTED_SUBCODES = new Set(['ActionNotSupported', 'NoSuchService', 'NotImplemented'])

/**
 * The fault in a parsed response, or undefined. SOAP 1.2 (`Code/Value`, nested `Subcode/Value`,
 * `Reason/Text`) and SOAP 1.1 (`faultcode`, `faultstring`) both occur in the field.
 */
export function parseFault(doc: unknown, status?: number): OnvifError | undefined {
  const body = at(doc, 'Envelope', 'Body')
  const fault = child(body, 'Fault') ?? (body === undefined ? child(doc, 'Fault') : undefined)
  if (fault === undefined) return undefined
  const detail: OnvifFaultDetail = { subcodes: [] }
  const code = child(fault, 'Code')
  if (code !== undefined) {
    const value = xmlText(child(code, 'Value'))
    if (value) detail.code = localName(value)
    let sub = child(code, 'Subcode')
    for (let i = 0; sub !== undefined && i < 16; i++) {
      const v = xmlText(child(sub, 'Value'))
      if (v) detail.subcodes.push(localName(v))
      sub = child(sub, 'Subcode')
    }
    const reason = children(child(fault, 'Reason'), 'Text').map(xmlText).find(Boolean)
    if (reason) detail.reason = reason
  } else {
    const v = xmlText(child(fault, 'faultcode'))
    if (v) detail.code = localName(v)
    const reason = xmlText(child(fault, 'faultstring'))
    if (reason) detail.reason = reason
  }
  return faultError(detail, status)
}

function faultError(detail: OnvifFaultDetail, status?: number): OnvifError {
  const reason = detail.reason ?? ''
  const label = [detail.code, ...detail.subcodes].filter(Boolean).join('/') || 'unknown fault'
  const message = `the device answered a SOAP fault ${label}${reason ? `: ${reason}` : ''}`.slice(0, 500)
  const isSender = detail.code === 'Sender' || detail.code === 'Client'
  if (
    detail.subcodes.some((s) => AUTH_SUBCODES.has(s)) ||
    AUTH_SUBCODES.has(detail.code ?? '') ||
    status === 401 ||
    // Firmwares that fault with a bare Sender code and only say it in words.
    (isSender &&
      /not ?authori[sz]ed|unauthori[sz]ed|authenticat|password|credential|permission denied/i.test(reason))
  )
    return new OnvifError('not_authorized', message, detail, status)
  const unsupportedWords =
    /not (be )?supported|unsupported|not implemented|no such (operation|method|service)/i
  if (
    detail.subcodes.some((s) => UNSUPPORTED_SUBCODES.has(s) || /NotSupported$/.test(s)) ||
    // InvalidArgVal is also "bad token" or "bad value": only an unsupported operation when it says so.
    (detail.subcodes.includes('InvalidArgVal') && unsupportedWords.test(reason)) ||
    (/^(Sender|Client|Receiver|Server)$/.test(detail.code ?? '') &&
      detail.subcodes.length === 0 &&
      unsupportedWords.test(reason))
  )
    return new OnvifError('not_supported', message, detail, status)
  return new OnvifError('fault', message, detail, status)
}

/**
 * Reads a response: a fault becomes its OnvifError (whatever the HTTP status, some firmwares
 * fault with 200), then the first `expected` element anywhere in the Body is returned. A body that
 * does not parse, or lacks the element, is `bad_response`; a non-2xx without a fault is
 * `not_authorized` for 401/403 and `protocol` otherwise.
 */
export function parseSoapResponse(status: number, body: Buffer | string, expected: string): XmlNode {
  let doc: Record<string, unknown> | undefined
  try {
    doc = parseXml(body)
  } catch (err) {
    if (!(err instanceof XmlError)) throw err
    if (status === 401 || status === 403)
      return fail(
        new OnvifError(
          'not_authorized',
          `the device refused the request (HTTP ${status})`,
          undefined,
          status,
        ),
      )
    if (status < 200 || status >= 300)
      return fail(new OnvifError('protocol', `the device answered HTTP ${status}`, undefined, status))
    return fail(
      new OnvifError('bad_response', `the device's answer is not XML: ${err.message}`, undefined, status),
    )
  }
  const fault = parseFault(doc, status)
  if (fault) throw fault
  if (status === 401 || status === 403)
    throw new OnvifError(
      'not_authorized',
      `the device refused the request (HTTP ${status})`,
      undefined,
      status,
    )
  if (status < 200 || status >= 300)
    throw new OnvifError('protocol', `the device answered HTTP ${status}`, undefined, status)
  const bodyNode = at(doc, 'Envelope', 'Body')
  const found = bodyNode === undefined ? undefined : find(bodyNode, expected)
  if (found === undefined)
    throw new OnvifError('bad_response', `the device's answer has no ${expected}`, undefined, status)
  return found
}

function fail(err: OnvifError): never {
  throw err
}

/** Maps a transport error to an OnvifError (HTTP Digest refused → not_authorized). */
export function fromDeviceHttpError(err: unknown): OnvifError {
  if (err instanceof OnvifError) return err
  if (err instanceof DeviceHttpError) {
    switch (err.code) {
      case 'auth':
        return new OnvifError('not_authorized', err.message, undefined, err.status)
      case 'unreachable':
        return new OnvifError('unreachable', err.message)
      case 'timeout':
        return new OnvifError('timeout', err.message)
      case 'too_large':
        return new OnvifError('bad_response', err.message)
      case 'protocol':
        return new OnvifError('protocol', err.message)
    }
  }
  if (err instanceof XmlError) return new OnvifError('bad_response', err.message)
  return new OnvifError('unreachable', `the device could not be reached: ${String(err)}`.slice(0, 300))
}

// ---------------------------------------------------------------------------------------------
// Small readers shared by the service modules

/** A number from an element's text, or undefined when absent or not a finite number. */
export function num(node: unknown): number | undefined {
  const t = xmlText(node)
  if (t === undefined) return undefined
  const n = Number(t)
  return Number.isFinite(n) ? n : undefined
}

/** A number from an attribute value. */
export function numAttr(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined
  const n = Number(value)
  return Number.isFinite(n) ? n : undefined
}

/** xs:boolean (`true`/`1`), undefined when absent. */
export function bool(node: unknown): boolean | undefined {
  const t = xmlText(node)?.toLowerCase()
  if (t === undefined) return undefined
  return t === 'true' || t === '1'
}

/** A timestamp (xs:dateTime) as a Date, undefined when absent or unreadable. */
export function dateOf(value: string | undefined): Date | undefined {
  if (!value) return undefined
  const d = new Date(value.trim())
  return Number.isNaN(d.getTime()) ? undefined : d
}

/** An xs:duration for a number of ms (`PT1.5S`). */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms)) / 1000
  return `PT${Number(s.toFixed(3))}S`
}

/** A decimal for an XML attribute: no exponent notation (some firmwares parse floats by hand). */
export function decimal(n: number): string {
  if (!Number.isFinite(n)) throw new RangeError(`not a finite number: ${n}`)
  const s = Number(n.toFixed(6))
  return Object.is(s, -0) ? '0' : String(s)
}
