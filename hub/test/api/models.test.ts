import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { COCO_LABELS } from '@ts-vms/shared'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTenantWithAdmin, startTestHub, type TestHub, userWithRole } from '../helpers/test-hub.ts'

/**
 * Analytics models on the hub (issue 13): uploaded once per tenant, validated (the model loads;
 * its shapes fit the format and labels), listed with the built-in `default` first, named by
 * cameras (whose labels are checked against the model's), listed in the agent's configuration and
 * downloaded by that agent alone.
 */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const MODEL_FILE = path.resolve(repoRoot, '../shared/models/yolox_nano.onnx')
const haveModel = existsSync(MODEL_FILE)
if (!haveModel)
  console.warn(`SKIPPING the model upload tests that need a real model: ${MODEL_FILE} is absent`)

let t: TestHub
let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
let other: Awaited<ReturnType<typeof createTenantWithAdmin>>
let siteId: string
let agent: { agentId: string; secret: string }
let otherAgent: { agentId: string; secret: string }
let model: Buffer

async function enroll(token: string, name: string) {
  const site = await t.request('POST', '/api/v1/sites', { token, body: { name } })
  expect(site.status, site.text).toBe(201)
  const code = await t.request('POST', `/api/v1/sites/${site.body.id}/enrollments`, { token })
  expect(code.status, code.text).toBe(201)
  const enrolled = await t.request('POST', '/api/v1/enroll', { body: { code: code.body.code, name } })
  expect(enrolled.status, enrolled.text).toBe(201)
  return {
    siteId: site.body.id as string,
    agentId: enrolled.body.agentId as string,
    secret: enrolled.body.secret as string,
  }
}

