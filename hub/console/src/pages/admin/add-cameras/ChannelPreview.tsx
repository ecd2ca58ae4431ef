import { useEffect, useState } from 'react'
import { api, describeError, errorFrom } from '../../../api/client.ts'
import type { DeviceProtocol } from '../../../api/device-types.ts'

/**
 * A still of a probed channel before it is added: the device's own snapshot, through the agent,
 * with the credentials the device was probed with (POST, so they travel in the body, never in a
 * URL). Fetched when asked for, shown through an object URL (the CSP allows blob: images).
 */
export function ChannelPreview({
  agentId,
  address,
  protocol,
  channel,
  label,
  username,
  password,
}: {
  agentId: string
  address: string
  protocol: Exclude<DeviceProtocol, 'rtsp'>
  channel: string
  label: string
  username: string
  password: string
}) {
  const [src, setSrc] = useState<string>()
  const [error, setError] = useState<string>()
  const [loading, setLoading] = useState(false)
  // The object URL is released when the preview leaves the page or is replaced.
  useEffect(() => () => (src ? URL.revokeObjectURL(src) : undefined), [src])

  const load = async () => {
    setLoading(true)
    setError(undefined)
    try {
      const res = await api.fetch(`/api/v1/agents/${agentId}/probe/snapshot`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          address,
          protocol,
          channel,
          ...(username ? { username } : {}),
          ...(password ? { password } : {}),
        }),
      })
      if (!res.ok) throw await errorFrom(res)
      setSrc(URL.createObjectURL(await res.blob()))
    } catch (err) {
      setError(describeError(err))
    } finally {
      setLoading(false)
    }
  }

  return (
    <span className="channel-preview">
      <button type="button" className="ghost small" disabled={loading} onClick={() => void load()}>
        {loading ? 'Loading…' : src ? `Refresh the still of ${label}` : `Preview ${label}`}
      </button>
      {src && <img className="thumb" src={src} alt={`Preview of ${label}`} />}
      {error && (
        <span className="adm-bad small-text" role="alert">
          {error}
        </span>
      )}
    </span>
  )
}
