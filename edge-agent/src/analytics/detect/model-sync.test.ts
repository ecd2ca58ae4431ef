import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { AgentModel } from '@ts-vms/shared'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ModelCatalog } from './model-catalog.ts'
import { ModelSync } from './model-sync.ts'

/** A stand-in for the hub's `GET /api/v1/agent/models/:id`: what it serves, and who asked. */
let server: http.Server
let hubUrl: string
let served: Map<string, Buffer>
let requests: { id: string; auth: string | undefined }[]
let dir: string
let sync: ModelSync | undefined
let changes: string[]

const AGENT = '6b0c1f8e-9a43-4c3b-9d4e-1a2b3c4d5e6f'
const SECRET = 's'.repeat(40)
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const modelOf = (id: string, bytes: Buffer, extra: Partial<AgentModel> = {}): AgentModel => ({
  id,
  format: 'yolox',
  labels: ['person', 'car'],
  sha256: sha(bytes),
  bytes: bytes.length,
  ...extra,
})

function start(o: { retryBaseMs?: number } = {}) {
  sync = new ModelSync({
    modelsDir: dir,
    hubUrl,
    agentId: AGENT,
    secret: SECRET,
    logger: pino({ level: 'silent' }),
    onChange: (id) => changes.push(id),
    retryBaseMs: o.retryBaseMs ?? 60_000,
  })
  return sync
}

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'model-sync-'))
  served = new Map()
  requests = []
  changes = []
  server = http.createServer((req, res) => {
    const id = decodeURIComponent(req.url?.match(/^\/api\/v1\/agent\/models\/([^/?]+)$/)?.[1] ?? '')
    requests.push({ id, auth: req.headers.authorization })
    const body = served.get(id)
    if (!body) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"not_found"}}')
      return
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length })
    res.end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  hubUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterEach(async () => {
  await sync?.stop()
  sync = undefined
  await new Promise<void>((resolve) => server.close(() => resolve()))
  rmSync(dir, { recursive: true, force: true })
})

