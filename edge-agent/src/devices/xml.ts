import { XMLParser, XMLValidator } from 'fast-xml-parser'

/**
 * XML from devices (ONVIF SOAP, Hikvision ISAPI), read by local name: vendors put the same
 * element under different prefixes and namespaces (`tt:`, `hikvision.com/ver10` or `ver20`,
 * `std-cgi.com`, `isapi.org`, `MC1:`), so prefixes are dropped and namespaces ignored. Values stay
 * strings (a channel "101" or a serial "0012" must not become numbers). DOCTYPE entities are not
 * expanded (no entity-expansion bombs from a hostile device), and documents are bounded in size.
 *
 * The parsed tree is plain objects: an element is an object (`#text` its text, `@name` its
 * attributes) or a string when it has neither children nor attributes; repeated elements are
 * arrays. The helpers below walk it without caring which.
 */
export const MAX_XML_BYTES = 4 * 1024 * 1024

export class XmlError extends Error {
  override name = 'XmlError'
}

export type XmlNode = Record<string, unknown> | string

const parser = new XMLParser({
  removeNSPrefix: true,
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  trimValues: true,
})

/** Parses a device's XML; a malformed, oversized or empty document is an XmlError. */
export function parseXml(text: string | Buffer): Record<string, unknown> {
  const s = typeof text === 'string' ? text : text.toString('utf8')
  if (Buffer.byteLength(s) > MAX_XML_BYTES) throw new XmlError(`XML document over ${MAX_XML_BYTES} bytes`)
  const valid = XMLValidator.validate(s)
  if (valid !== true) throw new XmlError(`malformed XML: ${valid.err.msg} (line ${valid.err.line})`)
  const doc = parser.parse(s) as unknown
  if (!doc || typeof doc !== 'object' || Object.keys(doc).length === 0)
    throw new XmlError('empty XML document')
  return doc as Record<string, unknown>
}

/** The children of `node` named `name` (local name), as a list (none: empty). */
export function children(node: unknown, name: string): XmlNode[] {
  if (!node || typeof node !== 'object') return []
  const value = (node as Record<string, unknown>)[name]
  if (value === undefined || value === null) return []
  return (Array.isArray(value) ? value : [value]) as XmlNode[]
}

/** The first child named `name`, or undefined. */
export function child(node: unknown, name: string): XmlNode | undefined {
  return children(node, name)[0]
}

/** Follows a path of local names, first match at each step. */
export function at(node: unknown, ...path: string[]): XmlNode | undefined {
  let current: unknown = node
  for (const name of path) {
    current = child(current, name)
    if (current === undefined) return undefined
  }
  return current as XmlNode
}

/** The first element named `name` anywhere below `node` (depth first), for envelopes whose nesting varies. */
export function find(node: unknown, name: string, depth = 0): XmlNode | undefined {
  if (!node || typeof node !== 'object' || depth > 64) return undefined
  const direct = child(node, name)
  if (direct !== undefined) return direct
  for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
    if (key.startsWith('@') || key === '#text') continue
    for (const item of Array.isArray(value) ? value : [value]) {
      const found = find(item, name, depth + 1)
      if (found !== undefined) return found
    }
  }
  return undefined
}

/** An element's text (trimmed), or undefined when absent or empty. */
export function text(node: unknown): string | undefined {
  if (node === undefined || node === null) return undefined
  if (typeof node === 'string') return node.trim() || undefined
  if (typeof node === 'number' || typeof node === 'boolean') return String(node)
  if (typeof node === 'object') {
    const t = (node as Record<string, unknown>)['#text']
    return t === undefined || t === null ? undefined : String(t).trim() || undefined
  }
  return undefined
}

/** The text at a path of local names. */
export function textAt(node: unknown, ...path: string[]): string | undefined {
  return text(at(node, ...path))
}

/** An attribute of an element (by local name, without prefix). */
export function attr(node: unknown, name: string): string | undefined {
  if (!node || typeof node !== 'object') return undefined
  const value = (node as Record<string, unknown>)[`@${name}`]
  return value === undefined || value === null ? undefined : String(value)
}
