import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { DownRequest } from '@ts-vms/shared'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { INTERRUPTED } from '../../src/cases/case-collector.ts'
import { parseKeysFile, verifyExport } from '../../src/exports/export-manifest.ts'
import { type Enrolled, enrollAgentAt } from '../helpers/enrollment.ts'
import { connectFakeAgent, type FakeAgent, waitFor } from '../helpers/fake-agent.ts'
import {
  createTenantWithAdmin,
  startTestHub,
  type TestHub,
  USER_PASSWORD,
  userWithRole,
} from '../helpers/test-hub.ts'

/**
 * Cases (issue 16) through the API, with a fake agent that answers export requests by uploading
 * bytes as a real agent does (the real agent and camera: edge-agent/test/cases.test.ts):
 * validation, permissions, tenancy, audit, collection in the background, an offline agent, the
 * zip, deletion, and a hub restart in the middle of a collection.
 */
let t: TestHub
let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
let globex: Awaited<ReturnType<typeof createTenantWithAdmin>>
let north: string
let south: string
let agentInfo: Enrolled
let agent: FakeAgent | undefined
let camGate: string
let camDock: string
let investigator: { id: string; token: string }
let southManager: { id: string; token: string }
let operator: { id: string; token: string }
let work: string
/** What the fake agent uploaded, per requested range start. */
const uploaded = new Map<string, Buffer>()
/** When set, export requests are recorded but never answered (a collection in progress). */
let hold = false

const ago = (seconds: number) => new Date(Date.now() - seconds * 1000).toISOString()
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

async function answerExport(r: DownRequest): Promise<undefined> {
  if (r.op !== 'recordings.export' || hold) return undefined
  const body = randomBytes(20_000 + Math.floor(Math.random() * 5000))
  uploaded.set(r.from, body)
  const meta = {
    sha256: sha(body),
    bytes: body.length,
    start: r.from,
    end: r.to,
    frames: 25,
    codec: 'h264',
    width: 640,
    height: 360,
    segments: 1,
  }
  const res = await fetch(t.url + r.uploadPath, {
    method: 'PUT',
    headers: {
      authorization: `Basic ${Buffer.from(`${agentInfo.agentId}:${agentInfo.secret}`).toString('base64')}`,
      'content-type': 'video/mp4',
      'x-vms-export': JSON.stringify(meta),
    },
    body,
  })
  if (res.status !== 204) throw new Error(`upload: ${res.status} ${await res.text()}`)
  return undefined
}

const connect = async () => {
  agent = await connectFakeAgent(agentInfo, { onRequest: answerExport })
}

async function agentStatus(): Promise<string> {
  return (await t.request('GET', `/api/v1/agents/${agentInfo.agentId}`, { token: acme.token })).body.status
}

