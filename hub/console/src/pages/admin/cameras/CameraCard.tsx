import type { AnalyticsCamera, AnalyticsStatus } from '../../../api/analytics-types.ts'
import { PROTOCOL_NAMES } from '../../../api/device-types.ts'
import type { Agent, Camera, StreamHealth } from '../../../api/types.ts'
import { formatDuration, formatTime } from '../../../components/format.ts'
import { ConfirmButton } from '../common/ConfirmButton.tsx'
import { StreamTest } from './StreamTest.tsx'

function formatBitrate(bps: number): string {
  if (bps >= 1_000_000) return `${(bps / 1_000_000).toFixed(1)} Mbit/s`
  return `${Math.round(bps / 1000)} kbit/s`
}

const STATE_TONE: Record<StreamHealth['state'], string> = {
  streaming: 'badge-ok',
  connecting: 'badge-warn',
  idle: '',
  backoff: 'badge-bad',
  stopped: 'badge-bad',
}
const STATE_LABEL: Record<StreamHealth['state'], string> = {
  streaming: 'streaming',
  connecting: 'connecting',
  idle: 'idle',
  backoff: 'offline, retrying',
  stopped: 'stopped',
}

/** A stream's figures from the agent's last heartbeat; the optional ones only when reported. */
function streamFacts(h: StreamHealth): string[] {
  const out: string[] = []
  if (h.codec) out.push(h.codec.toUpperCase())
  if (h.state === 'streaming') {
    out.push(`${Math.round(h.fps * 10) / 10} fps`, formatBitrate(h.bitrateBps))
    out.push(h.recording ? 'recording' : 'not recording')
  }
  if (h.clockDriftMs !== undefined)
    out.push(
      `clock ${h.clockDriftMs < 0 ? 'behind' : 'ahead'} by ${formatDuration(Math.abs(h.clockDriftMs))}`,
    )
  if (h.timestampJumps !== undefined)
    out.push(`${h.timestampJumps} timestamp jump${h.timestampJumps === 1 ? '' : 's'}`)
  if (h.droppedFrames !== undefined)
    out.push(`${h.droppedFrames} dropped frame${h.droppedFrames === 1 ? '' : 's'}`)
  if (h.lostPackets > 0) out.push(`${h.lostPackets} lost packets`)
  if (h.reconnects > 0) out.push(`${h.reconnects} reconnect${h.reconnects === 1 ? '' : 's'}`)
  return out
}

/** One word for the camera as a whole, with its tone. */
function overall(c: Camera): { label: string; tone: string } {
  if (!c.agentId) return { label: 'no agent', tone: 'badge-warn' }
  if (c.streams.length === 0) return { label: 'no streams', tone: 'badge-warn' }
  if (c.status && !c.status.agentOnline) return { label: 'agent offline', tone: 'badge-bad' }
  const states = c.status?.streams.map((s) => s.state) ?? []
  if (states.includes('streaming')) return { label: 'streaming', tone: 'badge-ok' }
  if (states.includes('connecting')) return { label: 'connecting', tone: 'badge-warn' }
  if (states.length === 0) return { label: 'waiting for the agent', tone: '' }
  return { label: 'offline', tone: 'badge-bad' }
}

const ANALYTICS_TONE: Record<AnalyticsStatus['state'], string> = {
  running: 'badge-ok',
  disabled: '',
  error: 'badge-bad',
}

/** The agent's figures for a camera's analytics: rate, median inference time, frames skipped. */
export function analyticsFacts(a: AnalyticsStatus): string[] {
  if (a.state !== 'running') return []
  return [
    `${Math.round(a.fps * 10) / 10} fps`,
    `inference ${Math.round(a.inferenceMsP50)} ms`,
    `${Math.round(a.skippedByMotion * 100)} % of frames skipped (no motion)`,
  ]
}

