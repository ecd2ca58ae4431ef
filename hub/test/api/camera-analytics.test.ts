import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTenantWithAdmin, startTestHub, type TestHub, userWithRole } from '../helpers/test-hub.ts'

/**
 * A camera's `analytics` over the API (issue 13): stored as validated against the model's labels,
 * echoed with defaults, refused with the field named, merged by PATCH, sent to the agent in its
 * desired configuration, and its status read from the agent's last heartbeat.
 */
let t: TestHub
let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
let siteId: string
let agentId: string
let cameraCount = 0

const mainUrl = 'rtsp://10.0.0.31:554/stream1'
const subUrl = 'rtsp://10.0.0.31:554/stream2'
const bothStreams = [
  { role: 'main', url: mainUrl },
  { role: 'sub', url: subUrl },
]

/** The contract's example, as an operator would send it. */
const example = {
  enabled: true,
  stream: 'sub',
  fps: 5,
  model: 'default',
  objects: ['person', 'car'],
  minScore: 0.5,
  threshold: 0.7,
  minArea: 0,
  zones: [
    {
      name: 'entrance',
      polygon: [
        [0, 0],
        [0.5, 0],
        [0.5, 1],
        [0, 1],
      ],
      objects: ['person'],
      inertia: 3,
      loiterSeconds: 0,
    },
  ],
  motionMasks: [
    [
      [0.8, 0],
      [1, 0],
      [1, 0.1],
      [0.8, 0.1],
    ],
  ],
  objectMasks: [],
}

/** The example as stored and shown: with the default motion source filled in. */
const shown = { ...example, motionSource: 'agent' }

const square = [
  [0.1, 0.1],
  [0.9, 0.1],
  [0.9, 0.9],
  [0.1, 0.9],
]

const defaults = {
  enabled: false,
  fps: 5,
  model: 'default',
  objects: ['person'],
  minScore: 0.5,
  threshold: 0.7,
  minArea: 0,
  zones: [],
  motionMasks: [],
  objectMasks: [],
  motionSource: 'agent',
}

const idle = { state: 'disabled', fps: 0, inferenceMsP50: 0, skippedByMotion: 0 }

async function createCamera(extra: Record<string, unknown> = {}, streams: unknown[] = bothStreams) {
  cameraCount += 1
  return t.request('POST', '/api/v1/cameras', {
    token: acme.token,
    body: { name: `Cam ${cameraCount}`, siteId, agentId, streams, ...extra },
  })
}

async function storedAnalytics(cameraId: string): Promise<unknown> {
  const { rows } = await t.db.adminQuery('select analytics from cameras where id = $1', [cameraId])
  return (rows[0] as { analytics: unknown }).analytics
}

async function configVersion(): Promise<number> {
  const { rows } = await t.db.adminQuery('select config_version from agents where id = $1', [agentId])
  return Number((rows[0] as { config_version: number }).config_version)
}

/** The agent's desired configuration, as those who run agents read it. */
async function agentCameras(): Promise<{ id: string; analytics?: unknown }[]> {
  const res = await t.request('GET', `/api/v1/agents/${agentId}/config`, { token: acme.token })
  expect(res.status, res.text).toBe(200)
  return res.body.config.cameras
}

/** The 400's details: every failing field's path. */
function paths(res: { status: number; body: any; text: string }): string[] {
  expect(res.status, res.text).toBe(400)
  expect(res.body.error.code).toBe('bad_request')
  return (res.body.error.details as { path: string }[]).map((d) => d.path)
}

async function lastAudit(action: string, cameraId: string) {
  const res = await t.request('GET', `/api/v1/audit?action=${action}&target=${cameraId}&limit=1`, {
    token: acme.token,
  })
  expect(res.status, res.text).toBe(200)
  return res.body.items[0]
}

beforeAll(async () => {
  t = await startTestHub()
  acme = await createTenantWithAdmin(t, 'acme')
  const site = await t.request('POST', '/api/v1/sites', { token: acme.token, body: { name: 'North' } })
  expect(site.status, site.text).toBe(201)
  siteId = site.body.id
  const code = await t.request('POST', `/api/v1/sites/${siteId}/enrollments`, { token: acme.token })
  expect(code.status, code.text).toBe(201)
  const enrolled = await t.request('POST', '/api/v1/enroll', {
    body: { code: code.body.code, name: 'agent' },
  })
  expect(enrolled.status, enrolled.text).toBe(201)
  agentId = enrolled.body.agentId
}, 60_000)

