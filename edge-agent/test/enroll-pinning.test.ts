import { createHash, randomUUID, X509Certificate } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { generate } from 'selfsigned'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ModelSync } from '../src/analytics/detect/model-sync.ts'
import { loadAgentSettings } from '../src/config.ts'
import { credentialsFile, readCredentials, writeCredentials } from '../src/credentials.ts'
import { agentDoctorChecks } from '../src/doctor/agent-doctor.ts'
import { enroll } from '../src/enroll.ts'
import {
  HubPinMismatchError,
  hubFetch,
  hubHttpsAgent,
  parsePin,
  probeHubCertificate,
} from '../src/link/hub-tls.ts'
import { CSRF_HEADER, SetupWizard } from '../src/setup/server.ts'
import { ensureSetupUiBuilt } from '../src/setup/setup-build.ts'

/**
 * Enrollment with a hub whose HTTPS certificate is self-signed: refused unless pinned, the pin
 * kept with the credentials and held to by the agent's later calls to the hub. The "hub" here is a
 * small HTTPS server answering the enrollment, a model download and an upload like the hub does.
 */

interface Seen {
  method: string
  url: string
  authorization?: string
  body: string
}

const MODEL = Buffer.from('not really an onnx model, but its bytes are checked all the same')

async function selfSigned(cn: string) {
  const now = Date.now()
  const pems = await generate([{ name: 'commonName', value: cn }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now - 3600_000),
    notAfterDate: new Date(now + 30 * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  })
  return { cert: pems.cert, key: pems.private, fingerprint: new X509Certificate(pems.cert).fingerprint256 }
}

async function fakeHub(tls: { cert: string; key: string }) {
  const seen: Seen[] = []
  const server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
        body: Buffer.concat(chunks).toString('utf8'),
      })
      if (req.method === 'POST' && req.url === '/api/v1/enroll') {
        res.writeHead(201, { 'content-type': 'application/json' })
        res.end(
          JSON.stringify({
            agentId: randomUUID(),
            tenantId: randomUUID(),
            siteId: randomUUID(),
            mqttUrl: 'mqtt://127.0.0.1:1883',
            secret: 's'.repeat(43),
            caFingerprint: null,
            caCertificate: null,
          }),
        )
      } else if (req.method === 'GET' && req.url === '/api/v1/agent/models/pinned-model') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' })
        res.end(MODEL)
      } else if (req.method === 'GET' && req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end('{"ok":true}')
      } else {
        res.writeHead(404, { 'content-type': 'application/json' })
        res.end('{"error":{"message":"no such thing"}}')
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

let hubTls: Awaited<ReturnType<typeof selfSigned>>
let other: Awaited<ReturnType<typeof selfSigned>>
let hub: Awaited<ReturnType<typeof fakeHub>>
const dirs: string[] = []
const tempDir = () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'vms-pin-'))
  dirs.push(dir)
  return dir
}

