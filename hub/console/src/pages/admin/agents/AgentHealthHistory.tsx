import { useState } from 'react'
import { api, describeError } from '../../../api/client.ts'
import { formatBytes, formatTime } from '../../../components/format.ts'
import { type HealthBucket, summarizeHealth } from './health-history.ts'

const BAR_WIDTH = 2
const HEIGHT = 24

/**
 * An agent's last 24 hours of health (issue 17), read when opened: one bar per 5-minute bucket,
 * as tall as the share of its cameras that streamed throughout the bucket (red where some did
 * not), and the day's worst figures.
 */
export function AgentHealthHistory({ agentId, agentName }: { agentId: string; agentName: string }) {
  const [buckets, setBuckets] = useState<HealthBucket[]>()
  const [error, setError] = useState<string>()
  const load = () => {
    if (buckets) return
    api
      .get<{ buckets: HealthBucket[] }>(`/api/v1/agents/${agentId}/health-history`)
      .then((r) => setBuckets(r.buckets))
      .catch((err: unknown) => setError(describeError(err)))
  }
  const s = buckets ? summarizeHealth(buckets) : undefined
  return (
    <details onToggle={(e) => e.currentTarget.open && load()}>
      <summary>Health, last 24 hours</summary>
      {error && <p className="adm-bad">{error}</p>}
      {!s && !error && <p className="muted">Loading…</p>}
      {s && s.bars.length === 0 && <p className="muted">No heartbeats in the last 24 hours.</p>}
      {s && s.bars.length > 0 && (
        <>
          <svg
            role="img"
            aria-label={`Cameras streaming on ${agentName}, per 5 minutes`}
            width={s.bars.length * BAR_WIDTH}
            height={HEIGHT}
          >
            {s.bars.map((b, i) => (
              <rect
                key={b.bucketStart}
                x={i * BAR_WIDTH}
                y={HEIGHT - Math.max(1, b.share * HEIGHT)}
                width={BAR_WIDTH - 0.5}
                height={Math.max(1, b.share * HEIGHT)}
                fill={b.short ? 'var(--bad, #c0392b)' : 'var(--ok, #2e8b57)'}
              >
                <title>{`${formatTime(b.bucketStart)}: ${Math.round(b.share * 100)} % streaming`}</title>
              </rect>
            ))}
          </svg>
          <p>
            {s.allStreaming} of {s.bars.length} 5-minute periods with every camera streaming
            {s.worst && (
              <span className="adm-warn">
                ; worst {s.worst.streaming} of {s.worst.cameras} at {formatTime(s.worst.bucketStart)}
              </span>
            )}
            {s.outboxDepthMax !== null && `; outbox at most ${s.outboxDepthMax}`}
            {s.diskFreeMinBytes !== null && `; least free disk ${formatBytes(s.diskFreeMinBytes)}`}
          </p>
        </>
      )}
    </details>
  )
}