export function CameraCard({
  camera: c,
  site,
  agent,
  manage,
  onEdit,
  onDelete,
  onAnalytics,
}: {
  camera: Camera
  site: string
  agent: Agent | undefined
  manage: boolean
  onEdit: () => void
  onDelete: () => Promise<void>
  onAnalytics?: () => void
}) {
  const titleId = `camera-${c.id}`
  const state = overall(c)
  const analytics = (c as AnalyticsCamera).analytics
  const facts = analytics ? analyticsFacts(analytics) : []
  return (
    <article className="card" aria-labelledby={titleId}>
      <div className="adm-card-head">
        <h2 id={titleId}>{c.name}</h2>
        <span className={`badge ${state.tone}`}>{state.label}</span>
      </div>
      <dl className="adm-facts">
        <dt>Site</dt>
        <dd>{site}</dd>
        <dt>Agent</dt>
        <dd>
          {c.agentId ? (
            agent ? (
              <>
                {agent.name} <span className="muted">({agent.status})</span>
              </>
            ) : (
              <span className="muted">not visible to you</span>
            )
          ) : (
            <span className="muted">none: not recorded</span>
          )}
        </dd>
        <dt>Recording</dt>
        <dd>
          {c.recording.enabled ? 'on' : 'off'}, kept {c.recording.retentionDays} day
          {c.recording.retentionDays === 1 ? '' : 's'}
        </dd>
        {c.device && (
          <>
            <dt>Device</dt>
            <dd>
              {PROTOCOL_NAMES[c.device.protocol]} at <span className="mono">{c.device.address}</span>
              {c.device.channel && `, channel ${c.device.channel}`}
              {c.device.events && ', events on'}
              {c.device.hasPassword && <span className="badge badge-ok">password set</span>}
            </dd>
          </>
        )}
        {analytics && (
          <>
            <dt>Analytics</dt>
            <dd data-analytics-state={analytics.state}>
              <span className={`badge ${ANALYTICS_TONE[analytics.state] ?? ''}`}>{analytics.state}</span>
              {facts.length > 0 && ` ${facts.join(' · ')}`}
              {analytics.error && analytics.state !== 'running' && (
                <span className={analytics.state === 'error' ? 'adm-bad' : 'muted'}>
                  {' '}
                  — {analytics.error}
                </span>
              )}
            </dd>
          </>
        )}
        {c.status?.at && (
          <>
            <dt>Reported</dt>
            <dd>{formatTime(c.status.at)}</dd>
          </>
        )}
      </dl>
      {c.streams.length > 0 && (
        <ul className="adm-streams" aria-label={`Streams of ${c.name}`}>
          {c.streams.map((s) => {
            const h = c.status?.streams.find((x) => x.role === s.role)
            const facts = h ? streamFacts(h) : []
            return (
              <li key={s.role}>
                <strong>{s.role === 'main' ? 'Main' : 'Sub'}</strong> <span className="mono">{s.url}</span>
                <br />
                <span className="muted">
                  {s.username ? `user ${s.username}` : 'no username'} ·{' '}
                  {s.hasPassword ? 'password set' : 'no password'} · {s.transport.toUpperCase()}
                </span>
                {h && (
                  <>
                    <br />
                    <span className={`badge ${STATE_TONE[h.state]}`}>{STATE_LABEL[h.state]}</span>{' '}
                    {facts.join(' · ')}
                    {h.error && h.state !== 'streaming' && <span className="adm-bad"> — {h.error}</span>}
                  </>
                )}
              </li>
            )
          })}
        </ul>
      )}
      {manage && c.agentId && c.streams.length > 0 && <StreamTest camera={c} />}
      {manage && (
        <div className="adm-card-actions">
          <button type="button" className="ghost small" aria-label={`Edit camera ${c.name}`} onClick={onEdit}>
            Edit
          </button>
          {onAnalytics && (
            <button
              type="button"
              className="ghost small"
              aria-label={`Analytics of camera ${c.name}`}
              onClick={onAnalytics}
            >
              Analytics
            </button>
          )}
          <ConfirmButton
            label="Delete"
            accessibleName={`Delete camera ${c.name}`}
            title={`Delete camera ${c.name}?`}
            message={
              <p>
                It disappears from the live view and playback at once, and its agent stops recording it. What
                it already recorded stays on the agent's disk until the disk quota needs the room.
              </p>
            }
            confirmLabel="Delete camera"
            onConfirm={onDelete}
          />
        </div>
      )}
    </article>
  )
}
