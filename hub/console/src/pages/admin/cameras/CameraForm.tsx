import { type FormEvent, useEffect, useId, useRef, useState } from 'react'
import { api, describeError } from '../../../api/client.ts'
import { type CameraDevice, type DeviceProtocol, PROTOCOL_NAMES } from '../../../api/device-types.ts'
import type { Agent, Camera, CameraStream, Site, StreamRole } from '../../../api/types.ts'
import { FormActions } from '../common/FormActions.tsx'
import { SelectField } from '../common/SelectField.tsx'

interface StreamDraft {
  url: string
  username: string
  /** A new password (write-only: the hub never gives one back). */
  password: string
  removePassword: boolean
  transport: 'tcp' | 'udp'
}

interface DeviceDraft {
  /** '' : no device (streams only). */
  protocol: DeviceProtocol | ''
  address: string
  channel: string
  username: string
  password: string
  removePassword: boolean
  events: boolean
  allowPasswordText: boolean
}

interface Draft {
  device: DeviceDraft
  name: string
  siteId: string
  agentId: string
  streams: Record<StreamRole, StreamDraft>
  recordingEnabled: boolean
  retentionDays: string
}

const ROLES: { role: StreamRole; legend: string; hint: string }[] = [
  { role: 'main', legend: 'Main stream', hint: 'Full resolution: recorded, and shown in the single view.' },
  {
    role: 'sub',
    legend: 'Sub stream (optional)',
    hint: 'Lower resolution: shown in the live grid. Leave the URL empty if the camera has none.',
  },
]

const streamDraft = (s: CameraStream | undefined): StreamDraft => ({
  url: s?.url ?? '',
  username: s?.username ?? '',
  password: '',
  removePassword: false,
  transport: s?.transport ?? 'tcp',
})

/** The agents a camera of this site may be assigned to: the site's, never a revoked one. */
export function agentsForSite(agents: Agent[], siteId: string, keep?: string | null): Agent[] {
  return agents.filter((a) => a.siteId === siteId && (!a.revokedAt || a.id === keep))
}

/** The agent a new camera of a site gets by default: the site's online one, else its first. */
function defaultAgent(agents: Agent[], siteId: string): string {
  const list = agentsForSite(agents, siteId)
  return (list.find((a) => a.status === 'online') ?? list[0])?.id ?? ''
}

const deviceDraft = (d: CameraDevice | null | undefined): DeviceDraft => ({
  protocol: d?.protocol ?? '',
  address: d?.address ?? '',
  channel: d?.channel ?? '',
  username: d?.username ?? '',
  password: '',
  removePassword: false,
  events: d?.events ?? false,
  allowPasswordText: d?.allowPasswordText ?? false,
})

/** The device as the API takes it (null: none); a password only when typed (null removes it). */
function deviceBody(d: DeviceDraft) {
  if (!d.protocol) return null
  return {
    protocol: d.protocol,
    address: d.address.trim(),
    channel: d.channel.trim(),
    username: d.username.trim() || null,
    events: d.events,
    allowPasswordText: d.protocol === 'onvif' && d.allowPasswordText,
    ...(d.password ? { password: d.password } : d.removePassword ? { password: null } : {}),
  }
}

function deviceChanged(camera: Camera, d: DeviceDraft): boolean {
  const before = camera.device ?? null
  if (!before) return d.protocol !== ''
  return (
    d.protocol !== before.protocol ||
    d.address.trim() !== before.address ||
    d.channel.trim() !== before.channel ||
    (d.username.trim() || null) !== before.username ||
    d.events !== before.events ||
    (d.protocol === 'onvif' && d.allowPasswordText) !== (before.allowPasswordText ?? false) ||
    d.password !== '' ||
    d.removePassword
  )
}

/** A device API the hub can ask for the streams (a new camera may then leave its URLs empty). */
const probes = (d: DeviceDraft) => d.protocol !== '' && d.protocol !== 'rtsp'

function draftOf(camera: Camera | undefined, sites: Site[], agents: Agent[], siteId?: string): Draft {
  const site =
    camera?.siteId ?? (siteId && sites.some((s) => s.id === siteId) ? siteId : (sites[0]?.id ?? ''))
  return {
    device: deviceDraft(camera?.device),
    name: camera?.name ?? '',
    siteId: site,
    agentId: camera ? (camera.agentId ?? '') : defaultAgent(agents, site),
    streams: {
      main: streamDraft(camera?.streams.find((s) => s.role === 'main')),
      sub: streamDraft(camera?.streams.find((s) => s.role === 'sub')),
    },
    recordingEnabled: camera?.recording.enabled ?? true,
    retentionDays: String(camera?.recording.retentionDays ?? 30),
  }
}

