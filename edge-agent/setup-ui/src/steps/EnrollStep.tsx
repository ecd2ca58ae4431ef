import { type FormEvent, useId, useState } from 'react'
import { ApiError, api } from '../api.ts'
import { type StepProps, StepSection } from './StepList.tsx'

type Props = StepProps

/** Step 1: the hub's address and a one-time enrollment code (made on the hub's Sites page). */
export function EnrollStep({ n, step, status, onStatus, onError }: Props) {
  const id = useId()
  const [hubUrl, setHubUrl] = useState('')
  const [code, setCode] = useState('')
  const [error, setError] = useState<string | undefined>()
  const [busy, setBusy] = useState(false)
  /** The fingerprint of a hub certificate this machine does not trust, and whether to pin it. */
  const [untrusted, setUntrusted] = useState<string>()
  const [trust, setTrust] = useState(false)

  if (step.state === 'done' && status.agent) {
    const cert = status.hub?.certificate
    return (
      <StepSection n={n} step={step}>
        <dl className="facts">
          <dt>Hub</dt>
          <dd>{status.agent.hubUrl}</dd>
          <dt>Agent</dt>
          <dd>
            <code>{status.agent.agentId}</code>
          </dd>
          {cert && (
            <>
              <dt>Hub certificate (SHA-256)</dt>
              <dd>
                <code className="fingerprint">{cert.fingerprint}</code>{' '}
                {cert.verified
                  ? '(verified)'
                  : status.agent.hubPinned
                    ? '(pinned: the agent accepts this certificate only)'
                    : ''}
              </dd>
            </>
          )}
          <dt>Broker certificate, pinned (SHA-256)</dt>
          <dd>
            <code className="fingerprint">{status.agent.brokerFingerprint ?? 'none (plain MQTT)'}</code>
          </dd>
        </dl>
      </StepSection>
    )
  }

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    try {
      onStatus(await api.enroll(hubUrl, code, trust && untrusted ? untrusted : undefined))
      setError(undefined)
    } catch (err) {
      const fingerprint = err instanceof ApiError ? err.details?.fingerprint : undefined
      if (err instanceof ApiError && err.code === 'HUB_CERT_UNTRUSTED' && typeof fingerprint === 'string') {
        setUntrusted(fingerprint)
        setTrust(false)
      }
      setError(onError(err) || undefined)
    } finally {
      setBusy(false)
    }
  }

  return (
    <StepSection n={n} step={step}>
      <form aria-label="Enroll at the hub" onSubmit={(e) => void submit(e)}>
        <p>
          Make an enrollment code for this site on the hub (Administration, Sites), then enter the hub's
          address and the code.
        </p>
        <label htmlFor={`${id}-hub`}>Hub address</label>
        <input
          id={`${id}-hub`}
          type="url"
          required
          placeholder="https://vms.example.com"
          maxLength={2000}
          value={hubUrl}
          onChange={(e) => setHubUrl(e.target.value)}
        />
        <label htmlFor={`${id}-code`}>Enrollment code</label>
        <input
          id={`${id}-code`}
          required
          autoComplete="off"
          maxLength={200}
          value={code}
          onChange={(e) => setCode(e.target.value)}
        />
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        {untrusted && (
          <div className="pin">
            <p>
              The hub's certificate (SHA-256):{' '}
              <code className="fingerprint" data-testid="hub-fingerprint">
                {untrusted}
              </code>
            </p>
            <label className="check">
              <input type="checkbox" checked={trust} onChange={(e) => setTrust(e.target.checked)} />
              Trust this certificate: the hub's administrator confirmed this fingerprint
            </label>
          </div>
        )}
        <button type="submit" disabled={busy}>
          Enroll
        </button>
      </form>
    </StepSection>
  )
}
