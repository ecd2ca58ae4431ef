import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
// The encoder lives with the raw-socket test clients; the guard itself only ever reads lengths.
import { remainingLength } from '../../test/helpers/raw-clients.ts'
import {
  brokerPacketLimit,
  GuardedConnection,
  MAX_CONNECT_BYTES,
  MAX_PACKET_BYTES,
  PacketScanner,
  readFixedHeader,
} from './packet-guard.ts'

describe('readFixedHeader', () => {
  it('reads the type and the 1- to 4-byte remaining length', () => {
    for (const n of [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455]) {
      const buf = Uint8Array.from([0x30, ...remainingLength(n)])
      expect(readFixedHeader(buf)).toEqual({ type: 3, remainingLength: n, headerBytes: buf.length })
    }
    expect(readFixedHeader(Uint8Array.from([0xff, 0x10, 0x0a]), 1)).toEqual({
      type: 1,
      remainingLength: 10,
      headerBytes: 2,
    })
  })

  it('needs more bytes, or refuses a fifth length byte', () => {
    expect(readFixedHeader(Uint8Array.from([]))).toBe('incomplete')
    expect(readFixedHeader(Uint8Array.from([0x10]))).toBe('incomplete')
    expect(readFixedHeader(Uint8Array.from([0x10, 0x80, 0x80]))).toBe('incomplete')
    expect(readFixedHeader(Uint8Array.from([0x10, 0x80, 0x80, 0x80, 0x80]))).toBe('malformed')
  })
})

describe('PacketScanner', () => {
  const connect = (n: number) => [0x10, ...remainingLength(n), ...new Array<number>(n).fill(0)]

  it('follows packets across chunk boundaries, headers split included', () => {
    const stream = Uint8Array.from([
      ...connect(20),
      0xc0,
      0x00,
      0x30,
      ...remainingLength(300),
      ...new Array(300).fill(7),
    ])
    for (let split = 1; split < stream.length; split += 7) {
      const scanner = new PacketScanner(brokerPacketLimit)
      const a = scanner.feed(stream.subarray(0, split))
      const b = scanner.feed(stream.subarray(split))
      if (!a.ok || !b.ok) throw new Error('refused')
      const packets = [...a.packets, ...b.packets]
      expect(packets.map((p) => [p.type, p.end])).toEqual([
        [1, 22],
        [12, 24],
        [3, stream.length],
      ])
    }
  })

  it('refuses an oversized CONNECT at its header', () => {
    const scanner = new PacketScanner(brokerPacketLimit)
    expect(scanner.feed(Uint8Array.from([0x10, ...remainingLength(250 * 1024 * 1024)]))).toEqual({
      ok: false,
      reason: 'too_large',
      type: 1,
      remainingLength: 250 * 1024 * 1024,
    })
    expect(new PacketScanner(brokerPacketLimit).feed(Uint8Array.from(connect(MAX_CONNECT_BYTES))).ok).toBe(
      true,
    )
    expect(
      new PacketScanner(brokerPacketLimit).feed(
        Uint8Array.from([0x10, ...remainingLength(MAX_CONNECT_BYTES + 1)]),
      ),
    ).toMatchObject({ ok: false, reason: 'too_large' })
  })

  it('refuses a PUBLISH over the protocol maximum, even when its header arrives a byte at a time', () => {
    const scanner = new PacketScanner(brokerPacketLimit)
    expect(scanner.feed(Uint8Array.from(connect(10))).ok).toBe(true)
    const header = [0x32, ...remainingLength(MAX_PACKET_BYTES + 1)]
    const results = header.map((b) => scanner.feed(Uint8Array.from([b])))
    expect(results.slice(0, -1).every((r) => r.ok)).toBe(true)
    expect(results.at(-1)).toMatchObject({ ok: false, reason: 'too_large', type: 3 })
  })

  it('requires CONNECT first', () => {
    expect(new PacketScanner(brokerPacketLimit).feed(Uint8Array.from([0x30, 0x02, 0, 0]))).toMatchObject({
      ok: false,
      reason: 'not_connect',
    })
  })
})

describe('GuardedConnection', () => {
  function setup(admitWithinMs = 60_000) {
    const socket = new PassThrough()
    const events: string[] = []
    const conn = new GuardedConnection(socket, {
      admitWithinMs,
      onTimeout: () => events.push('timeout'),
      onViolation: (v) => events.push(v.reason),
    })
    const read: Buffer[] = []
    conn.on('data', (c: Buffer) => read.push(c))
    conn.on('error', () => {})
    return { socket, conn, events, bytes: () => Buffer.concat(read).length }
  }
  const tick = () => new Promise((r) => setImmediate(r))

  it('passes the CONNECT, holds what follows until admitted', async () => {
    const { socket, conn, bytes } = setup()
    socket.write(Buffer.from([0x10, 0x02, 0, 0, 0xc0, 0x00, 0xc0, 0x00]))
    await tick()
    expect(bytes()).toBe(4)
    conn.admit()
    await tick()
    expect(bytes()).toBe(8)
    socket.write(Buffer.from([0xc0, 0x00]))
    await tick()
    expect(bytes()).toBe(10)
  })

  it('destroys the connection at an oversized header, forwarding nothing of it', async () => {
    const { socket, conn, events, bytes } = setup()
    socket.write(Buffer.from([0x10, ...remainingLength(250 * 1024 * 1024)]))
    await tick()
    expect(events).toEqual(['too_large'])
    expect(conn.destroyed).toBe(true)
    expect(socket.destroyed).toBe(true)
    expect(bytes()).toBe(0)
  })

  it('destroys a connection not admitted in time', async () => {
    const { conn, events } = setup(50)
    await new Promise<void>((resolve) => conn.once('close', () => resolve()))
    expect(events).toEqual(['timeout'])
  })
})
