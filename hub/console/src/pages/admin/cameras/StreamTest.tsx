import { useEffect, useRef, useState } from 'react'
import { api, describeError } from '../../../api/client.ts'
import type { Camera, StreamRole } from '../../../api/types.ts'
import { ErrorNotice } from '../../../components/ErrorNotice.tsx'
import { SelectField } from '../common/SelectField.tsx'

/** `POST /api/v1/cameras/{id}/test-stream`: what the agent found in the stream (`camera.probe`). */
export interface StreamProbe {
  stream: StreamRole
  codec: string
  width: number
  height: number
  /** Measured over about two seconds; null when too few frames arrived. */
  fps: number | null
  profile?: string
  bitrateKbps?: number | null
  still: { contentType: 'image/jpeg'; base64: string } | null
  stillError?: string
}

type TestState =
  | { kind: 'idle' }
  | { kind: 'running'; role: StreamRole }
  | { kind: 'done'; result: StreamProbe }
  | { kind: 'failed'; role: StreamRole; message: string }

const CODEC_NAMES: Record<string, string> = { h264: 'H.264', h265: 'H.265' }
const roleName = (r: StreamRole) => (r === 'main' ? 'main' : 'sub')

function formatKbps(kbps: number): string {
  return kbps >= 1000 ? `${(kbps / 1000).toFixed(1)} Mbit/s` : `${Math.round(kbps)} kbit/s`
}

/**
 * "Test stream" on a camera's card: the camera's agent borrows the stream, reads what it is, times
 * two seconds of it and decodes one still frame, which shows here with the codec, resolution and
 * frame rate. A camera with a sub stream has a "Stream" choice next to the button.
 */
export function StreamTest({ camera }: { camera: Camera }) {
  const roles = camera.streams.map((s) => s.role)
  const [role, setRole] = useState<StreamRole>(roles.includes('main') ? 'main' : (roles[0] ?? 'main'))
  const [state, setState] = useState<TestState>({ kind: 'idle' })
  const abort = useRef<AbortController | undefined>(undefined)
  useEffect(() => () => abort.current?.abort(), [])

  const run = async () => {
    abort.current?.abort()
    const controller = new AbortController()
    abort.current = controller
    setState({ kind: 'running', role })
    try {
      const result = await api.request<StreamProbe>('POST', `/api/v1/cameras/${camera.id}/test-stream`, {
        body: { stream: role },
        signal: controller.signal,
      })
      if (!controller.signal.aborted) setState({ kind: 'done', result })
    } catch (err) {
      if (!controller.signal.aborted)
        setState({
          kind: 'failed',
          role,
          message: `Could not test the ${roleName(role)} stream: ${describeError(err)}`,
        })
    }
  }

  const running = state.kind === 'running'
  const result = state.kind === 'done' ? state.result : undefined
  return (
    <div>
      <div className="adm-card-actions">
        {roles.length > 1 && (
          <SelectField
            label="Stream"
            value={role}
            disabled={running}
            onChange={(e) => setRole(e.target.value as StreamRole)}
          >
            {roles.map((r) => (
              <option key={r} value={r}>
                {r === 'main' ? 'Main' : 'Sub'}
              </option>
            ))}
          </SelectField>
        )}
        <button type="button" className="ghost small" disabled={running} onClick={() => void run()}>
          Test stream
        </button>
      </div>
      <p role="status" className="muted" aria-live="polite">
        {running
          ? `Testing the ${roleName(state.role)} stream: waiting for a keyframe and timing two seconds…`
          : ''}
      </p>
      {state.kind === 'failed' && <ErrorNotice message={state.message} onRetry={() => void run()} />}
      {result && (
        <>
          <dl className="adm-facts" aria-label={`Stream test of ${camera.name}`}>
            <dt>Stream</dt>
            <dd>{result.stream === 'main' ? 'Main' : 'Sub'}</dd>
            <dt>Codec</dt>
            <dd>
              {CODEC_NAMES[result.codec] ?? result.codec.toUpperCase()}
              {result.profile ? `, ${result.profile} profile` : ''}
            </dd>
            <dt>Resolution</dt>
            <dd>{result.width > 0 && result.height > 0 ? `${result.width}×${result.height}` : 'unknown'}</dd>
            <dt>Frame rate</dt>
            <dd>
              {result.fps === null ? 'too few frames to measure' : `${Math.round(result.fps * 10) / 10} fps`}
            </dd>
            {result.bitrateKbps != null && (
              <>
                <dt>Bitrate</dt>
                <dd>{formatKbps(result.bitrateKbps)}</dd>
              </>
            )}
          </dl>
          {result.still ? (
            <img
              src={`data:${result.still.contentType};base64,${result.still.base64}`}
              alt={`Still frame from ${camera.name}`}
              style={{ display: 'block', maxWidth: '100%', height: 'auto', marginTop: '0.5rem' }}
            />
          ) : (
            <p className="muted">No still frame: {result.stillError ?? 'the agent sent none'}.</p>
          )}
        </>
      )}
    </div>
  )
}