async function upload(
  query: string,
  body: Uint8Array,
  token = acme.token,
  contentType = 'application/octet-stream',
) {
  const res = await fetch(`${t.url}/api/v1/models?${query}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': contentType },
    body: new Blob([new Uint8Array(body)]),
  })
  const text = await res.text()
  return { status: res.status, text, body: text ? JSON.parse(text) : undefined }
}

const basic = (a: { agentId: string; secret: string }) =>
  `Basic ${Buffer.from(`${a.agentId}:${a.secret}`).toString('base64')}`

beforeAll(async () => {
  t = await startTestHub()
  acme = await createTenantWithAdmin(t, 'acme')
  other = await createTenantWithAdmin(t, 'other')
  const north = await enroll(acme.token, 'North')
  siteId = north.siteId
  agent = north
  otherAgent = await enroll(other.token, 'Elsewhere')
  model = haveModel ? readFileSync(MODEL_FILE) : Buffer.alloc(0)
}, 60_000)

afterAll(async () => {
  await t?.close()
})

describe('uploading a model', () => {
  it.skipIf(!haveModel)(
    'validates and stores YOLOX-Nano, audited, with its digest and COCO labels by default',
    async () => {
      const res = await upload('id=nano&format=yolox', model)
      expect(res.status, res.text).toBe(201)
      const sha256 = createHash('sha256').update(model).digest('hex')
      expect(res.body).toMatchObject({
        id: 'nano',
        format: 'yolox',
        labels: COCO_LABELS,
        sha256,
        bytes: model.length,
        builtIn: false,
      })
      expect(Date.parse(res.body.createdAt)).toBeGreaterThan(0)
      const audit = await t.request('GET', '/api/v1/audit?action=model.create&limit=1', { token: acme.token })
      expect(audit.status, audit.text).toBe(200)
      expect(audit.body.items[0]).toMatchObject({
        action: 'model.create',
        details: { format: 'yolox', sha256, bytes: model.length, labels: 80 },
      })
    },
  )

  it.skipIf(!haveModel)('refuses a second model with the same id (409)', async () => {
    const res = await upload('id=nano&format=yolox', model)
    expect(res.status, res.text).toBe(409)
    expect(res.body.error.code).toBe('model_exists')
  })

  it('refuses a body that is not a model (400 model_unreadable) and an empty one', async () => {
    const garbage = await upload('id=junk&format=yolox', new TextEncoder().encode('not an onnx model at all'))
    expect(garbage.status, garbage.text).toBe(400)
    expect(garbage.body.error.code).toBe('model_unreadable')
    const empty = await upload('id=junk&format=yolox', new Uint8Array())
    expect(empty.status, empty.text).toBe(400)
    expect(empty.body.error.code).toBe('model_unreadable')
  })

  it.skipIf(!haveModel)(
    'refuses a model whose shapes do not fit the format or the labels (400 model_shape)',
    async () => {
      const asV8 = await upload('id=wrong&format=yolov8', model)
      expect(asV8.status, asV8.text).toBe(400)
      expect(asV8.body.error.code).toBe('model_shape')
      expect(asV8.body.error.message).toMatch(/looks like a YOLOX output/)
      const twoLabels = await upload('id=wrong&format=yolox&labels=basket,trolley', model)
      expect(twoLabels.status, twoLabels.text).toBe(400)
      expect(twoLabels.body.error.code).toBe('model_shape')
      expect(twoLabels.body.error.message).toMatch(/2 labels has rows of 5 \+ 2 = 7/)
    },
  )

  it('refuses bad ids, formats and labels, other content types and the built-in id', async () => {
    const bytes = new Uint8Array([1, 2, 3])
    for (const query of [
      'id=../x&format=yolox',
      'id=default&format=yolox',
      'id=ok&format=ssd',
      'format=yolox',
      'id=ok&format=yolox&labels=a,,b',
      'id=ok&format=yolox&labels=a,a',
    ]) {
      const res = await upload(query, bytes)
      expect(res.status, `${query}: ${res.text}`).toBe(400)
    }
    const text = await upload('id=ok&format=yolox', bytes, acme.token, 'text/plain')
    expect(text.status, text.text).toBe(415)
    expect((await upload('id=ok&format=yolox', bytes, acme.token, 'image/png')).status).toBe(415)
  })

  it('refuses a body over 64 MiB from its declared length (413)', async () => {
    const url = new URL(`${t.url}/api/v1/models?id=huge&format=yolox`)
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${acme.token}`,
          'content-type': 'application/octet-stream',
          'content-length': String(64 * 1024 * 1024 + 1),
        },
      })
      req.on('response', (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
        req.destroy()
      })
      req.on('error', reject)
      req.write(Buffer.alloc(1024))
    })
    expect(status).toBe(413)
  })

  it('is for those who manage cameras tenant-wide: a viewer or a site manager gets 403', async () => {
    const viewer = await userWithRole(t, 'acme', acme.token, 'viewer-1', 'viewer', { type: 'tenant' })
    expect((await upload('id=v&format=yolox', new Uint8Array([1]), viewer.token)).status).toBe(403)
    const manager = await userWithRole(t, 'acme', acme.token, 'manager-1', 'site-manager', {
      type: 'site',
      id: siteId,
    })
    expect((await upload('id=v&format=yolox', new Uint8Array([1]), manager.token)).status).toBe(403)
    // Listing is for everyone in the tenant (a site manager picks a model for a camera).
    const list = await t.request('GET', '/api/v1/models', { token: viewer.token })
    expect(list.status, list.text).toBe(200)
    const del = await t.request('DELETE', '/api/v1/models/nano', { token: viewer.token })
    expect(del.status, del.text).toBe(403)
  })
})

