import type http from 'node:http'
import net from 'node:net'
import { describe, expect, it } from 'vitest'
import { parseTrustedProxies } from '../config/trusted-proxies.ts'
import {
  AddressCounter,
  isUploadRequest,
  limitConnectionsPerAddress,
  normaliseAddress,
} from './connection-limits.ts'

describe('AddressCounter', () => {
  it('refuses the slot over the cap, per address, and frees slots on release', () => {
    const c = new AddressCounter(2)
    expect(c.acquire('10.0.0.1')).toBe(true)
    expect(c.acquire('10.0.0.1')).toBe(true)
    expect(c.acquire('10.0.0.1')).toBe(false)
    expect(c.acquire('10.0.0.2')).toBe(true)
    expect(c.count('10.0.0.1')).toBe(2)
    c.release('10.0.0.1')
    expect(c.acquire('10.0.0.1')).toBe(true)
    c.release('10.0.0.2')
    c.release('10.0.0.2') // never below zero
    expect(c.count('10.0.0.2')).toBe(0)
    expect(c.count('::ffff:10.0.0.1')).toBe(2)
  })
})

describe('normaliseAddress', () => {
  it('treats IPv4-mapped IPv6 as the IPv4 address', () => {
    expect(normaliseAddress('::ffff:127.0.0.1')).toBe('127.0.0.1')
    expect(normaliseAddress('::1')).toBe('::1')
    expect(normaliseAddress(undefined)).toBe('')
  })
})

describe('isUploadRequest', () => {
  const req = (method: string, url: string) => ({ method, url }) as http.IncomingMessage
  it('names only PUTs to an agent upload path', () => {
    const id = '4f0c7a52-0f7e-4a3b-9d7e-2f1f6c1b2a10'
    expect(isUploadRequest(req('PUT', `/api/v1/agent/uploads/${id}`))).toBe(true)
    expect(isUploadRequest(req('PUT', `/api/v1/agent/uploads/${id}?x=1`))).toBe(true)
    expect(isUploadRequest(req('POST', `/api/v1/agent/uploads/${id}`))).toBe(false)
    expect(isUploadRequest(req('PUT', `/api/v1/agent/uploads/${id}/more`))).toBe(false)
    expect(isUploadRequest(req('PUT', '/api/v1/license'))).toBe(false)
    expect(isUploadRequest(req('POST', '/api/v1/auth/login'))).toBe(false)
  })
})

describe('limitConnectionsPerAddress', () => {
  async function connectTwice(exempt?: string): Promise<{ refused: string[]; second: boolean }> {
    const accepted: net.Socket[] = []
    const server = net.createServer((s) => accepted.push(s))
    const refused: string[] = []
    limitConnectionsPerAddress(server, {
      max: 1,
      onRefused: (a) => refused.push(a),
      ...(exempt ? { exempt: parseTrustedProxies(exempt) } : {}),
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as net.AddressInfo
    const open = () =>
      new Promise<net.Socket>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => resolve(s))
        s.on('error', () => {})
      })
    const first = await open()
    const second = await open()
    // The server answers nothing: a refused socket is the only one that ends.
    const ended = await new Promise<boolean>((resolve) => {
      second.once('close', () => resolve(true))
      second.write('ping')
      setTimeout(() => resolve(false), 1000).unref()
    })
    for (const s of [first, second, ...accepted]) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
    return { refused, second: !ended }
  }

  it('closes the connection over the cap', async () => {
    expect(await connectTwice()).toEqual({ refused: ['127.0.0.1'], second: false })
  })

  it('does not count trusted proxies', async () => {
    expect(await connectTwice('127.0.0.0/8')).toEqual({ refused: [], second: true })
  })
})
