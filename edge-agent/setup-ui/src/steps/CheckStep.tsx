import { useCallback, useEffect, useState } from 'react'
import { api, type Step, type SummaryAnswer } from '../api.ts'
import { formatBitrate, formatBytes } from './format.ts'
import { StepSection } from './StepList.tsx'

/**
 * Step 5: is it all working — the cameras streaming (the hub's view of the agent's health), the
 * disk and the retention it gives at the measured bitrates, the clock against the hub's, and the
 * round trip to the hub. Checked again every few seconds while shown.
 */
export function CheckStep({
  n,
  step,
  onError,
}: {
  n: number
  step: Step
  onError: (err: unknown) => string
}) {
  const [summary, setSummary] = useState<SummaryAnswer | undefined>()
  const [error, setError] = useState<string | undefined>()
  const ready = step.state === 'current' || step.state === 'done'

  const load = useCallback(async () => {
    try {
      setSummary(await api.summary())
      setError(undefined)
    } catch (err) {
      setError(onError(err) || undefined)
    }
  }, [onError])

  useEffect(() => {
    if (!ready) return
    void load()
    const timer = setInterval(() => void load(), 5000)
    return () => clearInterval(timer)
  }, [ready, load])

  if (!ready) return <StepSection n={n} step={step} />
  const drift = summary?.clockDriftMs
  return (
    <StepSection n={n} step={step}>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {summary && (
        <>
          <table aria-label="Cameras streaming">
            <thead>
              <tr>
                <th scope="col">Camera</th>
                <th scope="col">State</th>
                <th scope="col">Recorded bitrate</th>
                <th scope="col">Retention</th>
              </tr>
            </thead>
            <tbody>
              {summary.cameras.map((c) => (
                <tr key={c.id}>
                  <td>{c.name}</td>
                  <td>
                    <span className={c.streaming ? 'badge ok' : 'badge bad'}>
                      {c.streaming ? (c.recording ? 'streaming, recording' : 'streaming') : 'not streaming'}
                    </span>
                    {c.error && <span className="state"> {c.error}</span>}
                  </td>
                  <td>{c.bitrateBps > 0 ? formatBitrate(c.bitrateBps) : '—'}</td>
                  <td>{c.retentionDays === null ? '—' : `${c.retentionDays} days`}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <dl className="facts" aria-label="Agent checks">
            <dt>Agent</dt>
            <dd>{summary.agentOnline ? 'online at the hub' : 'not online at the hub'}</dd>
            <dt>Disk</dt>
            <dd>
              {summary.disk
                ? `${formatBytes(summary.disk.freeBytes)} free of ${formatBytes(summary.disk.totalBytes)}; recordings hold ${formatBytes(summary.disk.recordingBytes)}${summary.disk.quotaBytes ? `, quota ${formatBytes(summary.disk.quotaBytes)}` : ''}`
                : 'not reported yet'}
            </dd>
            <dt>Retention the disk gives</dt>
            <dd>
              {summary.retentionEstimateDays === null
                ? 'not measured yet (no stream recording)'
                : `about ${summary.retentionEstimateDays} days at the measured bitrates`}
            </dd>
            <dt>Clock against the hub</dt>
            <dd>
              {drift === null || drift === undefined
                ? 'unknown'
                : Math.abs(drift) <= 2000
                  ? `in step (within ${Math.max(1, Math.round(Math.abs(drift) / 1000))} s)`
                  : `off by ${Math.round(drift / 1000)} s: set this machine's time (NTP)`}
            </dd>
            <dt>Uplink to the hub</dt>
            <dd>
              {summary.uplink
                ? `${summary.uplink.roundTripMs} ms round trip` +
                  (summary.uplink.uploadKbps !== null
                    ? `, ${summary.uplink.uploadKbps >= 1000 ? `${(summary.uplink.uploadKbps / 1000).toFixed(1)} Mbit/s` : `${summary.uplink.uploadKbps} kbit/s`} up`
                    : '')
                : 'no answer'}
            </dd>
          </dl>
        </>
      )}
      <button type="button" className="secondary" onClick={() => void load()}>
        Check again
      </button>
    </StepSection>
  )
}
