import { randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { TLSSocket } from 'node:tls'
import pino from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../test/helpers/agent-harness.ts'
import { loadAgentSettings } from '../config.ts'
import { writeCredentials } from '../credentials.ts'
import { pinFile } from './gate.ts'
import { CSRF_HEADER, MAX_BODY_BYTES, SetupWizard } from './server.ts'
import { ensureSetupUiBuilt } from './setup-build.ts'
import { readSetupState } from './state.ts'

/**
 * The setup wizard's HTTP surface, with no hub behind it: the page and its CSP, the PIN (wrong
 * PINs 401 then 429), the CSRF header, bounded bodies, hostile input answered with a readable 4xx
 * and nothing echoed, the loopback Host check, the steps that need an unreachable hub saying why,
 * and finishing closing the wizard.
 */
const PIN = '24681357'
const logger = pino({ level: 'silent' })
let distDir: string
const dirs: string[] = []
const wizards: SetupWizard[] = []

beforeAll(async () => {
  distDir = (await ensureSetupUiBuilt()).dir
}, 120_000)

afterEach(async () => {
  await Promise.all(wizards.splice(0).map((w) => w.close()))
})

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

async function start(
  prepare?: (dataDir: string) => void,
  options: Partial<Parameters<typeof SetupWizard.start>[0]> = {},
) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vms-setup-'))
  dirs.push(dataDir)
  prepare?.(dataDir)
  const w = await SetupWizard.start({
    dataDir,
    host: '127.0.0.1',
    port: 0,
    distDir,
    logger,
    pin: PIN,
    ...options,
  })
  wizards.push(w)
  const base = w.url.replace(/\/$/, '')
  let cookie = ''
  const call = async (
    method: string,
    p: string,
    body?: unknown,
    headers: Record<string, string> = { 'content-type': 'application/json', [CSRF_HEADER]: '1' },
  ) => {
    const res = await fetch(`${base}${p}`, {
      method,
      headers: { ...headers, ...(cookie ? { cookie } : {}) },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    })
    const setCookie = res.headers.get('set-cookie')
    if (setCookie) cookie = setCookie.split(';')[0] ?? ''
    const text = await res.text()
    let json: any
    try {
      json = JSON.parse(text)
    } catch {}
    return { status: res.status, headers: res.headers, text, json }
  }
  const unlock = async () => expect((await call('POST', '/api/setup/unlock', { pin: PIN })).status).toBe(204)
  return { w, dataDir, base, call, unlock }
}

const unreachableCredentials = (hubPort: number) => (dataDir: string) =>
  writeCredentials(dataDir, {
    agentId: randomUUID(),
    tenantId: randomUUID(),
    siteId: randomUUID(),
    hubUrl: `http://127.0.0.1:${hubPort}`,
    mqttUrl: `mqtt://127.0.0.1:${hubPort}`,
    secret: 's'.repeat(43),
    caFingerprint: null,
    caCertificate: null,
  })

