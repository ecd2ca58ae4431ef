import { type ReactNode, useId, useState } from 'react'
import { Link } from 'react-router'
import {
  ALARM_KINDS,
  type AlarmKind,
  type AlarmPriority,
  type AlarmRule,
  type AlarmRuleCreate,
  type AlarmRuleUpdate,
  type RuleScope,
  WEEKDAYS,
} from '../../api/alarm-types.ts'
import { ApiError, alarmsApi, describeError, notificationsApi } from '../../api/client.ts'
import type { NotificationChannel } from '../../api/notification-types.ts'
import type { Camera, Site } from '../../api/types.ts'
import { ErrorNotice } from '../../components/ErrorNotice.tsx'
import { fetchAll } from '../../components/useCatalog.ts'
import { usePageTitle } from '../../components/usePageTitle.ts'
import { can, useMe } from '../../session/session.tsx'
import { ConfirmButton } from '../admin/common/ConfirmButton.tsx'
import { Feedback, type Outcome } from '../admin/common/Feedback.tsx'
import { SelectField } from '../admin/common/SelectField.tsx'
import { useLoaded } from '../admin/common/useLoaded.ts'
import { KIND_NAMES } from './alarm-text.ts'
import {
  DAY_NAMES,
  describeParams,
  draftOf,
  fieldErrors,
  NUMBER_FIELDS,
  newWindow,
  type ParamsDraft,
  paramsOf,
} from './rule-params.ts'
import '../admin/common/admin.css'
import './alarms.css'

interface RulesData {
  rules: AlarmRule[]
  channels: NotificationChannel[]
  sites: Site[]
  cameras: Camera[]
}

type ScopeType = RuleScope['type']

/**
 * Alarm rules (issue 16): what the hub watches, per kind, for the tenant, a site or a camera,
 * with a priority and the notification channels its alarms go to. Each kind's parameters are
 * pre-filled with the hub's defaults; the hub's refusals are shown beside the field they name.
 * Changing what a rule watches closes its open alarms (the next evaluation opens what still holds).
 */
