import net from 'node:net'
import tls from 'node:tls'
import { MAX_PAYLOAD_BYTES, upTopic } from '@ts-vms/shared'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EmbeddedBroker } from '../../src/mqtt/embedded-broker.ts'
import { MAX_PACKET_BYTES } from '../../src/mqtt/packet-guard.ts'
import {
  closesWithin,
  connectPacket,
  counterValue,
  enrollAgent,
  PINGREQ,
  publishHeader,
  publishPacket,
  remainingLength,
  type Watched,
  waitUntil,
  watch,
  writeUntilClosed,
} from '../helpers/raw-clients.ts'
import { startTestHub, type TestHub } from '../helpers/test-hub.ts'

/**
 * Issue 10 item 5: the embedded broker must not buffer oversized packets (refused at their length
 * header), must drop connections that do not complete CONNECT quickly, and caps connections per
 * client address. Raw sockets against the broker as the hub starts it (TLS).
 */

const CONNECT_TIMEOUT_MS = 1000
const MAX_PER_IP = 3
/** Far more than any kernel socket buffers between client and hub: writing this much means it was read. */
const WRITE_CAP = 64 * 1024 * 1024

let t: TestHub
let port: number
const agents: { agentId: string; secret: string }[] = []

beforeAll(async () => {
  t = await startTestHub(
    {
      VMS_MQTT_CONNECT_TIMEOUT_MS: CONNECT_TIMEOUT_MS,
      VMS_MQTT_MAX_CONNECTIONS_PER_IP: MAX_PER_IP,
    },
    { systemLicense: true },
  )
  for (let i = 0; i < MAX_PER_IP; i++) agents.push(await enrollAgent(t))
  port = (t.hub.context.agents.bus as EmbeddedBroker).port
})
afterAll(async () => {
  await t?.close()
})

function broker(): EmbeddedBroker {
  return t.hub.context.agents.bus as EmbeddedBroker
}

function rejected(reason: string): Promise<number> {
  return counterValue(t.hub.context.metrics.mqttRejected, { reason })
}

async function tlsClient(): Promise<Watched> {
  const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false })
  const w = watch(socket)
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve())
    socket.once('error', reject)
  })
  return w
}

/** A connected, authenticated agent session (CONNACK accepted). */
async function agentSession(agent: { agentId: string; secret: string }): Promise<Watched> {
  const w = await tlsClient()
  w.socket.write(connectPacket(agent.agentId, agent.secret))
  const connack = await w.receivedAtLeast(4)
  expect([...connack.subarray(0, 4)]).toEqual([0x20, 0x02, 0x00, 0x00])
  return w
}

async function noConnectionsLeft(): Promise<void> {
  await waitUntil(() => broker().connectionsFrom('127.0.0.1') === 0, 10_000, 'connections to close')
}

