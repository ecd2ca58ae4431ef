import type net from 'node:net'
import { enrollmentCode } from './enrollment.ts'
import type { TestHub } from './test-hub.ts'

/**
 * Raw-socket helpers for the connection-abuse tests: hand-built MQTT packets (so a test can
 * declare lengths it never sends) and waiting for the server to close a socket.
 */

/** MQTT's variable-length "remaining length" (1 to 4 bytes). */
export function remainingLength(n: number): Buffer {
  const out: number[] = []
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    out.push(byte)
  } while (n > 0)
  return Buffer.from(out)
}

function mqttString(s: string): Buffer {
  const b = Buffer.from(s, 'utf8')
  const len = Buffer.alloc(2)
  len.writeUInt16BE(b.length)
  return Buffer.concat([len, b])
}

/** An MQTT 3.1.1 CONNECT with client id = username, a password and a clean session. */
export function connectPacket(clientId: string, password?: string): Buffer {
  const flags = password === undefined ? 0x02 : 0xc2
  const body = Buffer.concat([
    mqttString('MQTT'),
    Buffer.from([4, flags, 0, 30]),
    mqttString(clientId),
    ...(password === undefined ? [] : [mqttString(clientId), mqttString(password)]),
  ])
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body])
}

/** A QoS 0 PUBLISH (whole packet). */
export function publishPacket(topic: string, payload: Buffer): Buffer {
  const body = Buffer.concat([mqttString(topic), payload])
  return Buffer.concat([Buffer.from([0x30]), remainingLength(body.length), body])
}

/** Only the fixed header and topic of a QoS 0 PUBLISH declaring `payloadBytes` of payload. */
export function publishHeader(topic: string, payloadBytes: number): Buffer {
  const t = mqttString(topic)
  return Buffer.concat([Buffer.from([0x30]), remainingLength(t.length + payloadBytes), t])
}

export const PINGREQ = Buffer.from([0xc0, 0x00])

export interface Watched {
  socket: net.Socket
  closed: Promise<void>
  isClosed(): boolean
  /** Everything the server sent so far. */
  received(): Buffer
  /** Resolves when the server has sent at least `n` bytes in all (rejects if it closes first). */
  receivedAtLeast(n: number, timeoutMs?: number): Promise<Buffer>
}

/** Tracks a client socket: what arrives, and when it closes (errors count as closing). */
export function watch(socket: net.Socket): Watched {
  const chunks: Buffer[] = []
  let closed = false
  const waiters = new Set<() => void>()
  socket.on('data', (c: Buffer) => {
    chunks.push(c)
    for (const w of waiters) w()
  })
  socket.on('error', () => {})
  const closedPromise = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closed = true
      for (const w of waiters) w()
      resolve()
    }),
  )
  const received = () => Buffer.concat(chunks)
  return {
    socket,
    closed: closedPromise,
    isClosed: () => closed,
    received,
    receivedAtLeast(n, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`only ${received().length} of ${n} bytes arrived`))
        }, timeoutMs)
        const check = () => {
          const all = received()
          if (all.length >= n) {
            clearTimeout(timer)
            waiters.delete(check)
            resolve(all)
          } else if (closed) {
            clearTimeout(timer)
            waiters.delete(check)
            reject(new Error(`closed after ${all.length} of ${n} bytes`))
          }
        }
        waiters.add(check)
        check()
      })
    },
  }
}

/** True if the socket closes within `ms` (a generous bound: the test's config makes it quick). */
export async function closesWithin(w: Watched, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms)
  })
  const result = await Promise.race([w.closed.then(() => true as const), timeout])
  clearTimeout(timer)
  return result
}

/**
 * Writes `chunk` repeatedly (respecting backpressure) until the server closes the socket or
 * `maxBytes` have been written; returns how many bytes the socket accepted.
 */
export async function writeUntilClosed(w: Watched, chunk: Buffer, maxBytes: number): Promise<number> {
  let written = 0
  while (!w.isClosed() && written < maxBytes) {
    const ok = w.socket.write(chunk)
    written += chunk.length
    if (!ok) {
      await Promise.race([new Promise<void>((resolve) => w.socket.once('drain', () => resolve())), w.closed])
    }
  }
  return written
}

export async function waitUntil(check: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** Enrolls an agent through the API (the system admin makes a site and a code). */
export async function enrollAgent(t: TestHub, siteName = 'Limits') {
  const { code } = await enrollmentCode(t, siteName)
  const res = await t.request('POST', '/api/v1/enroll', { body: { code } })
  if (res.status !== 201) throw new Error(`enroll: ${res.text}`)
  return res.body as { agentId: string; secret: string; mqttUrl: string }
}

/** Sum of a prom-client counter's values with this label set. */
export async function counterValue(
  counter: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> },
  labels: Record<string, string>,
): Promise<number> {
  const { values } = await counter.get()
  return values
    .filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))
    .reduce((sum, v) => sum + v.value, 0)
}
