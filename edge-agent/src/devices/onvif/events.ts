import { attr, child, children, type XmlNode } from '../xml.ts'
import {
  dateOf,
  decodeXmlEntities,
  duration,
  escapeXml,
  NS,
  OnvifError,
  parseSoapResponse,
  xmlText,
} from './soap.ts'

/**
 * ONVIF events by PullPoint (WS-BaseNotification over SOAP): CreatePullPointSubscription on the
 * event service, then PullMessages (a long poll), Renew and Unsubscribe on the subscription's own
 * address. Pull works through NAT and firewalls, where a Notify push to us would not.
 */
export const EVENTS_ACTION = {
  createPullPointSubscription: `${NS.tev}/EventPortType/CreatePullPointSubscriptionRequest`,
  pullMessages: `${NS.tev}/PullPointSubscription/PullMessagesRequest`,
  renew: 'http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/RenewRequest',
  unsubscribe: 'http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest',
} as const

export function createPullPointSubscriptionBody(terminationMs: number, topicFilter?: string): string {
  const filter = topicFilter
    ? '<tev:Filter><wsnt:TopicExpression Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">' +
      `${escapeXml(topicFilter)}</wsnt:TopicExpression></tev:Filter>`
    : ''
  return `<tev:CreatePullPointSubscription>${filter}<tev:InitialTerminationTime>${duration(terminationMs)}</tev:InitialTerminationTime></tev:CreatePullPointSubscription>`
}

export const pullMessagesBody = (timeoutSeconds: number, limit: number) =>
  `<tev:PullMessages><tev:Timeout>${duration(timeoutSeconds * 1000)}</tev:Timeout>` +
  `<tev:MessageLimit>${Math.max(1, Math.floor(limit))}</tev:MessageLimit></tev:PullMessages>`

export const renewBody = (terminationMs: number) =>
  `<wsnt:Renew><wsnt:TerminationTime>${duration(terminationMs)}</wsnt:TerminationTime></wsnt:Renew>`

export const unsubscribeBody = () => '<wsnt:Unsubscribe/>'

export interface Subscription {
  /** Where PullMessages, Renew and Unsubscribe go (as the device named it). */
  address: string
  currentTime?: Date
  terminationTime?: Date
  /**
   * WS-Addressing reference parameters the device wants echoed as SOAP headers on every call to
   * the subscription (Axis-style subscription ids), with the namespaces their prefixes need.
   */
  referenceParameters?: { xml: string; namespaces: Record<string, string> }
}

export function parseCreatePullPointSubscription(status: number, body: Buffer | string): Subscription {
  const r = parseSoapResponse(status, body, 'CreatePullPointSubscriptionResponse')
  const ref = child(r, 'SubscriptionReference')
  const address = xmlText(child(ref, 'Address'))
  if (!address)
    throw new OnvifError('bad_response', 'CreatePullPointSubscription has no subscription address')
  try {
    new URL(address)
  } catch {
    throw new OnvifError('bad_response', 'the subscription address is not a URL')
  }
  const out: Subscription = { address }
  const current = dateOf(xmlText(child(r, 'CurrentTime')))
  if (current) out.currentTime = current
  const termination = dateOf(xmlText(child(r, 'TerminationTime')))
  if (termination) out.terminationTime = termination
  const params = child(ref, 'ReferenceParameters')
  if (params !== undefined && typeof params === 'object') {
    const raw = rawReferenceParameters(typeof body === 'string' ? body : body.toString('utf8'))
    if (raw) out.referenceParameters = raw
  }
  return out
}

/**
 * The inner XML of `ReferenceParameters` as sent, with the namespace declarations its prefixes
 * need: the parsed tree has dropped prefixes, and the device compares these headers as XML.
 */
function rawReferenceParameters(xml: string): Subscription['referenceParameters'] | undefined {
  const m =
    /<(?:([\w.-]+):)?ReferenceParameters\b[^>]*?(?<!\/)>([\s\S]*?)<\/(?:[\w.-]+:)?ReferenceParameters\s*>/.exec(
      xml,
    )
  const inner = m?.[2]?.trim()
  if (!inner) return undefined
  const namespaces: Record<string, string> = {}
  for (const [, prefix] of inner.matchAll(/<\/?([\w.-]+):/g)) {
    if (!prefix || prefix in namespaces) continue
    const decl = new RegExp(`xmlns:${prefix.replace(/[.-]/g, '\\$&')}\\s*=\\s*"([^"]*)"`).exec(xml)
    if (decl?.[1] !== undefined) namespaces[prefix] = decodeXmlEntities(decl[1])
  }
  return { xml: inner, namespaces }
}

