/**
 * Agent heartbeats as a fake agent publishes them (the `health` outbox record): a stream that is
 * streaming and recording, a camera of such streams, and the heartbeat around them. Each takes
 * overrides for the fields a test turns bad.
 */
const iso = () => new Date().toISOString()

/** A camera's stream in a heartbeat: the main stream, streaming and recording. */
export function stream(over: Record<string, unknown> = {}) {
  return {
    role: 'main',
    state: 'streaming',
    bitrateBps: 1_000_000,
    fps: 15,
    lostPackets: 0,
    reconnects: 0,
    recording: true,
    lastWrittenAt: iso(),
    ...over,
  }
}

/** A camera in a heartbeat, with one stream (`streamOver` applied to it). */
export function camera(
  id: string,
  over: Record<string, unknown> = {},
  streamOver: Record<string, unknown> = {},
) {
  return { id, streams: [stream(streamOver)], ...over }
}

/** A heartbeat as the agent sends it: outbox record `seq`, these cameras, `over` on its body. */
export function heartbeat(seq: number, cameras: unknown[], over: Record<string, unknown> = {}) {
  return {
    seq,
    type: 'health',
    at: iso(),
    body: {
      uptimeSeconds: 100,
      version: 'test',
      outbox: { depth: 0, bytes: 0, full: false },
      configVersion: 1,
      disk: { freeBytes: 500, totalBytes: 1000 },
      cameras,
      ...over,
    },
  }
}