describe('the API document', () => {
  it('describes the upload as a binary body with its query, and the agent download', async () => {
    const res = await t.request('GET', '/api/v1/openapi.json', { token: acme.token })
    expect(res.status, res.text).toBe(200)
    const post = res.body.paths['/api/v1/models'].post
    expect(post.requestBody.content['application/octet-stream'].schema).toMatchObject({
      type: 'string',
      format: 'binary',
    })
    expect(post.parameters.map((p: { name: string }) => p.name).sort()).toEqual([
      'format',
      'id',
      'labels',
      'tenantId',
    ])
    expect(Object.keys(res.body.paths['/api/v1/models/{id}']).sort()).toEqual(['delete', 'get'])
    expect(res.body.paths['/api/v1/agent/models/{id}'].get.security).toEqual([{ agentAuth: [] }])
  })
})

describe('listing models', () => {
  it("lists the built-in default first, then the tenant's own, without bytes; another tenant sees none of them", async () => {
    const res = await t.request('GET', '/api/v1/models', { token: acme.token })
    expect(res.status, res.text).toBe(200)
    expect(res.body.items[0]).toEqual({ id: 'default', format: 'yolox', labels: COCO_LABELS, builtIn: true })
    if (haveModel) {
      expect(res.body.items.map((m: { id: string }) => m.id)).toEqual(['default', 'nano'])
      expect(res.body.items[1]).not.toHaveProperty('data')
    }
    const theirs = await t.request('GET', '/api/v1/models', { token: other.token })
    expect(theirs.body.items.map((m: { id: string }) => m.id)).toEqual(['default'])
    expect((await t.request('GET', '/api/v1/models/nano', { token: other.token })).status).toBe(404)
    expect((await t.request('GET', '/api/v1/models/default', { token: other.token })).body.builtIn).toBe(true)
  })

  it.skipIf(!haveModel)(
    "keeps models apart by row-level security, not only the routes' filters",
    async () => {
      const count = (tenantId: string) =>
        t.hub.context.db.withTenant({ tenantId }, (tx) =>
          tx.execute('select count(*)::int as n from analytics_models'),
        ) as Promise<{ n: number }[]>
      expect((await count(other.tenantId))[0]!.n).toBe(0)
      expect((await count(acme.tenantId))[0]!.n).toBeGreaterThan(0)
      const { rows } = await t.db.adminQuery(
        "select relrowsecurity, relforcerowsecurity from pg_class where relname = 'analytics_models'",
      )
      expect(rows[0]).toEqual({ relrowsecurity: true, relforcerowsecurity: true })
    },
  )

  it.skipIf(!haveModel)('gets one model', async () => {
    const res = await t.request('GET', '/api/v1/models/nano', { token: acme.token })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({ id: 'nano', format: 'yolox', bytes: model.length })
    expect((await t.request('GET', '/api/v1/models/missing', { token: acme.token })).status).toBe(404)
  })
})