beforeAll(async () => {
  hubTls = await selfSigned('ts-vms-hub pinning test')
  other = await selfSigned('somebody else')
  hub = await fakeHub(hubTls)
})
afterAll(async () => {
  await hub?.close()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

const enrollments = () => hub.seen.filter((s) => s.url === '/api/v1/enroll').length

describe('hub certificate pins', () => {
  it('takes a SHA-256 as hex or colon-separated pairs, in any case, and nothing else', () => {
    const canonical = hubTls.fingerprint
    expect(parsePin(canonical)).toBe(canonical)
    expect(parsePin(canonical.toLowerCase())).toBe(canonical)
    expect(parsePin(` ${canonical.replaceAll(':', '').toLowerCase()} `)).toBe(canonical)
    for (const bad of [
      '',
      'AB:CD',
      canonical.slice(3),
      `${canonical}:00`,
      'z'.repeat(64),
      canonical.replaceAll(':', '-'),
    ])
      expect(parsePin(bad)).toHaveProperty('error')
    expect(parsePin(42)).toHaveProperty('error')
  })

  it('refuses a bad pin, and a pin for an http hub, before calling anything', async () => {
    const before = enrollments()
    await expect(
      enroll({ hubUrl: hub.url, code: 'AAAA-BBBB-CCCC-DDDD', dataDir: tempDir(), pinSha256: 'abc' }),
    ).rejects.toThrow(/SHA-256/)
    await expect(
      enroll({
        hubUrl: 'http://127.0.0.1:1',
        code: 'AAAA-BBBB-CCCC-DDDD',
        dataDir: tempDir(),
        pinSha256: hubTls.fingerprint,
      }),
    ).rejects.toThrow(/https/)
    expect(enrollments()).toBe(before)
  })
})

describe('enrollment with a self-signed hub', () => {
  it('is refused without a pin, with the certificate fingerprint to compare and pin', async () => {
    const dataDir = tempDir()
    const before = enrollments()
    const err = await enroll({ hubUrl: hub.url, code: 'AAAA-BBBB-CCCC-DDDD', dataDir }).catch((e: Error) => e)
    expect(err).toBeInstanceOf(Error)
    const message = (err as Error).message
    expect(message).toContain('not trusted')
    expect(message).toContain(hubTls.fingerprint)
    expect(message).toContain(`--pin ${hubTls.fingerprint}`)
    expect(enrollments()).toBe(before)
    expect(existsSync(credentialsFile(dataDir))).toBe(false)
  })

  it('is refused with another certificate pinned, sending nothing to the hub', async () => {
    const dataDir = tempDir()
    const before = enrollments()
    const err = await enroll({
      hubUrl: hub.url,
      code: 'AAAA-BBBB-CCCC-DDDD',
      dataDir,
      pinSha256: other.fingerprint,
    }).catch((e: Error) => e)
    const message = (err as Error).message
    expect(message).toContain('not the pinned one')
    expect(message).toContain(hubTls.fingerprint)
    expect(message).toContain(other.fingerprint)
    expect(enrollments()).toBe(before)
    expect(existsSync(credentialsFile(dataDir))).toBe(false)
  })

  it('is accepted with the right pin, kept with the credentials and held to later', async () => {
    const dataDir = tempDir()
    const pin = hubTls.fingerprint.replaceAll(':', '').toLowerCase()
    const c = await enroll({ hubUrl: `${hub.url}/`, code: 'AAAA-BBBB-CCCC-DDDD', dataDir, pinSha256: pin })
    expect(c.hubPinSha256).toBe(hubTls.fingerprint)
    const enrolled = hub.seen.filter((s) => s.url === '/api/v1/enroll').at(-1)
    expect(JSON.parse(enrolled?.body ?? '{}')).toMatchObject({ code: 'AAAA-BBBB-CCCC-DDDD' })

    const saved = readCredentials(dataDir)
    expect(saved.hubPinSha256).toBe(hubTls.fingerprint)
    expect(saved.hubUrl).toBe(hub.url)
    expect(JSON.parse(readFileSync(credentialsFile(dataDir), 'utf8')).hubPinSha256).toBe(hubTls.fingerprint)

    // A later call to the hub, through the saved credentials: accepted (a self-signed certificate).
    const res = await hubFetch(saved)(`${saved.hubUrl}/healthz`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ ok: true })
    const missing = await hubFetch(saved)(`${saved.hubUrl}/nothing`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ a: 1 }),
    })
    expect(missing.status).toBe(404)
    expect(await missing.json()).toEqual({ error: { message: 'no such thing' } })
    expect(hub.seen.at(-1)).toMatchObject({ method: 'POST', url: '/nothing', body: '{"a":1}' })

    // The same credentials pinned to another certificate: refused, and the request never sent.
    const count = hub.seen.length
    await expect(
      hubFetch({ ...saved, hubPinSha256: other.fingerprint })(`${saved.hubUrl}/healthz`),
    ).rejects.toBeInstanceOf(HubPinMismatchError)
    // Without a pin: verified as before (and this certificate is not trusted here).
    await expect(hubFetch({ ...saved, hubPinSha256: null })(`${saved.hubUrl}/healthz`)).rejects.toThrow()
    expect(hub.seen.length).toBe(count)
  })

  it("downloads a model and uploads over the pinned hub's HTTPS", async () => {
    const dataDir = tempDir()
    const c = await enroll({
      hubUrl: hub.url,
      code: 'AAAA-BBBB-CCCC-DDDD',
      dataDir,
      pinSha256: hubTls.fingerprint.toLowerCase(),
    })
    const credentials = readCredentials(dataDir)
    const modelsDir = tempDir()
    const sync = new ModelSync({
      modelsDir,
      hubUrl: credentials.hubUrl,
      hubPinSha256: credentials.hubPinSha256,
      agentId: credentials.agentId,
      secret: credentials.secret,
      logger: pino({ level: 'silent' }),
      onChange: () => {},
    })
    sync.update([
      {
        id: 'pinned-model',
        format: 'yolox',
        labels: ['person'],
        sha256: createHash('sha256').update(MODEL).digest('hex'),
        bytes: MODEL.length,
      },
    ])
    await sync.idle()
    await sync.stop()
    expect(sync.statusOf('pinned-model')).toBeUndefined()
    expect(readFileSync(path.join(modelsDir, 'pinned-model.onnx'))).toEqual(MODEL)
    const download = hub.seen.filter((s) => s.url === '/api/v1/agent/models/pinned-model').at(-1)
    expect(download?.authorization).toBe(
      `Basic ${Buffer.from(`${c.agentId}:${credentials.secret}`).toString('base64')}`,
    )

    // node:https requests (the export and segment uploads) take the pinned agent.
    const agent = hubHttpsAgent(credentials)
    expect(agent).toBeDefined()
    expect(hubHttpsAgent({ hubPinSha256: null })).toBeUndefined()
    const status = await new Promise<number>((resolve, reject) => {
      const req = https.request(new URL('/api/v1/agent/upload', hub.url), { method: 'PUT', agent }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      req.on('error', reject)
      req.end('bytes')
    })
    expect(status).toBe(404)
    expect(hub.seen.at(-1)).toMatchObject({ method: 'PUT', url: '/api/v1/agent/upload', body: 'bytes' })
  })
})