export interface Notification {
  /** The topic's local names joined by `/` (`RuleEngine/CellMotionDetector/Motion`). */
  topic: string
  /** The message's UtcTime; undefined when absent or unreadable. */
  time?: Date
  /**
   * `Initialized` is the current state reported when a subscription starts (not something that
   * just happened); `Changed` is an event; `Deleted` is a property going away. Absent for
   * stateless events.
   */
  propertyOperation?: 'Initialized' | 'Changed' | 'Deleted'
  source: Record<string, string>
  key: Record<string, string>
  data: Record<string, string>
}

/** Whether a notification reports state (at subscription start) rather than a new event. */
export const isStateReport = (n: Notification) => n.propertyOperation === 'Initialized'

export interface PullResult {
  currentTime?: Date
  terminationTime?: Date
  notifications: Notification[]
}

/** `tns1:RuleEngine/tnsaxis:X/Motion` → `RuleEngine/X/Motion` (prefixes vary by vendor). */
export function topicLocalName(topic: string): string {
  return topic
    .trim()
    .split('/')
    .map((segment) => {
      const i = segment.lastIndexOf(':')
      return (i === -1 ? segment : segment.slice(i + 1)).trim()
    })
    .filter(Boolean)
    .join('/')
}

function items(node: XmlNode | undefined): Record<string, string> {
  const entries: [string, string][] = []
  for (const item of children(node, 'SimpleItem')) {
    const name = attr(item, 'Name')
    if (name === undefined) continue
    entries.push([decodeXmlEntities(name), decodeXmlEntities(attr(item, 'Value') ?? '')])
  }
  // fromEntries defines own properties: a `__proto__` item name cannot reach the prototype.
  return Object.fromEntries(entries)
}

export function parseNotificationMessage(nm: XmlNode): Notification | undefined {
  const topic = topicLocalName(xmlText(child(nm, 'Topic')) ?? '')
  // wsnt:Message wraps tt:Message; a few firmwares put the tt:Message content directly.
  const outer = child(nm, 'Message')
  const message = child(outer, 'Message') ?? outer
  if (!topic) return undefined
  const out: Notification = {
    topic,
    source: items(child(message, 'Source')),
    key: items(child(message, 'Key')),
    data: items(child(message, 'Data')),
  }
  const time = dateOf(attr(message, 'UtcTime'))
  if (time) out.time = time
  const op = attr(message, 'PropertyOperation')
  if (op === 'Initialized' || op === 'Changed' || op === 'Deleted') out.propertyOperation = op
  return out
}

export function parsePullMessages(status: number, body: Buffer | string): PullResult {
  const r = parseSoapResponse(status, body, 'PullMessagesResponse')
  const out: PullResult = {
    notifications: children(r, 'NotificationMessage')
      .map(parseNotificationMessage)
      .filter((n): n is Notification => n !== undefined),
  }
  const current = dateOf(xmlText(child(r, 'CurrentTime')))
  if (current) out.currentTime = current
  const termination = dateOf(xmlText(child(r, 'TerminationTime')))
  if (termination) out.terminationTime = termination
  return out
}

export function parseRenew(
  status: number,
  body: Buffer | string,
): { terminationTime?: Date; currentTime?: Date } {
  const r = parseSoapResponse(status, body, 'RenewResponse')
  const out: { terminationTime?: Date; currentTime?: Date } = {}
  const termination = dateOf(xmlText(child(r, 'TerminationTime')))
  if (termination) out.terminationTime = termination
  const current = dateOf(xmlText(child(r, 'CurrentTime')))
  if (current) out.currentTime = current
  return out
}

export function parseUnsubscribe(status: number, body: Buffer | string): void {
  parseSoapResponse(status, body, 'UnsubscribeResponse')
}
