import { type FormEvent, useId, useState } from 'react'
import { api, type RecordingAnswer, type Status, type Step } from '../api.ts'
import { formatBytes } from './format.ts'
import { StepSection } from './StepList.tsx'

interface Props {
  n: number
  step: Step
  status: Status
  onStatus: (s: Status) => void
  onError: (err: unknown) => string
}

/**
 * Step 4: how long the new cameras' video is kept and whether analytics run on them, set on each
 * camera added here through the hub as the installer. The disk quota is the agent's own setting
 * (VMS_AGENT_RECORDING_QUOTA_BYTES), shown with where to change it.
 */
export function RecordingStep({ n, step, status, onStatus, onError }: Props) {
  const id = useId()
  const [days, setDays] = useState(String(status.recording.retentionDays))
  const [analytics, setAnalytics] = useState(status.recording.analytics ?? true)
  const [results, setResults] = useState<RecordingAnswer['results'] | undefined>()
  const [error, setError] = useState<string | undefined>()
  const [busy, setBusy] = useState(false)
  const quota = status.recording.quotaBytes
  const enabled = step.state === 'current' || step.state === 'done'

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    try {
      const answer = await api.recording(Number(days), analytics)
      setResults(answer.results)
      setError(undefined)
      onStatus(answer.status)
    } catch (err) {
      setError(onError(err) || undefined)
    } finally {
      setBusy(false)
    }
  }

  return (
    <StepSection n={n} step={step}>
      <dl className="facts">
        <dt>Disk quota for recordings</dt>
        <dd>
          {quota ? formatBytes(quota) : 'none (recordings may fill the disk down to its free-space floor)'}
          <br />
          <span className="state">
            Set on this machine: <code>VMS_AGENT_RECORDING_QUOTA_BYTES</code> in the agent's environment (its
            service definition or <code>.env</code>), then restart the agent.
          </span>
        </dd>
      </dl>
      {enabled && (
        <form aria-label="Recording defaults" onSubmit={(e) => void submit(e)}>
          <label htmlFor={`${id}-days`}>Keep recordings for (days)</label>
          <input
            id={`${id}-days`}
            type="number"
            min={1}
            max={3650}
            required
            value={days}
            onChange={(e) => setDays(e.target.value)}
          />
          <label className="check">
            <input type="checkbox" checked={analytics} onChange={(e) => setAnalytics(e.target.checked)} /> Run
            analytics (object detection) on the new cameras
          </label>
          <p className="state">Applies to the {status.cameras.length} camera(s) added in step 3.</p>
          {error && (
            <p role="alert" className="error">
              {error}
            </p>
          )}
          <button type="submit" disabled={busy}>
            Save recording settings
          </button>
        </form>
      )}
      {results && (
        <ul aria-label="Recording settings applied">
          {results.map((r) => (
            <li key={r.id} className={r.ok ? 'ok' : 'error'}>
              {r.name}: {r.ok ? 'saved' : r.error}
            </li>
          ))}
        </ul>
      )}
    </StepSection>
  )
}