describe('the doctor of a pinned agent', () => {
  it('checks the hub over the pinned HTTPS and its certificate against the pin', async () => {
    const dataDir = tempDir()
    await enroll({ hubUrl: hub.url, code: 'AAAA-BBBB-CCCC-DDDD', dataDir, pinSha256: hubTls.fingerprint })
    const hubChecks = async () => {
      const checks = agentDoctorChecks(loadAgentSettings({ VMS_AGENT_DATA_DIR: dataDir }), {})
      const run = async (name: string) => {
        const check = checks.find((c) => c.name === name)
        if (!check) throw new Error(`no ${name} check`)
        const result = await check.run()
        if (Array.isArray(result)) throw new Error(`${name}: one result expected`)
        return result
      }
      return { hub: await run('hub'), certificate: await run('hub certificate') }
    }
    const pinned = await hubChecks()
    expect(pinned.hub).toMatchObject({ ok: true })
    expect(pinned.certificate).toMatchObject({ ok: true })
    expect(pinned.certificate.detail).toContain(hubTls.fingerprint)

    writeCredentials(dataDir, { ...readCredentials(dataDir), hubPinSha256: other.fingerprint })
    const wrong = await hubChecks()
    expect(wrong.hub).toMatchObject({ ok: false })
    expect(wrong.certificate).toMatchObject({ ok: false })
    expect(wrong.certificate.detail).toContain('not the pinned one')
  })
})