export function AlarmRulesPage() {
  usePageTitle('Alarm rules')
  const me = useMe()
  const manage = can(me, 'alarm.manage')
  const loaded = useLoaded<RulesData>(async (signal) => {
    const [rules, channels, sites, cameras] = await Promise.all([
      alarmsApi.rules(signal),
      // Channels are listed to those who manage alarms; a reader sees rules without their names.
      manage ? notificationsApi.channels(signal).then((c) => c.items) : Promise.resolve([]),
      fetchAll<Site>('/api/v1/sites', signal),
      fetchAll<Camera>('/api/v1/cameras', signal),
    ])
    return { rules: rules.items, channels, sites, cameras }
  })
  const [outcome, setOutcome] = useState<Outcome>()
  const [editing, setEditing] = useState<AlarmRule>()
  const data = loaded.data

  const act = async (work: () => Promise<unknown>, ok: string, failed: string) => {
    setOutcome(undefined)
    try {
      await work()
      setOutcome({ ok: true, text: ok })
      loaded.reload()
    } catch (err) {
      setOutcome({ ok: false, text: `${failed}: ${describeError(err)}` })
    }
  }

  const scopeText = (r: AlarmRule) => {
    if (r.scope.type === 'tenant') return 'Tenant'
    if (r.scope.type === 'site')
      return `Site ${data?.sites.find((s) => s.id === r.scope.id)?.name ?? r.scope.id ?? ''}`
    const camera = data?.cameras.find((c) => c.id === r.scope.id)
    return `Camera ${camera?.name ?? r.scope.id ?? ''}`
  }
  const channelNames = (r: AlarmRule) =>
    r.channels.map((id) => data?.channels.find((c) => c.id === id)?.name ?? 'a channel').join(', ')

  return (
    <section className="page adm-page alarms-page" aria-labelledby="alarm-rules-title">
      <div className="toolbar">
        <h1 id="alarm-rules-title">Alarm rules</h1>
        <p className="muted" aria-live="polite">
          {data === undefined
            ? 'Loading rules…'
            : `${data.rules.length} rule${data.rules.length === 1 ? '' : 's'}`}
        </p>
        <Link className="button ghost small" to="/alarms">
          Alarms
        </Link>
        <button type="button" className="ghost small" onClick={loaded.reload}>
          Refresh
        </button>
      </div>
      <ErrorNotice message={loaded.error} onRetry={loaded.reload} />
      <Feedback outcome={outcome} />
      {editing && data && (
        <RuleForm
          key={editing.id}
          rule={editing}
          data={data}
          onCancel={() => setEditing(undefined)}
          onSaved={(saved) => {
            setEditing(undefined)
            setOutcome({ ok: true, text: `Saved rule ${saved.name}.` })
            loaded.reload()
          }}
        />
      )}
      <div className="table-wrap">
        <table aria-label="Alarm rules">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Kind</th>
              <th scope="col">Scope</th>
              <th scope="col" className="adm-wide-only">
                Parameters
              </th>
              <th scope="col">Priority</th>
              <th scope="col" className="adm-wide-only">
                Channels
              </th>
              <th scope="col">Enabled</th>
              {manage && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {data?.rules.map((r) => (
              <tr key={r.id}>
                <td>{r.name}</td>
                <td>{KIND_NAMES[r.kind] ?? r.kind}</td>
                <td>{scopeText(r)}</td>
                <td className="adm-wide-only">{describeParams(r)}</td>
                <td>
                  <span className={`alarm-priority alarm-p${r.priority}`}>P{r.priority}</span>
                </td>
                <td className="adm-wide-only">{channelNames(r) || <span className="muted">none</span>}</td>
                <td>{r.enabled ? 'yes' : 'no'}</td>
                {manage && (
                  <td>
                    <div className="adm-actions">
                      <button
                        type="button"
                        className="small"
                        aria-label={`${r.enabled ? 'Disable' : 'Enable'} rule ${r.name}`}
                        onClick={() =>
                          void act(
                            () => alarmsApi.updateRule(r.id, { enabled: !r.enabled }),
                            `${r.enabled ? 'Disabled' : 'Enabled'} rule ${r.name}.`,
                            `Could not change rule ${r.name}`,
                          )
                        }
                      >
                        {r.enabled ? 'Disable' : 'Enable'}
                      </button>
                      <button
                        type="button"
                        className="ghost small"
                        aria-label={`Edit rule ${r.name}`}
                        onClick={() => setEditing(r)}
                      >
                        Edit
                      </button>
                      <ConfirmButton
                        label="Delete"
                        accessibleName={`Delete rule ${r.name}`}
                        title={`Delete rule ${r.name}?`}
                        message={<p>Its open alarms close; its closed alarms stay as history.</p>}
                        confirmLabel="Delete rule"
                        onConfirm={() =>
                          act(
                            async () => {
                              await alarmsApi.deleteRule(r.id)
                              if (editing?.id === r.id) setEditing(undefined)
                            },
                            `Deleted rule ${r.name}.`,
                            `Could not delete rule ${r.name}`,
                          )
                        }
                      />
                    </div>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {data && data.rules.length === 0 && <p className="muted">No alarm rules yet.</p>}
      {manage && data && (
        <RuleForm
          data={data}
          onSaved={(made) => {
            setOutcome({ ok: true, text: `Created rule ${made.name}.` })
            loaded.reload()
          }}
        />
      )}
    </section>
  )
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

/** A field's error from the hub, under the field, naming it for a screen reader. */
function FieldError({ id, message }: { id: string; message: string | undefined }) {
  if (!message) return null
  return (
    <span id={id} className="field-error">
      {message}
    </span>
  )
}

/** A new rule (any kind) or an edit of one (its kind stays). */
function RuleForm({
  rule,
  data,
  onSaved,
  onCancel,
}: {
  rule?: AlarmRule
  data: RulesData
  onSaved: (saved: AlarmRule) => void
  onCancel?: () => void
}) {
  const uid = useId()
  const headingId = `${uid}-heading`
  const [name, setName] = useState(rule?.name ?? '')
  const [kind, setKind] = useState<AlarmKind>(rule?.kind ?? 'camera.offline')
  const [scopeType, setScopeType] = useState<ScopeType>(rule?.scope.type ?? 'tenant')
  const [siteId, setSiteId] = useState(
    rule?.scope.type === 'site' ? (rule.scope.id ?? '') : (data.sites[0]?.id ?? ''),
  )
  const [cameraId, setCameraId] = useState(
    rule?.scope.type === 'camera' ? (rule.scope.id ?? '') : (data.cameras[0]?.id ?? ''),
  )
  const [priority, setPriority] = useState<AlarmPriority>((rule?.priority as AlarmPriority) ?? 2)
  const [draft, setDraft] = useState<ParamsDraft>(() => draftOf(rule?.kind ?? 'camera.offline', rule?.params))
  const [channels, setChannels] = useState<string[]>(rule?.channels ?? [])
  const [enabled, setEnabled] = useState(rule?.enabled ?? true)
  const [errors, setErrors] = useState<Record<string, string>>({})
  const [error, setError] = useState<string>()
  const [saving, setSaving] = useState(false)

  const siteName = (id: string) => data.sites.find((s) => s.id === id)?.name ?? ''
  const scope = (): RuleScope =>
    scopeType === 'tenant'
      ? { type: 'tenant' }
      : scopeType === 'site'
        ? { type: 'site', id: siteId }
        : { type: 'camera', id: cameraId }

  const reset = () => {
    setName('')
    setKind('camera.offline')
    setScopeType('tenant')
    setPriority(2)
    setDraft(draftOf('camera.offline'))
    setChannels([])
    setEnabled(true)
  }

  const submit = async () => {
    setSaving(true)
    setErrors({})
    setError(undefined)
    const params = paramsOf(kind, draft)
    try {
      let saved: AlarmRule
      if (rule) {
        // Only what changed: a changed scope, parameters or enabled closes the rule's alarms.
        const body: AlarmRuleUpdate = {}
        if (name !== rule.name) body.name = name
        if (!sameJson(scope(), rule.scope)) body.scope = scope()
        if (!sameJson(params, rule.params)) body.params = params
        if (priority !== rule.priority) body.priority = priority
        if (!sameJson([...channels].sort(), [...rule.channels].sort())) body.channels = channels
        if (enabled !== rule.enabled) body.enabled = enabled
        saved = Object.keys(body).length ? await alarmsApi.updateRule(rule.id, body) : rule
      } else {
        const body: AlarmRuleCreate = { name, kind, scope: scope(), params, priority, channels, enabled }
        saved = await alarmsApi.createRule(body)
        reset()
      }
      onSaved(saved)
    } catch (err) {
      const byField = err instanceof ApiError ? fieldErrors(err.details) : {}
      const known = (path: string) =>
        path === 'name' ||
        path === 'channels' ||
        path.startsWith('scope') ||
        path.startsWith('params.') ||
        path === 'priority'
      setErrors(byField)
      const rest = Object.entries(byField).filter(([path]) => !known(path))
      setError(
        err instanceof ApiError && Object.keys(byField).length
          ? `${err.message}${rest.length ? ` (${rest.map(([p, m]) => `${p}: ${m}`).join('; ')})` : ''}`
          : describeError(err),
      )
    } finally {
      setSaving(false)
    }
  }

  const errId = (path: string) => `${uid}-err-${path.replace(/\W/g, '-')}`
  const invalid = (path: string) =>
    errors[path] ? { 'aria-invalid': true, 'aria-describedby': errId(path) } : {}
  const scopeError = errors.scope ?? errors['scope.id']
  const scheduleErrors = Object.entries(errors).filter(([p]) => p.startsWith('params.schedule'))
  const setNumber = (key: string, value: string) =>
    setDraft((d) => ({ ...d, numbers: { ...d.numbers, [key]: value } }))
  const setWindow = (
    i: number,
    change: (w: ParamsDraft['schedule'][number]) => ParamsDraft['schedule'][number],
  ) => setDraft((d) => ({ ...d, schedule: d.schedule.map((w, j) => (j === i ? change(w) : w)) }))

  return (
    <form
      className="stack-form adm-form alarm-rule-form"
      aria-labelledby={headingId}
      noValidate
      onSubmit={(e) => {
        e.preventDefault()
        void submit()
      }}
    >
      <h2 id={headingId}>{rule ? `Edit rule ${rule.name}` : 'New rule'}</h2>
      <div className="alarm-field">
        <label>
          Name
          <input
            value={name}
            onChange={(e) => setName(e.target.value)}
            maxLength={200}
            autoComplete="off"
            required
            {...invalid('name')}
          />
        </label>
        <FieldError id={errId('name')} message={errors.name} />
      </div>
      <SelectField
        label="Kind"
        value={kind}
        disabled={rule !== undefined}
        onChange={(e) => {
          const next = e.target.value as AlarmKind
          setKind(next)
          setDraft(draftOf(next))
          setErrors({})
        }}
      >
        {ALARM_KINDS.map((k) => (
          <option key={k} value={k}>
            {KIND_NAMES[k]}
          </option>
        ))}
      </SelectField>
      <SelectField
        label="Scope"
        value={scopeType}
        onChange={(e) => setScopeType(e.target.value as ScopeType)}
        {...(scopeError && scopeType === 'tenant' ? { 'aria-describedby': errId('scope') } : {})}
      >
        <option value="tenant">Tenant</option>
        <option value="site">Site</option>
        <option value="camera">Camera</option>
      </SelectField>
      {scopeType === 'site' && (
        <SelectField
          label="Site"
          value={siteId}
          onChange={(e) => setSiteId(e.target.value)}
          {...(scopeError ? { 'aria-describedby': errId('scope') } : {})}
        >
          {data.sites.map((s) => (
            <option key={s.id} value={s.id}>
              {s.name}
            </option>
          ))}
        </SelectField>
      )}
      {scopeType === 'camera' && (
        <SelectField
          label="Camera"
          value={cameraId}
          onChange={(e) => setCameraId(e.target.value)}
          {...(scopeError ? { 'aria-describedby': errId('scope') } : {})}
        >
          {data.cameras.map((c) => (
            <option key={c.id} value={c.id}>
              {siteName(c.siteId) ? `${siteName(c.siteId)} / ${c.name}` : c.name}
            </option>
          ))}
        </SelectField>
      )}
      <FieldError id={errId('scope')} message={scopeError} />
      <SelectField
        label="Priority"
        value={String(priority)}
        onChange={(e) => setPriority(Number(e.target.value) as AlarmPriority)}
      >
        <option value="1">P1 (highest)</option>
        <option value="2">P2</option>
        <option value="3">P3 (lowest)</option>
      </SelectField>

      <fieldset className="alarm-params">
        <legend>Parameters</legend>
        {NUMBER_FIELDS[kind].map((f) => {
          const path = `params.${f.key}`
          const hintId = `${uid}-hint-${f.key}`
          return (
            <div key={f.key} className="alarm-field">
              <label>
                {f.label}
                <input
                  type="number"
                  inputMode="decimal"
                  min={f.min}
                  max={f.max}
                  step={f.step}
                  value={draft.numbers[f.key] ?? ''}
                  placeholder={f.fallback === undefined ? 'default' : String(f.fallback)}
                  onChange={(e) => setNumber(f.key, e.target.value)}
                  aria-invalid={errors[path] ? true : undefined}
                  aria-describedby={errors[path] ? `${errId(path)} ${hintId}` : hintId}
                />
              </label>
              {f.hint && (
                <span id={hintId} className="muted small-text">
                  {f.hint}
                </span>
              )}
              <FieldError id={errId(path)} message={errors[path]} />
            </div>
          )
        })}
        {kind === 'object.zone' && (
          <>
            <div className="alarm-field">
              <label>
                Label
                <input
                  value={draft.label}
                  maxLength={64}
                  placeholder="person"
                  autoComplete="off"
                  onChange={(e) => setDraft((d) => ({ ...d, label: e.target.value }))}
                  {...invalid('params.label')}
                />
              </label>
              <FieldError id={errId('params.label')} message={errors['params.label']} />
            </div>
            <div className="alarm-field">
              <label>
                Zone
                <input
                  value={draft.zone}
                  maxLength={64}
                  placeholder="stockroom"
                  autoComplete="off"
                  onChange={(e) => setDraft((d) => ({ ...d, zone: e.target.value }))}
                  {...invalid('params.zone')}
                />
              </label>
              <FieldError id={errId('params.zone')} message={errors['params.zone']} />
            </div>
            <label className="adm-check">
              <input
                type="checkbox"
                checked={draft.loitering}
                onChange={(e) => setDraft((d) => ({ ...d, loitering: e.target.checked }))}
              />
              Loitering only
            </label>
            <fieldset className="alarm-schedule">
              <legend>Schedule</legend>
              <p className="muted small-text">
                When the rule applies, in the site's time zone; no window: always. A window whose end is not
                after its start runs past midnight.
              </p>
              {draft.schedule.map((w, i) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: windows have no identity but their place
                <fieldset key={i} className="alarm-window">
                  <legend>Window {i + 1}</legend>
                  <div className="alarm-days">
                    {WEEKDAYS.map((day) => (
                      <label key={day} className="adm-check">
                        <input
                          type="checkbox"
                          checked={w.days.includes(day)}
                          onChange={(e) =>
                            setWindow(i, (old) => ({
                              ...old,
                              days: WEEKDAYS.filter((d) =>
                                d === day ? e.target.checked : old.days.includes(d),
                              ),
                            }))
                          }
                        />
                        {DAY_NAMES[day]}
                      </label>
                    ))}
                  </div>
                  <div className="inline-form">
                    <label>
                      From
                      <input
                        type="time"
                        value={w.from}
                        onChange={(e) => setWindow(i, (old) => ({ ...old, from: e.target.value }))}
                      />
                    </label>
                    <label>
                      To
                      <input
                        type="time"
                        value={w.to}
                        onChange={(e) => setWindow(i, (old) => ({ ...old, to: e.target.value }))}
                      />
                    </label>
                    <button
                      type="button"
                      className="ghost small"
                      aria-label={`Remove window ${i + 1}`}
                      onClick={() =>
                        setDraft((d) => ({ ...d, schedule: d.schedule.filter((_, j) => j !== i) }))
                      }
                    >
                      Remove
                    </button>
                  </div>
                </fieldset>
              ))}
              {scheduleErrors.map(([path, message]) => (
                <span key={path} className="field-error">
                  {path
                    .replace(/^params\.schedule\.?/, 'Window ')
                    .replace(/^Window (\d+)/, (_, n) => `Window ${Number(n) + 1}`)}
                  : {message}
                </span>
              ))}
              <button
                type="button"
                className="ghost small"
                disabled={draft.schedule.length >= 28}
                onClick={() => setDraft((d) => ({ ...d, schedule: [...d.schedule, newWindow()] }))}
              >
                Add window
              </button>
            </fieldset>
          </>
        )}
        {NUMBER_FIELDS[kind].length === 0 && kind !== 'object.zone' && <p className="muted">None.</p>}
      </fieldset>

      <ChannelsField
        channels={data.channels}
        chosen={channels}
        onChange={setChannels}
        error={<FieldError id={errId('channels')} message={errors.channels} />}
      />
      <label className="adm-check">
        <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} />
        Enabled
      </label>
      <ErrorNotice message={error} />
      <div className="adm-form-actions">
        <button type="submit" disabled={saving}>
          {saving ? 'Saving…' : rule ? 'Save rule' : 'Create rule'}
        </button>
        {onCancel && (
          <button type="button" className="ghost" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  )
}

function ChannelsField({
  channels,
  chosen,
  onChange,
  error,
}: {
  channels: NotificationChannel[]
  chosen: string[]
  onChange: (ids: string[]) => void
  error: ReactNode
}) {
  return (
    <fieldset className="alarm-channels">
      <legend>Channels</legend>
      {channels.length === 0 && (
        <p className="muted small-text">
          No notification channels yet: alarms show here only.{' '}
          <Link to="/admin/notifications">Add a channel</Link>
        </p>
      )}
      {channels.map((c) => (
        <label key={c.id} className="adm-check">
          <input
            type="checkbox"
            checked={chosen.includes(c.id)}
            onChange={(e) =>
              onChange(e.target.checked ? [...chosen, c.id] : chosen.filter((id) => id !== c.id))
            }
          />
          {c.name}
          {!c.enabled && <span className="muted small-text"> (disabled)</span>}
        </label>
      ))}
      {error}
    </fieldset>
  )
}