afterAll(async () => {
  await t?.close()
})

describe('creating a camera with analytics', () => {
  it('stores the configuration and echoes it, with a status saying the agent has not reported', async () => {
    const res = await createCamera({ analytics: example })
    expect(res.status, res.text).toBe(201)
    expect(res.body.analyticsConfig).toEqual(shown)
    expect(res.body.analytics).toMatchObject({
      state: 'error',
      fps: 0,
      inferenceMsP50: 0,
      skippedByMotion: 0,
    })
    expect(res.body.analytics.error).toMatch(/has not reported analytics/)
    expect(await storedAnalytics(res.body.id)).toEqual(shown)

    const one = await t.request('GET', `/api/v1/cameras/${res.body.id}`, { token: acme.token })
    expect(one.status, one.text).toBe(200)
    expect(one.body.analyticsConfig).toEqual(shown)
    const list = await t.request('GET', `/api/v1/cameras?siteId=${siteId}`, { token: acme.token })
    const listed = list.body.items.find((c: { id: string }) => c.id === res.body.id)
    expect(listed.analyticsConfig).toEqual(shown)
    expect(listed.analytics.state).toBe('error')

    const audit = await lastAudit('camera.create', res.body.id)
    expect(audit.details.analytics).toMatchObject({
      enabled: true,
      stream: 'sub',
      zones: ['entrance'],
      motionMasks: 1,
    })
  })

  it('applies the defaults: absent is never set (null), {} stores them; stream stays absent', async () => {
    const none = await createCamera()
    expect(none.status, none.text).toBe(201)
    expect(none.body.analyticsConfig).toEqual(defaults)
    expect(none.body.analyticsConfig).not.toHaveProperty('stream')
    expect(none.body.analytics).toEqual(idle)
    expect(await storedAnalytics(none.body.id)).toBeNull()

    const empty = await createCamera({ analytics: {} })
    expect(empty.status, empty.text).toBe(201)
    expect(empty.body.analyticsConfig).toEqual(defaults)
    expect(await storedAnalytics(empty.body.id)).toEqual(defaults)

    // Enabled with only the essentials: zone defaults filled in, no stream chosen.
    const brief = await createCamera({
      analytics: { enabled: true, zones: [{ name: 'yard', polygon: square }] },
    })
    expect(brief.status, brief.text).toBe(201)
    expect(brief.body.analyticsConfig).toEqual({
      ...defaults,
      enabled: true,
      zones: [{ name: 'yard', polygon: square, inertia: 3, loiterSeconds: 0 }],
    })
    expect(await storedAnalytics(brief.body.id)).not.toHaveProperty('stream')
  })

  const zoneWith = (zone: Record<string, unknown>) => ({
    enabled: true,
    zones: [{ name: 'z', polygon: square, ...zone }],
  })
  const bad: [string, Record<string, unknown>, string][] = [
    ['a polygon of 2 points', zoneWith({ polygon: square.slice(0, 2) }), 'analytics.zones.0.polygon'],
    [
      'a coordinate outside 0..1',
      zoneWith({
        polygon: [
          [0, 0],
          [1.5, 0],
          [1, 1],
        ],
      }),
      'analytics.zones.0.polygon.1.0',
    ],
    [
      'a negative mask coordinate',
      {
        motionMasks: [
          [
            [0, 0],
            [1, -0.1],
            [1, 1],
          ],
        ],
      },
      'analytics.motionMasks.0.1.1',
    ],
    [
      'a self-intersecting polygon',
      zoneWith({
        polygon: [
          [0, 0],
          [1, 1],
          [1, 0],
          [0, 1],
        ],
      }),
      'analytics.zones.0.polygon',
    ],
    [
      'duplicate zone names (ignoring case)',
      {
        zones: [
          { name: 'Entrance', polygon: square },
          { name: 'entrance', polygon: square },
        ],
      },
      'analytics.zones.1.name',
    ],
    ['an unknown label', { objects: ['person', 'unicorn'] }, 'analytics.objects.1'],
    [
      'a zone object the camera does not detect',
      zoneWith({ objects: ['car'] }),
      'analytics.zones.0.objects.0',
    ],
    ['fps 0', { fps: 0 }, 'analytics.fps'],
    ['fps 16', { fps: 16 }, 'analytics.fps'],
    ['fps 2.5', { fps: 2.5 }, 'analytics.fps'],
    ['an unknown key', { enabled: true, loiter_seconds: 3 }, 'analytics'],
    ['an unknown zone key', zoneWith({ loiter: 3 }), 'analytics.zones.0'],
    ['a control character in a zone name', zoneWith({ name: 'door\u0007' }), 'analytics.zones.0.name'],
    ['a bidi override in a zone name', zoneWith({ name: 'door\u202Eevil' }), 'analytics.zones.0.name'],
    ['an unknown model', { model: 'yolo-custom' }, 'analytics.model'],
    ['an ill-formed model id', { model: '../etc/passwd' }, 'analytics.model'],
    ['a threshold over 1', { threshold: 1.5 }, 'analytics.threshold'],
  ]
  it.each(bad)('refuses %s with a 400 naming the field', async (_what, analytics, path) => {
    const before = await t.db.adminQuery('select count(*)::int as n from cameras')
    const res = await createCamera({ analytics })
    expect(paths(res)).toContain(path)
    const after = await t.db.adminQuery('select count(*)::int as n from cameras')
    expect(after.rows[0]).toEqual(before.rows[0])
  })

  // NUL and lone surrogates are refused at the door for every request (hub/src/http/app.ts), before
  // the route: a 400 of its own code, without a path (the schema would name the field as well).
  it.each([
    ['a NUL', 'door\u0000'],
    ['a lone surrogate', 'door\uD800'],
  ])('refuses %s in a zone name with a 400', async (_what, name) => {
    const res = await createCamera({ analytics: zoneWith({ name }) })
    expect(res.status, res.text).toBe(400)
    expect(res.body.error.code).toBe('invalid_characters')
  })

  it('says the model is unknown', async () => {
    const res = await createCamera({ analytics: { model: 'yolo-custom' } })
    expect(res.status).toBe(400)
    expect(res.body.error.details).toEqual([
      { path: 'analytics.model', message: expect.stringMatching(/unknown model/) },
    ])
  })

  it('refuses stream "sub" on a camera without a sub stream, and keeps "main" on it', async () => {
    const mainOnly = [{ role: 'main', url: mainUrl }]
    const res = await createCamera({ analytics: { enabled: true, stream: 'sub' } }, mainOnly)
    expect(paths(res)).toEqual(['analytics.stream'])
    expect(res.body.error.details[0].message).toMatch(/no sub stream/)
    const ok = await createCamera({ analytics: { enabled: true, stream: 'main' } }, mainOnly)
    expect(ok.status, ok.text).toBe(201)
    expect(ok.body.analyticsConfig.stream).toBe('main')
  })
})