/** The streams as the API takes them; a password only when one was typed (or null to remove it). */
function streamsBody(d: Draft) {
  return ROLES.filter(({ role }) => d.streams[role].url.trim()).map(({ role }) => {
    const s = d.streams[role]
    return {
      role,
      url: s.url.trim(),
      username: s.username.trim() || null,
      transport: s.transport,
      ...(s.password ? { password: s.password } : s.removePassword ? { password: null } : {}),
    }
  })
}

function streamsChanged(camera: Camera, d: Draft): boolean {
  return ROLES.some(({ role }) => {
    const before = camera.streams.find((s) => s.role === role)
    const s = d.streams[role]
    if (!before) return s.url.trim() !== ''
    return (
      s.url.trim() !== before.url ||
      (s.username.trim() || null) !== before.username ||
      s.transport !== before.transport ||
      s.password !== '' ||
      s.removePassword
    )
  })
}

/**
 * Adds a camera, or changes one: its name, site and agent, its main and sub streams (RTSP URL,
 * username, password) and its recording. Passwords are write-only: the form says whether one is
 * set and takes a new one, and never receives the current one. An edit sends only what changed.
 */
export function CameraForm({
  camera,
  sites,
  agents,
  initialSiteId,
  siteLabel,
  onDone,
}: {
  camera?: Camera
  sites: Site[]
  agents: Agent[]
  initialSiteId?: string
  siteLabel: (s: Site) => string
  onDone: (saved?: Camera) => void
}) {
  const [draft, setDraft] = useState<Draft>(() => draftOf(camera, sites, agents, initialSiteId))
  const [error, setError] = useState<string>()
  const [saving, setSaving] = useState(false)
  const titleId = useId()
  const heading = useRef<HTMLHeadingElement>(null)
  useEffect(() => heading.current?.focus(), [])

  const set = (patch: Partial<Draft>) => setDraft((d) => ({ ...d, ...patch }))
  const setDevice = (patch: Partial<DeviceDraft>) =>
    setDraft((d) => ({ ...d, device: { ...d.device, ...patch } }))
  const setStream = (role: StreamRole, patch: Partial<StreamDraft>) =>
    setDraft((d) => ({ ...d, streams: { ...d.streams, [role]: { ...d.streams[role], ...patch } } }))
  const changeSite = (siteId: string) =>
    setDraft((d) => ({
      ...d,
      siteId,
      agentId: agentsForSite(agents, siteId).some((a) => a.id === d.agentId)
        ? d.agentId
        : defaultAgent(agents, siteId),
    }))

  const choices = agentsForSite(agents, draft.siteId, camera?.agentId)
  const agentMoves = Boolean(camera && draft.agentId && draft.agentId !== (camera.agentId ?? ''))

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setError(undefined)
    const retentionDays = Number(draft.retentionDays)
    let body: Record<string, unknown>
    if (!camera) {
      const streams = streamsBody(draft)
      const device = deviceBody(draft.device)
      body = {
        name: draft.name.trim(),
        siteId: draft.siteId,
        agentId: draft.agentId || null,
        // No URL typed and a device to ask: the hub has the agent probe it and fills the streams in.
        ...(streams.length === 0 && probes(draft.device) ? {} : { streams }),
        ...(device ? { device } : {}),
        recording: { enabled: draft.recordingEnabled, retentionDays },
      }
    } else {
      body = {}
      if (draft.name.trim() !== camera.name) body.name = draft.name.trim()
      if (draft.siteId !== camera.siteId) body.siteId = draft.siteId
      if ((draft.agentId || null) !== camera.agentId) body.agentId = draft.agentId || null
      if (streamsChanged(camera, draft)) body.streams = streamsBody(draft)
      if (deviceChanged(camera, draft.device)) body.device = deviceBody(draft.device)
      if (
        draft.recordingEnabled !== camera.recording.enabled ||
        retentionDays !== camera.recording.retentionDays
      )
        body.recording = { enabled: draft.recordingEnabled, retentionDays }
      if (Object.keys(body).length === 0) return onDone()
    }
    setSaving(true)
    try {
      const saved = camera
        ? await api.patch<Camera>(`/api/v1/cameras/${camera.id}`, body)
        : await api.post<Camera>('/api/v1/cameras', body)
      onDone(saved)
    } catch (err) {
      setError(describeError(err))
      setSaving(false)
    }
  }

  return (
    <form
      className="stack-form adm-form adm-camera-form"
      aria-labelledby={titleId}
      onSubmit={(e) => void submit(e)}
    >
      <h2 id={titleId} ref={heading} tabIndex={-1}>
        {camera ? `Edit camera ${camera.name}` : 'Add a camera'}
      </h2>
      <div className="adm-grid">
        <label>
          Name
          <input
            value={draft.name}
            onChange={(e) => set({ name: e.target.value })}
            required
            maxLength={200}
            autoComplete="off"
          />
        </label>
        <SelectField label="Site" value={draft.siteId} onChange={(e) => changeSite(e.target.value)} required>
          {sites.map((s) => (
            <option key={s.id} value={s.id}>
              {siteLabel(s)}
            </option>
          ))}
        </SelectField>
        <SelectField label="Agent" value={draft.agentId} onChange={(e) => set({ agentId: e.target.value })}>
          <option value="">No agent (not recorded, not viewable)</option>
          {choices.map((a) => (
            <option key={a.id} value={a.id}>
              {a.name} ({a.status})
            </option>
          ))}
        </SelectField>
      </div>
      {choices.length === 0 && (
        <p className="muted small-text">
          This site has no agent yet: enroll one with a code from the Sites page, then assign it here.
        </p>
      )}
      <div className="adm-grid">
        {ROLES.map(({ role, legend, hint }) => {
          const s = draft.streams[role]
          const before = camera?.streams.find((x) => x.role === role)
          const hasPassword = Boolean(before?.hasPassword)
          const hostMoved = (() => {
            if (!before || !s.url.trim()) return false
            try {
              return new URL(s.url.trim()).host !== new URL(before.url).host
            } catch {
              return false
            }
          })()
          return (
            <fieldset key={role}>
              <legend>{legend}</legend>
              <p className="muted small-text">{hint}</p>
              <label>
                RTSP URL
                <input
                  type="url"
                  value={s.url}
                  onChange={(e) => setStream(role, { url: e.target.value })}
                  required={role === 'main' && !(probes(draft.device) && !camera)}
                  maxLength={2048}
                  placeholder="rtsp://192.0.2.10:554/stream1"
                  autoComplete="off"
                  spellCheck={false}
                />
              </label>
              <label>
                Username
                <input
                  value={s.username}
                  onChange={(e) => setStream(role, { username: e.target.value })}
                  maxLength={256}
                  autoComplete="off"
                  spellCheck={false}
                />
              </label>
              {hasPassword && !s.removePassword && (
                <p className="small-text">
                  <span className="badge badge-ok">password set</span> Leave the field empty to keep it.
                </p>
              )}
              {hasPassword && (hostMoved || agentMoves) && !s.password && !s.removePassword && (
                <p className="adm-warn small-text">
                  {hostMoved ? 'The stream moves to another host' : 'The camera moves to another agent'}:
                  enter the password again, or remove it.
                </p>
              )}
              <WriteOnlyPassword
                label="Password"
                hasPassword={hasPassword}
                value={s.password}
                remove={s.removePassword}
                onChange={(patch) => setStream(role, patch)}
              />
              <SelectField
                label="Transport"
                value={s.transport}
                onChange={(e) => setStream(role, { transport: e.target.value as 'tcp' | 'udp' })}
              >
                <option value="tcp">TCP (interleaved; works through most networks)</option>
                <option value="udp">UDP</option>
              </SelectField>
            </fieldset>
          )
        })}
      </div>
      <DeviceFields
        device={draft.device}
        before={camera?.device ?? null}
        isNew={!camera}
        onChange={setDevice}
      />
      <fieldset className="adm-recording">
        <legend>Recording</legend>
        <label className="adm-check">
          <input
            type="checkbox"
            checked={draft.recordingEnabled}
            onChange={(e) => set({ recordingEnabled: e.target.checked })}
          />
          Record this camera
        </label>
        <label>
          Retention (days)
          <input
            type="number"
            inputMode="numeric"
            min={1}
            max={3650}
            step={1}
            required
            value={draft.retentionDays}
            onChange={(e) => set({ retentionDays: e.target.value })}
          />
        </label>
        <p className="muted small-text">
          Recordings older than this are deleted; the agent's disk quota may remove them sooner.
        </p>
      </fieldset>
      <FormActions
        error={error}
        saving={saving}
        saveLabel={camera ? 'Save camera' : 'Add camera'}
        onCancel={() => onDone()}
      />
    </form>
  )
}

