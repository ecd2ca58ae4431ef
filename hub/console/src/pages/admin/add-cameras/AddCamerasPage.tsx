import { type FormEvent, useState } from 'react'
import { Link, useParams } from 'react-router'
import { ApiError, api, describeError } from '../../../api/client.ts'
import {
  type BulkResult,
  type DiscoveredDevice,
  describeStream,
  PROTOCOL_NAMES,
  type ProbeProtocol,
  type ProbeResult,
} from '../../../api/device-types.ts'
import type { Agent, Site } from '../../../api/types.ts'
import { ErrorNotice } from '../../../components/ErrorNotice.tsx'
import { usePageTitle } from '../../../components/usePageTitle.ts'
import { BulkResults } from '../common/BulkResults.tsx'
import { SelectField } from '../common/SelectField.tsx'
import { useLoaded } from '../common/useLoaded.ts'
import '../common/admin.css'
import './add-cameras.css'
import { ChannelPreview } from './ChannelPreview.tsx'

/** How long a discovery may run: the hub holds the request open meanwhile. */
const DISCOVER_TIMEOUT_MS = 8000

/** A device in the list: found by discovery, or typed in by address. */
interface Candidate {
  key: string
  device: DiscoveredDevice
  selected: boolean
}

/** A probed device: what it is and its channels, or why it could not be read. */
interface Probed {
  key: string
  address: string
  result?: ProbeResult
  error?: string
  /** Per channel: whether to add it, and the new camera's name. */
  picks: Record<string, { add: boolean; name: string }>
  /** The credentials this device was probed with: its cameras are added with them. */
  username: string
  password: string
}

const DEVICE_ERRORS: Record<string, string> = {
  DEVICE_AUTH: 'The username or password is wrong for this device.',
  DEVICE_UNREACHABLE: 'The device does not answer at this address (from the agent).',
  DEVICE_PROTOCOL: 'Something answers at this address, but not as a camera or recorder we know.',
}

function probeError(err: unknown): string {
  if (err instanceof ApiError && DEVICE_ERRORS[err.code]) return `${DEVICE_ERRORS[err.code]} (${err.message})`
  return describeError(err)
}

/** Where a probe reaches a discovered device: its ONVIF service when it has one, else host[:port]. */
function probeAddress(d: DiscoveredDevice, protocol: ProbeProtocol): string {
  if (d.onvifUrl && (protocol === 'auto' || protocol === 'onvif')) return d.onvifUrl
  return d.port && d.port !== 80 ? `${d.address}:${d.port}` : d.address
}

const deviceTitle = (d: Pick<DiscoveredDevice, 'manufacturer' | 'model' | 'name' | 'address'>) =>
  [d.manufacturer, d.model].filter(Boolean).join(' ') || d.name || d.address

/** Targets as typed: one per line or separated by commas or spaces. */
const parseTargets = (text: string) =>
  text
    .split(/[\s,]+/)
    .map((t) => t.trim())
    .filter(Boolean)

/**
 * "Add cameras" on an agent, the way an installer works a site: find the devices on its network
 * (WS-Discovery and a bounded scan of the site's own subnets, run by the agent, since the hub
 * cannot reach the site), pick some, give their credentials, probe them for their channels and
 * streams, choose the channels and names, and add them all at once. Each new camera is bound to
 * its device channel (so the device's own events reach it) and shows a current still.
 */