describe('changing analytics with PATCH', () => {
  let id: string
  const patch = (analytics: unknown, token = acme.token) =>
    t.request('PATCH', `/api/v1/cameras/${id}`, { token, body: { analytics } })

  beforeAll(async () => {
    const res = await createCamera({ analytics: example })
    expect(res.status, res.text).toBe(201)
    id = res.body.id
  })

  it('keeps absent fields, replaces present ones, bumps the config version and audits the change', async () => {
    const version = await configVersion()
    const res = await patch({ fps: 10, minScore: 0.6 })
    expect(res.status, res.text).toBe(200)
    expect(res.body.analyticsConfig).toEqual({ ...shown, fps: 10, minScore: 0.6 })
    expect(await storedAnalytics(id)).toEqual({ ...shown, fps: 10, minScore: 0.6 })
    expect(await configVersion()).toBeGreaterThan(version)
    const audit = await lastAudit('camera.update', id)
    expect(audit.details.fields).toEqual(['analytics'])
    expect(audit.details.analyticsChanged).toEqual(['fps', 'minScore'])
    expect(audit.details.analytics).toMatchObject({ fps: 10, zones: ['entrance'] })
  })

  it('checks the merged result against stored values (a zone object the camera stops detecting)', async () => {
    // The stored zone "entrance" is for people; the camera may not stop detecting them.
    const res = await patch({ objects: ['car'] })
    expect(paths(res)).toEqual(['analytics.zones.0.objects.0'])
    expect((await storedAnalytics(id)) as { objects: string[] }).toMatchObject({ objects: ['person', 'car'] })
    // A label the model does not know, in the patch alone.
    expect(paths(await patch({ objects: ['person', 'car', 'unicorn'] }))).toEqual(['analytics.objects.2'])
    expect(paths(await patch({ model: 'yolo-custom' }))).toEqual(['analytics.model'])
    expect(paths(await patch({ fps: 99 }))).toEqual(['analytics.fps'])
    expect(paths(await patch({ bogus: true }))).toEqual(['analytics'])
  })

  it('replaces zones whole', async () => {
    const res = await patch({ zones: [{ name: 'yard', polygon: square }] })
    expect(res.status, res.text).toBe(200)
    expect(res.body.analyticsConfig.zones).toEqual([
      { name: 'yard', polygon: square, inertia: 3, loiterSeconds: 0 },
    ])
    // With no zone naming people, the camera may now stop detecting them.
    const cars = await patch({ objects: ['car'] })
    expect(cars.status, cars.text).toBe(200)
    expect(cars.body.analyticsConfig.objects).toEqual(['car'])
  })

  it('restores a default for null, and every default for analytics: null', async () => {
    const res = await patch({ fps: null, objects: null, stream: null })
    expect(res.status, res.text).toBe(200)
    expect(res.body.analyticsConfig).toMatchObject({ fps: 5, objects: ['person'], enabled: true })
    expect(res.body.analyticsConfig).not.toHaveProperty('stream')
    expect(await storedAnalytics(id)).not.toHaveProperty('stream')

    const off = await patch(null)
    expect(off.status, off.text).toBe(200)
    expect(off.body.analyticsConfig).toEqual(defaults)
    expect(off.body.analytics).toEqual(idle)
    expect(await storedAnalytics(id)).toBeNull()
    const audit = await lastAudit('camera.update', id)
    expect(audit.details.analyticsChanged).toEqual(['enabled', 'minScore', 'motionMasks', 'zones'])
    expect(audit.details.analytics).toBeNull()
  })

  it('refuses removing the sub stream analytics is told to use', async () => {
    expect((await patch({ enabled: true, stream: 'sub' })).status).toBe(200)
    const res = await t.request('PATCH', `/api/v1/cameras/${id}`, {
      token: acme.token,
      body: { streams: [{ role: 'main', url: mainUrl }] },
    })
    expect(paths(res)).toEqual(['analytics.stream'])
    // Both in one PATCH: fine.
    const both = await t.request('PATCH', `/api/v1/cameras/${id}`, {
      token: acme.token,
      body: { streams: [{ role: 'main', url: mainUrl }], analytics: { stream: null } },
    })
    expect(both.status, both.text).toBe(200)
    expect(both.body.streams).toHaveLength(1)
  })

  it('is refused to a viewer (403), who still sees the configuration', async () => {
    const viewer = await userWithRole(t, 'acme', acme.token, 'north-viewer', 'viewer', {
      type: 'site',
      id: siteId,
    })
    const res = await patch({ enabled: false }, viewer.token)
    expect(res.status, res.text).toBe(403)
    expect(((await storedAnalytics(id)) as { enabled: boolean }).enabled).toBe(true)
    const seen = await t.request('GET', `/api/v1/cameras/${id}`, { token: viewer.token })
    expect(seen.status, seen.text).toBe(200)
    expect(seen.body.analyticsConfig.enabled).toBe(true)
  })
})

