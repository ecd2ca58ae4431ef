import { randomUUID } from 'node:crypto'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { formatReport, runChecks } from '@ts-vms/shared'
import { afterAll, describe, expect, it } from 'vitest'
import { loadAgentSettings } from '../config.ts'
import { writeCredentials } from '../credentials.ts'
import { Outbox } from '../outbox/outbox.ts'
import { cameraEndpoints, checkEnrollment, checkFfmpeg, readSavedCameras } from './agent-checks.ts'
import { agentDoctorChecks } from './agent-doctor.ts'

const dirs: string[] = []
const tempDir = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'vms-agent-doctor-'))
  dirs.push(d)
  return d
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

function script(body: string): string {
  const file = path.join(tempDir(), 'ffmpeg')
  writeFileSync(file, `#!/bin/sh\n${body}\n`)
  chmodSync(file, 0o755)
  return file
}

const camera = (name: string, urls: string[]) => ({
  id: randomUUID(),
  name,
  streams: urls.map((url, i) => ({ role: i === 0 ? 'main' : 'sub', url })),
  recording: { enabled: true, retentionDays: 7 },
})

function enrolledDir(cameras: unknown[] | undefined, hubUrl = 'https://hub.example'): string {
  const dir = tempDir()
  writeCredentials(dir, {
    agentId: randomUUID(),
    tenantId: randomUUID(),
    siteId: randomUUID(),
    hubUrl,
    mqttUrl: 'mqtts://hub.example:8883',
    secret: 'x'.repeat(43),
    caFingerprint: null,
    caCertificate: null,
  })
  if (cameras) {
    const outbox = new Outbox(path.join(dir, 'outbox.db'), 1024 * 1024)
    outbox.setSetting('config', JSON.stringify({ version: 3, config: { cameras } }))
    outbox.close()
  }
  return dir
}

describe('checkFfmpeg', () => {
  it('passes with the path and version', async () => {
    const file = script('echo "ffmpeg version 6.1.1-test Copyright (c) 2000-2024"')
    expect(await checkFfmpeg({ FFMPEG_PATH: file, PATH: '' })).toEqual({
      name: 'ffmpeg',
      ok: true,
      detail: `${file}, version 6.1.1-test`,
    })
  })

  it('fails when there is none, with the install fix', async () => {
    const r = await checkFfmpeg({ PATH: tempDir() })
    expect(r).toMatchObject({ ok: false, detail: 'not on PATH' })
    expect(r.fix).toContain('sudo apt install ffmpeg')
    expect(r.fix).toContain('FFMPEG_PATH')
  })

  it('fails when it does not run or is not ffmpeg', async () => {
    const broken = await checkFfmpeg({ FFMPEG_PATH: script('exit 3'), PATH: '' })
    expect(broken.ok).toBe(false)
    expect(broken.detail).toContain('does not run')
    const other = await checkFfmpeg({ FFMPEG_PATH: script('echo hello'), PATH: '' })
    expect(other).toMatchObject({ ok: false })
    expect(other.detail).toContain('is not ffmpeg (it says "hello")')
  })
})

describe('checkEnrollment', () => {
  it('fails without credentials, telling how to enroll', () => {
    const r = checkEnrollment(tempDir()).result
    expect(r.ok).toBe(false)
    expect(r.fix).toContain('npm run agent -- enroll --hub URL --code CODE')
  })

  it('fails on damaged credentials', () => {
    const dir = tempDir()
    writeFileSync(path.join(dir, 'credentials.json'), '{"agentId": 1}')
    const r = checkEnrollment(dir).result
    expect(r.ok).toBe(false)
    expect(r.fix).toContain('enroll again with --force')
  })

  it('passes with the agent and its hub', () => {
    const { result, credentials } = checkEnrollment(enrolledDir(undefined))
    expect(result).toMatchObject({
      ok: true,
      detail: `agent ${credentials?.agentId} of hub https://hub.example`,
    })
  })
})

describe('saved cameras', () => {
  it('reads the cameras of the applied configuration, one endpoint per distinct RTSP host:port', () => {
    const dir = enrolledDir([
      camera('Door', ['rtsp://10.0.0.5/main', 'rtsp://10.0.0.5:554/sub']),
      camera('Yard', ['rtsp://10.0.0.6:8554/live']),
    ])
    const cameras = readSavedCameras(path.join(dir, 'outbox.db'))
    expect(cameras.map((c) => [c.name, c.endpoints])).toEqual([
      ['Door', [{ host: '10.0.0.5', port: 554 }]],
      ['Yard', [{ host: '10.0.0.6', port: 8554 }]],
    ])
  })

  it('reads while the running agent holds the outbox open (WAL), read-only', () => {
    const dir = tempDir()
    const outbox = new Outbox(path.join(dir, 'outbox.db'), 1024 * 1024)
    try {
      outbox.setSetting(
        'config',
        JSON.stringify({ version: 1, config: { cameras: [camera('Live', ['rtsp://10.0.0.7/a'])] } }),
      )
      expect(readSavedCameras(path.join(dir, 'outbox.db')).map((c) => c.name)).toEqual(['Live'])
      outbox.setSetting('config', JSON.stringify({ version: 2, config: { cameras: [] } }))
      expect(readSavedCameras(path.join(dir, 'outbox.db'))).toEqual([])
    } finally {
      outbox.close()
    }
  })

  it('answers none without an outbox or a configuration', () => {
    expect(readSavedCameras(path.join(tempDir(), 'outbox.db'))).toEqual([])
    expect(readSavedCameras(path.join(enrolledDir([]), 'outbox.db'))).toEqual([])
  })

  it('brackets nothing in IPv6 hosts', () => {
    expect(cameraEndpoints(camera('v6', ['rtsp://[fd00::5]:7554/x']) as never)).toEqual([
      { host: 'fd00::5', port: 7554 },
    ])
  })
})

