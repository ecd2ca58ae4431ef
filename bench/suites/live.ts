import dgram from 'node:dgram'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { type FanoutInput, LiveFanout, ReceivingPeer, SendingPeer } from '@ts-vms/shared/live'
import pino from 'pino'
import { EdgeAgent, enroll, loadAgentSettings } from '../../edge-agent/src/index.ts'
import { LiveSource } from '../../edge-agent/src/live/live-source.ts'
import { Producer } from '../../edge-agent/src/media/core/producer.ts'
import { parseRtp } from '../../edge-agent/src/media/rtp/rtp.ts'
import { RtspClient } from '../../edge-agent/src/media/rtsp/client.ts'
import { loadConfig } from '../../hub/src/config/config.ts'
import { createLogger } from '../../hub/src/observability/logger.ts'
import { startHub } from '../../hub/src/server.ts'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'
import { CHROMIUM, chromiumAvailable, launchChromium } from '../../scripts/lib/chromium.ts'
import type { BenchResult } from '../run.ts'

/**
 * Live view speed, two figures:
 * - The agent's added latency: from a camera's RTP packet arriving at the agent's RTSP client to
 *   the same frame's last packet arriving at a WebRTC receiver (depacketize, producer, live source,
 *   fanout, werift SRTP, loopback UDP, werift receive), per frame, p50 and p99; beside the same
 *   packets forwarded by a bare UDP relay in the same run (the RTSP client's socket straight to a
 *   plain UDP socket). Frames are matched by the last bytes of their last NAL unit.
 * - Time to first decoded frame in Chromium, for cameras with 2, 4 and 10 s GOPs (the simulator's
 *   clip encoded at each): the hub's live page signs in and plays a simulated camera recorded by
 *   the agent through the hub relay, cold (the hub opens its upstream from the agent, the agent its
 *   live source from the recorder's stream) and warm (another viewer holds the upstream); beside
 *   half the camera's GOP, what a player without a GOP cache waits on average for a keyframe.
 *   Goal: a cold first frame under 1 s whatever the GOP. Each hub's first start is not counted
 *   (one-time costs of a fresh process).
 *   VMS_BENCH_LIVE_SECONDS (15): the latency window. VMS_BENCH_LIVE_GOPS (2,4,10): the GOPs.
 *   VMS_BENCH_LIVE_STARTS (3): cold and warm starts per GOP.
 */
const SECONDS = Number(process.env.VMS_BENCH_LIVE_SECONDS ?? 15)
const GOPS = (process.env.VMS_BENCH_LIVE_GOPS ?? '2,4,10').split(',').map(Number)
const STARTS = Number(process.env.VMS_BENCH_LIVE_STARTS ?? 3)
const FIRST_FRAME_GOAL_MS = 1000
const TAIL = 16
const tailKey = (payload: Buffer) => payload.subarray(Math.max(0, payload.length - TAIL)).toString('hex')
const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN
}

async function agentLatency(sim: CameraSimulator): Promise<{ subject: number[]; reference: number[] }> {
  const peerOptions = { iceServers: [], additionalHostAddresses: ['127.0.0.1'] }
  // Subject: the agent's live path.
  const subjectIn = new Map<string, number>()
  const subject: number[] = []
  const client = new RtspClient({ url: sim.url('bench'), transport: 'udp', audio: false })
  client.on('packet', (data) => {
    const p = parseRtp(data)
    if (p?.marker) subjectIn.set(tailKey(p.payload), performance.now())
  })
  const producer = new Producer()
  const source = new LiveSource()
  producer.subscribe(source, { queueFrames: 30 })
  client.on('frame', (au) => producer.frame(au))
  producer.started(await client.connect())
  if (!(await source.whenReady(10_000))) throw new Error('the simulated camera sent no H.264')
  class TimedFanout extends LiveFanout {
    override push(p: FanoutInput): void {
      if (p.marker) {
        const at = subjectIn.get(tailKey(p.payload))
        if (at !== undefined) subject.push(performance.now() - at)
      }
      super.push(p)
    }
  }
  const receiver = await ReceivingPeer.offer(new TimedFanout(), peerOptions)
  const sender = await SendingPeer.answer(receiver.offerSdp, source.fanout, source.profile, peerOptions)
  await receiver.accept(sender.answerSdp)

  // Reference: the same stream's packets through a bare UDP relay.
  const referenceIn = new Map<string, number>()
  const reference: number[] = []
  const sink = dgram.createSocket('udp4')
  await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r))
  sink.on('message', (data) => {
    const p = parseRtp(data)
    if (!p?.marker) return
    const at = referenceIn.get(tailKey(p.payload))
    if (at !== undefined) reference.push(performance.now() - at)
  })
  const relay = dgram.createSocket('udp4')
  const sinkPort = sink.address().port
  const refClient = new RtspClient({ url: sim.url('bench'), transport: 'udp', audio: false })
  refClient.on('packet', (data) => {
    const p = parseRtp(data)
    if (p?.marker) referenceIn.set(tailKey(p.payload), performance.now())
    relay.send(data, sinkPort, '127.0.0.1')
  })
  await refClient.connect()

  await new Promise((r) => setTimeout(r, 2000)) // warm-up: connections up, JIT warm
  subject.length = 0
  reference.length = 0
  await new Promise((r) => setTimeout(r, SECONDS * 1000))
  const out = { subject: [...subject], reference: [...reference] }
  await sender.close()
  await receiver.close()
  await client.close()
  await refClient.close()
  relay.close()
  sink.close()
  return out
}

