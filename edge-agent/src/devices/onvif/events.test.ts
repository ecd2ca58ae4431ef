import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseXml, textAt, XmlError } from '../xml.ts'
import {
  createPullPointSubscriptionBody,
  isStateReport,
  parseCreatePullPointSubscription,
  parsePullMessages,
  parseRenew,
  pullMessagesBody,
  topicLocalName,
} from './events.ts'
import { OnvifError } from './soap.ts'

const FIXTURES = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../../../shared/fixtures/devices/onvif',
)

function fixture(name: string): string | undefined {
  const file = path.join(FIXTURES, name)
  try {
    return readFileSync(file, 'utf8')
  } catch {
    console.warn(`SKIPPING fixture test: ${file} is absent`)
    return undefined
  }
}

const env = (body: string) =>
  `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:dom0="http://www.axis.com/2009/event"><s:Body>${body}</s:Body></s:Envelope>`

describe('CreatePullPointSubscription', () => {
  it('reads the Dahua subscription address and termination time', () => {
    const xml = fixture('moonfire_dahua_create_pull_point_subscription_response.xml')
    if (!xml) return
    expect(parseCreatePullPointSubscription(200, xml)).toEqual({
      address: 'http://192.168.5.108/onvif/Subscription?Idx=11',
      currentTime: new Date('2019-02-10T08:46:20Z'),
      terminationTime: new Date('2019-02-10T08:47:20Z'),
    })
  })

  it('keeps reference parameters as XML with their namespaces (Axis style)', () => {
    const xml = env(
      '<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa:Address>http://10.0.0.9/onvif/services</wsa:Address>' +
        '<wsa:ReferenceParameters><dom0:SubscriptionId>17</dom0:SubscriptionId></wsa:ReferenceParameters></tev:SubscriptionReference>' +
        '<wsnt:CurrentTime>2026-01-01T00:00:00Z</wsnt:CurrentTime><wsnt:TerminationTime>2026-01-01T00:01:00Z</wsnt:TerminationTime></tev:CreatePullPointSubscriptionResponse>',
    )
    expect(parseCreatePullPointSubscription(200, xml).referenceParameters).toEqual({
      xml: '<dom0:SubscriptionId>17</dom0:SubscriptionId>',
      namespaces: { dom0: 'http://www.axis.com/2009/event' },
    })
  })

  it('refuses an answer without a usable address', () => {
    for (const address of ['', 'not a url'])
      expect(() =>
        parseCreatePullPointSubscription(
          200,
          env(
            `<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa:Address>${address}</wsa:Address></tev:SubscriptionReference></tev:CreatePullPointSubscriptionResponse>`,
          ),
        ),
      ).toThrow(expect.objectContaining({ code: 'bad_response' }))
  })

  it('builds the request with a termination and an optional topic filter', () => {
    const b = parseXml(`<r>${createPullPointSubscriptionBody(60_000, 'tns1:RuleEngine//.')}</r>`)
    expect(textAt(b, 'r', 'CreatePullPointSubscription', 'InitialTerminationTime')).toBe('PT60S')
    expect(textAt(b, 'r', 'CreatePullPointSubscription', 'Filter', 'TopicExpression')).toBe(
      'tns1:RuleEngine//.',
    )
    expect(pullMessagesBody(10, 100)).toBe(
      '<tev:PullMessages><tev:Timeout>PT10S</tev:Timeout><tev:MessageLimit>100</tev:MessageLimit></tev:PullMessages>',
    )
  })
})