describe('agentDoctorChecks', () => {
  const now = Date.parse('2026-06-01T12:00:00Z')
  const goodIo = {
    ffmpegVersion: async () => 'ffmpeg version 6.0',
    probe: async () => ({ status: 200, date: new Date(now), sentAt: now + 400, receivedAt: now + 600 }),
    inspect: async () => ({
      fingerprint256: 'AA:BB',
      subject: 'hub.example',
      validFrom: new Date('2026-01-01'),
      validTo: new Date('2027-01-01'),
      authorized: true,
    }),
    connect: async (host: string) => {
      if (host === '10.0.0.6')
        throw Object.assign(new Error('connect EHOSTUNREACH 10.0.0.6:554'), { code: 'EHOSTUNREACH' })
      return 3
    },
    listen: async () => undefined,
    now: () => now,
  }

  it('runs every check in order and fails the unreachable camera with its fix', async () => {
    const dir = enrolledDir([
      camera('Door', ['rtsp://10.0.0.5/main']),
      camera('Yard', ['rtsp://10.0.0.6/main']),
    ])
    const settings = loadAgentSettings({
      VMS_AGENT_DATA_DIR: dir,
      VMS_AGENT_MIN_FREE_BYTES: '0',
      VMS_AGENT_METRICS_PORT: '9464',
    })
    const results = await runChecks(
      agentDoctorChecks(settings, { FFMPEG_PATH: process.execPath, PATH: '' }, goodIo),
    )
    expect(results.map((r) => `${r.ok ? 'PASS' : 'FAIL'} ${r.name}`)).toEqual([
      'PASS ffmpeg',
      'PASS enrollment',
      'PASS hub',
      'PASS hub certificate',
      'PASS clock',
      'PASS broker',
      'PASS recordings disk',
      'PASS setup port',
      'PASS metrics port',
      'PASS camera Door',
      'FAIL camera Yard',
    ])
    const yard = results.at(-1)
    expect(yard?.detail).toContain('10.0.0.6:554 cannot be reached')
    expect(yard?.fix).toContain('its RTSP port is 554')
    expect(results.find((r) => r.name === 'hub certificate')?.detail).toContain(
      'SHA-256 AA:BB, expires 2027-01-01',
    )
    expect(results.find((r) => r.name === 'clock')?.detail).toBe(
      'this machine is 0.0 s ahead of the hub (±1 s)',
    )
    expect(formatReport(results).failed).toBe(1)
  })

  it('fails an unreachable hub and a port in use; without enrollment, no hub lines', async () => {
    const dir = enrolledDir([])
    const settings = loadAgentSettings({ VMS_AGENT_DATA_DIR: dir, VMS_AGENT_MIN_FREE_BYTES: '0' })
    const results = await runChecks(
      agentDoctorChecks(
        settings,
        { FFMPEG_PATH: process.execPath },
        {
          ...goodIo,
          probe: async () => {
            throw new Error('fetch failed')
          },
          listen: async () => Object.assign(new Error('in use'), { code: 'EADDRINUSE' }),
        },
      ),
    )
    const byName = Object.fromEntries(results.map((r) => [r.name, r]))
    expect(byName.hub).toMatchObject({
      ok: false,
      detail: 'https://hub.example cannot be reached: fetch failed',
    })
    expect(byName.hub?.fix).toContain('systemctl status ts-vms-hub')
    expect(byName.clock?.ok).toBe(false)
    expect(byName['setup port']).toMatchObject({
      ok: false,
      detail: '127.0.0.1:7080 is in use by another program',
    })
    expect(byName['setup port']?.fix).toContain('setup wizard')
    expect(byName.cameras).toMatchObject({ ok: true })

    const bare = loadAgentSettings({ VMS_AGENT_DATA_DIR: tempDir() })
    const names = (await runChecks(agentDoctorChecks(bare, {}, goodIo))).map((r) => r.name)
    expect(names).toEqual(['ffmpeg', 'enrollment', 'recordings disk', 'setup port', 'cameras'])
  })
})

describe('a saved configuration that does not read', () => {
  it('fails the cameras line with the reason', async () => {
    const dir = enrolledDir([camera('Bad', ['rtsp://user:pw@10.0.0.9/x'])])
    expect(() => readSavedCameras(path.join(dir, 'outbox.db'))).toThrow(/must not carry credentials/)
    const settings = loadAgentSettings({ VMS_AGENT_DATA_DIR: dir, VMS_AGENT_MIN_FREE_BYTES: '0' })
    const results = await runChecks(
      agentDoctorChecks(
        settings,
        {},
        {
          listen: async () => undefined,
          probe: async () => ({ status: 200, date: new Date(), sentAt: Date.now(), receivedAt: Date.now() }),
          inspect: async () => {
            throw new Error('x')
          },
          connect: async () => 1,
        },
      ),
    )
    const cameras = results.find((r) => r.name === 'cameras')
    expect(cameras?.ok).toBe(false)
    expect(cameras?.detail).toContain('cannot read the saved configuration')
    expect(cameras?.fix).toContain('gets its configuration again from the hub')
  })
})