/** Polls the case until no clip is collecting any more. */
async function untilSettled(id: string, token = investigator.token) {
  const deadline = Date.now() + 20_000
  for (;;) {
    const res = await t.request('GET', `/api/v1/cases/${id}`, { token })
    expect(res.status, res.text).toBe(200)
    if (res.body.state !== 'collecting') return res.body
    if (Date.now() > deadline) throw new Error(`case still collecting: ${res.text}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function lastAudit(action: string) {
  const res = await t.request('GET', `/api/v1/audit?action=${action}&limit=1`, { token: acme.token })
  expect(res.status, res.text).toBe(200)
  return res.body.items[0]
}

beforeAll(async () => {
  t = await startTestHub()
  acme = await createTenantWithAdmin(t, 'acme-cases')
  globex = await createTenantWithAdmin(t, 'globex-cases')
  const token = acme.token
  north = (await t.request('POST', '/api/v1/sites', { token, body: { name: 'North' } })).body.id
  south = (await t.request('POST', '/api/v1/sites', { token, body: { name: 'South' } })).body.id
  agentInfo = await enrollAgentAt(t, north, token, 'north-agent')
  await connect()
  const cam = async (name: string, siteId: string, agentId?: string) => {
    const res = await t.request('POST', '/api/v1/cameras', {
      token,
      body: {
        name,
        siteId,
        ...(agentId ? { agentId } : {}),
        streams: [{ role: 'main', url: 'rtsp://10.0.0.40/s' }],
      },
    })
    expect(res.status, res.text).toBe(201)
    return res.body.id as string
  }
  camGate = await cam('Gate Nord', north, agentInfo.agentId)
  camDock = await cam('Dock', south)
  investigator = await userWithRole(t, 'acme-cases', token, 'investigator', 'site-manager', {
    type: 'site',
    id: north,
  })
  southManager = await userWithRole(t, 'acme-cases', token, 'south-mgr', 'site-manager', {
    type: 'site',
    id: south,
  })
  operator = await userWithRole(t, 'acme-cases', token, 'op', 'operator', { type: 'tenant' })
  work = mkdtempSync(path.join(tmpdir(), 'vms-cases-api-'))
})
afterAll(async () => {
  await agent?.close().catch(() => {})
  await t?.close()
  if (work) rmSync(work, { recursive: true, force: true })
})

describe('cases', () => {
  let caseId: string

  it('refuses hostile and out-of-range input with 400, never 500', async () => {
    const ok = { cameraId: camGate, from: ago(120), to: ago(60) }
    const bad: unknown[] = [
      {},
      { name: 'x', clips: [] },
      { name: '', clips: [ok] },
      { name: '  \u0007 ', clips: [ok] },
      { name: 'x'.repeat(201), clips: [ok] },
      { name: 'x', clips: Array.from({ length: 21 }, () => ok) },
      { name: 'x', clips: [{ ...ok, to: ok.from }] },
      { name: 'x', clips: [{ ...ok, from: ago(90_000) }] },
      { name: 'x', clips: [{ ...ok, from: new Date(Date.now() + 3600_000).toISOString(), to: ago(-7200) }] },
      { name: 'x', clips: [{ ...ok, cameraId: 'not-a-uuid' }] },
      { name: 'x', clips: [{ ...ok, from: 'yesterday' }] },
      { name: 'x', clips: [ok], extra: true },
      { name: 'a\u0000b', clips: [ok] },
      { name: 'x', description: 'y'.repeat(1_000_000), clips: [ok] },
      { name: 'x', clips: [{ ...ok, note: 'n'.repeat(4001) }] },
    ]
    for (const body of bad) {
      const res = await t.request('POST', '/api/v1/cases', { token: investigator.token, body })
      expect(res.status, `${JSON.stringify(body).slice(0, 120)} → ${res.text}`).toBe(400)
    }
    const surrogate = await t.request('POST', '/api/v1/cases', {
      token: investigator.token,
      rawBody: `{"name":"a\\ud800b","clips":[${JSON.stringify(ok)}]}`,
    })
    expect(surrogate.status).toBe(400)
  })

  it('needs evidence.manage and camera.export on each camera; 404 for cameras out of sight', async () => {
    const body = (cameraId: string) => ({ name: 'Nope', clips: [{ cameraId, from: ago(120), to: ago(60) }] })
    const op = await t.request('POST', '/api/v1/cases', { token: operator.token, body: body(camGate) })
    expect(op.status, op.text).toBe(403)
    const otherSite = await t.request('POST', '/api/v1/cases', {
      token: investigator.token,
      body: body(camDock),
    })
    expect(otherSite.status, otherSite.text).toBe(404)
    const otherTenant = await t.request('POST', '/api/v1/cases', { token: globex.token, body: body(camGate) })
    expect(otherTenant.status, otherTenant.text).toBe(404)
    const list = await t.request('GET', '/api/v1/cases', { token: investigator.token })
    expect(list.body.total).toBe(0)
  })

  it('collects two clips in the background and keeps them on the hub, audited', async () => {
    const from1 = ago(300)
    const from2 = ago(120)
    const res = await t.request('POST', '/api/v1/cases', {
      token: investigator.token,
      body: {
        name: '  Theft at\tthe gate ',
        description: 'Two angles,\nsame van',
        clips: [
          { cameraId: camGate, from: from1, to: ago(240), note: 'arrival\u0007' },
          { cameraId: camGate, from: from2, to: ago(60) },
        ],
      },
    })
    expect(res.status, res.text).toBe(202)
    expect(res.body).toMatchObject({
      name: 'Theft at the gate',
      description: 'Two angles,\nsame van',
      state: 'collecting',
      createdBy: investigator.id,
      createdByName: 'investigator',
      tenantId: acme.tenantId,
    })
    expect(res.body.clips.map((c: { note: string }) => c.note)).toEqual(['arrival', ''])
    caseId = res.body.id
    const ready = await untilSettled(caseId)
    expect(ready.state, JSON.stringify(ready)).toBe('ready')
    for (const [i, from] of [from1, from2].entries()) {
      const clip = ready.clips[i]
      const bytes = uploaded.get(new Date(from).toISOString()) as Buffer
      expect(clip).toMatchObject({
        cameraId: camGate,
        cameraName: 'Gate Nord',
        siteId: north,
        state: 'ready',
        error: null,
        sha256: sha(bytes),
        bytes: bytes.length,
        exportId: expect.any(String),
      })
      const file = path.join(t.dataDir, 'cases', caseId, `${clip.id}.mp4`)
      expect(sha(readFileSync(file))).toBe(clip.sha256)
    }
    // The hub's export uploads directory keeps nothing: the files moved into the case.
    expect(readdirSync(path.join(t.dataDir, 'exports')).filter((f) => f.endsWith('.mp4'))).toEqual([])
    expect(await lastAudit('case.create')).toMatchObject({
      target: { type: 'case', id: caseId },
      actor: { id: investigator.id },
      details: { name: 'Theft at the gate' },
    })
    expect(await lastAudit('camera.export')).toMatchObject({
      target: { type: 'camera', id: camGate },
      details: { caseId, exportId: ready.clips[1].exportId },
    })
  })

  it('is read by its creator and evidence managers; 404 for others and other tenants', async () => {
    for (const token of [investigator.token, acme.token]) {
      expect((await t.request('GET', `/api/v1/cases/${caseId}`, { token })).status).toBe(200)
      expect((await t.request('GET', '/api/v1/cases', { token })).body.total).toBe(1)
    }
    for (const token of [operator.token, southManager.token, globex.token]) {
      expect((await t.request('GET', `/api/v1/cases/${caseId}`, { token })).status).toBe(404)
      expect((await t.request('GET', `/api/v1/cases/${caseId}/download.zip`, { token })).status).toBe(404)
      expect((await t.request('GET', '/api/v1/cases', { token })).body.total).toBe(0)
      expect(
        (await t.request('POST', `/api/v1/cases/${caseId}/notes`, { token, body: { text: 'x' } })).status,
      ).toBe(404)
      expect((await t.request('DELETE', `/api/v1/cases/${caseId}`, { token })).status).toBe(404)
    }
  })

  it('updates, takes notes (cleaned, timestamped, by user), audited', async () => {
    const before = await t.request('GET', `/api/v1/cases/${caseId}`, { token: investigator.token })
    const clipId = before.body.clips[1].id
    const patched = await t.request('PATCH', `/api/v1/cases/${caseId}`, {
      token: investigator.token,
      body: { name: 'Gate theft', clips: [{ id: clipId, note: 'departure' }] },
    })
    expect(patched.status, patched.text).toBe(200)
    expect(patched.body).toMatchObject({ name: 'Gate theft', description: 'Two angles,\nsame van' })
    expect(patched.body.clips[1].note).toBe('departure')
    expect(await lastAudit('case.update')).toMatchObject({
      target: { id: caseId },
      details: { name: 'Gate theft', previousName: 'Theft at the gate' },
    })
    const foreign = await t.request('PATCH', `/api/v1/cases/${caseId}`, {
      token: investigator.token,
      body: { clips: [{ id: camGate, note: 'x' }] },
    })
    expect(foreign.status).toBe(400)
    const note = await t.request('POST', `/api/v1/cases/${caseId}/notes`, {
      token: acme.token,
      body: { text: ' Police informed,\nref 42\u001b ' },
    })
    expect(note.status, note.text).toBe(201)
    expect(note.body).toMatchObject({ text: 'Police informed,\nref 42', createdByName: 'acme-cases-admin' })
    expect(
      (await t.request('POST', `/api/v1/cases/${caseId}/notes`, { token: acme.token, body: { text: ' ' } }))
        .status,
    ).toBe(400)
    expect(await lastAudit('case.note')).toMatchObject({
      target: { id: caseId },
      details: { text: 'Police informed,\nref 42' },
    })
    const got = await t.request('GET', `/api/v1/cases/${caseId}`, { token: investigator.token })
    expect(got.body.notes).toEqual([note.body])
  })

  it('downloads as a zip whose clips verify against their signed manifests and the keys inside', async () => {
    const res = await fetch(`${t.url}/api/v1/cases/${caseId}/download.zip`, {
      headers: { authorization: `Bearer ${investigator.token}` },
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/zip')
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="case-gate-theft-/)
    const zip = Buffer.from(await res.arrayBuffer())
    const dir = path.join(work, 'zip1')
    const file = path.join(work, 'case1.zip')
    writeFileSync(file, zip)
    execFileSync('unzip', ['-q', file, '-d', dir])
    const clipFiles = readdirSync(path.join(dir, 'clips')).sort()
    expect(clipFiles).toHaveLength(4)
    expect(clipFiles[0]).toMatch(/^01-gate-nord-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ\.manifest\.json$/)
    expect(clipFiles[1]).toMatch(/^01-gate-nord-.*Z\.mp4$/)
    const keys = parseKeysFile(readFileSync(path.join(dir, 'export-keys.json'), 'utf8'))
    const wellKnown = await t.request('GET', '/.well-known/export-keys.json')
    expect(readFileSync(path.join(dir, 'export-keys.json'), 'utf8')).toBe(wellKnown.text)
    const caseJson = JSON.parse(readFileSync(path.join(dir, 'case.json'), 'utf8'))
    expect(caseJson.case).toMatchObject({ id: caseId, name: 'Gate theft', state: 'ready' })
    expect(caseJson.notes).toHaveLength(1)
    for (const clip of caseJson.clips) {
      const mp4 = readFileSync(path.join(dir, clip.file))
      const manifest = readFileSync(path.join(dir, clip.manifest), 'utf8')
      expect(sha(mp4)).toBe(clip.sha256)
      expect(verifyExport(manifest, { sha256: sha(mp4), bytes: mp4.length }, keys).ok).toBe(true)
      const altered = Buffer.from(mp4)
      altered[100] = (altered[100] as number) ^ 1
      expect(verifyExport(manifest, { sha256: sha(altered), bytes: altered.length }, keys)).toMatchObject({
        ok: false,
      })
    }
    expect(readFileSync(path.join(dir, 'README.txt'), 'utf8')).toContain('verify-export')
    expect(await lastAudit('case.download')).toMatchObject({
      target: { id: caseId },
      actor: { id: investigator.id },
    })
  })

  it('an offline agent fails its clip with a reason (not a 500); a retry collects it', async () => {
    await agent?.close()
    agent = undefined
    const deadline = Date.now() + 20_000
    while ((await agentStatus()) !== 'offline') {
      if (Date.now() > deadline) throw new Error('the agent stayed online')
      await new Promise((r) => setTimeout(r, 50))
    }
    const res = await t.request('POST', '/api/v1/cases', {
      token: investigator.token,
      body: { name: 'Offline', clips: [{ cameraId: camGate, from: ago(100), to: ago(50) }] },
    })
    expect(res.status, res.text).toBe(202)
    const settled = await untilSettled(res.body.id)
    expect(settled).toMatchObject({ state: 'failed', clips: [{ state: 'failed', error: 'agent offline' }] })
    const zip = await t.request('GET', `/api/v1/cases/${res.body.id}/download.zip`, {
      token: investigator.token,
    })
    expect(zip.status).toBe(409)
    const early = await t.request('POST', `/api/v1/cases/${caseId}/clips/${settled.clips[0].id}/retry`, {
      token: investigator.token,
    })
    expect(early.status).toBe(404)

    await connect()
    const retried = await t.request(
      'POST',
      `/api/v1/cases/${res.body.id}/clips/${settled.clips[0].id}/retry`,
      { token: investigator.token },
    )
    expect(retried.status, retried.text).toBe(202)
    expect((await untilSettled(res.body.id)).clips[0]).toMatchObject({ state: 'ready', error: null })
    const again = await t.request('POST', `/api/v1/cases/${res.body.id}/clips/${settled.clips[0].id}/retry`, {
      token: investigator.token,
    })
    expect(again.status).toBe(409)
  })

  it('its creator keeps reading it after losing evidence.manage, but may not delete it', async () => {
    const temp = await userWithRole(t, 'acme-cases', acme.token, 'temp-investigator', 'site-manager', {
      type: 'site',
      id: north,
    })
    const made = await t.request('POST', '/api/v1/cases', {
      token: temp.token,
      body: { name: 'Mine', clips: [{ cameraId: camGate, from: ago(100), to: ago(50) }] },
    })
    expect(made.status, made.text).toBe(202)
    await untilSettled(made.body.id, temp.token)
    const bindings = await t.request('GET', `/api/v1/users/${temp.id}/role-bindings`, { token: acme.token })
    for (const b of bindings.body.items ?? bindings.body)
      expect(
        (await t.request('DELETE', `/api/v1/users/${temp.id}/role-bindings/${b.id}`, { token: acme.token }))
          .status,
      ).toBe(204)
    const bound = await t.request('POST', `/api/v1/users/${temp.id}/role-bindings`, {
      token: acme.token,
      body: { role: 'operator', scope: { type: 'site', id: north } },
    })
    expect(bound.status, bound.text).toBe(201)
    const token = (await t.login('acme-cases', 'temp-investigator', USER_PASSWORD)).accessToken
    expect((await t.request('GET', `/api/v1/cases/${made.body.id}`, { token })).status).toBe(200)
    expect(
      (await t.request('GET', '/api/v1/cases', { token })).body.items.map((c: { id: string }) => c.id),
    ).toEqual([made.body.id])
    const del = await t.request('DELETE', `/api/v1/cases/${made.body.id}`, { token })
    expect(del.status, del.text).toBe(403)
    expect((await t.request('DELETE', `/api/v1/cases/${made.body.id}`, { token: acme.token })).status).toBe(
      204,
    )
  })

  it('is described in the OpenAPI document', async () => {
    const doc = (await t.request('GET', '/api/v1/openapi.json', { token: acme.token })).body
    const methods = (p: string) => Object.keys(doc.paths[p] ?? {}).sort()
    expect(methods('/api/v1/cases')).toEqual(['get', 'post'])
    expect(methods('/api/v1/cases/{id}')).toEqual(['delete', 'get', 'patch'])
    expect(methods('/api/v1/cases/{id}/notes')).toEqual(['post'])
    expect(methods('/api/v1/cases/{id}/clips/{clipId}/retry')).toEqual(['post'])
    expect(methods('/api/v1/cases/{id}/download.zip')).toEqual(['get'])
    expect(doc.components.schemas.Case.properties.clips).toBeDefined()
  })

  it('is deleted with evidence.manage only, files and all, audited', async () => {
    const dir = path.join(t.dataDir, 'cases', caseId)
    expect(existsSync(dir)).toBe(true)
    const del = await t.request('DELETE', `/api/v1/cases/${caseId}`, { token: investigator.token })
    expect(del.status, del.text).toBe(204)
    expect(existsSync(dir)).toBe(false)
    expect((await t.request('GET', `/api/v1/cases/${caseId}`, { token: acme.token })).status).toBe(404)
    expect(await lastAudit('case.delete')).toMatchObject({
      target: { id: caseId },
      actor: { id: investigator.id },
      details: { name: 'Gate theft' },
    })
  })

  it('a hub restart in the middle of a collection fails the unfinished clip with a reason', async () => {
    hold = true
    const res = await t.request('POST', '/api/v1/cases', {
      token: investigator.token,
      body: { name: 'Interrupted', clips: [{ cameraId: camGate, from: ago(100), to: ago(50) }] },
    })
    expect(res.status, res.text).toBe(202)
    await waitFor(
      () =>
        agent?.requests.find(
          (r) => r.op === 'recordings.export' && r.from === new Date(res.body.clips[0].from).toISOString(),
        ),
      'the export request',
    )
    await agent?.close()
    agent = undefined
    await t.restart()
    const settled = await untilSettled(
      res.body.id,
      (await t.login('acme-cases', 'investigator', USER_PASSWORD)).accessToken,
    )
    expect(settled.clips[0]).toMatchObject({ state: 'failed', error: INTERRUPTED })

    // A crash leaves the clip claimed by a process that no longer runs: the next start fails it.
    await t.db.adminQuery(
      "update case_clips set state = 'collecting', error = null, collector = gen_random_uuid() where id = $1",
      [settled.clips[0].id],
    )
    await t.restart()
    const token = (await t.login('acme-cases', 'investigator', USER_PASSWORD)).accessToken
    const recovered = await untilSettled(res.body.id, token)
    expect(recovered.clips[0]).toMatchObject({ state: 'failed', error: INTERRUPTED })
  })
})
