import { useId, useState } from 'react'
import { describeError, notificationsApi } from '../../../api/client.ts'
import {
  CHANNEL_TYPE_NAMES,
  type NotificationChannel,
  type NotificationChannelCreate,
  type NotificationChannelType,
  type NotificationChannelUpdate,
  type NotificationDelivery,
} from '../../../api/notification-types.ts'
import { ErrorNotice } from '../../../components/ErrorNotice.tsx'
import { formatTime } from '../../../components/format.ts'
import { usePageTitle } from '../../../components/usePageTitle.ts'
import { ConfirmButton } from '../common/ConfirmButton.tsx'
import { Feedback, type Outcome } from '../common/Feedback.tsx'
import { SelectField } from '../common/SelectField.tsx'
import { useLoaded } from '../common/useLoaded.ts'
import '../common/admin.css'

interface NotificationsData {
  channels: NotificationChannel[]
  dead: NotificationDelivery[]
  deadTotal: number
}

/** Recipients as typed: separated by commas, semicolons or line breaks. */
const splitRecipients = (text: string) =>
  text
    .split(/[\s,;]+/)
    .map((a) => a.trim())
    .filter(Boolean)

const targetOf = (c: NotificationChannel) =>
  c.type === 'email'
    ? (c.to ?? []).join(', ')
    : c.type === 'mqtt'
      ? `${c.url ?? ''} → ${c.topic ?? ''}`
      : (c.url ?? '')

/**
 * Notifications (issue 16): the channels alarm changes go to (a signed webhook, e-mail, an MQTT
 * topic), each with a test message, and the dead letters: deliveries that failed every attempt,
 * retried from here once the receiver is fixed. Secrets are write-only: the page shows whether one
 * is stored, never the secret.
 */
