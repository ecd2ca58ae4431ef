import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PlaybackTokens } from '../../hub/src/playback/playback-token.ts'
import { startTestHub, type TestHub, userWithRole } from '../../hub/test/helpers/test-hub.ts'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'
import { freePort } from './helpers/agent-harness.ts'
import { ffprobePath, probe } from './helpers/ffprobe.ts'
import { siteWithAgent, type TestSite } from './helpers/site.ts'
import { waitUntil } from './helpers/wait.ts'

/**
 * HLS playback through the hub, end to end over plain HTTP: a real hub, a real agent recording
 * the simulator, the playlist's tags and rules, segment tokens, the hub's segment cache, and the
 * fetched init section + media segments decoded by ffprobe.
 */
let t: TestHub
let site: TestSite
let sim: CameraSimulator
let token: string
let door: string
let yard: string
let gapFromMs: number
let gapToMs: number

const ffmpegPath = (ffprobePath ?? '').replace(/ffprobe$/, 'ffmpeg')

interface Entry {
  pdt: number
  duration: number
  uri: string
  map: string
  discontinuity: boolean
}

/** The playlist's segments with the tags that apply to each. */
function parse(text: string): { tags: string[]; entries: Entry[] } {
  const lines = text.trim().split('\n')
  const entries: Entry[] = []
  let map = ''
  let pdt = Number.NaN
  let duration = Number.NaN
  let discontinuity = false
  for (const line of lines) {
    if (line.startsWith('#EXT-X-MAP:URI="')) map = line.slice(16, -1)
    else if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) pdt = Date.parse(line.slice(25))
    else if (line.startsWith('#EXTINF:')) duration = Number.parseFloat(line.slice(8))
    else if (line === '#EXT-X-DISCONTINUITY') discontinuity = true
    else if (!line.startsWith('#')) {
      entries.push({ pdt, duration, uri: line, map, discontinuity })
      pdt = Number.NaN
      duration = Number.NaN
      discontinuity = false
    }
  }
  return { tags: lines, entries }
}

const iso = (ms: number) => new Date(ms).toISOString()
const playlistPath = (camera: string, fromMs: number, toMs: number) =>
  `/api/v1/cameras/${camera}/playback.m3u8?from=${iso(fromMs)}&to=${iso(toMs)}`
/** A playlist entry's address, resolved against the playlist's. */
const absolute = (camera: string, uri: string) =>
  new URL(uri, `${t.url}/api/v1/cameras/${camera}/playback.m3u8`)
const get = (url: URL | string) => fetch(url)
const withToken = (url: URL, token: string) => {
  const u = new URL(url)
  u.searchParams.set('token', token)
  return u
}

async function metric(name: string, labels: string): Promise<number> {
  const res = await t.request('GET', '/metrics', { token })
  const want = labels.split(',')
  const line = res.text
    .split('\n')
    .find(
      (l) => l.startsWith(`${name}{`) && want.every((label) => l.slice(0, l.indexOf('}')).includes(label)),
    )
  return line ? Number(line.split(' ').at(-1)) : 0
}

beforeAll(async () => {
  sim = await CameraSimulator.start({
    streams: [
      { name: 'door', codec: 'h264', audio: true },
      { name: 'yard', codec: 'h264' },
    ],
  })
  t = await startTestHub({ VMS_MQTT_PORT: await freePort() }, { systemLicense: true })
  site = await siteWithAgent(t, {
    VMS_AGENT_SEGMENT_SECONDS: 4,
    VMS_AGENT_RECONNECT_MAX_MS: 1000,
    VMS_AGENT_CAMERA_TIMEOUT_MS: 2000,
    VMS_AGENT_MIN_FREE_BYTES: 0,
  })
  token = site.token
  door = await site.addCamera({ name: 'Door', streams: [{ role: 'main', url: sim.url('door') }] })
  yard = await site.addCamera({ name: 'Yard', streams: [{ role: 'main', url: sim.url('yard') }] })
  const index = () => site.agent.agent?.index
  await waitUntil(() => (index()?.closedSegmentsOldestFirst(door).length ?? 0) >= 2, 40_000, 'door recorded')
  // A gap: the camera drops and refuses connections for a while.
  sim.fault('door', 'refuse', 2500)
  sim.fault('door', 'drop')
  await waitUntil(
    () =>
      index()
        ?.gapsBetween(door, 0, 1e15)
        .some((g) => g.to_ms !== null) ?? false,
    40_000,
    'the gap closed',
  )
  const gap = index()
    ?.gapsBetween(door, 0, 1e15)
    .find((g) => g.to_ms !== null)
  gapFromMs = gap?.from_ms ?? 0
  gapToMs = gap?.to_ms ?? 0
  await waitUntil(
    () =>
      (index()
        ?.closedSegmentsOldestFirst(door)
        .filter((s) => s.start_ms >= gapToMs).length ?? 0) >= 1,
    40_000,
    'door recorded after the gap',
  )
  await waitUntil(() => (index()?.closedSegmentsOldestFirst(yard).length ?? 0) >= 1, 40_000, 'yard recorded')
}, 180_000)

