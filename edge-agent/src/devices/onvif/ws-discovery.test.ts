import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { DiscoveryTargetError } from '../discovery/targets.ts'
import { at, parseXml, text, textAt, XmlError } from '../xml.ts'
import { TestWsDiscoveryResponder } from './test-ws-discovery.ts'
import {
  buildProbe,
  decodeScopes,
  discoverOnvif,
  multicastInterfaces,
  newMessageId,
  parseProbeMatches,
  pickOnvifUrl,
  rewriteXAddr,
} from './ws-discovery.ts'

const FIXTURES = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../../../shared/fixtures/devices/onvif',
)

function fixture(name: string): string | undefined {
  const file = path.join(FIXTURES, name)
  try {
    return readFileSync(file, 'utf8')
  } catch {
    console.warn(`SKIPPING fixture check: ${file} is absent`)
    return undefined
  }
}

describe('buildProbe', () => {
  it('is a SOAP 1.2 WS-Discovery Probe for NetworkVideoTransmitter', () => {
    const id = newMessageId()
    expect(id).toMatch(/^urn:uuid:[0-9a-f-]{36}$/)
    const xml = buildProbe(id)
    expect(xml).toContain('xmlns:s="http://www.w3.org/2003/05/soap-envelope"')
    const doc = parseXml(xml)
    expect(textAt(doc, 'Envelope', 'Header', 'MessageID')).toBe(id)
    expect(textAt(doc, 'Envelope', 'Header', 'To')).toBe('urn:schemas-xmlsoap-org:ws:2005:04:discovery')
    expect(textAt(doc, 'Envelope', 'Header', 'Action')).toBe(
      'http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe',
    )
    expect(text(at(doc, 'Envelope', 'Body', 'Probe', 'Types'))).toBe('dn:NetworkVideoTransmitter')
    expect(xml).toContain('xmlns:dn="http://www.onvif.org/ver10/network/wsdl"')
  })
})

describe('parseProbeMatches', () => {
  it('reads the agsh (gSOAP camera) fixture, with its placeholders substituted', () => {
    const raw = fixture('agsh_Probe.xml')
    if (raw === undefined) return
    const id = newMessageId()
    const xml = raw
      .replace('RELATES_TO', id)
      .replace('SERVICE_URI', 'http://0.0.0.0:8080/onvif/device_service')
    const parsed = parseProbeMatches(xml, '192.168.68.111')
    expect(parsed.relatesTo).toBe(id)
    expect(parsed.matches).toHaveLength(1)
    expect(parsed.matches[0]).toMatchObject({
      endpointReference: 'uuid:c9790c3a-701b-464d-a189-0060351c8ada',
      types: ['dn:NetworkVideoTransmitter', 'tds:Device'],
      name: 'PREDATOR',
      hardware: 'HD_PREDATOR',
      xaddrs: ['http://192.168.68.111:8080/onvif/device_service'],
    })
    expect(parsed.matches[0]!.location).toBeUndefined() // `location/` is empty
    expect(parsed.matches[0]!.scopes).toHaveLength(7)
  })

  it('reads the ONVIF programmer guide fixture: multi-line scopes, two XAddrs, other prefixes', () => {
    const xml = fixture('lumeo_ProbeMatches_onvif_apg.xml')
    if (xml === undefined) return
    const parsed = parseProbeMatches(xml, '192.168.1.24')
    expect(parsed.relatesTo).toBe('uuid:84ede3de-7dec-11d0-c360-F01234567890')
    const m = parsed.matches[0]!
    expect(m).toMatchObject({
      endpointReference: 'urn:uuid:a1f48ac2-dc8b-11df-b255-00408c1836b2',
      name: 'VENDOR MODEL',
      hardware: 'MODEL',
      location: 'ANY',
      xaddrs: ['http://169.254.76.145/onvif/services', 'http://192.168.1.24/onvif/services'],
    })
    expect(m.scopes).toHaveLength(5)
    expect(pickOnvifUrl(m.xaddrs, '192.168.1.24')).toBe('http://192.168.1.24/onvif/services')
  })

  it('reads several matches under any prefix and refuses what is not a ProbeMatches', () => {
    const xml = `<e:Envelope xmlns:e="x" xmlns:q="y"><e:Body><q:ProbeMatches>
      <q:ProbeMatch><q:XAddrs>http:///onvif/a</q:XAddrs><q:Scopes>onvif://www.onvif.org/name/A%2FB onvif://www.onvif.org/location/country/france</q:Scopes></q:ProbeMatch>
      <q:ProbeMatch><q:XAddrs>http://10.0.0.9/onvif/b</q:XAddrs></q:ProbeMatch>
    </q:ProbeMatches></e:Body></e:Envelope>`
    const parsed = parseProbeMatches(xml, '10.0.0.8')
    expect(parsed.matches.map((m) => m.xaddrs)).toEqual([
      ['http://10.0.0.8/onvif/a'],
      ['http://10.0.0.9/onvif/b'],
    ])
    expect(parsed.matches[0]).toMatchObject({ name: 'A/B', location: 'country/france' })
    expect(() => parseProbeMatches('<a/>')).toThrow(/ProbeMatches/)
    expect(() => parseProbeMatches('garbage')).toThrow()
  })
})

