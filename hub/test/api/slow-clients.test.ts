import { createHash, randomUUID } from 'node:crypto'
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closesWithin, enrollAgent, type Watched, waitUntil, watch } from '../helpers/raw-clients.ts'
import { startTestHub, type TestHub } from '../helpers/test-hub.ts'

/**
 * Issue 10 item 9: slow clients must not hold HTTP connections. Request headers and bodies have
 * short deadlines (set shorter still here), except an agent's export upload; connections per
 * client address are capped. Raw sockets, since fetch cannot trickle.
 */

const BODY_TIMEOUT_MS = 500
const HEADERS_TIMEOUT_MS = 1000

let t: TestHub

beforeAll(async () => {
  t = await startTestHub({
    VMS_HTTP_BODY_TIMEOUT_MS: BODY_TIMEOUT_MS,
    VMS_HTTP_HEADERS_TIMEOUT_MS: HEADERS_TIMEOUT_MS,
  })
})
afterAll(async () => {
  await t?.close()
})

async function rawClient(): Promise<Watched> {
  const { hostname, port } = new URL(t.url)
  const socket = net.connect(Number(port), hostname)
  const w = watch(socket)
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('error', reject)
  })
  return w
}

/** Sends `body` one byte every `everyMs` until it is all sent or the server closes. */
function trickle(w: Watched, body: Buffer, everyMs: number): Promise<void> {
  return new Promise((resolve) => {
    let i = 0
    const timer = setInterval(() => {
      if (w.isClosed() || i >= body.length) {
        clearInterval(timer)
        resolve()
        return
      }
      w.socket.write(body.subarray(i, ++i))
    }, everyMs)
  })
}

describe('slow request bodies', () => {
  it('cuts a trickled login body after the body timeout, with 408', async () => {
    const w = await rawClient()
    const body = Buffer.from(
      JSON.stringify({ tenant: 'system', username: 'admin', password: 'x'.repeat(200) }),
    )
    w.socket.write(
      `POST /api/v1/auth/login HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    )
    void trickle(w, body, 100)
    // Without the fix the connection lives for 15 minutes.
    expect(await closesWithin(w, 8000)).toBe(true)
    expect(w.received().toString('latin1')).toMatch(/^HTTP\/1\.1 408 /)
  })

  it('cuts trickled headers after the headers timeout', async () => {
    const w = await rawClient()
    w.socket.write('GET /healthz HTTP/1.1\r\nHost: hub\r\n')
    const timer = setInterval(() => {
      if (!w.isClosed()) w.socket.write('X-Slow: 1\r\n')
    }, 100)
    expect(await closesWithin(w, 8000)).toBe(true)
    clearInterval(timer)
  })

  it('lets an agent take longer than the body timeout over an export upload', async () => {
    const agent = await enrollAgent(t)
    let uploadId = ''
    const answer = t.hub.context.agents.requests.call(agent.agentId, 60_000, (id) => {
      uploadId = id
      return {
        op: 'recordings.export',
        cameraId: randomUUID(),
        from: new Date(Date.now() - 60_000).toISOString(),
        to: new Date().toISOString(),
        uploadPath: `/api/v1/agent/uploads/${id}`,
      }
    })
    const file = Buffer.from('not really an mp4, but bytes all the same')
    const meta = {
      sha256: createHash('sha256').update(file).digest('hex'),
      bytes: file.length,
      start: new Date(Date.now() - 60_000).toISOString(),
      end: new Date().toISOString(),
      frames: 1,
      codec: 'h264',
      width: 640,
      height: 480,
      segments: 1,
    }
    const w = await rawClient()
    const auth = Buffer.from(`${agent.agentId}:${agent.secret}`).toString('base64')
    w.socket.write(
      `PUT /api/v1/agent/uploads/${uploadId} HTTP/1.1\r\nHost: hub\r\nAuthorization: Basic ${auth}\r\n` +
        `Content-Type: video/mp4\r\nContent-Length: ${file.length}\r\nX-Vms-Export: ${JSON.stringify(meta)}\r\n\r\n`,
    )
    // Several body timeouts' worth of trickling (file.length × 60 ms): the upload is not cut.
    await trickle(w, file, 60)
    const response = await w.receivedAtLeast(12)
    expect(response.toString('latin1')).toMatch(/^HTTP\/1\.1 204 /)
    await expect(answer).resolves.toMatchObject({ meta: { bytes: file.length } })
    w.socket.destroy()
  })

  it('cuts an upload the hub has refused once the body timeout has passed', async () => {
    const w = await rawClient()
    w.socket.write(
      `PUT /api/v1/agent/uploads/${randomUUID()} HTTP/1.1\r\nHost: hub\r\nContent-Type: video/mp4\r\nContent-Length: 100000\r\n\r\n`,
    )
    void trickle(w, Buffer.alloc(100_000, 1), 100)
    expect(await closesWithin(w, 8000)).toBe(true)
    expect(w.received().toString('latin1')).toMatch(/^HTTP\/1\.1 401 /)
  })
})

describe('connections per address', () => {
  it('refuses the (N+1)th concurrent connection from one address', async () => {
    // A long headers timeout, so that the N connections stay while the test runs.
    await t.restart({ VMS_HTTP_MAX_CONNECTIONS_PER_IP: 3, VMS_HTTP_HEADERS_TIMEOUT_MS: 60_000 })
    const open = await Promise.all([rawClient(), rawClient(), rawClient()])
    await waitUntil(() => t.hub.connectionsFrom('127.0.0.1') === 3, 10_000, 'three connections')
    const extra = await rawClient()
    expect(await closesWithin(extra, 8000)).toBe(true)
    for (const w of open) expect(w.isClosed()).toBe(false)

    // The N connections work; once one has gone, a new one is accepted.
    const first = open[0] as Watched
    first.socket.write('GET /healthz HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n')
    expect((await first.receivedAtLeast(12)).toString('latin1')).toMatch(/^HTTP\/1\.1 200 /)
    await first.closed
    await waitUntil(() => t.hub.connectionsFrom('127.0.0.1') === 2, 10_000, 'a free slot')
    const again = await rawClient()
    again.socket.write('GET /healthz HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n')
    expect((await again.receivedAtLeast(12)).toString('latin1')).toMatch(/^HTTP\/1\.1 200 /)
    for (const w of [again, ...open]) w.socket.destroy()
  })
})
