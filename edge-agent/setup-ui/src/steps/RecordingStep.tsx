import { type FormEvent, useId, useState } from 'react'
import { api, type RecordingAnswer } from '../api.ts'
import { formatBytes } from './format.ts'
import { type StepProps, StepSection } from './StepList.tsx'

type Props = StepProps

/**
 * Step 4: how long the new cameras' video is kept and whether analytics run on them, set on each
 * camera added here through the hub as the installer; and the disk quota for recordings, a setting
 * of this machine (VMS_AGENT_RECORDING_QUOTA_BYTES) saved in the agent's local settings file and
 * in force at once. When the agent's environment sets it, it is shown as fixed there.
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
          {status.recording.quotaFixed ? (
            <span className="state">
              Fixed by the agent's environment: <code>VMS_AGENT_RECORDING_QUOTA_BYTES</code> (its service
              definition or <code>.env</code>) wins over this wizard. Change it there, then restart the agent.
            </span>
          ) : (
            <span className="state">
              A setting of this machine (<code>VMS_AGENT_RECORDING_QUOTA_BYTES</code>), saved in the agent's
              data directory (<code>agent-settings.json</code>); one set in the agent's environment would win.
            </span>
          )}
        </dd>
      </dl>
      {!status.recording.quotaFixed && <QuotaForm status={status} onStatus={onStatus} onError={onError} />}
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

/** The disk quota, in GB (decimal, as shown): empty for none. Needs neither the hub nor a sign-in. */
function QuotaForm({ status, onStatus, onError }: Omit<Props, 'n' | 'step'>) {
  const id = useId()
  const current = status.recording.quotaBytes
  const [gb, setGb] = useState(current ? String(current / 1e9) : '')
  const [error, setError] = useState<string | undefined>()
  const [saved, setSaved] = useState<string | undefined>()
  const [busy, setBusy] = useState(false)

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const text = gb.trim()
    const bytes = text === '' ? null : Math.round(Number(text) * 1e9)
    if (bytes !== null && !(Number.isFinite(bytes) && bytes >= 1e9 && bytes <= 1e15)) {
      setSaved(undefined)
      setError('Give the quota in GB, from 1 to 1000000, or leave it empty for none.')
      return
    }
    setBusy(true)
    try {
      const next = await api.quota(bytes)
      setError(undefined)
      const what = bytes === null ? 'No quota' : `Quota ${formatBytes(bytes)}`
      setSaved(
        next.recording.quotaAppliesNow
          ? `${what} saved: in force now.`
          : `${what} saved: the agent applies it at its next start.`,
      )
      onStatus(next)
    } catch (err) {
      setSaved(undefined)
      setError(onError(err) || undefined)
    } finally {
      setBusy(false)
    }
  }

  return (
    <form aria-label="Disk quota" onSubmit={(e) => void submit(e)}>
      <label htmlFor={`${id}-quota`}>Disk quota for recordings (GB)</label>
      <input
        id={`${id}-quota`}
        type="number"
        min={1}
        max={1_000_000}
        step="any"
        value={gb}
        aria-describedby={`${id}-quota-hint`}
        onChange={(e) => setGb(e.target.value)}
      />
      <p id={`${id}-quota-hint`} className="state">
        Empty: no quota, recordings may fill the disk down to its free-space floor. The oldest recordings are
        deleted first to stay within it.
      </p>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {saved && (
        <p role="status" className="ok">
          {saved}
        </p>
      )}
      <button type="submit" disabled={busy}>
        Save quota
      </button>
    </form>
  )
}
