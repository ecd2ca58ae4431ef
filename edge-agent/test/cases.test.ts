import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyExportCommand } from '../../hub/src/exports/verify-export-cli.ts'
import { startTestHub, type TestHub } from '../../hub/test/helpers/test-hub.ts'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'
import { freePort, type TestAgent } from './helpers/agent-harness.ts'
import { ffprobePath, probe } from './helpers/ffprobe.ts'
import { siteWithAgent } from './helpers/site.ts'
import { waitUntil } from './helpers/wait.ts'

/**
 * Cases end to end (issue 16): a real agent records the camera simulator; a case of two clips is
 * collected as signed exports into the hub; its zip unpacks into MP4s that verify against their
 * manifests with the keys in the zip (one changed byte fails); and with the agent stopped and its
 * recordings gone the case still downloads intact — it no longer depends on the site's retention.
 */
let t: TestHub
let a: TestAgent
let sim: CameraSimulator
let token: string
let cam: string
let work: string

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

async function download(caseId: string, dir: string): Promise<void> {
  const res = await fetch(`${t.url}/api/v1/cases/${caseId}/download.zip`, {
    headers: { authorization: `Bearer ${token}` },
  })
  expect(res.status, res.status === 200 ? '' : await res.text()).toBe(200)
  const zip = path.join(work, `${path.basename(dir)}.zip`)
  writeFileSync(zip, Buffer.from(await res.arrayBuffer()))
  execFileSync('unzip', ['-q', zip, '-d', dir])
}

async function verify(dir: string, clip: { file: string; manifest: string }) {
  const lines: string[] = []
  const code = await verifyExportCommand(
    [path.join(dir, clip.file), path.join(dir, clip.manifest), '--keys', path.join(dir, 'export-keys.json')],
    (l) => lines.push(l),
  )
  return { code, out: lines.join('\n') }
}

beforeAll(async () => {
  sim = await CameraSimulator.start({ streams: [{ name: 'door', codec: 'h264' }] })
  t = await startTestHub({ VMS_MQTT_PORT: await freePort() }, { systemLicense: true })
  const site = await siteWithAgent(t, { VMS_AGENT_MIN_FREE_BYTES: 0, VMS_AGENT_SEGMENT_SECONDS: 2 })
  a = site.agent
  token = site.token
  cam = await site.addCamera({ name: 'Front Door', streams: [{ role: 'main', url: sim.url('door') }] })
  await waitUntil(
    () => {
      const segments = a.agent?.index.closedSegmentsOldestFirst(cam) ?? []
      const first = segments[0]
      const last = segments.at(-1)
      return first !== undefined && last !== undefined && last.end_ms - first.start_ms > 8_000
    },
    60_000,
    '8 s recorded',
  )
  work = mkdtempSync(path.join(tmpdir(), 'vms-cases-e2e-'))
}, 120_000)

afterAll(async () => {
  await a?.cleanup()
  await t?.close()
  await sim?.close()
  if (work) rmSync(work, { recursive: true, force: true })
})

describe('cases with a recording agent', () => {
  let caseId: string

  it('collects two clips, and the zip verifies clip by clip; one changed byte fails', async () => {
    const segments = a.agent?.index.closedSegmentsOldestFirst(cam) ?? []
    const start = (segments[0]?.start_ms as number) + 300
    const clips = [
      { cameraId: cam, from: new Date(start).toISOString(), to: new Date(start + 3000).toISOString() },
      {
        cameraId: cam,
        from: new Date(start + 4000).toISOString(),
        to: new Date(start + 7000).toISOString(),
        note: 'the second angle',
      },
    ]
    const res = await t.request('POST', '/api/v1/cases', {
      token,
      body: { name: 'Door incident', description: 'Two moments', clips },
    })
    expect(res.status, res.text).toBe(202)
    caseId = res.body.id
    let got: { state: string; clips: { state: string; error: string | null; sha256: string }[] } | undefined
    await waitUntil(
      async () => {
        got = (await t.request('GET', `/api/v1/cases/${caseId}`, { token })).body
        return got?.state !== 'collecting'
      },
      60_000,
      'the case collected',
    )
    expect(got?.state, JSON.stringify(got)).toBe('ready')

    const dir = path.join(work, 'first')
    await download(caseId, dir)
    const caseJson = JSON.parse(readFileSync(path.join(dir, 'case.json'), 'utf8'))
    expect(caseJson.clips).toHaveLength(2)
    expect(caseJson.clips[1].note).toBe('the second angle')
    for (const clip of caseJson.clips) {
      expect(clip.file).toMatch(/^clips\/0[12]-front-door-.*Z\.mp4$/)
      const mp4 = readFileSync(path.join(dir, clip.file))
      expect(sha(mp4)).toBe(clip.sha256)
      const ok = await verify(dir, clip)
      expect(ok.code, ok.out).toBe(0)
      expect(ok.out).toMatch(/^OK: unaltered; exported by admin/)
      if (ffprobePath) expect(probe(path.join(dir, clip.file))).toMatchObject({ codec: 'h264', width: 640 })
      // One byte changed in the middle of the video: verification fails.
      const altered = Buffer.from(mp4)
      const at = Math.floor(altered.length / 2)
      altered[at] = (altered[at] as number) ^ 0x01
      writeFileSync(path.join(dir, clip.file), altered)
      const bad = await verify(dir, clip)
      expect(bad.code).toBe(1)
      expect(bad.out).toMatch(/^FAILED: the file was altered/)
      writeFileSync(path.join(dir, clip.file), mp4)
    }
  })

  it('is kept regardless of retention: with the agent stopped and its recordings gone, the zip is intact', async () => {
    const before = readFileSync(path.join(work, 'first', 'case.json'), 'utf8')
    await a.stop()
    rmSync(path.join(a.dataDir, 'recordings'), { recursive: true, force: true })
    await waitUntil(
      async () =>
        (await t.request('GET', `/api/v1/agents/${a.agentId}`, { token })).body.status === 'offline',
      30_000,
      'the agent offline',
    )
    const dir = path.join(work, 'second')
    await download(caseId, dir)
    const caseJson = JSON.parse(readFileSync(path.join(dir, 'case.json'), 'utf8'))
    expect(caseJson.clips.map((c: { sha256: string }) => c.sha256)).toEqual(
      JSON.parse(before).clips.map((c: { sha256: string }) => c.sha256),
    )
    for (const clip of caseJson.clips) {
      const ok = await verify(dir, clip)
      expect(ok.code, ok.out).toBe(0)
    }
  })
})
