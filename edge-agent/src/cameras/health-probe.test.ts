import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { type AgentCamera, agentCamera } from '@ts-vms/shared'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CameraSimulator } from '../../../scripts/camera-sim/simulator.ts'
import { RecordingIndex } from '../recorder/recording-index.ts'
import { type CameraEvent, CameraManager } from './camera-manager.ts'
import {
  deviceProbeUrl,
  HealthProbe,
  httpDeviceProbe,
  inBatches,
  measure,
  type ProbeCameras,
  rtspDescribe,
} from './health-probe.ts'

const logger = pino({ level: 'silent' })

const camera = (over: Partial<AgentCamera> & { url?: string } = {}): AgentCamera =>
  agentCamera.parse({
    id: randomUUID(),
    name: 'Door',
    streams: [{ role: 'main', url: over.url ?? 'rtsp://127.0.0.1:1/door' }],
    recording: { enabled: false, retentionDays: 1 },
    ...over,
  })

/** A server that accepts connections and never answers (a hung camera or device). */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      }),
  }
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = await silentServer()
  await s.close()
  return s.port
}

describe('deviceProbeUrl', () => {
  it('asks the ONVIF device service, or the root of ISAPI and Dahua devices', () => {
    expect(deviceProbeUrl({ protocol: 'onvif', address: '10.0.0.5' })?.url).toBe(
      'http://10.0.0.5/onvif/device_service',
    )
    expect(deviceProbeUrl({ protocol: 'onvif', address: 'http://10.0.0.5:8080/onvif/dev' })?.url).toBe(
      'http://10.0.0.5:8080/onvif/dev',
    )
    expect(deviceProbeUrl({ protocol: 'isapi', address: '10.0.0.6:8000' })?.url).toBe('http://10.0.0.6:8000/')
    expect(deviceProbeUrl({ protocol: 'dahua', address: 'https://nvr.local/cgi-bin/x' })?.url).toBe(
      'https://nvr.local/',
    )
  })

  it('gives the cameras of one NVR the same key, and a plain RTSP camera none', () => {
    const a = deviceProbeUrl({ protocol: 'isapi', address: 'NVR.local:80' })
    const b = deviceProbeUrl({ protocol: 'isapi', address: 'nvr.local:80' })
    expect(a?.key).toBe(b?.key)
    expect(deviceProbeUrl({ protocol: 'isapi', address: 'nvr.local:81' })?.key).not.toBe(a?.key)
    expect(deviceProbeUrl({ protocol: 'rtsp', address: '10.0.0.5' })).toBeUndefined()
  })
})

describe('rtspDescribe', () => {
  let sim: CameraSimulator
  beforeAll(async () => {
    sim = await CameraSimulator.start({
      streams: [
        { name: 'open' },
        { name: 'locked', auth: { username: 'admin', password: 'Secret-1', qop: true } },
      ],
    })
  })
  afterAll(() => sim.close())

  it('answers for a stream that can be opened, credentials included, and opens no session', async () => {
    await rtspDescribe({ url: sim.url('open') }, 2000)
    await rtspDescribe({ url: sim.url('locked'), username: 'admin', password: 'Secret-1' }, 2000)
    expect(sim.sessionCount('open')).toBe(0)
  })

  it('fails with why, never with the password', async () => {
    const wrong = rtspDescribe({ url: sim.url('locked'), username: 'admin', password: 'Not-It-99' }, 2000)
    await expect(wrong).rejects.toThrow('the camera refused the credentials')
    await expect(rtspDescribe({ url: sim.url('locked') }, 2000)).rejects.toThrow('none are configured')
    await expect(rtspDescribe({ url: sim.url('nowhere') }, 2000)).rejects.toThrow('404')
    const refused = rtspDescribe(
      { url: `rtsp://127.0.0.1:${await closedPort()}/x`, password: 'Not-It-99' },
      2000,
    )
    await expect(refused).rejects.toThrow('cannot connect')
    await refused.catch((err: Error) => expect(err.message).not.toContain('Not-It-99'))
  })

  it('gives up on a camera that never answers, at the timeout or when cancelled', async () => {
    const silent = await silentServer()
    try {
      const url = `rtsp://127.0.0.1:${silent.port}/x`
      await expect(rtspDescribe({ url }, 150)).rejects.toThrow('no answer within 150 ms')
      const abort = new AbortController()
      const cancelled = rtspDescribe({ url }, 60_000, abort.signal)
      abort.abort()
      await expect(cancelled).rejects.toThrow('cancelled')
    } finally {
      await silent.close()
    }
  })
})

