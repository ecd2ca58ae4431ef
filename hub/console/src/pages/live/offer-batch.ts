import type { StreamRole } from '../../api/types.ts'

/**
 * Live offers sent together. A browser opens at most six HTTP/1.1 connections to a host (one is
 * taken by the live update stream), so sixteen tiles each posting its own offer wait in line
 * behind the hub's slower answers. Offers made within a few milliseconds of each other go as one
 * `POST /api/v1/live/offers`; each still succeeds or fails on its own.
 */
export interface LiveOffer {
  cameraId: string
  sdp: string
  mode: 'relay' | 'direct'
  stream: StreamRole
}

export interface OfferOutcome {
  status: number
  answer?: { type: 'answer'; sdp: string; sessionId: string; stream?: StreamRole; expiresAt: string }
  error?: { code: string; message: string }
}

/** Sends one batch; resolves with one outcome per offer, in order. */
export type SendOffers = (offers: LiveOffer[]) => Promise<OfferOutcome[]>

/** How long the first offer waits for others (tiles finish gathering ICE a few ms apart). */
export const BATCH_WINDOW_MS = 15
/** The hub's limit per batch. */
export const MAX_BATCH = 16

interface Pending {
  offer: LiveOffer
  resolve: (o: OfferOutcome) => void
  reject: (e: unknown) => void
}

export class OfferBatcher {
  private queue: Pending[] = []
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly send: SendOffers,
    private readonly windowMs = BATCH_WINDOW_MS,
  ) {}

  submit(offer: LiveOffer): Promise<OfferOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ offer, resolve, reject })
      if (this.queue.length >= MAX_BATCH) this.flush()
      else if (this.timer === undefined) this.timer = setTimeout(() => this.flush(), this.windowMs)
    })
  }

  private flush(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    const batch = this.queue.splice(0, MAX_BATCH)
    if (this.queue.length > 0) this.timer = setTimeout(() => this.flush(), this.windowMs)
    if (batch.length === 0) return
    this.send(batch.map((p) => p.offer)).then(
      (outcomes) => {
        batch.forEach((p, i) => {
          const outcome = outcomes[i]
          if (outcome) p.resolve(outcome)
          else p.reject(new Error('the hub answered fewer offers than were sent'))
        })
      },
      (err: unknown) => {
        for (const p of batch) p.reject(err)
      },
    )
  }
}
