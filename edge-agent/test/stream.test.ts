import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openEventStream, type StreamMessage } from '../../hub/test/helpers/event-stream.ts'
import { startTestHub, type TestHub, userWithRole } from '../../hub/test/helpers/test-hub.ts'
import { freePort, type TestAgent } from './helpers/agent-harness.ts'
import { siteWithAgent } from './helpers/site.ts'
import { waitUntil } from './helpers/wait.ts'

/**
 * `GET /api/v1/stream`: the console's live updates, from a real agent through the hub, each shown
 * only to users who may see what it is about.
 */
let t: TestHub
let a: TestAgent
let camA: string
let camB: string
let admin: string
let viewerA: string

/** Opens the stream and collects its messages until closed. */
const openStream = (token: string) => openEventStream(`${t.url}/api/v1/stream`, token)

beforeAll(async () => {
  t = await startTestHub({ VMS_MQTT_PORT: await freePort() }, { systemLicense: true })
  const site = await siteWithAgent(t, { VMS_AGENT_MIN_FREE_BYTES: 0 })
  a = site.agent
  // Cameras that never answer: the test is about what the hub pushes, not about video.
  const stream = (n: number) => [{ role: 'main', url: `rtsp://127.0.0.1:${9 + n}/none` }]
  camA = await site.addCamera({
    name: 'A',
    streams: stream(0),
    recording: { enabled: false, retentionDays: 1 },
  })
  camB = await site.addCamera({
    name: 'B',
    streams: stream(1),
    recording: { enabled: false, retentionDays: 1 },
  })
  admin = await t.adminToken()
  viewerA = (await userWithRole(t, 'system', admin, 'stream-viewer', 'viewer', { type: 'camera', id: camA }))
    .token
})
afterAll(async () => {
  await a?.cleanup()
  await t?.close()
})

describe('live update stream', () => {
  it('pushes new events, each only to those who may see its camera', async () => {
    const all = await openStream(admin)
    const onlyA = await openStream(viewerA)
    expect(all.res.headers.get('content-type')).toContain('text/event-stream')
    await waitUntil(() => all.messages.some((m) => m.type === 'hello'), 10_000, 'hello (admin)')
    await waitUntil(() => onlyA.messages.some((m) => m.type === 'hello'), 10_000, 'hello (viewer)')

    // Camera B's event goes first: when the viewer has A's, B's was filtered, not late.
    a.agent?.outbox.append('event', { type: 'test.b', cameraId: camB, data: { n: 1 } })
    a.agent?.outbox.append('event', { type: 'test.a', cameraId: camA, data: { n: 2 } })
    const events = (s: { messages: StreamMessage[] }) =>
      s.messages.filter((m) => m.type === 'event').map((m) => `${m.data.type}:${m.data.cameraId}`)
    await waitUntil(() => events(all).includes(`test.a:${camA}`), 20_000, "the admin gets A's event")
    await waitUntil(() => events(onlyA).includes(`test.a:${camA}`), 20_000, "the viewer gets A's event")
    expect(events(all)).toContain(`test.b:${camB}`)
    expect(events(onlyA)).not.toContain(`test.b:${camB}`)
    // Health reports reach the stream as camera updates, also filtered.
    await waitUntil(() => onlyA.messages.some((m) => m.type === 'camera'), 30_000, 'a camera update')
    expect(onlyA.messages.filter((m) => m.type === 'camera').every((m) => m.data.id === camA)).toBe(true)
    all.close()
    onlyA.close()
  })

  it('needs a token, and bounds the streams one user may hold', async () => {
    expect((await fetch(`${t.url}/api/v1/stream`)).status).toBe(401)
    const open = []
    for (let i = 0; i < 10; i++) {
      const s = await openStream(viewerA)
      expect(s.res.status).toBe(200)
      open.push(s)
    }
    const over = await openStream(viewerA)
    expect(over.res.status).toBe(429)
    for (const s of open) s.close()
    // Closed streams are counted out again.
    await waitUntil(
      async () => {
        const s = await openStream(viewerA)
        s.close()
        return s.res.status === 200
      },
      10_000,
      'a stream after the others closed',
    )
  })
})