describe('httpDeviceProbe', () => {
  it('takes any HTTP answer as reachable, and no answer as not', async () => {
    const server = http.createServer((req, res) => {
      res.writeHead(req.method === 'POST' ? 500 : 401, { 'www-authenticate': 'Digest realm="x", nonce="y"' })
      res.end('<html/>')
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as net.AddressInfo).port
    try {
      await httpDeviceProbe('isapi', `http://127.0.0.1:${port}/`, 2000)
      await httpDeviceProbe('onvif', `http://127.0.0.1:${port}/onvif/device_service`, 2000)
    } finally {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    }
    await expect(httpDeviceProbe('dahua', `http://127.0.0.1:${await closedPort()}/`, 2000)).rejects.toThrow()
    const silent = await silentServer()
    try {
      await expect(httpDeviceProbe('isapi', `http://127.0.0.1:${silent.port}/`, 150)).rejects.toThrow()
    } finally {
      await silent.close()
    }
  })
})

describe('measure and inBatches', () => {
  it('times a probe, or says why it failed (one clean line)', async () => {
    expect(await measure(async () => {})).toMatchObject({ reachable: true })
    const failed = await measure(async () => {
      throw new Error('down\r\n\u0000now')
    })
    expect(failed).toMatchObject({ reachable: false, latencyMs: null, error: /^down\s*now$/ })
    expect(failed.error).not.toMatch(/[\r\n]/)
    expect(failed.error).not.toContain(String.fromCharCode(0))
  })

  it('runs no more than the limit at once', async () => {
    let running = 0
    let most = 0
    const task = async () => {
      running++
      most = Math.max(most, running)
      await new Promise((r) => setImmediate(r))
      running--
    }
    await inBatches(
      Array.from({ length: 10 }, () => task),
      3,
    )
    expect(most).toBe(3)
  })
})

/** The camera manager's side, faked: which cameras stream, and the verdicts it is given. */
function fakeCameras(list: AgentCamera[], o: { streaming?: Set<string>; noPassword?: Set<string> } = {}) {
  const verdicts: [string, boolean, string | undefined][] = []
  const cameras: ProbeCameras = {
    list: () => list,
    streaming: (id) => o.streaming?.has(id) ?? false,
    probeTarget: (id) => {
      if (o.noPassword?.has(id)) return { error: 'the camera password does not open' }
      const c = list.find((x) => x.id === id)
      return c?.streams[0] ? { url: c.streams[0].url } : undefined
    },
    probed: (id, reachable, error) => verdicts.push([id, reachable, error]),
  }
  return { cameras, verdicts }
}

describe('HealthProbe', () => {
  it('probes what does not stream, trusts what does, and reports both', async () => {
    const streaming = camera({ name: 'Streaming' })
    const down = camera({ name: 'Down' })
    const { cameras, verdicts } = fakeCameras([streaming, down], { streaming: new Set([streaming.id]) })
    const asked: string[] = []
    const probe = new HealthProbe({
      cameras,
      intervalMs: 60_000,
      timeoutMs: 1000,
      logger,
      rtsp: async (t) => {
        asked.push(t.url)
        throw new Error('cannot connect to 127.0.0.1:1: ECONNREFUSED')
      },
    })
    await probe.round()
    expect(asked).toEqual([down.streams[0]?.url])
    expect(probe.health(streaming.id)).toMatchObject({ reachable: true, latencyMs: null })
    expect(probe.health(down.id)).toMatchObject({ reachable: false, latencyMs: null, error: /ECONNREFUSED/ })
    expect(new Date(probe.health(down.id)?.at ?? '').getTime()).toBeGreaterThan(0)
    expect(verdicts).toEqual([
      [streaming.id, true, undefined],
      [down.id, false, 'cannot connect to 127.0.0.1:1: ECONNREFUSED'],
    ])
    await probe.stop()
  })

  it('asks an NVR once per round for all its cameras, and shares the answer', async () => {
    const device = { protocol: 'isapi' as const, address: '10.1.1.1', channel: '1', events: false }
    const list = [
      camera({ device }),
      camera({ device: { ...device, channel: '2' } }),
      camera({ device: { ...device, address: '10.1.1.2' } }),
    ]
    const { cameras } = fakeCameras(list)
    const asked: string[] = []
    const probe = new HealthProbe({
      cameras,
      intervalMs: 60_000,
      timeoutMs: 1000,
      logger,
      rtsp: async () => {},
      device: async (_protocol, url) => {
        asked.push(url)
        if (url.includes('10.1.1.2')) throw new Error('the device is unreachable (ECONNREFUSED)')
      },
    })
    await probe.round()
    expect(asked.sort()).toEqual(['http://10.1.1.1/', 'http://10.1.1.2/'])
    expect(probe.health(list[0]?.id ?? '')?.device).toMatchObject({ reachable: true })
    expect(probe.health(list[1]?.id ?? '')?.device).toEqual(probe.health(list[0]?.id ?? '')?.device)
    expect(probe.health(list[2]?.id ?? '')?.device).toMatchObject({ reachable: false, latencyMs: null })
    await probe.round()
    expect(asked).toHaveLength(4) // once per address per round
    await probe.stop()
  })

  it('gives no verdict when this agent cannot open the password, and forgets removed cameras', async () => {
    const locked = camera()
    const list = [locked]
    const { cameras, verdicts } = fakeCameras(list, { noPassword: new Set([locked.id]) })
    const probe = new HealthProbe({
      cameras,
      intervalMs: 60_000,
      timeoutMs: 1000,
      logger,
      rtsp: async () => {},
    })
    await probe.round()
    expect(probe.health(locked.id)).toMatchObject({
      reachable: false,
      error: 'the camera password does not open',
    })
    expect(verdicts).toEqual([])
    list.length = 0
    await probe.round()
    expect(probe.health(locked.id)).toBeUndefined()
    await probe.stop()
  })

  it('never runs two rounds at once', async () => {
    const { cameras } = fakeCameras([camera()])
    let calls = 0
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => {
      release = r
    })
    const probe = new HealthProbe({
      cameras,
      intervalMs: 60_000,
      timeoutMs: 1000,
      logger,
      rtsp: async () => {
        calls++
        await gate
      },
    })
    const a = probe.round()
    const b = probe.round()
    expect(b).toBe(a)
    release()
    await a
    expect(calls).toBe(1)
    await probe.stop()
  })
})

