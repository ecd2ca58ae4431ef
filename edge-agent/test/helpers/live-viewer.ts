import { LiveFanout, ReceivingPeer } from '@ts-vms/shared/live'
import type { TestHub } from '../../../hub/test/helpers/test-hub.ts'
import { waitUntil } from './wait.ts'

/**
 * A scripted live viewer (werift in place of a browser): offers to receive H.264, posts the offer
 * to the hub's live endpoint, and counts what arrives.
 */
export interface TestViewer {
  status: number
  body: Record<string, unknown> & { sessionId?: string; sdp?: string; code?: string }
  fanout: LiveFanout
  peer: ReceivingPeer
  /** Waits for `packets` packets, the first frame a keyframe. */
  receives(packets?: number, ms?: number): Promise<void>
  close(): Promise<void>
}

export async function watch(
  t: TestHub,
  token: string,
  cameraId: string,
  mode: 'relay' | 'direct' = 'relay',
  stream?: 'main' | 'sub',
): Promise<TestViewer> {
  const fanout = new LiveFanout()
  const peer = await ReceivingPeer.offer(fanout, {
    iceServers: [],
    additionalHostAddresses: ['127.0.0.1'],
    gatherTimeoutMs: 2000,
  })
  const res = await t.request('POST', `/api/v1/cameras/${cameraId}/live`, {
    token,
    body: { type: 'offer', sdp: peer.offerSdp, mode, ...(stream ? { stream } : {}) },
  })
  if (res.status === 201) await peer.accept(res.body.sdp)
  else await peer.close()
  return {
    status: res.status,
    body: res.body,
    fanout,
    peer,
    async receives(packets = 30, ms = 20_000) {
      await waitUntil(
        () => fanout.receivedPackets >= packets && fanout.gop()[0]?.keyframe === true,
        ms,
        `${packets} live packets starting on a keyframe`,
      )
    },
    async close() {
      await peer.close()
    },
  }
}
