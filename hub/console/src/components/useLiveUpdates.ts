import { useEffect, useRef } from 'react'
import { api } from '../api/client.ts'

/** One message from `GET /api/v1/stream` (server-sent events). */
export interface StreamMessage {
  type: string
  data: unknown
}

/** Parses a chunk of an event stream, keeping an incomplete message for the next chunk. */
export function parseEventStream(buffer: string): { messages: StreamMessage[]; rest: string } {
  const messages: StreamMessage[] = []
  const blocks = buffer.split(/\r?\n\r?\n/)
  const rest = blocks.pop() ?? ''
  for (const block of blocks) {
    let type = 'message'
    const data: string[] = []
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon === -1 ? line : line.slice(0, colon)
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '')
      if (field === 'event') type = value
      else if (field === 'data') data.push(value)
    }
    if (data.length === 0) continue
    try {
      messages.push({ type, data: JSON.parse(data.join('\n')) })
    } catch {
      // A message that is not JSON is not ours: ignore it rather than stop the stream.
    }
  }
  return { messages, rest }
}

/**
 * Follows the hub's live updates (camera and agent state changes, new events) while the page is
 * open. EventSource cannot send the bearer token, so this reads the stream with fetch; it
 * reconnects with backoff when the connection drops.
 */
export function useLiveUpdates(onMessage: (m: StreamMessage) => void, enabled = true): void {
  const handler = useRef(onMessage)
  handler.current = onMessage
  useEffect(() => {
    if (!enabled) return
    const abort = new AbortController()
    let attempt = 0
    const run = async () => {
      while (!abort.signal.aborted) {
        try {
          const res = await api.fetch('/api/v1/stream', {
            headers: { accept: 'text/event-stream' },
            signal: abort.signal,
          })
          if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`)
          attempt = 0
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
          let buffer = ''
          for (;;) {
            const { value, done } = await reader.read()
            if (done) break
            const parsed = parseEventStream(buffer + value)
            buffer = parsed.rest
            for (const m of parsed.messages) handler.current(m)
          }
        } catch {
          if (abort.signal.aborted) return
        }
        attempt += 1
        await new Promise((r) => setTimeout(r, Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5))))
      }
    }
    void run()
    return () => abort.abort()
  }, [enabled])
}

/** An administrator's change to a camera or agent, or an agent coming or going. */
export const isAdminChange = (m: StreamMessage): boolean =>
  (m.type === 'camera' || m.type === 'agent') && typeof field(m, 'change') === 'string'
export const isAgentStatus = (m: StreamMessage): boolean =>
  m.type === 'agent' && typeof field(m, 'status') === 'string'

export const field = (m: StreamMessage, name: string): unknown =>
  typeof m.data === 'object' && m.data !== null ? (m.data as Record<string, unknown>)[name] : undefined

/**
 * Calls `reload` when a live update passes `relevant`; a burst (a site going away, a batch of
 * cameras added) becomes one reload half a second after it starts.
 */
export function useReloadOnUpdates(
  reload: () => void,
  relevant: (m: StreamMessage) => boolean,
  /** Every message as well (one stream per page serves both). */
  each?: (m: StreamMessage) => void,
): void {
  const pending = useRef<ReturnType<typeof setTimeout>>(undefined)
  const latest = useRef({ reload, relevant, each })
  latest.current = { reload, relevant, each }
  useLiveUpdates((m) => {
    latest.current.each?.(m)
    if (pending.current || !latest.current.relevant(m)) return
    pending.current = setTimeout(() => {
      pending.current = undefined
      latest.current.reload()
    }, 500)
  })
  useEffect(() => () => clearTimeout(pending.current), [])
}