interface FirstFrames {
  /** Each start's total, milliseconds. */
  cold: number[]
  warm: number[]
  /** Each start as total (ICE gathering + answer + connect-to-frame; a relayed start gathers within its answer). */
  phases: string[]
}

async function firstFrames(sim: CameraSimulator, stream: string): Promise<FirstFrames | { skipped: string }> {
  if (!chromiumAvailable) return { skipped: `${CHROMIUM} is missing` }
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vms-bench-live-'))
  const password = 'Bench-Root-Passphrase-77'
  const hub = await startHub({
    config: loadConfig(
      {},
      {
        VMS_HTTP_PORT: 0,
        VMS_MQTT_PORT: 0,
        VMS_DATA_DIR: path.join(dataDir, 'hub'),
        VMS_BOOTSTRAP_ADMIN_PASSWORD: password,
        VMS_LIVE_HOST_ADDRESSES: '127.0.0.1',
        // Every start without another viewer is cold: the upstream closes with its last viewer.
        VMS_LIVE_UPSTREAM_LINGER_MS: 0,
      },
    ),
    logger: createLogger('warn'),
  })
  let agent: EdgeAgent | undefined
  const browser = await launchChromium()
  try {
    const api = async (method: string, p: string, token?: string, body?: unknown) => {
      const res = await fetch(hub.url + p, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      })
      return (await res.json()) as Record<string, unknown> & { id: string }
    }
    const login = await api('POST', '/api/v1/auth/login', undefined, {
      tenant: 'system',
      username: 'admin',
      password,
    })
    const token = login.accessToken as string
    const site = await api('POST', '/api/v1/sites', token, { name: 'Bench' })
    const enrollment = await api('POST', `/api/v1/sites/${site.id}/enrollments`, token)
    const agentDir = path.join(dataDir, 'agent')
    const { agentId } = await enroll({ hubUrl: hub.url, code: enrollment.code as string, dataDir: agentDir })
    agent = new EdgeAgent(
      loadAgentSettings({ VMS_AGENT_DATA_DIR: agentDir, VMS_AGENT_LIVE_HOST_ADDRESSES: '127.0.0.1' }),
      pino({ level: 'warn' }),
    )
    agent.start()
    const camera = await api('POST', '/api/v1/cameras', token, {
      name: 'Bench camera',
      siteId: site.id,
      agentId,
      streams: [{ role: 'main', url: sim.url(stream) }],
      recording: { enabled: true, retentionDays: 1 },
    })
    const started = Date.now()
    while (
      !agent.cameras.camera(camera.id) ||
      (await api('GET', `/api/v1/agents/${agentId}`, token)).status !== 'online'
    ) {
      if (Date.now() - started > 30_000) throw new Error('the bench agent did not come online')
      await new Promise((r) => setTimeout(r, 100))
    }
    // The recorded stream holds its current GOP (it has seen a keyframe): what a camera that has
    // been recording for a while looks like to its first viewer. Waiting a fixed 2 s instead left a
    // camera with a GOP over 2 s without one, and its first viewer waited for the next keyframe.
    const cachedFrames = () => {
      const lease = agent?.cameras.acquireStream(camera.id, 'main')
      lease?.release()
      return lease?.source.producer.cachedFrames ?? 0
    }
    while (cachedFrames() === 0) {
      if (Date.now() - started > 60_000) throw new Error('the recorded stream holds no GOP')
      await new Promise((r) => setTimeout(r, 100))
    }
    const signIn = async () => {
      const page = await browser.newPage()
      await page.goto(`${hub.url}/diagnostics/live`)
      await page.fill('#username', 'admin')
      await page.fill('#password', password)
      await page.click('#login button[type=submit]')
      await page.waitForSelector('#camera option', { state: 'attached' })
      await page.selectOption('#camera', camera.id)
      return page
    }
    const page = await signIn()
    const phases: string[] = []
    const once = async (p = page, stop = true, record = stop) => {
      // A page behind another gets no video frame callbacks.
      await p.bringToFront()
      await p.click('#play')
      try {
        await p.waitForFunction(
          () => /first frame \d+ ms/.test(document.getElementById('stats')?.textContent ?? ''),
          undefined,
          { timeout: 30_000 },
        )
      } catch {
        // Reported as a start that never showed a frame (the goal is not met), not a crash.
        const state = await p.textContent('#state')
        await p.click('#stop')
        if (record) phases.push(`no frame within 30 s (page state: ${state})`)
        return Number.POSITIVE_INFINITY
      }
      const text = (await p.textContent('#stats')) ?? ''
      if (stop) await p.click('#stop')
      // A relayed start (the grid connector) reports its offer and answer together as the answer.
      const m = /first frame (\d+) ms \(ICE gathering (\d+|-) ms, answer (\d+) ms\)/.exec(text)
      if (!m) throw new Error(`the live page reported no first frame: ${text}`)
      const [total, gather, answer] = [Number(m[1]), m[2] === '-' ? 0 : Number(m[2]), Number(m[3])]
      if (record) phases.push(`${total} (${gather} + ${answer} + ${total - gather - answer})`)
      return total
    }
    const upstreamClosed = async () => {
      const t0 = Date.now()
      while (hub.context.live.upstreamCount > 0 || (agent?.live.peerCount ?? 0) > 0) {
        if (Date.now() - t0 > 10_000) throw new Error('the upstream did not close')
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    // One start first, not counted: the process's first live connection pays one-time costs
    // (JIT, werift's first certificate and DTLS code) that a running hub and agent have behind them.
    await once(page, true, false)
    const cold: number[] = []
    for (let i = 0; i < STARTS; i++) {
      await upstreamClosed()
      // A random place in the camera's GOP, as a viewer arrives.
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 1000))
      cold.push(await once())
    }
    // Warm: another viewer holds the upstream.
    const holder = await signIn()
    await once(holder, false)
    const warm: number[] = []
    for (let i = 0; i < STARTS; i++) warm.push(await once())
    await holder.click('#stop')
    return { cold, warm, phases }
  } finally {
    await browser.close()
    await agent?.stop()
    await hub.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

export async function benchLive(): Promise<BenchResult[]> {
  const sim = await CameraSimulator.start({ streams: [{ name: 'bench', codec: 'h264' }] })
  try {
    const lat = await agentLatency(sim)
    const s50 = percentile(lat.subject, 50)
    const s99 = percentile(lat.subject, 99)
    const r50 = percentile(lat.reference, 50)
    const r99 = percentile(lat.reference, 99)
    const results: BenchResult[] = [
      {
        name: 'live-latency',
        subject: { label: 'agent live path (frames/s at p50 latency)', opsPerSec: 1000 / s50 },
        reference: { label: 'bare UDP relay', opsPerSec: 1000 / r50 },
        ratio: s50 / r50,
        notes:
          `agent p50 ${s50.toFixed(2)} ms, p99 ${s99.toFixed(2)} ms over ${lat.subject.length} frames; ` +
          `relay p50 ${r50.toFixed(2)} ms, p99 ${r99.toFixed(2)} ms over ${lat.reference.length} frames`,
      },
    ]
    for (const gop of GOPS) {
      const gopSim = await CameraSimulator.start({
        streams: [{ name: `gop${gop}`, codec: 'h264', gopSeconds: gop }],
      })
      let ff: FirstFrames | { skipped: string }
      try {
        ff = await firstFrames(gopSim, `gop${gop}`)
      } finally {
        await gopSim.close()
      }
      if ('skipped' in ff) {
        console.warn(`live-first-frame skipped: ${ff.skipped}`)
        break
      }
      const halfGopMs = (gop * 1000) / 2
      const coldWorst = Math.max(...ff.cold)
      const cold50 = percentile(ff.cold, 50)
      results.push({
        name: `live-first-frame-gop${gop}s`,
        subject: {
          label: `Chromium, hub relay, cold, ${gop} s GOP (starts/s at median)`,
          opsPerSec: 1000 / cold50,
        },
        reference: { label: 'half a GOP (a player without GOP cache)', opsPerSec: 1000 / halfGopMs },
        ratio: cold50 / halfGopMs,
        notes: `cold ${ff.cold.join(', ')} ms (worst ${coldWorst}); warm ${ff.warm.join(', ')} ms; each as total (offer and answer + connect-to-frame): ${ff.phases.join(', ')}`,
        goals: [{ text: `first frame < ${FIRST_FRAME_GOAL_MS} ms`, met: coldWorst < FIRST_FRAME_GOAL_MS }],
      })
    }
    return results
  } finally {
    await sim.close()
  }
}
