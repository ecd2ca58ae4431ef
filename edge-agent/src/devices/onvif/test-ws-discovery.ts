import { randomUUID } from 'node:crypto'
import dgram from 'node:dgram'
import { at, parseXml, text } from '../xml.ts'
import { WS_DISCOVERY_MULTICAST } from './ws-discovery.ts'

/**
 * A small WS-Discovery responder for tests and the camera simulator: answers Probes with a
 * ProbeMatches, like a camera would. Binds to 127.0.0.1 on a random port by default (tests run on
 * machines with no multicast peers); the simulator can bind 0.0.0.0:3702 with `joinMulticast`.
 *
 * Behaviours cover what real devices do wrong: `garbage` answers something that is not XML,
 * `twice` answers each probe two times, `silent` never answers, and `respond` replaces the
 * answer entirely. Not for production: it answers anyone who asks.
 */
export type ResponderBehaviour = 'match' | 'twice' | 'garbage' | 'silent'

export interface TestWsDiscoveryResponderOptions {
  host?: string
  /** 0 (default) picks a free port. */
  port?: number
  endpointReference?: string
  /** XAddrs as the device announces them (may say 0.0.0.0). Default http://<host>/onvif/device_service. */
  xaddrs?: string[]
  scopes?: string[]
  types?: string
  behaviour?: ResponderBehaviour
  /** RelatesTo: echo the probe's MessageID (default), omit it, or name another message. */
  relatesTo?: 'echo' | 'omit' | 'other'
  /** Answer after this long, ms (real devices wait a random 0–500 ms). */
  delayMs?: number
  /** Join 239.255.255.250 to answer multicast Probes too (simulator use; failures are ignored). */
  joinMulticast?: boolean
  /** Full control: the datagram(s) to send back for a probe, or null for none. */
  respond?: (probe: ReceivedProbe) => string | Buffer | (string | Buffer)[] | null
}

export interface ReceivedProbe {
  messageId?: string
  types?: string
  from: { address: string; port: number }
  raw: string
}

export class TestWsDiscoveryResponder {
  readonly probes: ReceivedProbe[] = []
  private socket: dgram.Socket | undefined
  private messageNumber = 0
  readonly endpointReference: string

  constructor(private readonly opts: TestWsDiscoveryResponderOptions = {}) {
    this.endpointReference = opts.endpointReference ?? `urn:uuid:${randomUUID()}`
  }

  get host(): string {
    return this.opts.host ?? '127.0.0.1'
  }

  get port(): number {
    const address = this.socket?.address()
    if (!address) throw new Error('responder not started')
    return address.port
  }

  /** `host:port`, as a discovery target. */
  get target(): string {
    return `${this.host}:${this.port}`
  }