describe('oversized packets', () => {
  it('closes a connection declaring a 250 MB CONNECT at its header, without reading the body', async () => {
    await noConnectionsLeft()
    const before = await rejected('packet_too_large')
    const w = await tlsClient()
    w.socket.write(Buffer.concat([Buffer.from([0x10]), remainingLength(250 * 1024 * 1024)]))
    const written = await writeUntilClosed(w, Buffer.alloc(256 * 1024, 0x41), WRITE_CAP)
    expect(await closesWithin(w, 10_000)).toBe(true)
    // Only what sat in socket buffers when the hub hung up: nowhere near the declared size.
    expect(written).toBeLessThan(WRITE_CAP / 2)
    expect(await rejected('packet_too_large')).toBe(before + 1)
  })

  it('closes a CONNECT larger than a few KB', async () => {
    const before = await rejected('packet_too_large')
    const w = await tlsClient()
    w.socket.write(Buffer.concat([Buffer.from([0x10]), remainingLength(64 * 1024)]))
    expect(await closesWithin(w, 10_000)).toBe(true)
    expect(await rejected('packet_too_large')).toBe(before + 1)
  })

  it("closes an authenticated agent's oversize PUBLISH at its header", async () => {
    await noConnectionsLeft()
    const agent = agents[0] as { agentId: string; secret: string }
    const before = await rejected('packet_too_large')
    const w = await agentSession(agent)
    w.socket.write(publishHeader(upTopic(agent.agentId, 'messages'), 200 * 1024 * 1024))
    const written = await writeUntilClosed(w, Buffer.alloc(256 * 1024, 0x20), WRITE_CAP)
    expect(await closesWithin(w, 10_000)).toBe(true)
    expect(written).toBeLessThan(WRITE_CAP / 2)
    expect(await rejected('packet_too_large')).toBe(before + 1)
  })

  it('keeps a connection whose publication is only a little over the payload limit', async () => {
    await noConnectionsLeft()
    const agent = agents[0] as { agentId: string; secret: string }
    const oversize = await rejected('oversize')
    const w = await agentSession(agent)
    // Read, and answered by ingest (`oversize`: send smaller), without dropping the connection.
    const payload = Buffer.alloc(MAX_PAYLOAD_BYTES + 64 * 1024, 0x20)
    expect(payload.length).toBeLessThan(MAX_PACKET_BYTES)
    w.socket.write(publishPacket(upTopic(agent.agentId, 'messages'), payload))
    w.socket.write(PINGREQ)
    const all = await w.receivedAtLeast(6)
    expect([...all.subarray(4, 6)]).toEqual([0xd0, 0x00]) // PINGRESP
    await expect.poll(() => rejected('oversize')).toBe(oversize + 1)
    expect(w.isClosed()).toBe(false)
    w.socket.destroy()
  })

  it('refuses a first packet that is not CONNECT', async () => {
    const w = await tlsClient()
    w.socket.write(publishHeader('vms/v1/agents/x/up/messages', 1000))
    expect(await closesWithin(w, 10_000)).toBe(true)
  })
})

describe('connection timeouts', () => {
  it('drops a client that never sends CONNECT after the configured timeout', async () => {
    const before = await rejected('connect_timeout')
    const w = await tlsClient()
    // Well under aedes' own default (10 s): only the configured timeout can close it in time.
    expect(await closesWithin(w, 8000)).toBe(true)
    expect(await rejected('connect_timeout')).toBe(before + 1)
  })

  it('drops a client that trickles its CONNECT', async () => {
    const w = await tlsClient()
    const packet = connectPacket('trickler', 'x'.repeat(40))
    let i = 0
    const timer = setInterval(() => {
      if (i < packet.length - 1 && !w.isClosed()) w.socket.write(packet.subarray(i, ++i))
    }, 100)
    expect(await closesWithin(w, 8000)).toBe(true)
    clearInterval(timer)
  })

  it('drops a TCP connection that never starts TLS', async () => {
    const socket = net.connect(port, '127.0.0.1')
    const w = watch(socket)
    expect(await closesWithin(w, 8000)).toBe(true)
  })
})

describe('connections per address', () => {
  it('refuses the (N+1)th connection from one address, and accepts again once one closes', async () => {
    await noConnectionsLeft()
    const before = await rejected('too_many_connections')
    // Authenticated sessions, so the connect timeout does not end them while the test runs.
    const sessions = await Promise.all(agents.slice(0, MAX_PER_IP).map((a) => agentSession(a)))
    const extra = watch(net.connect(port, '127.0.0.1'))
    expect(await closesWithin(extra, 8000)).toBe(true)
    expect(await rejected('too_many_connections')).toBe(before + 1)
    for (const s of sessions) expect(s.isClosed()).toBe(false)

    sessions[0]?.socket.destroy()
    await waitUntil(() => broker().connectionsFrom('127.0.0.1') < MAX_PER_IP, 10_000, 'a slot')
    const again = await agentSession(agents[0] as { agentId: string; secret: string })
    expect(again.isClosed()).toBe(false)
    for (const s of [again, ...sessions]) s.socket.destroy()
  })
})