describe('ModelSync', () => {
  it("downloads a listed model with the agent's credentials and installs it where the catalog finds it", async () => {
    const bytes = Buffer.from('pretend this is an ONNX model '.repeat(1000))
    served.set('nano', bytes)
    const s = start()
    s.update([modelOf('nano', bytes)])
    await s.idle()
    expect(requests).toEqual([
      { id: 'nano', auth: `Basic ${Buffer.from(`${AGENT}:${SECRET}`).toString('base64')}` },
    ])
    expect(readFileSync(path.join(dir, 'nano.onnx')).equals(bytes)).toBe(true)
    expect(JSON.parse(readFileSync(path.join(dir, 'nano.json'), 'utf8'))).toEqual({
      format: 'yolox',
      labels: ['person', 'car'],
      sha256: sha(bytes),
    })
    expect(changes).toEqual(['nano'])
    expect(s.statusOf('nano')).toBeUndefined()
    const spec = new ModelCatalog({ modelsDir: dir }).resolve('nano')
    expect(spec).toMatchObject({
      format: 'yolox',
      labels: ['person', 'car'],
      file: path.join(dir, 'nano.onnx'),
    })
    // No temporary file is left behind.
    expect(readdirSync(dir).sort()).toEqual(['nano.json', 'nano.onnx'])
  })

  it('refuses a model whose SHA-256 does not match: nothing installed, the status says why, retried later', async () => {
    const bytes = Buffer.from('the real model')
    served.set('nano', Buffer.from('tampered model'))
    const s = start({ retryBaseMs: 60_000 })
    s.update([modelOf('nano', bytes)])
    await s.idle()
    expect(existsSync(path.join(dir, 'nano.onnx'))).toBe(false)
    expect(existsSync(path.join(dir, 'nano.json'))).toBe(false)
    expect(readdirSync(dir)).toEqual([])
    expect(s.statusOf('nano')).toMatch(/SHA-256 does not match.*trying again in 60 s/)
    expect(changes).toEqual(['nano'])
    const catalog = new ModelCatalog({ modelsDir: dir, downloadStatus: (id) => s.statusOf(id) })
    expect(() => catalog.resolve('nano')).toThrow(
      /not installed on this agent yet: its download from the hub failed/,
    )
  })

  it('refuses a longer or shorter body and a hub that answers 404, and retries with backoff', async () => {
    const bytes = Buffer.from('0123456789')
    served.set('long', Buffer.from('0123456789AB'))
    served.set('short', Buffer.from('01234'))
    const s = start({ retryBaseMs: 50 })
    s.update([modelOf('long', bytes), modelOf('short', bytes), modelOf('gone', bytes)])
    await s.idle()
    expect(s.statusOf('long')).toMatch(/longer than the 10 bytes/)
    expect(s.statusOf('short')).toMatch(/ended after 5 of 10 bytes/)
    expect(s.statusOf('gone')).toMatch(/the hub answered 404/)
    // Fixed on the hub: the retry installs it.
    served.set('short', bytes)
    await new Promise((r) => setTimeout(r, 200))
    await s.idle()
    expect(readFileSync(path.join(dir, 'short.onnx')).equals(bytes)).toBe(true)
    expect(s.statusOf('short')).toBeUndefined()
    expect(requests.filter((r) => r.id === 'gone').length).toBeGreaterThan(1)
  })

  it('skips a model already installed with the right digest, and replaces one with another digest', async () => {
    const bytes = Buffer.from('already here')
    writeFileSync(path.join(dir, 'nano.onnx'), bytes)
    writeFileSync(path.join(dir, 'nano.json'), JSON.stringify({ format: 'yolox', sha256: sha(bytes) }))
    const s = start()
    s.update([modelOf('nano', bytes)])
    await s.idle()
    expect(requests).toEqual([])

    const v2 = Buffer.from('version two')
    served.set('nano', v2)
    s.update([modelOf('nano', v2)])
    // The stale copy is gone at once: the catalog never hands it out.
    expect(existsSync(path.join(dir, 'nano.json'))).toBe(false)
    await s.idle()
    expect(readFileSync(path.join(dir, 'nano.onnx')).equals(v2)).toBe(true)
  })

  it('downloads again a copy whose bytes rotted (hashed once after a start)', async () => {
    const bytes = Buffer.from('good bytes!')
    writeFileSync(path.join(dir, 'nano.onnx'), Buffer.from('bad  bytes!'))
    writeFileSync(path.join(dir, 'nano.json'), JSON.stringify({ format: 'yolox', sha256: sha(bytes) }))
    served.set('nano', bytes)
    const s = start()
    s.update([modelOf('nano', bytes)])
    await s.idle()
    expect(requests.map((r) => r.id)).toEqual(['nano'])
    expect(readFileSync(path.join(dir, 'nano.onnx')).equals(bytes)).toBe(true)
  })

  it('removes the models it installed once no longer listed, never default or one placed by hand', async () => {
    const bytes = Buffer.from('model')
    served.set('a', bytes)
    served.set('b', bytes)
    writeFileSync(path.join(dir, 'default.onnx'), 'x')
    writeFileSync(path.join(dir, 'manual.onnx'), 'x')
    writeFileSync(path.join(dir, 'manual.json'), JSON.stringify({ format: 'yolov8' }))
    writeFileSync(path.join(dir, '.a.0123.download'), 'left over')
    const s = start()
    s.update([modelOf('a', bytes), modelOf('b', bytes)])
    await s.idle()
    expect(readdirSync(dir).sort()).toEqual([
      'a.json',
      'a.onnx',
      'b.json',
      'b.onnx',
      'default.onnx',
      'manual.json',
      'manual.onnx',
    ])
    s.update([modelOf('b', bytes)])
    await s.idle()
    expect(readdirSync(dir).sort()).toEqual([
      'b.json',
      'b.onnx',
      'default.onnx',
      'manual.json',
      'manual.onnx',
    ])
    s.update([])
    expect(readdirSync(dir).sort()).toEqual(['default.onnx', 'manual.json', 'manual.onnx'])
  })

  it('downloads one model at a time', async () => {
    const bytes = Buffer.alloc(256 * 1024, 7)
    let active = 0
    let most = 0
    server.removeAllListeners('request')
    server.on('request', (req, res) => {
      active += 1
      most = Math.max(most, active)
      setTimeout(() => {
        res.writeHead(200, { 'content-length': bytes.length }).end(bytes, () => {
          active -= 1
        })
      }, 30)
      requests.push({ id: req.url ?? '', auth: undefined })
    })
    const s = start()
    s.update(['m1', 'm2', 'm3'].map((id) => modelOf(id, bytes)))
    await s.idle()
    expect(requests).toHaveLength(3)
    expect(most).toBe(1)
    expect(changes.sort()).toEqual(['m1', 'm2', 'm3'])
  })
})
