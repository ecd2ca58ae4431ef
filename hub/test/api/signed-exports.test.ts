import { execFile } from 'node:child_process'
import { createHash, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exportKeysOf } from '../../src/exports/export-keys.ts'
import { rawPublicKey, verifyExport } from '../../src/exports/export-manifest.ts'
import { signAndStoreExport } from '../../src/exports/signed-exports.ts'
import { createTenantWithAdmin, startTestHub, type TestHub, userWithRole } from '../helpers/test-hub.ts'

/**
 * Signed exports (issue 16): every export's manifest is signed with the hub's export key, served at
 * /api/v1/exports/{id}/manifest.json to those who may see the export, checked offline by
 * `verify-export` with the public keys from /.well-known/export-keys.json.
 *
 * The export itself (agent → hub upload) is covered by edge-agent/test/cameras.test.ts; here the
 * export is recorded and signed as sendExport does it, in one transaction.
 */
let t: TestHub
let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
let exporter: { id: string; token: string }
let bystander: { id: string; token: string }
let siteId: string
let dir: string
const cameraId = randomUUID()
const clip = randomBytes(64 * 1024 + 7)
const sha256 = createHash('sha256').update(clip).digest('hex')

const repoRoot = path.resolve(import.meta.dirname, '../../..')

function verifyCli(...args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', path.join(repoRoot, 'hub/src/main.ts'), 'verify-export', ...args],
      { cwd: repoRoot, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0
        resolve({ code: typeof code === 'number' ? code : 1, out: `${stdout}${stderr}` })
      },
    )
  })
}

async function recordExport(userId: string, username: string): Promise<string> {
  const exportId = randomUUID()
  const now = Date.now()
  await t.hub.context.db.withSystem(async (tx) => {
    const rows: { created_at: Date }[] = await tx.execute(
      `insert into exports (id, tenant_id, site_id, camera_id, agent_id, requested_from, requested_to,
         start_at, end_at, sha256, bytes, frames, codec, width, height, truncated_at, created_by)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning created_at`,
      [
        exportId,
        acme.tenantId,
        siteId,
        cameraId,
        randomUUID(),
        new Date(now - 120_000),
        new Date(now - 60_000),
        new Date(now - 121_000),
        new Date(now - 60_000),
        sha256,
        clip.length,
        60,
        'h264',
        640,
        360,
        null,
        userId,
      ],
    )
    await signAndStoreExport(t.hub.context, tx, {
      exportId,
      tenantId: acme.tenantId,
      camera: { id: cameraId, name: 'Door' },
      siteId,
      from: new Date(now - 121_000),
      to: new Date(now - 60_000),
      sha256,
      bytes: clip.length,
      exportedBy: { userId, username },
      exportedAt: rows[0]?.created_at as Date,
    })
  })
  return exportId
}