describe('parseProbeMatches on hostile input', () => {
  it('throws nothing but XmlError, whatever a device sends', () => {
    const piece = fc.oneof(
      fc.constantFrom(
        '<ProbeMatches>',
        '</ProbeMatches>',
        '<ProbeMatch>',
        '</ProbeMatch>',
        '<d:XAddrs>',
        '</d:XAddrs>',
        '<Scopes a="1">',
        '</Scopes>',
        '<EndpointReference><Address>',
        '</Address></EndpointReference>',
        '<RelatesTo/>',
        'http://0.0.0.0:x/',
        'onvif://www.onvif.org/name/%E0%A4%A',
        '<Envelope><Body>',
        '</Body></Envelope>',
      ),
      fc.string({ maxLength: 12 }),
    )
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), fc.boolean(), (pieces, wrap) => {
        const body = pieces.join('')
        const xml = wrap ? `<Envelope><Body><ProbeMatches>${body}</ProbeMatches></Body></Envelope>` : body
        try {
          const parsed = parseProbeMatches(xml, '10.0.0.1')
          for (const m of parsed.matches) pickOnvifUrl(m.xaddrs, '10.0.0.1')
        } catch (err) {
          expect(err).toBeInstanceOf(XmlError)
        }
      }),
    )
  })
})

describe('helpers', () => {
  it('rewrites only 0.0.0.0 and empty hosts, keeping port, user and path', () => {
    expect(rewriteXAddr('http://0.0.0.0/onvif/device_service', '10.1.2.3')).toBe(
      'http://10.1.2.3/onvif/device_service',
    )
    expect(rewriteXAddr('http://0.0.0.0:8899/onvif', '10.1.2.3')).toBe('http://10.1.2.3:8899/onvif')
    expect(rewriteXAddr('http://:80/onvif', '10.1.2.3')).toBe('http://10.1.2.3:80/onvif')
    expect(rewriteXAddr('http:///onvif', '10.1.2.3')).toBe('http://10.1.2.3/onvif')
    expect(rewriteXAddr('http://10.0.0.1/onvif', '10.1.2.3')).toBe('http://10.0.0.1/onvif')
    expect(rewriteXAddr('http://10.0.0.0/onvif', '10.1.2.3')).toBe('http://10.0.0.0/onvif')
    expect(rewriteXAddr('not a url', '10.1.2.3')).toBe('not a url')
  })

  it('decodes scopes, tolerating bad percent-encoding', () => {
    expect(
      decodeScopes([
        'ONVIF://www.onvif.org/name/Caf%C3%A9%20Door',
        'onvif://www.onvif.org/hardware/DS-2CD2%',
        'onvif://www.onvif.org/location/',
        'onvif://www.onvif.org/location/Back%20office',
        'onvif://www.onvif.org/name/second',
      ]),
    ).toEqual({ name: 'Café Door', hardware: 'DS-2CD2%', location: 'Back office' })
  })

  it('lists non-internal IPv4 interfaces, optionally filtered', () => {
    const ifaces = {
      lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
      eth0: [
        { address: '192.168.1.5', family: 'IPv4', internal: false },
        { address: 'fe80::1', family: 'IPv6', internal: false },
      ],
      eth1: [{ address: '10.0.0.5', family: 'IPv4', internal: false }],
    } as never
    expect(multicastInterfaces(undefined, ifaces)).toEqual(['192.168.1.5', '10.0.0.5'])
    expect(multicastInterfaces(['eth1'], ifaces)).toEqual(['10.0.0.5'])
  })
})

