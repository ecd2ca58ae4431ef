import { useCallback, useEffect, useRef, useState } from 'react'
import { api, describeError } from '../../api/client.ts'
import type { Agent, Camera, Recordings, StreamHealth } from '../../api/types.ts'
import { ErrorNotice } from '../../components/ErrorNotice.tsx'
import { formatBytes, formatDuration, formatTime } from '../../components/format.ts'
import { fetchAll, useCatalog } from '../../components/useCatalog.ts'
import { type StreamMessage, useReloadOnUpdates } from '../../components/useLiveUpdates.ts'
import { usePageTitle } from '../../components/usePageTitle.ts'

const DAY = 24 * 3600 * 1000

interface GapSummary {
  gaps: number
  missingMs: number
  error?: string
}

function streamBadge(s: StreamHealth): { label: string; tone: string } {
  if (s.state === 'streaming')
    return { label: s.recording ? 'streaming, recording' : 'streaming', tone: 'ok' }
  if (s.state === 'connecting') return { label: 'connecting', tone: 'warn' }
  return { label: s.state === 'backoff' ? 'offline' : s.state, tone: 'bad' }
}

/** Problems worth a line of their own: clock drift, timestamp jumps, dropped frames. */
function streamProblems(s: StreamHealth): string[] {
  const out: string[] = []
  if (s.error && s.state !== 'streaming') out.push(s.error)
  if (s.clockDriftMs !== undefined)
    out.push(`camera clock off by ${formatDuration(Math.abs(s.clockDriftMs))}`)
  if (s.timestampJumps) out.push(`${s.timestampJumps} timestamp jump${s.timestampJumps === 1 ? '' : 's'}`)
  if (s.droppedFrames) out.push(`${s.droppedFrames} dropped frames`)
  return out
}

const isAgentOrCamera = (m: StreamMessage) => m.type === 'agent' || m.type === 'camera'

/**
 * Health of every agent and camera the user may see: online or not, streaming and recording,
 * recording gaps over the last 24 hours, disk use against the recording quota. It follows the
 * hub's live updates, so a camera that drops shows here within a heartbeat.
 */
