import { describe, expect, it } from 'vitest'
import {
  decode,
  downRequest,
  liveBundleResult,
  MAX_PAYLOAD_BYTES,
  PLAYBACK_PAGE_PARTS,
  recordingSegmentsResult,
  upMessages,
  upStatus,
} from './messages.ts'
import { parseTopic, upTopic } from './topics.ts'

const agent = '2f1c4a8e-2b7a-4c33-9d2e-9d5f0a7b1c11'

describe('protocol', () => {
  it('builds and parses topics', () => {
    expect(upTopic(agent, 'messages')).toBe(`vms/v1/agents/${agent}/up/messages`)
    expect(parseTopic(upTopic(agent, 'status'))).toEqual({ agentId: agent, direction: 'up', kind: 'status' })
    expect(parseTopic('vms/v1/agents/+/up/messages')).toBeUndefined()
    expect(parseTopic(`vms/v1/agents/${agent}/up/messages/extra`)).toBeUndefined()
  })

  it('accepts a valid batch and rejects malformed, invalid and oversize payloads', () => {
    const batch = {
      v: 1,
      messages: [
        { seq: 1, type: 'event', at: '2026-11-24T10:00:00.000Z', body: { type: 'test', data: { n: 1 } } },
      ],
    }
    expect(decode(upMessages, JSON.stringify(batch)).ok).toBe(true)
    expect(decode(upMessages, '{"v":1,')).toEqual({ ok: false, error: 'malformed' })
    expect(decode(upMessages, JSON.stringify({ ...batch, v: 2 }))).toEqual({ ok: false, error: 'invalid' })
    expect(
      decode(upMessages, JSON.stringify({ v: 1, messages: [{ seq: 0, type: 'event', at: 'x', body: {} }] })),
    ).toEqual({ ok: false, error: 'invalid' })
    expect(decode(upMessages, Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 32))).toEqual({
      ok: false,
      error: 'oversize',
    })
  })

  it('carries playback requests and bounds what an agent may answer', () => {
    const base = { v: 1, id: agent, deadline: '2026-11-24T10:00:00.000Z', cameraId: agent }
    const part = { kind: 'media', file: 12, startMs: 1_795_911_173_810, first: 0, count: 4 }
    const upload = `/api/v1/agent/uploads/${agent}`
    expect(
      downRequest.safeParse({ ...base, op: 'recordings.segment', part, uploadPath: upload }).success,
    ).toBe(true)
    for (const bad of [
      { ...part, count: 0 },
      { ...part, count: 121 },
      { ...part, file: -1 },
      { kind: 'init', file: 1, startMs: 1, init: 'not-hex' },
    ])
      expect(
        downRequest.safeParse({ ...base, op: 'recordings.segment', part: bad, uploadPath: upload }).success,
      ).toBe(false)
    expect(
      downRequest.safeParse({ ...base, op: 'recordings.segment', part, uploadPath: '/api/v1/auth/login' })
        .success,
    ).toBe(false)
    const list = {
      ...base,
      op: 'recordings.segments',
      from: base.deadline,
      to: base.deadline,
      targetMs: 4000,
    }
    expect(downRequest.safeParse(list).success).toBe(true)
    expect(downRequest.safeParse({ ...list, targetMs: 100 }).success).toBe(false)

    const file = {
      file: 1,
      startMs: 1000.5,
      init: 'a'.repeat(32),
      open: false,
      parts: [[0, 4, 1000.5, 4000]],
    }
    expect(recordingSegmentsResult.safeParse({ files: [file] }).success).toBe(true)
    expect(
      recordingSegmentsResult.safeParse({ files: [{ ...file, parts: [[0, 4, 1000, -1]] }] }).success,
    ).toBe(false)
    expect(recordingSegmentsResult.safeParse({ files: [{ ...file, parts: [] }] }).success).toBe(false)
    const many = { ...file, parts: Array.from({ length: PLAYBACK_PAGE_PARTS / 2 + 1 }, () => [0, 1, 0, 1]) }
    expect(recordingSegmentsResult.safeParse({ files: [many, many] }).success).toBe(false)
  })

  it('carries a bundled live upstream: a track per camera, answered in order, closed one track at a time', () => {
    const cam = (n: number) => `2f1c4a8e-2b7a-4c33-9d2e-${String(n).padStart(12, '0')}`
    const request = (tracks: unknown, extra: Record<string, unknown> = {}) =>
      decode(
        downRequest,
        JSON.stringify({
          v: 1,
          id: agent,
          op: 'live.bundle',
          deadline: '2026-11-29T10:00:00.000Z',
          peerId: agent,
          tracks,
          sdp: 'v=0\r\n',
          ...extra,
        }),
      )
    const two = [
      { cameraId: cam(1), stream: 'sub' },
      { cameraId: cam(2), stream: 'main' },
    ]
    const ok = request(two)
    expect(ok.ok && ok.value.op === 'live.bundle' && ok.value.tracks).toEqual(two)
    // The same camera and stream twice, nothing, more than a grid, hostile text: refused.
    expect(request([two[0], two[0]]).ok).toBe(false)
    expect(request([two[0], { ...two[0], stream: 'main' }]).ok).toBe(true)
    expect(request([]).ok).toBe(false)
    expect(request(Array.from({ length: 17 }, (_, i) => ({ cameraId: cam(i), stream: 'sub' }))).ok).toBe(
      false,
    )
    expect(request([{ cameraId: `${cam(1)}\u0000`, stream: 'sub' }]).ok).toBe(false)
    expect(request([{ cameraId: cam(1), stream: 'SUB\uD800' }]).ok).toBe(false)
    expect(request(two, { sdp: 'x'.repeat(200 * 1024 + 1) }).ok).toBe(false)

    // The answer: a stream or an error per track, in order.
    const answer = liveBundleResult.safeParse({
      sdp: 'v=0\r\n',
      tracks: [
        { stream: 'sub' },
        { error: { status: 404, code: 'camera_unknown', message: 'no such camera' } },
      ],
    })
    expect(answer.success && answer.data.tracks).toEqual([
      { stream: 'sub', transcoded: false },
      { error: { status: 404, code: 'camera_unknown', message: 'no such camera' } },
    ])
    expect(liveBundleResult.safeParse({ sdp: 'v=0', tracks: [{ stream: 'side' }] }).success).toBe(false)
    expect(liveBundleResult.safeParse({ sdp: 'v=0', tracks: [] }).success).toBe(false)

    // live.close names one track of a bundle, or the whole connection.
    const close = (extra: Record<string, unknown>) =>
      decode(
        downRequest,
        JSON.stringify({
          v: 1,
          id: agent,
          op: 'live.close',
          deadline: '2026-11-29T10:00:00.000Z',
          peerId: agent,
          ...extra,
        }),
      ).ok
    expect(close({})).toBe(true)
    expect(close({ track: 15 })).toBe(true)
    expect(close({ track: 16 })).toBe(false)
    expect(close({ track: -1 })).toBe(false)
    expect(close({ track: 1.5 })).toBe(false)

    // An agent announces what it can do; an older one announces nothing.
    const status = (features?: unknown) =>
      decode(upStatus, JSON.stringify({ v: 1, online: true, at: '2026-11-29T10:00:00.000Z', features }))
    const announced = status(['live.bundle'])
    expect(announced.ok && announced.value.features).toEqual(['live.bundle'])
    expect(status(undefined).ok).toBe(true)
    expect(status(['x'.repeat(65)]).ok).toBe(false)
    expect(status(Array(33).fill('f')).ok).toBe(false)
  })
})