export function AddCamerasPage() {
  const { agentId = '' } = useParams()
  const loaded = useLoaded<{ agent: Agent; site: Site | undefined }>(async (signal) => {
    const agent = await api.get<Agent>(`/api/v1/agents/${agentId}`, undefined, signal)
    const site = await api
      .get<Site>(`/api/v1/sites/${agent.siteId}`, undefined, signal)
      .catch(() => undefined)
    return { agent, site }
  })
  const agent = loaded.data?.agent
  usePageTitle(agent ? `Add cameras to ${agent.name}` : 'Add cameras')

  const [methods, setMethods] = useState({ onvif: true, scan: true })
  const [targets, setTargets] = useState('')
  const [searching, setSearching] = useState(false)
  const [searchError, setSearchError] = useState<string>()
  const [searched, setSearched] = useState(false)
  const [candidates, setCandidates] = useState<Candidate[]>([])
  const [manual, setManual] = useState('')

  const [username, setUsername] = useState('')
  const [password, setPassword] = useState('')
  const [protocol, setProtocol] = useState<ProbeProtocol>('auto')
  const [probing, setProbing] = useState<string>()
  const [probed, setProbed] = useState<Probed[]>([])

  const [events, setEvents] = useState(true)
  const [record, setRecord] = useState(true)
  const [retentionDays, setRetentionDays] = useState('30')
  const [adding, setAdding] = useState(false)
  const [addError, setAddError] = useState<string>()
  const [results, setResults] = useState<(BulkResult & { name: string })[]>()

  const discover = async (e: FormEvent) => {
    e.preventDefault()
    const chosen = (['onvif', 'scan'] as const).filter((m) => methods[m])
    if (chosen.length === 0) return setSearchError('Choose at least one way to search.')
    setSearching(true)
    setSearchError(undefined)
    try {
      const list = parseTargets(targets)
      const found = await api.post<{ devices: DiscoveredDevice[] }>(`/api/v1/agents/${agentId}/discover`, {
        methods: chosen,
        ...(list.length ? { targets: list } : {}),
        timeoutMs: DISCOVER_TIMEOUT_MS,
      })
      // Typed-in devices stay; found ones replace the previous search's.
      setCandidates((before) => [
        ...before.filter((c) => c.key.startsWith('manual:')),
        ...found.devices.map((d) => ({
          key: `${d.address}:${d.port}`,
          device: d,
          selected: d.cameraId === null,
        })),
      ])
      setSearched(true)
    } catch (err) {
      setSearchError(describeError(err))
    } finally {
      setSearching(false)
    }
  }

  const addManual = (e: FormEvent) => {
    e.preventDefault()
    const address = manual.trim()
    if (!address) return
    const device: DiscoveredDevice = {
      address,
      port: 80,
      manufacturer: null,
      model: null,
      firmware: null,
      serial: null,
      mac: null,
      name: null,
      protocols: [],
      onvifUrl: null,
      cameraId: null,
    }
    setCandidates((before) => [
      ...before.filter((c) => c.key !== `manual:${address}`),
      { key: `manual:${address}`, device, selected: true },
    ])
    setManual('')
  }

  const selected = candidates.filter((c) => c.selected)

  const probe = async (e: FormEvent) => {
    e.preventDefault()
    setResults(undefined)
    // Devices probed before (with other credentials) keep their results; these are probed again.
    const keys = new Set(selected.map((c) => c.key))
    let out: Probed[] = probed.filter((p) => !keys.has(p.key))
    for (const c of selected) {
      const address = c.key.startsWith('manual:') ? c.device.address : probeAddress(c.device, protocol)
      setProbing(address)
      try {
        const result = await api.post<ProbeResult>(`/api/v1/agents/${agentId}/probe`, {
          address,
          protocol,
          ...(username ? { username } : {}),
          ...(password ? { password } : {}),
        })
        const base = c.device.name || result.device.name || deviceTitle(result.device)
        const picks = Object.fromEntries(
          result.channels.map((ch) => [
            ch.channel,
            {
              add: ch.streams.length > 0,
              name: (result.channels.length > 1 ? `${base} ${ch.name || ch.channel}` : base).slice(0, 200),
            },
          ]),
        )
        out = [...out, { key: c.key, address, result, picks, username, password }]
      } catch (err) {
        out = [...out, { key: c.key, address, error: probeError(err), picks: {}, username, password }]
      }
      setProbed(out)
    }
    setProbing(undefined)
  }

  const setPick = (key: string, channel: string, patch: Partial<{ add: boolean; name: string }>) =>
    setProbed((list) =>
      list.map((p) =>
        p.key === key
          ? {
              ...p,
              picks: {
                ...p.picks,
                [channel]: { ...(p.picks[channel] ?? { add: false, name: '' }), ...patch },
              },
            }
          : p,
      ),
    )

  const toAdd = probed.flatMap((p) =>
    p.result
      ? p.result.channels
          .filter((ch) => p.picks[ch.channel]?.add)
          .map((ch) => ({ probed: p, result: p.result as ProbeResult, channel: ch }))
      : [],
  )

  const add = async () => {
    if (!agent || toAdd.length === 0) return
    setAdding(true)
    setAddError(undefined)
    const bodies = toAdd.map(({ probed: p, result, channel }) => ({
      name: (p.picks[channel.channel]?.name ?? '').trim(),
      siteId: agent.siteId,
      agentId: agent.id,
      device: {
        protocol: result.device.protocol,
        address: p.address,
        channel: channel.channel,
        ...(p.username ? { username: p.username } : {}),
        ...(p.password ? { password: p.password } : {}),
        events,
      },
      streams: channel.streams.map((s) => ({
        role: s.role,
        url: s.url,
        ...(p.username ? { username: p.username } : {}),
        ...(p.password ? { password: p.password } : {}),
      })),
      recording: { enabled: record, retentionDays: Number(retentionDays) },
    }))
    try {
      const answer = await api.post<{ results: BulkResult[] }>('/api/v1/cameras/bulk', { cameras: bodies })
      setResults(
        answer.results.map((r) => ({ ...r, name: r.name ?? bodies[r.row - 1]?.name ?? `row ${r.row}` })),
      )
    } catch (err) {
      setAddError(describeError(err))
    } finally {
      setAdding(false)
    }
  }

  if (loaded.error)
    return (
      <section className="page adm-page">
        <h1>Add cameras</h1>
        <ErrorNotice message={loaded.error} onRetry={loaded.reload} />
      </section>
    )

  return (
    <section className="page adm-page add-cameras" aria-labelledby="add-cameras-title">
      <div className="toolbar">
        <h1 id="add-cameras-title">{agent ? `Add cameras to ${agent.name}` : 'Add cameras'}</h1>
        <Link className="button ghost" to="/admin/agents">
          Back to agents
        </Link>
      </div>
      {agent && (
        <p className="muted">
          Site {loaded.data?.site?.name ?? agent.siteId}. The agent searches its own network: the hub never
          reaches the site's devices itself.
          {agent.status !== 'online' && (
            <strong className="adm-warn">
              {' '}
              The agent is {agent.status}: it cannot search or probe until it connects.
            </strong>
          )}
        </p>
      )}

      <form className="card stack-form" aria-label="Find devices" onSubmit={(e) => void discover(e)}>
        <h2>1. Find devices</h2>
        <fieldset className="inline-form">
          <legend>Search by</legend>
          <label className="adm-check">
            <input
              type="checkbox"
              checked={methods.onvif}
              onChange={(e) => setMethods((m) => ({ ...m, onvif: e.target.checked }))}
            />
            ONVIF discovery
          </label>
          <label className="adm-check">
            <input
              type="checkbox"
              checked={methods.scan}
              onChange={(e) => setMethods((m) => ({ ...m, scan: e.target.checked }))}
            />
            Network scan (ports 554, 80, 8000, 37777)
          </label>
        </fieldset>
        <label>
          Addresses or ranges (optional)
          <textarea
            value={targets}
            onChange={(e) => setTargets(e.target.value)}
            rows={2}
            maxLength={8000}
            placeholder="10.0.0.0/24, 10.0.1.5, 10.0.1.9:8080"
            spellCheck={false}
          />
        </label>
        <p className="muted small-text">
          Empty: the agent's own subnets and ONVIF multicast. Only private ranges up to /22 (1,024 addresses)
          are searched.
        </p>
        <div>
          <button type="submit" disabled={searching || agent?.status !== 'online'}>
            {searching ? 'Searching…' : 'Discover'}
          </button>
        </div>
        <ErrorNotice message={searchError} />
      </form>

      <form className="card inline-form" aria-label="Add a device by address" onSubmit={addManual}>
        <label>
          Device address
          <input
            value={manual}
            onChange={(e) => setManual(e.target.value)}
            maxLength={512}
            placeholder="10.0.0.21, 10.0.0.21:8000 or http://10.0.0.21/onvif/device_service"
            spellCheck={false}
            autoComplete="off"
          />
        </label>
        <button type="submit" className="ghost">
          Add to the list
        </button>
      </form>

      {(searched || candidates.length > 0) && (
        <div className="card">
          <h2 id="devices-found">Devices</h2>
          <p className="muted" aria-live="polite">
            {candidates.length === 0
              ? 'No device answered. Check the ranges, or add a device by its address.'
              : `${candidates.length} device${candidates.length === 1 ? '' : 's'}, ${selected.length} selected`}
          </p>
          {candidates.length > 0 && (
            <table aria-labelledby="devices-found">
              <thead>
                <tr>
                  <th scope="col">Select</th>
                  <th scope="col">Address</th>
                  <th scope="col">Device</th>
                  <th scope="col">Protocols</th>
                  <th scope="col">MAC</th>
                  <th scope="col">Camera</th>
                </tr>
              </thead>
              <tbody>
                {candidates.map((c) => (
                  <tr key={c.key}>
                    <td>
                      <input
                        type="checkbox"
                        aria-label={`Select ${c.device.address}`}
                        checked={c.selected}
                        onChange={(e) =>
                          setCandidates((list) =>
                            list.map((x) => (x.key === c.key ? { ...x, selected: e.target.checked } : x)),
                          )
                        }
                      />
                    </td>
                    <td className="mono">
                      {c.device.address}
                      {c.device.port !== 80 && !c.key.startsWith('manual:') ? `:${c.device.port}` : ''}
                    </td>
                    <td>
                      {c.key.startsWith('manual:') ? (
                        <span className="muted">typed in</span>
                      ) : (
                        <>
                          {deviceTitle(c.device)}
                          {c.device.name && deviceTitle(c.device) !== c.device.name && (
                            <span className="muted"> — {c.device.name}</span>
                          )}
                        </>
                      )}
                    </td>
                    <td>{c.device.protocols.join(', ') || '—'}</td>
                    <td className="mono">{c.device.mac ?? '—'}</td>
                    <td>
                      {c.device.cameraId ? (
                        <span className="badge badge-warn">already added</span>
                      ) : (
                        <span className="muted">new</span>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      )}

      {selected.length > 0 && (
        <form className="card stack-form" aria-label="Probe devices" onSubmit={(e) => void probe(e)}>
          <h2>2. Credentials</h2>
          <div className="adm-grid">
            <label>
              Device username
              <input
                value={username}
                onChange={(e) => setUsername(e.target.value)}
                maxLength={256}
                autoComplete="off"
                spellCheck={false}
              />
            </label>
            <label>
              Device password
              <input
                type="password"
                value={password}
                onChange={(e) => setPassword(e.target.value)}
                maxLength={1024}
                autoComplete="new-password"
              />
            </label>
            <SelectField
              label="Protocol"
              value={protocol}
              onChange={(e) => setProtocol(e.target.value as ProbeProtocol)}
            >
              <option value="auto">Automatic (ONVIF, then Hikvision, then Dahua)</option>
              <option value="onvif">{PROTOCOL_NAMES.onvif}</option>
              <option value="isapi">{PROTOCOL_NAMES.isapi}</option>
              <option value="dahua">{PROTOCOL_NAMES.dahua}</option>
            </SelectField>
          </div>
          <p className="muted small-text">
            The password goes to the agent sealed for it alone and is stored sealed; nobody can read it back.
          </p>
          <div>
            <button type="submit" disabled={probing !== undefined}>
              {probing
                ? `Probing ${probing}…`
                : `Probe ${selected.length} selected device${selected.length === 1 ? '' : 's'}`}
            </button>
          </div>
        </form>
      )}

      {probed.length > 0 && (
        <div className="card stack-form">
          <h2>3. Channels</h2>
          {probed.map((p) => (
            <section key={p.key} className="probed-device" aria-label={`Device ${p.address}`}>
              <h3>
                {p.result ? deviceTitle(p.result.device) : p.address}{' '}
                <span className="muted mono">{p.address}</span>
              </h3>
              {p.error && <ErrorNotice message={p.error} />}
              {p.result && (
                <>
                  <p className="small-text muted">
                    {PROTOCOL_NAMES[p.result.device.protocol]}
                    {p.result.device.firmware && ` · firmware ${p.result.device.firmware}`}
                    {p.result.device.serial && ` · serial ${p.result.device.serial}`} ·{' '}
                    {p.result.channels.length} channel{p.result.channels.length === 1 ? '' : 's'}
                  </p>
                  <ul className="probed-channels">
                    {p.result.channels.map((ch) => {
                      const pick = p.picks[ch.channel] ?? { add: false, name: '' }
                      const label = ch.name || `channel ${ch.channel}`
                      return (
                        <li key={ch.channel}>
                          <label className="adm-check">
                            <input
                              type="checkbox"
                              checked={pick.add}
                              disabled={ch.streams.length === 0}
                              onChange={(e) => setPick(p.key, ch.channel, { add: e.target.checked })}
                            />
                            Add {label}
                          </label>
                          <label>
                            Camera name for {label}
                            <input
                              value={pick.name}
                              onChange={(e) => setPick(p.key, ch.channel, { name: e.target.value })}
                              maxLength={200}
                              required={pick.add}
                            />
                          </label>
                          {ch.snapshot && p.result && p.result.device.protocol !== 'rtsp' && (
                            <ChannelPreview
                              agentId={agentId}
                              address={p.address}
                              protocol={p.result.device.protocol}
                              channel={ch.channel}
                              label={label}
                              username={p.username}
                              password={p.password}
                            />
                          )}
                          <span className="small-text">
                            {ch.streams
                              .map((s) => `${s.role}: ${describeStream(s) || 'stream'}`)
                              .join(' · ') || 'no stream'}
                            {ch.ptz && <span className="badge">PTZ</span>}
                            {ch.online === false && <span className="badge badge-bad">camera offline</span>}
                          </span>
                        </li>
                      )
                    })}
                  </ul>
                </>
              )}
            </section>
          ))}
          <fieldset className="inline-form">
            <legend>For the new cameras</legend>
            <label className="adm-check">
              <input type="checkbox" checked={events} onChange={(e) => setEvents(e.target.checked)} />
              Take in the devices' own events (motion, line crossing, intrusion…)
            </label>
            <label className="adm-check">
              <input type="checkbox" checked={record} onChange={(e) => setRecord(e.target.checked)} />
              Record
            </label>
            <label>
              Retention (days)
              <input
                type="number"
                min={1}
                max={3650}
                step={1}
                value={retentionDays}
                onChange={(e) => setRetentionDays(e.target.value)}
              />
            </label>
          </fieldset>
          <div>
            <button type="button" disabled={adding || toAdd.length === 0} onClick={() => void add()}>
              {adding ? 'Adding…' : `Add ${toAdd.length} camera${toAdd.length === 1 ? '' : 's'}`}
            </button>
          </div>
          <ErrorNotice message={addError} />
        </div>
      )}

      {results && <BulkResults results={results} />}
    </section>
  )
}