/**
 * The camera's device: how the agent reaches the camera (or the recorder it is a channel of) for
 * snapshots, PTZ and the device's own events. The password is write-only, like stream passwords.
 */
function DeviceFields({
  device: d,
  before,
  isNew,
  onChange,
}: {
  device: DeviceDraft
  before: CameraDevice | null
  isNew: boolean
  onChange: (patch: Partial<DeviceDraft>) => void
}) {
  const hasPassword = Boolean(before?.hasPassword)
  return (
    <fieldset className="adm-device">
      <legend>Device (optional)</legend>
      <p className="muted small-text">
        The camera, or the recorder it is a channel of: for current stills, PTZ and the device's own events.
        {isNew && ' With a device and no stream URL, the agent asks the device for its streams.'}
      </p>
      <div className="adm-grid">
        <SelectField
          label="Device protocol"
          value={d.protocol}
          onChange={(e) => onChange({ protocol: e.target.value as DeviceProtocol | '' })}
        >
          <option value="">No device</option>
          {(Object.keys(PROTOCOL_NAMES) as DeviceProtocol[]).map((p) => (
            <option key={p} value={p}>
              {PROTOCOL_NAMES[p]}
            </option>
          ))}
        </SelectField>
        {d.protocol !== '' && (
          <>
            <label>
              Device address
              <input
                value={d.address}
                onChange={(e) => onChange({ address: e.target.value })}
                required
                maxLength={512}
                placeholder="10.0.0.21 or 10.0.0.21:8000"
                autoComplete="off"
                spellCheck={false}
              />
            </label>
            <label>
              Device channel
              <input
                value={d.channel}
                onChange={(e) => onChange({ channel: e.target.value })}
                maxLength={64}
                placeholder="empty for a single camera"
                autoComplete="off"
                spellCheck={false}
              />
            </label>
            <label>
              Device username
              <input
                value={d.username}
                onChange={(e) => onChange({ username: e.target.value })}
                maxLength={256}
                autoComplete="off"
                spellCheck={false}
              />
            </label>
            <WriteOnlyPassword
              label="Device password"
              hasPassword={hasPassword}
              value={d.password}
              remove={d.removePassword}
              onChange={onChange}
            />
            {d.protocol === 'onvif' && (
              <label className="adm-check">
                <input
                  type="checkbox"
                  checked={d.allowPasswordText}
                  onChange={(e) => onChange({ allowPasswordText: e.target.checked })}
                />
                Allow the password in clear (old ONVIF firmware only)
              </label>
            )}
            {d.protocol !== 'rtsp' && (
              <label className="adm-check">
                <input
                  type="checkbox"
                  checked={d.events}
                  onChange={(e) => onChange({ events: e.target.checked })}
                />
                Take in the device's own events
              </label>
            )}
          </>
        )}
      </div>
      {hasPassword && !d.removePassword && d.protocol !== '' && (
        <p className="small-text">
          <span className="badge badge-ok">device password set</span> Leave the field empty to keep it.
        </p>
      )}
    </fieldset>
  )
}

/**
 * A password the hub never gives back: a field for a new one ("New …" when one is set), and a box
 * to remove the stored one (which empties the field). Streams and devices both use it.
 */
function WriteOnlyPassword({
  label,
  hasPassword,
  value,
  remove,
  onChange,
}: {
  label: string
  hasPassword: boolean
  value: string
  remove: boolean
  onChange: (patch: { password?: string; removePassword?: boolean }) => void
}) {
  return (
    <>
      {!remove && (
        <label>
          {hasPassword ? `New ${label.charAt(0).toLowerCase()}${label.slice(1)}` : label}
          <input
            type="password"
            value={value}
            onChange={(e) => onChange({ password: e.target.value })}
            maxLength={1024}
            autoComplete="new-password"
          />
        </label>
      )}
      {hasPassword && (
        <label className="adm-check">
          <input
            type="checkbox"
            checked={remove}
            onChange={(e) => onChange({ removePassword: e.target.checked, password: '' })}
          />
          Remove the {label.charAt(0).toLowerCase()}
          {label.slice(1)}
        </label>
      )}
    </>
  )
}