describe('discoverOnvif over UDP on 127.0.0.1', () => {
  const responders: TestWsDiscoveryResponder[] = []
  const start = async (r: TestWsDiscoveryResponder) => {
    responders.push(r)
    return r.start()
  }
  afterEach(async () => {
    await Promise.all(responders.splice(0).map((r) => r.stop()))
  })

  it('collects, rewrites, de-duplicates and ignores garbage and foreign answers', async () => {
    const normal = await start(new TestWsDiscoveryResponder())
    const zero = await start(
      new TestWsDiscoveryResponder({ xaddrs: ['http://0.0.0.0/onvif/device_service'] }),
    )
    const garbage = await start(new TestWsDiscoveryResponder({ behaviour: 'garbage' }))
    const twice = await start(new TestWsDiscoveryResponder({ behaviour: 'twice', delayMs: 20 }))
    const foreign = await start(new TestWsDiscoveryResponder({ relatesTo: 'other' }))
    const noRelates = await start(new TestWsDiscoveryResponder({ relatesTo: 'omit' }))
    const silent = await start(new TestWsDiscoveryResponder({ behaviour: 'silent' }))
    // Echoes our MessageID as `uuid:…` in upper case, as some stacks do: still ours.
    const sloppy = await start(
      new TestWsDiscoveryResponder({
        respond: (probe) => sloppy.probeMatches(probe.messageId?.replace(/^urn:/, '').toUpperCase()),
      }),
    )

    const result = await discoverOnvif({
      targets: [normal, zero, garbage, twice, foreign, noRelates, silent, sloppy].map((r) => r.target),
      // Generous: the answers come within milliseconds, but a loaded CI machine can stall a worker.
      timeoutMs: 1500,
    })

    for (const r of responders) expect(r.probes, r.target).toHaveLength(1)
    expect(result.stats.multicastInterfaces).toEqual([]) // targets given: unicast only
    expect(result.stats.sent).toBe(8)
    const byEpr = new Map(result.devices.map((d) => [d.endpointReference, d]))
    expect(result.devices).toHaveLength(5)
    expect(byEpr.has(sloppy.endpointReference)).toBe(true)
    expect(byEpr.get(normal.endpointReference)).toMatchObject({
      address: '127.0.0.1',
      via: 'unicast',
      name: 'Test Camera',
      hardware: 'TC-1000',
      location: 'Store 42',
      onvifUrl: 'http://127.0.0.1/onvif/device_service',
    })
    expect(byEpr.get(zero.endpointReference)?.onvifUrl).toBe('http://127.0.0.1/onvif/device_service')
    expect(byEpr.has(twice.endpointReference)).toBe(true)
    expect(byEpr.has(noRelates.endpointReference)).toBe(true)
    expect(byEpr.has(foreign.endpointReference)).toBe(false)
    expect(result.stats.duplicates).toBe(1)
    expect(result.stats.ignoredUnparsable).toBe(2)
    expect(result.stats.ignoredUnrelated).toBe(1)
  })

  it('stays within its time budget and refuses bad targets before sending', async () => {
    const silent = await start(new TestWsDiscoveryResponder({ behaviour: 'silent' }))
    const t0 = performance.now()
    const result = await discoverOnvif({ targets: [silent.target], timeoutMs: 300 })
    const elapsed = performance.now() - t0
    expect(elapsed).toBeGreaterThanOrEqual(290)
    // The bound is timeoutMs plus the time to close sockets; the margin is for loaded CI machines.
    expect(elapsed).toBeLessThan(300 + 1000)
    expect(result.devices).toEqual([])
    await expect(discoverOnvif({ targets: ['8.8.8.8'], timeoutMs: 100 })).rejects.toBeInstanceOf(
      DiscoveryTargetError,
    )
    await expect(discoverOnvif({ targets: ['camera.local'], timeoutMs: 100 })).rejects.toThrow(/host names/)
  })

  it('sends multicast from whatever interfaces exist without failing when there are none usable', async () => {
    const result = await discoverOnvif({ timeoutMs: 300 })
    // Each interface that could be opened got the Probe and its repeat, each sent or counted as failed.
    const { stats } = result
    expect(stats.sent + stats.sendErrors + stats.unsent).toBe(2 * stats.multicastInterfaces.length)
    expect(stats.multicastInterfaces.length + stats.socketErrors).toBe(multicastInterfaces().length)
    expect(Array.isArray(result.devices)).toBe(true)
    // A named interface that does not exist means no multicast at all, not an error.
    const none = await discoverOnvif({ timeoutMs: 100, interfaces: ['no-such-interface'] })
    expect(none.stats.multicastInterfaces).toEqual([])
    expect(none.stats.sent).toBe(0)
  })

  it('paces unicast probes and reports what the deadline left unsent', async () => {
    // 30 addresses at 5/s (burst 20) in a 400 ms window: the burst goes out, the rest cannot.
    const result = await discoverOnvif({ targets: ['127.0.0.0/27'], timeoutMs: 400, probesPerSecond: 5 })
    expect(result.stats.sent + result.stats.unsent + result.stats.sendErrors).toBe(30)
    expect(result.stats.unsent).toBeGreaterThan(0)
    expect(result.stats.sent).toBeLessThanOrEqual(22)
  })
})
