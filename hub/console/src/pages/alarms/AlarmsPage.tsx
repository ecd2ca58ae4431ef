import { type FormEvent, useEffect, useId, useRef, useState } from 'react'
import { Link, useSearchParams } from 'react-router'
import type { Alarm, AlarmPage } from '../../api/alarm-types.ts'
import { alarmsApi, describeError } from '../../api/client.ts'
import type { Site } from '../../api/types.ts'
import { ErrorNotice } from '../../components/ErrorNotice.tsx'
import { formatTime } from '../../components/format.ts'
import { fetchAll } from '../../components/useCatalog.ts'
import { alarmSoundOn, setAlarmSound, useAlarmUpdates } from '../../components/useOpenAlarms.ts'
import { usePageTitle } from '../../components/usePageTitle.ts'
import { can, useMe } from '../../session/session.tsx'
import { Feedback, type Outcome } from '../admin/common/Feedback.tsx'
import { SelectField } from '../admin/common/SelectField.tsx'
import { useLoaded } from '../admin/common/useLoaded.ts'
import { describeAlarm, describeWhere, priorityText, STATE_NAMES } from './alarm-text.ts'
import '../admin/common/admin.css'
import './alarms.css'

const PAGE_SIZE = 200
const REFRESH_MS = 30_000

const STATE_FILTERS: { value: string; label: string }[] = [
  { value: 'active', label: 'Active (open and acknowledged)' },
  { value: 'open', label: 'Open' },
  { value: 'acknowledged', label: 'Acknowledged' },
  { value: 'closed', label: 'Closed' },
  { value: 'open,acknowledged,closed', label: 'All' },
]

interface AlarmsData {
  page: AlarmPage
  sites: Site[]
}

type Action = 'acknowledge' | 'close'

/**
 * Alarms (issue 16): what went wrong across the fleet that the user may handle, the active ones
 * (open, then acknowledged) by default, highest priority first. Each is acknowledged or closed
 * with a comment, and one with a camera links to its live view and to playback at the alarm's
 * time. The list follows the live updates (and refreshes every 30 s as a fallback); the filters
 * are in the address, so a link or a reload opens the same list.
 */