export function HealthPage() {
  usePageTitle('Health')
  const catalog = useCatalog()
  const [agents, setAgents] = useState<Agent[]>([])
  const [cameras, setCameras] = useState<Camera[]>([])
  const [error, setError] = useState<string>()
  const [updatedAt, setUpdatedAt] = useState<string>()
  const [gaps, setGaps] = useState<Record<string, GapSummary>>({})

  const refresh = useCallback(async () => {
    try {
      const [a, c] = await Promise.all([
        fetchAll<Agent>('/api/v1/agents'),
        fetchAll<Camera>('/api/v1/cameras'),
      ])
      setAgents(a)
      setCameras(c)
      setError(undefined)
      setUpdatedAt(new Date().toISOString())
    } catch (err) {
      setError(describeError(err))
    }
  }, [])
  useEffect(() => {
    void refresh()
  }, [refresh])

  // State changes arrive live; bursts (a site going away) become one refresh.
  useReloadOnUpdates(() => void refresh(), isAgentOrCamera)

  // Recording gaps in the last 24 h, one camera at a time (each asks its agent).
  const checked = useRef(new Set<string>())
  useEffect(() => {
    let cancelled = false
    const todo = cameras.filter((c) => c.status?.agentOnline && !checked.current.has(c.id)).slice(0, 64)
    void (async () => {
      for (const c of todo) {
        if (cancelled) return
        checked.current.add(c.id)
        const to = new Date()
        const from = new Date(to.getTime() - DAY)
        try {
          const r = await api.get<Recordings>(`/api/v1/cameras/${c.id}/recordings`, {
            from: from.toISOString(),
            to: to.toISOString(),
          })
          const main = r.gaps.filter((g) => g.stream === 'main')
          const missingMs = main.reduce(
            (sum, g) => sum + ((g.to ? Date.parse(g.to) : to.getTime()) - Date.parse(g.from)),
            0,
          )
          if (!cancelled) setGaps((prev) => ({ ...prev, [c.id]: { gaps: main.length, missingMs } }))
        } catch (err) {
          if (!cancelled)
            setGaps((prev) => ({ ...prev, [c.id]: { gaps: 0, missingMs: 0, error: describeError(err) } }))
        }
      }
    })()
    return () => {
      cancelled = true
    }
  }, [cameras])

  const online = agents.filter((a) => a.status === 'online').length
  const streaming = cameras.filter((c) => c.status?.streams.some((s) => s.state === 'streaming')).length
  const recording = cameras.filter((c) => c.status?.streams.some((s) => s.recording)).length
  return (
    <section className="page">
      <div className="toolbar">
        <h1>Health</h1>
        <button type="button" className="ghost" onClick={() => void refresh()}>
          Refresh
        </button>
        <span className="muted" aria-live="polite">
          {updatedAt ? `Updated ${formatTime(updatedAt)}` : 'Loading…'}
        </span>
      </div>
      <ErrorNotice message={error} onRetry={() => void refresh()} />
      <ul className="cards summary" aria-label="Summary">
        <li className="card">
          <strong>{online}</strong> of {agents.length} agents online
        </li>
        <li className="card">
          <strong>{streaming}</strong> of {cameras.length} cameras streaming
        </li>
        <li className="card">
          <strong>{recording}</strong> of {cameras.length} cameras recording
        </li>
      </ul>

      <h2>Agents</h2>
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Agent</th>
              <th scope="col">Site</th>
              <th scope="col">State</th>
              <th scope="col">Last seen</th>
              <th scope="col">Disk</th>
              <th scope="col">Recordings</th>
              <th scope="col">Problems</th>
            </tr>
          </thead>
          <tbody>
            {agents.map((a) => {
              const h = a.health
              const rec = h?.recording
              const problems = [
                ...(h?.storage?.dataDiskFull ? ['data disk full: records wait in memory'] : []),
                ...(h?.storage?.dropped ? [`${h.storage.dropped} records lost while the disk was full`] : []),
                ...(h?.outbox?.quarantined
                  ? [`${h.outbox.quarantined} records quarantined (too large)`]
                  : []),
                ...(h?.outbox?.full ? ['outbox full'] : []),
                ...(h?.degraded ?? []),
              ]
              return (
                <tr key={a.id} data-agent-id={a.id}>
                  <th scope="row">{a.name}</th>
                  <td>{catalog.siteName(a.siteId)}</td>
                  <td>
                    <span className={`badge badge-${a.status === 'online' ? 'ok' : 'bad'}`}>{a.status}</span>
                  </td>
                  <td>{formatTime(a.lastSeenAt)}</td>
                  <td>
                    {h?.disk
                      ? `${formatBytes(h.disk.totalBytes - h.disk.freeBytes)} of ${formatBytes(h.disk.totalBytes)}`
                      : '—'}
                  </td>
                  <td>
                    {rec
                      ? rec.quotaBytes
                        ? `${formatBytes(rec.bytes)} of ${formatBytes(rec.quotaBytes)} quota${
                            rec.bytes >= rec.quotaBytes * 0.98
                              ? ' (full: oldest recordings are being deleted)'
                              : ''
                          }`
                        : formatBytes(rec.bytes)
                      : '—'}
                  </td>
                  <td>{problems.length ? problems.join('; ') : 'none'}</td>
                </tr>
              )
            })}
          </tbody>
        </table>
      </div>
      {agents.length === 0 && !error && <p>No agents are visible to you.</p>}

      <h2>Cameras</h2>
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Camera</th>
              <th scope="col">Site</th>
              <th scope="col">Streams</th>
              <th scope="col">Gaps (24 h)</th>
              <th scope="col">Problems</th>
            </tr>
          </thead>
          <tbody>
            {cameras.map((c) => {
              const streams = c.status?.streams ?? []
              const g = gaps[c.id]
              const problems = streams.flatMap((s) => streamProblems(s).map((p) => `${s.role}: ${p}`))
              return (
                <tr key={c.id} data-camera-id={c.id}>
                  <th scope="row">{c.name}</th>
                  <td>{catalog.siteName(c.siteId)}</td>
                  <td>
                    {!c.status?.agentOnline ? (
                      <span className="badge badge-bad">offline (agent away)</span>
                    ) : streams.length === 0 ? (
                      <span className="badge badge-warn">no report yet</span>
                    ) : (
                      streams.map((s) => {
                        const b = streamBadge(s)
                        return (
                          <span key={s.role} className={`badge badge-${b.tone}`}>
                            {s.role}: {b.label}
                            {s.state === 'streaming'
                              ? `, ${Math.round(s.fps)} fps, ${Math.round(s.bitrateBps / 1000)} kbit/s`
                              : ''}
                          </span>
                        )
                      })
                    )}
                  </td>
                  <td>
                    {g
                      ? g.error
                        ? g.error
                        : g.gaps === 0
                          ? 'none'
                          : `${g.gaps}, ${formatDuration(g.missingMs)} missing`
                      : '—'}
                  </td>
                  <td>{problems.length ? problems.join('; ') : 'none'}</td>
                </tr>
              )
            })}
          </tbody>
        </table>
      </div>
      {cameras.length === 0 && !error && <p>No cameras are visible to you.</p>}
    </section>
  )
}
