import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DeviceHttpError } from '../http/device-http.ts'
import { at, parseXml, textAt, XmlError } from '../xml.ts'
import {
  createdTimestamp,
  decimal,
  decodeXmlEntities,
  duration,
  envelope,
  escapeXml,
  fromDeviceHttpError,
  OnvifError,
  parseFault,
  parseSoapResponse,
  passwordDigest,
  securityHeader,
  soapContentType,
} from './soap.ts'

const fault12 = (code: string, subcodes: string[], reason: string) => {
  let sub = ''
  for (const s of [...subcodes].reverse())
    sub = `<SOAP-ENV:Subcode><SOAP-ENV:Value>${s}</SOAP-ENV:Value>${sub}</SOAP-ENV:Subcode>`
  return (
    '<?xml version="1.0"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error">' +
    `<SOAP-ENV:Body><SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>${code}</SOAP-ENV:Value>${sub}</SOAP-ENV:Code>` +
    `<SOAP-ENV:Reason><SOAP-ENV:Text xml:lang="en">${reason}</SOAP-ENV:Text></SOAP-ENV:Reason></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>`
  )
}

describe('UsernameToken', () => {
  it('computes PasswordDigest as Base64(SHA1(nonce + created + password))', () => {
    // The WS-Security example: nonce bytes, Created string and password concatenated.
    const nonce = Buffer.from('LKqI6G/AikKCQrN0zqZFlg==', 'base64')
    const digest = passwordDigest(nonce, '2010-09-16T07:50:45Z', 'userpassword')
    expect(digest).toBe('tuOSpGlFlIXsozq4HFNeeGeFLEI=')
  })

  it('uses the device time for Created (local time + offset, whole seconds)', () => {
    const local = Date.UTC(2026, 0, 1, 12, 0, 0, 750)
    expect(createdTimestamp(local, 0)).toBe('2026-01-01T12:00:00Z')
    expect(createdTimestamp(local, 2 * 3600_000)).toBe('2026-01-01T14:00:00Z')
    expect(createdTimestamp(local, -90_000)).toBe('2026-01-01T11:58:30Z')
  })

  it('Created and digest are right for random inputs (independent computation)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        fc.integer({ min: -86_400_000 * 30, max: 86_400_000 * 30 }),
        fc.uint8Array({ minLength: 1, maxLength: 32 }),
        fc.string({ maxLength: 40 }),
        fc.string({ minLength: 1, maxLength: 20 }),
        (now, offset, nonceBytes, password, username) => {
          const nonce = Buffer.from(nonceBytes)
          const xml = securityHeader({
            username,
            password,
            passwordType: 'digest',
            clockOffsetMs: offset,
            nowMs: now,
            nonce,
          })
          const doc = parseXml(`<s:Envelope xmlns:s="x"><s:Header>${xml}</s:Header></s:Envelope>`)
          const token = at(doc, 'Envelope', 'Header', 'Security', 'UsernameToken')
          const created = textAt(token, 'Created')!
          // Independent: the device's second, formatted by hand.
          const d = new Date(Math.floor((now + offset) / 1000) * 1000)
          const pad = (n: number, w = 2) => String(n).padStart(w, '0')
          const expected = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}Z`
          expect(created).toBe(expected)
          const sha = createHash('sha1')
          sha.update(nonce)
          sha.update(expected)
          sha.update(Buffer.from(password, 'utf8'))
          expect(textAt(token, 'Password')).toBe(sha.digest('base64'))
          expect(textAt(token, 'Nonce')).toBe(nonce.toString('base64'))
          expect(decodeXmlEntities(textAt(token, 'Username') ?? '')).toBe(username.trim())
        },
      ),
    )
  })

  it('sends PasswordText only when asked, escaped', () => {
    const xml = securityHeader({ username: 'a', password: 'p<&>', passwordType: 'text', clockOffsetMs: 0 })
    expect(xml).toContain('#PasswordText">p&lt;&amp;&gt;</wsse:Password>')
    expect(xml).not.toContain('Nonce')
    const digest = securityHeader({ username: 'a', password: 'p', passwordType: 'digest', clockOffsetMs: 0 })
    expect(digest).toContain('#PasswordDigest')
    expect(digest).not.toContain('>p<')
  })
})

describe('envelope', () => {
  it('is SOAP 1.2 with the header and body, and parses back', () => {
    const xml = envelope({
      body: '<tds:GetDeviceInformation/>',
      security: { username: 'admin', password: 'x', passwordType: 'digest', clockOffsetMs: 0 },
      addressing: { to: 'http://cam/sub?a=1&b=2', action: 'urn:act' },
    })
    const doc = parseXml(xml)
    expect(xml).toContain('xmlns:s="http://www.w3.org/2003/05/soap-envelope"')
    expect(at(doc, 'Envelope', 'Body', 'GetDeviceInformation')).toBeDefined()
    expect(textAt(doc, 'Envelope', 'Header', 'To')).toBe('http://cam/sub?a=1&amp;b=2')
    expect(textAt(doc, 'Envelope', 'Header', 'Security', 'UsernameToken', 'Username')).toBe('admin')
    expect(soapContentType('http://www.onvif.org/ver10/device/wsdl/GetDeviceInformation')).toBe(
      'application/soap+xml; charset=utf-8; action="http://www.onvif.org/ver10/device/wsdl/GetDeviceInformation"',
    )
  })

  it('declares the namespaces of echoed reference parameters on the Header', () => {
    const xml = envelope({
      body: '<wsnt:Renew/>',
      extraHeaders: { xml: '<dom0:SubscriptionId>7</dom0:SubscriptionId>', namespaces: { dom0: 'urn:axis' } },
    })
    expect(xml).toContain('<s:Header xmlns:dom0="urn:axis"><dom0:SubscriptionId>7</dom0:SubscriptionId>')
    expect(textAt(parseXml(xml), 'Envelope', 'Header', 'SubscriptionId')).toBe('7')
  })
})

describe('faults', () => {
  it('maps ter:NotAuthorized (by local name, any prefix) to not_authorized', () => {
    for (const xml of [
      fault12('SOAP-ENV:Sender', ['ter:NotAuthorized'], 'Sender not Authorized'),
      fault12('env:Sender', ['xx:NotAuthorized'], ''),
      fault12('s:Sender', ['wsse:FailedAuthentication'], 'The security token could not be authenticated'),
      fault12('SOAP-ENV:Sender', [], 'Authentication failed'),
    ]) {
      const e = parseFault(parseXml(xml))
      expect(e?.code, xml).toBe('not_authorized')
    }
  })

  it('maps ActionNotSupported, and InvalidArgVal only when it says unsupported, to not_supported', () => {
    const a = parseFault(
      parseXml(fault12('env:Receiver', ['ter:ActionNotSupported', 'ter:NoSuchService'], 'no PTZ')),
    )
    expect(a?.code).toBe('not_supported')
    expect(a?.fault?.subcodes).toEqual(['ActionNotSupported', 'NoSuchService'])
    expect(
      parseFault(parseXml(fault12('env:Sender', ['ter:InvalidArgVal'], 'Method not supported')))?.code,
    ).toBe('not_supported')
    const noProfile = parseFault(
      parseXml(fault12('env:Sender', ['ter:InvalidArgVal', 'ter:NoProfile'], 'No such profile')),
    )
    expect(noProfile?.code).toBe('fault')
    expect(noProfile?.fault).toEqual({
      code: 'Sender',
      subcodes: ['InvalidArgVal', 'NoProfile'],
      reason: 'No such profile',
    })
  })

  it('reads SOAP 1.1 faults', () => {
    const xml =
      '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode>' +
      '<faultstring>Method &apos;GetFoo&apos; not implemented</faultstring></s:Fault></s:Body></s:Envelope>'
    const e = parseFault(parseXml(xml))
    expect(e?.code).toBe('not_supported')
    expect(e?.fault?.reason).toBe("Method 'GetFoo' not implemented")
  })

  it('throws faults whatever the status, and reads the expected element', () => {
    expect(() => parseSoapResponse(200, fault12('env:Receiver', ['ter:Action'], 'boom'), 'X')).toThrow(
      expect.objectContaining({ code: 'fault' }),
    )
    const ok = parseSoapResponse(
      200,
      '<e:Envelope xmlns:e="x"><e:Body><a:XResponse xmlns:a="y"><a:V>1</a:V></a:XResponse></e:Body></e:Envelope>',
      'XResponse',
    )
    expect(textAt(ok, 'V')).toBe('1')
  })

  it('turns garbage, truncated bodies, missing elements and HTTP errors into bad_response/protocol/not_authorized', () => {
    const good = '<e:Envelope xmlns:e="x"><e:Body><XResponse/></e:Body></e:Envelope>'
    const code = (status: number, body: string) => {
      try {
        parseSoapResponse(status, body, 'XResponse')
        return 'ok'
      } catch (err) {
        expect(err).toBeInstanceOf(OnvifError)
        return (err as OnvifError).code
      }
    }
    expect(code(200, good)).toBe('ok')
    expect(code(200, good.slice(0, 40))).toBe('bad_response')
    expect(code(200, 'HTTP/1.1 garbage')).toBe('bad_response')
    expect(code(200, '')).toBe('bad_response')
    expect(code(200, '<e:Envelope xmlns:e="x"><e:Body><Other/></e:Body></e:Envelope>')).toBe('bad_response')
    expect(code(200, '<XResponse/>')).toBe('bad_response')
    expect(code(500, '<html>oops</html>')).toBe('protocol')
    expect(code(404, 'not found')).toBe('protocol')
    expect(code(401, '')).toBe('not_authorized')
    expect(code(401, fault12('env:Sender', ['ter:Other'], 'x'))).toBe('not_authorized')
  })

  it('maps DeviceHttpError codes', () => {
    expect(fromDeviceHttpError(new DeviceHttpError('auth', 'no', 401)).code).toBe('not_authorized')
    expect(fromDeviceHttpError(new DeviceHttpError('unreachable', 'no')).code).toBe('unreachable')
    expect(fromDeviceHttpError(new DeviceHttpError('timeout', 'no')).code).toBe('timeout')
    expect(fromDeviceHttpError(new DeviceHttpError('protocol', 'no')).code).toBe('protocol')
    expect(fromDeviceHttpError(new DeviceHttpError('too_large', 'no')).code).toBe('bad_response')
    expect(fromDeviceHttpError(new XmlError('bad')).code).toBe('bad_response')
  })

  it('never throws anything but OnvifError on arbitrary strings', () => {
    const arb = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc
        .tuple(
          fc.string({ maxLength: 30 }),
          fc.constantFrom('Fault', 'Body', 'Envelope', 'Code', 'Subcode', 'Value'),
        )
        .map(([s, tag]) => `<a:Envelope xmlns:a="x"><a:Body><a:${tag}>${s}</a:${tag}></a:Body></a:Envelope>`),
    )
    fc.assert(
      fc.property(arb, fc.constantFrom(200, 400, 401, 500), (s, status) => {
        try {
          parseSoapResponse(status, s, 'XResponse')
        } catch (err) {
          expect(err).toBeInstanceOf(OnvifError)
        }
      }),
    )
  })
})

describe('small helpers', () => {
  it('escapes and decodes XML text', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        expect(decodeXmlEntities(escapeXml(s))).toBe(s)
      }),
    )
    expect(decodeXmlEntities('a&amp;b&#38;c&#x26;d&unknown;&#0;')).toBe('a&b&c&d&unknown;&#0;')
  })

  it('formats durations and decimals devices can read', () => {
    expect(duration(1500)).toBe('PT1.5S')
    expect(duration(60_000)).toBe('PT60S')
    expect(decimal(1e-7)).toBe('0')
    expect(decimal(-0.5)).toBe('-0.5')
    fc.assert(
      fc.property(fc.double({ min: -1, max: 1, noNaN: true }), (n) => {
        expect(decimal(n)).toMatch(/^-?\d+(\.\d+)?$/)
      }),
    )
  })
})