export function AlarmsPage() {
  usePageTitle('Alarms')
  const me = useMe()
  const [params, setParams] = useSearchParams()
  const state = params.get('state') || 'active'
  const priority = params.get('priority') ?? ''
  const siteId = params.get('site') ?? ''
  const loaded = useLoaded<AlarmsData>(async (signal) => {
    const [page, sites] = await Promise.all([
      alarmsApi.list(
        {
          state,
          limit: PAGE_SIZE,
          ...(priority ? { priority: Number(priority) } : {}),
          ...(siteId ? { siteId } : {}),
        },
        signal,
      ),
      fetchAll<Site>('/api/v1/sites', signal),
    ])
    return { page, sites }
  }, REFRESH_MS)
  const { reload } = loaded
  // A changed filter loads again (the first load is useLoaded's own).
  const filters = `${state}|${priority}|${siteId}`
  const shown = useRef(filters)
  useEffect(() => {
    if (shown.current === filters) return
    shown.current = filters
    reload()
  }, [filters, reload])

  // Alarm updates reload the list at once (a burst becomes one reload).
  const pending = useRef<ReturnType<typeof setTimeout>>(undefined)
  useAlarmUpdates(() => {
    if (pending.current) return
    pending.current = setTimeout(() => {
      pending.current = undefined
      reload()
    }, 150)
  })
  useEffect(() => () => clearTimeout(pending.current), [])

  const [sound, setSound] = useState(alarmSoundOn)
  const [outcome, setOutcome] = useState<Outcome>()
  const [handling, setHandling] = useState<{ alarm: Alarm; action: Action }>()
  const data = loaded.data
  const items = data?.page.items ?? []

  const setFilter = (name: string, value: string) => {
    const next = new URLSearchParams(params)
    if (value) next.set(name, value)
    else next.delete(name)
    setParams(next, { replace: true })
  }

  return (
    <section className="page adm-page alarms-page" aria-labelledby="alarms-title">
      <div className="toolbar">
        <h1 id="alarms-title">Alarms</h1>
        <p className="muted" aria-live="polite">
          {data === undefined
            ? 'Loading alarms…'
            : `${data.page.total} alarm${data.page.total === 1 ? '' : 's'} · ${data.page.open} open`}
        </p>
        {can(me, 'alarm.manage') && (
          <Link className="button ghost small" to="/alarms/rules">
            Alarm rules
          </Link>
        )}
        <button type="button" className="ghost small" onClick={reload}>
          Refresh
        </button>
        <label className="adm-check">
          <input
            type="checkbox"
            checked={sound}
            onChange={(e) => {
              setSound(e.target.checked)
              setAlarmSound(e.target.checked)
            }}
          />
          Play a sound for new alarms
        </label>
      </div>
      <div className="inline-form filters">
        <SelectField label="State" value={state} onChange={(e) => setFilter('state', e.target.value)}>
          {STATE_FILTERS.map((s) => (
            <option key={s.value} value={s.value}>
              {s.label}
            </option>
          ))}
        </SelectField>
        <SelectField
          label="Priority"
          value={priority}
          onChange={(e) => setFilter('priority', e.target.value)}
        >
          <option value="">Any</option>
          <option value="1">P1 (highest)</option>
          <option value="2">P2</option>
          <option value="3">P3 (lowest)</option>
        </SelectField>
        <SelectField label="Site" value={siteId} onChange={(e) => setFilter('site', e.target.value)}>
          <option value="">All sites</option>
          {(data?.sites ?? []).map((s) => (
            <option key={s.id} value={s.id}>
              {s.name}
            </option>
          ))}
        </SelectField>
      </div>
      <ErrorNotice message={loaded.error} onRetry={reload} />
      <Feedback outcome={outcome} />
      {handling && (
        <HandleDialog
          key={`${handling.alarm.id}-${handling.action}`}
          alarm={handling.alarm}
          action={handling.action}
          onCancel={() => setHandling(undefined)}
          onDone={(text) => {
            setHandling(undefined)
            setOutcome({ ok: true, text })
            reload()
          }}
        />
      )}
      <div className="table-wrap">
        <table aria-label="Alarms" className="alarms-table">
          <thead>
            <tr>
              <th scope="col">Priority</th>
              <th scope="col">What</th>
              <th scope="col">Where</th>
              <th scope="col">Opened</th>
              <th scope="col" className="adm-wide-only">
                Last seen
              </th>
              <th scope="col">Count</th>
              <th scope="col">State</th>
              <th scope="col">Handled</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {items.map((a) => (
              <AlarmRow key={a.id} alarm={a} onHandle={(action) => setHandling({ alarm: a, action })} />
            ))}
          </tbody>
        </table>
      </div>
      {data && items.length === 0 && (
        <p className="muted">{state === 'active' ? 'No active alarms.' : 'No alarms match.'}</p>
      )}
      {data && data.page.total > items.length && (
        <p className="muted">
          Showing the first {items.length} of {data.page.total}.
        </p>
      )}
    </section>
  )
}

