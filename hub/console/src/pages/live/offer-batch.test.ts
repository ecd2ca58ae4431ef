import { describe, expect, it, vi } from 'vitest'
import { type LiveOffer, MAX_BATCH, OfferBatcher, type OfferOutcome } from './offer-batch.ts'

const offer = (i: number): LiveOffer => ({
  cameraId: `cam-${i}`,
  sdp: `sdp-${i}`,
  mode: 'relay',
  stream: 'sub',
})
const answered = (offers: LiveOffer[]): OfferOutcome[] =>
  offers.map((o) => ({
    status: 201,
    answer: { type: 'answer', sdp: `answer-${o.cameraId}`, sessionId: o.cameraId, expiresAt: 'x' },
  }))

describe('OfferBatcher', () => {
  it('sends offers made together as one batch and gives each its own outcome', async () => {
    vi.useFakeTimers()
    const send = vi.fn(async (offers: LiveOffer[]) => answered(offers))
    const b = new OfferBatcher(send, 15)
    const outcomes = [0, 1, 2].map((i) => b.submit(offer(i)))
    expect(send).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(15)
    expect(send).toHaveBeenCalledTimes(1)
    expect(send.mock.calls[0]?.[0].map((o) => o.cameraId)).toEqual(['cam-0', 'cam-1', 'cam-2'])
    expect((await Promise.all(outcomes)).map((o) => o.answer?.sdp)).toEqual([
      'answer-cam-0',
      'answer-cam-1',
      'answer-cam-2',
    ])
    vi.useRealTimers()
  })

  it('splits more than the hub takes at once, and fails only what a failed batch held', async () => {
    vi.useFakeTimers()
    let calls = 0
    const send = vi.fn(async (offers: LiveOffer[]) => {
      calls += 1
      if (calls === 2) throw new Error('network down')
      return answered(offers)
    })
    const b = new OfferBatcher(send, 15)
    const outcomes = Array.from({ length: MAX_BATCH + 2 }, (_, i) =>
      b.submit(offer(i)).then(
        (o) => o.status,
        (e: Error) => e.message,
      ),
    )
    // The first full batch goes at once, the rest after the window.
    expect(send).toHaveBeenCalledTimes(1)
    await vi.advanceTimersByTimeAsync(15)
    expect(send).toHaveBeenCalledTimes(2)
    const results = await Promise.all(outcomes)
    expect(results.slice(0, MAX_BATCH).every((r) => r === 201)).toBe(true)
    expect(results.slice(MAX_BATCH)).toEqual(['network down', 'network down'])
    vi.useRealTimers()
  })

  it('refuses to guess when the hub answers fewer offers than it was sent', async () => {
    const b = new OfferBatcher(async () => [], 1)
    await expect(b.submit(offer(0))).rejects.toThrow(/fewer offers/)
  })
})
