import { type FormEvent, useId, useState } from 'react'
import { describeError, evidenceApi } from '../../../api/client.ts'
import type { EvidenceLock, EvidenceLockState } from '../../../api/evidence-types.ts'
import type { Agent, Camera } from '../../../api/types.ts'
import { ErrorNotice } from '../../../components/ErrorNotice.tsx'
import { formatTime, fromLocalInput } from '../../../components/format.ts'
import { fetchAll } from '../../../components/useCatalog.ts'
import { usePageTitle } from '../../../components/usePageTitle.ts'
import { can, useMe } from '../../../session/session.tsx'
import { ConfirmButton } from '../common/ConfirmButton.tsx'
import { Feedback, type Outcome } from '../common/Feedback.tsx'
import { useLoaded } from '../common/useLoaded.ts'
import '../common/admin.css'

/** The hub's rules (hub/src/http/routes/evidence-locks.ts), checked here too for a quick answer. */
const MAX_CAMERAS = 64
const MAX_REASON = 500
/** Locks stay pending until every agent applied them: the list refreshes while the page is open. */
const REFRESH_MS = 5000

interface EvidenceData {
  locks: EvidenceLock[]
  total: number
  cameras: Camera[]
  /** Agent names by id; empty when the user may not list agents (ids are shown instead). */
  agents: Map<string, string>
}

/**
 * Evidence locks (issue 16): recordings kept at the sites until a date whatever their quota. The
 * list shows each lock's state (`applied` once every agent recording its cameras applied it) and
 * the state per agent; those with evidence.manage lock a range of cameras ("Lock evidence") and
 * remove locks (the hub audits both).
 */
