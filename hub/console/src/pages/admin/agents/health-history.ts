/** An agent's health bucket as `GET /api/v1/agents/:id/health-history` returns it (5 minutes). */
export interface HealthBucket {
  bucketStart: string
  samples: number
  cameras: number
  streamingMin: number
  streamingLast: number
  unreachableMax: number
  outboxDepthMax: number | null
  diskFreeMinBytes: number | null
  diskTotalBytes: number | null
}

export interface HealthBar {
  bucketStart: string
  /** Share of the cameras streaming at the bucket's worst (1 when it reported no cameras). */
  share: number
  /** Some camera was not streaming at some point of the bucket. */
  short: boolean
}

export interface HealthSummary {
  bars: HealthBar[]
  /** The bucket with the fewest cameras streaming (the first such), if any fell short. */
  worst: { bucketStart: string; streaming: number; cameras: number } | undefined
  /** Buckets in which every camera streamed throughout. */
  allStreaming: number
  outboxDepthMax: number | null
  diskFreeMinBytes: number | null
}

/** What the agent card draws and says of a day of buckets. */
export function summarizeHealth(buckets: readonly HealthBucket[]): HealthSummary {
  let worst: HealthSummary['worst']
  let outboxDepthMax: number | null = null
  let diskFreeMinBytes: number | null = null
  const bars = buckets.map((b) => {
    const short = b.streamingMin < b.cameras
    if (short && (!worst || b.streamingMin / b.cameras < worst.streaming / worst.cameras))
      worst = { bucketStart: b.bucketStart, streaming: b.streamingMin, cameras: b.cameras }
    if (b.outboxDepthMax !== null) outboxDepthMax = Math.max(outboxDepthMax ?? 0, b.outboxDepthMax)
    if (b.diskFreeMinBytes !== null)
      diskFreeMinBytes = Math.min(diskFreeMinBytes ?? Number.POSITIVE_INFINITY, b.diskFreeMinBytes)
    return { bucketStart: b.bucketStart, share: b.cameras > 0 ? b.streamingMin / b.cameras : 1, short }
  })
  return {
    bars,
    worst,
    allStreaming: bars.filter((b) => !b.short).length,
    outboxDepthMax,
    diskFreeMinBytes,
  }
}
