import {
  type H264Profile,
  LiveFanout,
  packetizeH264AccessUnit,
  parseProfileLevelId,
  profileLevelIdFromSps,
} from '@ts-vms/shared/live'
import type { AccessUnit } from '../media/codec/access-unit.ts'
import { h264NalType } from '../media/codec/h264.ts'
import { Condition } from '../media/core/condition.ts'
import type { Consumer } from '../media/core/producer.ts'
import type { StreamInfo } from '../media/rtsp/client.ts'

/**
 * The live-view consumer of a camera stream: each H.264 access unit becomes RTP packets (our own
 * packetization, so what leaves the agent is well-formed whatever the camera sent) in a fanout
 * that keeps the current GOP for instant start. The stream's codec and real profile are known
 * from its SPS, which the answer to a viewer's offer must match.
 */
export class LiveSource implements Consumer {
  readonly name = 'live'
  readonly fanout = new LiveFanout()
  codec: 'h264' | 'h265' | undefined
  profile: H264Profile | undefined
  profileLevelId: string | undefined
  frames = 0
  private readonly condition = new Condition()

  start(info: StreamInfo): void {
    this.codec = info.codec
    const sps = info.parameterSets.find((p) => h264NalType(p) === 7)
    if (info.codec === 'h264' && sps) this.learnSps(sps)
    this.fanout.inputRestarted()
    this.condition.changed()
  }

  frame(au: AccessUnit): void {
    this.codec = au.codec
    if (au.codec !== 'h264') {
      this.condition.changed()
      return
    }
    if (au.keyframe) {
      const sps = au.nalus.find((n) => h264NalType(n) === 7)
      if (sps) this.learnSps(sps)
    }
    if (au.damaged) {
      // It may not decode, nor anything after it until the next keyframe.
      this.fanout.inputLost()
      return
    }
    this.frames++
    const timestamp = au.timestamp >>> 0
    for (const p of packetizeH264AccessUnit(au.nalus)) this.fanout.push({ ...p, timestamp })
  }

  stop(): void {
    this.fanout.inputRestarted()
  }

  private learnSps(sps: Buffer): void {
    const id = profileLevelIdFromSps(sps)
    if (!id) return
    this.profileLevelId = id
    this.profile = parseProfileLevelId(id)?.profile
    this.condition.changed()
  }

  /** Known enough to answer an offer: H.264 with its profile, or a codec we cannot pass through. */
  get ready(): boolean {
    return this.codec === 'h265' || (this.codec === 'h264' && this.profile !== undefined)
  }

  /** Waits until `ready` or the timeout; returns whether it is ready. */
  whenReady(timeoutMs: number): Promise<boolean> {
    return this.condition.until(() => this.ready, timeoutMs)
  }
}