  async start(): Promise<this> {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true })
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind({ address: this.host, port: this.opts.port ?? 0 }, () => {
        socket.off('error', reject)
        resolve()
      })
    })
    socket.on('error', () => {})
    if (this.opts.joinMulticast) {
      try {
        socket.addMembership(WS_DISCOVERY_MULTICAST)
      } catch {
        // no multicast-capable interface: unicast still works
      }
    }
    socket.on('message', (msg, rinfo) => this.onProbe(msg, rinfo))
    this.socket = socket
    return this
  }

  async stop(): Promise<void> {
    const socket = this.socket
    this.socket = undefined
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()))
  }

  /** A ProbeMatches document as this responder would send it. */
  probeMatches(relatesTo: string | undefined): string {
    const xaddrs = this.opts.xaddrs ?? [`http://${this.host}/onvif/device_service`]
    const scopes = this.opts.scopes ?? [
      'onvif://www.onvif.org/type/video_encoder',
      'onvif://www.onvif.org/name/Test%20Camera',
      'onvif://www.onvif.org/hardware/TC-1000',
      'onvif://www.onvif.org/location/Store%2042',
    ]
    return buildProbeMatchesXml({
      messageId: `urn:uuid:${randomUUID()}`,
      relatesTo,
      endpointReference: this.endpointReference,
      types: this.opts.types ?? 'dn:NetworkVideoTransmitter tds:Device',
      scopes,
      xaddrs,
      messageNumber: ++this.messageNumber,
    })
  }

  private onProbe(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const raw = msg.toString('utf8')
    let probe: ReceivedProbe
    try {
      const doc = parseXml(raw)
      if (at(doc, 'Envelope', 'Body', 'Probe') === undefined) return
      probe = { from: { address: rinfo.address, port: rinfo.port }, raw }
      const id = text(at(doc, 'Envelope', 'Header', 'MessageID'))
      const types = text(at(doc, 'Envelope', 'Body', 'Probe', 'Types'))
      if (id) probe.messageId = id
      if (types) probe.types = types
    } catch {
      return // not a probe: a real device ignores it too
    }
    this.probes.push(probe)
    const replies = this.replies(probe)
    const send = () => {
      for (const r of replies) this.socket?.send(r, rinfo.port, rinfo.address)
    }
    if (this.opts.delayMs) setTimeout(send, this.opts.delayMs)
    else send()
  }

  private replies(probe: ReceivedProbe): (string | Buffer)[] {
    if (this.opts.respond) {
      const r = this.opts.respond(probe)
      return r === null ? [] : Array.isArray(r) ? r : [r]
    }
    const behaviour = this.opts.behaviour ?? 'match'
    if (behaviour === 'silent') return []
    if (behaviour === 'garbage') return ['<not-xml>\u0000garbage', Buffer.from([0xff, 0xfe, 0x00, 0x01])]
    const mode = this.opts.relatesTo ?? 'echo'
    const relatesTo =
      mode === 'omit' ? undefined : mode === 'other' ? `urn:uuid:${randomUUID()}` : probe.messageId
    const reply = this.probeMatches(relatesTo)
    return behaviour === 'twice' ? [reply, reply] : [reply]
  }
}

export interface ProbeMatchesXml {
  messageId: string
  relatesTo?: string | undefined
  endpointReference: string
  types: string
  scopes: string[]
  xaddrs: string[]
  messageNumber?: number
}

const escapeXml = (s: string) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`)

/** A ProbeMatches with the prefixes a gSOAP camera uses (SOAP-ENV, wsa, wsdd). */
export function buildProbeMatchesXml(m: ProbeMatchesXml): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:wsdd="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:tds="http://www.onvif.org/ver10/device/wsdl">',
    '<SOAP-ENV:Header>',
    `<wsa:MessageID>${escapeXml(m.messageId)}</wsa:MessageID>`,
    m.relatesTo === undefined ? '' : `<wsa:RelatesTo>${escapeXml(m.relatesTo)}</wsa:RelatesTo>`,
    '<wsa:To SOAP-ENV:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>',
    '<wsa:Action SOAP-ENV:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action>',
    `<wsdd:AppSequence MessageNumber="${m.messageNumber ?? 1}" InstanceId="1"></wsdd:AppSequence>`,
    '</SOAP-ENV:Header>',
    '<SOAP-ENV:Body><wsdd:ProbeMatches><wsdd:ProbeMatch>',
    `<wsa:EndpointReference><wsa:Address>${escapeXml(m.endpointReference)}</wsa:Address></wsa:EndpointReference>`,
    `<wsdd:Types>${escapeXml(m.types)}</wsdd:Types>`,
    `<wsdd:Scopes>${m.scopes.map(escapeXml).join(' ')}</wsdd:Scopes>`,
    `<wsdd:XAddrs>${m.xaddrs.map(escapeXml).join(' ')}</wsdd:XAddrs>`,
    '<wsdd:MetadataVersion>1</wsdd:MetadataVersion>',
    '</wsdd:ProbeMatch></wsdd:ProbeMatches></SOAP-ENV:Body>',
    '</SOAP-ENV:Envelope>',
  ].join('')
}