function AlarmRow({ alarm: a, onHandle }: { alarm: Alarm; onHandle: (action: Action) => void }) {
  const what = describeAlarm(a)
  const where = describeWhere(a)
  const p = priorityText(a.priority)
  const camera = a.cameraName ?? (typeof a.details?.cameraName === 'string' ? a.details.cameraName : 'camera')
  return (
    <tr className={`alarm-row alarm-${a.state}`} data-alarm-id={a.id}>
      <td>
        <span
          className={`alarm-priority alarm-p${a.priority}`}
          role="img"
          aria-label={p.label}
          title={p.label}
        >
          {p.short}
        </span>
      </td>
      <td>
        <span className="alarm-what">{what}</span>
        {a.ruleName && <span className="muted small-text alarm-rule"> · rule {a.ruleName}</span>}
      </td>
      <td>{where}</td>
      <td>{formatTime(a.openedAt)}</td>
      <td className="adm-wide-only">{formatTime(a.lastSeenAt)}</td>
      <td>{a.count}</td>
      <td>
        <span className={`alarm-state alarm-state-${a.state}`}>{STATE_NAMES[a.state]}</span>
        {a.state === 'closed' && a.clearedAt && !a.closedBy && (
          <span className="muted small-text"> (cleared)</span>
        )}
      </td>
      <td className="alarm-handled">
        {a.acknowledgedByName && (
          <div>
            Acknowledged by {a.acknowledgedByName}
            {a.acknowledgeComment && <q className="alarm-comment">{a.acknowledgeComment}</q>}
          </div>
        )}
        {a.state === 'closed' && a.closeComment && (
          <div>
            Closed: <q className="alarm-comment">{a.closeComment}</q>
          </div>
        )}
      </td>
      <td>
        <div className="adm-actions">
          {a.state === 'open' && (
            <button
              type="button"
              className="small"
              aria-haspopup="dialog"
              aria-label={`Acknowledge ${what} at ${where}`}
              onClick={() => onHandle('acknowledge')}
            >
              Acknowledge
            </button>
          )}
          {a.state !== 'closed' && (
            <button
              type="button"
              className="ghost small"
              aria-haspopup="dialog"
              aria-label={`Close ${what} at ${where}`}
              onClick={() => onHandle('close')}
            >
              Close
            </button>
          )}
          {a.cameraId && (
            <>
              <Link
                className="button ghost small"
                to={`/live?camera=${encodeURIComponent(a.cameraId)}`}
                aria-label={`Live ${camera}`}
              >
                Live
              </Link>
              <Link
                className="button ghost small"
                to={`/playback/${encodeURIComponent(a.cameraId)}?t=${encodeURIComponent(a.openedAt)}`}
                aria-label={`Playback ${camera} at the alarm`}
              >
                Playback
              </Link>
            </>
          )}
        </div>
      </td>
    </tr>
  )
}

/** Acknowledge or close one alarm, with a comment, in a modal dialog (Escape cancels). */
function HandleDialog({
  alarm,
  action,
  onCancel,
  onDone,
}: {
  alarm: Alarm
  action: Action
  onCancel: () => void
  onDone: (text: string) => void
}) {
  const dialog = useRef<HTMLDialogElement>(null)
  const titleId = useId()
  const [error, setError] = useState<string>()
  const [busy, setBusy] = useState(false)
  useEffect(() => {
    const d = dialog.current
    if (d && !d.open) d.showModal()
    return () => d?.close()
  }, [])
  const what = describeAlarm(alarm)
  const where = describeWhere(alarm)
  const title = action === 'acknowledge' ? 'Acknowledge alarm' : 'Close alarm'
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault()
    const comment = String(new FormData(e.currentTarget).get('comment') ?? '').trim()
    setBusy(true)
    setError(undefined)
    try {
      if (action === 'acknowledge') await alarmsApi.acknowledge(alarm.id, comment)
      else await alarmsApi.close(alarm.id, comment)
      onDone(`${action === 'acknowledge' ? 'Acknowledged' : 'Closed'}: ${what} at ${where}.`)
    } catch (err) {
      setError(describeError(err))
      setBusy(false)
    }
  }
  return (
    <dialog ref={dialog} className="adm-dialog" aria-labelledby={titleId} onClose={onCancel}>
      <form className="alarm-dialog-form" onSubmit={(e) => void submit(e)}>
        <h2 id={titleId}>{title}</h2>
        <p>
          {priorityText(alarm.priority).short} · {what} · {where}
        </p>
        {action === 'close' && (
          <p className="muted small-text">
            If the condition still holds, the rule opens a new alarm at its next evaluation.
          </p>
        )}
        <label>
          Comment
          <textarea name="comment" rows={3} maxLength={2000} autoFocus />
        </label>
        <ErrorNotice message={error} />
        <div className="adm-dialog-actions">
          <button type="button" className="ghost" onClick={() => dialog.current?.close()}>
            Cancel
          </button>
          <button type="submit" disabled={busy}>
            {busy ? `${title}…` : title}
          </button>
        </div>
      </form>
    </dialog>
  )
}
