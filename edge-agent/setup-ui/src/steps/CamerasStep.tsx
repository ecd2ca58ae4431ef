import { type FormEvent, useId, useState } from 'react'
import { type AddAnswer, api, type FoundDevice, type PreviewAnswer, type ProbeAnswer } from '../api.ts'
import { type StepProps, StepSection } from './StepList.tsx'

type Props = StepProps

interface Choice {
  add: boolean
  name: string
}

/**
 * Step 3: find cameras on this network (the agent's own discovery), probe one with its
 * credentials, look at a still and a few seconds of each channel, name them and add them to the
 * site through the hub as the signed-in installer. Finding, probing and previewing work without
 * the hub; adding needs it. The device password stays in this page's memory until the cameras are
 * added, and the agent never sends it back.
 */
export function CamerasStep({ n, step, status, onStatus, onError }: Props) {
  const id = useId()
  const [targets, setTargets] = useState('')
  const [scan, setScan] = useState(false)
  const [found, setFound] = useState<FoundDevice[] | undefined>()
  const [address, setAddress] = useState('')
  const [username, setUsername] = useState('admin')
  const [password, setPassword] = useState('')
  const [probe, setProbe] = useState<ProbeAnswer | undefined>()
  const [choices, setChoices] = useState<Record<string, Choice>>({})
  const [previews, setPreviews] = useState<Record<string, PreviewAnswer | { error: string } | 'busy'>>({})
  const [added, setAdded] = useState<AddAnswer['results'] | undefined>()
  const [error, setError] = useState<{ where: string; message: string } | undefined>()
  const [busy, setBusy] = useState<string | undefined>()

  const canAdd = status.installer !== null && step.state !== 'unavailable'
  const fail = (where: string) => (err: unknown) => {
    const message = onError(err)
    setError(message ? { where, message } : undefined)
  }
  const alert = (where: string) =>
    error?.where === where && (
      <p role="alert" className="error">
        {error.message}
      </p>
    )

  const discover = async (e: FormEvent) => {
    e.preventDefault()
    setBusy('discover')
    setError(undefined)
    try {
      const list = targets.split(/[\s,]+/).filter((t) => t !== '')
      setFound((await api.discover(list, scan)).devices)
    } catch (err) {
      fail('discover')(err)
    } finally {
      setBusy(undefined)
    }
  }

  const runProbe = async (e: FormEvent) => {
    e.preventDefault()
    setBusy('probe')
    setError(undefined)
    setProbe(undefined)
    setPreviews({})
    try {
      const answer = await api.probe(address.trim(), username, password)
      setProbe(answer)
      setChoices(
        Object.fromEntries(
          answer.channels.map((c) => [c.channel, { add: true, name: c.name.slice(0, 100) }]),
        ),
      )
    } catch (err) {
      fail('probe')(err)
    } finally {
      setBusy(undefined)
    }
  }

  const preview = async (channel: string, url: string) => {
    setPreviews((p) => ({ ...p, [channel]: 'busy' }))
    try {
      const answer = await api.preview(url, username, password)
      setPreviews((p) => ({ ...p, [channel]: answer }))
    } catch (err) {
      setPreviews((p) => ({ ...p, [channel]: { error: onError(err) } }))
    }
  }

  const add = async () => {
    if (!probe) return
    setBusy('add')
    setError(undefined)
    try {
      const cameras = probe.channels
        .filter((c) => choices[c.channel]?.add)
        .map((c) => ({
          name: choices[c.channel]?.name.trim() ?? c.name,
          protocol: probe.device.protocol,
          address: address.trim(),
          channel: c.channel,
          username,
          password,
          streams: c.streams.map((s) => ({ role: s.role, url: s.url })),
        }))
      const answer = await api.addCameras(cameras)
      setAdded(answer.results)
      if (answer.results.every((r) => r.status === 'created')) {
        setPassword('')
        setProbe(undefined)
        setPreviews({})
      }
      onStatus(answer.status)
    } catch (err) {
      fail('add')(err)
    } finally {
      setBusy(undefined)
    }
  }

  const chosen = probe ? probe.channels.filter((c) => choices[c.channel]?.add).length : 0

  return (
    <StepSection n={n} step={step}>
      {status.cameras.length > 0 && (
        <>
          <h3>Added to the site</h3>
          <ul aria-label="Cameras added">
            {status.cameras.map((c) => (
              <li key={c.id}>{c.name}</li>
            ))}
          </ul>
        </>
      )}
      <form aria-label="Find cameras" onSubmit={(e) => void discover(e)}>
        <p>
          The agent looks for cameras on this machine's network (ONVIF WS-Discovery; optionally a scan of the
          ports cameras answer on). Only private addresses, at most 1,024 of them.
        </p>
        <label htmlFor={`${id}-targets`}>Addresses or ranges (optional)</label>
        <input
          id={`${id}-targets`}
          placeholder="192.168.1.0/24 or 192.168.1.20"
          maxLength={500}
          value={targets}
          onChange={(e) => setTargets(e.target.value)}
        />
        <label className="check">
          <input type="checkbox" checked={scan} onChange={(e) => setScan(e.target.checked)} /> Also scan the
          network (ports 554, 80, 8000, 37777)
        </label>
        {alert('discover')}
        <button type="submit" disabled={busy !== undefined}>
          {busy === 'discover' ? 'Discovering…' : 'Discover'}
        </button>
      </form>
      {found && (
        <section aria-label="Devices found">
          {found.length === 0 ? (
            <p role="status">No device answered. Type its address below instead.</p>
          ) : (
            <ul className="found">
              {found.map((d) => (
                <li key={d.address}>
                  <strong>{d.address}</strong> {[d.manufacturer, d.model ?? d.name].filter(Boolean).join(' ')}{' '}
                  <span className="state">({d.protocols.join(', ') || 'unknown'})</span>{' '}
                  <button
                    type="button"
                    className="secondary small"
                    onClick={() => setAddress(d.onvifUrl ?? `${d.address}:${d.port}`)}
                  >
                    Use {d.address}
                  </button>
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
      <form aria-label="Probe a device" onSubmit={(e) => void runProbe(e)}>
        <label htmlFor={`${id}-address`}>Device address</label>
        <input
          id={`${id}-address`}
          required
          maxLength={512}
          placeholder="192.168.1.20 or http://192.168.1.20/onvif/device_service"
          value={address}
          onChange={(e) => setAddress(e.target.value)}
        />
        <label htmlFor={`${id}-user`}>Device username</label>
        <input
          id={`${id}-user`}
          autoComplete="off"
          maxLength={128}
          value={username}
          onChange={(e) => setUsername(e.target.value)}
        />
        <label htmlFor={`${id}-password`}>Device password</label>
        <input
          id={`${id}-password`}
          type="password"
          autoComplete="new-password"
          maxLength={1024}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        {alert('probe')}
        <button type="submit" disabled={busy !== undefined}>
          {busy === 'probe' ? 'Probing…' : 'Probe'}
        </button>
      </form>
      {probe && (
        <section aria-label="Channels found" className="channels">
          <p>
            {[probe.device.manufacturer, probe.device.model].filter(Boolean).join(' ') || 'A device'} (
            {probe.device.protocol.toUpperCase()}), {probe.channels.length}{' '}
            {probe.channels.length === 1 ? 'channel' : 'channels'}.
          </p>
          {probe.channels.map((c) => {
            const choice = choices[c.channel] ?? { add: false, name: c.name }
            const set = (v: Partial<Choice>) =>
              setChoices((all) => ({ ...all, [c.channel]: { ...choice, ...v } }))
            const main = c.streams.find((s) => s.role === 'main') ?? c.streams[0]
            const p = previews[c.channel]
            return (
              <fieldset key={c.channel} className="channel">
                <legend>{c.name}</legend>
                <label className="check">
                  <input
                    type="checkbox"
                    checked={choice.add}
                    onChange={(e) => set({ add: e.target.checked })}
                  />{' '}
                  Add {c.name}
                </label>
                <label htmlFor={`${id}-name-${c.channel}`}>Camera name for {c.name}</label>
                <input
                  id={`${id}-name-${c.channel}`}
                  maxLength={100}
                  value={choice.name}
                  onChange={(e) => set({ name: e.target.value })}
                />
                <p className="state">
                  {c.streams
                    .map(
                      (s) =>
                        `${s.role}: ${[s.codec?.toUpperCase(), s.width && s.height ? `${s.width}×${s.height}` : ''].filter(Boolean).join(' ') || 'stream'}`,
                    )
                    .join(' · ')}
                </p>
                {main && (
                  <button
                    type="button"
                    className="secondary"
                    disabled={p === 'busy'}
                    onClick={() => void preview(c.channel, main.url)}
                  >
                    {p === 'busy' ? 'Recording 3 s…' : `Preview ${c.name}`}
                  </button>
                )}
                {p && p !== 'busy' && 'error' in p && (
                  <p role="alert" className="error">
                    {p.error}
                  </p>
                )}
                {p && p !== 'busy' && !('error' in p) && <PreviewView name={c.name} preview={p} />}
              </fieldset>
            )
          })}
          {!canAdd && <p className="reason">{step.reason ?? 'Sign in to the hub to add cameras.'}</p>}
          {alert('add')}
          <button
            type="button"
            disabled={!canAdd || chosen === 0 || busy !== undefined}
            onClick={() => void add()}
          >
            {busy === 'add' ? 'Adding…' : `Add ${chosen} ${chosen === 1 ? 'camera' : 'cameras'}`}
          </button>
        </section>
      )}
      {added && (
        <ul aria-label="Add results">
          {added.map((r) => (
            <li key={r.row} className={r.status === 'created' ? 'ok' : 'error'}>
              {r.name}: {r.status === 'created' ? 'added' : r.error}
            </li>
          ))}
        </ul>
      )}
    </StepSection>
  )
}

function PreviewView({ name, preview }: { name: string; preview: PreviewAnswer }) {
  return (
    <div className="preview">
      <p className="state">
        {preview.codec.toUpperCase()}
        {preview.width && preview.height ? ` ${preview.width}×${preview.height}` : ''}, {preview.seconds} s
      </p>
      <div className="media">
        {preview.still ? (
          <img src={`data:image/jpeg;base64,${preview.still}`} alt={`Still of ${name}`} />
        ) : (
          <p className="reason">{preview.stillError ?? 'No still.'}</p>
        )}
        {preview.video ? (
          <video
            src={preview.video}
            aria-label={`Live preview of ${name}`}
            autoPlay
            muted
            loop
            playsInline
            controls
          />
        ) : (
          <p className="reason">{preview.videoNote}</p>
        )}
      </div>
    </div>
  )
}
