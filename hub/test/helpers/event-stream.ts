/**
 * A reader of `GET /api/v1/stream` as the console reads it (fetch with the bearer token, not
 * EventSource): it collects the server-sent messages until the stream ends or is closed.
 */
export interface StreamMessage {
  type: string
  data: Record<string, any>
}

export interface EventStream {
  res: Response
  messages: StreamMessage[]
  /** Whether the hub ended the stream. */
  ended(): boolean
  close(): void
}

export async function openEventStream(url: string, token?: string): Promise<EventStream> {
  const abort = new AbortController()
  const res = await fetch(url, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    signal: abort.signal,
  })
  const messages: StreamMessage[] = []
  let ended = false
  if (res.ok && res.body) {
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
    void (async () => {
      let buffer = ''
      try {
        for (;;) {
          const { value, done } = await reader.read()
          if (done) {
            ended = true
            return
          }
          buffer += value
          const blocks = buffer.split('\n\n')
          buffer = blocks.pop() ?? ''
          for (const block of blocks) {
            const type = /^event: (.*)$/m.exec(block)?.[1]
            const data = /^data: (.*)$/m.exec(block)?.[1]
            if (type && data) messages.push({ type, data: JSON.parse(data) })
          }
        }
      } catch {}
    })()
  } else {
    await res.body?.cancel()
  }
  return { res, messages, ended: () => ended, close: () => abort.abort() }
}
