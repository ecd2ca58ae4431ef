import { describe, expect, it } from 'vitest'
import { decode, MAX_PAYLOAD_BYTES, upMessages } from './messages.ts'
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
})