describe('motion from the camera (motionSource)', () => {
  /** A device the agent would take events from; with streams given, nothing is probed. */
  const onvif = { protocol: 'onvif', address: '127.0.0.1:9', channel: '', events: true }
  const motionIssue = (res: { status: number; body: any; text: string }) => {
    expect(paths(res)).toEqual(['analytics.motionSource'])
    return res.body.error.details[0].message as string
  }

  it('refuses "device" without a device with events on, naming the field', async () => {
    const analytics = { enabled: true, motionSource: 'device' }
    const before = await t.db.adminQuery('select count(*)::int as n from cameras')
    expect(motionIssue(await createCamera({ analytics }))).toMatch(/has no device.*motionSource to "agent"/)
    expect(motionIssue(await createCamera({ analytics, device: { ...onvif, events: false } }))).toMatch(
      /events are off/,
    )
    expect(motionIssue(await createCamera({ analytics, device: { ...onvif, protocol: 'rtsp' } }))).toMatch(
      /rtsp, which reports no motion/,
    )
    const after = await t.db.adminQuery('select count(*)::int as n from cameras')
    expect(after.rows[0]).toEqual(before.rows[0])
    // Not a motion source at all: the schema's own 400.
    expect(paths(await createCamera({ analytics: { motionSource: 'camera' }, device: onvif }))).toEqual([
      'analytics.motionSource',
    ])
  })

  it('stores "device" on a camera whose device sends events, and sends it to the agent', async () => {
    for (const protocol of ['onvif', 'isapi', 'dahua']) {
      const res = await createCamera({
        analytics: { enabled: true, motionSource: 'device' },
        device: { ...onvif, protocol },
      })
      expect(res.status, res.text).toBe(201)
      expect(res.body.analyticsConfig).toEqual({ ...defaults, enabled: true, motionSource: 'device' })
      expect(await storedAnalytics(res.body.id)).toMatchObject({ motionSource: 'device' })
      const sent = (await agentCameras()).find((c) => c.id === res.body.id)
      expect(sent?.analytics).toMatchObject({ motionSource: 'device' })
    }
  })

  describe('with PATCH', () => {
    let id: string
    const patch = (body: Record<string, unknown>) =>
      t.request('PATCH', `/api/v1/cameras/${id}`, { token: acme.token, body })

    beforeAll(async () => {
      const res = await createCamera({ analytics: { enabled: true }, device: onvif })
      expect(res.status, res.text).toBe(201)
      id = res.body.id
    })

    it('sets and resets it, audited as a change of the field', async () => {
      const res = await patch({ analytics: { motionSource: 'device' } })
      expect(res.status, res.text).toBe(200)
      expect(res.body.analyticsConfig.motionSource).toBe('device')
      expect(res.body.analyticsConfig.enabled).toBe(true)
      const audit = await lastAudit('camera.update', id)
      expect(audit.details.analyticsChanged).toEqual(['motionSource'])
      expect(audit.details.analytics).toMatchObject({ motionSource: 'device' })
      // Other fields patched later keep it.
      const fps = await patch({ analytics: { fps: 2 } })
      expect(fps.body.analyticsConfig).toMatchObject({ fps: 2, motionSource: 'device' })
    })

    it('refuses removing the device, or turning its events off, while the motion comes from it', async () => {
      expect((await patch({ analytics: { motionSource: 'device' } })).status).toBe(200)
      expect(motionIssue(await patch({ device: null }))).toMatch(/has no device/)
      expect(motionIssue(await patch({ device: { ...onvif, events: false } }))).toMatch(/events are off/)
      expect(motionIssue(await patch({ device: { ...onvif, protocol: 'rtsp' } }))).toMatch(/rtsp/)
      const kept = await t.request('GET', `/api/v1/cameras/${id}`, { token: acme.token })
      expect(kept.body.device).toMatchObject({ protocol: 'onvif', events: true })
      expect(kept.body.analyticsConfig.motionSource).toBe('device')
      // An unrelated change to the device (events kept) is fine.
      const renamed = await patch({ device: { protocol: 'onvif', address: '127.0.0.2:9' } })
      expect(renamed.status, renamed.text).toBe(200)
      expect(renamed.body.device).toMatchObject({ address: '127.0.0.2:9', events: true })
      // Both in one PATCH: fine.
      const both = await patch({ device: null, analytics: { motionSource: null } })
      expect(both.status, both.text).toBe(200)
      expect(both.body.device).toBeNull()
      expect(both.body.analyticsConfig.motionSource).toBe('agent')
      // And without the device, "device" is refused again.
      expect(motionIssue(await patch({ analytics: { motionSource: 'device' } }))).toMatch(/has no device/)
      expect((await storedAnalytics(id)) as { motionSource: string }).toMatchObject({ motionSource: 'agent' })
    })
  })

  it('reads a configuration stored before the field existed as "agent"', async () => {
    const res = await createCamera({ analytics: example })
    expect(res.status, res.text).toBe(201)
    await t.db.adminQuery(`update cameras set analytics = analytics - 'motionSource' where id = $1`, [
      res.body.id,
    ])
    expect(await storedAnalytics(res.body.id)).toEqual(example)
    const one = await t.request('GET', `/api/v1/cameras/${res.body.id}`, { token: acme.token })
    expect(one.body.analyticsConfig).toEqual(shown)
    const fps = await t.request('PATCH', `/api/v1/cameras/${res.body.id}`, {
      token: acme.token,
      body: { analytics: { fps: 3 } },
    })
    expect(fps.status, fps.text).toBe(200)
    expect(await storedAnalytics(res.body.id)).toEqual({ ...shown, fps: 3 })
  })
})