beforeAll(async () => {
  t = await startTestHub()
  acme = await createTenantWithAdmin(t, 'acme-signed')
  const site = await t.request('POST', '/api/v1/sites', { token: acme.token, body: { name: 'Harbour St' } })
  expect(site.status, site.text).toBe(201)
  siteId = site.body.id
  // A viewer cannot export (no camera.export), yet sees the manifest of an export of their own.
  exporter = await userWithRole(t, 'acme-signed', acme.token, 'alice', 'viewer', { type: 'tenant' })
  bystander = await userWithRole(t, 'acme-signed', acme.token, 'bob', 'viewer', { type: 'tenant' })
  dir = mkdtempSync(path.join(tmpdir(), 'vms-signed-export-'))
})
afterAll(async () => {
  await t?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('signed exports', () => {
  let exportId: string
  let manifestText: string
  let keysText: string

  it('publishes the export keys anonymously, public halves only', async () => {
    exportId = await recordExport(exporter.id, 'alice')
    const res = await t.request('GET', '/.well-known/export-keys.json')
    expect(res.status).toBe(200)
    expect(res.body.keys).toHaveLength(1)
    expect(Object.keys(res.body.keys[0]).sort()).toEqual(['createdAt', 'keyId', 'publicKey'])
    expect(Buffer.from(res.body.keys[0].publicKey, 'base64url')).toHaveLength(32)
    keysText = res.text
  })

  it('serves the signed manifest to the exporter and to users with camera.export, 404 to others', async () => {
    const mine = await t.request('GET', `/api/v1/exports/${exportId}/manifest.json`, {
      token: exporter.token,
    })
    expect(mine.status, mine.text).toBe(200)
    manifestText = mine.text
    expect(mine.body).toMatchObject({
      v: 1,
      exportId,
      hubId: await exportKeysOf(t.hub.context).hubId(),
      tenantId: acme.tenantId,
      camera: { id: cameraId, name: 'Door' },
      site: { id: siteId, name: 'Harbour St' },
      sha256,
      bytes: clip.length,
      exportedBy: { userId: exporter.id, username: 'alice' },
      keyId: JSON.parse(keysText).keys[0].keyId,
      signature: expect.stringMatching(/^[A-Za-z0-9_-]{86}$/),
    })
    const admin = await t.request('GET', `/api/v1/exports/${exportId}/manifest.json`, { token: acme.token })
    expect(admin.status).toBe(200)
    expect(admin.text).toBe(manifestText)
    // Like GET /api/v1/exports/{id}: not there for whoever may not see it.
    expect((await t.request('GET', `/api/v1/exports/${exportId}`, { token: bystander.token })).status).toBe(
      404,
    )
    expect(
      (await t.request('GET', `/api/v1/exports/${exportId}/manifest.json`, { token: bystander.token }))
        .status,
    ).toBe(404)
    const other = await createTenantWithAdmin(t, 'other-signed')
    expect(
      (await t.request('GET', `/api/v1/exports/${exportId}/manifest.json`, { token: other.token })).status,
    ).toBe(404)
    expect(
      (await t.request('GET', `/api/v1/exports/${randomUUID()}/manifest.json`, { token: acme.token })).status,
    ).toBe(404)
    expect((await t.request('GET', `/api/v1/exports/${exportId}/manifest.json`)).status).toBe(401)
    expect(verifyExport(manifestText, { sha256, bytes: clip.length }, JSON.parse(keysText).keys).ok).toBe(
      true,
    )
  })

  it('verify-export: OK for the file, FAILED (exit 1) for an altered file, manifest or keys', async () => {
    const clipFile = path.join(dir, 'clip.mp4')
    const manifestFile = path.join(dir, 'manifest.json')
    const keysFile = path.join(dir, 'keys.json')
    writeFileSync(clipFile, clip)
    writeFileSync(manifestFile, manifestText)
    writeFileSync(keysFile, keysText)

    const ok = await verifyCli(clipFile, manifestFile, '--keys', keysFile)
    expect(ok.out).toMatch(/^OK: unaltered; exported by alice \(/)
    expect(ok.out).toContain('camera Door')
    expect(ok.code).toBe(0)

    const flipped = Buffer.from(clip)
    flipped[1000] = (flipped[1000] as number) ^ 0x01
    const flippedFile = path.join(dir, 'flipped.mp4')
    writeFileSync(flippedFile, flipped)
    const bad = await verifyCli(flippedFile, manifestFile, '--keys', keysFile)
    expect(bad).toMatchObject({ code: 1, out: expect.stringMatching(/^FAILED: the file was altered/) })

    const tampered = path.join(dir, 'tampered.json')
    writeFileSync(tampered, manifestText.replace('"username":"alice"', '"username":"mallory"'))
    const forged = await verifyCli(clipFile, tampered, '--keys', keysFile)
    expect(forged).toMatchObject({ code: 1, out: expect.stringMatching(/^FAILED: .*signature/) })

    // Keys of another hub, even under the same key id: the signature does not verify.
    const wrongKeys = path.join(dir, 'wrong-keys.json')
    const keys = JSON.parse(keysText).keys
    const stranger = rawPublicKey(generateKeyPairSync('ed25519').publicKey)
    writeFileSync(wrongKeys, JSON.stringify({ keys: [{ ...keys[0], publicKey: stranger }] }))
    const wrong = await verifyCli(clipFile, manifestFile, '--keys', wrongKeys)
    expect(wrong).toMatchObject({ code: 1, out: expect.stringMatching(/^FAILED: /) })

    // Offline: without the keys file it says what it needs, and fetches nothing.
    const noKeys = await verifyCli(clipFile, manifestFile)
    expect(noKeys).toMatchObject({ code: 1, out: expect.stringMatching(/^FAILED: .*--keys/) })
  })

  it('rotating the access-token key leaves export keys and old manifests alone', async () => {
    const before = (await t.request('GET', '/.well-known/export-keys.json')).body
    await t.hub.context.keys.rotate()
    const after = (await t.request('GET', '/.well-known/export-keys.json')).body
    expect(after).toEqual(before)
    expect(verifyExport(manifestText, { sha256, bytes: clip.length }, after.keys).ok).toBe(true)
    // The hub id and the key survive a restart.
    const hubId = JSON.parse(manifestText).hubId
    await t.restart()
    const again = await recordExport(acme.adminId, 'acme-signed-admin')
    const res = await t.request('GET', `/api/v1/exports/${again}/manifest.json`, { token: acme.token })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ hubId, keyId: before.keys[0].keyId })
  })

  it('rotate-export-key adds a key that signs from then on; old manifests keep verifying', async () => {
    const before = (await t.request('GET', '/.well-known/export-keys.json')).body
    const config = t.hub.context.config
    const out = await new Promise<{ code: number; text: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', path.join(repoRoot, 'hub/src/main.ts'), 'rotate-export-key'],
        {
          cwd: repoRoot,
          timeout: 60_000,
          env: {
            ...process.env,
            VMS_DATA_DIR: config.VMS_DATA_DIR,
            VMS_DATABASE_URL: config.VMS_DATABASE_URL,
            VMS_MASTER_KEY: config.VMS_MASTER_KEY,
            VMS_LOG_LEVEL: 'warn',
          },
        },
        (err, stdout, stderr) => resolve({ code: err ? 1 : 0, text: `${stdout}${stderr}` }),
      )
    })
    expect(out.text).toMatch(/new export-signing key \S+/)
    expect(out.code).toBe(0)
    const newKeyId = /new export-signing key (\S+);/.exec(out.text)?.[1]
    // Published at once, beside the old one.
    const after = (await t.request('GET', '/.well-known/export-keys.json')).body
    expect(after.keys.map((k: { keyId: string }) => k.keyId)).toEqual([
      ...before.keys.map((k: { keyId: string }) => k.keyId),
      newKeyId,
    ])
    expect(verifyExport(manifestText, { sha256, bytes: clip.length }, after.keys).ok).toBe(true)
    // New exports are signed with it (a restarted hub at once, a running one within a minute).
    await t.restart()
    const fresh = await recordExport(acme.adminId, 'acme-signed-admin')
    const res = await t.request('GET', `/api/v1/exports/${fresh}/manifest.json`, { token: acme.token })
    expect(res.body.keyId).toBe(newKeyId)
  })
})
