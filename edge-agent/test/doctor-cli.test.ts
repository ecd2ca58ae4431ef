import { randomUUID } from 'node:crypto'
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Listeners, runDoctor } from '../../hub/test/helpers/doctor-cli.ts'
import { startTestHub, type TestHub } from '../../hub/test/helpers/test-hub.ts'
import { outboxFile } from '../src/agent.ts'
import { Outbox } from '../src/outbox/outbox.ts'
import { enrolledAgent, freePort, type TestAgent } from './helpers/agent-harness.ts'

/** `npm run agent -- doctor` as a child process, against a test hub, its cameras a local listener and a closed port. */

let t: TestHub
let agent: TestAgent
let tools: string
/** Recordings on memory (/dev/shm) where there is one: the disk line's speed bound holds on a loaded machine. */
let recordings: string
const listeners = new Listeners()
const listen = () => listeners.listen()

const doctor = (env: Record<string, string>) => runDoctor('edge-agent/src/main.ts', env)

function saveCameras(ports: Array<[string, number]>) {
  const outbox = new Outbox(outboxFile(agent.dataDir), 1024 * 1024)
  const cameras = ports.map(([name, port]) => ({
    id: randomUUID(),
    name,
    streams: [{ role: 'main', url: `rtsp://127.0.0.1:${port}/stream1` }],
    recording: { enabled: true, retentionDays: 7 },
  }))
  outbox.setSetting('config', JSON.stringify({ version: 1, config: { cameras } }))
  outbox.close()
}

beforeAll(async () => {
  t = await startTestHub()
  agent = await enrolledAgent(t)
  tools = mkdtempSync(path.join(tmpdir(), 'vms-doctor-tools-'))
  recordings = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'vms-doctor-rec-'))
  // A stand-in ffmpeg: the line must carry its version whatever the machine has installed.
  writeFileSync(
    path.join(tools, 'ffmpeg'),
    '#!/bin/sh\necho "ffmpeg version 6.0-doctor-test Copyright (c) the FFmpeg developers"\n',
  )
  chmodSync(path.join(tools, 'ffmpeg'), 0o755)
})

afterAll(async () => {
  await listeners.close()
  await agent?.cleanup()
  await t?.close()
  if (tools) rmSync(tools, { recursive: true, force: true })
  if (recordings) rmSync(recordings, { recursive: true, force: true })
})

describe('npm run agent -- doctor', () => {
  it('prints one line per check and exits 1 when a camera is unreachable and the setup port is taken', async () => {
    const door = await listen()
    const yard = await freePort() // nothing listens there
    const setup = await listen() // another program holds the setup port
    saveCameras([
      ['Door', door],
      ['Yard', yard],
    ])
    const { code, lines } = await doctor({
      VMS_AGENT_DATA_DIR: agent.dataDir,
      VMS_AGENT_SETUP_PORT: String(setup),
      VMS_AGENT_MIN_FREE_BYTES: '0',
      VMS_AGENT_RECORDINGS_DIR: recordings,
      FFMPEG_PATH: path.join(tools, 'ffmpeg'),
    })
    expect(code).toBe(1)
    const mqtt = new URL((await import('../src/credentials.ts')).readCredentials(agent.dataDir).mqttUrl)
    expect(lines[0]).toBe(`PASS ffmpeg: ${path.join(tools, 'ffmpeg')}, version 6.0-doctor-test`)
    expect(lines[1]).toBe(`PASS enrollment: agent ${agent.agentId} of hub ${t.url}`)
    expect(lines[2]).toBe(`PASS hub: ${t.url} answers (GET /healthz: 200)`)
    expect(lines[3]).toBe(`PASS hub certificate: ${t.url} is not TLS (plain http): no certificate to check`)
    expect(lines[4]).toMatch(/^PASS clock: this machine is \d+\.\d s (ahead of|behind) the hub \(±1 s\)$/)
    expect(lines[5]).toMatch(new RegExp(`^PASS broker: 127\\.0\\.0\\.1:${mqtt.port} accepts connections`))
    expect(lines[6]).toMatch(/^PASS recordings disk: .*free, writes/)
    expect(lines[7]).toMatch(
      new RegExp(
        `^FAIL setup port: 127\\.0\\.0\\.1:${setup} is in use by another program -> fix: find it with .*VMS_AGENT_SETUP_PORT`,
      ),
    )
    expect(lines[8]).toMatch(new RegExp(`^PASS camera Door: 127\\.0\\.0\\.1:${door} accepts connections`))
    expect(lines[9]).toMatch(
      new RegExp(
        `^FAIL camera Yard: 127\\.0\\.0\\.1:${yard} cannot be reached: .*ECONNREFUSED.* -> fix: check that the camera is powered`,
      ),
    )
    expect(lines[10]).toBe('2 of 10 checks failed')
    expect(lines).toHaveLength(11)
  })

  it('exits 0 when every check passes', async () => {
    saveCameras([['Door', await listen()]])
    const { code, lines } = await doctor({
      VMS_AGENT_DATA_DIR: agent.dataDir,
      VMS_AGENT_SETUP_PORT: String(await freePort()),
      VMS_AGENT_MIN_FREE_BYTES: '0',
      VMS_AGENT_RECORDINGS_DIR: recordings,
      FFMPEG_PATH: path.join(tools, 'ffmpeg'),
    })
    expect(lines.filter((l) => l.startsWith('FAIL'))).toEqual([])
    expect(lines.at(-1)).toBe('all 9 checks passed')
    expect(code).toBe(0)
  })

  it('fails the enrollment line in an empty data folder', async () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'vms-doctor-empty-'))
    try {
      const { code, lines } = await doctor({
        VMS_AGENT_DATA_DIR: empty,
        VMS_AGENT_SETUP_PORT: String(await freePort()),
        FFMPEG_PATH: path.join(tools, 'ffmpeg'),
      })
      expect(code).toBe(1)
      expect(lines[1]).toMatch(/^FAIL enrollment: no credentials in .* -> fix: enroll once/)
      expect(lines.some((l) => l.startsWith('PASS cameras: none configured yet'))).toBe(true)
    } finally {
      rmSync(empty, { recursive: true, force: true })
    }
  })
})