describe.skipIf(!haveModel)('cameras naming an uploaded model', () => {
  let cameraId: string

  it('validates labels against the model: a model with its own labels refuses COCO ones', async () => {
    // YOLOX-Nano's 80 outputs, named otherwise: a model whose labels are not COCO's.
    const labels = COCO_LABELS.map((l, i) => (i === 0 ? 'shopper' : l))
    const custom = await upload(`id=shop&format=yolox&labels=${encodeURIComponent(labels.join(','))}`, model)
    expect(custom.status, custom.text).toBe(201)
    const refused = await t.request('POST', '/api/v1/cameras', {
      token: acme.token,
      body: {
        name: 'Refused',
        siteId,
        agentId: agent.agentId,
        streams: [{ role: 'main', url: 'rtsp://10.0.0.9/s' }],
        analytics: { enabled: true, model: 'shop', objects: ['person'] },
      },
    })
    expect(refused.status, refused.text).toBe(400)
    expect(refused.body.error.details.map((d: { path: string }) => d.path)).toContain('analytics.objects.0')
    const ok = await t.request('POST', '/api/v1/cameras', {
      token: acme.token,
      body: {
        name: 'Shop floor',
        siteId,
        agentId: agent.agentId,
        streams: [{ role: 'main', url: 'rtsp://10.0.0.9/s' }],
        analytics: { enabled: true, model: 'shop', objects: ['shopper'] },
      },
    })
    expect(ok.status, ok.text).toBe(201)
    cameraId = ok.body.id
    const unknown = await t.request('PATCH', `/api/v1/cameras/${cameraId}`, {
      token: acme.token,
      body: { analytics: { model: 'nope' } },
    })
    expect(unknown.status, unknown.text).toBe(400)
    expect(unknown.body.error.details[0]).toMatchObject({
      path: 'analytics.model',
      message: expect.stringMatching(/unknown model/),
    })
    // Another tenant's camera cannot name acme's model.
    const elsewhere = await t.request('GET', '/api/v1/models/shop', { token: other.token })
    expect(elsewhere.status).toBe(404)
  })

  it("lists the model in its agent's configuration, without bytes", async () => {
    const res = await t.request('GET', `/api/v1/agents/${agent.agentId}/config`, { token: acme.token })
    expect(res.status, res.text).toBe(200)
    expect(res.body.config.models).toEqual([
      {
        id: 'shop',
        format: 'yolox',
        labels: expect.arrayContaining(['shopper']),
        sha256: createHash('sha256').update(model).digest('hex'),
        bytes: model.length,
      },
    ])
  })

  it('serves the bytes to that agent alone', async () => {
    const mine = await fetch(`${t.url}/api/v1/agent/models/shop`, {
      headers: { authorization: basic(agent) },
    })
    expect(mine.status).toBe(200)
    expect(mine.headers.get('content-type')).toBe('application/octet-stream')
    expect(mine.headers.get('x-vms-sha256')).toBe(createHash('sha256').update(model).digest('hex'))
    expect(Buffer.from(await mine.arrayBuffer()).equals(model)).toBe(true)
    // A model no camera of the agent names, another tenant's agent, no credentials.
    expect(
      (await fetch(`${t.url}/api/v1/agent/models/nano`, { headers: { authorization: basic(agent) } })).status,
    ).toBe(404)
    expect(
      (await fetch(`${t.url}/api/v1/agent/models/shop`, { headers: { authorization: basic(otherAgent) } }))
        .status,
    ).toBe(404)
    expect((await fetch(`${t.url}/api/v1/agent/models/shop`)).status).toBe(401)
    expect(
      (
        await fetch(`${t.url}/api/v1/agent/models/shop`, {
          headers: { authorization: basic({ agentId: agent.agentId, secret: 'x'.repeat(43) }) },
        })
      ).status,
    ).toBe(401)
  })

  it('refuses to delete a model a camera names (409), then deletes it once none does, audited', async () => {
    const busy = await t.request('DELETE', '/api/v1/models/shop', { token: acme.token })
    expect(busy.status, busy.text).toBe(409)
    expect(busy.body.error.code).toBe('model_in_use')
    expect(busy.body.error.message).toMatch(/Shop floor/)
    expect((await t.request('DELETE', '/api/v1/models/default', { token: acme.token })).status).toBe(409)
    const moved = await t.request('PATCH', `/api/v1/cameras/${cameraId}`, {
      token: acme.token,
      body: { analytics: { model: 'default', objects: ['person'] } },
    })
    expect(moved.status, moved.text).toBe(200)
    const config = await t.request('GET', `/api/v1/agents/${agent.agentId}/config`, { token: acme.token })
    expect(config.body.config.models).toEqual([])
    const del = await t.request('DELETE', '/api/v1/models/shop', { token: acme.token })
    expect(del.status, del.text).toBe(204)
    expect((await t.request('GET', '/api/v1/models/shop', { token: acme.token })).status).toBe(404)
    const audit = await t.request('GET', '/api/v1/audit?action=model.delete&limit=1', { token: acme.token })
    expect(audit.body.items[0]).toMatchObject({
      action: 'model.delete',
      target: { type: 'model', id: 'shop' },
    })
  })
})