describe('CameraManager.probed', () => {
  let dir: string
  let index: RecordingIndex
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'vms-probe-'))
    index = new RecordingIndex(path.join(dir, 'index.db'))
  })
  afterAll(() => {
    index.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('raises camera.offline once until the camera is back, then camera.online', async () => {
    const events: CameraEvent[] = []
    const manager = new CameraManager({
      index,
      recordingsDir: dir,
      configKey: undefined,
      segmentSeconds: 60,
      quotaBytes: undefined,
      minFreeBytes: 0,
      retentionIntervalSeconds: 3600,
      reconnectMaxMs: 1000,
      cameraTimeoutMs: 1000,
      liveStreams: 'on-demand',
      logger,
      emit: (e) => events.push(e),
    })
    const c = camera()
    await manager.apply([c])
    expect(manager.streaming(c.id)).toBe(false)
    expect(manager.probeTarget(c.id)).toEqual({ url: c.streams[0]?.url })
    manager.probed(c.id, true) // known online from the start: not news
    manager.probed(c.id, false, 'cannot connect')
    manager.probed(c.id, false, 'cannot connect')
    manager.probed(c.id, true)
    manager.probed(c.id, true)
    manager.probed(randomUUID(), false) // not a camera of this agent
    expect(events.map((e) => [e.type, e.cameraId, e.data])).toEqual([
      ['camera.offline', c.id, { stream: 'main', reason: 'cannot connect', probe: true }],
      ['camera.online', c.id, { stream: 'main', probe: true }],
    ])
    await manager.stop()
  })
})