export function NotificationsPage() {
  usePageTitle('Notifications')
  const loaded = useLoaded<NotificationsData>(async (signal) => {
    const [channels, dead] = await Promise.all([
      notificationsApi.channels(signal),
      notificationsApi.deliveries({ state: 'dead', limit: 100 }, signal),
    ])
    return { channels: channels.items, dead: dead.items, deadTotal: dead.total }
  }, 10_000)
  const [outcome, setOutcome] = useState<Outcome>()
  const [editing, setEditing] = useState<NotificationChannel>()
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

  return (
    <section className="page adm-page" aria-labelledby="notifications-title">
      <div className="toolbar">
        <h1 id="notifications-title">Notifications</h1>
        <p className="muted" aria-live="polite">
          {data === undefined
            ? 'Loading channels…'
            : `${data.channels.length} channel${data.channels.length === 1 ? '' : 's'}`}
        </p>
        <button type="button" className="ghost small" onClick={loaded.reload}>
          Refresh
        </button>
      </div>
      <ErrorNotice message={loaded.error} onRetry={loaded.reload} />
      <Feedback outcome={outcome} />
      {editing && (
        <ChannelForm
          key={editing.id}
          channel={editing}
          onCancel={() => setEditing(undefined)}
          onSaved={(saved) => {
            setEditing(undefined)
            setOutcome({ ok: true, text: `Saved channel ${saved.name}.` })
            loaded.reload()
          }}
        />
      )}
      <div className="table-wrap">
        <table aria-label="Notification channels">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Type</th>
              <th scope="col" className="adm-wide-only">
                Target
              </th>
              <th scope="col">Secret</th>
              <th scope="col">Enabled</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {data?.channels.map((c) => (
              <tr key={c.id}>
                <td>{c.name}</td>
                <td>{CHANNEL_TYPE_NAMES[c.type]}</td>
                <td className="adm-wide-only mono">{targetOf(c)}</td>
                <td>{c.hasSecret ? 'stored' : <span className="muted">none</span>}</td>
                <td>{c.enabled ? 'yes' : 'no'}</td>
                <td>
                  <div className="adm-actions">
                    <button
                      type="button"
                      className="small"
                      aria-label={`Send test to ${c.name}`}
                      disabled={!c.enabled}
                      onClick={() =>
                        void act(
                          () => notificationsApi.testChannel(c.id),
                          `Test message queued for ${c.name}.`,
                          `Could not send a test to ${c.name}`,
                        )
                      }
                    >
                      Send test
                    </button>
                    <button
                      type="button"
                      className="ghost small"
                      aria-label={`Edit channel ${c.name}`}
                      onClick={() => setEditing(c)}
                    >
                      Edit
                    </button>
                    <ConfirmButton
                      label="Delete"
                      accessibleName={`Delete channel ${c.name}`}
                      title={`Delete channel ${c.name}?`}
                      message={
                        <p>
                          Its queued and past deliveries are deleted with it, and alarm rules stop sending to
                          it.
                        </p>
                      }
                      confirmLabel="Delete channel"
                      onConfirm={() =>
                        act(
                          async () => {
                            await notificationsApi.deleteChannel(c.id)
                            if (editing?.id === c.id) setEditing(undefined)
                          },
                          `Deleted channel ${c.name}.`,
                          `Could not delete channel ${c.name}`,
                        )
                      }
                    />
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {data && data.channels.length === 0 && <p className="muted">No channels yet.</p>}

      <ChannelForm
        onSaved={(made) => {
          setOutcome({ ok: true, text: `Created channel ${made.name}.` })
          loaded.reload()
        }}
      />

      <h2 id="dead-letters-title">Dead letters</h2>
      <p className="muted">
        Deliveries that failed every attempt. Fix the receiver, then retry: it gets the same delivery id
        (X-VMS-Delivery) again.
      </p>
      <div className="table-wrap">
        <table aria-labelledby="dead-letters-title">
          <thead>
            <tr>
              <th scope="col">Channel</th>
              <th scope="col">Event</th>
              <th scope="col">Attempts</th>
              <th scope="col">Last error</th>
              <th scope="col" className="adm-wide-only">
                Queued
              </th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {data?.dead.map((d) => (
              <tr key={d.id}>
                <td>{d.channelName}</td>
                <td>{d.event}</td>
                <td>{d.attempts}</td>
                <td>{d.lastError ?? ''}</td>
                <td className="adm-wide-only">{formatTime(d.createdAt)}</td>
                <td>
                  <button
                    type="button"
                    className="small"
                    aria-label={`Retry ${d.event} delivery to ${d.channelName}`}
                    onClick={() =>
                      void act(
                        () => notificationsApi.retryDelivery(d.id),
                        `Retry queued for ${d.channelName}.`,
                        `Could not retry the delivery to ${d.channelName}`,
                      )
                    }
                  >
                    Retry
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {data && data.dead.length === 0 && <p className="muted">No dead letters.</p>}
      {data && data.deadTotal > data.dead.length && (
        <p className="muted">
          Showing the newest {data.dead.length} of {data.deadTotal}.
        </p>
      )}
    </section>
  )
}

/**
 * A channel's form: new (any type) or an edit of one (its type stays; an empty secret keeps the
 * stored one). Only the fields of the chosen type are shown and sent.
 */
function ChannelForm({
  channel,
  onSaved,
  onCancel,
}: {
  channel?: NotificationChannel
  onSaved: (saved: NotificationChannel) => void
  onCancel?: () => void
}) {
  const headingId = useId()
  const [type, setType] = useState<NotificationChannelType>(channel?.type ?? 'webhook')
  const [error, setError] = useState<string>()
  const [saving, setSaving] = useState(false)
  const submit = async (form: HTMLFormElement) => {
    const f = new FormData(form)
    const text = (name: string) => String(f.get(name) ?? '').trim()
    setSaving(true)
    setError(undefined)
    try {
      let saved: NotificationChannel
      if (channel) {
        const changes: NotificationChannelUpdate = { name: text('name'), enabled: f.get('enabled') === 'on' }
        if (type === 'webhook' || type === 'mqtt') changes.url = text('url')
        if (type === 'webhook' && text('secret')) changes.secret = String(f.get('secret'))
        if (type === 'email') changes.to = splitRecipients(text('to'))
        if (type === 'mqtt') changes.topic = text('topic')
        saved = await notificationsApi.updateChannel(channel.id, changes)
      } else {
        const name = text('name')
        const body: NotificationChannelCreate =
          type === 'webhook'
            ? { type, name, url: text('url'), secret: String(f.get('secret') ?? '') }
            : type === 'email'
              ? { type, name, to: splitRecipients(text('to')) }
              : { type, name, url: text('url'), topic: text('topic') }
        saved = await notificationsApi.createChannel(body)
        form.reset()
        setType('webhook')
      }
      onSaved(saved)
    } catch (err) {
      setError(describeError(err))
    } finally {
      setSaving(false)
    }
  }
  return (
    <form
      className="stack-form adm-form"
      aria-labelledby={headingId}
      onSubmit={(e) => {
        e.preventDefault()
        void submit(e.currentTarget)
      }}
    >
      <h2 id={headingId}>{channel ? `Edit channel ${channel.name}` : 'New channel'}</h2>
      <label>
        Name
        <input name="name" required maxLength={200} autoComplete="off" defaultValue={channel?.name ?? ''} />
      </label>
      <SelectField
        label="Type"
        name="type"
        value={type}
        disabled={channel !== undefined}
        onChange={(e) => setType(e.target.value as NotificationChannelType)}
      >
        {(Object.keys(CHANNEL_TYPE_NAMES) as NotificationChannelType[]).map((t) => (
          <option key={t} value={t}>
            {CHANNEL_TYPE_NAMES[t]}
          </option>
        ))}
      </SelectField>
      {(type === 'webhook' || type === 'mqtt') && (
        <label>
          URL
          <input
            name="url"
            type="text"
            inputMode="url"
            required
            maxLength={2048}
            autoComplete="off"
            spellCheck={false}
            placeholder={
              type === 'webhook' ? 'https://example.com/hooks/vms' : 'mqtts://user:password@broker:8883'
            }
            defaultValue={channel?.url ?? ''}
          />
        </label>
      )}
      {type === 'webhook' && (
        <label>
          Secret
          <input
            name="secret"
            type="password"
            required={!channel}
            minLength={16}
            maxLength={512}
            autoComplete="new-password"
            placeholder={channel?.hasSecret ? 'stored; leave empty to keep it' : 'at least 16 characters'}
          />
        </label>
      )}
      {type === 'email' && (
        <label>
          Recipients
          <textarea
            name="to"
            required
            rows={2}
            placeholder="ops@example.com, night-shift@example.com"
            defaultValue={(channel?.to ?? []).join(', ')}
          />
        </label>
      )}
      {type === 'mqtt' && (
        <label>
          Topic
          <input
            name="topic"
            required
            maxLength={256}
            autoComplete="off"
            spellCheck={false}
            placeholder="vms/alarms"
            defaultValue={channel?.topic ?? ''}
          />
        </label>
      )}
      {channel && (
        <label className="adm-check">
          <input name="enabled" type="checkbox" defaultChecked={channel.enabled} />
          Enabled
        </label>
      )}
      <ErrorNotice message={error} />
      <div className="adm-form-actions">
        <button type="submit" disabled={saving}>
          {saving ? 'Saving…' : channel ? 'Save channel' : 'Create channel'}
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