describe('PullMessages', () => {
  it('reads the Dahua notifications: topics by local name, Initialized as state, items', () => {
    const xml = fixture('moonfire_dahua_pull_messages_response.xml')
    if (!xml) return
    const r = parsePullMessages(200, xml)
    expect(r.currentTime).toEqual(new Date('2019-02-11T14:16:01Z'))
    expect(r.terminationTime).toEqual(new Date('2019-02-11T14:16:42Z'))
    expect(r.notifications.map((n) => n.topic)).toEqual([
      'RuleEngine/CellMotionDetector/Motion',
      'Monitoring/ProcessorUsage',
      'Monitoring/OperatingTime/LastReboot',
      'Monitoring/OperatingTime/LastReset',
      'Monitoring/OperatingTime/LastClockSynchronization',
    ])
    const motion = r.notifications[0]!
    expect(motion).toEqual({
      topic: 'RuleEngine/CellMotionDetector/Motion',
      time: new Date('2019-02-11T14:16:02Z'),
      propertyOperation: 'Initialized',
      source: { VideoSourceConfigurationToken: '000', VideoAnalyticsConfigurationToken: '000', Rule: '000' },
      key: {},
      data: { IsMotion: 'false' },
    })
    // All of them are the state at subscription start, not new events.
    expect(r.notifications.every(isStateReport)).toBe(true)
    expect(r.notifications[2]?.source).toEqual({})
  })

  it('reads Changed events, vendor prefixes per segment, and no messages', () => {
    const xml = env(
      '<tev:PullMessagesResponse><tev:CurrentTime>2026-01-01T00:00:00Z</tev:CurrentTime><tev:TerminationTime>2026-01-01T00:01:00Z</tev:TerminationTime>' +
        '<wsnt:NotificationMessage><wsnt:Topic Dialect="x">tns1:VideoSource/tnsaxis:MotionAlarm</wsnt:Topic><wsnt:Message><tt:Message UtcTime="2026-01-01T00:00:01.5Z" PropertyOperation="Changed">' +
        '<tt:Source><tt:SimpleItem Name="Source" Value="a&amp;b"/></tt:Source><tt:Data><tt:SimpleItem Name="State" Value="true"/><tt:SimpleItem Name="__proto__" Value="x"/></tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>' +
        '</tev:PullMessagesResponse>',
    )
    const [n] = parsePullMessages(200, xml).notifications
    expect(n?.topic).toBe('VideoSource/MotionAlarm')
    expect(n?.propertyOperation).toBe('Changed')
    expect(n?.time?.toISOString()).toBe('2026-01-01T00:00:01.500Z')
    expect(n?.source).toEqual({ Source: 'a&b' })
    expect(n?.data.State).toBe('true')
    expect(Object.getPrototypeOf(n?.data)).toBe(Object.prototype)
    expect(isStateReport(n!)).toBe(false)
    expect(parsePullMessages(200, env('<tev:PullMessagesResponse/>')).notifications).toEqual([])
    expect(topicLocalName(' tns1:RuleEngine/CellMotionDetector/Motion ')).toBe(
      'RuleEngine/CellMotionDetector/Motion',
    )
  })

  it('a pull that faults is an OnvifError', () => {
    const fault =
      '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>wsrf-rw:ResourceUnknownFault</s:Value></s:Subcode></s:Code><s:Reason><s:Text>gone</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>'
    expect(() => parsePullMessages(400, fault)).toThrow(expect.objectContaining({ code: 'fault' }))
    expect(
      parseRenew(
        200,
        env(
          '<wsnt:RenewResponse><wsnt:TerminationTime>2026-01-01T00:01:00Z</wsnt:TerminationTime></wsnt:RenewResponse>',
        ),
      ),
    ).toEqual({
      terminationTime: new Date('2026-01-01T00:01:00Z'),
    })
  })

  it('never throws anything but OnvifError/XmlError on arbitrary input', () => {
    const arb = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc
        .tuple(fc.string({ maxLength: 30 }), fc.string({ maxLength: 20 }))
        .map(([topic, value]) =>
          env(
            `<tev:PullMessagesResponse><wsnt:NotificationMessage><wsnt:Topic>${topic}</wsnt:Topic><wsnt:Message><tt:Message UtcTime="${value.replace(/[<"&]/g, '')}" PropertyOperation="${value.replace(/[<"&]/g, '')}"><tt:Data><tt:SimpleItem Name="${value.replace(/[<"&]/g, '')}"/></tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage></tev:PullMessagesResponse>`,
          ),
        ),
    )
    fc.assert(
      fc.property(
        arb,
        fc.constantFrom(parsePullMessages, parseCreatePullPointSubscription, parseRenew),
        (s, parse) => {
          try {
            parse(200, s)
          } catch (err) {
            expect(err instanceof OnvifError || err instanceof XmlError).toBe(true)
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})