afterAll(async () => {
  await site?.agent.cleanup()
  await t?.close()
  await sim?.close()
})

/** The door's playlist from its first recording to now. */
async function doorPlaylist(as = token) {
  const first = site.agent.agent?.index.closedSegmentsOldestFirst(door)[0]
  const fromMs = (first?.start_ms ?? Date.now()) - 5000
  const res = await t.request('GET', playlistPath(door, fromMs, Date.now()), { token: as })
  return { res, fromMs, ...parse(res.text) }
}

describe('HLS playback through the hub', () => {
  it('builds a VOD playlist: map, a date on every segment, a discontinuity at the gap', async () => {
    const { res, tags, entries } = await doorPlaylist()
    expect(res.status, res.text).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/vnd\.apple\.mpegurl/)
    expect(tags[0]).toBe('#EXTM3U')
    expect(tags).toContain('#EXT-X-VERSION:7')
    expect(tags).toContain('#EXT-X-PLAYLIST-TYPE:VOD')
    expect(tags).toContain('#EXT-X-INDEPENDENT-SEGMENTS')
    expect(tags.at(-1)).toBe('#EXT-X-ENDLIST')
    expect(entries.length).toBeGreaterThanOrEqual(4)
    // Every segment has its wall-clock time, duration and init section.
    for (const e of entries) {
      expect(Number.isFinite(e.pdt) && e.duration > 0, e.uri).toBe(true)
      expect(e.map).toMatch(/^playback\/init\/\d+-\d+-[0-9a-f]{32}\.mp4\?token=[A-Za-z0-9_-]+$/)
      expect(e.uri).toMatch(/^playback\/segments\/\d+-\d+-\d+-\d+\.m4s\?token=[A-Za-z0-9_-]+$/)
    }
    const target = Number(tags.find((l) => l.startsWith('#EXT-X-TARGETDURATION:'))?.split(':')[1])
    expect(target).toBe(Math.ceil(Math.max(...entries.map((e) => e.duration))))
    expect(tags.filter((l) => l.startsWith('#EXT-X-PROGRAM-DATE-TIME:'))).toHaveLength(entries.length)
    // An init section per format, shared by the files recorded in it: a new one (and a
    // discontinuity) only where the format changes (a file cut short before its audio started has
    // no audio track, for one).
    const maps = entries.flatMap((e, i) => (i === 0 || e.map !== entries[i - 1]?.map ? [i] : []))
    expect(tags.filter((l) => l.startsWith('#EXT-X-MAP:'))).toHaveLength(maps.length)
    for (const i of maps.slice(1)) expect(entries[i]?.discontinuity).toBe(true)
    const fileOf = (e: Entry) => e.uri.split('/')[2]?.split('-')[0]
    const keyOf = (e: Entry) => e.map.split('-')[2]?.slice(0, 32)
    const filesByKey = new Map<string, Set<string>>()
    for (const e of entries)
      filesByKey.set(keyOf(e) ?? '', (filesByKey.get(keyOf(e) ?? '') ?? new Set()).add(fileOf(e) ?? ''))
    expect(Math.max(...[...filesByKey.values()].map((f) => f.size))).toBeGreaterThan(1)
    // A discontinuity where the recording has its gap, and only at gaps (not at every file).
    const breaks = entries.flatMap((e, i) => (e.discontinuity ? [i] : []))
    expect(breaks.length).toBeGreaterThanOrEqual(1)
    for (const i of breaks.filter((i) => !maps.includes(i))) {
      const before = entries[i - 1] as Entry
      const after = entries[i] as Entry
      expect(Math.abs(after.pdt - (before.pdt + before.duration * 1000))).toBeGreaterThan(250)
    }
    // The first segment after the gap starts a discontinuity, and the one before ends before it.
    const afterGap = entries.findIndex((e) => e.pdt >= gapToMs - 5)
    expect(afterGap, `a segment after ${iso(gapToMs)}`).toBeGreaterThan(0)
    expect(
      entries[afterGap]?.discontinuity,
      `a discontinuity across ${iso(gapFromMs)}..${iso(gapToMs)}`,
    ).toBe(true)
    expect(entries[afterGap - 1]?.pdt).toBeLessThanOrEqual(gapFromMs)
    const files = new Set(entries.map(fileOf))
    expect(breaks.length).toBeLessThan(files.size - 1)
    // Segments follow each other in time; without a discontinuity they are contiguous.
    for (let i = 1; i < entries.length; i++) {
      const prev = entries[i - 1] as Entry
      const e = entries[i] as Entry
      if (!e.discontinuity)
        expect(Math.abs(e.pdt - (prev.pdt + prev.duration * 1000))).toBeLessThanOrEqual(250)
    }
  })

  it.skipIf(!ffprobePath)(
    'serves init and segments that decode, on the wall clock, from the cache the second time',
    async () => {
      const { entries } = await doorPlaylist()
      // The first run of two or more segments without a discontinuity (before the gap): its init
      // section and its segments, concatenated.
      const runs: Entry[][] = []
      for (const e of entries) {
        if (e.discontinuity || runs.length === 0) runs.push([])
        runs.at(-1)?.push(e)
      }
      const run = runs.find((r) => r.length >= 2) ?? []
      expect(run.length).toBeGreaterThanOrEqual(2)
      const fetchesBefore = await metric('vms_playback_agent_fetches_total', 'kind="media",outcome="ok"')
      const init = await get(absolute(door, run[0]?.map as string))
      expect(init.status).toBe(200)
      expect(init.headers.get('content-type')).toBe('video/mp4')
      const parts = [Buffer.from(await init.arrayBuffer())]
      for (const e of run) {
        const res = await get(absolute(door, e.uri))
        expect(res.status, e.uri).toBe(200)
        expect(res.headers.get('content-type')).toBe('video/iso.segment')
        expect(res.headers.get('x-cache')).toBe('miss')
        const body = Buffer.from(await res.arrayBuffer())
        expect(body.subarray(4, 8).toString('latin1')).toBe('moof')
        parts.push(body)
      }
      expect(await metric('vms_playback_agent_fetches_total', 'kind="media",outcome="ok"')).toBe(
        fetchesBefore + run.length,
      )
      const file = path.join(site.agent.dataDir, 'playback.mp4')
      writeFileSync(file, Buffer.concat(parts))
      const p = probe(file)
      expect(p).toMatchObject({ codec: 'h264', width: 640, height: 360 })
      const decode = execFileSync(ffmpegPath, ['-v', 'error', '-i', file, '-f', 'null', '-'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      expect(decode).toBe('')
      // Decode times are the wall clock: the first frame's time is the first segment's date, and
      // (with no mehd box, ffprobe's "duration" is the end time) the run lasts what the playlist says.
      const format = JSON.parse(
        execFileSync(
          ffprobePath as string,
          ['-v', 'error', '-show_entries', 'format=start_time,duration', '-of', 'json', file],
          { encoding: 'utf8' },
        ),
      ).format as { start_time: string; duration: string }
      const start = Number(format.start_time)
      expect(Math.abs(start - (run[0]?.pdt ?? 0) / 1000)).toBeLessThan(0.05)
      const expectedSeconds = run.reduce((sum, e) => sum + e.duration, 0)
      expect(Math.abs(Number(format.duration) - start - expectedSeconds)).toBeLessThan(0.5)
      // Each segment starts with a keyframe (EXT-X-INDEPENDENT-SEGMENTS).
      // Each segment, played on its own after the init section, starts with a keyframe. (Checked
      // per segment, not by comparing times: the dates are the agent's clock, media times the
      // camera's, and a loaded machine lets the two drift apart by more than a frame.)
      for (const [n, e] of run.entries()) {
        const alone = path.join(site.agent.dataDir, `segment-${n}.mp4`)
        writeFileSync(alone, Buffer.concat([parts[0] as Buffer, parts[n + 1] as Buffer]))
        const first = execFileSync(
          ffprobePath as string,
          [
            '-v',
            'error',
            '-select_streams',
            'v',
            '-read_intervals',
            '%+#1',
            '-show_entries',
            'frame=key_frame',
            '-of',
            'csv=p=0',
            alone,
          ],
          { encoding: 'utf8' },
        )
          .trim()
          .split('\n')[0]
          ?.split(',')[0]
        expect(first, iso(e.pdt)).toBe('1')
      }

      // Again: from the hub's cache, the agent not asked.
      const again = await get(absolute(door, run[1]?.uri as string))
      expect(again.status).toBe(200)
      expect(again.headers.get('x-cache')).toBe('hit')
      expect(Buffer.from(await again.arrayBuffer()).equals(parts[2] as Buffer)).toBe(true)
      expect(await metric('vms_playback_agent_fetches_total', 'kind="media",outcome="ok"')).toBe(
        fetchesBefore + run.length,
      )
    },
  )

  it('asks the agent once for a segment several viewers want at the same time', async () => {
    const { entries } = await doorPlaylist()
    const last = entries.at(-1) as Entry
    const before = await metric('vms_playback_agent_fetches_total', 'kind="media",outcome="ok"')
    const results = await Promise.all([1, 2, 3, 4].map(() => get(absolute(door, last.uri))))
    const bodies = await Promise.all(results.map(async (r) => Buffer.from(await r.arrayBuffer())))
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200])
    // One loaded it; the others waited for that load (or, arriving after it, found it cached).
    const sources = results.map((r) => r.headers.get('x-cache'))
    expect(sources.filter((x) => x === 'miss')).toHaveLength(1)
    expect(sources.every((x) => x === 'miss' || x === 'shared' || x === 'hit')).toBe(true)
    for (const b of bodies) expect(b.equals(bodies[0] as Buffer)).toBe(true)
    expect(await metric('vms_playback_agent_fetches_total', 'kind="media",outcome="ok"')).toBe(before + 1)
  })

  it('refuses bad and too long ranges with 400, and says when nothing was recorded', async () => {
    const now = Date.now()
    for (const q of [
      `from=${iso(now)}&to=${iso(now - 60_000)}`,
      `from=${iso(now)}&to=${iso(now)}`,
      `from=${iso(now - 24 * 3600_000 - 1)}&to=${iso(now)}`,
      `from=yesterday&to=${iso(now)}`,
      `to=${iso(now)}`,
    ]) {
      const res = await t.request('GET', `/api/v1/cameras/${door}/playback.m3u8?${q}`, { token })
      expect(res.status, q).toBe(400)
    }
    expect((await t.request('GET', playlistPath(door, now - 24 * 3600_000, now), { token })).status).toBe(200)
    const old = await t.request(
      'GET',
      `/api/v1/cameras/${door}/playback.m3u8?from=2020-01-01T00:00:00.000Z&to=2020-01-01T01:00:00.000Z`,
      { token },
    )
    expect(old.status).toBe(404)
    expect(old.body.error.code).toBe('range_unavailable')
    expect((await t.request('GET', playlistPath(door, now - 60_000, now))).status).toBe(401)
  })

  it('reaching into the future, the playlist is an EVENT playlist without an end', async () => {
    const now = Date.now()
    const res = await t.request('GET', playlistPath(door, now - 120_000, now + 600_000), { token })
    expect(res.status, res.text).toBe(200)
    expect(res.text).toContain('#EXT-X-PLAYLIST-TYPE:EVENT')
    expect(res.text).not.toContain('#EXT-X-ENDLIST')
  })

  it('checks permissions: hidden camera 404, no camera.playback 403', async () => {
    // An operator of the yard alone: the door does not exist for them.
    const yardOperator = await userWithRole(t, 'system', token, 'yard-operator', 'operator', {
      type: 'camera',
      id: yard,
    })
    const hidden = await t.request('GET', playlistPath(door, Date.now() - 60_000, Date.now()), {
      token: yardOperator.token,
    })
    expect(hidden.status).toBe(404)
    const own = await t.request('GET', playlistPath(yard, Date.now() - 600_000, Date.now()), {
      token: yardOperator.token,
    })
    expect(own.status, own.text).toBe(200)
    // A viewer (live only) of the site sees the door but may not play it back.
    const viewer = await userWithRole(t, 'system', token, 'site-viewer', 'viewer', {
      type: 'site',
      id: site.siteId,
    })
    const denied = await t.request('GET', playlistPath(door, Date.now() - 60_000, Date.now()), {
      token: viewer.token,
    })
    expect(denied.status).toBe(403)
  })

  it('segment tokens: bound to the camera (403), expire (401), cannot be forged (401)', async () => {
    const { entries } = await doorPlaylist()
    const segment = absolute(door, (entries[0] as Entry).uri)
    const doorToken = segment.searchParams.get('token') as string
    const yardList = parse(
      (await t.request('GET', playlistPath(yard, Date.now() - 600_000, Date.now()), { token })).text,
    )
    const yardSegment = absolute(yard, (yardList.entries[0] as Entry).uri)
    expect((await get(yardSegment)).status).toBe(200)
    // The door's token on the yard's segment (and init section).
    const wrong = await get(withToken(yardSegment, doorToken))
    expect(wrong.status).toBe(403)
    expect((await wrong.json()).error.code).toBe('wrong_camera')
    expect((await get(withToken(absolute(yard, (yardList.entries[0] as Entry).map), doorToken))).status).toBe(
      403,
    )
    // Tampered: one character changed, anywhere.
    for (const i of [3, 40, 90]) {
      const c = doorToken[i] === 'A' ? 'B' : 'A'
      const res = await get(withToken(segment, doorToken.slice(0, i) + c + doorToken.slice(i + 1)))
      expect(res.status, `at ${i}`).toBe(401)
    }
    // Missing.
    const bare = new URL(segment)
    bare.search = ''
    expect((await get(bare)).status).toBe(401)
    // Expired: a genuine token, signed with the hub's key eleven minutes ago (no waiting).
    const me = await t.request('GET', '/api/v1/me', { token })
    const past = new PlaybackTokens(t.hub.context.secrets.deriveKey('playback-token:v1'), {
      ttlSeconds: 600,
      now: () => Date.now() - 11 * 60_000,
    })
    const expired = past.sign({
      cameraId: door,
      userId: me.body.id,
      tenantId: me.body.tenantId,
      sessionVersion: 0,
    }).token
    const res = await get(withToken(segment, expired))
    expect(res.status).toBe(401)
    expect((await res.json()).error.code).toBe('token_expired')
    // The same, signed now, is accepted: only the time differed.
    const fresh = new PlaybackTokens(t.hub.context.secrets.deriveKey('playback-token:v1'), {
      ttlSeconds: 600,
    })
    const sv = (await t.db.adminQuery('select session_version from users where id = $1', [me.body.id]))
      .rows[0] as {
      session_version: number
    }
    const ok = fresh.sign({
      cameraId: door,
      userId: me.body.id,
      tenantId: me.body.tenantId,
      sessionVersion: sv.session_version,
    })
    expect((await get(withToken(segment, ok.token))).status).toBe(200)
    // A segment name that names nothing.
    expect((await get(withToken(absolute(door, 'playback/segments/1-2-3.m4s'), doorToken))).status).toBe(404)
    expect(
      (await get(withToken(absolute(door, 'playback/segments/999999-1-0-1.m4s'), doorToken))).status,
    ).toBe(404)
  })

  it('a token stops working when its user is disabled', async () => {
    const op = await userWithRole(t, 'system', token, 'door-operator', 'operator', {
      type: 'camera',
      id: door,
    })
    const { res, entries } = await doorPlaylist(op.token)
    expect(res.status).toBe(200)
    const url = absolute(door, (entries[0] as Entry).uri)
    expect(
      (await t.request('PATCH', `/api/v1/users/${op.id}`, { token, body: { disabled: true } })).status,
    ).toBe(200)
    const after = await get(url)
    expect(after.status).toBe(401)
  })

  it('audits a viewing session once, not every playlist reload or segment', async () => {
    const audits = async () =>
      (
        (await t.request('GET', `/api/v1/audit?action=camera.playback&target=${door}&limit=100`, { token }))
          .body.items as { actor: { name: string }; details: { op?: string } }[]
      ).filter((a) => a.details.op === 'playback.hls')
    const before = await audits()
    const byAdmin = before.filter((a) => a.actor.name === 'admin').length
    expect(byAdmin).toBeGreaterThanOrEqual(1)
    // The admin's door range again (the player reloading), and its segments: no new record.
    const { entries } = await doorPlaylist()
    await doorPlaylist()
    await get(absolute(door, (entries[0] as Entry).uri))
    expect((await audits()).filter((a) => a.actor.name === 'admin').length).toBe(byAdmin)
    // Another user's viewing is another session.
    const op = await userWithRole(t, 'system', token, 'door-watcher', 'operator', {
      type: 'camera',
      id: door,
    })
    expect((await doorPlaylist(op.token)).res.status).toBe(200)
    const after = await audits()
    expect(after.filter((a) => a.actor.name === 'door-watcher')).toHaveLength(1)
    expect(after.length).toBe(before.length + 1)
  })

  it('leaves the recordings listing as it was', async () => {
    const now = Date.now()
    const res = await t.request(
      'GET',
      `/api/v1/cameras/${door}/recordings?from=${iso(now - 600_000)}&to=${iso(now)}`,
      {
        token,
      },
    )
    expect(res.status).toBe(200)
    expect(res.body.ranges.length).toBeGreaterThanOrEqual(2)
    expect(res.body.gaps.some((g: { to: string | null }) => g.to !== null)).toBe(true)
  })
})