export function EvidencePage() {
  usePageTitle('Evidence')
  const me = useMe()
  const manage = can(me, 'evidence.manage')
  const loaded = useLoaded<EvidenceData>(async (signal) => {
    const [page, cameras, agents] = await Promise.all([
      evidenceApi.list({}, signal),
      fetchAll<Camera>('/api/v1/cameras', signal),
      fetchAll<Agent>('/api/v1/agents', signal).catch(() => [] as Agent[]),
    ])
    return {
      locks: page.items,
      total: page.total,
      cameras: [...cameras].sort((a, b) => a.name.localeCompare(b.name)),
      agents: new Map(agents.map((a) => [a.id, a.name])),
    }
  }, REFRESH_MS)
  const [outcome, setOutcome] = useState<Outcome>()
  const data = loaded.data
  const cameraName = (id: string) =>
    data?.cameras.find((c) => c.id === id)?.name ?? `camera ${id.slice(0, 8)}`
  const agentName = (id: string) => data?.agents.get(id) ?? `agent ${id.slice(0, 8)}`

  const remove = async (l: EvidenceLock) => {
    setOutcome(undefined)
    try {
      await evidenceApi.remove(l.id)
      setOutcome({ ok: true, text: `Removed the lock "${l.reason}".` })
    } catch (err) {
      setOutcome({ ok: false, text: `Could not remove the lock "${l.reason}": ${describeError(err)}` })
    }
    loaded.reload()
  }

  return (
    <section className="page adm-page evidence-page" aria-labelledby="evidence-title">
      <div className="toolbar">
        <h1 id="evidence-title">Evidence</h1>
      </div>
      <p className="muted" aria-live="polite">
        {data === undefined
          ? 'Loading evidence locks…'
          : `${data.total} evidence lock${data.total === 1 ? '' : 's'}`}
      </p>
      <ErrorNotice message={loaded.error} onRetry={loaded.reload} />
      <Feedback outcome={outcome} />
      <div className="table-wrap">
        <table aria-label="Evidence locks">
          <thead>
            <tr>
              <th scope="col">Reason</th>
              <th scope="col">Cameras</th>
              <th scope="col">Range</th>
              <th scope="col">Keep until</th>
              <th scope="col">State</th>
              <th scope="col" className="adm-wide-only">
                Agents
              </th>
              {manage && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {data?.locks.map((l) => (
              <tr key={l.id}>
                <th scope="row">{l.reason}</th>
                <td>{l.cameraIds.map(cameraName).join(', ')}</td>
                <td>
                  {formatTime(l.from)} – {formatTime(l.to)}
                </td>
                <td>{formatTime(l.until)}</td>
                <td>
                  <StateBadge state={l.state} />
                </td>
                <td className="adm-wide-only">
                  {l.agents.length === 0 ? (
                    <span className="muted">no agent records these cameras</span>
                  ) : (
                    <ul className="plain-list">
                      {l.agents.map((a) => (
                        <li key={a.agentId}>
                          {agentName(a.agentId)}: <StateBadge state={a.state} />
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
                {manage && (
                  <td>
                    <ConfirmButton
                      label="Remove"
                      accessibleName={`Remove lock ${l.reason}`}
                      title="Remove lock"
                      message={
                        <p>
                          The sites may delete this range by their usual retention once the lock is gone. The
                          removal is audited.
                        </p>
                      }
                      confirmLabel="Remove lock"
                      onConfirm={() => remove(l)}
                    />
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {manage && data && (
        <LockForm
          cameras={data.cameras}
          onLocked={(l) => {
            setOutcome({ ok: true, text: `Locked evidence: "${l.reason}" (${l.state}).` })
            loaded.reload()
          }}
        />
      )}
    </section>
  )
}

function StateBadge({ state }: { state: EvidenceLockState }) {
  return <span className={`badge ${state === 'applied' ? 'badge-ok' : 'badge-warn'}`}>{state}</span>
}

function LockForm({ cameras, onLocked }: { cameras: Camera[]; onLocked: (l: EvidenceLock) => void }) {
  const headingId = useId()
  const [cameraIds, setCameraIds] = useState<string[]>([])
  const [from, setFrom] = useState('')
  const [to, setTo] = useState('')
  const [reason, setReason] = useState('')
  const [until, setUntil] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string>()

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setError(undefined)
    const body = {
      cameraIds,
      from: fromLocalInput(from),
      to: fromLocalInput(to),
      reason: reason.trim(),
      until: fromLocalInput(until),
    }
    if (cameraIds.length === 0) return setError('Choose at least one camera.')
    if (cameraIds.length > MAX_CAMERAS) return setError(`A lock names at most ${MAX_CAMERAS} cameras.`)
    if (!body.from || !body.to || !body.until) return setError('From, To and Keep until are needed.')
    if (!body.reason) return setError('A reason is needed.')
    setBusy(true)
    try {
      const made = await evidenceApi.create({ ...body, from: body.from, to: body.to, until: body.until })
      setCameraIds([])
      setFrom('')
      setTo('')
      setReason('')
      setUntil('')
      onLocked(made)
    } catch (err) {
      setError(`Could not lock the evidence: ${describeError(err)}`)
    } finally {
      setBusy(false)
    }
  }

  return (
    <form
      className="stack-form adm-form"
      aria-labelledby={headingId}
      aria-busy={busy}
      onSubmit={(e) => void submit(e)}
    >
      <h2 id={headingId}>Lock evidence</h2>
      <p className="muted small-text">
        The agents recording these cameras keep the range until the date given, whatever their disk quota. A
        lock stays pending until each agent applied it (an agent that is offline applies it when it returns).
      </p>
      <label>
        Cameras
        <select
          multiple
          required
          size={Math.min(6, Math.max(2, cameras.length))}
          value={cameraIds}
          onChange={(e) => setCameraIds(Array.from(e.target.selectedOptions, (o) => o.value))}
        >
          {cameras.map((c) => (
            <option key={c.id} value={c.id}>
              {c.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        From
        <input
          type="datetime-local"
          step={1}
          value={from}
          onChange={(e) => setFrom(e.target.value)}
          required
        />
      </label>
      <label>
        To
        <input type="datetime-local" step={1} value={to} onChange={(e) => setTo(e.target.value)} required />
      </label>
      <label>
        Reason
        <textarea
          value={reason}
          onChange={(e) => setReason(e.target.value)}
          maxLength={MAX_REASON}
          required
        />
      </label>
      <label>
        Keep until
        <input
          type="datetime-local"
          step={1}
          value={until}
          onChange={(e) => setUntil(e.target.value)}
          required
        />
      </label>
      <ErrorNotice message={error} />
      <div>
        <button type="submit" disabled={busy}>
          {busy ? 'Locking…' : 'Lock evidence'}
        </button>
      </div>
    </form>
  )
}
