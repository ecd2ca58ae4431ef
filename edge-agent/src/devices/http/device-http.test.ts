import { createHash } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { DeviceHttpError, deviceRequest, deviceStream } from './device-http.ts'

const servers: http.Server[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r))
})

async function serve(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler)
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex')

/** A camera checking Digest (MD5, qop=auth) the way RFC 7616 says, independently of the client. */
function digestCamera(user: string, pass: string): http.RequestListener {
  return (req, res) => {
    const auth = req.headers.authorization ?? ''
    const p = (k: string) => new RegExp(`${k}="?([^",]*)"?`).exec(auth)?.[1] ?? ''
    if (auth.startsWith('Digest ')) {
      const ha1 = md5(`${p('username')}:cam:${pass}`)
      const ha2 = md5(`${req.method}:${p('uri')}`)
      const expected = md5(`${ha1}:${p('nonce')}:${p('nc')}:${p('cnonce')}:auth:${ha2}`)
      if (p('username') === user && p('response') === expected && p('uri') === req.url) {
        res.end('<ok/>')
        return
      }
    }
    res.statusCode = 401
    res.setHeader('www-authenticate', 'Digest realm="cam", qop="auth", nonce="abc123"')
    res.end()
  }
}

describe('deviceRequest', () => {
  it('answers a Digest challenge and gets the body', async () => {
    const url = await serve(digestCamera('admin', 'pa:ss"word'))
    const res = await deviceRequest({
      url: `${url}/ISAPI/System/deviceInfo?x=1`,
      credentials: { username: 'admin', password: 'pa:ss"word' },
    })
    expect(res.status).toBe(200)
    expect(res.body.toString()).toBe('<ok/>')
  })

  it('is an auth error with wrong credentials, and without any', async () => {
    const url = await serve(digestCamera('admin', 'right'))
    await expect(
      deviceRequest({ url, credentials: { username: 'admin', password: 'wrong' } }),
    ).rejects.toMatchObject({
      code: 'auth',
    })
    expect((await deviceRequest({ url })).status).toBe(401)
  })

  it('answers Basic only when allowed', async () => {
    const url = await serve((req, res) => {
      if (req.headers.authorization === `Basic ${Buffer.from('u:p').toString('base64')}`) res.end('yes')
      else {
        res.statusCode = 401
        res.setHeader('www-authenticate', 'Basic realm="cam"')
        res.end()
      }
    })
    await expect(deviceRequest({ url, credentials: { username: 'u', password: 'p' } })).rejects.toMatchObject(
      { code: 'auth' },
    )
    const ok = await deviceRequest({ url, credentials: { username: 'u', password: 'p' }, allowBasic: true })
    expect(ok.body.toString()).toBe('yes')
  })

  it('bounds the body, the time, and says when a device is unreachable', async () => {
    const big = await serve((_req, res) => res.end(Buffer.alloc(2048)))
    await expect(deviceRequest({ url: big, maxBytes: 1024 })).rejects.toMatchObject({ code: 'too_large' })
    const slow = await serve(() => {})
    await expect(deviceRequest({ url: slow, timeoutMs: 200 })).rejects.toMatchObject({ code: 'timeout' })
    const closed = await serve(() => {})
    const port = new URL(closed).port
    await new Promise((r) => servers.pop()?.close(r))
    await expect(deviceRequest({ url: `http://127.0.0.1:${port}/` })).rejects.toMatchObject({
      code: 'unreachable',
    })
    await expect(deviceRequest({ url: 'ftp://x/' })).rejects.toBeInstanceOf(DeviceHttpError)
  })

  it('opens an authenticated stream that ends when the device goes silent', async () => {
    const url = await serve((req, res) => {
      if (!req.headers.authorization) {
        res.statusCode = 401
        res.setHeader('www-authenticate', 'Digest realm="cam", qop="auth", nonce="n"')
        res.end()
        return
      }
      res.write('--boundary\r\n')
    })
    const s = await deviceStream({ url, credentials: { username: 'a', password: 'b' }, idleMs: 200 })
    expect(s.status).toBe(200)
    const ended = await new Promise<string>((resolve) => {
      s.response.on('data', () => {})
      s.response.on('error', (err) => resolve((err as DeviceHttpError).code))
      s.response.on('close', () => resolve('closed'))
    })
    expect(['timeout', 'closed']).toContain(ended)
    s.close()
  })
})