describe("the agent's desired configuration", () => {
  it('carries analytics for cameras that have it, and nothing for the others', async () => {
    const withIt = await createCamera({ analytics: example })
    const without = await createCamera()
    expect(withIt.status).toBe(201)
    expect(without.status).toBe(201)
    const cameras = await agentCameras()
    expect(cameras.find((c) => c.id === withIt.body.id)?.analytics).toEqual(shown)
    expect(cameras.find((c) => c.id === without.body.id)).not.toHaveProperty('analytics')
  })
})

describe('analytics status from the heartbeat', () => {
  it("shows the agent's numbers for a reporting camera, and an error for an enabled one it does not report", async () => {
    const running = await createCamera({ analytics: { enabled: true } })
    const silent = await createCamera({ analytics: { enabled: true } })
    const off = await createCamera()
    const stream = {
      role: 'sub',
      state: 'streaming',
      bitrateBps: 1000,
      fps: 15,
      lostPackets: 0,
      reconnects: 0,
      recording: false,
    }
    await t.db.adminQuery(`update agents set last_health = $1::jsonb, status = 'online' where id = $2`, [
      JSON.stringify({
        uptimeSeconds: 5,
        version: '0.1.0',
        outbox: { depth: 0, bytes: 0, full: false },
        configVersion: 1,
        cameras: [
          {
            id: running.body.id,
            streams: [stream],
            analytics: {
              state: 'running',
              fps: 4.8,
              inferenceMsP50: 21.5,
              skippedByMotion: 0.9,
              stream: 'sub',
              model: 'default',
              framesDropped: 1,
              activeObjects: 2,
            },
          },
          { id: silent.body.id, streams: [stream] },
          { id: off.body.id, streams: [stream] },
        ],
        at: new Date().toISOString(),
      }),
      agentId,
    ])
    const get = async (cameraId: string) => {
      const res = await t.request('GET', `/api/v1/cameras/${cameraId}`, { token: acme.token })
      expect(res.status, res.text).toBe(200)
      return res.body
    }
    const shown = await get(running.body.id)
    expect(shown.analytics).toEqual({
      state: 'running',
      fps: 4.8,
      inferenceMsP50: 21.5,
      skippedByMotion: 0.9,
    })
    // Said once, at the top: the stream status does not repeat it.
    expect(shown.status.streams).toHaveLength(1)
    expect(shown.status).not.toHaveProperty('analytics')
    const list = await t.request('GET', `/api/v1/cameras?siteId=${siteId}&limit=500`, { token: acme.token })
    expect(list.body.items.find((c: { id: string }) => c.id === running.body.id).analytics.state).toBe(
      'running',
    )

    const quiet = await get(silent.body.id)
    expect(quiet.analytics).toMatchObject({ state: 'error', fps: 0, inferenceMsP50: 0, skippedByMotion: 0 })
    expect(quiet.analytics.error).toMatch(/has not reported analytics for this camera/)
    expect((await get(off.body.id)).analytics).toEqual(idle)

    // An agent that is away: its last report is stale, not "running".
    await t.db.adminQuery(`update agents set status = 'offline' where id = $1`, [agentId])
    const away = await get(running.body.id)
    expect(away.analytics.state).toBe('error')
    expect(away.analytics.error).toMatch(/not connected/)
  })
})

describe('the OpenAPI document', () => {
  it('describes analytics in the camera requests and responses', async () => {
    const res = await t.request('GET', '/api/v1/openapi.json', { token: acme.token })
    expect(res.status, res.text).toBe(200)
    const cameras = res.body.paths['/api/v1/cameras']
    const create = cameras.post.requestBody.content['application/json'].schema
    expect(create.properties.analytics.properties.zones).toBeDefined()
    const patch = res.body.paths['/api/v1/cameras/{id}'].patch.requestBody.content['application/json'].schema
    expect(patch.properties.analytics).toBeDefined()
    const shown = cameras.post.responses['201'].content['application/json'].schema
    expect(Object.keys(shown.properties)).toEqual(expect.arrayContaining(['analyticsConfig', 'analytics']))
    expect(Object.keys(shown.properties.analytics.properties)).toEqual([
      'state',
      'error',
      'fps',
      'inferenceMsP50',
      'skippedByMotion',
    ])
  })
})