describe('setup wizard server', () => {
  it('serves its page under a strict CSP, with content-hashed immutable assets', async () => {
    const { base, w, dataDir } = await start()
    expect(readFileSync(pinFile(dataDir), 'utf8').trim()).toBe(PIN)
    expect(w.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
    const res = await fetch(`${base}/`)
    expect(res.status).toBe(200)
    const csp = res.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("script-src 'self'")
    expect(csp).not.toContain('unsafe-inline')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    const html = await res.text()
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/) // no inline script
    const script = /src="(\/assets\/index-[\w-]+\.js)"/.exec(html)?.[1]
    expect(script).toBeTruthy()
    const asset = await fetch(`${base}${script}`)
    expect(asset.status).toBe(200)
    expect(asset.headers.get('cache-control')).toContain('immutable')
    expect(asset.headers.get('content-type')).toContain('javascript')
    expect((await fetch(`${base}/assets/../../credentials.json`)).status).toBe(404)
  })

  it('refuses every call but the unlock without the PIN; wrong PINs get 401, then 429 with Retry-After', async () => {
    const { call } = await start()
    expect((await call('GET', '/api/setup/status')).json).toEqual({ locked: true })
    const locked = await call('POST', '/api/setup/enroll', { hubUrl: 'http://hub', code: 'x' })
    expect(locked.status).toBe(401)
    expect(locked.json.error.code).toBe('LOCKED')
    for (let i = 0; i < 5; i++) {
      const wrong = await call('POST', '/api/setup/unlock', { pin: '11111111' })
      expect(wrong.status).toBe(401)
      expect(wrong.json.error).toMatchObject({ code: 'WRONG_PIN' })
      expect(wrong.json.error.message).toContain('not the setup PIN')
    }
    const limited = await call('POST', '/api/setup/unlock', { pin: PIN })
    expect(limited.status).toBe(429)
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(limited.json.error.message).toMatch(/Too many wrong PINs: try again in \d+ s/)
    expect(limited.headers.get('set-cookie')).toBeNull()
    expect((await call('GET', '/api/setup/status')).json).toEqual({ locked: true })
  })

  it('opens an HttpOnly SameSite=Strict session with the PIN; a forged cookie opens nothing', async () => {
    const { call, base } = await start()
    const res = await call('POST', '/api/setup/unlock', { pin: PIN })
    expect(res.status).toBe(204)
    const cookie = res.headers.get('set-cookie') ?? ''
    expect(cookie).toMatch(/HttpOnly/)
    expect(cookie).toMatch(/SameSite=Strict/)
    const status = await call('GET', '/api/setup/status')
    expect(status.json).toMatchObject({ locked: false, agent: null, installer: null })
    expect(status.json.steps.map((s: { id: string; state: string }) => `${s.id}:${s.state}`)).toEqual([
      'enroll:current',
      'sign-in:waiting',
      'cameras:waiting',
      'recording:waiting',
      'finish:waiting',
    ])
    const forged = await fetch(`${base}/api/setup/status`, {
      headers: { cookie: `${cookie.split('=')[0]}=${'A'.repeat(43)}` },
    })
    expect(await forged.json()).toEqual({ locked: true })
    // Locking ends the session.
    expect((await call('POST', '/api/setup/lock', {})).status).toBe(204)
    expect((await call('GET', '/api/setup/status')).json).toEqual({ locked: true })
  })

  it('needs the CSRF header and JSON on POSTs, bounds bodies and answers bad input with a 4xx', async () => {
    const { call, unlock } = await start()
    const noHeader = await call(
      'POST',
      '/api/setup/unlock',
      { pin: PIN },
      { 'content-type': 'application/json' },
    )
    expect(noHeader.status).toBe(403)
    expect(noHeader.json.error.message).toContain(CSRF_HEADER)
    const form = await call('POST', '/api/setup/unlock', `pin=${PIN}`, {
      'content-type': 'application/x-www-form-urlencoded',
      [CSRF_HEADER]: '1',
    })
    expect(form.status).toBe(415)
    const large = await call('POST', '/api/setup/unlock', { pin: 'x'.repeat(MAX_BODY_BYTES) })
    expect(large.status).toBe(413)
    expect(large.json.error.code).toBe('TOO_LARGE')
    expect((await call('POST', '/api/setup/unlock', '{"pin":')).status).toBe(400)
    expect((await call('GET', '/api/setup/unlock')).status).toBe(405)
    await unlock()
    expect(
      (await call('POST', '/api/setup/enroll', { hubUrl: 'http://h', code: 'c', admin: true })).json.error,
    ).toMatchObject({ code: 'BAD_REQUEST', message: 'Unexpected field: admin.' })
    expect((await call('POST', '/api/setup/enroll', [])).status).toBe(400)
    expect(
      (await call('POST', '/api/setup/enroll', { hubUrl: 'http://h', code: '  ' })).json.error.message,
    ).toBe('Enter the enrollment code.')
    expect(
      (await call('POST', '/api/setup/login', { tenant: 't', username: 'u', password: 'p' })).status,
    ).toBe(409)
    expect((await call('POST', '/api/setup/finish', {})).status).toBe(409)
  })

  it('answers hostile text with a readable 4xx that echoes none of it', async () => {
    const { call, unlock } = await start()
    await unlock()
    const hostile = '<script>alert(1)</script>'
    for (const hubUrl of [
      hostile,
      `javascript:${hostile}`,
      `http://user:pw@hub/`,
      `https://hub/?q=${hostile}`,
    ]) {
      const res = await call('POST', '/api/setup/enroll', { hubUrl, code: hostile })
      expect(res.status, hubUrl).toBe(400)
      expect(res.json.error.code).toBe('BAD_HUB_URL')
      expect(res.headers.get('content-type')).toContain('application/json')
      expect(res.text).not.toContain('<script>')
    }
    const path404 = await call('GET', `/api/setup/${encodeURIComponent(hostile)}`)
    expect(path404.status).toBe(404)
    expect(path404.text).not.toContain('script')
    const page404 = await call('GET', `/${encodeURIComponent(hostile)}`)
    expect(page404.status).toBe(404)
    expect(page404.text).not.toContain('script')
    const pin = await call('POST', '/api/setup/unlock', { pin: { $gt: '' } })
    expect(pin.status).toBe(400)
  })

  it('refuses requests whose Host is not a loopback name (DNS rebinding)', async () => {
    const { w } = await start()
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port: w.port, path: '/', headers: { host: `evil.example:${w.port}` } },
        (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        },
      )
      req.on('error', reject)
      req.end()
    })
    expect(status).toBe(421)
  })

  it('serves over TLS with a self-signed certificate (its fingerprint given) when bound beyond loopback', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'vms-setup-'))
    dirs.push(dataDir)
    const w = await SetupWizard.start({ dataDir, host: '0.0.0.0', port: 0, distDir, logger, pin: PIN })
    wizards.push(w)
    expect(w.url).toMatch(/^https:\/\/0\.0\.0\.0:\d+\/$/)
    expect(w.tlsFingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
    expect(statSync(path.join(dataDir, 'setup-key.pem')).mode & 0o777).toBe(0o600)
    const answer = await new Promise<{ status: number; cookie: string; fingerprint: string }>(
      (resolve, reject) => {
        const body = JSON.stringify({ pin: PIN })
        const req = httpsRequest(
          {
            host: '127.0.0.1',
            port: w.port,
            path: '/api/setup/unlock',
            method: 'POST',
            rejectUnauthorized: false,
            headers: {
              'content-type': 'application/json',
              [CSRF_HEADER]: '1',
              'content-length': body.length,
            },
          },
          (res) => {
            res.resume()
            resolve({
              status: res.statusCode ?? 0,
              cookie: String(res.headers['set-cookie'] ?? ''),
              fingerprint: (res.socket as TLSSocket).getPeerCertificate().fingerprint256,
            })
          },
        )
        req.on('error', reject)
        req.end(body)
      },
    )
    expect(answer.status).toBe(204)
    expect(answer.fingerprint).toBe(w.tlsFingerprint)
    expect(answer.cookie).toMatch(/; Secure/)
  })

  it('says why the steps that need the hub cannot be done while it is unreachable', async () => {
    const hubPort = await freePort()
    const { call, unlock } = await start(unreachableCredentials(hubPort))
    await unlock()
    const status = await call('GET', '/api/setup/status')
    expect(status.json.hub).toMatchObject({ reachable: false })
    const steps = Object.fromEntries(
      status.json.steps.map((s: { id: string; state: string; reason?: string }) => [s.id, s]),
    )
    expect(steps.enroll.state).toBe('done')
    expect(steps['sign-in']).toMatchObject({ state: 'unavailable' })
    expect(steps['sign-in'].reason).toMatch(
      /The hub cannot be reached \(.*ECONNREFUSED.*\); this step needs it/,
    )
    // Finding and probing cameras needs no hub; adding them does, and the step says so.
    expect(steps.cameras.state).toBe('unavailable')
    expect(steps.cameras.reason).toMatch(/can be found, probed and previewed, but not added until it answers/)
    expect(steps.recording.state).toBe('unavailable')
    const login = await call('POST', '/api/setup/login', { tenant: 't', username: 'u', password: 'p' })
    expect(login.status).toBe(502)
    expect(login.json.error.message).toMatch(/The hub cannot be reached/)
    const again = await call('POST', '/api/setup/enroll', { hubUrl: 'http://127.0.0.1:1', code: 'c' })
    expect(again.status).toBe(409)
  })

  it('cannot enroll at a hub that does not answer, and says so', async () => {
    const hubPort = await freePort()
    const { call, unlock } = await start()
    await unlock()
    const res = await call('POST', '/api/setup/enroll', {
      hubUrl: `http://127.0.0.1:${hubPort}`,
      code: 'ABCD-1234',
    })
    expect(res.status).toBe(502)
    expect(res.json.error).toMatchObject({ code: 'HUB_UNREACHABLE' })
    expect(res.json.error.message).toContain(`cannot reach the hub at http://127.0.0.1:${hubPort}`)
  })

  it('sets the disk quota (step 4) in the local settings file and hands it to the agent at once', async () => {
    const applied: (number | null)[] = []
    const { call, unlock, dataDir, w } = await start(undefined, {
      recordingQuotaBytes: null,
      onQuotaChanged: (bytes) => void applied.push(bytes),
    })
    // The PIN session and the CSRF header, like every other call.
    expect((await call('POST', '/api/setup/quota', { quotaBytes: 2e9 })).status).toBe(401)
    await unlock()
    const noCsrf = await call(
      'POST',
      '/api/setup/quota',
      { quotaBytes: 2e9 },
      { 'content-type': 'application/json' },
    )
    expect(noCsrf.status).toBe(403)
    expect((await call('GET', '/api/setup/quota')).status).toBe(405)
    expect((await call('GET', '/api/setup/status')).json.recording).toMatchObject({
      quotaBytes: null,
      quotaFixed: false,
      quotaAppliesNow: true,
    })
    // Bounded: 1 GB to 1 PB, whole bytes, or null; nothing else in the body.
    for (const [body, message] of [
      [{ quotaBytes: 5e8 }, 'The disk quota must be at least 1 GB.'],
      [{ quotaBytes: 2e15 }, 'The disk quota must be at most 1,000,000 GB.'],
      [{ quotaBytes: 1.5e9 + 0.5 }, 'The disk quota must be a whole number of bytes.'],
      [{ quotaBytes: '2000000000' }, 'quotaBytes: missing or of the wrong type.'],
      [{}, 'quotaBytes: missing or of the wrong type.'],
      [{ quotaBytes: 2e9, path: '/etc' }, 'Unexpected field: path.'],
    ] as const) {
      const bad = await call('POST', '/api/setup/quota', body)
      expect(bad.status).toBe(400)
      expect(bad.json.error.message).toBe(message)
    }
    expect(applied).toEqual([])
    expect(existsSync(path.join(dataDir, 'agent-settings.json'))).toBe(false)

    const set = await call('POST', '/api/setup/quota', { quotaBytes: 250e9 })
    expect(set.status).toBe(200)
    expect(set.json.recording).toMatchObject({ quotaBytes: 250e9, quotaFixed: false })
    expect(applied).toEqual([250e9])
    expect(w.recordingQuotaBytes).toBe(250e9)
    const file = path.join(dataDir, 'agent-settings.json')
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ VMS_AGENT_RECORDING_QUOTA_BYTES: 250e9 })
    expect(statSync(file).mode & 0o777).toBe(0o600)
    // The agent's next start reads it.
    expect(loadAgentSettings({ VMS_AGENT_DATA_DIR: dataDir }).VMS_AGENT_RECORDING_QUOTA_BYTES).toBe(250e9)

    // Empty: no quota.
    const cleared = await call('POST', '/api/setup/quota', { quotaBytes: null })
    expect(cleared.status).toBe(200)
    expect(cleared.json.recording.quotaBytes).toBeNull()
    expect(applied).toEqual([250e9, null])
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ VMS_AGENT_RECORDING_QUOTA_BYTES: null })
    expect(loadAgentSettings({ VMS_AGENT_DATA_DIR: dataDir }).VMS_AGENT_RECORDING_QUOTA_BYTES).toBeUndefined()
  })

  it('shows a quota the environment sets as fixed, and refuses to change it', async () => {
    const { call, unlock, dataDir } = await start(undefined, {
      recordingQuotaBytes: 100e9,
      recordingQuotaFixed: true,
    })
    await unlock()
    expect((await call('GET', '/api/setup/status')).json.recording).toMatchObject({
      quotaBytes: 100e9,
      quotaFixed: true,
      quotaAppliesNow: false,
    })
    const refused = await call('POST', '/api/setup/quota', { quotaBytes: 2e9 })
    expect(refused.status).toBe(409)
    expect(refused.json.error).toMatchObject({ code: 'QUOTA_FIXED' })
    expect(refused.json.error.message).toContain("set in the agent's environment")
    expect(existsSync(path.join(dataDir, 'agent-settings.json'))).toBe(false)
  })

  it('closes once setup is finished: the PIN file goes, the state says finished', async () => {
    const { call, unlock, w, dataDir, base } = await start(unreachableCredentials(await freePort()))
    await unlock()
    const res = await call('POST', '/api/setup/finish', {})
    expect(res.status).toBe(200)
    await w.finished
    expect(existsSync(pinFile(dataDir))).toBe(false)
    expect(readSetupState(dataDir)).toMatchObject({ finished: true })
    await expect(fetch(`${base}/`)).rejects.toThrow()
  })
})