describe('probeHubCertificate', () => {
  it('reads an untrusted certificate without trusting it', async () => {
    const before = hub.seen.length
    const cert = await probeHubCertificate(hub.url)
    expect(cert).toMatchObject({
      fingerprint256: hubTls.fingerprint,
      subject: 'ts-vms-hub pinning test',
      issuer: 'ts-vms-hub pinning test',
      trusted: false,
    })
    expect(cert?.error).toBeTruthy()
    expect(new Date(cert?.validTo ?? '').getTime()).toBe(
      new Date(new X509Certificate(hubTls.cert).validTo).getTime(),
    )
    expect(hub.seen.length).toBe(before)
  })

  it('says a certificate this machine trusts is trusted', async () => {
    const cert = await probeHubCertificate(hub.url, { ca: [hubTls.cert] })
    expect(cert).toMatchObject({ fingerprint256: hubTls.fingerprint, trusted: true })
    expect(cert?.error).toBeUndefined()
  })

  it('answers null for an http hub and rejects when nothing answers', async () => {
    expect(await probeHubCertificate('http://127.0.0.1:1')).toBeNull()
    const closed = await fakeHub(other)
    await closed.close()
    await expect(probeHubCertificate(closed.url)).rejects.toThrow()
  })
})

describe('the setup wizard enrolls with a hub whose certificate the installer confirmed', () => {
  it('shows the fingerprint, refuses another one, pins the confirmed one and reaches the hub with it', async () => {
    const { dir: distDir } = await ensureSetupUiBuilt()
    const dataDir = tempDir()
    const wizard = await SetupWizard.start({
      dataDir,
      host: '127.0.0.1',
      port: 0,
      distDir,
      logger: pino({ level: 'silent' }),
      pin: '24681357',
    })
    try {
      const base = wizard.url.replace(/\/$/, '')
      let cookie = ''
      const call = async (method: string, p: string, body?: unknown) => {
        const res = await fetch(`${base}${p}`, {
          method,
          headers: {
            'content-type': 'application/json',
            [CSRF_HEADER]: '1',
            ...(cookie ? { cookie } : {}),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        })
        const setCookie = res.headers.get('set-cookie')
        if (setCookie) cookie = setCookie.split(';')[0] ?? ''
        const text = await res.text()
        return { status: res.status, json: text ? JSON.parse(text) : undefined }
      }
      expect((await call('POST', '/api/setup/unlock', { pin: '24681357' })).status).toBe(204)
      const enrollsSeen = () => hub.seen.filter((s) => s.url === '/api/v1/enroll').length
      const before = enrollsSeen()

      const untrusted = await call('POST', '/api/setup/enroll', { hubUrl: hub.url, code: 'WIZ-CODE' })
      expect(untrusted.status).toBe(422)
      expect(untrusted.json.error.code).toBe('HUB_CERT_UNTRUSTED')
      expect(untrusted.json.error.details.fingerprint).toBe(hubTls.fingerprint)
      const wrong = await call('POST', '/api/setup/enroll', {
        hubUrl: hub.url,
        code: 'WIZ-CODE',
        pin: other.fingerprint,
      })
      expect(wrong.status).toBe(422)
      expect(wrong.json.error.code).toBe('HUB_PIN_MISMATCH')
      expect(
        (await call('POST', '/api/setup/enroll', { hubUrl: hub.url, code: 'X', pin: 'nope' })).status,
      ).toBe(400)
      // Nothing reached the hub's enrollment until the right certificate was confirmed.
      expect(enrollsSeen()).toBe(before)

      const ok = await call('POST', '/api/setup/enroll', {
        hubUrl: hub.url,
        code: 'WIZ-CODE',
        pin: hubTls.fingerprint.toLowerCase(),
      })
      expect(ok.status).toBe(201)
      expect(enrollsSeen()).toBe(before + 1)
      expect(readCredentials(dataDir).hubPinSha256).toBe(hubTls.fingerprint)
      // The wizard's own calls to the hub hold to the pin (its health check answers).
      const status = await call('GET', '/api/setup/status')
      expect(status.json.hub).toMatchObject({ reachable: true })
    } finally {
      await wizard.close()
    }
  }, 120_000)
})
